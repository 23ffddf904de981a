import { createSecureContext } from 'node:tls';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { usageError } from '../errors.js';
import { setting } from '../options/validate.js';
import { type ConnectionOptions, endpointFor, requestConcurrency } from './client-options.js';
import { credentialsOrigin } from './connection-notices.js';
import { checkEnvCredentials, checkResolvedCredentials } from './credential-check.js';
import { type CredentialsOrigin, credentialsToCheck } from './credentials-origin.js';
import { contentMd5OnDeleteObjects } from './delete-objects-md5.js';
import type { DirectSetup } from './direct.js';
import { endpointToCheck, validateEndpoint } from './endpoint-url.js';
import { redactSignatures } from './errors.js';
import type { ProviderQuirks } from './providers.js';
import { checkEndpointProxy, type EndpointProxy, proxyEnv, proxyOfEndpoint } from './proxy.js';
import { RequestCounter } from './request-counter.js';
import { checkAnswers } from './response-check.js';
import { credentialProviders, httpHandler, s3 } from './sdk.js';
import { ServerClock } from './server-clock.js';
import type { SigningCredentials } from './sigv4.js';
import { timedAgents } from './timed-agent.js';
import { tlsTrust } from './tls-trust.js';

export interface ResolvedClient {
  /** Built, and the SDK loaded, on first use: a run whose requests all go direct never builds it. */
  client: S3Client;
  provider: ProviderQuirks;
  /** Identity of the store (ResolvedEndpoint.id): named in messages, never with credentials. */
  endpointId: string;
  /** What a failure to reach the endpoint says to check: where it was set, or what made it (endpointToCheck). */
  endpointWhere?: string;
  /** Where the credentials come from, which their rejection says to check. */
  credentials?: CredentialsOrigin;
  /** `text` with the secret key and session token this client signed with replaced by `***`. */
  redact?: (text: string) => string;
  counter: RequestCounter;
  /** Where small GETs and listing pages may bypass the SDK (see direct.ts); else undefined. */
  direct?: DirectSetup;
  /** The proxy its requests go through, as messages name it; undefined: none, or a caller's own client. */
  proxy?: EndpointProxy;
  /** Uploads go with the SDK's checksums (`when_supported`) to an endpoint that is not AWS's. */
  uploadChecksums?: boolean;
  /**
   * The server's clock against this one's, from the Date header of every answer this connection got
   * (the transport's SDK requests and the direct ones): what moves a point in time the user gave, or
   * an age, onto the server's clock. The SDK keeps its own estimate for signing.
   */
  serverClock: ServerClock;
  /**
   * Closes the connections it opened (the SDK's and the direct requests' agents) and refuses requests
   * from then on. A caller's own client (adoptClient) is left as it is: its agents are its owner's.
   */
  close: () => void;
}

/** Request bodies from this size ask for 100 Continue before they are sent. */
export const EXPECT_CONTINUE_FROM = 2 * 1024 * 1024;

/**
 * The S3Client, built on first use from the standard AWS chain (env, profiles, shared config), with
 * flags on top, and what requests sent without it need (see direct.ts).
 * The endpoint is the one s3sync resolved and records (see resolveEndpoint), given to the SDK
 * explicitly, and the SDK is told to look for no other: with --profile it would otherwise read the
 * endpoint_url of AWS_PROFILE's profile (or 'default'), not of the profile the credentials come from.
 * Settings that would only fail later inside a request (unknown profile, bad endpoint) fail here, in
 * one line.
 */
