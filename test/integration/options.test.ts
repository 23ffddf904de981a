/**
 * A run that moved nothing never looks like success: an invalid option value, from a flag, the config
 * file or a library call, is a usage error (exit 2, one line naming the option) raised before a single
 * request; a delete guard's refusal still ends --json output with the summary; and the small edges of
 * the command line (reversed arguments, cleanup's wording, enum flags, check's event type).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { S3SyncError } from '../../src/errors.js';
import {
  apply,
  type CheckEvent,
  type CheckOptions,
  check,
  cleanup,
  type PlanDocument,
  plan,
  pull,
  push,
  syncBuckets,
  versions,
} from '../../src/index.js';
import { PROVIDER_NAMES } from '../../src/s3/providers.js';
import {
  connFor,
  manifestPaths,
  newBucket,
  plainLines,
  type runCli as RunCli,
  runCli,
  seedObject,
  servers,
  trackedDirs,
  writeTree,
} from '../helpers.js';
import { type FaultProxy, startFaultProxy } from '../servers/fault-proxy.js';

const { dir, removeAll } = trackedDirs();
const proxies: FaultProxy[] = [];
afterAll(async () => {
  for (const p of proxies) await p.close();
  removeAll();
});

type Run = Awaited<ReturnType<typeof RunCli>>;

/** Exit 2 with exactly one line on stderr, no stack trace, nothing on stdout. */
function oneUsageLine(r: Run): string {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
  return lines[0]!;
}

