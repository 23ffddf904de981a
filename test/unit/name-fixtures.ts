/**
 * File names that a line-based format, a terminal or a careless parser could misread: the manifest
 * tests and the round-trip integration tests share them. Every one is a valid name on Linux.
 */

/** Names of up to maxSegmentBytes (255 on Linux) in ASCII, 2- and 4-byte UTF-8, and a path of several. */
export const longNames = (maxSegmentBytes = 255): string[] => [
  'L'.repeat(maxSegmentBytes),
  'é'.repeat(Math.floor(maxSegmentBytes / 2)),
  '😀'.repeat(Math.floor(maxSegmentBytes / 4)),
  // A key near S3's 1,024-byte limit (the prefix adds a few bytes).
  Array.from({ length: 4 }, (_, i) =>
    String.fromCharCode(97 + i).repeat(Math.min(200, maxSegmentBytes)),
  ).join('/'),
];

/** Names with a control character, or a backslash: pull refuses to write these (see unsafeKeyReason). */
export const CONTROL_NAMES = [
  'tab\tname',
  'a\t=\tb',
  '=\t=',
  'trailing tab\t',
  'nl\nname',
  'cr\rname',
  'crlf\r\nname',
  '\nleading newline',
  'x\r\x1b[2Kall files OK',
  'bell\x07',
  'back\\slash',
  'trailing backslash\\',
  '\\"escaped quote\\"',
  'nl\ndir/inner file',
];

/** Names every filesystem s3sync runs on allows, and pull writes back as they are. */
export const PLAIN_HOSTILE_NAMES = [
  '#end 1',
  '#end 0',
  '#end 99',
  '#end -1',
  '#',
  '#comment',
  '100%',
  '%2F',
  '%00',
  '%u0041 %%',
  ' leading space',
  'trailing space ',
  '   ',
  ' ',
  '\u00a0nbsp edges\u00a0',
  '"leading quote',
  '"',
  '""',
  'mid"quote',
  "'single'",
  '{"schema":"s3sync-manifest","version":1,"columns":["rel"]}',
  '[]',
  'null',
  '=',
  '==',
  'col = col',
  '0',
  '-1',
  'ünïcødé 日本語 ファイル',
  'emoji 😀👍🏽',
  'combining e\u0301',
  'valid \uFFFD replacement character',
  'del\x7f',
  'c1 csi \u009b2K',
  'rtl \u202eoverride',
  'line sep \u2028 para \u2029',
  '-rf',
  '...',
  'dir #end 1/x',
  '  /x',
  '"q/#end 2',
];

export const HOSTILE_NAMES = [...PLAIN_HOSTILE_NAMES, ...CONTROL_NAMES];
