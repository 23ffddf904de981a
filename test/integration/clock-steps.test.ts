/**
 * `push --watch` while the wall clock steps (NTP setting right a clock that ran ahead, a user): its
 * settle, look and walk timers and its elapsed time run on a clock that only moves forward, so a step
 * back holds no upload and a step forward does not stretch the summary's time. The CLI runs under
 * libfaketime, which moves the wall clock only (the monotonic clock is left alone).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  type AnyEvent,
  type LiveRun,
  liveSuite,
  md5Hex,
  newBucket,
  objectMd5,
  runCli,
  servers,
  spawnCli,
  waitFor,
  writeTree,
} from '../helpers.js';

const { dir, runs } = liveSuite();

const FAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find(existsSync);

type Batch = AnyEvent & { type: 'batch'; trigger: 'change' | 'walk' | 'look'; uploaded: number };
const uploaded = (run: LiveRun) =>
  run.events.filter((e): e is Batch => e.type === 'batch').reduce((n, b) => n + b.uploaded, 0);

describe.skipIf(FAKETIME === undefined).each(servers())(
  'push --watch with the wall clock stepped on $name',
  (server) => {
    it('a step back after a change holds no upload, and a step forward does not stretch the elapsed time', async () => {
      const { bucket, transport } = await newBucket(server, 'w-clock');
      const src = dir('watch-clock');
      const offset = path.join(dir('watch-clock-time'), 'offset');
      writeFileSync(offset, '+0\n');
      const run = spawnCli(['push', src, `s3://${bucket}/w`, '--watch', '--json', '--settle', '1s'], server, {
        env: {
          LD_PRELOAD: FAKETIME!,
          FAKETIME_TIMESTAMP_FILE: offset,
          FAKETIME_NO_CACHE: '1',
          FAKETIME_DONT_FAKE_MONOTONIC: '1',
          // File times stay the kernel's.
          NO_FAKE_STAT: '1',
        },
      });
      runs.push(run);
      const t0 = Date.now();
      expect(
        await run.until((e) => e.type === 'batch' && (e as Batch).trigger === 'walk'),
        run.stderr(),
      ).toBe(true);
      writeFileSync(path.join(src, 'a.txt'), 'written before the step');
      // The event is in (its settle time running) when the clock steps back: 10 minutes, within the
      // skew a store allows.
      await sleep(500);
      writeFileSync(offset, '-10m\n');
      expect(await waitFor(() => uploaded(run) >= 1, run, 15_000), run.stderr()).toBe(true);
      expect(await objectMd5(transport, 'w/a.txt')).toBe(md5Hex('written before the step'));
      // Three hours ahead as it stops: the summary still says the few seconds the watch ran.
      writeFileSync(offset, '+3h\n');
      await sleep(200);
      run.child.kill('SIGTERM');
      const { code } = await run.exited;
      expect(code, run.stderr()).toBe(0);
      const summary = run.events.at(-1) as AnyEvent & { type: string; elapsedMs: number };
      expect(summary.type).toBe('summary');
      expect(summary.elapsedMs).toBeGreaterThan(0);
      expect(summary.elapsedMs).toBeLessThanOrEqual(Date.now() - t0 + 1000);
    });

    it('push, pull and sync say the time they took, with the wall clock running ten times too fast', async () => {
      const { bucket } = await newBucket(server, 'elapsed-clock');
      const src = dir('elapsed-src');
      writeTree(src, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `file ${i}`])));
      // Ten times the speed from the process's start, on the wall clock only.
      const env = {
        LD_PRELOAD: FAKETIME!,
        FAKETIME: '+0 x10',
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
        NO_FAKE_STAT: '1',
      };
      const commands = [
        ['push', src, `s3://${bucket}/a`],
        ['pull', `s3://${bucket}/a`, dir('elapsed-dst')],
        ['sync', `s3://${bucket}/a`, `s3://${bucket}/b`],
      ];
      for (const args of commands) {
        const t0 = Date.now();
        const r = await runCli([...args, '--json'], server, { env });
        const took = Date.now() - t0;
        expect(r.code, r.stderr).toBe(0);
        expect(r.summary, args[0]).toMatchObject({ failed: 0 });
        expect((r.summary as { elapsedMs: number }).elapsedMs, args[0]).toBeLessThanOrEqual(took);
      }
    });
  },
);
