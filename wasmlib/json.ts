// Strict RFC 8259 JSON parser into tagged values, and the JSON dumper.
// Strings without escapes and number texts point into the source buffer (zero copy): the SDK
// keeps that buffer alive below the heap pointer for as long as the parsed value is used.
import { alloc, ensureMem, heapPtr, memEnd, setHeap } from "./mem";
import { decimalToF64 } from "./decimal";
import {
  T_NULL, T_BOOL, T_NUM, T_STR, T_ARR, T_OBJ, HASH_MIN, V_NULL, V_TRUE, V_FALSE,
  keyHash, bytesEq,
} from "./value";

// SWAR byte masks (string scans in the parser and the dumper).
const LO7: u64 = 0x0101010101010101;
const HI1: u64 = 0x8080808080808080;

// Deeper nesting is rejected (returns 0) instead of overflowing the Wasm stack.
export const MAX_DEPTH: i32 = 512;

let P: usize = 0; // cursor
let E: usize = 0; // end of input
let depth: i32 = 0;
// False once the innermost object being parsed has met text that dumpValue would not write back
// byte for byte: whitespace, a \/ or \u escape, a duplicate key (see parseObj's source span).
let clean = true;
// Result of parseStrRaw.
let sPtr: usize = 0;
let sLen: u32 = 0;

// Scratch stack of u32 words for the members of the arrays and objects being parsed (a value
// address per element; key length, key address and value address per member), so a container
// is allocated once, at its final size, after its members: nothing is allocated for a member
// that does not stay (a linked list cell per member was a third of a large plan's memory).
// It starts in a static region of SCRATCH_WORDS words (a 10,000-node plan's node list fits),
// and is moved to an arena region twice the size when full: an arena stack is garbage once the
// parse is done, and the regions it grew through were 130 KB of a 10,000-node load's memory.
const SCRATCH_WORDS: u32 = 16384;
// Reserved at start-up below the heap base (a static memory.data region would be 64 KB of zeros
// in every policy.wasm).
let SCRATCH: usize = 0;
export function initScratch(): void {
  SCRATCH = alloc(<usize>SCRATCH_WORDS << 2);
}
let S0: usize = 0; // base
let SN: u32 = 0; // words in use
let SCAP: u32 = 0; // capacity in words

// @ts-ignore: decorator
@inline function spush(x: u32): void {
  if (SN == SCAP) sgrow();
  store<u32>(S0 + (<usize>SN << 2), x);
  SN++;
}

function sgrow(): void {
  let cap = SCAP << 1;
  let nb = alloc(<usize>cap << 2);
  if (SN > 0) memory.copy(nb, S0, <usize>SN << 2);
  S0 = nb;
  SCAP = cap;
}

/** Parses len bytes at addr; 0 when they are not exactly one valid JSON text. */
export function parseJSON(addr: usize, n: usize): usize {
  P = addr;
  E = addr + n;
  depth = 0;
  S0 = SCRATCH;
  SN = 0;
  SCAP = SCRATCH_WORDS;
  if (++NGEN == 0) {
    memory.fill(NCACHE, 0, NCACHE_N * 8);
    NGEN = 1;
  }
  skipWs();
  let v = parseValue();
  if (v == 0) return 0;
  skipWs();
  return P == E ? v : 0;
}

// @ts-ignore: decorator
@inline function skipWs(): void {
  while (P < E) {
    let c = load<u8>(P);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) return;
    clean = false;
    P++;
  }
}

function lit(w: u32, n: usize, v: usize): usize {
  // w: the literal's bytes little-endian (4 bytes compared, plus 'e' for "false").
  if (P + n > E) return 0;
  if (load<u32>(P) != w) return 0;
  if (n == 5 && load<u8>(P + 4) != 0x65) return 0;
  P += n;
  return v;
}