export async function createS3Client(
  opts: ConnectionOptions & {
    workersCap?: number;
    /** A caller's own S3Client will send the requests (adoptClient): the environment's proxies carry none. */
    ownClient?: boolean;
  } = {},
): Promise<ResolvedClient> {
  const resolved = endpointFor(opts);
  // The environment's keys, as the chain's first link would take them: refused before any request.
  if (!opts.credentials && !opts.profile) checkEnvCredentials(process.env);
  const { provider, region, url: endpoint } = resolved;
  const custom = endpoint !== undefined;
  const checksums = opts.checksums ?? (custom ? provider.sdkChecksums : 'when_supported');
  // Sockets are opened as requests need them: the pool follows the request limit up to its maximum.
  const agentOpts = { keepAlive: true, maxSockets: requestConcurrency(opts).max * 2, keepAliveMsecs: 1000 };
  // Read here, as the first request is about to go: a bundle that cannot be used stops the run first.
  // A plain-http endpoint verifies nothing: its bundle is not read (AWS_CA_BUNDLE may be set machine-wide).
  const trust = endpoint === undefined || endpoint.startsWith('https:') ? tlsTrust(opts) : undefined;
  const counter = new RequestCounter();
  const timeouts = {
    connectMs: setting(opts, 'connectTimeout'),
    firstByteMs: setting(opts, 'firstByteTimeout'),
    stallMs: setting(opts, 'stallTimeout'),
  };
  const proxies = proxyEnv(process.env);
  // An ALL_PROXY this endpoint would go through and that cannot be used: one line before any request.
  if (!opts.ownClient) checkEndpointProxy(endpoint, proxies);
  const { httpAgent, httpsAgent, watched, close } = timedAgents(
    {
      ...agentOpts,
      rejectUnauthorized: trust?.rejectUnauthorized ?? true,
      // One context for every connection: given `ca`, each TLS connection would parse the whole bundle
      // again (measured in docs/performance.md).
      ...(trust?.ca && { secureContext: createSecureContext({ ca: trust.ca }) }),
    },
    timeouts,
    proxies,
  );

  const pathStyle = opts.pathStyle ?? (custom ? provider.pathStyle : false);
  // The server's clock minus this one's, as far as known: the SDK client's once it is built.
  let skewBeforeClient = 0;
  // The SDK logs "An error was encountered in a non-retryable streaming request" for failures that
  // s3sync itself retries, and its credential chain writes a warning of several lines to stderr when
  // AWS_PROFILE and the environment's keys are both set (s3sync says it in one notice): its own
  // errors and --debug notices say what matters.
  const quiet = () => {};
  const logger = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };
  // The secrets signed with, as resolved: a server that echoes one in an error message (a token it
  // refuses) must not have it printed.
  const secrets = new Set<string>();
  const remember = <C extends { secretAccessKey?: string; sessionToken?: string }>(c: C): C => {
    for (const v of [c.secretAccessKey, c.sessionToken]) if (v !== undefined && v.length >= 8) secrets.add(v);
    return c;
  };
  const redact = (text: string) => {
    let out = text;
    for (const v of secrets) out = out.split(v).join('***');
    return redactSignatures(out);
  };
  const build = (): S3Client => {
    const { fromIni, fromNodeProviderChain } = credentialProviders();
    const chain = opts.profile
      ? fromIni({ profile: opts.profile, logger })
      : fromNodeProviderChain({ logger });
    const config: S3ClientConfig = {
      region,
      endpoint,
      ignoreConfiguredEndpointUrls: true,
      forcePathStyle: pathStyle,
      // A body this large first waits one round trip for 100 Continue (a refused request sends no
      // body); smaller ones go at once, as a round trip would cost more than sending them.
      expectContinueHeader: EXPECT_CONTINUE_FROM,
      requestChecksumCalculation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      responseChecksumValidation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      // s3sync retries itself (src/s3/retry.ts): a streamed body must be reopened for each attempt,
      // which the SDK cannot do, and one policy (full jitter, adaptive concurrency) then covers every
      // request.
      maxAttempts: 1,
      systemClockOffset: skewBeforeClient,
      credentials: opts.credentials
        ? remember(opts.credentials)
        : async (p?: Parameters<typeof chain>[0]) =>
            remember(checkResolvedCredentials(await chain(p), credentialsToCheck(credentialsOrigin(opts)))),
      requestHandler: new (httpHandler().NodeHttpHandler)({
        httpAgent,
        httpsAgent,
        // The agents time every request (see timed-agent.ts); the handler's own timers only where
        // they cannot.
        connectionTimeout: watched ? 0 : timeouts.connectMs,
        socketTimeout: watched ? 0 : timeouts.stallMs,
      }),
    };
    config.logger = logger;
    const client = new (s3().S3Client)(config);
    // The SDK's logger middleware builds a redacted copy of every request's input and output before
    // it calls the (silent) logger: CPU on every request, a large share of a small PutObject's.
    client.middlewareStack.remove('loggerMiddleware');
    contentMd5OnDeleteObjects(client, provider);
    checkAnswers(client);
    return client;
  };
  let built: S3Client | undefined;
  // Whether `built` was built here; a caller's client (adoptClient) is never destroyed.
  let ours = true;
  const skew = () => (built ? (built.config.systemClockOffset ?? 0) : skewBeforeClient);
  const out: ResolvedClient = {
    get client() {
      built ??= build();
      return built;
    },
    set client(c: S3Client) {
      built = c;
      ours = false;
    },
    close: () => {
      close();
      if (ours) built?.destroy();
    },
    provider,
    endpointId: resolved.id,
    endpointWhere: endpointToCheck(resolved),
    counter,
    credentials: credentialsOrigin(opts),
    redact,
    proxy: proxyOfEndpoint(endpoint, process.env),
    serverClock: new ServerClock(),
    uploadChecksums: custom && checksums === 'when_supported',
  };
  // Only a path-style endpoint given by URL, at its root: its request URLs are known without the
  // SDK's endpoint rules.
  const url = endpoint !== undefined && pathStyle ? new URL(endpoint) : undefined;
  if (url && url.pathname === '/') {
    const known = knownCredentials(opts);
    out.direct = {
      url,
      httpAgent,
      httpsAgent,
      region: async () => region,
      // The SDK's chain (profiles, SSO, instance roles …) only where the credentials are not known
      // without it.
      credentials: known ? async () => remember(known) : () => out.client.config.credentials(),
      checksums,
      // A skewed local clock signs the direct requests as the SDK signs its own.
      now: () => new Date(Date.now() + skew()),
      // The SDK's rule: a server time more than 5 minutes off the corrected clock replaces the skew.
      serverTime: (ms: number) => {
        if (Math.abs(Date.now() + skew() - ms) < CLOCK_SKEW_MS) return;
        if (built) built.config.systemClockOffset = ms - Date.now();
        else skewBeforeClient = ms - Date.now();
      },
      answered: (date, sentAt, answeredAt) => out.serverClock.answered(date, sentAt, answeredAt),
    };
  }
  return out;
}

