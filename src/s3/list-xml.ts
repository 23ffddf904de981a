/**
 * A ListObjectsV2 response body read straight from its XML. The SDK's generic deserializer costs a
 * fresh process much CPU per page (its parser and schema code run cold in a CLI); this reads the few
 * fields a listing needs for far less. On a 2-core machine where the server shares the cores, that CPU
 * came out of the server's listing.
 *
 * Anything this reader is not sure of makes it answer undefined, and the SDK parses the page as
 * before: comments, CDATA, processing instructions, entities other than XML's own, url-encoded keys,
 * common prefixes, a Contents without a Key or Size. Raw `<` in an XML document is always markup (text
 * escapes it), so searching for tags cannot match inside a key.
 *
 * A page that is not a whole answer throws BrokenPage instead: the SDK would read some of them as a
 * shorter listing, and a shorter listing makes the keys left out look deleted.
 */

export interface ListedObject {
  key: string;
  size: number;
  /** As sent, quotes included; callers normalise. */
  etag: string;
  /** Milliseconds since the epoch; 0 when the server sent none. */
  lastModified: number;
  /** StorageClass, when the page names one other than STANDARD. */
  storageClass?: string;
}

export interface ListPage {
  objects: ListedObject[];
  isTruncated: boolean;
  nextToken: string | undefined;
}

/** A listing page that is no whole answer (cut short, or holding fewer keys than it counts): transient. */
export class BrokenPage extends Error {}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const QUOT = '&quot;';

/** XML character data → text: XML's five named entities and character references, nothing else. */
export function decodeXmlText(s: string): string | undefined {
  // XML turns a raw CR (and CR LF) into LF; a server that escapes it sends &#13;, which is kept.
  if (s.includes('\r')) return undefined;
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  // An ETag as most servers send it, `&quot;…&quot;` around text with no other reference: no loop.
  const n = s.length;
  if (amp === 0 && s.startsWith(QUOT) && s.endsWith(QUOT) && s.indexOf('&', 6) === n - 6) {
    return `"${s.slice(6, n - 6)}"`;
  }
  let out = '';
  let from = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp);
    if (semi < 0) return undefined;
    const ref = s.slice(amp + 1, semi);
    let ch: string | undefined;
    if (/^#[0-9]{1,7}$/.test(ref) || /^#x[0-9a-fA-F]{1,6}$/.test(ref)) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (code > 0x10ffff) return undefined;
      ch = String.fromCodePoint(code);
    } else {
      ch = NAMED[ref];
    }
    if (ch === undefined) return undefined;
    out += s.slice(from, amp) + ch;
    from = semi + 1;
    amp = s.indexOf('&', from);
  }
  return out + s.slice(from);
}

/** An element's tags, made once: `element` runs several times for each listed object. */
const tags = (name: string) => ({ open: `<${name}>`, close: `</${name}>` });
type Tags = ReturnType<typeof tags>;
const KEY = tags('Key');
const SIZE = tags('Size');
const ETAG = tags('ETag');
const LAST_MODIFIED = tags('LastModified');
const STORAGE_CLASS = tags('StorageClass');

/** The text of the first `<name>…</name>` within [from, to), or undefined. */
function element(xml: string, name: Tags, from: number, to: number): string | undefined {
  const open = xml.indexOf(name.open, from);
  if (open < 0 || open >= to) return undefined;
  const start = open + name.open.length;
  const close = xml.indexOf(name.close, start);
  if (close < 0 || close > to) return undefined;
  return xml.slice(start, close);
}

/** Occurrences of `needle` in `xml`. */
function count(xml: string, needle: string): number {
  let n = 0;
  for (let i = xml.indexOf(needle); i >= 0; i = xml.indexOf(needle, i + needle.length)) n++;
  return n;
}

/** A ListObjectsV2 page, or undefined when the body is anything but the plain form this reads. */
export function parseListObjectsV2(xml: string): ListPage | undefined {
  const root = xml.indexOf('<ListBucketResult');
  if (root < 0) return undefined;
  // Comments, CDATA and DOCTYPE (`<!`), or processing instructions past the XML declaration.
  if (xml.includes('<!') || xml.indexOf('<?', 1) >= 0) return undefined;
  if (xml.includes('<CommonPrefixes') || xml.includes('<EncodingType')) return undefined;
  // A body ended after a whole </Contents> (a middlebox closing the answer early) would read as the final page.
  if (!xml.trimEnd().endsWith('</ListBucketResult>'))
    throw new BrokenPage('the answer ends before </ListBucketResult>');

  const objects: ListedObject[] = [];
  let outside = '';
  let pos = root;
  for (;;) {
    const open = xml.indexOf('<Contents>', pos);
    if (open < 0) break;
    const close = xml.indexOf('</Contents>', open);
    if (close < 0) return undefined;
    outside += xml.slice(pos, open);
    const key = element(xml, KEY, open, close);
    const size = element(xml, SIZE, open, close);
    if (key === undefined || size === undefined || !/^\s*[0-9]+\s*$/.test(size)) return undefined;
    const decodedKey = decodeXmlText(key);
    const etag = decodeXmlText(element(xml, ETAG, open, close) ?? '');
    if (decodedKey === undefined || decodedKey === '' || etag === undefined) return undefined;
    const modified = element(xml, LAST_MODIFIED, open, close);
    const lastModified = modified === undefined ? 0 : Date.parse(modified.trim());
    if (Number.isNaN(lastModified)) return undefined;
    // STANDARD, the class of most objects, is left out: only another tier is worth carrying.
    const storageClass = element(xml, STORAGE_CLASS, open, close)?.trim();
    objects.push({
      key: decodedKey,
      size: Number(size),
      etag,
      lastModified,
      ...(storageClass && storageClass !== 'STANDARD' && { storageClass }),
    });
    pos = close + '</Contents>'.length;
  }
  outside += xml.slice(pos);
  // Every Contents element was read: none written with attributes or a namespace prefix.
  if (count(xml, '<Contents') !== objects.length) return undefined;

  const keyCount = element(outside, tags('KeyCount'), 0, outside.length);
  if (keyCount !== undefined && !/^\s*[0-9]+\s*$/.test(keyCount)) return undefined;
  if (keyCount !== undefined && Number(keyCount) !== objects.length)
    throw new BrokenPage(`the answer's KeyCount says ${Number(keyCount)}, the page holds ${objects.length}`);
  const truncated = element(outside, tags('IsTruncated'), 0, outside.length)?.trim();
  // Absent, it says neither that the listing ends here nor that more follow.
  if (truncated === undefined) throw new BrokenPage('the answer has no IsTruncated');
  if (truncated !== 'true' && truncated !== 'false') return undefined;
  const token = element(outside, tags('NextContinuationToken'), 0, outside.length);
  const nextToken = token === undefined ? undefined : decodeXmlText(token);
  if (token !== undefined && nextToken === undefined) return undefined;
  return { objects, isTruncated: truncated === 'true', nextToken };
}
