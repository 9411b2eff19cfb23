/**
 * Deterministic `.tar.gz` writing for OPA bundles (the strict reader is runtime/tar.ts).
 *
 * The same files give the same bytes on every machine and Node version. Entries are sorted by
 * UTF-8 bytes; headers are ustar with mode 0644, uid/gid 0, empty uname/gname, mtime 0; a PAX
 * `path` record is added only for a name ustar cannot hold. Compression is fflate, pure JS:
 * node:zlib's output is not stable across zlib builds (Node ships Chromium's zlib, whose match
 * finder depends on CPU features). The gzip header is fixed: mtime 0, no name.
 *
 * Long runs of lowercase hex digits (a compact list's `keys`, compiler/ir/compact-list.ts) are
 * random digits: LZ77 finds next to nothing in them and fflate's match search spends about 2 s a
 * million ids on it. Those runs are written as Huffman-only deflate blocks (`huffmanBlocks`:
 * a code from each block's byte histogram, no matching; hex costs 4 bits a digit, what level 9
 * reaches too), the rest of the input by fflate at level 9, in one gzip member.
 */
import { deflateSync, gzipSync } from "fflate";
import * as zlib from "node:zlib";
import { checkEntryName } from "../runtime/tar.js";

const BLOCK = 512;
const utf8 = new TextEncoder();

/**
 * gzip, fixed header: identical bytes for identical input, anywhere. Input without a hex run of
 * HEX_RUN_MIN bytes is fflate's level 9 (the bytes it always had); with one, see the header.
 */
export function gzipDeterministic(data: Uint8Array): Uint8Array {
  const runs = hexRuns(data);
  if (runs.length === 0) return gzipSync(data, { level: 9, mtime: 0 });
  // fflate's level-9 header: mtime 0, XFL 2 (best compression), OS 3 (Unix).
  const parts: Uint8Array[] = [new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])];
  // Everything up to the end of the last run in Huffman-only blocks (between runs: the tar and
  // JSON around a list's keys, and a list's expiries), each piece with a code of its own.
  let at = 0;
  for (let r = 0; r < runs.length; r += 2) {
    const s = runs[r]!, e = runs[r + 1]!;
    if (s > at) parts.push(huffmanBlocks(data.subarray(at, s), false));
    parts.push(huffmanBlocks(data.subarray(s, e), e === data.length));
    at = e;
  }
  // The rest (the other files: policy.wasm, the plan) by fflate, as a stream of its own that
  // ends the member: its matches reach back into its own bytes only, as they must (fflate's
  // streaming flush to a byte boundary miswrites its stored block in 0.8.3, so nothing LZ-coded
  // comes before a Huffman-only piece).
  if (at < data.length) parts.push(deflateSync(data.subarray(at), { level: 9 }));
  const trailer = new Uint8Array(8);
  const dv = new DataView(trailer.buffer);
  dv.setUint32(0, crc32(data), true);
  dv.setUint32(4, data.length >>> 0, true);
  parts.push(trailer);
  return Buffer.concat(parts);
}

/** Runs of lowercase hex digits at least this long are Huffman-coded (50,000 digests: 800 KB). */
export const HEX_RUN_MIN = 1 << 16;
/** Every PROBE-th byte is looked at first: a run of HEX_RUN_MIN bytes covers one or more probes. */
const PROBE = HEX_RUN_MIN >>> 1;

const IS_HEX = new Uint8Array(256);
for (const c of "0123456789abcdef") IS_HEX[c.charCodeAt(0)] = 1;
// Two bytes at a time (a 16-bit half of a word, in either byte order: both bytes must be digits).
const IS_HEX2 = new Uint8Array(65536);
for (let v = 0; v < 65536; v++) IS_HEX2[v] = IS_HEX[v & 255]! & IS_HEX[v >>> 8]!;

/**
 * [start, end, ...] of the maximal runs of lowercase hex digits at least HEX_RUN_MIN long. Found
 * from the probes (bytes PROBE - 1, 2 * PROBE - 1, ...) that are digits, each extended both
 * ways: bytes outside the runs cost one look per PROBE bytes, a run one pass (four bytes a step).
 */
