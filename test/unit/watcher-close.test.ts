import { describe, expect, it } from 'vitest';
import { closer, nativeBackend } from '../../src/watch/watcher.js';

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

describe("the watcher's backend", () => {
  it.each<[string, NodeJS.Platform, ReturnType<typeof nativeBackend>]>([
    [
      'Linux: inotify, never the watchman probe that leaks a pipe and a child',
      'linux',
      { backend: 'inotify' },
    ],
    ['macOS: FSEvents', 'darwin', { backend: 'fs-events' }],
    ['Windows: its own', 'win32', { backend: 'windows' }],
    ["elsewhere: the watcher's default", 'freebsd', {}],
  ])('%s', (_why, platform, expected) => {
    expect(nativeBackend(platform)).toEqual(expected);
  });
});
