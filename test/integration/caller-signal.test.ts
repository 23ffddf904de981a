/**
 * A caller's AbortSignal reused across library calls: each call, however it settles, leaves no
 * 'abort' listener of its own on it, so rounds of calls never reach MaxListenersExceededWarning; nor
 * do many calls at once in one process. A call cancelled while it waits for another run's lock
 * rejects as any cancelled call does: with the signal's reason, after its summary; so does a dry run
 * cancelled while it reports, or before it starts.
 */
import { getEventListeners } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { apply, check, cleanup as cleanupRun, plan, pull, push, syncBuckets, versions } from 's3sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cleanup,
  connFor,
  manifestPaths,
  newBucket,
  seedObject,
  servers,
  tempDir,
  writeTree,
} from '../helpers.js';

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});

describe.each(servers())('a caller signal on $name', (server) => {
  it('keeps no abort listener after each call, however it ends', async () => {
    const { bucket } = await newBucket(server, 'sig-keep');
    const { bucket: other } = await newBucket(server, 'sig-keep-b');
    const src = tempDir('sig-keep-src');
    const dst = tempDir('sig-keep-dst');
    writeTree(src, { 'a.txt': 'alpha', 'dir/b.txt': 'bravo', 'c.bin': 3000 });
    const conn = connFor(server);
    const url = `s3://${bucket}/k`;
    const signal = new AbortController().signal;
    const left = () => getEventListeners(signal, 'abort').length;
    try {
      // Rounds enough that a listener left per call would pass Node's default limit of 10.
      for (let round = 0; round < 4; round++) {
        writeFileSync(path.join(src, `r${round}.txt`), `round ${round}`);
        const pushed = await push({ ...conn, signal, source: src, destination: url });
        expect(pushed.outcome).toBe('ok');
        expect(left()).toBe(0);
        await pull({ ...conn, signal, source: url, destination: dst });
        expect(left()).toBe(0);
        await check({ ...conn, signal, local: src, remote: url });
        expect(left()).toBe(0);
        await plan({ ...conn, signal, direction: 'push', source: src, destination: url });
        expect(left()).toBe(0);
        await syncBuckets({ ...conn, signal, source: url, destination: `s3://${other}/q` });
        expect(left()).toBe(0);
        // Refused on an unversioned bucket, after its requests: settled either way is what counts.
        await versions({ ...conn, signal, target: `${url}/a.txt` }).catch(() => undefined);
        expect(left()).toBe(0);
        // s3rver has no ListMultipartUploads: refused there, listed on Ceph.
        await cleanupRun({ ...conn, signal, target: url, olderThan: '24h', dryRun: true }).catch(
          () => undefined,
        );
        expect(left()).toBe(0);
        const missing = `s3://no-such-${bucket}/k`.slice(0, 60);
        await expect(push({ ...conn, signal, source: src, destination: missing })).rejects.toThrow();
        expect(left()).toBe(0);
        await expect(
          push({ ...conn, signal, source: src, destination: missing, watch: true }),
        ).rejects.toThrow();
        expect(left()).toBe(0);
      }
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      cleanup(src, dst);
    }
  });

  it('fourteen runs at once, one shared signal: no MaxListenersExceededWarning', async () => {
    const { bucket } = await newBucket(server, 'sig-many');
    const conn = connFor(server);
    const signal = new AbortController().signal;
    const dirs = Array.from({ length: 14 }, (_, i) => {
      const d = tempDir(`sig-many-${i}`);
      writeTree(d, { 'a.txt': `alpha ${i}`, 'dir/b.txt': `bravo ${i}`, 'c.bin': 2000 + i });
      return d;
    });
    try {
      const results = await Promise.all(
        dirs.map((d, i) => push({ ...conn, signal, source: d, destination: `s3://${bucket}/m${i}` })),
      );
      expect(results.map((r) => r.outcome)).toEqual(dirs.map(() => 'ok'));
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      expect(process.listenerCount('exit')).toBeLessThan(10);
    } finally {
      cleanup(...dirs);
    }
  });

  it.each(['push', 'pull', 'apply'] as const)(
    'a %s cancelled while it waits for the lock rejects with the reason, after its summary',
    async (command) => {
      const { bucket } = await newBucket(server, `sig-lock-${command}`);
      const conn = connFor(server);
      const src = tempDir('sig-lock-src');
      const dst = tempDir('sig-lock-dst');
      writeTree(src, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
      const url = `s3://${bucket}/w`;
      try {
        await push({ ...conn, source: src, destination: url });
        const local = command === 'pull' ? dst : src;
        if (command === 'pull') await pull({ ...conn, source: url, destination: dst });
        writeFileSync(path.join(src, 'c.txt'), 'charlie');
        const doc =
          command === 'apply'
            ? await plan({ ...conn, direction: 'push', source: src, destination: url })
            : undefined;
        // This test process is alive: a lock naming it stands, and waitLock waits for it.
        const [manifest] = manifestPaths(local);
        writeFileSync(
          `${manifest}.lock`,
          JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }),
        );
        const ac = new AbortController();
        const reason = new Error('my reason');
        const events: { type: string; outcome?: string; lockWait?: string }[] = [];
        const onEvent = (e: { type: string }) => {
          events.push(e);
          if ((e as { lockWait?: string }).lockWait === 'waiting') setTimeout(() => ac.abort(reason), 300);
        };
        const common = { ...conn, signal: ac.signal, waitLock: true, onEvent };
        const call =
          command === 'push'
            ? push({ ...common, source: src, destination: url })
            : command === 'pull'
              ? pull({ ...common, source: url, destination: dst })
              : apply({ ...common, plan: doc! });
        const err = await call.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBe(reason);
        expect(events.map((e) => e.type)).toContain('summary');
        const last = events.at(-1)!;
        expect(last).toMatchObject({ type: 'summary', outcome: 'cancelled' });
      } finally {
        cleanup(src, dst);
      }
    },
  );
  it.each(['push', 'pull'] as const)(
    'a dry-run %s cancelled at its first event rejects with the reason, after its summary, moving nothing',
    async (command) => {
      const { bucket, transport } = await newBucket(server, `sig-dry-${command}`);
      const conn = connFor(server);
      const local = tempDir(`sig-dry-${command}`);
      const url = `s3://${bucket}/d`;
      if (command === 'push') writeTree(local, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
      else for (const k of ['a.txt', 'b.txt']) await seedObject(transport, `d/${k}`, k);
      try {
        const ac = new AbortController();
        const reason = new Error('stop');
        const events: { type: string; cancelled?: boolean; dryRun?: boolean }[] = [];
        const onEvent = (e: { type: string }) => {
          events.push(e);
          ac.abort(reason);
        };
        const common = { ...conn, dryRun: true, signal: ac.signal, onEvent };
        const call =
          command === 'push'
            ? push({ ...common, source: local, destination: url })
            : pull({ ...common, source: url, destination: local });
        expect(await call.catch((e: unknown) => e)).toBe(reason);
        expect(events.at(-1)).toMatchObject({ type: 'summary', cancelled: true, dryRun: true });
        expect(events.filter((e) => e.type === 'action').length).toBeLessThanOrEqual(1);
        if (command === 'push') expect((await transport.list('d/')).size).toBe(0);
        else expect(readdirSync(local).filter((n) => n !== '.s3sync')).toEqual([]);
      } finally {
        cleanup(local);
      }
    },
  );

  it.each(['check', 'syncBuckets'] as const)(
    'a %s that changes nothing, cancelled at its first report, rejects with the reason after its summary',
    async (command) => {
      const { bucket, transport } = await newBucket(server, `sig-rep-${command}`);
      const { bucket: other, transport: otherT } = await newBucket(server, `sig-rep-${command}-b`);
      const conn = connFor(server);
      const local = tempDir(`sig-rep-${command}`);
      writeTree(local, { 'a.txt': 'alpha', 'b.txt': 'bravo' });
      const url = `s3://${bucket}/d`;
      try {
        await seedObject(transport, 'd/a.txt', 'other');
        await seedObject(transport, 'd/b.txt', 'other too');
        const ac = new AbortController();
        const reason = new Error('stop');
        const events: { type: string }[] = [];
        const onEvent = (e: { type: string }) => {
          events.push(e);
          ac.abort(reason);
        };
        const call =
          command === 'check'
            ? check({ ...conn, signal: ac.signal, onEvent, local, remote: url })
            : syncBuckets({
                ...conn,
                dryRun: true,
                signal: ac.signal,
                onEvent,
                source: url,
                destination: `s3://${other}/e`,
              });
        expect(await call.catch((e: unknown) => e)).toBe(reason);
        const summary = command === 'check' ? 'check-summary' : 'summary';
        expect(events.at(-1)).toMatchObject({ type: summary, cancelled: true, outcome: 'cancelled' });
        expect(events.filter((e) => e.type === summary)).toHaveLength(1);
        expect((await otherT.list('')).size).toBe(0);
      } finally {
        cleanup(local);
      }
    },
  );

  it('a dry-run push given an aborted signal rejects with its reason, though it needs no request', async () => {
    const { bucket, transport } = await newBucket(server, 'sig-dry-before');
    // An empty folder: nothing to compare, so no listing the signal would have stopped.
    const local = tempDir('sig-dry-before');
    try {
      const reason = new Error('already');
      const events: { type: string }[] = [];
      const call = push({
        ...connFor(server),
        source: local,
        destination: `s3://${bucket}/d`,
        dryRun: true,
        signal: AbortSignal.abort(reason),
        onEvent: (e) => events.push(e),
      });
      expect(await call.catch((e: unknown) => e)).toBe(reason);
      expect(events.at(-1)).toMatchObject({ type: 'summary', cancelled: true, outcome: 'cancelled' });
      expect((await transport.list('')).size).toBe(0);
    } finally {
      cleanup(local);
    }
  });
});
