/**
 * `s3sync help NAME` for a name that is no command: the word `help` is dropped, so Commander's
 * unknown-command error (with its suggestion) speaks instead of the whole help. Global flags before it,
 * and their values, are stepped over as Commander reads them.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { helpTopicUnknown } from '../../src/cli/program.js';

const program = new Command('s3sync')
  .option('--req <v>', 'takes a value')
  .option('--opt [v]', 'may take a value')
  .option('--flag', 'takes none');
program.command('push').alias('up');

describe('helpTopicUnknown', () => {
  it.each<[string, string[], string[]]>([
    ['an unknown name', ['help', 'pusj'], ['pusj']],
    ['after a flag and its value', ['--req', 'x', 'help', 'pusj'], ['--req', 'x', 'pusj']],
    ['after a flag of no value', ['--flag', 'help', 'nosuch'], ['--flag', 'nosuch']],
    [
      'after an optional value followed by a flag',
      ['--opt', '--flag', 'help', 'x'],
      ['--opt', '--flag', 'x'],
    ],
    [
      'with flags between help and the name',
      ['help', '--req', 'v', '--flag', 'x'],
      ['--req', 'v', '--flag', 'x'],
    ],
    ['after --', ['--', 'help', 'x'], ['--', 'x']],
    ['with a flag between help and the name', ['help', '--flag', 'x'], ['--flag', 'x']],
    ['with -- between help and the name', ['help', '--', 'x'], ['--', 'x']],
  ])('drops help before %s', (_what, args, expected) => {
    expect(helpTopicUnknown(program, args)).toEqual(expected);
  });

  it.each<[string, string[], string[]]>([
    ['a flag', ['help', '--flag'], ['--flag', 'help']],
    ['a flag and its value', ['help', '--req', 'v'], ['--req', 'v', 'help']],
    ['flags before a command', ['help', '--flag', 'push'], ['--flag', 'help', 'push']],
    ['after a flag before help', ['--flag', 'help', '--req', 'v'], ['--flag', '--req', 'v', 'help']],
  ])('takes %s after help as given before it', (_what, args, expected) => {
    expect(helpTopicUnknown(program, args)).toEqual(expected);
  });

  it.each<[string, string[], string[]]>([
    ['--help', ['watch', '--help'], ['watch']],
    ['-h, after a flag', ['--flag', 'watch', '-h'], ['--flag', 'watch']],
    ['--help, not after --', ['watch', '--', '--help'], ['watch', '--', '--help']],
  ])('a name that is no command meets its error, whatever %s', (_what, args, expected) => {
    expect(helpTopicUnknown(program, args)).toEqual(expected);
  });

  it.each<[string, string[]]>([
    ['a command', ['help', 'push']],
    ['an alias', ['help', 'up']],
    ['help itself', ['help', 'help']],
    ['no name', ['help']],
    ['help as the value of a flag', ['--req', 'help', 'pusj']],
    ['help as an optional value', ['--opt', 'help', 'pusj']],
    ['help as a command argument', ['push', 'help', 'x']],
    ['-- then a command', ['help', '--', 'push']],
    ['help as the name after --', ['--', 'help', 'help']],
  ])('leaves %s as it is', (_what, args) => {
    expect(helpTopicUnknown(program, args)).toEqual(args);
  });
});
