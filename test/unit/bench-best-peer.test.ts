import { describe, expect, it } from 'vitest';
import { bestPeer, evaluatePeers, ratioToBest } from '../../bench/targets-peers.mjs';

describe('bestPeer', () => {
  it('is the fastest peer that finished, never s3sync', () => {
    const w = {
      results: { s3sync: { median: 50 }, rclone: { median: 300 }, aws: { median: 200 }, s3cmd: {} },
    };
    expect(bestPeer(w)).toEqual({ name: 'aws', ms: 200 });
    expect(ratioToBest(w)).toBe(0.25);
  });

  it('is never the minimal client, however fast it is', () => {
    const w = { results: { s3sync: { median: 120 }, floor: { median: 80 }, rclone: { median: 240 } } };
    expect(bestPeer(w)).toEqual({ name: 'rclone', ms: 240 });
    expect(ratioToBest(w)).toBe(0.5);
  });

  it('is null when only s3sync and the minimal client ran', () => {
    const w = { results: { s3sync: { median: 120 }, floor: { median: 80 } } };
    expect(bestPeer(w)).toBeNull();
    expect(ratioToBest(w)).toBeNull();
  });
});

describe('the no-change target of the comparison', () => {
  const section = (startupWalk?: object) => ({
    nodeStart: { stats: { median: 70 } },
    compare: {
      datasets: [{ set: '1k', walk: { median: 15 } }],
      workloads: [
        {
          id: 'push-nochange',
          set: '1k',
          results: { s3sync: { median: 120, requestsTotal: 0 } },
          ...(startupWalk ? { startupWalk } : {}),
        },
      ],
    },
  });
  const verdict = (sec: object) => evaluatePeers(sec).find((t) => t.label.includes('no-change push 1k'));

  it('is judged against the floor taken in its own rounds', () => {
    const t = verdict(section({ start: { median: 55 }, walk: { median: 20 } }));
    expect(t?.result).toBe('FAIL');
    expect(t?.detail).toContain('floor 75 ms (start-up 55 ms + walk 20 ms, in the same rounds)');
  });

  it("falls back to the section's floors in a report that has none of its own", () => {
    const t = verdict(section());
    expect(t?.result).toBe('PASS');
    expect(t?.detail).toContain('floor 85 ms (start-up 70 ms + walk 15 ms)');
  });

  it('fails a run that made a request, whatever its time', () => {
    const sec = section({ start: { median: 100 }, walk: { median: 50 } });
    sec.compare.workloads[0]!.results.s3sync.requestsTotal = 1;
    expect(verdict(sec)?.result).toBe('FAIL');
  });
});
