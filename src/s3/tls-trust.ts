/**
 * Which certificates a run trusts for its endpoint, as aws-cli decides it: --ca-bundle, else
 * AWS_CA_BUNDLE, else the profile's ca_bundle; a bundle replaces Node's default roots for the
 * endpoint (aws-cli's `verify=<bundle>`). --no-verify-ssl (verifySsl: false) trusts any certificate.
 * Read only as the client is built: a run that makes no request reads no file.
 */
import { X509Certificate } from 'node:crypto';
import { homedir } from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { ReadRefusal, readRegularFile } from '../local/read-regular.js';
import { type AwsProfile, readAwsProfile } from './aws-config.js';

export interface TrustOptions {
  caBundle?: string;
  verifySsl?: boolean;
  profile?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** What the agents get: `ca` replaces the default roots; rejectUnauthorized false verifies nothing. */
export interface TlsTrust {
  ca?: string[];
  rejectUnauthorized: boolean;
  /** Where the bundle was set, for --debug: '--ca-bundle', 'AWS_CA_BUNDLE', a profile's line. */
  from?: string;
}

/** The bundle a run uses and where it was set; undefined: Node's roots (and NODE_EXTRA_CA_CERTS). */
export function caBundleSource(
  opts: TrustOptions,
  env: Env,
  profile: () => AwsProfile,
): { file: string; where: string } | undefined {
  if (opts.caBundle !== undefined) return { file: opts.caBundle, where: '--ca-bundle' };
  if (env.AWS_CA_BUNDLE) return { file: env.AWS_CA_BUNDLE, where: 'AWS_CA_BUNDLE' };
  const p = profile();
  const file = p.settings.ca_bundle;
  return file ? { file: expandHome(file), where: `the ca_bundle of AWS profile '${p.name}'` } : undefined;
}

const expandHome = (p: string) => (p.startsWith('~/') ? path.join(homedir(), p.slice(2)) : p);

const BEGIN = '-----BEGIN CERTIFICATE-----';
const END = '-----END CERTIFICATE-----';

/**
 * The PEM certificate blocks of a text, BEGIN to the first END after it, in order. Scanned with indexOf,
 * each character looked at once: a lazy regex tried every BEGIN against the rest of the text, quadratic
 * in a file of many BEGIN lines and no END.
 */
export function pemBlocks(text: string): string[] {
  const out: string[] = [];
  let at = text.indexOf(BEGIN);
  while (at !== -1) {
    const end = text.indexOf(END, at + BEGIN.length);
    if (end === -1) break;
    out.push(text.slice(at, end + END.length));
    at = text.indexOf(BEGIN, end + END.length);
  }
  return out;
}

/** Past the largest system bundle many times over: a mistaken file (an image, a disk) is not read. */
export const CA_BUNDLE_MAX_BYTES = 16 * 1024 * 1024;

/** The certificates of a bundle file, each checked: a file that holds none is refused, naming it. */
export function readCaBundle(file: string, where: string): string[] {
  let text: string;
  try {
    // A regular file only: a FIFO with no writer blocked the run, signals and all.
    text = readRegularFile(file, CA_BUNDLE_MAX_BYTES, 'a CA bundle').toString('utf8');
  } catch (err) {
    if (!(err instanceof ReadRefusal)) throw err;
    throw usageError(`cannot read the CA bundle ${file} (${where}): ${err.why}`);
  }
  const certs = pemBlocks(text);
  if (certs.length === 0)
    throw usageError(
      `the CA bundle ${file} (${where}) holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA's certificate in PEM`,
    );
  for (const pem of certs) {
    try {
      new X509Certificate(pem);
    } catch {
      throw usageError(`the CA bundle ${file} (${where}) holds a certificate that is not valid PEM`);
    }
  }
  return certs;
}

/** The trust a client's agents use (see TlsTrust); a bundle named but unusable is a usage error. */
export function tlsTrust(opts: TrustOptions, env: Env = process.env): TlsTrust {
  // aws-cli reads no bundle when verification is off: nothing would be checked against it.
  if (opts.verifySsl === false) return { rejectUnauthorized: false };
  const name = opts.profile ?? (env.AWS_PROFILE || undefined);
  const source = caBundleSource(opts, env, () => readAwsProfile(name, env));
  if (!source) return { rejectUnauthorized: true };
  return { ca: readCaBundle(source.file, source.where), rejectUnauthorized: true, from: source.where };
}

/** The line every run with verification off prints: what it gives up. */
export const NO_VERIFY_WARNING =
  'TLS certificates are not verified (--no-verify-ssl): anyone between here and the endpoint can read and change what is sent';

/**
 * Which certificates are trusted, as --debug says it where it is not the system's: where the bundle is
 * set, not its contents (not read here).
 */
export function trustSaid(opts: TrustOptions, env: Env): string | undefined {
  if (opts.verifySsl === false) return undefined;
  const name = opts.profile ?? (env.AWS_PROFILE || undefined);
  const bundle = caBundleSource(opts, env, () => readAwsProfile(name, env));
  return bundle && `TLS CA bundle ${bundle.file} (${bundle.where})`;
}
