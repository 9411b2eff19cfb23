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
