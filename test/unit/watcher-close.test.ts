import { describe, expect, it } from 'vitest';
import { closer } from '../../src/watch/watcher.js';

describe('closing a watch subscription', () => {
  it('resolves when unsubscribing fails because the directory took its watch with it', async () => {
    let calls = 0;
    const close = closer({
      unsubscribe: async () => {
        calls++;
        throw new Error('Unable to remove watcher: Invalid argument');
      },
    });
    await expect(close()).resolves.toBeUndefined();
    expect(calls).toBe(1);
  });

  it('unsubscribes once when it succeeds', async () => {
    let calls = 0;
    const close = closer({
      unsubscribe: async () => {
        calls++;
      },
    });
    await expect(close()).resolves.toBeUndefined();
    expect(calls).toBe(1);
  });
});
