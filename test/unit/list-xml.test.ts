import { describe, expect, it } from 'vitest';
import { BrokenPage, decodeXmlText, parseListObjectsV2 } from '../../src/s3/list-xml.js';

const contents = (key: string, size = '12', etag = '&quot;0123456789abcdef0123456789abcdef&quot;') =>
  `<Contents><Key>${key}</Key><LastModified>2026-11-24T21:02:19.000Z</LastModified><ETag>${etag}</ETag>` +
  `<Size>${size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;

const page = (
  body: string,
  head = '<KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>',
) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
  `<Name>b</Name><Prefix>p/</Prefix>${head}${body}</ListBucketResult>`;

describe('decodeXmlText', () => {
  it("decodes XML's five entities and decimal and hex character references", () => {
    expect(decodeXmlText('a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;')).toBe(`a & b <c> "d" 'e'`);
    expect(decodeXmlText('tab&#9;cr&#13;emoji&#x1F600;')).toBe('tab\tcr\remoji\u{1F600}');
    expect(decodeXmlText('plain/key with spaces ')).toBe('plain/key with spaces ');
  });

  it('decodes a quoted ETag, and text that only looks like one, exactly', () => {
    const cases: [string, string | undefined][] = [
      ['&quot;0123456789abcdef0123456789abcdef&quot;', '"0123456789abcdef0123456789abcdef"'],
      ['&quot;&quot;', '""'],
      ['&quot;', '"'],
      ['&quot;&quot;&quot;', '"""'],
      ['&quot;a&amp;b&quot;', '"a&b"'],
      ['&quot;ab&#13;&quot;', '"ab\r"'],
      ['&quot;x&quot;y', '"x"y'],
      ['x&quot;y&quot;', 'x"y"'],
      ['&quot;abc&quot', undefined],
      ['&quot;a&nbsp;&quot;', undefined],
      ['&quot;a\r&quot;', undefined],
    ];
    for (const [xml, text] of cases) expect([xml, decodeXmlText(xml)]).toEqual([xml, text]);
  });

  it('declines what it cannot be sure of: other entities, a bare &, a raw CR, out-of-range code points', () => {
    expect(decodeXmlText('&nbsp;')).toBeUndefined();
    expect(decodeXmlText('a & b')).toBeUndefined();
    expect(decodeXmlText('line\r\nbreak')).toBeUndefined();
    expect(decodeXmlText('&#x110000;')).toBeUndefined();
    expect(decodeXmlText('&#xZZ;')).toBeUndefined();
  });
});

describe('parseListObjectsV2', () => {
  it('carries a storage class other than STANDARD (an archive tier), and leaves STANDARD out', () => {
    const glacier = contents('p/cold').replace('STANDARD', 'GLACIER');
    const objects = parseListObjectsV2(
      page(glacier + contents('p/warm'), '<KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>'),
    )?.objects;
    expect(objects?.map((o) => [o.key, o.storageClass])).toEqual([
      ['p/cold', 'GLACIER'],
      ['p/warm', undefined],
    ]);
  });

  it('reads key, size, ETag and LastModified of each object, and the continuation', () => {
    const xml = page(
      contents('p/a.txt') + contents('p/dir/b &amp; c.bin', '1048576'),
      '<NextContinuationToken>tok+/=&amp;x</NextContinuationToken><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>',
    );
    expect(parseListObjectsV2(xml)).toEqual({
      objects: [
        {
          key: 'p/a.txt',
          size: 12,
          etag: '"0123456789abcdef0123456789abcdef"',
          lastModified: Date.parse('2026-11-24T21:02:19.000Z'),
        },
        {
          key: 'p/dir/b & c.bin',
          size: 1048576,
          etag: '"0123456789abcdef0123456789abcdef"',
          lastModified: Date.parse('2026-11-24T21:02:19.000Z'),
        },
      ],
      isTruncated: true,
      nextToken: 'tok+/=&x',
    });
  });

  it('keeps a key exactly, leading and trailing spaces and markup-like text included', () => {
    const r = parseListObjectsV2(page(contents('p/ spaced &lt;Key&gt;x&lt;/Key&gt; ')));
    expect(r?.objects.map((o) => o.key)).toEqual(['p/ spaced <Key>x</Key> ']);
  });

  it('finds the continuation wherever the server puts it, and reads an empty page', () => {
    const tail = `${page(contents('p/a'), '<KeyCount>1</KeyCount>').replace(
      '</ListBucketResult>',
      '<IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken></ListBucketResult>',
    )}`;
    expect(parseListObjectsV2(tail)).toMatchObject({ isTruncated: true, nextToken: 't2' });
    expect(parseListObjectsV2(page('', '<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>'))).toEqual({
      objects: [],
      isTruncated: false,
      nextToken: undefined,
    });
  });

  it('reads pretty-printed XML and objects without an ETag or LastModified', () => {
    const xml = page(
      '\n  <Contents>\n    <Key>p/x</Key>\n    <Size> 5 </Size>\n  </Contents>\n',
      '\n  <KeyCount>1</KeyCount>\n  <IsTruncated> false </IsTruncated>',
    );
    expect(parseListObjectsV2(xml)).toEqual({
      objects: [{ key: 'p/x', size: 5, etag: '', lastModified: 0 }],
      isTruncated: false,
      nextToken: undefined,
    });
  });

  it.each([
    ['not a listing', '<Error><Code>AccessDenied</Code></Error>'],
    ['a comment', page(`<!-- x -->${contents('p/a')}`)],
    ['CDATA', page(contents('<![CDATA[p/a]]>'))],
    ['a processing instruction', page(`<?pi x?>${contents('p/a')}`)],
    ['url-encoded keys', page(`<EncodingType>url</EncodingType>${contents('p/a%20b')}`)],
    ['common prefixes', page(`${contents('p/a')}<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>`)],
    [
      'a KeyCount that is not a number',
      page(contents('p/a'), '<KeyCount>x</KeyCount><IsTruncated>false</IsTruncated>'),
    ],
    ['a Contents with attributes', page(`<Contents id="1"><Key>p/a</Key><Size>1</Size></Contents>`)],
    ['a missing Key', page('<Contents><Size>1</Size></Contents>')],
    ['an empty Key', page(contents(''))],
    ['a missing Size', page('<Contents><Key>p/a</Key></Contents>')],
    ['a size that is not a number', page(contents('p/a', '-1'))],
    ['an unknown entity in a key', page(contents('p/&eacute;'))],
    ['a bad date', page(contents('p/a').replace('2026-11-24T21:02:19.000Z', 'yesterday'))],
    ['a truncated Contents', page('<Contents><Key>p/a</Key><Size>1</Size>')],
    ['an odd IsTruncated', page(contents('p/a'), '<KeyCount>1</KeyCount><IsTruncated>yes</IsTruncated>')],
  ])('declines %s, for the SDK to read', (_label, xml) => {
    expect(parseListObjectsV2(xml)).toBeUndefined();
  });

  it.each([
    // Each would read as a shorter final page: the keys left out would look deleted.
    [
      'a body cut after a whole Contents',
      page(contents('p/a') + contents('p/b')).replace(/<\/ListBucketResult>$/, ''),
      /ends before <\/ListBucketResult>/,
    ],
    ['a body cut inside a Contents', page(contents('p/a')).slice(0, -40), /ends before <\/ListBucketResult>/],
    ['no IsTruncated', page(contents('p/a'), '<KeyCount>1</KeyCount>'), /no IsTruncated/],
    ['no IsTruncated and no KeyCount', page(contents('p/a'), ''), /no IsTruncated/],
    [
      'a KeyCount above what it lists',
      page(contents('p/a')).replace('<KeyCount>1<', '<KeyCount>6<'),
      /KeyCount says 6, the page holds 1/,
    ],
    [
      'a KeyCount below what it lists',
      page(contents('p/a') + contents('p/b')),
      /KeyCount says 1, the page holds 2/,
    ],
  ])('throws BrokenPage for %s, never a shorter listing', (_label, xml, reason) => {
    expect(() => parseListObjectsV2(xml)).toThrow(BrokenPage);
    expect(() => parseListObjectsV2(xml)).toThrow(reason);
  });

  it('reads a whole page followed by whitespace', () => {
    expect(parseListObjectsV2(`${page(contents('p/a'))}\n  `)?.objects).toHaveLength(1);
  });
});