/** How far the server's clock may be from the corrected local one before the SDK's signing skew is re-estimated. */
const CLOCK_SKEW_MS = 300_000;

/**
 * The credentials the SDK's chain would use, where they are known without it: given to the library,
 * or both environment variables set with no profile named (the chain's first link). Else undefined.
 */
export function knownCredentials(
  opts: Pick<ConnectionOptions, 'credentials' | 'profile'>,
  env: NodeJS.ProcessEnv = process.env,
): SigningCredentials | undefined {
  if (opts.credentials) return opts.credentials;
  // A profile, from the flag or AWS_PROFILE, makes the chain skip the environment's keys; an
  // expiry makes them the SDK's to refresh.
  if (opts.profile || env.AWS_PROFILE || env.AWS_CREDENTIAL_EXPIRATION) return undefined;
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env.AWS_SESSION_TOKEN || undefined;
  return { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) };
}

/** The endpoint a caller's client is fixed to, normalised as endpointUrl is; undefined: AWS, by its rules. */
export async function clientEndpoint(client: S3Client): Promise<string | undefined> {
  const e = await client.config.endpoint?.();
  if (e === undefined) return undefined;
  const port = e.port === undefined ? '' : `:${e.port}`;
  return validateEndpoint(`${e.protocol}//${e.hostname}${port}${e.path}`);
}

/**
 * A caller's client reaches one store: with no endpointUrl given, the client's own endpoint is the
 * run's, which names the store in the manifest and a plan (else the AWS default or the environment's
 * would name another). One given is checked against it as the transport connects (checkClientEndpoint).
 * Options without a client that has an endpoint pass as they are; validation speaks for a bad client.
 */
export async function namedByClient<T>(opts: T): Promise<T> {
  const o = opts as { client?: { config?: { endpoint?: unknown } }; endpointUrl?: unknown } | null;
  if (o?.endpointUrl !== undefined || typeof o?.client?.config?.endpoint !== 'function') return opts;
  const own = await clientEndpoint(o.client as S3Client);
  return own === undefined ? opts : ({ ...o, endpointUrl: own } as T);
}

const AWS_HOST = /(^|\.)amazonaws\.com(\.cn)?$/i;

/**
 * Refuses an endpointUrl other than the store the caller's client reaches: the option names the store
 * in the manifest and the plan, so a different one would record another store than the requests reach.
 * A client with no endpoint of its own reaches AWS: an endpoint elsewhere is refused with it.
 */
export async function checkClientEndpoint(client: S3Client, endpointUrl: string | undefined): Promise<void> {
  if (endpointUrl === undefined) return;
  const own = await clientEndpoint(client);
  const given = validateEndpoint(endpointUrl);
  if (own === undefined) {
    if (AWS_HOST.test(new URL(given).hostname)) return;
    throw usageError(
      `client fixes the connection: it has no endpoint of its own (it reaches AWS), not endpointUrl ${given} (leave out endpointUrl or give the client that endpoint)`,
    );
  }
  if (own !== given)
    throw usageError(
      `client fixes the connection: its endpoint is ${own}, not endpointUrl ${given} (leave out endpointUrl or give the client's)`,
    );
}

/** The caller's own S3Client in place of the one built: its DeleteObjects fixed (requests are counted per command). */
export function adoptClient(resolved: ResolvedClient, client: S3Client): void {
  resolved.client = client;
  // Its credentials and endpoint are its own: every request goes through it.
  resolved.direct = undefined;
  // Its agents are its own: no proxy of the environment's is known to carry its requests.
  resolved.proxy = undefined;
  contentMd5OnDeleteObjects(client, resolved.provider);
}
