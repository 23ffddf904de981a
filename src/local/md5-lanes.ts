/**
 * MD5 of many inputs at once: eight independent streams in the lanes of WebAssembly SIMD vectors. One
 * MD5 is a chain of dependent steps that no instruction set shortens; eight of them side by side fill
 * the vector units the chain leaves idle, as the multi-buffer MD5 of md5-simd and Intel's isa-l do
 * (figures in docs/performance.md). The module is emitted here rather than shipped as a binary: the
 * step table below is the whole algorithm, and building it costs next to nothing.
 */
import { createHash } from 'node:crypto';

/** Lanes per group (a 128-bit vector of 32-bit words), and groups interleaved in one loop. */
const PER_GROUP = 4;
const GROUPS = 2;
export const LANES = PER_GROUP * GROUPS;

// Memory layout: the state vectors (a, b, c, d per group), the lanes' data pointers, then the lanes.
const STATE = 0;
const PTRS = 256;
const DATA = 1024;
/** Largest input a lane holds, with room for MD5's padding (at most 72 bytes). */
export const LANE_MAX = 1024 * 1024 + 1024;
const REGION = LANE_MAX + 128;
const PAD_MAX = 72;

const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0);
const SHIFT = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const wordOf = (i: number) =>
  i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16;
const IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

// WebAssembly encoding: the opcodes this module uses.
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  i32Load: 0x28,
  i32Store: 0x36,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  simd: 0xfd,
} as const;
const simd = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  load32Lane: 0x56,
  load32Zero: 0x5c,
  not: 0x4d,
  or: 0x50,
  xor: 0x51,
  bitselect: 0x52,
  shl: 0xab,
  shrU: 0xad,
  add: 0xae,
} as const;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'latin1')];

/**
 * The body of `run(n)`: n 64-byte blocks of every lane of `groups` groups, each lane reading from its
 * pointer and advancing it; the state and the pointers live in memory between calls.
 */
function runBody(groups: number): number[] {
  const c: number[] = [];
  const S = (o: number) => c.push(op.simd, ...uleb(o));
  const get = (i: number) => c.push(op.get, ...uleb(i));
  const set = (i: number) => c.push(op.set, ...uleb(i));
  const i32 = (n: number) => c.push(op.i32Const, ...sleb(n));
  const memarg = (align: number, offset: number) => c.push(align, ...uleb(offset));

  // Locals: 0 is n; then a pointer per lane; then per group a, b, c, d, their copies, t, and 16 words.
  const lanes = groups * PER_GROUP;
  const ptr = (l: number) => 1 + l;
  const V = 1 + lanes;
  const PER = 9 + 16;
  const reg = (g: number, r: number) => V + g * PER + r; // r: 0–3 a–d, 4–7 copies, 8 t
  const msg = (g: number, w: number) => V + g * PER + 9 + w;

  for (let l = 0; l < lanes; l++) {
    i32(0);
    c.push(op.i32Load);
    memarg(2, PTRS + 4 * l);
    set(ptr(l));
  }
  for (let g = 0; g < groups; g++)
    for (let r = 0; r < 4; r++) {
      i32(0);
      S(simd.load);
      memarg(4, STATE + g * 64 + r * 16);
      set(reg(g, r));
    }
  c.push(op.block, 0x40, op.loop, 0x40);
  get(0);
  c.push(op.i32Eqz, op.brIf, 1);
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < 4; r++) {
      get(reg(g, r));
      set(reg(g, 4 + r));
    }
    // Word w of the four lanes' blocks, one per lane of a vector.
    for (let w = 0; w < 16; w++) {
      for (let k = PER_GROUP - 1; k >= 0; k--) get(ptr(g * PER_GROUP + k));
      S(simd.load32Zero);
      memarg(2, 4 * w);
      for (let k = 1; k < PER_GROUP; k++) {
        S(simd.load32Lane);
        memarg(2, 4 * w);
        c.push(k);
      }
      set(msg(g, w));
    }
  }
  // The 64 steps, the groups' steps interleaved: independent chains for the processor to overlap.
  const order = Array.from({ length: groups }, () => [0, 1, 2, 3]);
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    const s = SHIFT[round * 4 + (i & 3)]!;
    for (let g = 0; g < groups; g++) {
      const [a, b, cc, d] = order[g]!.map((r) => reg(g, r)) as [number, number, number, number];
      get(b);
      get(a);
      get(msg(g, wordOf(i)));
      S(simd.const);
      const k = Buffer.alloc(16);
      for (let j = 0; j < 4; j++) k.writeInt32LE(K[i]!, 4 * j);
      c.push(...k);
      S(simd.add);
      S(simd.add);
      if (round === 0) [cc, d, b].forEach(get);
      else if (round === 1) [b, cc, d].forEach(get);
      if (round < 2) S(simd.bitselect);
      else if (round === 2) {
        get(b);
        get(cc);
        S(simd.xor);
        get(d);
        S(simd.xor);
      } else {
        get(cc);
        get(b);
        get(d);
        S(simd.not);
        S(simd.or);
        S(simd.xor);
      }
      S(simd.add);
      c.push(op.tee, ...uleb(reg(g, 8)));
      i32(s);
      S(simd.shl);
      get(reg(g, 8));
      i32(32 - s);
      S(simd.shrU);
      S(simd.or);
      S(simd.add);
      set(a);
      const [ra, rb, rc, rd] = order[g]!;
      order[g] = [rd!, ra!, rb!, rc!];
    }
  }
  for (let g = 0; g < groups; g++)
    for (let r = 0; r < 4; r++) {
      get(reg(g, r));
      get(reg(g, 4 + r));
      S(simd.add);
      set(reg(g, r));
    }
  for (let l = 0; l < lanes; l++) {
    get(ptr(l));
    i32(64);
    c.push(op.i32Add);
    set(ptr(l));
  }
  get(0);
  i32(1);
  c.push(op.i32Sub);
  set(0);
  c.push(op.br, 0, op.end, op.end);
  for (let g = 0; g < groups; g++)
    for (let r = 0; r < 4; r++) {
      i32(0);
      get(reg(g, r));
      S(simd.store);
      memarg(4, STATE + g * 64 + r * 16);
    }
  for (let l = 0; l < lanes; l++) {
    i32(0);
    get(ptr(l));
    c.push(op.i32Store);
    memarg(2, PTRS + 4 * l);
  }
  c.push(op.end);
  const locals = [2, ...uleb(lanes), 0x7f, ...uleb(groups * PER), 0x7b];
  const body = [...locals, ...c];
  return [...uleb(body.length), ...body];
}