function parseValue(): usize {
  if (P >= E) return 0;
  let c = load<u8>(P);
  if (c == 0x22) {
    if (!parseStrRaw()) return 0;
    let v = alloc(12);
    store<u32>(v, T_STR);
    store<u32>(v, sLen, 4);
    store<u32>(v, sPtr, 8);
    return v;
  }
  if (c == 0x7b) return parseObj();
  if (c == 0x5b) return parseArr();
  if (c == 0x74) return lit(0x65757274, 4, V_TRUE); // "true"
  if (c == 0x66) return lit(0x736c6166, 5, V_FALSE); // "fals" + "e"
  if (c == 0x6e) return lit(0x6c6c756e, 4, V_NULL); // "null"
  if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return parseNum();
  return 0;
}

function parseArr(): usize {
  if (++depth > MAX_DEPTH) return 0;
  P++;
  skipWs();
  // Elements go to the scratch stack (nested values are allocated in between); the array is
  // built at the end.
  let base = SN;
  if (P < E && load<u8>(P) == 0x5d) {
    P++;
  } else {
    while (true) {
      let v = parseValue();
      if (v == 0) return 0;
      spush(<u32>v);
      skipWs();
      if (P >= E) return 0;
      let c = load<u8>(P);
      P++;
      if (c == 0x2c) { skipWs(); continue; }
      if (c == 0x5d) break;
      return 0;
    }
  }
  depth--;
  let n = SN - base;
  let a = alloc(12 + (<usize>n << 2));
  store<u32>(a, T_ARR);
  store<u32>(a, n, 4);
  store<u32>(a, a + 12, 8);
  if (n > 0) memory.copy(a + 12, S0 + (<usize>base << 2), <usize>n << 2);
  SN = base;
  return a;
}

function parseObj(): usize {
  if (++depth > MAX_DEPTH) return 0;
  let src = P;
  let outer = clean;
  clean = true;
  P++;
  skipWs();
  // Members go to the scratch stack as [keyLen, keyPtr, value] first (see parseArr).
  let base = SN;
  if (P < E && load<u8>(P) == 0x7d) {
    P++;
  } else {
    while (true) {
      if (P >= E || load<u8>(P) != 0x22) return 0;
      if (!parseStrRaw()) return 0;
      let kp = sPtr, kl = sLen;
      skipWs();
      if (P >= E || load<u8>(P) != 0x3a) return 0;
      P++;
      skipWs();
      let v = parseValue();
      if (v == 0) return 0;
      spush(kl);
      spush(<u32>kp);
      spush(<u32>v);
      skipWs();
      if (P >= E) return 0;
      let c = load<u8>(P);
      P++;
      if (c == 0x2c) { skipWs(); continue; }
      if (c == 0x7d) break;
      return 0;
    }
  }
  depth--;
  let n: u32 = (SN - base) / 3;
  SN = base;
  // The members stay in the stack's words above SN while the object is built below (only
  // spush moves or overwrites them).
  // Parsed objects carry their source span (value.ts): when the text is exactly what dumpValue
  // would write (compact, no duplicate keys, only escapes dumpStr writes the same way), a dump
  // of the object is one copy. The text stays where the host put it, below the values.
  let o = alloc(32 + (<usize>n << 4));
  let entries = o + 32;
  store<u32>(o, T_OBJ);
  store<u32>(o, entries, 8);
  store<u32>(o, 0, 12);
  store<u32>(o, 0, 16);
  store<u32>(o, src, 24);
  store<u32>(o, 0, 28); // engine.ts slot table (plan objects only)
  let m: u32 = 0; // distinct keys so far
  if (n <= HASH_MIN) {
    // Duplicate keys: the last value wins, kept at the first key's position (JSON.parse).
    for (let j: u32 = 0; j < n; j++) {
      let node = S0 + (<usize>(base + j * 3) << 2);
      let kl = load<u32>(node), kp = <usize>load<u32>(node, 4), v = load<u32>(node, 8);
      let e = entries, end = entries + (<usize>m << 4);
      let dup = false;
      while (e < end) {
        if (load<u32>(e) == kl && bytesEq(load<u32>(e, 4), kp, kl)) { store<u32>(e, v, 8); dup = true; clean = false; break; }
        e += 16;
      }
      if (!dup) {
        store<u32>(end, kl);
        store<u32>(end, kp, 4);
        store<u32>(end, v, 8);
        store<u32>(end, 0, 12);
        m++;
      }
    }
    store<u32>(o, m, 4);
    return endObj(o, src, outer);
  }
  // Large object: hash-index it now (lookups during evaluation must not allocate an index,
  // the SDK discards everything above the data heap pointer after each evaluation).
  let cap: u32 = 16;
  while (cap < n * 2) cap <<= 1;
  let mask = cap - 1;
  let table = alloc(<usize>cap << 2);
  memory.fill(table, 0, <usize>cap << 2);
  for (let j: u32 = 0; j < n; j++) {
    let node = S0 + (<usize>(base + j * 3) << 2);
    let kl = load<u32>(node), kp = <usize>load<u32>(node, 4), v = load<u32>(node, 8);
    let h = keyHash(kp, kl);
    let i = h & mask;
    while (true) {
      let slotAddr = table + (<usize>i << 2);
      let slot = load<u32>(slotAddr);
      if (slot == 0) {
        let e = entries + (<usize>m << 4);
        store<u32>(e, kl);
        store<u32>(e, kp, 4);
        store<u32>(e, v, 8);
        store<u32>(e, h, 12);
        m++;
        store<u32>(slotAddr, m);
        break;
      }
      let e = entries + (<usize>(slot - 1) << 4);
      if (load<u32>(e, 12) == h && load<u32>(e) == kl && bytesEq(load<u32>(e, 4), kp, kl)) {
        store<u32>(e, v, 8);
        clean = false;
        break;
      }
      i = (i + 1) & mask;
    }
  }
  store<u32>(o, m, 4);
  store<u32>(o, table, 12);
  store<u32>(o, mask, 16);
  return endObj(o, src, outer);
}

