// Hash of object keys for the open-addressing tables (value.ts). Internal to this library: the
// emitter's constants carry no hashes, so the function can change freely. 8 bytes per step
// (FNV-1a per byte cost ~1 ns per key byte on the ~20-byte context keys every evaluation looks
// up several times), with a final mix so the low bits the tables use depend on every byte.
// Loads stay inside [p, p + n): the text may end at the very end of linear memory.
export function keyHash(p: usize, n: u32): u32 {
  let h: u64 = 0x9e3779b97f4a7c15 ^ <u64>n;
  let end = p + <usize>n;
  while (p + 8 <= end) {
    h = (h ^ load<u64>(p)) * 0xff51afd7ed558ccd;
    h ^= h >> 32;
    p += 8;
  }
  let r = end - p;
  let t: u64 = 0;
  // 4..7 bytes: two overlapping words; 1..3: first, middle, last byte (n is in the seed, so
  // the overlaps are unambiguous).
  if (r >= 4) t = <u64>load<u32>(p) | (<u64>load<u32>(end - 4) << 32);
  else if (r > 0) t = <u64>load<u8>(p) | (<u64>load<u8>(p + (r >> 1)) << 8) | (<u64>load<u8>(end - 1) << 16);
  h = (h ^ t) * 0xc4ceb9fe1a85ec53;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  // Never 0, so a zero entry hash can mean "not computed".
  return <u32>h | 1;
}

// Compact suppression lists (compiler/ir/compact-list.ts, docs/ir.md "Bundle data"): the first
// 64 bits (h1, h2) of MurmurHash3_x86_128, seed 0, over the key's bytes, written as 16
// lowercase hex digits at out. Must equal the compiler's digestInto byte for byte.
const LIST_HEX: usize = memory.data<u8>([48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]);

// @ts-ignore: decorator
@inline function fmix32(h: u32): u32 {
  h ^= h >> 16;
  h *= 0x85ebca6b;
  h ^= h >> 13;
  h *= 0xc2b2ae35;
  return h ^ (h >> 16);
}

function hex8(x: u32, out: usize): void {
  for (let i: i32 = 7; i >= 0; i--) {
    store<u8>(out + <usize>i, load<u8>(LIST_HEX + <usize>(x & 15)));
    x >>= 4;
  }
}

export function listDigest(p: usize, n: u32, out: usize): void {
  const c1: u32 = 0x239b961b, c2: u32 = 0xab0e9789, c3: u32 = 0x38b34ae5, c4: u32 = 0xa1e38b93;
  let h1: u32 = 0, h2: u32 = 0, h3: u32 = 0, h4: u32 = 0;
  let end = p + <usize>n;
  while (p + 16 <= end) {
    let k1 = load<u32>(p), k2 = load<u32>(p, 4), k3 = load<u32>(p, 8), k4 = load<u32>(p, 12);
    k1 *= c1; k1 = rotl<u32>(k1, 15); k1 *= c2; h1 ^= k1;
    h1 = rotl<u32>(h1, 19); h1 += h2; h1 = h1 * 5 + 0x561ccd1b;
    k2 *= c2; k2 = rotl<u32>(k2, 16); k2 *= c3; h2 ^= k2;
    h2 = rotl<u32>(h2, 17); h2 += h3; h2 = h2 * 5 + 0x0bcaa747;
    k3 *= c3; k3 = rotl<u32>(k3, 17); k3 *= c4; h3 ^= k3;
    h3 = rotl<u32>(h3, 15); h3 += h4; h3 = h3 * 5 + 0x96cd1c35;
    k4 *= c4; k4 = rotl<u32>(k4, 18); k4 *= c1; h4 ^= k4;
    h4 = rotl<u32>(h4, 13); h4 += h1; h4 = h4 * 5 + 0x32ac3b17;
    p += 16;
  }
  let r = <u32>(end - p);
  let k1: u32 = 0, k2: u32 = 0, k3: u32 = 0, k4: u32 = 0;
  for (let i: u32 = 0; i < r; i++) {
    let b = <u32>load<u8>(p + <usize>i) << ((i & 3) << 3);
    if (i >= 12) k4 ^= b;
    else if (i >= 8) k3 ^= b;
    else if (i >= 4) k2 ^= b;
    else k1 ^= b;
  }
  if (r > 12) { k4 *= c4; k4 = rotl<u32>(k4, 18); k4 *= c1; h4 ^= k4; }
  if (r > 8) { k3 *= c3; k3 = rotl<u32>(k3, 17); k3 *= c4; h3 ^= k3; }
  if (r > 4) { k2 *= c2; k2 = rotl<u32>(k2, 16); k2 *= c3; h2 ^= k2; }
  if (r > 0) { k1 *= c1; k1 = rotl<u32>(k1, 15); k1 *= c2; h1 ^= k1; }
  h1 ^= n; h2 ^= n; h3 ^= n; h4 ^= n;
  h1 += h2; h1 += h3; h1 += h4;
  h2 += h1; h3 += h1; h4 += h1;
  h1 = fmix32(h1); h2 = fmix32(h2); h3 = fmix32(h3); h4 = fmix32(h4);
  h1 += h2; h1 += h3; h1 += h4;
  h2 += h1;
  hex8(h1, out);
  hex8(h2, out + 8);
}
