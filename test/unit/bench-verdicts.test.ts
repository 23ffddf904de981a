import { describe, expect, it } from 'vitest';
import { summarise } from '../../bench/compare.mjs';
import { addWorkload, newSection, type Section } from '../../bench/measure.mjs';
import { evaluate } from '../../bench/targets.mjs';
import { evaluatePeers } from '../../bench/targets-peers.mjs';

// Synthetic runs and results, in the shapes bench/measure.mjs and bench/compare.mjs record.
type Run = { ms: number; exitCode: number | null; [k: string]: unknown };
const ok = (ms: number, x: object = {}): Run => ({
  ms,
  exitCode: 0,
  requests: {},
  requestsTotal: 0,
  uploads: 0,
  ...x,
});
const res = (median: number | null, x: object = {}) => ({
  median,
  runs: [ok(median ?? 0)],
  requests: {},
  requestsTotal: 0,
  uploads: 0,
  ...x,
});
type Workload = { id: string; set: string; results: Record<string, unknown> };
const cmpSec = (workloads: Workload[], rttMs = 20, rawList?: object) => ({
  nodeStart: { stats: { median: 40 } },
  compare: { rttMs, workloads, rawList, datasets: [{ set: '10k', walk: { median: 100 } }] },
});
const peerRow = (sec: object, label: string) =>
  evaluatePeers(sec).filter((t: { label: string }) => t.label.includes(label));

/** A server section with one dataset, its workloads recorded through addWorkload as the bench does. */
function serverSection(set: string, build: (sec: Section) => object) {
  const sec = newSection({ name: 'embedded', title: 't', endpoint: 'http://127.0.0.1:1' });
  sec.nodeStart = { stats: { median: 40 } };
  sec.datasets = [{ set, walk: { stats: { median: 100 } }, ...build(sec) }];
  return sec;
}
const serverRow = (sec: Section, label: string) => {
  evaluate(sec);
  return sec.targets.find((t) => t.label.includes(label));
};

describe('the server targets of a workload with a failed run', () => {
  it('fail the --version target, whatever the median', () => {
    const sec = newSection({ name: 'embedded', title: 't', endpoint: 'x' });
    sec.nodeStart = { stats: { median: 40 } };
    addWorkload(sec, { id: 'version', label: 'v', set: '-', runs: [ok(30), ok(30, { exitCode: 1 })] });
    const t = serverRow(sec, '--version');
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toContain('1 of 2 runs failed');
  });

  it('fail the no-change push 10k target when a run exited non-zero', () => {
    const sec = serverSection('10k', (s) => ({
      noChange: addWorkload(s, {
        id: 'push-nochange',
        label: 'n',
        set: '10k',
        runs: [ok(100), ok(100, { exitCode: 2, error: 'boom' })],
      }),
    }));
    const t = serverRow(sec, 'no-change push 10k');
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toContain('exit 2');
  });

  it('fail a scale target when a run timed out', () => {
    const sec = serverSection('100k', (s) => ({
      noChange: addWorkload(s, {
        id: 'push-nochange',
        label: 'n',
        set: '100k',
        runs: [ok(500, { rssKiB: 1000 }), ok(500, { rssKiB: 1000, exitCode: null, timedOut: true })],
      }),
    }));
    expect(serverRow(sec, 'no-change push 100k')?.result).toBe('FAIL');
  });

  it('fail a share-of-raw target when a run did not verify', () => {
    const sec = serverSection('10k', (s) => ({
      rawPut: { rate: { value: 1000, unit: 'files/s' } },
      firstPush: addWorkload(s, {
        id: 'push-first',
        label: 'p',
        set: '10k',
        runs: [ok(1000), ok(1000, { verifyError: '9000 of 10000 keys missing' })],
        rate: { value: 1000, unit: 'files/s' },
      }),
    }));
    const t = serverRow(sec, 'first push 10k');
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toContain('9000 of 10000 keys missing');
  });

  it('still pass a share-of-raw target whose runs all succeeded', () => {
    const sec = serverSection('10k', (s) => ({
      rawPut: { rate: { value: 1000, unit: 'files/s' } },
      firstPush: addWorkload(s, {
        id: 'push-first',
        label: 'p',
        set: '10k',
        runs: [ok(1000), ok(1000)],
        rate: { value: 1000, unit: 'files/s' },
      }),
    }));
    expect(serverRow(sec, 'first push 10k')?.result).toBe('PASS');
  });
});

