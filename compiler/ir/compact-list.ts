/**
 * Compact suppression lists (docs/ir.md "Bundle data"): a large list is stored in data.json as
 * `{"format": "murmur3-64", "keys": "<sorted 16-hex-digit digests, concatenated>", digest:
 * instant, ...}` (a member per entry that has an expiry) instead of an object with one member
 * per entry. Every value is a string, so it has the type of a plain list. It stays JSON for the
 * OPA SDK, is one string for the Wasm JSON parser (zero copy, no per-key hash index: memory is
 * the string's size) and is built from typed arrays, never millions of JavaScript strings.
 *
 * The digest of a key is the first 64 bits (h1, h2) of MurmurHash3_x86_128 with seed 0 over the
 * key's UTF-8 bytes, as 16 lowercase hex digits. wasmlib/hash.ts (`listDigest`) computes the same
 * function; both evaluators binary-search `keys` the same way (`compactIndex`).
 */
import { parseTime } from "./time.js";

export const COMPACT_FORMAT = "murmur3-64";
/** Hex digits per digest in `keys`. */
export const DIGEST_HEX = 16;
/** Lists read from an `entries_file` with at least this many entries are written compact. */
export const COMPACT_MIN_ENTRIES = 50_000;

/** A compact list: `format`, `keys`, and digest -> expiry for the entries that have one. */
export type CompactList = Record<string, string | null> & { format: typeof COMPACT_FORMAT; keys: string };

/** A list object of data.json in the compact form (`format` names it; plain values are null or instants). */
export function isCompactList(v: unknown): v is CompactList {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
  const o = v as Record<string, unknown>;
  return Object.prototype.hasOwnProperty.call(o, "format") && o["format"] === COMPACT_FORMAT;
}

const C1 = 0x239b961b, C2 = 0xab0e9789, C3 = 0x38b34ae5, C4 = 0xa1e38b93;
const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
const fmix = (h: number): number => {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

/**
 * The digest of bytes [start, end) of `b` into out[at] (h1) and out[at + 1] (h2), unsigned.
 * `view`: a DataView of `b` (its words are read through it, one load each: 1.7x faster than
 * assembling them from bytes); pass one when hashing many keys of the same array.
 */
export function digestInto(b: Uint8Array, start: number, end: number, out: Uint32Array, at: number, view = new DataView(b.buffer, b.byteOffset, b.byteLength)): void {
  const len = end - start;
  let h1 = 0, h2 = 0, h3 = 0, h4 = 0;
  let p = start;
  for (; p + 16 <= end; p += 16) {
    let k1 = view.getInt32(p, true), k2 = view.getInt32(p + 4, true), k3 = view.getInt32(p + 8, true), k4 = view.getInt32(p + 12, true);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2); h1 ^= k1;
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3); h2 ^= k2;
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4); h3 ^= k3;
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1); h4 ^= k4;
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const r = end - p;
  let k1 = 0, k2 = 0, k3 = 0, k4 = 0;
  for (let i = r - 1; i >= 0; i--) {
    const byte = b[p + i]! << ((i & 3) * 8);
    if (i >= 12) k4 ^= byte;
    else if (i >= 8) k3 ^= byte;
    else if (i >= 4) k2 ^= byte;
    else k1 ^= byte;
  }
  if (r > 12) { k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1); h4 ^= k4; }
  if (r > 8) { k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4); h3 ^= k3; }
  if (r > 4) { k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3); h2 ^= k2; }
  if (r > 0) { k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2); h1 ^= k1; }
  h1 ^= len; h2 ^= len; h3 ^= len; h4 ^= len;
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0; h3 = (h3 + h1) | 0; h4 = (h4 + h1) | 0;
  h1 = fmix(h1); h2 = fmix(h2); h3 = fmix(h3); h4 = fmix(h4);
  h1 = (h1 + h2) | 0; h1 = (h1 + h3) | 0; h1 = (h1 + h4) | 0;
  h2 = (h2 + h1) | 0;
  out[at] = h1 >>> 0;
  out[at + 1] = h2 >>> 0;
}

const hex8 = (x: number): string => x.toString(16).padStart(8, "0");
const enc = new TextEncoder();
const scratch = new Uint32Array(2);

/** The digest of a key as it appears in `keys` and `expiries`. */
export function keyDigest(key: string): string {
  const b = enc.encode(key);
  digestInto(b, 0, b.length, scratch, 0);
  return hex8(scratch[0]!) + hex8(scratch[1]!);
}

