import { describe, expect, it } from 'vitest';
import { duplicateKey } from '../../src/cli/config.js';

describe('duplicateKey: a key an object of the config holds twice (JSON.parse keeps the last)', () => {
  it.each<[string, string, string | undefined]>([
    ['none', '{"jobs":[{"command":"push","dryRun":true}]}', undefined],
    ['at the top', '{"jobs":[],"defaults":{},"jobs":[]}', 'jobs'],
    ['in a job', '{"jobs":[{"dryRun":true,"source":"a","dryRun":false}]}', 'dryRun'],
    ['in defaults', '{"defaults":{"delete":false,"delete":true}}', 'delete'],
    ['the same key in two jobs is fine', '{"jobs":[{"source":"a"},{"source":"b"}]}', undefined],
    ['the same key at two levels is fine', '{"source":{"source":1}}', undefined],
    ['strings that look like keys in values', '{"exclude":["a:b","x\\":y"],"include":"c:d"}', undefined],
    ['escaped names are compared decoded', '{"dry\\u0052un":true,"dryRun":false}', 'dryRun'],
    ['a backslash at the end of a string', '{"a":"x\\\\","a":1}', 'a'],
    ['after a byte order mark', '\uFEFF{"a":1,"a":2}', 'a'],
  ])('%s', (_name, text, key) => {
    JSON.parse(text.replace(/^\uFEFF/, ''));
    expect(duplicateKey(text)).toBe(key);
  });
});