describe.each(servers())('invalid option values on $name', (server) => {
  let proxy: FaultProxy;
  let url: string;
  let src: string;
  let conn: ReturnType<typeof connFor> & { endpointUrl: string };
  /** Every run goes through this proxy (no faults): its request count proves nothing was sent. */
  const requests = () => proxy.stats.requests;

  beforeAll(async () => {
    const { bucket } = await newBucket(server, 'opts');
    proxy = await startFaultProxy({ target: server.endpoint, seed: 1, rate: 0 });
    proxies.push(proxy);
    url = `s3://${bucket}/p`;
    src = dir('opts-src');
    writeTree(src, { 'a.txt': 'alpha', 'sub/b.bin': 4096 });
    conn = { ...connFor(server), endpointUrl: proxy.endpoint };
  });

  const flagCases: [string, string[]][] = [
    ['--workers', ['--workers', '0']],
    ['--workers', ['--workers=-1']],
    ['--workers', ['--workers', '1.5']],
    ['--workers', ['--workers', 'four']],
    ['--workers', ['--workers', '1e9']],
    ['--retries', ['--retries', '1.5']],
    ['--min-size', ['--min-size', '1.5']],
    ['--retries', ['--retries', 'x']],
    ['--part-size', ['--part-size', '0']],
    ['--multipart-threshold', ['--multipart-threshold', '1KiB']],
    ['--stall-timeout', ['--stall-timeout', '0']],
    ['--stall-timeout', ['--stall-timeout', '60']],
    ['--connect-timeout', ['--connect-timeout=10']],
    ['--verify-interval', ['--verify-interval', '3600']],
    ['--connect-timeout', ['--connect-timeout', 'never']],
    ['--max-delete', ['--delete', '--max-delete', 'abc']],
    ['--max-delete', ['--delete', '--max-delete', '150%']],
    ['--max-delete', ['--delete', '--max-delete=-1']],
    // Header values: Node refused them on each file, after the run began.
    ['--cache-control', ['--cache-control', 'max-age=1\r\nX-Injected: 1']],
    ['--cache-control', ['--cache-control', 'max-age=日本']],
    ['--storage-class', ['--storage-class', 'STANDARD\u2028']],
    ['--sse-kms-key-id', ['--sse', 'aws:kms', '--sse-kms-key-id', 'key\nid']],
    ['--region', ['--region', 'us\nx']],
  ];

  it.each(flagCases)('push with a bad %s value: exit 2, one line, no request (%j)', async (flag, args) => {
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, ...args], server);
    expect(oneUsageLine(r)).toMatch(new RegExp(`^s3sync: ${flag} must be `));
    expect(requests()).toBe(before);
    expect(manifestPaths(src)).toEqual([]);
  });

  it('a bad value with a backslash is shown escaped once, as every line is (it showed four)', async () => {
    const r = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--max-size', 'C:\\dumps'],
      server,
    );
    expect(oneUsageLine(r)).toMatch(/^s3sync: --max-size must be .*, got "C:\\\\dumps"$/);
  });

  it.each([
    ['pull', (d: string) => ['pull', url, d, '--workers', '0']],
    ['check', (_d: string) => ['check', src, url, '--retries', '-5']],
    ['plan', (d: string) => ['plan', 'pull', url, d, '--out', path.join(d, 'x.json'), '--part-size', 'huge']],
    ['cleanup', (_d: string) => ['cleanup', url, '--older-than', 'soon']],
  ] as const)('%s with a bad value: exit 2, one line, no request, nothing created', async (_cmd, make) => {
    const dst = path.join(dir('opts-dst'), 'not-yet');
    const before = requests();
    const r = await runCli([...make(dst), '--endpoint-url', proxy.endpoint], server);
    expect(oneUsageLine(r)).toMatch(/^s3sync: --[a-z-]+ must be /);
    expect(requests()).toBe(before);
    expect(existsSync(dst)).toBe(false);
  });

  /** A config file in its own directory, found through S3SYNC_CONFIG. */
  function config(content: object): { env: Record<string, string>; file: string } {
    const file = path.join(dir('opts-cfg'), 's3sync.config.json');
    writeFileSync(file, JSON.stringify(content));
    return { env: { S3SYNC_CONFIG: file }, file };
  }

  it.each([
    ['workers', 0],
    ['workers', 'four'],
    ['workers', -1],
    ['workers', 1.5],
    ['retries', 'many'],
    ['multipartThreshold', '1KiB'],
    ['maxDelete', 'lots'],
    ['delete', 'no'],
    ['dryRun', 'yes'],
    ['exclude', 5],
    ['provider', 'nope'],
  ] as const)(
    'config defaults {"%s": %j}: exit 2, one line naming the file and key, no request',
    async (key, value) => {
      const { env, file } = config({ defaults: { [key]: value } });
      const before = requests();
      const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, { env });
      const line = oneUsageLine(r);
      expect(line).toContain(file);
      expect(line).toContain(`"${key}" must be `);
      expect(requests()).toBe(before);
    },
  );

  it('a config key given twice in one object (JSON keeps the last): exit 2 naming it, no request', async () => {
    const file = path.join(dir('opts-cfg-twice'), 's3sync.config.json');
    // The second dryRun would have run the job for real, with nothing said.
    writeFileSync(
      file,
      `{"jobs": [{"command": "push", "source": ${JSON.stringify(src)}, "destination": ${JSON.stringify(url)}, "endpointUrl": ${JSON.stringify(proxy.endpoint)}, "dryRun": true, "dryRun": false}]}`,
    );
    const before = requests();
    const r = await runCli([], server, { env: { S3SYNC_CONFIG: file } });
    expect(oneUsageLine(r)).toBe(
      `s3sync: config file ${file} gives the key "dryRun" twice in one object: JSON would keep only the last, so say it once`,
    );
    expect(requests()).toBe(before);
    expect(manifestPaths(src)).toEqual([]);
  });

  it.each(['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty'])(
    'config defaults with the key "%s" (a name every object has): exit 2, one line, no request',
    async (key) => {
      const file = path.join(dir('opts-cfg-proto'), 's3sync.config.json');
      writeFileSync(file, `{"defaults": {"${key}": 1}}`);
      const before = requests();
      const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, {
        env: { S3SYNC_CONFIG: file },
      });
      expect(oneUsageLine(r)).toContain(file);
      expect(r.stderr).toContain(key);
      expect(requests()).toBe(before);
    },
  );

  // Node sent a Latin-1 value as its bytes while the SDK signed it as UTF-8: every PutObject failed
  // with SignatureDoesNotMatch, after the run began.
  const ASCII = 'write other text as RFC 2047 (=?UTF-8?B?...?=) in metadata';
  it.each([
    [
      '--cache-control',
      ['--cache-control', 'café'],
      '--cache-control must be ASCII, as every header value, got "café" ("é" is not): ',
    ],
    [
      'a metadata rule',
      ['--header-for', '*.txt', 'x-amz-meta-note: café'],
      '--header-for "*.txt": x-amz-meta-note must be ASCII, as every header value, got "café" ("é" is not): ',
    ],
    [
      'a Content-Disposition rule',
      ['--header-for', '*.txt', 'Content-Disposition: attachment; filename="résumé.pdf"'],
      'Content-Disposition must be ASCII, as every header value, got "attachment; filename="résumé.pdf"" ("é" is not): ',
    ],
  ])('a non-ASCII header value from %s: exit 2 naming the header, no request', async (_what, args, text) => {
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, ...args], server);
    expect(r.code, r.stderr).toBe(2);
    expect(oneUsageLine(r)).toContain(`${text}${ASCII}`);
    expect(oneUsageLine(r)).toContain(
      "RFC 5987 (filename*=UTF-8''r%C3%A9sum%C3%A9.pdf) in Content-Disposition",
    );
    expect(requests()).toBe(before);
  });

  it('a non-ASCII header value from a config rule: exit 2 naming the header, no request', async () => {
    const file = path.join(dir('opts-ascii'), 's3sync.config.json');
    writeFileSync(
      file,
      JSON.stringify({ defaults: { headers: [{ match: '*', contentType: 'text/plain; x=ü' }] } }),
    );
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, '--json'], server, {
      env: { S3SYNC_CONFIG: file },
    });
    expect(r.code, r.stderr).toBe(2);
    expect(oneUsageLine(r)).toContain(
      `rule 1: "contentType" must be ASCII, as every header value, got "text/plain; x=ü" ("ü" is not): ${ASCII}`,
    );
    expect(requests()).toBe(before);
  });

  // AWS answered each PUT with such a header 400 BadRequest, one error per file.
  it.each([
    [
      '--header-for',
      ['--header-for', '*.txt', `Cache-Control: ${'a'.repeat(70000)}`],
      '--header-for "*.txt": Cache-Control',
    ],
    ['--cache-control', ['--cache-control', 'a'.repeat(8178)], '--cache-control'],
  ])('a header line over 8 KiB from %s: exit 2, one line, no request', async (_what, args, who) => {
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, '--json', ...args], server);
    expect(oneUsageLine(r)).toMatch(
      new RegExp(
        `^s3sync: ${who.replace(/[*.]/g, '\\$&')} must be at most 8 KiB as a header line \\(Cache-Control: value\\)`,
      ),
    );
    expect(requests()).toBe(before);
  });

  const HEADER_HINT = 'it holds a character an HTTP header cannot carry (a line break, or one not ASCII)';
  it.each([
    ['AWS_REGION', { AWS_REGION: '☃' }, 'AWS_REGION must be a region name, got "☃"'],
    [
      'AWS_REGION with a line break',
      { AWS_REGION: 'us\neast' },
      'AWS_REGION must be a region name, got "us\\neast"',
    ],
    [
      'AWS_DEFAULT_REGION',
      { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'eu\twest\r' },
      'AWS_DEFAULT_REGION must be a region name, got "eu\\twest\\r"',
    ],
    [
      "a profile's region",
      { AWS_REGION: undefined, AWS_PROFILE: 'snow' },
      'the region of AWS profile \'snow\' must be a region name, got "☃"',
    ],
  ] as [string, Record<string, string | undefined>, string][])(
    'a region from %s that no header can carry: exit 2 naming it, no request',
    async (_what, env, text) => {
      const home = dir('opts-region');
      writeFileSync(path.join(home, 'config'), '[profile snow]\nregion = ☃\n');
      writeFileSync(
        path.join(home, 'credentials'),
        `[snow]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
      );
      const before = requests();
      const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, {
        env: {
          AWS_CONFIG_FILE: path.join(home, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
          ...env,
        },
      });
      expect(oneUsageLine(r)).toBe(`s3sync: ${text}: ${HEADER_HINT}`);
      expect(requests()).toBe(before);
      expect(manifestPaths(src)).toEqual([]);
    },
  );

  const LABEL_HINT = 'must be a region name (letters, digits and hyphens, as in us-east-1)';
  it.each([
    ['--region, AWS endpoint', ['--region', 'bad_region'], {}, `--region ${LABEL_HINT}, got "bad_region"`],
    [
      "--region, a provider's template",
      ['--provider', 'wasabi', '--region', 'evil.com/x'],
      {},
      `--region ${LABEL_HINT}, got "evil.com/x"`,
    ],
    [
      'AWS_REGION, AWS endpoint',
      [],
      { AWS_REGION: 'bad region!' },
      `AWS_REGION ${LABEL_HINT}, got "bad region!"`,
    ],
  ] as [string, string[], Record<string, string>, string][])(
    'a region from %s that cannot be in a host name: exit 2 naming it, no request',
    async (_what, args, env, text) => {
      const r = await runCli(['push', src, url, '--dry-run', ...args], server, {
        env: { AWS_ENDPOINT_URL_S3: undefined, AWS_ENDPOINT_URL: undefined, ...env },
      });
      expect(oneUsageLine(r)).toBe(`s3sync: ${text}`);
      expect(r.stdout).toBe('');
    },
  );

  // The SDK refuses such a region for any endpoint ("Region not accepted"): its requests (multipart,
  // copies, batch deletes) would fail file by file, mid-run, while s3sync's direct ones went through.
  it.each([
    ['--region', ['--region', 'eu/west'], {}, `--region ${LABEL_HINT}, got "eu/west"`],
    ['AWS_REGION', [], { AWS_REGION: ' eu west' }, `AWS_REGION ${LABEL_HINT}, got " eu west"`],
    [
      'AWS_DEFAULT_REGION',
      [],
      { AWS_REGION: undefined, AWS_DEFAULT_REGION: 'eu/west' },
      `AWS_DEFAULT_REGION ${LABEL_HINT}, got "eu/west"`,
    ],
    [
      "a profile's region",
      [],
      { AWS_REGION: undefined, AWS_PROFILE: 'slash' },
      `the region of AWS profile 'slash' ${LABEL_HINT}, got "eu/west"`,
    ],
    ['--source-region', ['--source-region', 'a.b'], {}, `--source-region ${LABEL_HINT}, got "a.b"`],
  ] as [string, string[], Record<string, string | undefined>, string][])(
    'a region from %s that cannot be in a host name, custom endpoint: exit 2 naming it, no request',
    async (what, args, env, text) => {
      const home = dir('opts-region-label');
      writeFileSync(path.join(home, 'config'), '[profile slash]\nregion = eu/west\n');
      writeFileSync(
        path.join(home, 'credentials'),
        `[slash]\naws_access_key_id = ${server.accessKeyId}\naws_secret_access_key = ${server.secretAccessKey}\n`,
      );
      const before = requests();
      // --source-region is an S3 → S3 option: a sync between two prefixes of the bucket.
      const pair = what === '--source-region' ? ['sync', url, `${url}-copy`] : ['push', src, url];
      const r = await runCli([...pair, '--endpoint-url', proxy.endpoint, ...args], server, {
        env: {
          AWS_CONFIG_FILE: path.join(home, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
          ...env,
        },
      });
      expect(oneUsageLine(r)).toBe(`s3sync: ${text}`);
      expect(requests()).toBe(before);
      expect(manifestPaths(src)).toEqual([]);
    },
  );

  it("a config job's region that cannot be in a host name stops the config before job 1 runs", async () => {
    const file = path.join(dir('opts-cfg-region'), 's3sync.config.json');
    const job = { command: 'push', source: src, destination: url, endpointUrl: proxy.endpoint };
    writeFileSync(
      file,
      JSON.stringify({
        jobs: [job, { ...job, endpointUrl: undefined, provider: 'aws', region: 'bad region!' }],
      }),
    );
    const before = requests();
    const r = await runCli([], server, {
      env: { S3SYNC_CONFIG: file, AWS_ENDPOINT_URL_S3: undefined },
    });
    expect(oneUsageLine(r)).toContain(`${LABEL_HINT}, got "bad region!"`);
    expect(requests()).toBe(before);
    expect(manifestPaths(src)).toEqual([]);
  });

  it('AWS_PROFILE naming no profile, with keys in the environment: exit 2 naming it, no request', async () => {
    const home = dir('opts-noprofile');
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, {
      env: {
        AWS_PROFILE: 'nope',
        AWS_CONFIG_FILE: path.join(home, 'config'),
        AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
      },
    });
    expect(oneUsageLine(r)).toMatch(/^s3sync: unknown AWS profile 'nope' \(.*named by AWS_PROFILE\)$/);
    expect(requests()).toBe(before);
  });

  it.each([
    [
      'a credential_process that fails (its command line, with a token in it, never printed)',
      (home: string) => {
        const helper = path.join(home, 'helper.sh');
        writeFileSync(helper, '#!/bin/sh\necho "denied" >&2\nexit 1\n', { mode: 0o755 });
        return `credential_process = ${helper} --token S3CR3T-TOKEN\n`;
      },
      /^s3sync: cannot load AWS credentials: the profile's credential_process failed \(run it by hand to see why\)$/,
    ],
    [
      "a role whose source profile does not exist: the SDK's words name it",
      () => 'role_arn = arn:aws:iam::123456789012:role/x\nsource_profile = gone\n',
      /^s3sync: cannot load AWS credentials: .*\[gone\]/,
    ],
  ])('--profile with %s: exit 2, one line that says why, no request', async (_what, body, re) => {
    const home = dir('opts-credsrc');
    writeFileSync(path.join(home, 'config'), `[profile odd]\n${body(home)}`);
    writeFileSync(path.join(src, 'fresh.txt'), `${Date.now()}`);
    const before = requests();
    // With --debug too: the stack it prints must not carry the command line either.
    const r = await runCli(
      ['push', src, url, '--endpoint-url', proxy.endpoint, '--profile', 'odd', '--debug'],
      server,
      {
        env: {
          AWS_CONFIG_FILE: path.join(home, 'config'),
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'credentials'),
          // --debug would name it on a line of its own.
          AWS_CA_BUNDLE: undefined,
        },
      },
    );
    // Found at the first request: the run stops there, its summary marked, the reason one line (after
    // --debug's line on the connection, which names the profile and never the command).
    expect(r.code, r.stderr).toBe(2);
    const [said, ...rest] = plainLines(r.stderr);
    expect(said).toMatch(/^notice: connection: .*credentials from AWS profile 'odd' \(--profile\)$/);
    expect(rest[0]).toMatch(re);
    expect(r.stdout).toMatch(/^\[stopped\] /);
    // The summary counts what was sent: nothing, as the credentials were never there to sign with.
    expect(r.stdout).toMatch(/ 0 S3 requests\b/);
    expect(r.stdout + r.stderr).not.toContain('S3CR3T');
    expect(requests()).toBe(before);
  });

  it('S3SYNC_CONFIG naming no file: exit 2, one line, no request (a typo is not "no config")', async () => {
    const missing = path.join(dir('opts-cfg-missing'), 'reall.json');
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint], server, {
      env: { S3SYNC_CONFIG: missing },
    });
    expect(oneUsageLine(r)).toBe(`s3sync: S3SYNC_CONFIG names ${missing}, which does not exist`);
    expect(requests()).toBe(before);
  });

  it.each([
    ['empty', () => '', /^s3sync: --out must not be empty: --out has no default/],
    ['a directory', (d: string) => d, /is a directory/],
    ['in a folder that does not exist', (d: string) => path.join(d, 'no', 'p.json'), /does not exist/],
  ])('plan --out %s: exit 2, one line, no request, nothing written', async (_what, out, re) => {
    const d = dir('opts-out');
    const before = requests();
    const r = await runCli(
      ['plan', 'push', src, url, '--endpoint-url', proxy.endpoint, '--out', out(d)],
      server,
    );
    expect(oneUsageLine(r)).toMatch(re);
    expect(requests()).toBe(before);
    expect(readdirSync(d)).toEqual([]);
  });

  it.each([
    [
      ['--storage-class', ''],
      /^s3sync: --storage-class must not be empty: leave the option out for its default$/,
    ],
    [['--region', ' '], /^s3sync: --region must not be empty/],
    [['--cache-control', ''], /^s3sync: --cache-control must not be empty/],
    [['--profile', ''], /^s3sync: --profile must not be empty: leave the option out for its default$/],
    [['--suffix', '.bak'], /^s3sync: suffix \(--suffix\) applies only with backupDir \(--backup-dir\)$/],
    [['--sse-kms-key-id', 'k1'], /^s3sync: sseKmsKeyId \(--sse-kms-key-id\) applies only with sse/],
    [['--sse', 'AES256', '--sse-kms-key-id', 'k1'], /applies only with sse \(--sse\) aws:kms/],
    [
      ['--max-age', '2099-01-01'],
      /^s3sync: maxAge \(--max-age\) 2099-01-01T00:00:00.000Z is after the run's start/,
    ],
  ])('push %j: exit 2, one line, no request (it failed every file, or did nothing)', async (flags, re) => {
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, ...flags], server);
    expect(oneUsageLine(r)).toMatch(re);
    expect(requests()).toBe(before);
  });

  it('an extra word after a command is refused, never dropped: a glob the shell expanded (exit 2, no request)', async () => {
    const d = dir('opts-extra');
    writeFileSync(path.join(d, 'plan.json'), '{}');
    const runs: [string, string[]][] = [
      // What `--exclude *.log` becomes in a folder holding a.log and b.log: b.log would be uploaded.
      ['push', ['push', src, url, '--exclude', 'a.log', 'b.log']],
      ['pull', ['pull', url, d, 'extra']],
      ['check', ['check', src, url, 'extra']],
      ['plan', ['plan', 'push', src, url, 'extra', '--out', path.join(d, 'p.json')]],
      ['apply', ['apply', path.join(d, 'plan.json'), path.join(d, 'plan.json')]],
      ['sync', ['sync', url, `${url}-b`, `${url}-c`]],
      ['cleanup', ['cleanup', url, 'extra']],
      ['versions', ['versions', url, 'extra']],
    ];
    for (const [command, args] of runs) {
      const before = requests();
      const r = await runCli([...args, '--endpoint-url', proxy.endpoint], server);
      expect(oneUsageLine(r), command).toMatch(
        new RegExp(`^s3sync: too many arguments for '${command}'\\. `),
      );
      expect(r.stderr).toContain("quote a glob so the shell does not expand it (--exclude '*.log')");
      expect(requests(), command).toBe(before);
    }
    expect(readdirSync(d).sort()).toEqual(['plan.json']);
  });

  it.each([
    [
      ['push', '<src>', '<url>', '--delte'],
      "unknown option '--delte' (did you mean --delete?); see s3sync push --help",
    ],
    [['pusj', '<src>'], "unknown command 'pusj' (did you mean push?); see s3sync --help"],
    [['help', 'pusj'], "unknown command 'pusj' (did you mean push?); see s3sync --help"],
    [['help', 'nosuch'], "unknown command 'nosuch'; see s3sync --help"],
    [['help', '--bogus'], "unknown option '--bogus'; see s3sync --help"],
    ...[['watch'], ['watch', '--help'], ['watch', '-h'], ['help', 'watch']].map(
      (args): [string[], string] => [
        args,
        "unknown command 'watch': a watch is push --watch (s3sync push DIR s3://BUCKET/PREFIX --watch); see s3sync push --help",
      ],
    ),
    [
      ['demo', 'extra'],
      "too many arguments for 'demo'. Expected 0 arguments but got 1; see s3sync demo --help",
    ],
    [['pull', '<url>'], "missing required argument 'destination'; see s3sync pull --help"],
    [
      ['check', '<src>', '<url>', '--workers'],
      "option '--workers <n>' argument missing; see s3sync check --help",
    ],
    [
      ['plan', 'push', '<src>', '<url>', '--bwlimit', '1M'],
      '--bwlimit does not apply to plan; see s3sync plan --help',
    ],
    [
      ['check', '<src>', '<url>', '--no-delete'],
      '--no-delete does not apply to check; see s3sync check --help',
    ],
    [['--bogus'], "unknown option '--bogus'; see s3sync --help"],
    [
      ['--delete', 'push', '<src>', '<url>'],
      "--delete is a command's flag: give it after the command (s3sync push DIR URL --delete)",
    ],
  ])(
    'a mistyped command line %j: one line with the suggestion and its help, exit 2, no request',
    async (args, line) => {
      const before = requests();
      const given = args.map((a) => (a === '<src>' ? src : a === '<url>' ? url : a));
      // The endpoint as a global flag: a flag left without its value must stay the last word.
      const r = await runCli(['--endpoint-url', proxy.endpoint, ...given], server);
      expect(oneUsageLine(r)).toBe(`s3sync: ${line}`);
      expect(requests()).toBe(before);
    },
  );

  it('help with a global flag after it prints the help as with the flag before it: exit 0, stdout', async () => {
    const before = requests();
    const plain = await runCli(['--json', 'help'], server);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^Usage: s3sync /);
    for (const args of [
      ['help', '--json'],
      ['help', '-q'],
      ['help', '--endpoint-url', proxy.endpoint],
    ]) {
      const r = await runCli(args, server);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.stdout, args.join(' ')).toBe(plain.stdout);
    }
    // Its flags moved, a command's help is that command's.
    const push = await runCli(['help', '--json', 'push'], server);
    expect(push.code).toBe(0);
    expect(push.stdout).toMatch(/^Usage: s3sync push /);
    expect(requests()).toBe(before);
  });

  it('--json with --quiet is refused, not one silently chosen (exit 2, one line, no request)', async () => {
    const d = dir('opts-json-quiet');
    const cfg = path.join(d, 's3sync.config.json');
    writeFileSync(
      cfg,
      JSON.stringify({ jobs: [{ command: 'push', source: src, destination: url, quiet: true, json: true }] }),
    );
    const runs: [string, string[], NodeJS.ProcessEnv?][] = [
      ['push', ['push', src, url, '--json', '--quiet']],
      ['pull', ['pull', url, path.join(d, 'to'), '-q', '--json']],
      ['check', ['check', src, url, '--json', '-q']],
      ['cleanup', ['cleanup', url, '--quiet', '--json']],
      ['a config job', [], { S3SYNC_CONFIG: cfg }],
    ];
    for (const [name, args, env] of runs) {
      const before = requests();
      const r = await runCli([...args, '--endpoint-url', proxy.endpoint], server, env ? { env } : {});
      expect(r.stderr, name).toBe(
        's3sync: give --json or --quiet, not both: --json prints every event, --quiet only errors\n',
      );
      expect(r.code, name).toBe(2);
      expect(r.stdout, name).toBe('');
      expect(requests(), name).toBe(before);
    }
    expect(readdirSync(d)).toEqual(['s3sync.config.json']);
  });

  it.each([
    ['--compress', '*.html'],
    ['--header-for', '*.html', 'Cache-Control: no-cache'],
    ['--cache-control', 'max-age=9'],
    ['--storage-class', 'STANDARD_IA'],
    ['--acl', 'private'],
    ['--sse', 'AES256'],
  ])('plan push %s (which apply could not carry out): exit 2, no request, no plan', async (...flag) => {
    const d = dir('opts-unplanned');
    const out = path.join(d, 'p.json');
    const before = requests();
    const r = await runCli(
      ['plan', 'push', src, url, '--endpoint-url', proxy.endpoint, ...flag, '--out', out],
      server,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`s3sync: ${flag[0]} does not apply to plan; see s3sync plan --help\n`);
    expect(requests()).toBe(before);
    expect(readdirSync(d)).toEqual([]);
  });

  it('plan push with config defaults a plan cannot carry: a warning naming them, the plan written', async () => {
    const { env, file } = config({
      defaults: { compress: '*.html', storageClass: 'STANDARD_IA', workers: 2 },
    });
    const d = dir('opts-unplanned-cfg');
    const out = path.join(d, 'p.json');
    const r = await runCli(
      ['plan', 'push', src, url, '--endpoint-url', proxy.endpoint, '--out', out],
      server,
      {
        env,
      },
    );
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([
      `warning: the config file's defaults set "compress", "storageClass", which plans do not carry: apply uploads without them (push applies them; push --dry-run previews it)`,
      // What the plan does take from the file, said as any command says it.
      `notice: using defaults from ${file}: --workers 2`,
    ]);
    expect(readdirSync(d)).toEqual(['p.json']);
    // Defaults a plan carries, or none: no warning.
    const quiet = config({ defaults: { workers: 2, exclude: '*.tmp' } });
    const q = await runCli(
      ['plan', 'push', src, url, '--endpoint-url', proxy.endpoint, '--out', out],
      server,
      {
        env: quiet.env,
      },
    );
    expect(q.code).toBe(0);
    expect(q.stderr).toBe(`notice: using defaults from ${quiet.file}: --workers 2, --exclude *.tmp\n`);
  });

  it('a config job with "workers": 0 (bare s3sync): exit 2 before any job runs', async () => {
    const { env, file } = config({
      jobs: [
        { command: 'push', source: src, destination: url, endpointUrl: proxy.endpoint },
        { command: 'push', source: src, destination: url, endpointUrl: proxy.endpoint, workers: 0 },
      ],
    });
    const before = requests();
    const r = await runCli([], server, { env });
    const line = oneUsageLine(r);
    expect(line).toContain(`${file}: job 2: "workers" must be a whole number from 1 to 1024, got 0`);
    expect(requests()).toBe(before);
  });

  it('config values written as the flags take them work: "workers": "2", "multipartThreshold": "64MiB"', async () => {
    const { env } = config({ defaults: { workers: '2', multipartThreshold: '64MiB', exclude: 'sub/**' } });
    const fresh = dir('opts-fresh');
    writeTree(fresh, { 'a.txt': 'alpha', 'sub/b.bin': 4096 });
    const r = await runCli(
      ['push', fresh, url, '--endpoint-url', proxy.endpoint, '--json', '--dry-run'],
      server,
      {
        env,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.type === 'action').map((e) => (e as { rel: string }).rel)).toEqual([
      'a.txt',
    ]);
  });

  /** The library throws an S3SyncError with exit code 2 naming the option, and sends nothing. */
  async function rejects(p: Promise<unknown>, option: string) {
    const before = requests();
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect((err as Error).message).toMatch(new RegExp(`^option ${option} must be `));
    expect(requests()).toBe(before);
  }

  it('library push, pull, check, plan, apply and cleanup refuse bad values before any request', async () => {
    const dst = path.join(dir('opts-lib'), 'dst');
    await rejects(push({ ...conn, source: src, destination: url, workers: 0 }), 'workers');
    await rejects(push({ ...conn, source: src, destination: url, workers: 'four' as never }), 'workers');
    await rejects(
      push({ ...conn, source: src, destination: url, delete: true, maxDelete: '150%' }),
      'maxDelete',
    );
    await rejects(push({ ...conn, source: src, destination: url, partSize: 0 }), 'partSize');
    await rejects(pull({ ...conn, source: url, destination: dst, retries: -1 }), 'retries');
    await rejects(pull({ ...conn, source: url, destination: dst, delete: 'false' as never }), 'delete');
    await rejects(check({ ...conn, local: src, remote: url, stallTimeoutMs: 0 }), 'stallTimeoutMs');
    await rejects(check({ ...conn, local: src, remote: url, provider: 'nope' }), 'provider');
    await rejects(
      plan({ ...conn, direction: 'push', source: src, destination: url, workers: 1e9 }),
      'workers',
    );
    await rejects(
      plan({ ...conn, direction: 'pull', source: url, destination: dst, multipartThreshold: -1 }),
      'multipartThreshold',
    );
    const doc: PlanDocument = {
      s3syncPlan: 1,
      direction: 'push',
      createdAt: new Date().toISOString(),
      local: src,
      remote: url,
      actions: [],
    };
    await rejects(apply({ ...conn, plan: doc, workers: -3 }), 'workers');
    await rejects(apply({ ...conn, plan: doc, connectTimeoutMs: Number.NaN }), 'connectTimeoutMs');
    await rejects(cleanup({ ...conn, target: url, olderThanMs: -1 }), 'olderThanMs');
    await rejects(cleanup({ ...conn, target: url, checksums: 'always' as never }), 'checksums');
    expect(existsSync(dst)).toBe(false);
    expect(manifestPaths(src)).toEqual([]);
  });

  it('library calls refuse a mistyped or misplaced option, with a suggestion, before any request', async () => {
    const cases: [Promise<unknown>, RegExp][] = [
      [
        push({ ...conn, source: src, destination: url, dryrun: true } as never),
        /^unknown option "dryrun" \(did you mean dryRun\?\)$/,
      ],
      [
        pull({ ...conn, source: url, destination: path.join(dir('opts-typo'), 'd'), delte: true } as never),
        /^unknown option "delte" \(did you mean delete\?\)$/,
      ],
      [
        check({ ...conn, local: src, remote: url, verify: true } as never),
        /^option verify does not apply to check \(only to push\)$/,
      ],
      [
        cleanup({ ...conn, target: url, olderThanMs: 1000, olderThan: '1s' }),
        /^give option olderThan or its former name olderThanMs, not both$/,
      ],
      [
        push({ ...conn, source: src, destination: url, json: true } as never),
        /^option json is a CLI flag \(--json\)/,
      ],
    ];
    for (const [p, re] of cases) {
      const before = requests();
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(S3SyncError);
      expect((err as S3SyncError).kind).toBe('usage');
      expect((err as Error).message).toMatch(re);
      expect(requests()).toBe(before);
    }
    // No options object at all: one line naming the call, not a TypeError from inside it.
    const calls = { push, pull, check, plan, apply, cleanup, syncBuckets, versions } as Record<
      string,
      (o: unknown) => Promise<unknown>
    >;
    for (const [name, call] of Object.entries(calls))
      for (const [v, seen] of [
        [undefined, 'undefined'],
        [null, 'null'],
        [src, JSON.stringify(src).slice(0, 57)],
        [[], '[]'],
      ] as const) {
        const err = await call(v).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err, `${name}(${String(v)})`).toBeInstanceOf(S3SyncError);
        expect((err as S3SyncError).kind).toBe('usage');
        expect((err as Error).message.startsWith(`${name}() takes an options object, got ${seen}`)).toBe(
          true,
        );
      }
    expect(manifestPaths(src)).toEqual([]);
  });

  it('library calls take sizes and durations as the flags write them', async () => {
    const fresh = dir('opts-lib-text');
    writeTree(fresh, { 'a.txt': 'alpha' });
    const r = await push({
      ...conn,
      source: fresh,
      destination: `${url}-text`,
      partSize: '8MiB',
      multipartThreshold: '64MiB',
      stallTimeout: '30s',
      connectTimeout: '5s',
      verifyInterval: '1h',
    });
    expect(r).toMatchObject({ uploaded: 1, outcome: 'ok' });
  });

  it.each([
    ['--provider', ['--provider', 'nope'], PROVIDER_NAMES],
    ['--checksums', ['--checksums', 'always'], ['when_supported', 'when_required']],
    ['--sse', ['--sse', 'aes'], ['AES256', 'aws:kms', 'aws:kms:dsse']],
    ['--acl', ['--acl', 'public'], ['private', 'public-read', 'bucket-owner-full-control']],
  ] as const)('a bad %s value lists the valid ones (exit 2, no request)', async (_flag, args, valid) => {
    const before = requests();
    const r = await runCli(['push', src, url, '--endpoint-url', proxy.endpoint, ...args], server);
    expect(r.code).toBe(2);
    for (const v of valid) expect(r.stderr).toContain(v);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(requests()).toBe(before);
  });
  it('enum values in any case, as flags and in the config file, then their canonical spelling', async () => {
    const flags = ['--checksums', 'WHEN_REQUIRED', '--acl', 'PRIVATE', '--provider', 'Other'];
    const r = await runCli(['push', src, `${url}-case`, '--endpoint-url', proxy.endpoint, ...flags], server);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ [1-9]\d* uploaded/);
    // The notice names the values as the run uses them.
    const { env, file } = config({ defaults: { checksums: 'When_Required', acl: 'PRIVATE' } });
    const c = await runCli(['push', src, `${url}-case2`, '--endpoint-url', proxy.endpoint], server, { env });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toBe(`notice: using defaults from ${file}: --checksums when_required, --acl private\n`);
  });
});

