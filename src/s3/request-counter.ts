import type { S3Client } from '@aws-sdk/client-s3';

/** S3 requests made, by API name, counting every HTTP attempt (retries included). */
export type RequestCounts = Record<string, number>;

export class RequestCounter {
  readonly counts: RequestCounts = {};

  get total(): number {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }

  add(name: string): void {
    this.counts[name] = (this.counts[name] ?? 0) + 1;
  }

  /**
   * A caller's client serves run after run: the last run's counter is replaced, not added again (the
   * SDK refuses a second middleware of one name). Two runs at once on one client: the later counts.
   */
  attach(client: S3Client): void {
    client.middlewareStack.remove('s3syncCountRequests');
    client.middlewareStack.add(
      (next, context) => async (args) => {
        this.add(String(context.commandName ?? 'Unknown').replace(/Command$/, ''));
        return next(args);
      },
      // After the retry middleware, so that every attempt is counted.
      { step: 'finalizeRequest', priority: 'low', name: 's3syncCountRequests' },
    );
  }
}
