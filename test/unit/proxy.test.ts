import { describe, expect, it } from 'vitest';
import type { S3SyncError } from '../../src/errors.js';
import {
  bypassesProxy,
  checkEndpointProxy,
  proxyAuthorization,
  proxyEnv,
  proxyFor,
  proxyOfEndpoint,
  proxyRefusal,
  proxySaid,
  redactProxy,
} from '../../src/s3/proxy.js';

describe('bypassesProxy: NO_PROXY as curl reads it', () => {
  it.each<[string, string, string, number, boolean]>([
    ['* is every host', '*', 's3.example.com', 443, true],
    ['the host itself', 'minio.local', 'minio.local', 9000, true],
    ['a domain covers its hosts', 'example.com', 's3.example.com', 443, true],
    ['a leading dot too', '.example.com', 's3.example.com', 443, true],
    ['and *.', '*.example.com', 'bucket.s3.example.com', 443, true],
    ['a domain is no suffix of another name', 'example.com', 'myexample.com', 443, false],
    ['case does not matter', 'Example.COM', 'S3.example.com', 443, true],
    ['a trailing dot of the host does not matter', 'example.com', 's3.example.com.', 443, true],
    ['host:port only on that port', 'minio.local:9000', 'minio.local', 9000, true],
    ['not on another', 'minio.local:9000', 'minio.local', 9001, false],
    ['an IP address is itself', '10.0.0.5', '10.0.0.5', 80, true],
    ['no domain suffix for addresses', '0.0.5', '10.0.0.5', 80, false],
    ['a CIDR block', '10.0.0.0/8', '10.1.2.3', 80, true],
    ['outside it', '10.0.0.0/8', '11.1.2.3', 80, false],
    ['an IPv6 address, bracketed or not', '::1', '[::1]', 80, true],
    ['[v6]:port', '[::1]:9000', '::1', 9000, true],
    ['an IPv6 block', 'fd00::/8', 'fd12::1', 443, true],
    ['a list, any entry', 'a.example, 127.0.0.1', '127.0.0.1', 80, true],
    ['none matches', 'a.example b.example', 'c.example', 80, false],
  ])('%s', (_why, noProxy, host, port, bypass) => {
    const entries = proxyEnv({ NO_PROXY: noProxy }).noProxy;
    expect(bypassesProxy(entries, host, port)).toBe(bypass);
  });
});