describe.each(servers())('a delete guard refusal on $name', (server) => {
  /** The last line of stdout, parsed: with --json it must be the summary object. */
  const lastJson = (stdout: string) =>
    JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

  async function remoteWith(n: number, label: string) {
    const { bucket, transport } = await newBucket(server, label);
    for (let i = 0; i < n; i++) await seedObject(transport, `p/old${i}.txt`, `old ${i}`);
    return `s3://${bucket}/p`;
  }

  it.each([
    [
      'over --max-delete 1',
      ['--max-delete', '1'],
      /refusing to delete 4 of 4 file\(s\): over --max-delete 1/,
    ],
    ['over --max-delete 50%', ['--max-delete', '50%'], /refusing to delete 4 of 4 file\(s\)/],
    ['over the default 50%', [], /refusing to delete 4 of 4 file\(s\)/],
  ] as const)(
    'push --delete --json %s: exit 2, and the last line is the summary',
    async (_name, flags, re) => {
      const url = await remoteWith(4, 'guard');
      const src = dir('guard-src');
      writeTree(src, { 'new.txt': 'new' });
      const r = await runCli(['push', src, url, '--delete', '--json', ...flags], server);
      expect(r.code).toBe(2);
      expect(plainLines(r.stderr)).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      const last = lastJson(r.stdout);
      expect(last).toMatchObject({ type: 'summary', command: 'push', uploaded: 1, deleted: 0, exitCode: 2 });
      // The summary says what stopped the run, in the words of the last line.
      expect(`s3sync: ${String(last.stoppedBy)}`).toBe(plainLines(r.stderr)[0]);
    },
  );

  it('push --delete --json of an empty source: exit 2, and the last line is the summary', async () => {
    const url = await remoteWith(2, 'guardempty');
    const src = dir('guard-empty');
    const r = await runCli(['push', src, url, '--delete', '--json'], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to delete all 2 file\(s\): the source is empty/);
    expect(lastJson(r.stdout)).toMatchObject({ type: 'summary', uploaded: 0, deleted: 0, exitCode: 2 });
  });

  it('pull --delete --json over --max-delete: exit 2, the summary last, no local file deleted', async () => {
    const url = await remoteWith(1, 'guardpull');
    const dst = dir('guard-dst');
    writeTree(dst, { 'x1.txt': '1', 'x2.txt': '2', 'x3.txt': '3' });
    const r = await runCli(['pull', url, dst, '--delete', '--max-delete', '1', '--json'], server);
    expect(r.code).toBe(2);
    expect(lastJson(r.stdout)).toMatchObject({
      type: 'summary',
      command: 'pull',
      downloaded: 1,
      exitCode: 2,
    });
    expect(
      readdirSync(dst)
        .filter((n) => n !== '.s3sync')
        .sort(),
    ).toEqual(['old0.txt', 'x1.txt', 'x2.txt', 'x3.txt']);
  });

  it('pull --delete of a prefix holding only a folder marker is refused as empty: dry run, plan, run', async () => {
    const { bucket, transport } = await newBucket(server, 'guardmarker');
    // What a console's "Create folder" leaves: an empty object whose key ends in '/'.
    await seedObject(transport, 'p/dir/', '');
    const url = `s3://${bucket}/p`;
    const dst = dir('guard-marker');
    const files = { 'f1.txt': '1', 'f2.txt': '2', 'f3.txt': '3', 'f4.txt': '4' };
    writeTree(dst, files);
    const flags = ['--delete', '--max-delete', '100'];
    const out = path.join(dir('guard-marker-plan'), 'plan.json');
    for (const args of [
      ['pull', url, dst, ...flags, '--dry-run'],
      ['plan', 'pull', url, dst, ...flags, '--out', out],
      ['pull', url, dst, ...flags],
    ]) {
      const r = await runCli(args, server);
      expect(r.code, args.join(' ')).toBe(2);
      // As for an empty prefix: the notice that there is nothing to pull, then the refusal.
      expect(plainLines(r.stderr)).toEqual([
        `notice: nothing to pull: only folder markers under s3://${bucket}/p/`,
        expect.stringMatching(/^s3sync: refusing to delete all 4 file\(s\): the source is empty/),
      ]);
    }
    expect(existsSync(out)).toBe(false);
    for (const rel of Object.keys(files)) expect(existsSync(path.join(dst, rel))).toBe(true);
    // Without --delete: nothing to pull, and said so, as for an empty prefix.
    const plain = await runCli(['pull', url, dst, '--json'], server);
    expect(plain.code, plain.stderr).toBe(0);
    expect(
      plain.events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message),
    ).toContain(`nothing to pull: only folder markers under s3://${bucket}/p/`);
  });

  it('without --json the summary is printed too, then the refusal on stderr', async () => {
    const url = await remoteWith(3, 'guardhuman');
    const src = dir('guard-human');
    writeTree(src, { 'new.txt': 'new' });
    const r = await runCli(['push', src, url, '--delete', '--max-delete', '0'], server);
    expect(r.code).toBe(2);
    // Marked: "0 failed" of a run that stopped must not read as a clean result.
    expect(r.stdout).toMatch(
      /^\[stopped\] 1 files: 0 unchanged, 1 uploaded, 0 recorded, 0 deleted, 0 failed\n/,
    );
    expect(plainLines(r.stderr)).toEqual([expect.stringMatching(/^s3sync: refusing to delete 3 of 3/)]);
  });

  it('a run stopped by a missing bucket: the summary is marked stopped and names why; a finished one is not', async () => {
    const src = dir('stopped-src');
    writeTree(src, { 'a.txt': 'a' });
    const url = `s3://no-such-bucket-${Date.now()}/p`;
    const human = await runCli(['push', src, url], server);
    expect(human.code).toBe(2);
    expect(human.stdout).toMatch(/^\[stopped\] 1 files: 0 unchanged, 0 uploaded, /);
    expect(plainLines(human.stderr)).toEqual([
      expect.stringMatching(/^s3sync: bucket 'no-such-bucket-\d+' does not exist/),
    ]);
    const json = await runCli(['push', src, url, '--json'], server);
    expect(json.code).toBe(2);
    expect(lastJson(json.stdout)).toMatchObject({
      type: 'summary',
      stoppedBy: plainLines(json.stderr)[0]!.replace(/^s3sync: /, ''),
      exitCode: 2,
    });
    const { bucket } = await newBucket(server, 'stopped');
    const ok = await runCli(['push', src, `s3://${bucket}/p`, '--json'], server);
    expect(ok.code).toBe(0);
    expect(lastJson(ok.stdout)).not.toHaveProperty('stoppedBy');
    const again = await runCli(['push', src, `s3://${bucket}/p`], server);
    expect(again.stdout).toMatch(/^1 files: 1 unchanged/);
    // S3 → S3 from a missing bucket: the same mark.
    const copy = await runCli(['sync', url, `s3://${bucket}/copy`], server);
    expect(copy.code).toBe(2);
    expect(copy.stdout).toMatch(/^\[stopped\] 0 objects: /);
  });

  it('a pull that wrote nothing leaves no folder it made; a folder already there, or a pull that wrote, keeps it', async () => {
    const top = dir('pullgone');
    const url = `s3://no-such-bucket-${Date.now()}/p`;
    const fresh = path.join(top, 'new', 'deeper');
    const r = await runCli(['pull', url, fresh], server);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not exist/);
    expect(existsSync(path.join(top, 'new'))).toBe(false);
    const there = path.join(top, 'there');
    mkdirSync(there);
    expect((await runCli(['pull', url, there], server)).code).toBe(2);
    expect(readdirSync(there)).toEqual([]);
    // Its state folder, already there and empty, is not the run's to remove either.
    mkdirSync(path.join(there, '.s3sync'));
    expect((await runCli(['pull', url, there], server)).code).toBe(2);
    expect(readdirSync(there)).toEqual(['.s3sync']);
    const { bucket, transport } = await newBucket(server, 'pullgone');
    await seedObject(transport, 'p/a.txt', 'a');
    const made = path.join(top, 'made', 'here');
    expect((await runCli(['pull', `s3://${bucket}/p`, made], server)).code).toBe(0);
    expect(readFileSync(path.join(made, 'a.txt'), 'utf8')).toBe('a');
    // An empty prefix pulled for real: the folder and its manifest stay (the next run starts from it).
    const empty = path.join(top, 'empty');
    expect((await runCli(['pull', `s3://${bucket}/none`, empty], server)).code).toBe(0);
    expect(readdirSync(empty)).toEqual(['.s3sync']);
  });

  it('the library: onEvent gets the summary (outcome usage), then the call throws', async () => {
    const url = await remoteWith(2, 'guardlib');
    const src = dir('guard-lib');
    writeTree(src, { 'new.txt': 'new' });
    const events: { type: string; outcome?: string }[] = [];
    const err = await push({
      ...connFor(server),
      source: src,
      destination: url,
      delete: true,
      maxDelete: 1,
      onEvent: (e) => events.push(e),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3SyncError);
    expect((err as S3SyncError).kind).toBe('usage');
    expect(events.at(-1)).toMatchObject({
      type: 'summary',
      uploaded: 1,
      stoppedBy: (err as S3SyncError).message,
      outcome: 'usage',
    });
  });
});

