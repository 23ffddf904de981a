/**
 * The CLI builds a command's flags only when Commander dispatches to it or shows help (buildProgram's
 * `lazyFlags`). A lazy program must be indistinguishable from one built whole: the same help for the
 * program and every command, however asked for, the same options parsed, the same errors.
 */
import { type Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { S3SyncError } from '../../src/errors.js';

const COMMANDS = ['push', 'pull', 'sync', 'check', 'plan', 'apply', 'cleanup', 'versions', 'demo'];

/** What the program writes (stdout and stderr together) for `argv`, and the options its command got. */
async function outcome(lazy: boolean, argv: string[]) {
  const program = buildProgram(() => {}, {}, lazy);
  let out = '';
  program.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  // Commander copies its settings to each command as it is created: the capture must reach them too.
  for (const c of program.commands)
    c.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  let opts: Record<string, unknown> | undefined;
  for (const c of program.commands)
    c.action((...args: unknown[]) => {
      opts = (args.at(-1) as Command).opts();
    });
  let code: string | undefined;
  try {
    await program.parseAsync(['node', 's3sync', ...argv]);
  } catch (err) {
    if (err instanceof CommanderError) code = err.code;
    else if (err instanceof S3SyncError) code = err.message;
    else throw err;
  }
  return { out, opts, code, global: program.opts() };
}

/** The same argv given to a lazy program and a whole one must end the same way. */
async function same(argv: string[]) {
  const lazy = await outcome(true, argv);
  const whole = await outcome(false, argv);
  expect(lazy, argv.join(' ')).toEqual(whole);
  return lazy;
}

describe('flags built on demand', () => {
  it('the program help lists every command with [options]', async () => {
    const r = await same(['--help']);
    expect(r.code).toBe('commander.helpDisplayed');
    for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`\\n  ${c} \\[options\\]`));
  });

  it.each(COMMANDS)('%s --help and help %s print the same as a program built whole', async (c) => {
    const flag = await same([c, '--help']);
    expect(flag.out).toMatch(/--/);
    const word = await same(['help', c]);
    expect(word.out).toBe(flag.out);
  });

  it.each([
    ['push', ['./src', 's3://b/p', '--workers', '3', '--delete', '--exclude', '*.log', '--no-incremental']],
    ['pull', ['s3://b/p', './dst', '--max-delete', '10', '--dry-run']],
    ['check', ['./src', 's3://b/p', '--full']],
    ['cleanup', ['s3://b/p', '--older-than', '2d']],
  ])('%s parses the same options', async (c, args) => {
    const r = await same(['--json', c, ...args]);
    expect(r.code, r.out).toBeUndefined();
    expect(r.opts).toBeDefined();
    expect(r.global.json).toBe(true);
  });

  it.each([
    ['an unknown flag, with its suggestion', ['push', './src', 's3://b/p', '--delet']],
    ["another command's flag", ['check', './src', 's3://b/p', '--delete']],
    ['a bad value', ['push', './src', 's3://b/p', '--workers', 'many']],
    ['an unknown command', ['pusj', './src']],
    ['a missing argument', ['push', './src']],
  ])('%s fails the same way', async (_, argv) => {
    const r = await same(argv);
    // Commander's errors are written; a value the table refuses is thrown, for runCli to print.
    expect(r.code).toBeDefined();
    expect(r.out !== '' || !r.code!.startsWith('commander.')).toBe(true);
  });
});