/** Records the span [src, P) when the object's text is canonical; the parent inherits dirt. */
// @ts-ignore: decorator
@inline function endObj(o: usize, src: usize, outer: bool): usize {
  store<u32>(o, clean ? <u32>(P - src) : 0, 20);
  clean = outer && clean;
  return o;
}

// @ts-ignore: decorator
@inline function isCont(c: u32): bool { return (c & 0xc0) == 0x80; }

/** Validates one UTF-8 sequence starting with lead byte c >= 0x80 at P; advances P. */
function utf8Seq(c: u32): bool {
  let p = P;
  if (c >= 0xc2 && c <= 0xdf) {
    if (p + 2 > E || !isCont(load<u8>(p + 1))) return false;
    P = p + 2;
    return true;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (p + 3 > E) return false;
    let c1 = <u32>load<u8>(p + 1);
    let lo: u32 = c == 0xe0 ? 0xa0 : 0x80;
    let hi: u32 = c == 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
    if (c1 < lo || c1 > hi || !isCont(load<u8>(p + 2))) return false;
    P = p + 3;
    return true;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (p + 4 > E) return false;
    let c1 = <u32>load<u8>(p + 1);
    let lo: u32 = c == 0xf0 ? 0x90 : 0x80;
    let hi: u32 = c == 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi || !isCont(load<u8>(p + 2)) || !isCont(load<u8>(p + 3))) return false;
    P = p + 4;
    return true;
  }
  return false;
}

function hex4(p: usize): i32 {
  let r: i32 = 0;
  for (let i: usize = 0; i < 4; i++) {
    let c = <i32>load<u8>(p + i);
    let d: i32;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return -1;
    r = (r << 4) | d;
  }
  return r;
}