describe('arguments in the wrong order', () => {
  it.each([
    ['pull LOCAL s3://… (reversed)', (l: string) => ['pull', l, 's3://bucket/prefix'], /reversed/],
    ['pull ./LOCAL s3://…', (l: string) => ['pull', `./${l}`, 's3://bucket/prefix/'], /reversed/],
    ['pull s3://… s3://…', (_l: string) => ['pull', 's3://bucket/a', 's3://bucket/b'], /both .* are S3 URLs/],
    [
      'plan pull LOCAL s3://…',
      (l: string) => ['plan', 'pull', l, 's3://bucket/p', '--out', 'p.json'],
      /reversed/,
    ],
    ['push s3://… LOCAL', (l: string) => ['push', 's3://bucket/prefix', l], /reversed/],
    ['check s3://… LOCAL', (l: string) => ['check', 's3://bucket/prefix', l], /reversed/],
  ] as const)('%s: exit 2 in one line, and nothing is created', async (_name, make, re) => {
    const cwd = dir('order');
    mkdirSync(path.join(cwd, 'restore'));
    const r = await runCli([...make('restore')], undefined, { cwd });
    expect(oneUsageLine(r)).toMatch(re);
    expect(readdirSync(cwd)).toEqual(['restore']);
    expect(readdirSync(path.join(cwd, 'restore'))).toEqual([]);
  });
});

