// Tagged JSON values in raw memory. The emitter (compiler/emit/layout.ts) writes constants in
// exactly this layout into data segments, so both sides must change together.
//
//   null    [tag=1]
//   bool    [tag=2][u32 0|1]
//   number  [tag=3][u32 textLen][u32 textPtr (0: no text)][pad][f64 value @16]   24 bytes
//   string  [tag=4][u32 byteLen][u32 bytesPtr]                                   12 bytes
//   array   [tag=5][u32 len][u32 elemsPtr -> u32 valueAddr * len]                12 bytes
//   object  [tag=6][u32 len][u32 entriesPtr][u32 tablePtr (0: none)][u32 mask]
//           [u32 srcLen @20 (0: none)][u32 srcPtr @24, parsed objects only]        24/32 bytes
//           [u32 @28, parsed objects only: 0, or engine.ts's plan slot table / marks]
//     entry [u32 keyLen][u32 keyPtr][u32 valueAddr][u32 hash]                    16 bytes
//     table: (mask+1) u32 slots holding entryIndex+1, open addressing, linear probing.
// Numbers keep their source text so dumps echo input numbers exactly. A parsed object whose
// source text is exactly its dump keeps that span (json.ts); built objects and the emitter's
// constants (compiler/emit/layout.ts writes zeros there) have srcLen 0. Objects are never
// modified after they are built, so a span stays true.
import { alloc, staticEnd } from "./mem";
import { keyHash } from "./hash";

// The tags are the contract's (runtime/contract.ts VALUE_TAGS, generated into contract.ts).
import { T_NULL, T_BOOL, T_NUM, T_STR, T_ARR, T_OBJ } from "./contract";
export { T_NULL, T_BOOL, T_NUM, T_STR, T_ARR, T_OBJ };

// Objects with more entries than this get a hash table when built.
export const HASH_MIN: u32 = 8;

export const V_NULL: usize = memory.data<u32>([1, 0], 8);
export const V_FALSE: usize = memory.data<u32>([2, 0], 8);
export const V_TRUE: usize = memory.data<u32>([2, 1], 8);

// @ts-ignore: decorator
@inline export function tag(v: usize): u32 { return load<u32>(v); }
// @ts-ignore: decorator
@inline export function len(v: usize): u32 { return load<u32>(v, 4); }
// @ts-ignore: decorator
@inline export function ptr(v: usize): usize { return load<u32>(v, 8); }
// @ts-ignore: decorator
@inline export function numVal(v: usize): f64 { return load<f64>(v, 16); }
// @ts-ignore: decorator
@inline export function isTrue(v: usize): bool { return v != 0 && load<u32>(v) == T_BOOL && load<u32>(v, 4) == 1; }
// @ts-ignore: decorator
@inline export function isStr(v: usize): bool { return v != 0 && load<u32>(v) == T_STR; }
// @ts-ignore: decorator
@inline export function isNum(v: usize): bool { return v != 0 && load<u32>(v) == T_NUM; }
// @ts-ignore: decorator
@inline export function isArr(v: usize): bool { return v != 0 && load<u32>(v) == T_ARR; }
// @ts-ignore: decorator
@inline export function isObj(v: usize): bool { return v != 0 && load<u32>(v) == T_OBJ; }
// @ts-ignore: decorator
@inline export function boolV(b: bool): usize { return b ? V_TRUE : V_FALSE; }
// @ts-ignore: decorator
@inline export function arrAt(a: usize, i: u32): usize { return load<u32>(load<u32>(a, 8) + (<usize>i << 2)); }

export function newNum(x: f64): usize {
  let v = alloc(24);
  store<u32>(v, T_NUM);
  store<u32>(v, 0, 4);
  store<u32>(v, 0, 8);
  store<f64>(v, x, 16);
  return v;
}

export function newStr(p: usize, n: u32): usize {
  let v = alloc(12);
  store<u32>(v, T_STR);
  store<u32>(v, n, 4);
  store<u32>(v, p, 8);
  return v;
}

export function newArr(n: u32): usize {
  let v = alloc(12 + (<usize>n << 2));
  store<u32>(v, T_ARR);
  store<u32>(v, 0, 4); // filled by arrPush
  store<u32>(v, v + 12, 8);
  return v;
}

export function arrPush(a: usize, x: usize): void {
  let n = load<u32>(a, 4);
  store<u32>(load<u32>(a, 8) + (<usize>n << 2), x);
  store<u32>(a, n + 1, 4);
}

/** An object with room for `cap` entries and no hash table (for small built objects). */
export function newObj(cap: u32): usize {
  let v = alloc(24 + (<usize>cap << 4));
  store<u32>(v, T_OBJ);
  store<u32>(v, 0, 4);
  store<u32>(v, v + 24, 8);
  store<u32>(v, 0, 12);
  store<u32>(v, 0, 16);
  store<u32>(v, 0, 20); // no source span
  return v;
}

