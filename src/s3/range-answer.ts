/**
 * A ranged GET's answer checked from its headers, before its body is read: a server or proxy that
 * ignores Range answers 200 with the whole object, and reading that as the range would fetch the whole
 * object once per range, on every retry.
 */

/** A ranged GET answered with other bytes than the range asked for; asking again gets the same. */
export class RangeIgnored extends Error {
  override name = 'RangeIgnored';
  /** The answer's status, so the retry policy sees an answer, not a broken exchange. */
  readonly $metadata: { httpStatusCode: number };

  constructor(message: string, status: number) {
    super(message);
    this.$metadata = { httpStatusCode: status };
  }
}

/** Why an answer to a GET of bytes `start`-`end` is not that range; undefined when it is. */
export function rangeMismatch(
  range: { start: number; end: number },
  status: number | undefined,
  contentRange: string | undefined,
): string | undefined {
  const asked = `bytes ${range.start}-${range.end}`;
  if (status !== 206)
    return `the server ignores byte ranges: a GET of ${asked} was answered with HTTP ${status ?? '(none)'}, not 206`;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange?.trim() ?? '');
  if (!m || Number(m[1]) !== range.start || Number(m[2]) !== range.end)
    return `the server answered a GET of ${asked} with Content-Range ${contentRange ?? '(none)'}`;
  return undefined;
}

/** The RangeIgnored behind `err`, as thrown or as the transport reports it (its cause). */
export function rangeIgnored(err: unknown): RangeIgnored | undefined {
  if (err instanceof RangeIgnored) return err;
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause instanceof RangeIgnored ? cause : undefined;
}
