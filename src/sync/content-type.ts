/**
 * Content-Type of uploads, from the file name. mime-types parses a large database on import, which
 * a run that uploads nothing must not pay: loaded by the first upload. Not while the listing is
 * awaited: a fresh runner hashes then, and the load delayed its hashing.
 */
function loadContentTypes(): Promise<(rel: string) => string | false> {
  return import('mime-types').then((m) => m.default.lookup);
}

/**
 * A run's lookup, loaded once: Node keeps the module, but in the bundle each import() builds a new
 * namespace object around it, a copy of every export per uploaded file.
 */
export class ContentTypes {
  private lookup: Promise<(rel: string) => string | false> | undefined;

  async of(rel: string): Promise<string> {
    this.lookup ??= loadContentTypes();
    return (await this.lookup)(rel) || 'application/octet-stream';
  }
}
