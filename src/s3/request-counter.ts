import type { ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
import type { S3Command } from './requests.js';

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
   * Counts every attempt of one command (after the retry middleware, so retries too). On the command,
   * not the client: a caller's client may serve two runs at once, and each counts only its own.
   */
  count<I extends ServiceInputTypes, O extends ServiceOutputTypes>(cmd: S3Command<I, O>): void {
    cmd.middlewareStack.remove(COUNT);
    cmd.middlewareStack.add(
      (next, context) => async (args) => {
        this.add(String(context.commandName ?? 'Unknown').replace(/Command$/, ''));
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low', name: COUNT },
    );
  }
}

const COUNT = 's3syncCountRequests';
