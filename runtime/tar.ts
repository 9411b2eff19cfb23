/**
 * Deterministic tar.gz writing and strict tar.gz reading for OPA bundles.
 *
 * Writer: the same files give the same bytes on every machine and Node version. Entries are
 * sorted by UTF-8 bytes; headers are ustar with mode 0644, uid/gid 0, empty uname/gname,
 * mtime 0; a PAX `path` record is added only for a name ustar cannot hold. Compression is our
 * own DEFLATE encoder (greedy LZ77 + per-block Huffman codes) because zlib's output is not
 * guaranteed stable across zlib builds (Node ships Chromium's zlib, whose match finder depends
 * on CPU features). The gzip header is fixed: mtime 0, no name, XFL 0, OS 255 (unknown).
 *
 * Reader: gunzip that stops at an output cap (the content limit, or a multiple of the compressed
 * size, whichever is smaller, so a gzip bomb is refused early), then a ustar parse that verifies every header checksum
 * and refuses traversal, absolute or duplicate names, anything but regular files, and
 * archives without the end-of-archive marker (so a tar cut at a block boundary is refused).
 */
import * as zlib from "node:zlib";
import { gunzipSync } from "node:zlib";
import { runtimeError } from "./errors.js";

const BLOCK = 512;

// ---------------------------------------------------------------------------------------------
// CRC-32 (gzip trailer)
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

// zlib.crc32 (Node >= 20.15) is ~10x faster on a 70 MB tar. A CRC is a fixed mathematical
// function of the bytes, so unlike deflate output it cannot differ between zlib builds.
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

export function crc32(data: Uint8Array): number {
  if (nativeCrc32 !== undefined) return nativeCrc32(data) >>> 0;
  return crc32Js(data);
}

