import type { ResolvedClient } from './client.js';

/**
 * One connection (the SDK's client, its agents and the direct requests') that runs take turns on: a
 * watch's batches, which keep its sockets warm between them instead of opening a pool each. Built by
 * the first run that needs it; the runs leave it open, and its owner closes it once the last has ended.
 */
export class SharedConnection {
  private resolved?: Promise<ResolvedClient>;

  /** The connection, made by `make` the first time; one that failed to be made is made again next time. */
  take(make: () => Promise<ResolvedClient>): Promise<ResolvedClient> {
    this.resolved ??= make();
    const p = this.resolved;
    p.catch(() => {
      if (this.resolved === p) this.resolved = undefined;
    });
    return p;
  }

  /** Closes its sockets; a run that still asked for it after this would open none (see timedAgents). */
  async close(): Promise<void> {
    const p = this.resolved;
    if (p === undefined) return;
    const r = await p.catch(() => undefined);
    r?.close();
  }
}
