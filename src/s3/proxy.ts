/**
 * Which proxy a request goes through, from the environment as curl and aws-cli read it: HTTPS_PROXY for
 * https endpoints (a CONNECT tunnel), HTTP_PROXY for http ones (requests in absolute form), the
 * lower-case name first; ALL_PROXY for a scheme whose own variable is unset, as curl reads it;
 * NO_PROXY lists the hosts reached directly. Pure but for the environment given; the agents that use
 * it are in proxy-agent.ts.
 */
import { BlockList, isIP } from 'node:net';
import { type S3SyncError, usageError } from '../errors.js';
import { ProxyRefusedError } from './endpoint-errors.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface ProxySetting {
  url: URL;
  /** The variable that set it (https_proxy, HTTPS_PROXY …), as messages name it. */
  where: string;
}

export interface ProxyEnv {
  https?: ProxySetting;
  http?: ProxySetting;
  /**
   * A scheme with no variable of its own whose ALL_PROXY cannot be used (a socks5:// one, set for other
   * tools): refused only when a request of that scheme would go through it (proxyFor), so that a run
   * whose own variable is set, or whose host NO_PROXY names, is not stopped by it.
   */
  refused?: { https?: S3SyncError; http?: S3SyncError };
  /** NO_PROXY's entries, lower-case, empty ones left out. */
  noProxy: string[];
}

/** The first of the two spellings that is set and not empty: the lower-case one first (curl, Python). */
function variable(env: Env, upper: string): { value: string; where: string } | undefined {
  for (const name of [upper.toLowerCase(), upper]) {
    const v = env[name]?.trim();
    if (v) return { value: v, where: name };
  }
  return undefined;
}

/**
 * A proxy URL checked: http:// or https:// with a host; a bare host:port is taken as http://, as curl
 * does. `fix`: what a refusal of another scheme adds (ALL_PROXY's: the variable to set instead).
 */
function parseProxy(value: string, where: string, fix = ''): ProxySetting {
  const raw = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw usageError(
      `malformed proxy URL ${redactProxy(value)} in ${where} (expected e.g. http://proxy:3128)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    const scheme = url.protocol.slice(0, -1);
    throw usageError(
      `${where} names a ${scheme} proxy (${redactProxy(value)}): ${/^socks/i.test(scheme) ? 'socks proxies are not supported (only http:// and https:// ones)' : 'only http:// and https:// proxies are supported'}${fix}`,
    );
  }
  if (!url.hostname) throw usageError(`malformed proxy URL ${redactProxy(value)} in ${where} (no host)`);
  // A path is no part of a proxy's address: it is a password's unencoded / ? # cutting the URL short.
  if (url.pathname !== '/' || url.search || url.hash || /[?#]$/.test(raw))
    throw usageError(
      `malformed proxy URL ${redactProxy(value)} in ${where} (expected scheme://[user:password@]host:port; percent-encode / ? # @ in a password)`,
    );
  // Checked here, not where a connection first needs it: the line names the variable, before any request.
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw usageError(
      `${where} holds a user name or password that is not valid percent-encoding (${redactProxy(value)}): write % as %25`,
    );
  }
  return { url, where };
}

export function proxyEnv(env: Env = process.env): ProxyEnv {
  const https = variable(env, 'HTTPS_PROXY');
  const http = variable(env, 'HTTP_PROXY');
  const all = variable(env, 'ALL_PROXY');
  const no = variable(env, 'NO_PROXY');
  const out: ProxyEnv = {
    ...(https && { https: parseProxy(https.value, https.where) }),
    ...(http && { http: parseProxy(http.value, http.where) }),
    noProxy: [],
  };
  // ALL_PROXY only for a scheme without its own variable (curl): where it is set, ALL_PROXY is not read.
  if (all)
    for (const scheme of ['https', 'http'] as const) {
      if (out[scheme]) continue;
      try {
        out[scheme] = parseProxy(
          all.value,
          all.where,
          `; set ${scheme.toUpperCase()}_PROXY to an http:// proxy (it is used instead), or unset ${all.where}`,
        );
      } catch (err) {
        out.refused = { ...out.refused, [scheme]: err as S3SyncError };
      }
    }
  return {
    ...out,
    noProxy: (no?.value ?? '')
      .toLowerCase()
      .split(/[\s,]+/)
      .filter((e) => e !== ''),
  };
}

/** A host as NO_PROXY entries are compared with it: lower case, no brackets, no trailing dot. */
const bare = (host: string) =>
  host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');

/** An entry split into its host and its port (undefined: any), `[v6]:port` and a bare v6 address too. */
function entryParts(entry: string): { host: string; port?: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (v6) return { host: v6[1]!, ...(v6[2] && { port: Number(v6[2]) }) };
  if (isIP(entry) === 6 || entry.includes('/')) return { host: entry };
  const m = /^(.*):(\d+)$/.exec(entry);
  return m ? { host: m[1]!, port: Number(m[2]) } : { host: entry };
}

/** Whether an address falls in a CIDR entry (10.0.0.0/8, fd00::/8). */
function inCidr(ip: string, entry: string): boolean {
  const [net, bits] = entry.split('/');
  const family = isIP(net ?? '');
  if (!family || family !== isIP(ip) || !/^\d+$/.test(bits ?? '')) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  try {
    list.addSubnet(net!, Number(bits), type);
  } catch {
    return false;
  }
  return list.check(ip, type);
}

/**
 * Whether NO_PROXY sends a host directly (curl's rules): `*` is every host; an entry is the host or a
 * domain it is in (`example.com` and `.example.com` both match `s3.example.com`, not `myexample.com`);
 * `host:port` only on that port; an IP address only itself, a CIDR block its addresses.
 */