/**
 * Parses the string at P (on its opening quote) into (sPtr, sLen): the source bytes when there
 * are no escapes, otherwise a decoded copy. Lone surrogate escapes are kept as WTF-8 (3 bytes,
 * ED A0..BF xx), which the dumper turns back into \u escapes, as JSON.parse/stringify do.
 */
function parseStrRaw(): bool {
  let start = ++P;
  let esc = false;
  while (true) {
    // Skip plain ASCII 8 bytes at a time (only while 8 bytes remain: the text may end at the
    // end of linear memory); stop on the lowest byte that is '"', '\\', < 0x20 or >= 0x80.
    while (P + 8 <= E) {
      let x = load<u64>(P);
      let q = x ^ 0x2222222222222222, b = x ^ 0x5c5c5c5c5c5c5c5c;
      let m = (((x - 0x2020202020202020) & ~x) | ((q - LO7) & ~q) | ((b - LO7) & ~b) | x) & HI1;
      if (m != 0) { P += <usize>(ctz(m) >> 3); break; }
      P += 8;
    }
    if (P >= E) return false;
    let c = <u32>load<u8>(P);
    if (c == 0x22) break;
    if (c < 0x20) return false;
    if (c == 0x5c) {
      esc = true;
      P += 2;
      continue;
    }
    if (c < 0x80) { P++; continue; }
    if (!utf8Seq(c)) return false;
  }
  let end = P;
  if (end > E) return false;
  P++; // closing quote
  if (!esc) {
    sPtr = start;
    sLen = <u32>(end - start);
    return true;
  }
  // Decoded text is never longer than its escaped source.
  let out = alloc(end - start);
  let w = out;
  let p = start;
  while (p < end) {
    let c = <u32>load<u8>(p);
    if (c != 0x5c) { store<u8>(w++, <u8>c); p++; continue; }
    if (p + 1 >= end) return false;
    let e = <u32>load<u8>(p + 1);
    p += 2;
    let ch: u32 = 0;
    switch (e) {
      case 0x22: ch = 0x22; break;
      case 0x5c: ch = 0x5c; break;
      case 0x2f: ch = 0x2f; clean = false; break;
      case 0x62: ch = 0x08; break;
      case 0x66: ch = 0x0c; break;
      case 0x6e: ch = 0x0a; break;
      case 0x72: ch = 0x0d; break;
      case 0x74: ch = 0x09; break;
      case 0x75: {
        clean = false;
        if (p + 4 > end) return false;
        let u = hex4(p);
        if (u < 0) return false;
        p += 4;
        ch = <u32>u;
        // A high surrogate followed by an escaped low surrogate forms one code point.
        if (ch >= 0xd800 && ch <= 0xdbff && p + 6 <= end && load<u8>(p) == 0x5c && load<u8>(p + 1) == 0x75) {
          let lo = hex4(p + 2);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            ch = 0x10000 + ((ch - 0xd800) << 10) + (<u32>lo - 0xdc00);
            p += 6;
          }
        }
        break;
      }
      default: return false;
    }
    w = putUtf8(w, ch);
  }
  sPtr = out;
  sLen = <u32>(w - out);
  return true;
}

function putUtf8(w: usize, ch: u32): usize {
  if (ch < 0x80) { store<u8>(w, <u8>ch); return w + 1; }
  if (ch < 0x800) {
    store<u8>(w, <u8>(0xc0 | (ch >> 6)));
    store<u8>(w + 1, <u8>(0x80 | (ch & 0x3f)));
    return w + 2;
  }
  if (ch < 0x10000) {
    store<u8>(w, <u8>(0xe0 | (ch >> 12)));
    store<u8>(w + 1, <u8>(0x80 | ((ch >> 6) & 0x3f)));
    store<u8>(w + 2, <u8>(0x80 | (ch & 0x3f)));
    return w + 3;
  }
  store<u8>(w, <u8>(0xf0 | (ch >> 18)));
  store<u8>(w + 1, <u8>(0x80 | ((ch >> 12) & 0x3f)));
  store<u8>(w + 2, <u8>(0x80 | ((ch >> 6) & 0x3f)));
  store<u8>(w + 3, <u8>(0x80 | (ch & 0x3f)));
  return w + 4;
}

