/**
 * A library call's options, read once: the plain object the call validates and runs with. A run reads
 * `opts.delete` as any property read does, inherited or not; validating only own keys let an inherited
 * `delete: 'false'` through unchecked, and a getter read again after validation could hand the run a
 * value never checked. So every name a read could reach is read here, once, and only the copy is used.
 */

/**
 * The options as the call will read them, each read exactly once: every enumerable key, own or inherited
 * (as `for…in` lists them), every own key, and every property a prototype below Object.prototype defines
 * (a class's getters and methods, which `for…in` leaves out). Values are kept as given (a signal, a
 * client, credentials and callbacks are the caller's own objects). Anything but a plain options object
 * (none, null, an array) is handed back as is, for the call's own check to refuse.
 */
export function snapshotOptions<T>(opts: T): T {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) return opts;
  const names = new Set<string>();
  for (const key in opts) names.add(key);
  for (const key of Object.getOwnPropertyNames(opts)) names.add(key);
  for (
    let proto: object | null = Object.getPrototypeOf(opts);
    proto !== null && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  )
    // A class's constructor is no option; any other name it defines is read by the run as one.
    for (const key of Object.getOwnPropertyNames(proto)) if (key !== 'constructor') names.add(key);
  const copy: Record<string, unknown> = {};
  const given = opts as Record<string, unknown>;
  // defineProperty, not assignment: a key named __proto__ stays a key, for the check to refuse.
  for (const key of names)
    Object.defineProperty(copy, key, {
      value: given[key],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  // Symbol keys are no option a caller types: s3sync's own marks (where each option was set) go along.
  for (const sym of Object.getOwnPropertySymbols(opts))
    Object.defineProperty(copy, sym, {
      value: (opts as Record<symbol, unknown>)[sym],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return copy as T;
}
