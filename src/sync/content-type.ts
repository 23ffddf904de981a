/**
 * Content-Type of uploads, from the file name. mime-types parses a large database on import, which
 * a run that uploads nothing must not pay: loaded by the first upload. Not while the listing is
 * awaited: a fresh runner hashes then, and the load delayed its hashing. Node keeps the module once
 * loaded, so nothing here holds it.
 */
export function loadContentTypes(): Promise<(rel: string) => string | false> {
  return import('mime-types').then((m) => m.default.lookup);
}

export async function contentType(rel: string): Promise<string> {
  return (await loadContentTypes())(rel) || 'application/octet-stream';
}
