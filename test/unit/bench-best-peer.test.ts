import { describe, expect, it } from 'vitest';
import { bestPeer, ratioToBest } from '../../bench/targets-peers.mjs';

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