export function hexRuns(data: Uint8Array): number[] {
  const runs: number[] = [];
  const n = data.length;
  let lo = 0; // bytes before lo are scanned
  for (let p = PROBE - 1; p < n; p += PROBE) {
    if (p < lo || IS_HEX[data[p]!] === 0) continue;
    let s = p;
    while (s > lo && IS_HEX[data[s - 1]!] === 1) s--;
    const e = hexEnd(data, p);
    if (e - s >= HEX_RUN_MIN) runs.push(s, e);
    lo = e;
  }
  return runs;
}

/** The end of the run of hex digits that starts at `i`. */
function hexEnd(data: Uint8Array, i: number): number {
  const n = data.length;
  for (; i < n && (data.byteOffset + i) % 4 !== 0; i++) if (IS_HEX[data[i]!] === 0) return i;
  if (i === n) return n; // (a view may not start at an offset that is not 4-aligned, even empty)
  const words = new Uint32Array(data.buffer, data.byteOffset + i, (n - i) >>> 2);
  let k = 0;
  while (k < words.length) {
    const w = words[k]!;
    if (IS_HEX2[w & 0xffff] === 0 || IS_HEX2[w >>> 16] === 0) break;
    k++;
  }
  for (i += 4 * k; i < n; i++) if (IS_HEX[data[i]!] === 0) return i;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Huffman-only deflate (RFC 1951 dynamic blocks with literals only).
// ---------------------------------------------------------------------------------------------

/** Input bytes per block: each block has a code of its own (about 40 bytes of header for hex). */
const HUFF_BLOCK = 1 << 20;
// The order code length code lengths are written in (RFC 1951 3.2.7).
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * Huffman code lengths for `freq` of at most `limit` bits, complete when two or more symbols
 * occur. Ties broken by symbol, so the lengths depend on the counts alone. Past the limit the
 * counts are halved (rounding up, a count stays at least 1) until the code fits: all counts
 * equal give a balanced code of ceil(log2 n) bits, within every limit used here.
 */
export function huffmanLengths(freq: ArrayLike<number>, limit: number): Uint8Array {
  const n = freq.length;
  const lens = new Uint8Array(n);
  const f = Array.from(freq);
  const syms: number[] = [];
  for (let i = 0; i < n; i++) if (f[i]! > 0) syms.push(i);
  if (syms.length === 0) return lens;
  if (syms.length === 1) {
    lens[syms[0]!] = 1;
    return lens;
  }
  for (;;) {
    syms.sort((a, b) => f[a]! - f[b]! || a - b);
    // Two queues: the leaves by weight, and the internal nodes, made in order of weight.
    const m = syms.length;
    const weight = new Float64Array(2 * m - 1);
    const parent = new Int32Array(2 * m - 1);
    for (let i = 0; i < m; i++) weight[i] = f[syms[i]!]!;
    let leaf = 0, node = m;
    for (let made = m; made < 2 * m - 1; made++) {
      const pick = (): number => (leaf < m && (node >= made || weight[leaf]! <= weight[node]!) ? leaf++ : node++);
      const a = pick(), b = pick();
      weight[made] = weight[a]! + weight[b]!;
      parent[a] = made;
      parent[b] = made;
    }
    const depth = new Uint8Array(2 * m - 1);
    let max = 0;
    for (let i = 2 * m - 3; i >= 0; i--) {
      depth[i] = depth[parent[i]!]! + 1;
      if (i < m && depth[i]! > max) max = depth[i]!;
    }
    if (max <= limit) {
      for (let i = 0; i < m; i++) lens[syms[i]!] = depth[i]!;
      return lens;
    }
    for (const s of syms) f[s] = (f[s]! + 1) >>> 1;
  }
}

/** Canonical codes (RFC 1951 3.2.2) for `lens`, bit-reversed: deflate writes a code's first bit first. */
function canonicalCodes(lens: Uint8Array): Uint16Array {
  const count = new Uint16Array(16);
  for (const l of lens) count[l]!++;
  count[0] = 0;
  const next = new Uint16Array(16);
  for (let b = 1, code = 0; b < 16; b++) {
    code = (code + count[b - 1]!) << 1;
    next[b] = code;
  }
  const codes = new Uint16Array(lens.length);
  for (let s = 0; s < lens.length; s++) {
    const l = lens[s]!;
    if (l === 0) continue;
    let c = next[l]!++, r = 0;
    for (let i = 0; i < l; i++, c >>>= 1) r = (r << 1) | (c & 1);
    codes[s] = r;
  }
  return codes;
}

/** Run-length coded code lengths (symbols 0-18, with 16/17/18's extra bits as value << 5). */
function rleLengths(lens: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < lens.length; ) {
    const v = lens[i]!;
    let run = 1;
    while (i + run < lens.length && lens[i + run] === v) run++;
    i += run;
    if (v === 0) {
      while (run >= 11) {
        const k = Math.min(run, 138);
        out.push(18 | ((k - 11) << 5));
        run -= k;
      }
      if (run >= 3) {
        out.push(17 | ((run - 3) << 5));
        run = 0;
      }
    } else {
      out.push(v);
      run--;
      while (run >= 3) {
        const k = Math.min(run, 6);
        out.push(16 | ((k - 3) << 5));
        run -= k;
      }
    }
    for (; run > 0; run--) out.push(v);
  }
  return out;
}

