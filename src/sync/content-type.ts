/**
 * Content-Type of uploads, from the file name. mime-types parses a large database on import, which a
 * no-change run must not pay: loaded only by runs that may upload, and started while the listing is
 * awaited (see hash-ahead.ts) so the first upload does not wait for it. Node keeps the module once
 * loaded, so nothing here holds it.
 */
export function loadContentTypes(): Promise<(rel: string) => string | false> {
  return import('mime-types').then((m) => m.default.lookup);
}

export async function contentType(rel: string): Promise<string> {
  return (await loadContentTypes())(rel) || 'application/octet-stream';
}