describe('a pull destination that cannot be a directory', () => {
  it.each([
    ['a regular file', 'file.txt', /destination 'file\.txt' exists and is not a directory/],
    [
      'below a regular file',
      'file.txt/sub',
      /cannot create destination directory 'file\.txt\/sub' \(ENOTDIR\)/,
    ],
  ] as const)('%s: exit 2 in one line, the file untouched', async (_name, dest, re) => {
    const cwd = dir('pull-dest');
    writeFileSync(path.join(cwd, 'file.txt'), 'mine');
    const r = await runCli(['pull', 's3://bucket/prefix', dest], undefined, { cwd });
    expect(oneUsageLine(r)).toMatch(re);
    expect(readdirSync(cwd)).toEqual(['file.txt']);
    expect(readFileSync(path.join(cwd, 'file.txt'), 'utf8')).toBe('mine');
  });
});

describe.each(servers())('cleanup on $name', (server) => {
  // s3rver cannot list multipart uploads (crash.test.ts checks its one-line error).
  it.skipIf(!server.quirks.hasListParts)('says "aborted", never "deleted"', async () => {
    const { bucket, transport } = await newBucket(server, 'wording');
    const keys = ['w/a.bin', 'w/sub/b.bin'];
    for (const key of keys)
      await transport.createMultipart({ key, contentType: 'application/octet-stream', metadata: {} });
    const target = `s3://${bucket}/w`;
    const dry = await runCli(['cleanup', target, '--older-than', '0s', '--dry-run'], server);
    expect(dry.code, dry.stderr).toBe(0);
    for (const k of keys)
      expect(dry.stdout).toMatch(new RegExp(`^\\(dry run\\) abort ${k} \\[stale multipart upload`, 'm'));
    expect(dry.stdout).not.toMatch(/delete/i);
    const real = await runCli(['cleanup', target, '--older-than', '0s'], server);
    expect(real.code, real.stderr).toBe(0);
    for (const k of keys)
      expect(real.stdout).toMatch(new RegExp(`^aborted stale multipart upload ${k} \\(upload `, 'm'));
    expect(real.stdout).toMatch(/2 stale multipart upload\(s\), 2 aborted, 0 failed/);
    expect(real.stdout).not.toMatch(/delete/i);
    await transport.createMultipart({
      key: 'w/c.bin',
      contentType: 'application/octet-stream',
      metadata: {},
    });
    const json = await runCli(['cleanup', target, '--older-than', '0s', '--json'], server);
    expect(json.events.filter((e) => e.type === 'done')).toEqual([
      expect.objectContaining({ action: 'abort', rel: 'w/c.bin' }),
    ]);
  });
});

describe.each(servers())('check() events on $name', (server) => {
  it("onEvent is typed with check's own events: differences and the check summary", async () => {
    expectTypeOf<Parameters<NonNullable<CheckOptions['onEvent']>>[0]>().toEqualTypeOf<CheckEvent>();
    const { bucket, transport } = await newBucket(server, 'chkev');
    await seedObject(transport, 'p/remote-only.txt', 'r');
    const local = dir('chkev');
    writeTree(local, { 'local-only.txt': 'l' });
    const statuses: string[] = [];
    const summaries: string[] = [];
    const r = await check({
      ...connFor(server),
      local,
      remote: `s3://${bucket}/p`,
      // No cast: 'difference' and 'check-summary' are members of the parameter's type.
      onEvent: (e) => {
        if (e.type === 'difference') statuses.push(e.status);
        if (e.type === 'check-summary') summaries.push(e.outcome);
      },
    });
    expect(statuses.sort()).toEqual(['only-local', 'only-remote']);
    expect(summaries).toEqual(['differ']);
    expect(r.outcome).toBe('differ');
  });
});
