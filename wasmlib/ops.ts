// Helpers the generated condition functions call (one per IR operation or builtin). Exported
// from index.ts under `wp_*` names so -O3 keeps them; compiler/emit/names.ts lists them.
// Every helper takes and returns value addresses; 0 is "undefined".
import { alloc, staticEnd } from "./mem";
import {
  T_NULL, T_NUM, T_STR, T_ARR, V_TRUE, V_FALSE, isTrue, isStr, isNum, isArr, boolV, arrAt,
  newNum, newStr, objGet, objGetC, objGetV, objGetS, strEq, strCmp, deepEq, arrHas, bytesEq,
} from "./value";
import { toTime, timeOk, floorModF, MS_MIN, MS_HOUR, MS_DAY } from "./time";
import { gCtx, gNow, gNowV, gHistory, gHistRecs, HIST_REC, gOffsetMin, gZone, inList } from "./engine";
import { toLocal, localDay } from "./zone";
import { S_AT, S_CHANNEL, S_PURPOSE, S_NODE } from "./strings";
import { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE } from "./contract";

// context[key] by static key text (the generated code's constants, below staticEnd), kept for
// the evaluation: the conditions of many candidates read the same fields. Direct-mapped
// [keyPtr, keyLen, generation, value] * 64; resetFieldMemo starts a generation (gCtx changes).
const FC: usize = memory.data(64 * 16, 16);
let fGen: u32 = 1;

export function resetFieldMemo(): void {
  dArg = 0;
  if (++fGen == 0) {
    memory.fill(FC, 0, 64 * 16);
    fGen = 1;
  }
}

export function field(kp: usize, kl: u32): usize {
  let c = FC + ((((kp >> 2) ^ <usize>kl) & 63) << 4);
  if (load<u32>(c) == kp && load<u32>(c, 4) == kl && load<u32>(c, 8) == fGen) return load<u32>(c, 12);
  let v = objGetC(gCtx, kp, kl);
  if (kp != 0 && kp + <usize>kl <= staticEnd) {
    store<u32>(c, kp);
    store<u32>(c, kl, 4);
    store<u32>(c, fGen, 8);
    store<u32>(c, v, 12);
  }
  return v;
}
export function now(): usize { return gNowV; }
export function toBool(b: i32): usize { return b != 0 ? V_TRUE : V_FALSE; }
export function truthy(v: usize): i32 { return isTrue(v) ? 1 : 0; }

// Comparison operators, numbered as runtime/contract.ts CMP_OPS (the emitter's numbering).
export function cmp(op: i32, l: usize, r: usize): usize {
  if (l == 0 || r == 0) return 0;
  let c: i32;
  let tl = load<u32>(l), tr = load<u32>(r);
  if (tl == T_NUM && tr == T_NUM) {
    let a = load<f64>(l, 16), b = load<f64>(r, 16);
    // Two numbers: deepEq's answer without the call (a trigger's `days_since(x) == n` on every
    // candidate of an event).
    if (op == CMP_EQ) return boolV(l == r || a == b);
    if (op == CMP_NE) return boolV(!(l == r || a == b));
    c = a < b ? -1 : a > b ? 1 : 0;
  } else if (op == CMP_EQ) return boolV(deepEq(l, r));
  else if (op == CMP_NE) return boolV(!deepEq(l, r));
  else if (tl == T_STR && tr == T_STR) {
    c = strCmp(l, r);
  } else return 0;
  if (op == CMP_LT) return boolV(c < 0);
  if (op == CMP_LE) return boolV(c <= 0);
  if (op == CMP_GT) return boolV(c > 0);
  if (op == CMP_GE) return boolV(c >= 0);
  return 0;
}

export function isIn(item: usize, set: usize): usize {
  if (item == 0 || !isArr(set)) return 0;
  return boolV(arrHas(set, item));
}

export function inListOp(lp: usize, ll: u32, item: usize): usize {
  if (item == 0) return 0;
  return boolV(inList(lp, ll, item));
}

// Time builtins: undefined unless the argument is a time.
// The customer's calendar day of a time value: a date string (YYYY-MM-DD) is that day; any
// other time is an instant, whose day is its local date in the customer's zone.
function dayOf(a: usize, t: f64): f64 {
  if (load<u32>(a) == T_STR && load<u32>(a, 4) == 10) return Math.floor(t / MS_DAY);
  return localDay(gZone, gOffsetMin, t);
}
// The last days_since/days_until argument, the `now` it was taken at and its days_since value
// (0: not a time), for this evaluation (resetFieldMemo): each candidate's trigger may ask again.
// The zone and offset do not change during an evaluation.
let dArg: usize = 0;
let dNow: f64 = 0;
let dVal: usize = 0;

// @ts-ignore: decorator
@inline function daysBetween(a: usize): usize {
  if (a == dArg && gNow == dNow) return dVal;
  let t = toTime(a);
  let v: usize = timeOk ? newNum(localDay(gZone, gOffsetMin, gNow) - dayOf(a, t)) : 0;
  dArg = a;
  dNow = gNow;
  dVal = v;
  return v;
}
export function daysSince(a: usize): usize {
  return a == 0 ? 0 : daysBetween(a);
}
export function daysUntil(a: usize): usize {
  if (a == 0) return 0;
  let v = daysBetween(a);
  // -x of a day count (an integer) is exact, and 0 - 0 is 0 as the subtraction wrote it.
  return v == 0 ? 0 : newNum(0 - load<f64>(v, 16));
}
export function hoursSince(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(Math.floor((gNow - t) / MS_HOUR));
}
export function minutesSince(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(Math.floor((gNow - t) / MS_MIN));
}
export function since(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(gNow - t);
}
export function until(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(t - gNow);
}
export function localHour(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(floorModF(Math.floor(toLocal(gZone, gOffsetMin, t) / MS_HOUR), 24));
}
export function time(a: usize): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  // A number time is returned as is (keeps its text); a string becomes a number.
  if (load<u32>(a) == T_NUM) return a;
  return newNum(t);
}