/** Table-driven CRC-32 (the fallback; also checks the native one in tests). */
export function crc32Js(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// DEFLATE (RFC 1951): fixed or dynamic Huffman blocks
// ---------------------------------------------------------------------------------------------

class BitWriter {
  buf: Uint8Array;
  pos = 0;
  acc = 0;
  n = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(Math.max(64, size));
  }
  /** Writes `len` bits of `value`, least significant bit first. */
  bits(value: number, len: number): void {
    this.acc |= value << this.n;
    this.n += len;
    while (this.n >= 8) {
      if (this.pos === this.buf.length) this.reserve(1);
      this.buf[this.pos++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.n -= 8;
    }
  }
  /** Makes room for `bytes` more bytes, so a caller may write without bounds checks. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + bytes));
    next.set(this.buf);
    this.buf = next;
  }
  finish(): Uint8Array {
    if (this.n > 0) this.bits(0, 8 - this.n);
    return this.buf.subarray(0, this.pos);
  }
}

const reverseBits = (code: number, len: number): number => {
  let r = 0;
  for (let i = 0; i < len; i++) {
    r = (r << 1) | (code & 1);
    code >>>= 1;
  }
  return r;
};

// Fixed literal/length code (RFC 1951 3.2.6), pre-reversed for LSB-first output.
const LIT_CODE = new Uint16Array(288);
const LIT_LEN = new Uint8Array(288);
for (let s = 0; s < 288; s++) {
  let code: number;
  let len: number;
  if (s < 144) [code, len] = [0x30 + s, 8];
  else if (s < 256) [code, len] = [0x190 + s - 144, 9];
  else if (s < 280) [code, len] = [s - 256, 7];
  else [code, len] = [0xc0 + s - 280, 8];
  LIT_CODE[s] = reverseBits(code, len);
  LIT_LEN[s] = len;
}
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const DIST_CODE = DIST_BASE.map((_, i) => reverseBits(i, 5));

// Length (3..258) -> length symbol index, distance (1..32768) -> distance code.
const LEN_INDEX = new Uint8Array(259);
for (let i = 0; i < 29; i++) {
  const hi = i === 28 ? 258 : LEN_BASE[i + 1]! - 1;
  for (let l = LEN_BASE[i]!; l <= hi; l++) LEN_INDEX[l] = i;
}
LEN_INDEX[258] = 28;
// Distance (1..32768) -> distance code, as a table: looked up twice per match.
const DIST_INDEX = (() => {
  const t = new Uint8Array(32769);
  for (let i = 0; i < 30; i++) {
    const hi = i === 29 ? 32768 : DIST_BASE[i + 1]! - 1;
    for (let d = DIST_BASE[i]!; d <= hi; d++) t[d] = i;
  }
  return t;
})();
const distIndex = (d: number): number => DIST_INDEX[d]!;

const WINDOW = 32768;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const HASH_BITS = 15;
const MAX_CHAIN = 16;
const GOOD_ENOUGH = 128;

const BLOCK_TOKENS = 1 << 16;

/**
 * Huffman code lengths for `freq`, at most `limit` bits. Deterministic: ties break by symbol.
 * When the tree is too deep, frequencies are halved (keeping non-zero ones non-zero) and the
 * tree rebuilt: slightly suboptimal in rare cases, simple and exact. At least two symbols get
 * a code, so every code is complete (inflate rejects some incomplete codes).
 */
function codeLengths(freqIn: ArrayLike<number>, limit: number): Uint8Array {
  const n = freqIn.length;
  const freq = Array.from(freqIn);
  let used = freq.filter((f) => f > 0).length;
  for (let s = 0; used < 2 && s < n; s++) {
    if (freq[s] === 0) {
      freq[s] = 1;
      used++;
    }
  }
  for (;;) {
    // Two-queue Huffman over leaves sorted by (freq, symbol).
    const leaves = freq.map((f, sym) => ({ f, sym })).filter((x) => x.f > 0);
    leaves.sort((a, b) => a.f - b.f || a.sym - b.sym);
    const parent: number[] = [];
    const weight: number[] = [];
    const nodes: number[] = []; // internal node ids start at n
    let li = 0;
    let ni = 0;
    const take = (): number => {
      const lf = li < leaves.length ? leaves[li]!.f : Infinity;
      const nf = ni < nodes.length ? weight[nodes[ni]! - n]! : Infinity;
      if (lf <= nf) return leaves[li++]!.sym;
      return nodes[ni++]!;
    };
    const w = (id: number): number => (id < n ? freq[id]! : weight[id - n]!);
    const leafParent = new Int32Array(n).fill(-1);
    for (let k = 0; k < leaves.length - 1; k++) {
      const a = take();
      const b = take();
      const id = n + weight.length;
      weight.push(w(a) + w(b));
      parent.push(-1);
      for (const c of [a, b]) {
        if (c < n) leafParent[c] = id;
        else parent[c - n] = id;
      }
      nodes.push(id);
    }
    const depthOf = (id: number): number => {
      let d = 0;
      for (let p = id < n ? leafParent[id]! : parent[id - n]!; p !== -1; p = parent[p - n]!) d++;
      return d;
    };
    const lens = new Uint8Array(n);
    let max = 0;
    for (const { sym } of leaves) {
      lens[sym] = depthOf(sym);
      if (lens[sym]! > max) max = lens[sym]!;
    }
    if (max <= limit) return lens;
    for (let s = 0; s < n; s++) if (freq[s]! > 0) freq[s] = Math.max(1, freq[s]! >> 1);
  }
}

/** Canonical Huffman codes (RFC 1951 3.2.2), bit-reversed for LSB-first output. */
function canonicalCodes(lens: Uint8Array): Uint16Array {
  const count = new Uint16Array(16);
  for (const l of lens) if (l > 0) count[l]!++;
  const next = new Uint16Array(16);
  let code = 0;
  for (let b = 1; b < 16; b++) {
    code = (code + count[b - 1]!) << 1;
    next[b] = code;
  }
  const codes = new Uint16Array(lens.length);
  for (let s = 0; s < lens.length; s++) {
    const l = lens[s]!;
    if (l > 0) codes[s] = reverseBits(next[l]!++, l);
  }
  return codes;
}

const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** Run-length encodes code lengths into (symbol, extra) pairs with symbols 16/17/18. */
function rleLengths(lens: number[]): [number, number][] {
  const out: [number, number][] = [];
  let i = 0;
  while (i < lens.length) {
    const l = lens[i]!;
    let run = 1;
    while (i + run < lens.length && lens[i + run] === l) run++;
    if (l === 0 && run >= 3) {
      const r = Math.min(run, 138);
      out.push(r >= 11 ? [18, r - 11] : [17, r - 3]);
      i += r;
    } else if (l !== 0 && run >= 4) {
      out.push([l, 0]);
      const r = Math.min(run - 1, 6);
      out.push([16, r - 3]);
      i += 1 + r;
    } else {
      out.push([l, 0]);
      i++;
    }
  }
  return out;
}

const EXTRA_CL = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];

/** Writes one block of LZ77 tokens with whichever of fixed or dynamic Huffman is smaller. */
/** Symbol frequencies of a block, when the match finder counted them as it went. */
interface BlockFreq {
  lf: Uint32Array;
  df: Uint32Array;
  extraBits: number;
}

function writeBlock(out: BitWriter, lit: Uint16Array, dist: Uint16Array, count: number, final: boolean, counted?: BlockFreq): void {
  // Symbol frequencies (dist[i] > 0 marks a match of length lit[i]).
  let lf: Uint32Array;
  let df: Uint32Array;
  let extraBits = 0;
  if (counted !== undefined) {
    ({ lf, df, extraBits } = counted);
  } else {
    lf = new Uint32Array(286);
    df = new Uint32Array(30);
    for (let i = 0; i < count; i++) {
      if (dist[i] === 0) lf[lit[i]!]!++;
      else {
        const li = LEN_INDEX[lit[i]!]!;
        const di = distIndex(dist[i]!);
        lf[257 + li]!++;
        df[di]!++;
        extraBits += LEN_EXTRA[li]! + DIST_EXTRA[di]!;
      }
    }
  }
  lf[256] = 1;
  const litLens = codeLengths(lf, 15);
  const distLens = codeLengths(df, 15);
  let hlit = 286;
  while (hlit > 257 && litLens[hlit - 1] === 0) hlit--;
  let hdist = 30;
  while (hdist > 1 && distLens[hdist - 1] === 0) hdist--;
  const rle = rleLengths([...litLens.subarray(0, hlit), ...distLens.subarray(0, hdist)]);
  const cf = new Uint32Array(19);
  for (const [sym] of rle) cf[sym]!++;
  const clLens = codeLengths(cf, 7);
  let hclen = 19;
  while (hclen > 4 && clLens[CL_ORDER[hclen - 1]!] === 0) hclen--;

  let dynBits = 3 + 5 + 5 + 4 + 3 * hclen + extraBits;
  for (const [sym] of rle) dynBits += clLens[sym]! + EXTRA_CL[sym]!;
  let fixedBits = 3 + extraBits;
  for (let s = 0; s < 286; s++) {
    dynBits += lf[s]! * litLens[s]!;
    fixedBits += lf[s]! * LIT_LEN[s]!;
  }
  for (let d = 0; d < 30; d++) {
    dynBits += df[d]! * distLens[d]!;
    fixedBits += df[d]! * 5;
  }

  out.bits(final ? 1 : 0, 1);
  let litCode: ArrayLike<number>;
  let litLen: ArrayLike<number>;
  let distCode: ArrayLike<number>;
  let distLen: ArrayLike<number>;
  if (fixedBits <= dynBits) {
    out.bits(1, 2);
    [litCode, litLen, distCode, distLen] = [LIT_CODE, LIT_LEN, DIST_CODE, new Uint8Array(30).fill(5)];
  } else {
    out.bits(2, 2);
    out.bits(hlit - 257, 5);
    out.bits(hdist - 1, 5);
    out.bits(hclen - 4, 4);
    for (let k = 0; k < hclen; k++) out.bits(clLens[CL_ORDER[k]!]!, 3);
    const clCodes = canonicalCodes(clLens);
    for (const [sym, extra] of rle) {
      out.bits(clCodes[sym]!, clLens[sym]!);
      if (EXTRA_CL[sym]! > 0) out.bits(extra, EXTRA_CL[sym]!);
    }
    [litCode, litLen, distCode, distLen] = [canonicalCodes(litLens), litLens, canonicalCodes(distLens), distLens];
  }
  // The token loop runs once per output symbol (tens of millions for a big bundle): bit
  // accumulator in locals, room reserved up front (a token is at most 15+5+15+13 bits).
  out.reserve(count * 6 + 8);
  const buf = out.buf;
  let pos = out.pos;
  let acc = out.acc;
  let nb = out.n;
  for (let i = 0; i < count; i++) {
    const d = dist[i]!;
    if (d === 0) {
      const s = lit[i]!;
      acc |= litCode[s]! << nb;
      nb += litLen[s]!;
    } else {
      const len = lit[i]!;
      const li = LEN_INDEX[len]!;
      acc |= litCode[257 + li]! << nb;
      nb += litLen[257 + li]!;
      while (nb >= 8) {
        buf[pos++] = acc & 0xff;
        acc >>>= 8;
        nb -= 8;
      }
      const le = LEN_EXTRA[li]!;
      if (le > 0) {
        acc |= (len - LEN_BASE[li]!) << nb;
        nb += le;
      }
      while (nb >= 8) {
        buf[pos++] = acc & 0xff;
        acc >>>= 8;
        nb -= 8;
      }
      const di = DIST_INDEX[d]!;
      acc |= distCode[di]! << nb;
      nb += distLen[di]!;
      while (nb >= 8) {
        buf[pos++] = acc & 0xff;
        acc >>>= 8;
        nb -= 8;
      }
      const de = DIST_EXTRA[di]!;
      if (de > 0) {
        acc |= (d - DIST_BASE[di]!) << nb;
        nb += de;
      }
    }
    while (nb >= 8) {
      buf[pos++] = acc & 0xff;
      acc >>>= 8;
      nb -= 8;
    }
  }
  out.pos = pos;
  out.acc = acc;
  out.n = nb;
  out.bits(litCode[256]!, litLen[256]!);
}

/**
 * Raw DEFLATE of `data`: a pure function of its input (no platform or library dependence).
 * Greedy LZ77, then blocks of 64K tokens, each with its own Huffman codes (or the fixed codes
 * when those are smaller). Two match finders, chosen by input size only (so still a pure
 * function of the input):
 *  - up to FAST_ABOVE bytes (every ordinary bundle): 3-byte hash chains, 16 candidates. Its
 *    output is unchanged from earlier releases, so rebuilding an old revision gives the same
 *    bundle bytes;
 *  - above it (big suppression lists: tens of MB of hex): 4-byte hashes, at most FAST_CHAIN
 *    candidates, and no hash insertion inside long matches. On random hex, 3-byte hashes put
 *    ~8 unrelated candidates in every chain and nearly all of them are rejected as too short
 *    and too far; a 4-byte hash leaves chains nearly empty. About 8x faster there, for a
 *    ratio within a few per cent.
 */
export function deflateRawDeterministic(data: Uint8Array): Uint8Array {
  return data.length > FAST_ABOVE ? deflateFast(data) : deflateThorough(data);
}

/** Inputs larger than this use the fast match finder. */
export const FAST_ABOVE = 1 << 20;
const FAST_HASH_BITS = 16;
const FAST_CHAIN = 4;
const FAST_GOOD = 32;
/** log2 of the misses after which the search step grows by one (see deflateFast). */
const FAST_SKIP_SHIFT = 2;
/** Positions inside a match longer than this are not hashed (zlib's max_insert_length idea). */
const FAST_INSERT_MAX = 8;

function deflateThorough(data: Uint8Array): Uint8Array {
  const out = new BitWriter((data.length >> 1) + 64);
  const head = new Int32Array(1 << HASH_BITS).fill(-1);
  const prev = new Int32Array(WINDOW);
  const n = data.length;
  const lit = new Uint16Array(BLOCK_TOKENS);
  const dist = new Uint16Array(BLOCK_TOKENS);
  let count = 0;
  const hashAt = (p: number): number =>
    (((data[p]! << 10) ^ (data[p + 1]! << 5) ^ data[p + 2]!) * 2654435761) >>> (32 - HASH_BITS);
  const insert = (p: number): void => {
    if (p + MIN_MATCH > n) return;
    const h = hashAt(p);
    prev[p & (WINDOW - 1)] = head[h]!;
    head[h] = p;
  };
  let p = 0;
  while (p < n) {
    let bestLen = 0;
    let bestDist = 0;
    if (p + MIN_MATCH <= n) {
      const limit = Math.min(MAX_MATCH, n - p);
      let cand = head[hashAt(p)]!;
      let chain = MAX_CHAIN;
      while (cand >= 0 && p - cand <= WINDOW && chain-- > 0) {
        if (data[cand + bestLen] === data[p + bestLen]) {
          let l = 0;
          while (l < limit && data[cand + l] === data[p + l]) l++;
          if (l > bestLen) {
            bestLen = l;
            bestDist = p - cand;
            if (l >= GOOD_ENOUGH || l === limit) break;
          }
        }
        const nextCand = prev[cand & (WINDOW - 1)]!;
        if (nextCand >= cand) break; // slot overwritten by a newer position: chain ends
        cand = nextCand;
      }
    }
    // Short far matches cost more bits than the literals they replace (a 3-byte match at
    // distance 5000 is ~25 bits; three hex literals ~12): keep them as literals.
    if (bestLen >= MIN_MATCH && !(bestLen === 3 && bestDist > 64) && !(bestLen === 4 && bestDist > 2048)) {
      lit[count] = bestLen;
      dist[count++] = bestDist;
      for (let k = 0; k < bestLen; k++) insert(p + k);
      p += bestLen;
    } else {
      lit[count] = data[p]!;
      dist[count++] = 0;
      insert(p);
      p++;
    }
    if (count === BLOCK_TOKENS && p < n) {
      writeBlock(out, lit, dist, count, false);
      count = 0;
    }
  }
  writeBlock(out, lit, dist, count, true);
  return out.finish();
}

function deflateFast(data: Uint8Array): Uint8Array {
  const out = new BitWriter((data.length >> 1) + 64);
  const head = new Int32Array(1 << FAST_HASH_BITS).fill(-1);
  const prev = new Int32Array(WINDOW);
  const mask = WINDOW - 1;
  const shift = 32 - FAST_HASH_BITS;
  const n = data.length;
  const lastHashed = n - 5; // a position needs 5 bytes to be hashed
  const lit = new Uint16Array(BLOCK_TOKENS);
  const dist = new Uint16Array(BLOCK_TOKENS);
  let count = 0;
  // Frequencies counted as tokens are made: saves writeBlock a pass over 64K tokens per block.
  const freq: BlockFreq = { lf: new Uint32Array(286), df: new Uint32Array(30), extraBits: 0 };
  const lf = freq.lf;
  const df = freq.df;
  let extraBits = 0;
  let p = 0;
  // Consecutive searches without a match: past FAST_SKIP_AFTER of them only every second
  // position is searched, past twice that every third... (LZ4's acceleration). Incompressible
  // runs (random hex) then cost a fraction of the hashing; a match resets it.
  let misses = 0;
  let nextSearch = 0;
  while (p < n) {
    let bestLen = 0;
    let bestDist = 0;
    if (p === nextSearch && p <= lastHashed) {
      const h = (Math.imul(data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24), 0x9e3779b1) ^ Math.imul(data[p + 4]!, 0x85ebca6b)) >>> shift;
      let cand = head[h]!;
      prev[p & mask] = cand;
      head[h] = p;
      const limit = n - p < MAX_MATCH ? n - p : MAX_MATCH;
      let chain = FAST_CHAIN;
      while (cand >= 0 && p - cand <= WINDOW && chain-- > 0) {
        if (data[cand + bestLen] === data[p + bestLen]) {
          let l = 0;
          while (l < limit && data[cand + l] === data[p + l]) l++;
          if (l > bestLen) {
            bestLen = l;
            bestDist = p - cand;
            if (l >= FAST_GOOD || l === limit) break;
          }
        }
        const nextCand = prev[cand & mask]!;
        if (nextCand >= cand) break; // slot overwritten by a newer position: chain ends
        cand = nextCand;
      }
    }
    // As above: a 4-byte match far away costs more than its literals. (Candidates share a
    // 5-byte hash; shorter collisions are not taken.)
    if (bestLen >= 4 && !(bestLen === 4 && bestDist > 2048)) {
      lit[count] = bestLen;
      dist[count++] = bestDist;
      const li = LEN_INDEX[bestLen]!;
      const di = DIST_INDEX[bestDist]!;
      lf[257 + li]!++;
      df[di]!++;
      extraBits += LEN_EXTRA[li]! + DIST_EXTRA[di]!;
      if (bestLen <= FAST_INSERT_MAX) {
        const end = p + bestLen;
        for (let q = p + 1; q < end && q <= lastHashed; q++) {
          const h = (Math.imul(data[q]! | (data[q + 1]! << 8) | (data[q + 2]! << 16) | (data[q + 3]! << 24), 0x9e3779b1) ^ Math.imul(data[q + 4]!, 0x85ebca6b)) >>> shift;
          prev[q & mask] = head[h]!;
          head[h] = q;
        }
      }
      p += bestLen;
      misses = 0;
      nextSearch = p;
    } else {
      if (p === nextSearch) nextSearch = p + 1 + (misses++ >> FAST_SKIP_SHIFT);
      // Literals up to the next searched position (or the end of the block).
      let stop = nextSearch < n ? nextSearch : n;
      if (stop - p > BLOCK_TOKENS - count) stop = p + BLOCK_TOKENS - count;
      do {
        const b = data[p++]!;
        lit[count] = b;
        dist[count++] = 0;
        lf[b]!++;
      } while (p < stop);
      if (p > nextSearch) nextSearch = p;
    }
    if (count === BLOCK_TOKENS && p < n) {
      freq.extraBits = extraBits;
      writeBlock(out, lit, dist, count, false, freq);
      count = 0;
      lf.fill(0);
      df.fill(0);
      extraBits = 0;
    }
  }
  freq.extraBits = extraBits;
  writeBlock(out, lit, dist, count, true, freq);
  return out.finish();
}