const EXTRA_BITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
// No matches, so no distance is ever written; two codes of one bit make a complete distance
// code, which every inflater accepts (zlib's own encoder does the same).
const DIST_LENS = new Uint8Array([1, 1]);

/** One block's code: the header's bits as (value, width) pairs, and per byte (code | length << 16). */
interface BlockCode {
  header: number[];
  table: Int32Array;
  bits: number;
}

/** Byte counts of bytes [s, e): four bytes a step where they are 4-aligned (in any byte order). */
function histogram(bytes: Uint8Array, s: number, e: number): Float64Array {
  const c = new Uint32Array(1024);
  let i = s;
  for (; i < e && (bytes.byteOffset + i) % 4 !== 0; i++) c[bytes[i]!]!++;
  const words = (e - i) >>> 2;
  const w = words === 0 ? new Uint32Array(0) : new Uint32Array(bytes.buffer, bytes.byteOffset + i, words);
  for (let k = 0; k < words; k++) {
    const x = w[k]!;
    c[x & 255]!++;
    c[256 + ((x >>> 8) & 255)]!++;
    c[512 + ((x >>> 16) & 255)]!++;
    c[768 + (x >>> 24)]!++;
  }
  for (i += 4 * words; i < e; i++) c[bytes[i]!]!++;
  const freq = new Float64Array(257);
  for (let b = 0; b < 256; b++) freq[b] = c[b]! + c[256 + b]! + c[512 + b]! + c[768 + b]!;
  return freq;
}

function blockCode(bytes: Uint8Array, s: number, e: number): BlockCode {
  const freq = histogram(bytes, s, e);
  freq[256] = 1; // end of block
  const lit = huffmanLengths(freq, 15);
  const litCodes = canonicalCodes(lit);
  const rle = [...rleLengths(lit), ...rleLengths(DIST_LENS)];
  const clFreq = new Float64Array(19);
  for (const x of rle) clFreq[x & 31]!++;
  const cl = huffmanLengths(clFreq, 7);
  const clCodes = canonicalCodes(cl);
  let hclen = 19;
  while (hclen > 4 && cl[CL_ORDER[hclen - 1]!] === 0) hclen--;
  const header: number[] = [2, 2, 0, 5, DIST_LENS.length - 1, 5, hclen - 4, 4]; // BTYPE 10, HLIT 257, HDIST, HCLEN
  for (let i = 0; i < hclen; i++) header.push(cl[CL_ORDER[i]!]!, 3);
  for (const x of rle) {
    const sym = x & 31;
    header.push(clCodes[sym]!, cl[sym]!);
    if (EXTRA_BITS[sym]! > 0) header.push(x >>> 5, EXTRA_BITS[sym]!);
  }
  header.push(litCodes[256]!, lit[256]!); // written after the data: end of block
  const table = new Int32Array(256);
  let bits = 1; // BFINAL
  for (let i = 0; i < header.length; i += 2) bits += header[i + 1]!;
  for (let b = 0; b < 256; b++) {
    table[b] = litCodes[b]! | (lit[b]! << 16);
    bits += freq[b]! * lit[b]!;
  }
  return { header, table, bits };
}

