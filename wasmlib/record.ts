// The record form of the compact decision (docs/ir.md "Decision (output)"): the decision the
// runtime asks for on every request, as fixed u32 words it reads in place, instead of JSON text
// the module writes and the runtime parses (a third of the work around the module call).
// Strings are (address, length) of their UTF-8 bytes where they already are (the plan's text
// for nodes, templates and explanations): nothing is copied. A decision the record cannot carry
// (a reason written as an object, an outcome or key it does not know) is given as JSON instead.
import { alloc } from "./mem";
import { dumpJSON } from "./json";
import { T_NULL, T_NUM, T_STR, T_ARR, T_OBJ, strEq, bytesEq } from "./value";
import {
  S_OUTCOME, S_NODE, S_CHANNEL, S_TEMPLATE, S_OFFER, S_VARIANT, S_SEND_AT, S_REASONS, S_EXPLANATION,
  S_REVISION, S_O_SEND, S_O_DEFER, S_O_REVIEW, S_O_HOLDOUT, S_O_SUPPRESS, S_O_DENY,
} from "./strings";

// Word 0: the form. Record: then the outcome (its index in the contract's OUTCOMES), seven
// (address, length) string slots (node, channel, template, offer, variant, send_at,
// explanation; length 0xFFFFFFFF: null), the number of reasons and each reason's compact code.
// JSON: then the address of the decision's NUL-terminated compact JSON text.
export const REC_RECORD: u32 = 1;
export const REC_JSON: u32 = 2;
const NULL_LEN: u32 = 0xffffffff;
const REC_WORDS: u32 = 17; // before the reasons

/** Entry e (of an object's entries) has key k (a static string). */
// @ts-ignore: decorator
@inline function keyIs(e: usize, k: usize): bool {
  let n = load<u32>(k, 4);
  return load<u32>(e) == n && bytesEq(load<u32>(e, 4), load<u32>(k, 8), n);
}

/** The outcome's index in OUTCOMES (runtime/contract.ts), or -1. */
function outcomeIndex(v: usize): i32 {
  if (v == 0 || load<u32>(v) != T_STR) return -1;
  if (strEq(v, S_O_SEND)) return 0;
  if (strEq(v, S_O_DEFER)) return 1;
  if (strEq(v, S_O_REVIEW)) return 2;
  if (strEq(v, S_O_HOLDOUT)) return 3;
  if (strEq(v, S_O_SUPPRESS)) return 4;
  if (strEq(v, S_O_DENY)) return 5;
  return -1;
}

/** Writes entry e's value (key k: a string or null) into the slot at r; false when it is neither. */
function slot(r: usize, e: usize, k: usize): bool {
  if (!keyIs(e, k)) return false;
  let v = <usize>load<u32>(e, 8);
  if (v == 0) return false;
  let t = load<u32>(v);
  if (t == T_NULL) {
    store<u32>(r, 0);
    store<u32>(r, NULL_LEN, 4);
    return true;
  }
  if (t != T_STR) return false;
  store<u32>(r, load<u32>(v, 8));
  store<u32>(r, load<u32>(v, 4), 4);
  return true;
}

/** The record of compact decision d, or 0 when it has a shape the record cannot carry. */
function record(d: usize): usize {
  if (d == 0 || load<u32>(d) != T_OBJ || load<u32>(d, 4) != 10) return 0;
  let e = <usize>load<u32>(d, 8);
  if (!keyIs(e, S_OUTCOME)) return 0;
  let oc = outcomeIndex(<usize>load<u32>(e, 8));
  if (oc < 0) return 0;
  let re = e + (7 << 4);
  if (!keyIs(re, S_REASONS)) return 0;
  let rs = <usize>load<u32>(re, 8);
  if (rs == 0 || load<u32>(rs) != T_ARR) return 0;
  let n = load<u32>(rs, 4);
  let rev = e + (9 << 4);
  if (!keyIs(rev, S_REVISION)) return 0;
  let rv = <usize>load<u32>(rev, 8);
  if (rv == 0 || load<u32>(rv) != T_STR) return 0;
  let r = alloc(<usize>(REC_WORDS + n) << 2);
  store<u32>(r, REC_RECORD);
  store<u32>(r, <u32>oc, 4);
  if (!slot(r + 8, e + (1 << 4), S_NODE)) return 0;
  if (!slot(r + 16, e + (2 << 4), S_CHANNEL)) return 0;
  if (!slot(r + 24, e + (3 << 4), S_TEMPLATE)) return 0;
  if (!slot(r + 32, e + (4 << 4), S_OFFER)) return 0;
  if (!slot(r + 40, e + (5 << 4), S_VARIANT)) return 0;
  if (!slot(r + 48, e + (6 << 4), S_SEND_AT)) return 0;
  if (!slot(r + 56, e + (8 << 4), S_EXPLANATION)) return 0;
  store<u32>(r, n, 64);
  let el = n > 0 ? <usize>load<u32>(rs, 8) : 0;
  let out = r + (<usize>REC_WORDS << 2);
  for (let i: u32 = 0; i < n; i++) {
    // A reason must be a compact code: an integer below 2^32 (compactDecision).
    let x = <usize>load<u32>(el + (<usize>i << 2));
    if (x == 0 || load<u32>(x) != T_NUM) return 0;
    let f = load<f64>(x, 16);
    if (!(f >= 0 && f < 4294967296) || f != Math.floor(f)) return 0;
    store<u32>(out + (<usize>i << 2), <u32>f);
  }
  return r;
}

/** Compact decision d in its record form, or, when the record cannot carry it, as JSON. */
export function decisionRecord(d: usize): usize {
  let r = record(d);
  if (r != 0) return r;
  let j = alloc(8);
  store<u32>(j, REC_JSON);
  store<u32>(j, <u32>dumpJSON(d), 4);
  return j;
}