/** Appends an entry (no duplicate check: callers build objects with distinct keys). */
export function objPush(o: usize, kp: usize, kl: u32, val: usize): void {
  let n = load<u32>(o, 4);
  let e = load<u32>(o, 8) + (<usize>n << 4);
  store<u32>(e, kl);
  store<u32>(e, kp, 4);
  store<u32>(e, val, 8);
  store<u32>(e, 0, 12);
  store<u32>(o, n + 1, 4);
}

/** objPush with a static string value as key. */
// @ts-ignore: decorator
@inline export function objPushS(o: usize, key: usize, val: usize): void {
  objPush(o, load<u32>(key, 8), load<u32>(key, 4), val);
}

export function bytesEq(a: usize, b: usize, n: u32): bool {
  if (a == b) return true;
  let i: usize = 0;
  let m = <usize>n;
  while (i + 4 <= m) {
    if (load<u32>(a + i) != load<u32>(b + i)) return false;
    i += 4;
  }
  while (i < m) {
    if (load<u8>(a + i) != load<u8>(b + i)) return false;
    i++;
  }
  return true;
}

export { keyHash };

/** Value of key (kp, kl) in object o, or 0 when absent (or o is not an object). */
export function objGet(o: usize, kp: usize, kl: u32): usize {
  if (o == 0 || load<u32>(o) != T_OBJ) return 0;
  if (load<u32>(o, 12) == 0) return objScan(o, kp, kl);
  return objProbe(o, kp, kl, keyHash(kp, kl));
}

/** objGet when the caller already has keyHash(kp, kl). */
export function objGetH(o: usize, kp: usize, kl: u32, h: u32): usize {
  if (o == 0 || load<u32>(o) != T_OBJ) return 0;
  if (load<u32>(o, 12) == 0) return objScan(o, kp, kl);
  return objProbe(o, kp, kl, h);
}

function objScan(o: usize, kp: usize, kl: u32): usize {
  let e = <usize>load<u32>(o, 8);
  let end = e + (<usize>load<u32>(o, 4) << 4);
  if (kl >= 4) {
    // Compare the first 4 bytes inline: most same-length keys differ there (no call).
    let w = load<u32>(kp);
    while (e < end) {
      if (load<u32>(e) == kl) {
        let p = <usize>load<u32>(e, 4);
        if (load<u32>(p) == w && bytesEq(p + 4, kp + 4, kl - 4)) return load<u32>(e, 8);
      }
      e += 16;
    }
    return 0;
  }
  while (e < end) {
    if (load<u32>(e) == kl && bytesEq(load<u32>(e, 4), kp, kl)) return load<u32>(e, 8);
    e += 16;
  }
  return 0;
}

function objProbe(o: usize, kp: usize, kl: u32, h: u32): usize {
  let entries = <usize>load<u32>(o, 8);
  let table = <usize>load<u32>(o, 12);
  let mask = load<u32>(o, 16);
  let i = h & mask;
  while (true) {
    let slot = load<u32>(table + (<usize>i << 2));
    if (slot == 0) return 0;
    let e = entries + (<usize>(slot - 1) << 4);
    if (load<u32>(e, 12) == h && load<u32>(e) == kl && bytesEq(load<u32>(e, 4), kp, kl)) return load<u32>(e, 8);
    i = (i + 1) & mask;
  }
  return 0;
}

// Direct-mapped cache of the hashes of static keys (the policy's constant key texts, below
// staticEnd, which never change): [keyPtr, keyLen, hash, pad] * 256.
const KC: usize = memory.data(256 * 16, 16);

/** keyHash(kp, kl), cached when the key text is static. */
export function staticHash(kp: usize, kl: u32): u32 {
  let c = KC + ((((kp >> 2) ^ <usize>kl) & 255) << 4);
  if (kp != 0 && load<u32>(c) == kp && load<u32>(c, 4) == kl) return load<u32>(c, 8);
  let h = keyHash(kp, kl);
  if (kp != 0 && kp + <usize>kl <= staticEnd) {
    store<u32>(c, kp);
    store<u32>(c, kl, 4);
    store<u32>(c, h, 8);
  }
  return h;
}

/** objGet for a key whose text is usually static (constants of the generated code). */
export function objGetC(o: usize, kp: usize, kl: u32): usize {
  if (o == 0 || load<u32>(o) != T_OBJ) return 0;
  if (load<u32>(o, 12) == 0) return objScan(o, kp, kl);
  return objProbe(o, kp, kl, staticHash(kp, kl));
}

