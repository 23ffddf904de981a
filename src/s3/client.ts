import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { setting } from '../options/validate.js';
import { type ConnectionOptions, endpointFor, requestConcurrency } from './client-options.js';
import { contentMd5OnDeleteObjects } from './delete-objects-md5.js';
import type { DirectGetSetup } from './direct-get.js';
import type { ProviderQuirks } from './providers.js';
import { RequestCounter } from './request-counter.js';
import { checkAnswers } from './response-check.js';
import { clientS3, credentialProviders, httpHandler } from './sdk.js';
import { timedAgents } from './timed-agent.js';

const { S3Client: Client } = clientS3;
const { fromIni, fromNodeProviderChain } = credentialProviders;
const { NodeHttpHandler } = httpHandler;

export interface ResolvedClient {
  client: S3Client;
  provider: ProviderQuirks;
  /** Identity of the store (ResolvedEndpoint.id): named in messages, never with credentials. */
  endpointId: string;
  counter: RequestCounter;
  /** Where small GETs may bypass the SDK (see direct-get.ts); undefined where they may not. */
  direct?: DirectGetSetup;
}

/** Request bodies from this size ask for 100 Continue before they are sent. */
export const EXPECT_CONTINUE_FROM = 2 * 1024 * 1024;

/**
 * Builds the S3Client from the standard AWS chain (env, profiles, shared config), with flags on top.
 * The endpoint is the one s3sync resolved and records (see resolveEndpoint), given to the SDK
 * explicitly, and the SDK is told to look for no other: with --profile it would otherwise read the
 * endpoint_url of AWS_PROFILE's profile (or 'default'), not of the profile the credentials come from.
 * Settings that would only fail later inside a request (unknown profile, bad endpoint) fail here, in
 * one line.
 */
export async function createS3Client(opts: ConnectionOptions = {}): Promise<ResolvedClient> {
  const resolved = endpointFor(opts);
  const { provider, region, url: endpoint } = resolved;
  const custom = endpoint !== undefined;
  const checksums = opts.checksums ?? (custom ? provider.sdkChecksums : 'when_supported');
  // Sockets are opened as requests need them: the pool follows the request limit up to its maximum.
  const agentOpts = { keepAlive: true, maxSockets: requestConcurrency(opts).max * 2, keepAliveMsecs: 1000 };
  const counter = new RequestCounter();
  const timeouts = {
    connectMs: setting(opts, 'connectTimeout'),
    firstByteMs: setting(opts, 'firstByteTimeout'),
    stallMs: setting(opts, 'stallTimeout'),
  };
  const { httpAgent, httpsAgent, watched } = timedAgents(agentOpts, timeouts);

  const pathStyle = opts.pathStyle ?? (custom ? provider.pathStyle : false);
  const config: S3ClientConfig = {
    region,
    endpoint,
    ignoreConfiguredEndpointUrls: true,
    forcePathStyle: pathStyle,
    // A body this large first waits one round trip for 100 Continue (a refused request sends no body);
    // smaller ones go at once, as a round trip would cost more than sending them.
    expectContinueHeader: EXPECT_CONTINUE_FROM,
    requestChecksumCalculation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    // s3sync retries itself (src/s3/retry.ts): a streamed body must be reopened for each attempt, which
    // the SDK cannot do, and one policy (full jitter, adaptive concurrency) then covers every request.
    maxAttempts: 1,
    credentials:
      opts.credentials ?? (opts.profile ? fromIni({ profile: opts.profile }) : fromNodeProviderChain()),
    requestHandler: new NodeHttpHandler({
      httpAgent,
      httpsAgent,
      // The agents time every request (see timed-agent.ts); the handler's own timers only where they cannot.
      connectionTimeout: watched ? 0 : timeouts.connectMs,
      socketTimeout: watched ? 0 : timeouts.stallMs,
    }),
  };
  // The SDK logs "An error was encountered in a non-retryable streaming request" for failures that
  // s3sync itself retries; its own errors and --debug notices say what matters.
  const quiet = () => {};
  config.logger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };
  const client = new Client(config);
  // The SDK's logger middleware builds a redacted copy of every request's input and output before
  // it calls the (silent) logger: CPU on every request, a large share of a small PutObject's.
  client.middlewareStack.remove('loggerMiddleware');
  counter.attach(client);
  contentMd5OnDeleteObjects(client, provider);
  checkAnswers(client);
  // Only a path-style endpoint given by URL, at its root: its GET URL is known without the SDK's rules.
  const url = endpoint !== undefined && pathStyle ? new URL(endpoint) : undefined;
  const direct =
    url && url.pathname === '/'
      ? {
          url,
          httpAgent,
          httpsAgent,
          region: () => client.config.region(),
          credentials: () => client.config.credentials(),
          // The SDK's estimate of the server's clock, from its answers (the listing's first): a
          // skewed local clock signs the direct GETs as it signs the SDK's requests.
          now: () => new Date(Date.now() + (client.config.systemClockOffset ?? 0)),
          // An error answer's Date corrects it, as the SDK corrects it from its own error answers.
          serverTime: (ms: number) => {
            client.config.systemClockOffset = ms - Date.now();
          },
        }
      : undefined;
  return { client, provider, endpointId: resolved.id, counter, direct };
}

/** The caller's own S3Client in place of the one built: its requests counted, its DeleteObjects fixed. */
export function adoptClient(resolved: ResolvedClient, client: S3Client): void {
  resolved.client = client;
  // Its credentials and endpoint are its own: every request goes through it.
  resolved.direct = undefined;
  resolved.counter.attach(client);
  contentMd5OnDeleteObjects(client, resolved.provider);
}