/** The module: memory for every lane, `run8` (both groups) and `run4` (the first group only). */
export function md5LanesModule(): Uint8Array<ArrayBuffer> {
  const pages = Math.ceil((DATA + LANES * REGION) / 65536);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 1, 0x7f, 0]),
    ...section(3, [2, 0, 0]),
    ...section(5, [1, 0x00, ...uleb(pages)]),
    ...section(7, [3, ...name('mem'), 0x02, 0, ...name('run8'), 0x00, 0, ...name('run4'), 0x00, 1]),
    ...section(10, [2, ...runBody(GROUPS), ...runBody(1)]),
  ];
  return new Uint8Array(bytes);
}

/** An input handed to the lanes: its bytes, and who takes its MD5 (hex). */
export interface LaneInput {
  /**
   * The bytes: in the lane's buffer (what `take` gave) to be hashed there, or anywhere else to be hashed
   * at once with OpenSSL.
   */
  bytes: Buffer;
  done(md5: string): void;
}

/** `take(n)`: the lane's buffer of n bytes, or undefined when n is more than a lane holds. */
export type LaneTake = (n: number) => Buffer | undefined;

const md5Hex = (b: Buffer) => createHash('md5').update(b).digest('hex');

/**
 * MD5 of many inputs, eight at a time, on this thread. `next` hands over the inputs one at a time,
 * reading each into the buffer `take` gives, until it returns undefined.
 */
export class Md5Lanes {
  private readonly mem: WebAssembly.Memory;
  private readonly run8: (n: number) => void;
  private readonly run4: (n: number) => void;
  private readonly view: DataView;
  private readonly u8: Uint8Array;
  private readonly digest = Buffer.allocUnsafe(16);