describe('proxyEnv and proxyFor', () => {
  it('https endpoints take HTTPS_PROXY, http ones HTTP_PROXY; the lower-case name first', () => {
    const env = proxyEnv({
      HTTPS_PROXY: 'http://upper:1',
      https_proxy: 'http://lower:2',
      HTTP_PROXY: 'http://h:3',
    });
    expect(proxyFor(env, 'https:', 's3.example.com', 443)?.url.host).toBe('lower:2');
    expect(proxyFor(env, 'https:', 's3.example.com', 443)?.where).toBe('https_proxy');
    expect(proxyFor(env, 'http:', 's3.example.com', 80)?.where).toBe('HTTP_PROXY');
  });

  it('no variable for the scheme: no proxy (HTTP_PROXY is not used for https)', () => {
    expect(proxyFor(proxyEnv({ HTTP_PROXY: 'http://h:3' }), 'https:', 'x', 443)).toBeUndefined();
  });

  it('a bare host:port is http://, as curl takes it', () => {
    expect(proxyEnv({ HTTPS_PROXY: 'proxy.corp:3128' }).https?.url.href).toBe('http://proxy.corp:3128/');
  });

  it.each([
    [
      'socks5://h:1080',
      /^HTTPS_PROXY names a socks5 proxy \(socks5:\/\/h:1080\): socks proxies are not supported \(only http:\/\/ and https:\/\/ ones\)$/,
    ],
    [
      'ftp://h:21',
      /^HTTPS_PROXY names a ftp proxy \(ftp:\/\/h:21\): only http:\/\/ and https:\/\/ proxies are supported$/,
    ],
    ['http://u:secret@[bad', /malformed proxy URL http:\/\/u:\*\*\*@\[bad in HTTPS_PROXY/],
  ])('%s is refused in one line, its password hidden', (value, message) => {
    expect(() => proxyEnv({ HTTPS_PROXY: value })).toThrow(message);
  });
});

describe('ALL_PROXY: the fallback for a scheme without its own variable, as curl reads it', () => {
  it('used for https and http when their variables are unset; the lower-case name first', () => {
    const env = proxyEnv({ ALL_PROXY: 'http://upper:1', all_proxy: 'http://lower:2' });
    for (const [protocol, port] of [
      ['https:', 443],
      ['http:', 80],
    ] as const) {
      const p = proxyFor(env, protocol, 's3.example.com', port);
      expect(p?.url.host, protocol).toBe('lower:2');
      expect(p?.where, protocol).toBe('all_proxy');
    }
  });

  it("a scheme's own variable wins: ALL_PROXY only for the other scheme", () => {
    const env = proxyEnv({ HTTPS_PROXY: 'http://tunnel:1', ALL_PROXY: 'http://all:2' });
    expect(proxyFor(env, 'https:', 'x', 443)?.where).toBe('HTTPS_PROXY');
    expect(proxyFor(env, 'http:', 'x', 80)?.where).toBe('ALL_PROXY');
  });

  it('NO_PROXY still sends its hosts directly', () => {
    const env = proxyEnv({ ALL_PROXY: 'http://all:2', NO_PROXY: 'minio.local' });
    expect(proxyFor(env, 'http:', 'minio.local', 9000)).toBeUndefined();
    expect(proxyFor(env, 'https:', 's3.example.com', 443)?.where).toBe('ALL_PROXY');
  });

  it('an empty ALL_PROXY is unset; a bare host:port is http://', () => {
    expect(proxyFor(proxyEnv({ ALL_PROXY: ' ' }), 'https:', 'x', 443)).toBeUndefined();
    expect(proxyEnv({ all_proxy: 'proxy.corp:3128' }).https?.url.href).toBe('http://proxy.corp:3128/');
  });

  it.each(['socks5://127.0.0.1:1080', 'socks5h://u:pw-secret@h:1080', 'socks4://h:1080'])(
    'a %s ALL_PROXY is irrelevant where the scheme has its own variable',
    (all) => {
      const env = proxyEnv({ HTTPS_PROXY: 'http://tunnel:1', HTTP_PROXY: 'http://fwd:2', ALL_PROXY: all });
      expect(env.refused).toBeUndefined();
      expect(proxyFor(env, 'https:', 'x', 443)?.where).toBe('HTTPS_PROXY');
      expect(proxyFor(env, 'http:', 'x', 80)?.where).toBe('HTTP_PROXY');
    },
  );

  it('a socks ALL_PROXY with only HTTPS_PROXY set: an https endpoint runs, an http one is refused', () => {
    const env = proxyEnv({ HTTPS_PROXY: 'http://tunnel:1', all_proxy: 'socks5h://u:pw-secret@h:1080' });
    expect(() => checkEndpointProxy('https://s3.example.com', env)).not.toThrow();
    expect(() => checkEndpointProxy(undefined, env)).not.toThrow();
    let message = '';
    try {
      checkEndpointProxy('http://minio.local:9000', env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      'all_proxy names a socks5h proxy (socks5h://u:***@h:1080): socks proxies are not supported (only http:// and https:// ones); set HTTP_PROXY to an http:// proxy (it is used instead), or unset all_proxy',
    );
  });

  it('a socks ALL_PROXY alone: refused in one line (exit 2) for a request that would use it, not for a NO_PROXY host', () => {
    const env = proxyEnv({ ALL_PROXY: 'socks5://127.0.0.1:1080', NO_PROXY: 'minio.local' });
    expect(() => checkEndpointProxy('https://s3.example.com', env)).toThrow(
      /^ALL_PROXY names a socks5 proxy \(socks5:\/\/127\.0\.0\.1:1080\): socks proxies are not supported \(only http:\/\/ and https:\/\/ ones\); set HTTPS_PROXY to an http:\/\/ proxy \(it is used instead\), or unset ALL_PROXY$/,
    );
    try {
      checkEndpointProxy('https://s3.example.com', env);
    } catch (err) {
      expect((err as S3SyncError).kind).toBe('usage');
    }
    expect(() => checkEndpointProxy('http://minio.local:9000', env)).not.toThrow();
    expect(
      proxyOfEndpoint('https://s3.example.com', { ALL_PROXY: 'socks5://127.0.0.1:1080' }),
    ).toBeUndefined();
  });

  it('a malformed ALL_PROXY is refused the same way, its password hidden', () => {
    const env = proxyEnv({ ALL_PROXY: 'http://u:pa/ss@127.0.0.1:7620' });
    expect(() => checkEndpointProxy('https://s3.example.com', env)).toThrow(
      /^malformed proxy URL http:\/\/u:\*\*\*@127\.0\.0\.1:7620 in ALL_PROXY/,
    );
  });

  it('--debug and messages name ALL_PROXY as the variable that set the proxy', () => {
    expect(proxySaid('https://s3.example.com', { all_proxy: 'http://ops:pw@proxy:3128' })).toBe(
      'proxy http://ops:***@proxy:3128 (all_proxy)',
    );
    expect(
      proxySaid('http://minio.local:9000', { ALL_PROXY: 'http://proxy:3128', NO_PROXY: 'minio.local' }),
    ).toBe('no proxy: NO_PROXY names minio.local');
    expect(proxyOfEndpoint('http://s3.corp:9000', { ALL_PROXY: 'http://proxy:3128' })).toEqual({
      shown: 'http://proxy:3128 (ALL_PROXY)',
      forwards: true,
    });
  });
});

describe('what is shown and sent', () => {
  it.each([
    ['http://ops:s3cret@proxy:3128/', 'http://ops:***@proxy:3128/'],
    ['http://ops:p@ss@proxy:3128', 'http://ops:***@proxy:3128'],
    ['http://:s3cret@proxy', 'http://:***@proxy'],
    ['http://ops@proxy', 'http://ops@proxy'],
    ['proxy:3128', 'proxy:3128'],
    ['http://u:pa/ss@127.0.0.1:7620', 'http://u:***@127.0.0.1:7620'],
    ['http://u/x:pw@proxy', 'http://***@proxy'],
    ['http://proxy:3128/a@b', 'http://proxy:***@b'],
  ])('redactProxy(%s)', (raw, shown) => {
    expect(redactProxy(raw)).toBe(shown);
  });

  // Passwords written unencoded, with the characters that end a URL's authority or user part.
  const PASSWORDS = [
    'pa/ss',
    'p?ss',
    'p#ss',
    'p\\ss',
    'p@ss',
    'p:ss',
    'a/b@c?d#e',
    '12/ss',
    '50%off',
    'q//',
    '@@',
  ];

  it.each(PASSWORDS)('redactProxy hides the password %s, wherever the URL parser would end it', (pw) => {
    for (const raw of [`http://u:${pw}@127.0.0.1:7620`, `u:${pw}@proxy:3128`, `https://:${pw}@proxy`]) {
      const shown = redactProxy(raw);
      expect(shown, raw).not.toContain(pw);
      expect(shown, raw).toMatch(/\*\*\*@(127\.0\.0\.1:7620|proxy:3128|proxy)$/);
    }
  });

  it.each(PASSWORDS)('a proxy URL with the password %s unencoded: refused in one line without it', (pw) => {
    let message = '';
    try {
      proxyEnv({ HTTPS_PROXY: `http://u:${pw}@127.0.0.1:7620` });
    } catch (err) {
      message = (err as Error).message;
    }
    // A password the URL parser reads whole is no error, but never shown.
    if (message === '') {
      const p = proxyEnv({ HTTPS_PROXY: `http://u:${pw}@127.0.0.1:7620` }).https!;
      expect(proxyRefusal(p, 'h:443', 403, 'Forbidden').message).not.toContain(pw);
      expect(p.url.host).toBe('127.0.0.1:7620');
      return;
    }
    expect(message).toMatch(/HTTPS_PROXY/);
    expect(message).not.toContain(pw);
    expect(message).not.toContain('\n');
  });

  it('a password that is not valid percent-encoding: one line naming the variable, before any request', () => {
    expect(() => proxyEnv({ HTTP_PROXY: 'http://u:50%off@127.0.0.1:7620' })).toThrow(
      /^HTTP_PROXY holds a user name or password that is not valid percent-encoding \(http:\/\/u:\*\*\*@127\.0\.0\.1:7620\): write % as %25$/,
    );
  });

  it('Basic Proxy-Authorization from the URL, percent-decoded', () => {
    expect(proxyAuthorization(new URL('http://op%40s:p%3Aw@proxy'))).toBe(
      `Basic ${Buffer.from('op@s:p:w').toString('base64')}`,
    );
    expect(proxyAuthorization(new URL('http://proxy'))).toBeUndefined();
  });

  it('a 407 names the variable, and how to give credentials when the URL has none', () => {
    const p = proxyEnv({ HTTPS_PROXY: 'http://proxy:3128' }).https!;
    expect(proxyRefusal(p, 'h:443', 407, 'Proxy Authentication Required').message).toBe(
      'the proxy http://proxy:3128 (HTTPS_PROXY) refused the connection to h:443 (HTTP 407 Proxy Authentication Required): give them in HTTPS_PROXY (http://user:password@host:port)',
    );
  });

  it('--debug: the proxy without its password, or NO_PROXY naming the host', () => {
    expect(proxySaid('https://s3.example.com', { HTTPS_PROXY: 'http://ops:pw@proxy:3128' })).toBe(
      'proxy http://ops:***@proxy:3128 (HTTPS_PROXY)',
    );
    expect(
      proxySaid('https://s3.example.com', { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: '.example.com' }),
    ).toBe('no proxy: NO_PROXY names s3.example.com');
    expect(proxySaid('https://s3.example.com', {})).toBeUndefined();
  });
});

describe('proxyOfEndpoint: the proxy messages name for an endpoint', () => {
  it('forwards for http, tunnels for https (AWS when none), none for NO_PROXY or a bad setting', () => {
    const env = {
      HTTP_PROXY: 'http://ops:pw@proxy:3128',
      HTTPS_PROXY: 'https://tls-proxy',
      NO_PROXY: 'minio.local',
    };
    expect(proxyOfEndpoint('http://s3.corp:9000', env)).toEqual({
      shown: 'http://ops:***@proxy:3128 (HTTP_PROXY)',
      forwards: true,
    });
    expect(proxyOfEndpoint(undefined, env)).toEqual({
      shown: 'https://tls-proxy (HTTPS_PROXY)',
      forwards: false,
    });
    expect(proxyOfEndpoint('http://minio.local:9000', env)).toBeUndefined();
    expect(proxyOfEndpoint('http://s3.corp', { HTTP_PROXY: 'http://u:50%off@p' })).toBeUndefined();
  });
});