export function bypassesProxy(noProxy: readonly string[], host: string, port: number): boolean {
  const h = bare(host);
  for (const raw of noProxy) {
    if (raw === '*') return true;
    const e = entryParts(raw);
    if (e.port !== undefined && e.port !== port) continue;
    const name = bare(e.host).replace(/^\*?\./, '');
    if (name === '') continue;
    if (name.includes('/')) {
      if (inCidr(h, name)) return true;
      continue;
    }
    if (h === name || (!isIP(h) && h.endsWith(`.${name}`))) return true;
  }
  return false;
}

/** The proxy a request to this host goes through, or undefined: directly. */
export function proxyFor(
  env: ProxyEnv,
  protocol: string,
  host: string,
  port: number,
): ProxySetting | undefined {
  const scheme = protocol === 'https:' ? 'https' : 'http';
  const proxy = env[scheme];
  const refused = env.refused?.[scheme];
  if (!proxy && !refused) return undefined;
  if (bypassesProxy(env.noProxy, host, port)) return undefined;
  if (refused) throw refused;
  return proxy;
}

/**
 * Refuses an endpoint whose requests would go through an ALL_PROXY that cannot be used, before any
 * request (the agents would only fail each connection with it).
 */
export function checkEndpointProxy(endpoint: string | undefined, env: ProxyEnv): void {
  const url = new URL(endpoint ?? 'https://s3.amazonaws.com');
  proxyFor(env, url.protocol, url.hostname, portOf(url));
}

/**
 * A proxy URL as it may be shown: its password replaced by `***` (a user name stays, it names the
 * account). Any raw value: the user part ends at the last `@` (a password may hold `@ / ? #`
 * unencoded, where a URL parser would end it sooner); when the user name itself holds one of them,
 * everything before that `@` is hidden.
 */
export function redactProxy(raw: string): string {
  const start = /^[a-z][a-z0-9+.-]*:\/\//i.exec(raw)?.[0].length ?? 0;
  const at = raw.lastIndexOf('@');
  if (at < start) return raw;
  const userInfo = raw.slice(start, at);
  const colon = userInfo.indexOf(':');
  const user = colon < 0 ? userInfo : userInfo.slice(0, colon);
  if (/[/?#\\]/.test(user)) return `${raw.slice(0, start)}***${raw.slice(at)}`;
  return colon < 0 ? raw : `${raw.slice(0, start + colon)}:***${raw.slice(at)}`;
}

/** The Basic Proxy-Authorization of a proxy URL's user name and password, or undefined. */
export function proxyAuthorization(url: URL): string | undefined {
  if (!url.username && !url.password) return undefined;
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

/** The port a URL reaches, its scheme's when none is written. */
export const portOf = (url: URL): number =>
  url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;

/** What --debug says about the proxy of an endpoint, or undefined when no proxy variable is set. */
export function proxySaid(endpoint: string, env: Env = process.env): string | undefined {
  const parsed = proxyEnv(env);
  const url = new URL(endpoint);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  if (!parsed[scheme] && !parsed.refused?.[scheme]) return undefined;
  const proxy = proxyFor(parsed, url.protocol, url.hostname, portOf(url));
  return proxy
    ? `proxy ${redactProxy(proxy.url.href).replace(/\/$/, '')} (${proxy.where})`
    : `no proxy: NO_PROXY names ${url.hostname}`;
}

/** A proxy as messages name it: its URL without the password, and the variable that set it. */
export const shownProxy = (proxy: ProxySetting): string =>
  `${redactProxy(proxy.url.href).replace(/\/$/, '')} (${proxy.where})`;

export interface EndpointProxy {
  /** As messages name it (shownProxy). */
  shown: string;
  /** It forwards the requests (http endpoint): every answer is its to make; else it tunnels them. */
  forwards: boolean;
}

/**
 * The proxy the environment sends an endpoint's requests through (AWS's when none is given), and
 * whether it forwards them (http: every answer is the proxy's to make) or tunnels them; undefined when
 * none, and for a proxy setting that does not parse (the run refuses it before any request).
 */
export function proxyOfEndpoint(endpoint: string | undefined, env: Env): EndpointProxy | undefined {
  try {
    const url = new URL(endpoint ?? 'https://s3.amazonaws.com');
    const proxy = proxyFor(proxyEnv(env), url.protocol, url.hostname, portOf(url));
    return proxy && { shown: shownProxy(proxy), forwards: url.protocol === 'http:' };
  } catch {
    return undefined;
  }
}

/** The one line a proxy's refusal is: which proxy (no password), what it refused, and what to check. */
export function proxyRefusal(
  proxy: ProxySetting,
  target: string | undefined,
  status: number,
  phrase: string,
): ProxyRefusedError {
  const shown = shownProxy(proxy);
  const fix =
    status === 407
      ? proxy.url.username || proxy.url.password
        ? `: check the user name and password in ${proxy.where}`
        : `: give them in ${proxy.where} (http://user:password@host:port)`
      : '';
  const what = target ? `the connection to ${target}` : 'the request';
  return new ProxyRefusedError(
    `the proxy ${shown} refused ${what} (${status ? `HTTP ${status}${phrase ? ` ${phrase}` : ''}` : phrase})${fix}`,
  );
}

/**
 * An answer with HTTP 407 to a request sent in absolute form: only a proxy answers so, HTTP_PROXY's
 * (through a tunnel the endpoint answers, and a refused tunnel fails before any answer).
 */
export function proxyAuthRequired(env: Env = process.env): ProxyRefusedError {
  const proxy = proxyEnv(env).http;
  const phrase = 'Proxy Authentication Required';
  return proxy
    ? proxyRefusal(proxy, undefined, 407, phrase)
    : new ProxyRefusedError(`a proxy refused the request (HTTP 407 ${phrase})`);
}
