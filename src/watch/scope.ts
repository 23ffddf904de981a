/**
 * The part of the tree a watch batch looks at: the paths events named, each a file or a directory
 * (a directory created or removed whole stands for everything under it). Pure.
 */
export class PathScope {
  private readonly keys: ReadonlySet<string>;
  /** Directories the walk must enter to reach a key. */
  private readonly ancestors = new Set<string>();

  constructor(keys: Iterable<string>) {
    this.keys = new Set(keys);
    for (const k of this.keys) {
      for (let i = k.indexOf('/'); i !== -1; i = k.indexOf('/', i + 1)) this.ancestors.add(k.slice(0, i));
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** Whether it is the whole tree (everything()). */
  get whole(): boolean {
    return this.keys.has('');
  }

  /** The paths the events named. */
  get paths(): ReadonlySet<string> {
    return this.keys;
  }

  /** The whole tree: a look for the changes whose events never came. */
  static everything(): PathScope {
    return new PathScope(['']);
  }

  /** Whether a path is a key or lies under one ('' is the top of the tree, so it covers every path). */
  covers = (rel: string): boolean => {
    if (this.keys.has(rel) || this.keys.has('')) return true;
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1))
      if (this.keys.has(rel.slice(0, i))) return true;
    return false;
  };

  /** Whether the walk enters a directory: it leads to a key, is one, or lies under one. */
  entersDir = (dir: string): boolean => this.ancestors.has(dir) || this.covers(dir);
}

/** The directory a path is in: '' for the top of the tree. */
export const parentDir = (rel: string): string => rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
