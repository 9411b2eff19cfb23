// Correctly rounded decimal -> double for m * 10^e (m < 10^19), used when Clinger's fast path
// does not apply (large exponents, long mantissas). Exact big-integer arithmetic on u32 limbs
// in static scratch buffers: slow (a few µs) but rare, and JS (the reference interpreter,
// JSON.parse) rounds correctly, so the comparisons of both evaluators must see the same double.

// Limb buffers (little-endian u32), enough for 5^400 * 2^64 (~1000 bits).
const LIMBS: i32 = 40;
const A: usize = memory.data(LIMBS * 4); // 5^k (divisor or multiplier)
const R: usize = memory.data(LIMBS * 4); // running remainder / product
let aLen: i32 = 0;
let rLen: i32 = 0;

function setSmall(buf: usize, x: u64): i32 {
  memory.fill(buf, 0, <usize>LIMBS * 4);
  store<u32>(buf, <u32>x);
  store<u32>(buf + 4, <u32>(x >> 32));
  return (x >> 32) != 0 ? 2 : 1;
}

/** buf (len limbs) *= k (k < 2^32); returns the new length. */
function mulSmall(buf: usize, len: i32, k: u32): i32 {
  let carry: u64 = 0;
  for (let i = 0; i < len; i++) {
    let p = <usize>i << 2;
    let t = <u64>load<u32>(buf + p) * <u64>k + carry;
    store<u32>(buf + p, <u32>t);
    carry = t >> 32;
  }
  if (carry != 0) { store<u32>(buf + (<usize>len << 2), <u32>carry); len++; }
  return len;
}

function pow5(buf: usize, e: i32): i32 {
  let len = setSmall(buf, 1);
  while (e >= 13) { len = mulSmall(buf, len, 1220703125); e -= 13; } // 5^13
  let k: u32 = 1;
  while (e > 0) { k *= 5; e--; }
  return mulSmall(buf, len, k);
}

function bitLen(buf: usize, len: i32): i32 {
  while (len > 0 && load<u32>(buf + (<usize>(len - 1) << 2)) == 0) len--;
  if (len == 0) return 0;
  return (len - 1) * 32 + 32 - <i32>clz(load<u32>(buf + (<usize>(len - 1) << 2)));
}

function bit(buf: usize, i: i32): u32 {
  return (load<u32>(buf + (<usize>(i >> 5) << 2)) >> <u32>(i & 31)) & 1;
}

/** R >= A ? */
function geq(): bool {
  for (let i = LIMBS - 1; i >= 0; i--) {
    let x = load<u32>(R + (<usize>i << 2)), y = load<u32>(A + (<usize>i << 2));
    if (x != y) return x > y;
  }
  return true;
}

function subA(): void {
  let borrow: i64 = 0;
  for (let i = 0; i < LIMBS; i++) {
    let p = <usize>i << 2;
    let t = <i64>load<u32>(R + p) - <i64>load<u32>(A + p) - borrow;
    borrow = t < 0 ? 1 : 0;
    store<u32>(R + p, <u32>t);
  }
}

function shl1(): void {
  let carry: u32 = 0;
  for (let i = 0; i < LIMBS; i++) {
    let p = <usize>i << 2;
    let x = load<u32>(R + p);
    store<u32>(R + p, (x << 1) | carry);
    carry = x >> 31;
  }
}

/** Correctly rounded (q + sticky) * 2^e2 as f64, q != 0 (round half to even, subnormals). */
function compose(q: u64, sticky: bool, e2: i32): f64 {
  let lz = <i32>clz(q);
  q <<= <u64>lz;
  let e = e2 - lz + 63; // value = 1.f * 2^e
  if (e > 1023) return Infinity;
  let keep = 53;
  if (e < -1022) keep = 53 - (-1022 - e);
  if (keep <= 0) {
    // Below half the smallest subnormal (or exactly half with nothing more: ties to even = 0).
    if (keep == 0 && (q > (<u64>1 << 63) || ((q == (<u64>1 << 63)) && sticky))) return reinterpret<f64>(<u64>1);
    return 0;
  }
  let drop = 64 - keep;
  let mant = q >> <u64>drop;
  let rest = q & ((<u64>1 << <u64>drop) - 1);
  let half = <u64>1 << <u64>(drop - 1);
  if (rest > half || (rest == half && (sticky || (mant & 1) != 0))) {
    mant++;
    if (mant == (<u64>1 << <u64>keep)) { mant >>= 1; e++; if (e > 1023) return Infinity; }
  }
  if (e < -1022) {
    // Subnormal (mant may have become 2^52: then it is the smallest normal, same bits).
    return reinterpret<f64>(mant);
  }
  return reinterpret<f64>((<u64>(e + 1023) << 52) | (mant & 0xfffffffffffff));
}

/** m * 10^e10, correctly rounded. */
export function decimalToF64(m: u64, e10: i32): f64 {
  if (m == 0) return 0;
  if (e10 > 310) return Infinity;
  if (e10 < -400) return 0;
  if (e10 >= 0) {
    // N = m * 5^e exactly; value = N * 2^e.
    aLen = pow5(A, e10);
    memory.copy(R, A, <usize>LIMBS * 4);
    // R = 5^e * m (m up to 64 bits: two 32-bit multiplications would need a add; do it bitwise).
    rLen = setSmall(R, 0);
    let lo = <u32>m, hi = <u32>(m >> 32);
    // R = A * hi * 2^32 + A * lo
    let tmp = memory.data(LIMBS * 4);
    memory.copy(tmp, A, <usize>LIMBS * 4);
    let tl = mulSmall(tmp, aLen, hi);
    // shift tmp by one limb into R
    for (let i = LIMBS - 2; i >= 0; i--) store<u32>(R + (<usize>(i + 1) << 2), load<u32>(tmp + (<usize>i << 2)));
    store<u32>(R, 0);
    memory.copy(tmp, A, <usize>LIMBS * 4);
    tl = mulSmall(tmp, aLen, lo);
    let carry: u64 = 0;
    for (let i = 0; i < LIMBS; i++) {
      let p = <usize>i << 2;
      let t = <u64>load<u32>(R + p) + <u64>load<u32>(tmp + p) + carry;
      store<u32>(R + p, <u32>t);
      carry = t >> 32;
    }
    let L = bitLen(R, LIMBS);
    if (L <= 64) {
      let q = <u64>load<u32>(R) | (<u64>load<u32>(R + 4) << 32);
      return compose(q, false, e10);
    }
    let q: u64 = 0;
    for (let i = L - 1; i >= L - 64; i--) q = (q << 1) | <u64>bit(R, i);
    let sticky = false;
    for (let i = L - 65; i >= 0; i--) if (bit(R, i) != 0) { sticky = true; break; }
    return compose(q, sticky, e10 + L - 64);
  }
  // value = m / 5^k * 2^-k with k = -e; q = floor(m * 2^s / 5^k) with 62..64 bits.
  let k = -e10;
  aLen = pow5(A, k);
  let bd = bitLen(A, aLen);
  let bm = 64 - <i32>clz(m);
  let s = bd - bm + 63;
  // Restoring division of m * 2^s by A, one bit at a time (m first, then s zero bits).
  setSmall(R, 0);
  let q: u64 = 0;
  for (let i = bm - 1; i >= -s; i--) {
    shl1();
    if (i >= 0) store<u32>(R, load<u32>(R) | <u32>((m >> <u64>i) & 1));
    q <<= 1;
    if (geq()) { subA(); q |= 1; }
  }
  let sticky = bitLen(R, LIMBS) != 0;
  return compose(q, sticky, -s - k);
}
