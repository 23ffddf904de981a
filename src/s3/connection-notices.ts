import {
  type ConnectionOptions,
  type Env,
  firstSet,
  OPTION_ORIGINS,
  type ResolvedEndpoint,
} from './client-options.js';
import { type CredentialsOrigin, credentialsSource } from './credentials-origin.js';
import { proxySaid } from './proxy.js';
import { NO_VERIFY_WARNING, trustSaid } from './tls-trust.js';

/* What a run says about how it reaches its endpoint, and where its credentials come from. */

/**
 * A connection notice; `security`: one --quiet still prints (certificates not checked), as it is no
 * progress but a risk the user took, as aws-cli's InsecureRequestWarning is printed in every mode.
 */
export interface ConnectionNotice {
  message: string;
  security?: true;
}

/**
 * What a run says once about how it reaches an endpoint (none, usually): with --debug, the endpoint,
 * region and credentials and where each was set (an environment variable or a profile may send data
 * elsewhere than meant, silently otherwise); a user name and password in its URL, never sent nor
 * shown, are ignored, naming where the URL was set; and with AWS_PROFILE and the environment's keys
 * both set, the SDK's chain takes the profile's credentials (it skips the keys), which it would
 * otherwise say in a warning of its own on stderr. `label` names the side of an S3 → S3 sync.
 */
export function connectionNotices(
  e: ResolvedEndpoint,
  opts: Pick<
    ConnectionOptions,
    'credentials' | 'profile' | 'debug' | 'caBundle' | 'verifySsl' | typeof OPTION_ORIGINS
  >,
  env: Env = process.env,
  label = 'connection',
): ConnectionNotice[] {
  const out: ConnectionNotice[] = [];
  const say = (message: string) => out.push({ message });
  if (opts.debug)
    say(
      `${label}: endpoint ${e.id} (${e.where}), region ${e.region} (${e.regionWhere}), provider ${e.provider.name}, credentials ${credentialsSource(credentialsOrigin(opts, env))}`,
    );
  const trust = opts.debug ? trustSaid(opts, env) : undefined;
  if (trust) say(`${label}: ${trust}`);
  const proxy = opts.debug ? proxySaid(e.id, env) : undefined;
  if (proxy) say(`${label}: ${proxy}`);
  if (opts.verifySsl === false) out.push({ message: NO_VERIFY_WARNING, security: true });
  if (e.hadUserinfo)
    say(
      `the user name and password in the endpoint URL (${e.where}) are ignored: S3 requests are signed with the AWS credentials`,
    );
  const profile = firstSet(env.AWS_PROFILE);
  if (!opts.credentials && !opts.profile && profile && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY)
    say(
      `AWS_PROFILE and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are both set: the credentials of profile '${profile}' are used, not the keys`,
    );
  return out;
}

/** Where the credentials come from, as the SDK's chain looks (see CredentialsOrigin). */
export function credentialsOrigin(
  opts: Pick<ConnectionOptions, 'credentials' | 'profile' | typeof OPTION_ORIGINS>,
  env: Env = process.env,
): CredentialsOrigin {
  if (opts.credentials) return { kind: 'library' };
  // A profile named, by an option or AWS_PROFILE, makes the chain skip the environment's keys.
  if (opts.profile)
    return { kind: 'profile', name: opts.profile, by: opts[OPTION_ORIGINS]?.profile ?? '--profile' };
  const profile = firstSet(env.AWS_PROFILE);
  if (profile) return { kind: 'profile', name: profile, by: 'AWS_PROFILE' };
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY)
    return { kind: 'env', sessionToken: Boolean(env.AWS_SESSION_TOKEN) };
  return { kind: 'chain' };
}