  private constructor() {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(md5LanesModule()));
    const e = instance.exports as { mem: WebAssembly.Memory; run8(n: number): void; run4(n: number): void };
    this.mem = e.mem;
    this.run8 = e.run8;
    this.run4 = e.run4;
    // The memory never grows: the views, and the Buffers handed out, stay valid.
    this.view = new DataView(this.mem.buffer);
    this.u8 = new Uint8Array(this.mem.buffer);
  }

  /** The lanes, or undefined where this V8 has no WebAssembly SIMD (the caller hashes with OpenSSL). */
  static create(): Md5Lanes | undefined {
    try {
      return new Md5Lanes();
    } catch {
      return undefined;
    }
  }

  hash(next: (take: LaneTake) => LaneInput | undefined): void {
    const { view, u8 } = this;
    const done: Array<LaneInput['done'] | undefined> = new Array(LANES).fill(undefined);
    const left = new Int32Array(LANES);
    const home = (l: number) => DATA + l * REGION;
    const word = (l: number, r: number) => STATE + (l >> 2) * 64 + r * 16 + (l & 3) * 4;
    let more = true;
    let active = 0;

    const fill = (l: number): void => {
      const base = home(l);
      view.setUint32(PTRS + 4 * l, base, true);
      done[l] = undefined;
      const take: LaneTake = (n) =>
        n + PAD_MAX <= REGION ? Buffer.from(this.mem.buffer, base, n) : undefined;
      while (more) {
        const input = next(take);
        if (!input) {
          more = false;
          return;
        }
        const { bytes } = input;
        if (bytes.buffer !== this.mem.buffer || bytes.byteOffset !== base) {
          input.done(md5Hex(bytes));
          continue;
        }
        const len = bytes.length;
        const blocks = ((len + 8) >>> 6) + 1;
        const end = base + blocks * 64;
        u8[base + len] = 0x80;
        u8.fill(0, base + len + 1, end - 8);
        view.setUint32(end - 8, len * 8, true);
        view.setUint32(end - 4, Math.floor(len / 2 ** 29), true);
        for (let r = 0; r < 4; r++) view.setUint32(word(l, r), IV[r]!, true);
        left[l] = blocks;
        done[l] = input.done;
        active++;
        return;
      }
    };

    for (let l = 0; l < LANES; l++) fill(l);
    while (active > 0) {
      // The last few inputs: moved to the first group, which runs alone at twice the rate per lane.
      if (!more && active <= PER_GROUP) this.gather(done, left);
      let n = 0x7fffffff;
      let wide = false;
      for (let l = 0; l < LANES; l++)
        if (done[l]) {
          n = Math.min(n, left[l]!);
          if (l >= PER_GROUP) wide = true;
        }
      // Idle lanes read their own buffers: n blocks never run past them.
      (wide ? this.run8 : this.run4)(n);
      for (let l = 0; l < LANES; l++) {
        const d = done[l];
        if (!d) {
          view.setUint32(PTRS + 4 * l, home(l), true);
          continue;
        }
        left[l] = left[l]! - n;
        if (left[l] !== 0) continue;
        for (let r = 0; r < 4; r++) this.digest.writeUInt32LE(view.getUint32(word(l, r), true), 4 * r);
        active--;
        d(this.digest.toString('hex'));
        fill(l);
      }
    }
  }

  /** Moves the running inputs of the second group into free lanes of the first (state and pointer). */
  private gather(done: Array<LaneInput['done'] | undefined>, left: Int32Array): void {
    const { view } = this;
    let free = 0;
    for (let l = PER_GROUP; l < LANES; l++) {
      if (!done[l]) continue;
      while (done[free]) free++;
      for (let r = 0; r < 4; r++)
        view.setUint32(
          STATE + r * 16 + free * 4,
          view.getUint32(STATE + 64 + r * 16 + (l - 4) * 4, true),
          true,
        );
      view.setUint32(PTRS + 4 * free, view.getUint32(PTRS + 4 * l, true), true);
      left[free] = left[l]!;
      done[free] = done[l];
      done[l] = undefined;
      view.setUint32(PTRS + 4 * l, DATA + l * REGION, true);
    }
  }
}

/**
 * The lanes made on first use, once: a run that hashes no queue of small files never builds them, and
 * where WebAssembly SIMD is missing every later call is as quick to say so.
 */
export function lanesOnFirstUse(): () => Md5Lanes | undefined {
  let lanes: Md5Lanes | null | undefined;
  return () => {
    if (lanes === undefined) lanes = Md5Lanes.create() ?? null;
    return lanes ?? undefined;
  };
}
