// Local time in the customer's zone (docs/ir.md "Time zones"), mirroring compiler/ir/time.ts
// (tableOffset, fromLocal, localDay) so both evaluators agree byte for byte. A zone table is
// the plan's `[o0, t1, o1, ...]` array value (0: the customer has none, use the fixed offset).
import { isArr, isNum, arrAt } from "./value";
import { MS_MIN, MS_DAY } from "./time";

/** A usable table: an array of an odd number of numbers (anything else is ignored). */
export function tableOk(tab: usize): bool {
  if (!isArr(tab)) return false;
  let n = load<u32>(tab, 4);
  if ((n & 1) == 0) return false;
  for (let i: u32 = 0; i < n; i++) if (!isNum(arrAt(tab, i))) return false;
  return true;
}

// @ts-ignore: decorator
@inline function at(tab: usize, i: i32): f64 { return load<f64>(arrAt(tab, <u32>i), 16); }

/** Minutes east of UTC at instant t: the offset of the last transition at or before t. */
export function zoneOffset(tab: usize, fixed: f64, t: f64): f64 {
  if (tab == 0) return fixed;
  let lo: i32 = 0;
  let hi: i32 = (<i32>load<u32>(tab, 4) - 1) >> 1;
  while (lo < hi) {
    let mid = (lo + hi + 1) >> 1;
    if (at(tab, 2 * mid - 1) <= t) lo = mid;
    else hi = mid - 1;
  }
  return at(tab, 2 * lo);
}

/** Local wall-clock ms of instant t. */
export function toLocal(tab: usize, fixed: f64, t: f64): f64 {
  return t + zoneOffset(tab, fixed, t) * MS_MIN;
}

/** The instant of a local wall time, `compatible` disambiguation (see compiler/ir/time.ts). */
export function fromLocal(tab: usize, fixed: f64, local: f64, after: f64): f64 {
  let off1 = zoneOffset(tab, fixed, local - MS_DAY);
  let off2 = zoneOffset(tab, fixed, local + MS_DAY);
  let a = local - off1 * MS_MIN;
  let b = local - off2 * MS_MIN;
  let aOk = zoneOffset(tab, fixed, a) == off1;
  let bOk = zoneOffset(tab, fixed, b) == off2;
  if (aOk && bOk) {
    let lo = a < b ? a : b;
    let hi = a < b ? b : a;
    return lo > after ? lo : hi;
  }
  if (aOk) return a;
  if (bOk) return b;
  return a;
}

/** The local calendar day (days since 1970-01-01) of instant t. */
export function localDay(tab: usize, fixed: f64, t: f64): f64 {
  return Math.floor(toLocal(tab, fixed, t) / MS_DAY);
}
