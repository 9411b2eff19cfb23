// Times (docs/ir.md "Time"): epoch ms as f64. Integer civil-calendar arithmetic, mirroring
// compiler/ir/time.ts (the interpreter) so both agree byte for byte.
import { T_NUM, T_STR, newStr } from "./value";
import { alloc } from "./mem";

export const MS_MIN: f64 = 60000;
export const MS_HOUR: f64 = 3600000;
export const MS_DAY: f64 = 86400000;

// Set by parseTime/toTime: whether the last call produced a time.
export let timeOk: bool = false;

// @ts-ignore: decorator
@inline function dig(p: usize): i32 {
  let d = <i32>load<u8>(p) - 0x30;
  return d >= 0 && d <= 9 ? d : -1000000;
}

function num2(p: usize): i32 { return dig(p) * 10 + dig(p + 1); }

function isLeap(y: i32): bool { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

function daysIn(y: i32, m: i32): i32 {
  if (m == 2) return isLeap(y) ? 29 : 28;
  return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
}

function floorDiv(a: i64, b: i64): i64 {
  let q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

export function daysFromCivil(y: i32, m: i32, d: i32): i64 {
  let yy = <i64>(m <= 2 ? y - 1 : y);
  let era = floorDiv(yy, 400);
  let yoe = yy - era * 400;
  let mp = <i64>((m + 9) % 12);
  let doy = (153 * mp + 2) / 5 + <i64>d - 1;
  let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/** Parses YYYY-MM-DD or RFC 3339 (zone required) to epoch ms; sets timeOk. */
export function parseTime(p: usize, n: u32): f64 {
  timeOk = false;
  if (n < 10) return 0;
  let y = dig(p) * 1000 + dig(p + 1) * 100 + dig(p + 2) * 10 + dig(p + 3);
  if (y < 0 || load<u8>(p + 4) != 0x2d || load<u8>(p + 7) != 0x2d) return 0;
  let mo = num2(p + 5), d = num2(p + 8);
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return 0;
  let days = daysFromCivil(y, mo, d);
  if (n == 10) {
    timeOk = true;
    return <f64>(days * 86400000);
  }
  if (n < 20) return 0;
  let t = load<u8>(p + 10);
  if (t != 0x54 && t != 0x74) return 0;
  if (load<u8>(p + 13) != 0x3a || load<u8>(p + 16) != 0x3a) return 0;
  let h = num2(p + 11), mi = num2(p + 14), s = num2(p + 17);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return 0;
  let i: u32 = 19;
  let ms: i32 = 0;
  if (load<u8>(p + i) == 0x2e) {
    i++;
    let fs = i;
    while (i < n) {
      let c = dig(p + i);
      if (c < 0) break;
      let k = i - fs;
      if (k == 0) ms += c * 100; else if (k == 1) ms += c * 10; else if (k == 2) ms += c;
      i++;
    }
    if (i == fs) return 0;
  }
  if (i >= n) return 0;
  let z = load<u8>(p + i);
  let off: i32 = 0;
  if (z == 0x5a || z == 0x7a) {
    i++;
  } else if (z == 0x2b || z == 0x2d) {
    if (i + 6 != n || load<u8>(p + i + 3) != 0x3a) return 0;
    let oh = num2(p + i + 1), om = num2(p + i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return 0;
    off = oh * 60 + om;
    if (z == 0x2d) off = -off;
    i += 6;
  } else return 0;
  if (i != n) return 0;
  timeOk = true;
  let local = days * 86400000 + <i64>h * 3600000 + <i64>mi * 60000 + <i64>s * 1000 + <i64>ms;
  return <f64>(local - <i64>off * 60000);
}

// The last string value toTime parsed in this evaluation and its result: conditions of many
// candidates read the same context time (resetTimeMemo at each evaluation: the heap, and so
// the value at an address, is reused).
let memoV: usize = 0;
let memoT: f64 = 0;
let memoOk = false;

export function resetTimeMemo(): void { memoV = 0; }

/** A value as a time: a finite number as is, a string parsed; sets timeOk. */
export function toTime(v: usize): f64 {
  timeOk = false;
  if (v == 0) return 0;
  if (v == memoV) {
    timeOk = memoOk;
    return memoT;
  }
  let t = load<u32>(v);
  if (t == T_NUM) {
    let x = load<f64>(v, 16);
    timeOk = isFinite(x);
    return x;
  }
  if (t == T_STR) {
    memoT = parseTime(load<u32>(v, 8), load<u32>(v, 4));
    memoOk = timeOk;
    memoV = v;
    return memoT;
  }
  return 0;
}

export function floorModF(a: f64, m: f64): f64 {
  return ((a % m) + m) % m;
}

const TBUF: usize = memory.data(32);

function put2(p: usize, x: i32): void {
  store<u8>(p, <u8>(0x30 + x / 10));
  store<u8>(p + 1, <u8>(0x30 + x % 10));
}

/**
 * t formatted as YYYY-MM-DDTHH:MM:SS[.mmm]Z, as a new string value; 0 when t is not finite or
 * its year is outside 0000-9999 (not representable in that form).
 */
export function formatTime(t: f64): usize {
  if (!isFinite(t)) return 0;
  let ms = <i64>Math.floor(t);
  let days = floorDiv(ms, 86400000);
  let rem = ms - days * 86400000;
  // civil_from_days
  let z = days + 719468;
  let era = floorDiv(z, 146097);
  let doe = z - era * 146097;
  let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let d = <i32>(doy - (153 * mp + 2) / 5 + 1);
  let m = <i32>(mp < 10 ? mp + 3 : mp - 9);
  let y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 0 || y > 9999) return 0;
  let yi = <i32>y;
  let hh = <i32>(rem / 3600000), mi = <i32>((rem % 3600000) / 60000), ss = <i32>((rem % 60000) / 1000);
  let milli = <i32>(rem % 1000);
  put2(TBUF, yi / 100);
  put2(TBUF + 2, yi % 100);
  store<u8>(TBUF + 4, 0x2d);
  put2(TBUF + 5, m);
  store<u8>(TBUF + 7, 0x2d);
  put2(TBUF + 8, d);
  store<u8>(TBUF + 10, 0x54);
  put2(TBUF + 11, hh);
  store<u8>(TBUF + 13, 0x3a);
  put2(TBUF + 14, mi);
  store<u8>(TBUF + 16, 0x3a);
  put2(TBUF + 17, ss);
  let n: usize = 19;
  if (milli != 0) {
    store<u8>(TBUF + 19, 0x2e);
    store<u8>(TBUF + 20, <u8>(0x30 + milli / 100));
    put2(TBUF + 21, milli % 100);
    n = 23;
  }
  store<u8>(TBUF + n, 0x5a);
  n++;
  let out = alloc(n);
  memory.copy(out, TBUF, n);
  return newStr(out, <u32>n);
}