/**
 * `bytes` as Huffman-only deflate blocks. `final`: the last one ends the stream; otherwise an
 * empty stored block follows, which ends the output on a byte boundary for what comes next.
 */
export function huffmanBlocks(bytes: Uint8Array, final: boolean): Uint8Array {
  const codes: BlockCode[] = [];
  let bits = 0;
  for (let s = 0; s < bytes.length; s += HUFF_BLOCK) {
    const c = blockCode(bytes, s, Math.min(bytes.length, s + HUFF_BLOCK));
    codes.push(c);
    bits += c.bits;
  }
  const out = new Uint8Array(Math.ceil(bits / 8) + 8);
  // The bit writer in locals (a closure over them would keep them in a heap context, 2x slower
  // in the byte loop): acc holds n pending bits, n < 8 between fields, < 16 in the byte loop.
  let o = 0, acc = 0, n = 0;
  const fields = (f: number[], from: number, to: number): void => {
    for (let i = from; i < to; i += 2) {
      acc |= f[i]! << n;
      n += f[i + 1]!;
      while (n >= 8) {
        out[o++] = acc & 255;
        acc >>>= 8;
        n -= 8;
      }
    }
  };
  for (let k = 0; k < codes.length; k++) {
    const { header, table } = codes[k]!;
    fields([final && k === codes.length - 1 ? 1 : 0, 1], 0, 2);
    fields(header, 0, header.length - 2);
    const end = Math.min(bytes.length, (k + 1) * HUFF_BLOCK);
    let a = acc, m = n, p = o;
    for (let i = k * HUFF_BLOCK; i < end; i++) {
      const t = table[bytes[i]!]!;
      a |= (t & 0xffff) << m;
      m += t >>> 16;
      if (m >= 16) {
        out[p++] = a & 255;
        out[p++] = (a >>> 8) & 255;
        a >>>= 16;
        m -= 16;
      }
    }
    acc = a, n = m, o = p;
    fields(header, header.length - 2, header.length); // end of block (flushes to n < 8)
  }
  // Not final: an empty stored block (BFINAL 0, BTYPE 00, to the byte boundary, LEN 0, NLEN
  // 0xffff) ends the output on a byte boundary for the stream after it.
  if (!final) fields([0, 3], 0, 2);
  if (n > 0) fields([0, 8 - n], 0, 2);
  if (!final) fields([0, 16, 0xffff, 16], 0, 4);
  return out.subarray(0, o);
}

// CRC-32 (the gzip trailer): node:zlib's where it has one (Node 20.15+), the same sum otherwise.
const CRC_TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[i] = c;
}
const nativeCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
export function crc32(data: Uint8Array): number {
  if (nativeCrc !== undefined) return nativeCrc(data) >>> 0;
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 255]! ^ (c >>> 8);
  return ~c >>> 0;
}

const compareBytes = (a: string, b: string): number => Buffer.compare(utf8.encode(a), utf8.encode(b));

function writeOctal(h: Uint8Array, off: number, width: number, value: number): void {
  // width includes the trailing NUL
  const digits = value.toString(8).padStart(width - 1, "0");
  if (digits.length > width - 1) throw new RangeError(`value ${value} does not fit a ${width}-byte tar field`);
  for (let i = 0; i < digits.length; i++) h[off + i] = digits.charCodeAt(i);
  h[off + width - 1] = 0;
}

function header(nameField: Uint8Array, prefixField: Uint8Array, size: number, type: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  h.set(nameField, 0);
  writeOctal(h, 100, 8, 0o644);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, 0);
  h[156] = type;
  h.set(utf8.encode("ustar\u000000"), 257);
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  h.set(prefixField, 345);
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

/** Writes an uncompressed ustar archive. Names must pass the reader's `checkEntryName` (rooted). */
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