// Exact powers of ten (Clinger's fast path covers mantissas < 2^53 with |exp| <= 22).
const POW10: usize = memory.data<f64>([
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
], 8);

// Small non-negative integers written plainly (`0`, `154`; no sign, fraction or exponent) are
// one value per parse: a plan repeats its priorities, basis points and indices thousands of
// times (24 bytes each). [generation, value] by integer; a value is never modified, and its
// text is the same for every occurrence.
const NCACHE_N: u32 = 1024;
const NCACHE: usize = memory.data(1024 * 8, 8);
let NGEN: u32 = 0;

function parseNum(): usize {
  let start = P;
  let neg = false;
  if (load<u8>(P) == 0x2d) { neg = true; P++; }
  if (P >= E) return 0;
  let mant: u64 = 0;
  let digits: i32 = 0; // significant digits accumulated in mant
  let exp10: i32 = 0;
  let c = <u32>load<u8>(P);
  if (c == 0x30) {
    P++;
  } else if (c >= 0x31 && c <= 0x39) {
    while (P < E) {
      c = <u32>load<u8>(P);
      if (c < 0x30 || c > 0x39) break;
      if (digits < 19) { mant = mant * 10 + <u64>(c - 0x30); digits++; } else exp10++;
      P++;
    }
  } else return 0;
  if (P < E && load<u8>(P) == 0x2e) {
    P++;
    let fs = P;
    while (P < E) {
      c = <u32>load<u8>(P);
      if (c < 0x30 || c > 0x39) break;
      if (mant == 0 && c == 0x30) { exp10--; }
      else if (digits < 19) { mant = mant * 10 + <u64>(c - 0x30); digits++; exp10--; }
      P++;
    }
    if (P == fs) return 0;
  }
  if (P < E && (load<u8>(P) | 0x20) == 0x65) {
    P++;
    let eneg = false;
    if (P < E && (load<u8>(P) == 0x2b || load<u8>(P) == 0x2d)) { eneg = load<u8>(P) == 0x2d; P++; }
    let es = P;
    let ev: i32 = 0;
    while (P < E) {
      c = <u32>load<u8>(P);
      if (c < 0x30 || c > 0x39) break;
      if (ev < 100000) ev = ev * 10 + <i32>(c - 0x30);
      P++;
    }
    if (P == es) return 0;
    exp10 += eneg ? -ev : ev;
  }
  let x: f64;
  if (mant == 0) {
    x = 0;
  } else if (mant <= (<u64>1 << 53) && exp10 >= -22 && exp10 <= 22) {
    x = <f64>mant;
    if (exp10 >= 0) x *= load<f64>(POW10 + (<usize>exp10 << 3));
    else x /= load<f64>(POW10 + (<usize>(-exp10) << 3));
  } else {
    x = decimalToF64(mant, exp10);
  }
  if (neg) x = -x;
  // Plain: every character a digit counted in mant ("0" counts none).
  let plain = <usize>digits == P - start || (P - start == 1 && mant == 0);
  let small = !neg && exp10 == 0 && plain && mant < <u64>NCACHE_N;
  let slot: usize = small ? NCACHE + (<usize>mant << 3) : 0;
  if (small && load<u32>(slot) == NGEN) return load<u32>(slot, 4);
  let v = alloc(24);
  store<u32>(v, T_NUM);
  store<u32>(v, <u32>(P - start), 4);
  store<u32>(v, start, 8);
  store<f64>(v, x, 16);
  if (small) {
    store<u32>(slot, NGEN);
    store<u32>(slot, <u32>v, 4);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Dump. Writes at the top of the heap and grows memory as it goes; no allocation meanwhile.
// Every writer reserves its worst case once and then stores without bounds checks; strings are
// copied 8 bytes at a time (a store may run up to 8 bytes past the text: reserves include that
// slack, and the next write overwrites it).

let W: usize = 0;
// [.., WL) is known to be inside linear memory (a cached ensureMem bound, so a reserve that fits
// is one compare).
let WL: usize = 0;

// @ts-ignore: decorator
@inline function reserve(n: usize): void {
  if (W + n > WL) growOut(W + n);
}

function growOut(end: usize): void {
  ensureMem(end);
  // All of memory as ensureMem left it, not just `end`: with `end` every later reserve
  // missed (W only grows) and made two calls per byte or number written.
  WL = memEnd;
}

// @ts-ignore: decorator
@inline function put(c: u32): void { reserve(1); store<u8>(W++, <u8>c); }

export function putBytes(p: usize, n: usize): void {
  reserve(n);
  memory.copy(W, p, n);
  W += n;
}

/** Starts a dump at the current heap top; returns its address. */
export function dumpBegin(): usize {
  W = heapPtr;
  WL = W; // memory may have been grown or the heap moved: re-establish the bound lazily
  return W;
}

/** NUL-terminates the dump and moves the heap past it. */
export function dumpEnd(): void {
  put(0);
  setHeap(W);
}

export function dumpRaw(p: usize, n: usize): void { putBytes(p, n); }

const HEX: usize = memory.data<u8>([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

// @ts-ignore: decorator
@inline function u16Esc(w: usize, u: u32): usize {
  store<u16>(w, 0x755c); // "\u"
  store<u8>(w + 2, load<u8>(HEX + ((u >> 12) & 15)));
  store<u8>(w + 3, load<u8>(HEX + ((u >> 8) & 15)));
  store<u8>(w + 4, load<u8>(HEX + ((u >> 4) & 15)));
  store<u8>(w + 5, load<u8>(HEX + (u & 15)));
  return w + 6;
}


/**
 * Bit 7 of each byte of x that needs attention in a string: < 0x20, '"', '\\', or 0xED (maybe a
 * WTF-8 lone surrogate). Exact up to and including the lowest flagged byte (borrows only move
 * upwards), which is all the caller uses.
 */
// @ts-ignore: decorator
@inline function special(x: u64): u64 {
  let q = x ^ 0x2222222222222222, b = x ^ 0x5c5c5c5c5c5c5c5c, e = x ^ 0xedededededededed;
  return (((x - 0x2020202020202020) & ~x)
    | ((q - LO7) & ~q)
    | ((b - LO7) & ~b)
    | ((e - LO7) & ~e)) & HI1;
}

// Short escapes by control byte (0: none, use \u00XX): \b \t \n \f \r.
const SHORT_ESC: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0x62, 0x74, 0x6e, 0, 0x66, 0x72, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
]);

export function dumpStr(p: usize, n: u32): void {
  // Worst case: every byte becomes \u00XX; plus quotes and the 8-byte store slack.
  reserve(<usize>n * 6 + 10);
  let w = W;
  store<u8>(w++, 0x22);
  let end = p + <usize>n;
  while (p < end) {
    // Reading up to 7 bytes past the text is safe: it lies below the heap top, where W is.
    let x = load<u64>(p);
    store<u64>(w, x);
    let m = special(x);
    let r = end - p;
    if (r < 8) m &= (<u64>1 << (<u64>r << 3)) - 1;
    if (m == 0) {
      let k = r < 8 ? r : 8;
      p += k;
      w += k;
      continue;
    }
    let k = <usize>(ctz(m) >> 3);
    p += k;
    w += k;
    let c = <u32>load<u8>(p);
    if (c == 0xed) {
      // WTF-8 lone surrogate (only from \u escapes): write it back as an escape. ED below A0
      // is an ordinary code point (U+D000..U+D7FF).
      if (p + 1 < end && load<u8>(p + 1) >= 0xa0 && p + 3 <= end) {
        let u = ((c & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f);
        w = u16Esc(w, u);
        p += 3;
      } else {
        store<u8>(w++, <u8>c);
        p++;
      }
      continue;
    }
    if (c == 0x22 || c == 0x5c) {
      store<u16>(w, <u16>(0x5c | (c << 8)));
      w += 2;
    } else {
      let s = <u32>load<u8>(SHORT_ESC + c);
      if (s != 0) { store<u16>(w, <u16>(0x5c | (s << 8))); w += 2; }
      else w = u16Esc(w, c);
    }
    p++;
  }
  store<u8>(w++, 0x22);
  W = w;
}

const DIGITS: usize = memory.data(32);
// "00", "01", ... "99".
const PAIRS: usize = memory.data<u8>([48, 48, 48, 49, 48, 50, 48, 51, 48, 52, 48, 53, 48, 54, 48, 55, 48, 56, 48, 57, 49, 48, 49, 49, 49, 50, 49, 51, 49, 52, 49, 53, 49, 54, 49, 55, 49, 56, 49, 57, 50, 48, 50, 49, 50, 50, 50, 51, 50, 52, 50, 53, 50, 54, 50, 55, 50, 56, 50, 57, 51, 48, 51, 49, 51, 50, 51, 51, 51, 52, 51, 53, 51, 54, 51, 55, 51, 56, 51, 57, 52, 48, 52, 49, 52, 50, 52, 51, 52, 52, 52, 53, 52, 54, 52, 55, 52, 56, 52, 57, 53, 48, 53, 49, 53, 50, 53, 51, 53, 52, 53, 53, 53, 54, 53, 55, 53, 56, 53, 57, 54, 48, 54, 49, 54, 50, 54, 51, 54, 52, 54, 53, 54, 54, 54, 55, 54, 56, 54, 57, 55, 48, 55, 49, 55, 50, 55, 51, 55, 52, 55, 53, 55, 54, 55, 55, 55, 56, 55, 57, 56, 48, 56, 49, 56, 50, 56, 51, 56, 52, 56, 53, 56, 54, 56, 55, 56, 56, 56, 57, 57, 48, 57, 49, 57, 50, 57, 51, 57, 52, 57, 53, 57, 54, 57, 55, 57, 56, 57, 57], 2);

/** The decimal digits of y. */
// @ts-ignore: decorator
@inline function putU32(y: u32): void {
  // 32-bit division is several times cheaper (reason codes, counts, years), and the digits go
  // straight to the output, last first.
  let n: usize = y < 10 ? 1 : y < 100 ? 2 : y < 1000 ? 3 : y < 10000 ? 4 : y < 100000 ? 5
    : y < 1000000 ? 6 : y < 10000000 ? 7 : y < 100000000 ? 8 : y < 1000000000 ? 9 : 10;
  reserve(n);
  let w = W + n;
  W = w;
  // Two digits per division (a decision's reason codes are ~7 digits each).
  while (y >= 100) {
    let q = y / 100;
    w -= 2;
    store<u16>(w, load<u16>(PAIRS + (<usize>(y - q * 100) << 1)));
    y = q;
  }
  if (y >= 10) store<u16>(w - 2, load<u16>(PAIRS + (<usize>y << 1)));
  else store<u8>(w - 1, <u8>(0x30 + y));
}

function putU64(x: u64): void {
  let i: usize = 32;
  if (x <= 0xffffffff) {
    putU32(<u32>x);
    return;
  }
  do {
    store<u8>(DIGITS + --i, <u8>(0x30 + <u32>(x % 10)));
    x /= 10;
  } while (x != 0);
  putBytes(DIGITS + i, 32 - i);
}

/** Numbers computed at run time (no source text): integers exactly; others to 17 digits. */
function dumpF64(x: f64): void {
  if (!isFinite(x)) { putBytes(NULL_TXT, 4); return; }
  if (x < 0) { put(0x2d); x = -x; }
  if (x == Math.floor(x) && x < 1e21) { putU64(<u64>x); return; }
  let e: i32 = 0;
  let m = x;
  while (m >= 10) { m /= 10; e++; }
  while (m < 1) { m *= 10; e--; }
  let d = <i32>m;
  put(0x30 + <u32>d);
  put(0x2e);
  for (let i = 0; i < 16; i++) {
    m = (m - <f64>d) * 10;
    d = <i32>m;
    if (d > 9) d = 9;
    if (d < 0) d = 0;
    put(0x30 + <u32>d);
  }
  put(0x65);
  if (e < 0) { put(0x2d); e = -e; }
  putU64(<u64>e);
}

const NULL_TXT: usize = memory.data<u8>([110, 117, 108, 108]);
const NULL_W: u32 = 0x6c6c756e; // "null" little-endian
const TRUE_W: u32 = 0x65757274; // "true"
const FALS_W: u32 = 0x736c6166; // "fals" + "e"

/** Short texts (number source texts, mostly) by two 8-byte moves instead of memory.copy. */
// @ts-ignore: decorator
@inline function putShort(p: usize, n: usize): void {
  if (n > 16) { putBytes(p, n); return; }
  reserve(16);
  store<u64>(W, load<u64>(p));
  store<u64>(W, load<u64>(p, 8), 8);
  W += n;
}

export function dumpValue(v: usize): void {
  reserve(8);
  if (v == 0) { store<u32>(W, NULL_W); W += 4; return; }
  switch (load<u32>(v)) {
    case T_NULL: store<u32>(W, NULL_W); W += 4; return;
    case T_BOOL: {
      if (load<u32>(v, 4) != 0) { store<u32>(W, TRUE_W); W += 4; }
      else { store<u32>(W, FALS_W); store<u8>(W, 0x65, 4); W += 5; }
      return;
    }
    case T_NUM: {
      let tp = load<u32>(v, 8);
      if (tp != 0) putShort(tp, load<u32>(v, 4)); else dumpF64(load<f64>(v, 16));
      return;
    }
    case T_STR: dumpStr(load<u32>(v, 8), load<u32>(v, 4)); return;
    case T_ARR: {
      store<u8>(W++, 0x5b);
      let n = load<u32>(v, 4);
      let el = <usize>load<u32>(v, 8);
      for (let i: u32 = 0; i < n; i++) {
        if (i > 0) put(0x2c);
        let x = <usize>load<u32>(el + (<usize>i << 2));
        // A computed whole number below 2^32 (a compact decision's reason codes, one per
        // candidate): its digits here, as dumpValue, dumpF64 and putU64 would write them.
        if (x != 0 && load<u32>(x) == T_NUM && load<u32>(x, 8) == 0) {
          let f = load<f64>(x, 16);
          if (f >= 0 && f < 4294967296 && f == Math.floor(f)) { putU32(<u32>f); continue; }
        }
        dumpValue(x);
      }
      put(0x5d);
      return;
    }
    case T_OBJ: {
      let sl = load<u32>(v, 20);
      if (sl != 0) { putBytes(load<u32>(v, 24), sl); return; }
      store<u8>(W++, 0x7b);
      let n = load<u32>(v, 4);
      let e = <usize>load<u32>(v, 8);
      for (let i: u32 = 0; i < n; i++) {
        if (i > 0) put(0x2c);
        dumpStr(load<u32>(e, 4), load<u32>(e));
        // dumpStr reserved 10 bytes beyond its worst case, so ':' always fits.
        store<u8>(W++, 0x3a);
        dumpValue(load<u32>(e, 8));
        e += 16;
      }
      put(0x7d);
      return;
    }
  }
  store<u32>(W, NULL_W);
  W += 4;
}

export function dumpJSON(v: usize): usize {
  let start = dumpBegin();
  dumpValue(v);
  dumpEnd();
  return start;
}