/** gzip with a fixed header: identical bytes for identical input, anywhere. */
export function gzipDeterministic(data: Uint8Array): Uint8Array {
  const body = deflateRawDeterministic(data);
  const out = new Uint8Array(10 + body.length + 8);
  // ID1 ID2 CM=8 FLG=0 MTIME=0 XFL=0 OS=255
  out.set([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff], 0);
  out.set(body, 10);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(10 + body.length, crc32(data), true);
  dv.setUint32(14 + body.length, data.length >>> 0, true);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ustar writer
// ---------------------------------------------------------------------------------------------

const utf8 = new TextEncoder();

const compareBytes = (a: string, b: string): number => Buffer.compare(utf8.encode(a), utf8.encode(b));

function writeOctal(h: Uint8Array, off: number, width: number, value: number): void {
  // width includes the trailing NUL
  const digits = value.toString(8).padStart(width - 1, "0");
  if (digits.length > width - 1) throw new RangeError(`value ${value} does not fit a ${width}-byte tar field`);
  for (let i = 0; i < digits.length; i++) h[off + i] = digits.charCodeAt(i);
  h[off + width - 1] = 0;
}

function writeBytes(h: Uint8Array, off: number, bytes: Uint8Array): void {
  h.set(bytes, off);
}

function header(nameField: Uint8Array, prefixField: Uint8Array, size: number, type: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  writeBytes(h, 0, nameField);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h[156] = type;
  writeBytes(h, 257, utf8.encode("ustar\u0000"));
  writeBytes(h, 263, utf8.encode("00"));
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  writeBytes(h, 345, prefixField);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeOctal(h, 148, 7, sum); // 6 digits + NUL, then the space already there
  h[155] = 0x20;
  return h;
}

const isPortableAscii = (s: string): boolean => /^[\x20-\x7e]*$/.test(s);

/** Splits a name into ustar (prefix, name) fields, or null when ustar cannot hold it. */
function ustarSplit(name: string): [Uint8Array, Uint8Array] | null {
  if (!isPortableAscii(name)) return null;
  const b = utf8.encode(name);
  if (b.length <= 100) return [b, new Uint8Array(0)];
  for (let i = b.length - 1; i > 0; i--) {
    if (b[i] !== 0x2f) continue;
    if (i <= 155 && b.length - i - 1 <= 100 && b.length - i - 1 > 0) return [b.subarray(i + 1), b.subarray(0, i)];
  }
  return null;
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = utf8.encode(` ${key}=${value}\n`);
  // The length prefix counts itself: find the fixed point.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return utf8.encode(`${len} ${key}=${value}\n`);
}

const pad = (n: number): number => (BLOCK - (n % BLOCK)) % BLOCK;

/** Writes an uncompressed ustar archive. Names must be valid (see `checkEntryName`). */
export function writeTar(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const names = [...files.keys()].sort(compareBytes);
  const chunks: Uint8Array[] = [];
  for (const name of names) {
    const data = files.get(name)!;
    checkEntryName(name, true);
    let split = ustarSplit(name);
    if (split === null) {
      const rec = paxRecord("path", name);
      const paxName = utf8.encode("PaxHeaders/" + name.replace(/[^\x20-\x7e]/g, "_").slice(-80));
      chunks.push(header(paxName, new Uint8Array(0), rec.length, 0x78 /* x */), rec, new Uint8Array(pad(rec.length)));
      split = [utf8.encode(name.replace(/[^\x20-\x7e]/g, "_").slice(-100)), new Uint8Array(0)];
    }
    chunks.push(header(split[0], split[1], data.length, 0x30 /* 0 */), data, new Uint8Array(pad(data.length)));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  return Buffer.concat(chunks);
}

/** Deterministic `.tar.gz` of `files`. */
export const writeTarGz = (files: ReadonlyMap<string, Uint8Array>): Uint8Array => gzipDeterministic(writeTar(files));

// ---------------------------------------------------------------------------------------------
// strict reader
// ---------------------------------------------------------------------------------------------

export interface TarLimits {
  /** Largest single entry, bytes (default 512 MiB). */
  maxEntryBytes?: number;
  /** Largest uncompressed archive, bytes (default 1 GiB). */
  maxTotalBytes?: number;
  /** Most entries (default 10,000). */
  maxEntries?: number;
  /**
   * Largest expansion of the gzip stream, as a multiple of its compressed size (default 200;
   * archives up to 1 MiB uncompressed are always allowed). DEFLATE reaches about 1032:1 on
   * zeros, real bundles (JSON, Wasm, tar headers) stay far below 50:1: a small download that
   * would inflate to the content limit is a gzip bomb, and is refused once it passes this.
   */
  maxRatio?: number;
}

export interface ReadTarOptions extends TarLimits {
  /**
   * Accept one leading `/` (stripped), as `opa build` writes `/policy.wasm`: names are then
   * relative to the bundle root. Default false: a leading `/` is an absolute name, refused.
   */
  rooted?: boolean;
}

const DEFAULTS = { maxEntryBytes: 512 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024, maxEntries: 10_000, maxRatio: 200 };
/** Uncompressed size always allowed, whatever the ratio (a tiny bundle is mostly zero padding). */
const RATIO_FLOOR = 1024 * 1024;

/**
 * Returns the normalised name or throws WPR003. With `rooted`, one leading `/` is allowed and
 * stripped. Refused: empty names, other absolute forms, `.`/`..`/empty segments, backslashes,
 * control characters, drive letters.
 */
export function checkEntryName(raw: string, rooted: boolean): string {
  let name = raw;
  if (rooted && name.startsWith("/")) name = name.slice(1);
  const bad = (why: string) => runtimeError("WPR003", `bundle entry \`${raw}\` is refused: ${why}`);
  if (name.length === 0) throw bad("empty name");
  if (name.startsWith("/")) throw bad("absolute path");
  if (/[\x00-\x1f\x7f\\]/.test(name)) throw bad("control character or backslash in name");
  if (/^[A-Za-z]:/.test(name)) throw bad("drive-letter path");
  for (const seg of name.split("/")) {
    if (seg === "..") throw bad("path traversal (`..`)");
    if (seg === "." || seg === "") throw bad("`.` or empty path segment");
  }
  return name;
}

/** Largest tar stream that can hold `maxTotal` content bytes in `maxEntries` entries. */
const tarBound = (maxTotal: number, maxEntries: number): number => maxTotal + maxEntries * 3 * BLOCK + 2 * BLOCK;

/**
 * gunzip that stops as soon as the output passes `limit`: zlib inflates in 1 MiB chunks and
 * throws once the output so far exceeds `maxOutputLength`, so at most `limit` + 1 MiB is ever
 * held, however large the stream would expand. `why` says which limit it was, for the error.
 */
function gunzipStrict(bytes: Uint8Array, limit: number, why: string): Uint8Array {
  if (bytes.length < 18 || bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 0x08) {
    throw runtimeError("WPR001", "bundle is not a gzip file (bad magic bytes)");
  }
  try {
    // 1 MiB output chunks instead of 16 KiB: fewer chunks to collect and join for big bundles.
    return gunzipSync(bytes, { maxOutputLength: limit, chunkSize: 1 << 20 });
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    if (code === "ERR_BUFFER_TOO_LARGE" || e instanceof RangeError) {
      throw runtimeError("WPR006", `bundle expands beyond ${limit} bytes (${why}); inflation stopped there`);
    }
    throw runtimeError("WPR001", `bundle gzip stream is corrupt or truncated (${code || "inflate failed"})`);
  }
}

const dec = new TextDecoder("utf-8", { fatal: true });

function cString(h: Uint8Array, off: number, len: number): Uint8Array {
  const end = h.subarray(off, off + len).indexOf(0);
  return h.subarray(off, end < 0 ? off + len : off + end);
}

function parseOctal(h: Uint8Array, off: number, len: number, field: string, at: number): number {
  if ((h[off]! & 0x80) !== 0) throw runtimeError("WPR002", `tar header at byte ${at}: base-256 ${field} is not supported`);
  const s = Buffer.from(h.subarray(off, off + len)).toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw runtimeError("WPR002", `tar header at byte ${at}: ${field} is not octal`);
  return parseInt(s, 8);
}

function parsePax(body: Uint8Array, at: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    const len = Number(Buffer.from(body.subarray(i, sp)).toString("latin1"));
    if (!Number.isInteger(len) || len <= sp - i + 1 || i + len > body.length || body[i + len - 1] !== 0x0a) {
      throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    }
    let rec: string;
    try {
      rec = dec.decode(body.subarray(sp + 1, i + len - 1));
    } catch {
      throw runtimeError("WPR003", `PAX header at byte ${at} is not UTF-8`);
    }
    const eq = rec.indexOf("=");
    if (eq <= 0) throw runtimeError("WPR002", `PAX header at byte ${at} is malformed`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/** Parses an uncompressed ustar archive into name -> bytes (copies), refusing anything irregular. */
export function readTar(tar: Uint8Array, options: ReadTarOptions = {}): Map<string, Uint8Array> {
  return parseTar(tar, options, true);
}

function parseTar(tar: Uint8Array, options: ReadTarOptions, copy: boolean): Map<string, Uint8Array> {
  const maxEntryBytes = options.maxEntryBytes ?? DEFAULTS.maxEntryBytes;
  const maxTotalBytes = options.maxTotalBytes ?? DEFAULTS.maxTotalBytes;
  const maxEntries = options.maxEntries ?? DEFAULTS.maxEntries;
  const rooted = options.rooted ?? false;
  const files = new Map<string, Uint8Array>();
  let total = 0;
  let off = 0;
  let pax: Map<string, string> | null = null;
  for (;;) {
    if (off + BLOCK > tar.length) throw runtimeError("WPR002", "tar is truncated (no end-of-archive marker)");
    const h = tar.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      // End of archive: two zero blocks, then only zero padding.
      const rest = tar.subarray(off + BLOCK);
      if (rest.length < BLOCK || !rest.subarray(0, BLOCK).every((b) => b === 0)) {
        throw runtimeError("WPR002", "tar is truncated (incomplete end-of-archive marker)");
      }
      if (!rest.every((b) => b === 0)) throw runtimeError("WPR002", "tar has data after the end-of-archive marker");
      if (pax !== null) throw runtimeError("WPR002", "tar ends after a PAX header with no entry");
      return files;
    }
    const stored = parseOctal(h, 148, 8, "checksum", off);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== stored) throw runtimeError("WPR002", `tar header at byte ${off} fails its checksum`);
    const magic = Buffer.from(h.subarray(257, 265)).toString("latin1");
    if (magic !== "ustar\u000000" && magic !== "ustar  \u0000") {
      throw runtimeError("WPR002", `tar header at byte ${off} is not ustar`);
    }
    const size = parseOctal(h, 124, 12, "size", off);
    const type = String.fromCharCode(h[156]!);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > tar.length) throw runtimeError("WPR002", `tar entry at byte ${off} is truncated`);
    if (type === "x") {
      if (pax !== null) throw runtimeError("WPR002", `two PAX headers in a row at byte ${off}`);
      if (size > 1024 * 1024) throw runtimeError("WPR006", `PAX header at byte ${off} is too large`);
      pax = parsePax(tar.subarray(dataStart, dataEnd), off);
      off = dataEnd + pad(size);
      continue;
    }
    let rawName: string;
    try {
      const prefix = dec.decode(cString(h, 345, 155));
      const base = dec.decode(cString(h, 0, 100));
      rawName = prefix === "" ? base : `${prefix}/${base}`;
    } catch {
      throw runtimeError("WPR003", `tar entry name at byte ${off} is not UTF-8`);
    }
    let entrySize = size;
    if (pax !== null) {
      rawName = pax.get("path") ?? rawName;
      const paxSize = pax.get("size");
      if (paxSize !== undefined) {
        if (!/^\d+$/.test(paxSize) || Number(paxSize) !== size) {
          throw runtimeError("WPR002", `PAX size of \`${rawName}\` disagrees with its header`);
        }
        entrySize = Number(paxSize);
      }
      pax = null;
    }
    if (type !== "0" && type !== "\u0000") {
      throw runtimeError("WPR005", `tar entry \`${rawName}\` is not a regular file (type \`${type === "\u0000" ? "NUL" : type}\`)`);
    }
    const name = checkEntryName(rawName, rooted);
    if (files.has(name)) throw runtimeError("WPR004", `tar entry \`${name}\` appears more than once`);
    if (files.size >= maxEntries) throw runtimeError("WPR006", `tar has more than ${maxEntries} entries`);
    if (entrySize > maxEntryBytes) throw runtimeError("WPR006", `tar entry \`${name}\` is larger than ${maxEntryBytes} bytes`);
    total += entrySize;
    if (total > maxTotalBytes) throw runtimeError("WPR006", `tar contents exceed ${maxTotalBytes} bytes`);
    // readTarGz owns the gunzip output, so it takes views: copying a 70 MB data.json costs
    // tens of milliseconds at load. readTar's caller owns its buffer: copies.
    files.set(name, copy ? tar.slice(dataStart, dataEnd) : tar.subarray(dataStart, dataEnd));
    off = dataEnd + pad(size);
  }
}

/** gunzip + `readTar`. Throws WaypostRuntimeError (WPR001..WPR006). */
export function readTarGz(bytes: Uint8Array, options: ReadTarOptions = {}): Map<string, Uint8Array> {
  // Headers, PAX records and padding ride on top of the content limit.
  const bound = tarBound(options.maxTotalBytes ?? DEFAULTS.maxTotalBytes, options.maxEntries ?? DEFAULTS.maxEntries);
  const ratio = options.maxRatio ?? DEFAULTS.maxRatio;
  const ratioBound = Math.max(RATIO_FLOOR, Math.floor(bytes.length * ratio));
  const tar =
    ratioBound < bound
      ? gunzipStrict(bytes, ratioBound, `more than ${ratio} times its compressed size of ${bytes.length} bytes: a likely gzip bomb`)
      : gunzipStrict(bytes, bound, "the uncompressed size limit");
  return parseTar(tar, options, false);
}