function caseMap(a: usize, lo: u32, hi: u32): usize {
  if (!isStr(a)) return 0;
  let n = load<u32>(a, 4);
  let src = <usize>load<u32>(a, 8);
  let out = alloc(n);
  for (let i: u32 = 0; i < n; i++) {
    let c = <u32>load<u8>(src + i);
    if (c >= lo && c <= hi) c ^= 0x20; // ASCII letters only
    store<u8>(out + i, <u8>c);
  }
  return newStr(out, n);
}
export function lower(a: usize): usize { return caseMap(a, 0x41, 0x5a); }
export function upper(a: usize): usize { return caseMap(a, 0x61, 0x7a); }

export function lenOp(a: usize): usize {
  if (a == 0) return 0;
  let t = load<u32>(a);
  if (t == T_ARR) return newNum(<f64>load<u32>(a, 4));
  if (t != T_STR) return 0;
  // Code points = bytes that are not UTF-8 continuation bytes.
  let n = load<u32>(a, 4);
  let p = <usize>load<u32>(a, 8);
  let cps: u32 = 0;
  for (let i: u32 = 0; i < n; i++) if ((load<u8>(p + i) & 0xc0) != 0x80) cps++;
  return newNum(<f64>cps);
}

function indexOf(hp: usize, hl: u32, np: usize, nl: u32): bool {
  if (nl == 0) return true;
  if (nl > hl) return false;
  let first = load<u8>(np);
  let last = hl - nl;
  for (let i: u32 = 0; i <= last; i++) {
    if (load<u8>(hp + i) == first && bytesEq(hp + i, np, nl)) return true;
  }
  return false;
}

export function contains(a: usize, b: usize): usize {
  if (a == 0 || b == 0) return 0;
  let t = load<u32>(a);
  if (t == T_STR) {
    if (!isStr(b)) return 0;
    return boolV(indexOf(load<u32>(a, 8), load<u32>(a, 4), load<u32>(b, 8), load<u32>(b, 4)));
  }
  if (t == T_ARR) return boolV(arrHas(a, b));
  return 0;
}

export function startsWith(a: usize, b: usize): usize {
  if (!isStr(a) || !isStr(b)) return 0;
  let al = load<u32>(a, 4), bl = load<u32>(b, 4);
  return boolV(bl <= al && bytesEq(load<u32>(a, 8), load<u32>(b, 8), bl));
}

export function endsWith(a: usize, b: usize): usize {
  if (!isStr(a) || !isStr(b)) return 0;
  let al = load<u32>(a, 4), bl = load<u32>(b, 4);
  return boolV(bl <= al && bytesEq(<usize>load<u32>(a, 8) + al - bl, load<u32>(b, 8), bl));
}

export function exists(a: usize): usize {
  return boolV(a != 0 && load<u32>(a) != T_NULL);
}

/** A string-valued history entry key equals the filter (cp == 0: no filter). */
function filterOk(h: usize, key: usize, cp: usize, cl: u32): bool {
  if (cp == 0) return true;
  let v = objGetS(h, key); // key: a static string
  return isStr(v) && load<u32>(v, 4) == cl && bytesEq(load<u32>(v, 8), cp, cl);
}

/** A history record's string value (gHistRecs) equals the filter (cp == 0: no filter). */
// @ts-ignore: decorator
@inline function recOk(v: usize, cp: usize, cl: u32): bool {
  return cp == 0 || (v != 0 && load<u32>(v) == T_STR && load<u32>(v, 4) == cl && bytesEq(load<u32>(v, 8), cp, cl));
}

export function historyCount(windowMs: f64, chP: usize, chL: u32, puP: usize, puL: u32, noP: usize, noL: u32): usize {
  let count: u32 = 0;
  if (gHistRecs != 0 && isArr(gHistory)) {
    // The history as checked: every entry's time is valid (historyProblem refused the request otherwise).
    let n = load<u32>(gHistory, 4);
    let from = gNow - windowMs;
    for (let i: u32 = 0; i < n; i++) {
      let r = gHistRecs + <usize>i * HIST_REC;
      if (!(from < load<f64>(r))) continue; // later entries: scheduled sends, counted
      if (!recOk(<usize>load<u32>(r, 8), chP, chL) || !recOk(<usize>load<u32>(r, 12), puP, puL) || !recOk(<usize>load<u32>(r, 16), noP, noL)) continue;
      count++;
    }
  } else if (isArr(gHistory)) {
    let n = load<u32>(gHistory, 4);
    for (let i: u32 = 0; i < n; i++) {
      let h = arrAt(gHistory, i);
      let at = toTime(objGetS(h, S_AT));
      if (!timeOk || !(gNow - windowMs < at)) continue; // later entries: scheduled sends, counted
      if (!filterOk(h, S_CHANNEL, chP, chL) || !filterOk(h, S_PURPOSE, puP, puL) || !filterOk(h, S_NODE, noP, noL)) continue;
      count++;
    }
  }
  return newNum(<f64>count);
}

export function addMs(a: usize, ms: f64): usize {
  let t = toTime(a);
  if (!timeOk) return 0;
  return newNum(t + ms);
}
