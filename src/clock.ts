/**
 * Milliseconds on a clock that only moves forward, for timers, intervals and durations: a step of the
 * wall clock (NTP setting right a clock that ran ahead, a user) must neither hold a timer nor stretch a
 * duration. It reads as Date.now() did when the process started, so a time of 0 stays long ago; never
 * compare it with a file's or a server's time, which are on the wall clock.
 */
export const monotonicNow = (): number => performance.timeOrigin + performance.now();