/** objGet with a static string (strings.ts) as key: its hash is precomputed at start-up. */
// @ts-ignore: decorator
@inline export function objGetS(o: usize, key: usize): usize {
  return objGetH(o, load<u32>(key, 8), load<u32>(key, 4), load<u32>(key, 12));
}

/** objGet with a string value as key. */
// @ts-ignore: decorator
@inline export function objGetV(o: usize, key: usize): usize {
  return objGet(o, load<u32>(key, 8), load<u32>(key, 4));
}

/** Builds the hash table of object o in place (entries must have distinct keys). */
export function objIndex(o: usize): void {
  let n = load<u32>(o, 4);
  if (n <= HASH_MIN) return;
  let cap: u32 = 16;
  while (cap < n * 2) cap <<= 1;
  let table = alloc(<usize>cap << 2);
  memory.fill(table, 0, <usize>cap << 2);
  let mask = cap - 1;
  let entries = <usize>load<u32>(o, 8);
  for (let j: u32 = 0; j < n; j++) {
    let e = entries + (<usize>j << 4);
    let h = keyHash(load<u32>(e, 4), load<u32>(e));
    store<u32>(e, h, 12);
    let i = h & mask;
    while (load<u32>(table + (<usize>i << 2)) != 0) i = (i + 1) & mask;
    store<u32>(table + (<usize>i << 2), j + 1);
  }
  store<u32>(o, table, 12);
  store<u32>(o, mask, 16);
}

/**
 * UTF-8 byte order (= code point order): <0, 0, >0. A lone surrogate (kept as WTF-8, ED A0..BF
 * xx) compares as U+FFFD (EF BF BD), as the reference interpreter's TextEncoder sees it.
 */
export function bytesCmp(pa: usize, la: u32, pb: usize, lb: u32): i32 {
  let n = la < lb ? la : lb;
  let ra: u32 = 0, rb: u32 = 0; // bytes left of a surrogate being compared as U+FFFD
  for (let i: u32 = 0; i < n; i++) {
    let x = <u32>load<u8>(pa + i), y = <u32>load<u8>(pb + i);
    if (ra > 0) { x = ra == 2 ? 0xbf : 0xbd; ra--; }
    else if (x == 0xed && i + 1 < la && load<u8>(pa + i + 1) >= 0xa0) { x = 0xef; ra = 2; }
    if (rb > 0) { y = rb == 2 ? 0xbf : 0xbd; rb--; }
    else if (y == 0xed && i + 1 < lb && load<u8>(pb + i + 1) >= 0xa0) { y = 0xef; rb = 2; }
    if (x != y) return <i32>x - <i32>y;
  }
  return <i32>la - <i32>lb;
}

export function strCmp(a: usize, b: usize): i32 {
  return bytesCmp(load<u32>(a, 8), load<u32>(a, 4), load<u32>(b, 8), load<u32>(b, 4));
}

// @ts-ignore: decorator
@inline export function strEq(a: usize, b: usize): bool {
  let n = load<u32>(a, 4);
  return n == load<u32>(b, 4) && bytesEq(load<u32>(a, 8), load<u32>(b, 8), n);
}

/** Deep equality: numbers by value, objects by key set, arrays by order. */
export function deepEq(a: usize, b: usize): bool {
  if (a == b) return true;
  if (a == 0 || b == 0) return false;
  let t = load<u32>(a);
  if (t != load<u32>(b)) return false;
  switch (t) {
    case T_NULL: return true;
    case T_BOOL: return load<u32>(a, 4) == load<u32>(b, 4);
    case T_NUM: return load<f64>(a, 16) == load<f64>(b, 16);
    case T_STR: return strEq(a, b);
    case T_ARR: {
      let n = load<u32>(a, 4);
      if (n != load<u32>(b, 4)) return false;
      for (let i: u32 = 0; i < n; i++) if (!deepEq(arrAt(a, i), arrAt(b, i))) return false;
      return true;
    }
    case T_OBJ: {
      let n = load<u32>(a, 4);
      if (n != load<u32>(b, 4)) return false;
      let e = <usize>load<u32>(a, 8);
      for (let i: u32 = 0; i < n; i++) {
        let bv = objGet(b, load<u32>(e, 4), load<u32>(e));
        if (bv == 0 || !deepEq(load<u32>(e, 8), bv)) return false;
        e += 16;
      }
      return true;
    }
  }
  return false;
}

/** Deep-equal membership of x among the elements of array a. */
export function arrHas(a: usize, x: usize): bool {
  let n = load<u32>(a, 4);
  for (let i: u32 = 0; i < n; i++) if (deepEq(arrAt(a, i), x)) return true;
  return false;
}