/**
 * The index of `digest` in `keys`, or -1: a binary search over `keys` read as fixed-width
 * records (lo = 0, hi = count; mid = (lo + hi) >>> 1), exactly as the Wasm engine searches. A
 * `keys` whose length is not a multiple of 16 lists nothing.
 */
export function compactIndex(keys: string, digest: string): number {
  if (keys.length % DIGEST_HEX !== 0) return -1;
  let lo = 0;
  let hi = keys.length / DIGEST_HEX;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const at = mid * DIGEST_HEX;
    // Byte order: digests are ASCII, so comparing UTF-16 code units is comparing bytes.
    let c = 0;
    for (let i = 0; i < DIGEST_HEX && c === 0; i++) c = keys.charCodeAt(at + i) - digest.charCodeAt(i);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

/** `in_list` on a compact list: the key's digest is in `keys`, with no expiry or one strictly after now. */
export function compactHas(list: CompactList, item: string, now: number): boolean {
  if (typeof list.keys !== "string") return false;
  const d = keyDigest(item);
  if (compactIndex(list.keys, d) < 0) return false;
  if (!Object.prototype.hasOwnProperty.call(list, d)) return true;
  const e: unknown = list[d];
  if (e === null) return true;
  const t = typeof e === "string" ? parseTime(e) : undefined;
  return t !== undefined && t > now;
}

/** How many entries a list of data.json holds (a compact list: its distinct digests). */
export function listSize(l: unknown): number {
  if (isCompactList(l)) return typeof l.keys === "string" ? Math.floor(l.keys.length / DIGEST_HEX) : 0;
  return l !== null && typeof l === "object" ? Object.keys(l).length : 0;
}

/**
 * The entries of a list of data.json as key -> expiry (null: none). A compact list's keys are
 * its digests (the keys themselves are not in the bundle).
 */
export function listEntries(l: unknown): Map<string, string | null> {
  const m = new Map<string, string | null>();
  if (isCompactList(l)) {
    for (let i = 0; i + DIGEST_HEX <= l.keys.length; i += DIGEST_HEX) {
      const d = l.keys.slice(i, i + DIGEST_HEX);
      const e = Object.prototype.hasOwnProperty.call(l, d) ? l[d] : null;
      m.set(d, typeof e === "string" ? e : null);
    }
  } else if (l !== null && typeof l === "object") {
    for (const [k, v] of Object.entries(l as Record<string, unknown>)) m.set(k, typeof v === "string" ? v : null);
  }
  return m;
}

/** The readable keys of a list (none for a compact list: only digests are stored). */
export const listKeys = (l: unknown): string[] => (isCompactList(l) || l === null || typeof l !== "object" ? [] : Object.keys(l));

/**
 * Builds a compact list from entries read straight from bytes: each key is hashed where it lies
 * (no per-key string). Entries with the same digest: if their keys are equal the last line wins
 * (as for plain lists); different keys that collide hold as long as the longest of them (no
 * expiry beats any expiry), so a collision never unlists a key early.
 */
export class CompactListBuilder {
  private digests: Uint32Array;
  /** Per entry: key start, key end in its source bytes, and its expiry (index into untils, or -1). */
  private spans: Uint32Array;
  private untilOf: Int32Array;
  private untils: string[] = [];
  private sources: Uint8Array[] = [];
  private sourceOf: Uint32Array;
  /** A DataView of the last source (digestInto reads words through it). */
  private view: DataView | null = null;
  /** finish() reorders the digests in place: it is a builder's last call. */
  private done = false;
  count = 0;

  /** `capacity`: the expected number of entries (the arrays grow past it, by copying). */
  constructor(capacity = 1024) {
    const n = Math.max(16, Math.ceil(capacity));
    this.digests = new Uint32Array(2 * n);
    this.spans = new Uint32Array(2 * n);
    this.untilOf = new Int32Array(n);
    this.sourceOf = new Uint32Array(n);
  }

  /** Adds the key at bytes [start, end) of `src` (below 4 GiB; the same array for consecutive calls is cheap). */
  add(src: Uint8Array, start: number, end: number, until: string | null): void {
    if (this.done) throw new Error("CompactListBuilder: add after finish");
    if (this.count === this.untilOf.length) this.grow();
    const i = this.count++;
    if (this.sources.at(-1) !== src) {
      this.sources.push(src);
      this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    }
    this.sourceOf[i] = this.sources.length - 1;
    digestInto(src, start, end, this.digests, 2 * i, this.view!);
    this.spans[2 * i] = start;
    this.spans[2 * i + 1] = end;
    if (until === null) this.untilOf[i] = -1;
    else {
      this.untilOf[i] = this.untils.length;
      this.untils.push(until);
    }
  }

  private grow(): void {
    const n = Math.ceil(this.untilOf.length * 1.5);
    const d = new Uint32Array(2 * n); d.set(this.digests); this.digests = d;
    const s = new Uint32Array(2 * n); s.set(this.spans); this.spans = s;
    const u = new Int32Array(n); u.set(this.untilOf); this.untilOf = u;
    const o = new Uint32Array(n); o.set(this.sourceOf); this.sourceOf = o;
  }

  private sameKey(a: number, b: number): boolean {
    const sa = this.sources[this.sourceOf[a]!]!, sb = this.sources[this.sourceOf[b]!]!;
    const a0 = this.spans[2 * a]!, a1 = this.spans[2 * a + 1]!, b0 = this.spans[2 * b]!, b1 = this.spans[2 * b + 1]!;
    if (a1 - a0 !== b1 - b0) return false;
    for (let k = 0; k < a1 - a0; k++) if (sa[a0 + k] !== sb[b0 + k]) return false;
    return true;
  }

  /** Each entry as its key text and expiry, in the order added. */
  forEach(fn: (key: string, until: string | null) => void): void {
    if (this.done) throw new Error("CompactListBuilder: forEach after finish");
    for (let i = 0; i < this.count; i++) {
      const src = this.sources[this.sourceOf[i]!]!;
      const key = Buffer.from(src.buffer, src.byteOffset, src.byteLength).toString("utf8", this.spans[2 * i], this.spans[2 * i + 1]);
      fn(key, this.untilOf[i]! < 0 ? null : this.untils[this.untilOf[i]!]!);
    }
  }

  /** The list in its data.json form. */
  finish(): CompactList {
    if (this.done) throw new Error("CompactListBuilder: finish twice");
    this.done = true;
    if (this.untils.length === 0) return this.finishPlain();
    const n = this.count;
    const { h1s, h2s, order } = sortByDigest(this.digests, n);
    const out32 = new Uint32Array(n * (DIGEST_HEX / 4));
    const out = Buffer.from(out32.buffer);
    const expiries: [string, string][] = [];
    let w = 0;
    for (let j = 0; j < n; ) {
      const h1 = h1s[j]!, h2 = h2s[j]!;
      // The run of entries with this digest, in source order (the sort is stable).
      let k = j + 1;
      while (k < n && h1s[k] === h1 && h2s[k] === h2) k++;
      let holds: string | null | undefined;
      if (k === j + 1) holds = this.untilOf[order[j]!]! < 0 ? null : this.untils[this.untilOf[order[j]!]!]!;
      else {
        // Per distinct key (last line wins), then the longest over distinct keys.
        for (let a = j; a < k; a++) {
          const ia = order[a]!;
          let last = true;
          for (let b = a + 1; b < k && last; b++) if (this.sameKey(ia, order[b]!)) last = false;
          if (!last) continue;
          const u = this.untilOf[ia]! < 0 ? null : this.untils[this.untilOf[ia]!]!;
          holds = holds === undefined ? u : holds === null || u === null ? null : later(holds, u);
        }
      }
      putHex(out32, w / 4, h1, h2);
      if (holds !== null && holds !== undefined) expiries.push([out.toString("latin1", w, w + DIGEST_HEX), holds]);
      w += DIGEST_HEX;
      j = k;
    }
    return { format: COMPACT_FORMAT, keys: out.toString("latin1", 0, w), ...Object.fromEntries(expiries) } as CompactList;
  }

  /**
   * finish() for a list without expiries, where only the distinct digests matter: the digests
   * as 64-bit numbers (h1 high), sorted in place by the engine's typed array sort (no per-entry
   * objects, no index arrays), then written as hex skipping repeats.
   */
  private finishPlain(): CompactList {
    const n = this.count;
    const d = this.digests;
    // Put h1 in the high half of each 64-bit element, in the platform's byte order.
    if (LITTLE_ENDIAN) {
      for (let i = 0; i < 2 * n; i += 2) {
        const h1 = d[i]!;
        d[i] = d[i + 1]!;
        d[i + 1] = h1;
      }
    }
    new BigUint64Array(d.buffer, d.byteOffset, n).sort();
    const hi = LITTLE_ENDIAN ? 1 : 0, lo = 1 - hi;
    const out = new Uint32Array(n * (DIGEST_HEX / 4));
    let w = 0;
    for (let i = 0; i < n; i++) {
      const h1 = d[2 * i + hi]!, h2 = d[2 * i + lo]!;
      if (i > 0 && h1 === d[2 * i - 2 + hi] && h2 === d[2 * i - 2 + lo]) continue;
      putHex(out, w / 4, h1, h2);
      w += DIGEST_HEX;
    }
    return { format: COMPACT_FORMAT, keys: Buffer.from(out.buffer, 0, w).toString("latin1") } as CompactList;
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// Four hex digits of every 16-bit value, as the bytes they are written as.
const HEX4 = (() => {
  const t = new Uint32Array(65536);
  const b = new Uint8Array(t.buffer);
  const digits = "0123456789abcdef";
  for (let v = 0; v < 65536; v++) for (let k = 0; k < 4; k++) b[4 * v + k] = digits.charCodeAt((v >>> (12 - 4 * k)) & 15);
  return t;
})();

/** h1 and h2 as 16 hex digits at byte 4 * at of out's bytes. */
function putHex(out: Uint32Array, at: number, h1: number, h2: number): void {
  out[at] = HEX4[h1 >>> 16]!;
  out[at + 1] = HEX4[h1 & 0xffff]!;
  out[at + 2] = HEX4[h2 >>> 16]!;
  out[at + 3] = HEX4[h2 & 0xffff]!;
}

function later(a: string, b: string): string {
  const ta = parseTime(a), tb = parseTime(b);
  if (ta === undefined) return b;
  if (tb === undefined) return a;
  return tb > ta ? b : a;
}

/**
 * The digests ordered by (h1, h2), stable, with each one's entry index: one counting pass on
 * the top bits of h1 (about 8 entries a bucket; digests are uniform), one scattering pass, then
 * each bucket sorted on its own. Sequential passes over typed arrays: no per-entry objects.
 */
export function sortByDigest(d: Uint32Array, n: number): { h1s: Uint32Array; h2s: Uint32Array; order: Uint32Array } {
  const bits = Math.min(24, Math.max(4, Math.ceil(Math.log2(Math.max(2, n / 8)))));
  const shift = 32 - bits;
  const buckets = 2 ** bits;
  const start = new Uint32Array(buckets + 1);
  for (let i = 0; i < n; i++) start[(d[2 * i]! >>> shift) + 1]!++;
  for (let b = 0; b < buckets; b++) start[b + 1]! += start[b]!;
  const at = start.slice(0, buckets);
  const h1s = new Uint32Array(n), h2s = new Uint32Array(n), order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h1 = d[2 * i]!;
    const p = at[h1 >>> shift]!++;
    h1s[p] = h1;
    h2s[p] = d[2 * i + 1]!;
    order[p] = i;
  }
  for (let b = 0; b < buckets; b++) {
    const lo = start[b]!, hi = start[b + 1]!;
    if (hi - lo < 2) continue;
    if (hi - lo > 64) {
      // Crafted keys can crowd one bucket: a comparison sort there, never quadratic.
      const ix = Array.from(order.subarray(lo, hi), (_, k) => lo + k);
      ix.sort((x, y) => h1s[x]! - h1s[y]! || h2s[x]! - h2s[y]! || x - y);
      const t1 = ix.map((x) => h1s[x]!), t2 = ix.map((x) => h2s[x]!), to = ix.map((x) => order[x]!);
      h1s.set(t1, lo); h2s.set(t2, lo); order.set(to, lo);
      continue;
    }
    // Insertion sort, strict comparison: equal digests keep their source order.
    for (let i = lo + 1; i < hi; i++) {
      const a1 = h1s[i]!, a2 = h2s[i]!, ao = order[i]!;
      let j = i - 1;
      while (j >= lo && (h1s[j]! > a1 || (h1s[j] === a1 && h2s[j]! > a2))) {
        h1s[j + 1] = h1s[j]!; h2s[j + 1] = h2s[j]!; order[j + 1] = order[j]!;
        j--;
      }
      h1s[j + 1] = a1; h2s[j + 1] = a2; order[j + 1] = ao;
    }
  }
  return { h1s, h2s, order };
}
