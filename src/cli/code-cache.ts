/**
 * The run's start-up is over: the s3sync command (s3sync.cts), when this run writes its code cache,
 * takes the cache's data now rather than at exit, when a long run's transfers may have outlasted the
 * bytecode of the start-up's functions. A no-op in every other run, and outside the command.
 */
export function startupOver(): void {
  const take = Reflect.get(globalThis, Symbol.for('s3sync.takeCodeCache'));
  if (typeof take === 'function') take();
}