describe("s3sync's own failure in the comparison", () => {
  const failed = res(null, { error: 'exit 1', runs: [ok(5, { exitCode: 1, error: 'exit 1' })] });

  it('fails the first pull target instead of skipping it', () => {
    const [t] = peerRow(
      cmpSec([{ id: 'pull-first', set: '10k', results: { s3sync: failed, rclone: res(1000) } }]),
      'first pull 10k',
    );
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toBe('s3sync failed: exit 1');
  });

  it('fails even when no peer ran', () => {
    const [t] = peerRow(
      cmpSec([{ id: 'push-first', set: '1k', results: { s3sync: failed } }]),
      'first push 1k',
    );
    expect(t?.result).toBe('FAIL');
  });

  it('fails the no-change, fresh checkout and listing targets', () => {
    const sec = cmpSec(
      [
        { id: 'push-nochange', set: '10k', results: { s3sync: failed } },
        { id: 'push-fresh-checkout', set: '10k', results: { s3sync: failed, rclone: res(9000) } },
        { id: 'list', set: 'list100k', results: { s3sync: failed } },
      ],
      20,
      { stats: { median: 4000 }, pages: 100 },
    );
    expect(peerRow(sec, 'no-change push 10k')[0]?.result).toBe('FAIL');
    for (const t of peerRow(sec, 'fresh checkout 10k')) expect(t.result).toBe('FAIL');
    expect(peerRow(sec, 'listing a 100k-key prefix')[0]?.result).toBe('FAIL');
  });

  it('leaves a target SKIPped when only the peer is missing', () => {
    const [t] = peerRow(
      cmpSec([{ id: 'pull-first', set: '10k', results: { s3sync: res(1000) } }]),
      'first pull 10k',
    );
    expect(t?.result).toBe('SKIP');
  });
});

describe('summarise', () => {
  it('keeps the most requests and uploads of any run, not the first run', () => {
    const s = summarise([
      ok(10),
      ok(12, { requests: { PutObject: 2, ListObjectsV2: 1 }, requestsTotal: 3, uploads: 2 }),
      ok(11),
    ]);
    expect(s.requestsTotal).toBe(3);
    expect(s.uploads).toBe(2);
    expect(s.requests).toEqual({ PutObject: 2, ListObjectsV2: 1 });
    expect(s.median).toBe(11);
  });

  it('has no median when a run failed its verification', () => {
    const s = summarise([ok(10), ok(12, { verifyError: '3 files missing', error: 'verification: 3' })]);
    expect(s.median).toBeNull();
    expect(s.error).toContain('verification');
  });

  it('makes a request in a later no-change run fail the target', () => {
    const s3sync = summarise([ok(100), ok(100, { requests: { ListObjectsV2: 1 }, requestsTotal: 1 })]);
    const [t] = peerRow(
      cmpSec([{ id: 'push-nochange', set: '10k', results: { s3sync } }]),
      'no-change push 10k',
    );
    expect(t?.result).toBe('FAIL');
  });
});

describe('the fresh runner target', () => {
  it('fails when s3sync uploaded files that had not changed, however fast', () => {
    const [t] = peerRow(
      cmpSec([
        {
          id: 'push-fresh-runner',
          set: '10k',
          results: { s3sync: res(500, { uploads: 10 }), rclone: res(1000) },
        },
      ]),
      'fresh runner 10k',
    );
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toContain('10 uploads');
  });

  it('passes with no uploads and the time', () => {
    const [t] = peerRow(
      cmpSec([{ id: 'push-fresh-runner', set: '10k', results: { s3sync: res(500), rclone: res(1000) } }]),
      'fresh runner 10k',
    );
    expect(t?.result).toBe('PASS');
  });
});

describe('the fresh checkout target', () => {
  const rows = (results: Record<string, unknown>) =>
    peerRow(cmpSec([{ id: 'push-fresh-checkout', set: '10k', results }]), 'fresh checkout 10k');

  it('skips the speed half when no peer re-uploaded, and judges the uploads on their own', () => {
    const r = rows({ s3sync: res(100), rclone: res(1000, { uploads: 0 }) });
    const speed = r.find((t: { label: string }) => t.label.includes('faster'));
    const uploads = r.find((t: { label: string }) => !t.label.includes('faster'));
    expect(speed?.result).toBe('SKIP');
    expect(speed?.detail).toContain('no re-uploading peer measured');
    expect(uploads?.result).toBe('PASS');
  });

  it('fails the uploads half when s3sync uploaded, with no peer to compare', () => {
    const r = rows({ s3sync: res(100, { uploads: 3 }) });
    expect(r.find((t: { label: string }) => !t.label.includes('faster'))?.result).toBe('FAIL');
  });

  it('judges the speed half against the fastest peer that re-uploaded', () => {
    const r = rows({ s3sync: res(100), rclone: res(1000, { uploads: 10000 }) });
    expect(r.map((t: { result: string }) => t.result)).toEqual(['PASS', 'PASS']);
  });
});

describe('targets set at ~20 ms RTT', () => {
  const first1k = (rttMs: number) =>
    peerRow(
      cmpSec([{ id: 'push-first', set: '1k', results: { s3sync: res(100), rclone: res(1000) } }], rttMs),
      'first push 1k',
    )[0];

  it('are judged at 20 ms', () => {
    expect(first1k(20)?.result).toBe('PASS');
  });

  it('are shown, not judged, at another RTT', () => {
    const t = first1k(50);
    expect(t?.result).toBe('INFO');
    expect(t?.detail).toContain('at 50 ms RTT');
  });

  it('are skipped on loopback', () => {
    expect(first1k(0)?.result).toBe('SKIP');
  });

  it('include the listing target', () => {
    const sec = cmpSec([{ id: 'list', set: 'list100k', results: { s3sync: res(500) } }], 80, {
      stats: { median: 4000 },
      pages: 100,
    });
    expect(peerRow(sec, 'listing a 100k-key prefix')[0]?.result).toBe('INFO');
  });
});
