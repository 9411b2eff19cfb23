// The decision engine of docs/ir.md (steps 1-10 and the three entrypoints). It reads the plan
// from data.waypost.plan and calls the policy's compiled conditions through eval_cond, which
// the emitter splices in (a br_table dispatcher over the generated condition functions).
import { alloc, heapPtr, setHeap } from "./mem";
import { EP_COUNT, EP_SUPPRESSED, EP_CONSENT } from "./contract";
import {
  T_NULL, T_BOOL, T_NUM, T_STR, T_ARR, T_OBJ, V_NULL, V_TRUE, V_FALSE,
  isTrue, isStr, isNum, isArr, isObj, boolV, arrAt, newNum, newStr, newObj, objPush, objPushS,
  objGet, objGetC, objGetV, objGetS, objGetH, objIndex, keyHash, strEq, deepEq, bytesEq, bytesCmp,
} from "./value";
import { parseTime, toTime, timeOk, formatTime, floorModF, MS_MIN, MS_DAY, resetTimeMemo } from "./time";
import {
  S_WAYPOST, S_PLAN, S_LISTS, S_REVISION, S_SYSTEMS, S_EVENTS, S_EVENT_FIELDS, S_NODES, S_FIELDS,
  S_OFFSETS_MS, S_QUIET_HOURS, S_KEYS, S_CUSTOMER, S_UTC_OFFSET, S_REASONS, S_SYSTEM, S_EVENT,
  S_NODE, S_NOW, S_CONTEXT, S_HISTORY, S_INPUT, S_ID, S_VALID_FROM, S_VALID_UNTIL, S_ROLLOUT_BP,
  S_ROLLOUT_SALT, S_REQUIRED, S_CONDITIONS, S_COND, S_REASON, S_FAIL, S_GATES, S_CHANNEL,
  S_OUTCOME, S_UNTIL, S_PASS, S_STEP, S_CONSENT, S_CHANNELS, S_TEMPLATES, S_OFFER, S_EXPERIMENT,
  S_SALT, S_HOLDOUT_BP, S_VARIANTS, S_WEIGHT_BP, S_EXPLANATION, S_REVIEW_REASON, S_RISK, S_HIGH,
  S_TYPE, S_NULLABLE, S_VALUES, S_MIN, S_MAX, S_TY_STRING, S_TY_NUMBER, S_TY_INTEGER, S_TY_BOOLEAN,
  S_TY_TIMESTAMP, S_TY_DATE, S_TY_STRING_ARR, S_TY_NUMBER_ARR, S_START_MIN, S_END_MIN, S_KIND,
  S_SUPPRESSION, S_MATCH, S_O_SEND, S_O_DEFER, S_O_REVIEW, S_O_HOLDOUT, S_O_SUPPRESS, S_O_DENY,
  S_R_INVALID_REQUEST, S_R_SYSTEM_NOT_ALLOWED, S_R_UNKNOWN_EVENT, S_R_FIELD_NOT_ALLOWED,
  S_R_INVALID_FIELD, S_R_MISSING_FIELD, S_R_NO_ELIGIBLE_NODE, S_TEMPLATE, S_VARIANT, S_SEND_AT,
  S_DETAIL, S_SUPPRESSED, S_CODE, S_POLICY, S_MESSAGE, S_SOURCE, S_VARIANT_SUFFIX,
  S_FORMAT, S_F_SHA256, S_F_ISO639_1, S_F_EMAIL, S_HOLDOUT_REASON, S_AT, S_PURPOSE, S_PURPOSES,
  S_D_HISTORY, S_D_NOT_OBJECT, S_D_MISSING, S_D_BAD_TIMESTAMP, S_D_BAD_CHANNEL, S_D_BAD_PURPOSE,
  S_D_NOT_STRING, S_D_UNKNOWN_KEY, S_TIME_ZONE, S_ZONES,
  S_AT_SEND, S_R_BLOCKED_AT_SEND_TIME, S_R_NOT_VALID_AT_SEND_TIME, S_ROLLOUT_SUFFIX,
  S_CANDIDATE, S_NOT_FOR_SYSTEM, S_NOT_REQUESTED, S_OUTSIDE_VALIDITY_WINDOW, S_OUTSIDE_ROLLOUT,
  S_LOWER_PRIORITY, S_FALLBACK_NEXT, S_ARBITRATION, S_FALLBACK, S_ARB_ON, S_ARB_NEXT,
  S_EXHAUSTED_REASON, S_K_QUIET_HOURS, S_K_VALIDITY, S_HOLDOUTS, S_CONTROL_REASON, S_TREATMENT_REASON,
} from "./strings";
import { tableOk, toLocal, fromLocal } from "./zone";
import { S_MISSING, S_ALLOW, S_REASON_TABLE, S_NODE_PARTS, S_TITLE, S_SHAPE, S_PRIORITY } from "./strings";
import { S_LIST_MURMUR3_64 } from "./strings";
import { listDigest } from "./hash";
import { resetFieldMemo } from "./ops";

// Spliced in by the emitter: value of condition `i` (0 = undefined).
@external("waypost", "eval_cond")
declare function evalCond(i: i32): usize;

// ---------------------------------------------------------------------------------------------
// Per-evaluation state, read by the condition helpers (ops.ts).
export let gCtx: usize = 0; // request.context
export let gNow: f64 = 0; // request.now in ms; bound to the send time during step 10 (sendTimeBlock)
export let gNowV: usize = 0; // the same as a number value
export let gHistory: usize = 0; // request.history (0 when absent)
// request.history as checked (historyProblem), one HIST_REC-byte record per entry: `at` parsed
// (f64), then the channel, purpose and node values (0 when absent). Every frequency cap counts
// the history (ops.ts historyCount), several per candidate and channel: each entry's time is
// parsed and its keys looked up once per evaluation instead of once per count. 0 when there is
// no checked history.
export let gHistRecs: usize = 0;
export const HIST_REC: usize = 24;
export let gOffsetMin: f64 = 0; // context[plan.keys.utc_offset] when a number, else 0
export let gZone: usize = 0; // plan.zones[context[plan.keys.time_zone]] when a usable table, else 0
export let gLists: usize = 0; // data.waypost.lists
let gCustomer: usize = 0; // context[plan.keys.customer] when a string
let gSystemNodes: usize = 0; // plan.systems[system]
let gEventNodes: usize = 0; // plan.events[event]
let gReqNode: usize = 0; // request.node
let gEvent: usize = 0; // request.event

// ---------------------------------------------------------------------------------------------
// Plan cache: pointers into data, valid while the same data value is loaded. The exported
// opa_json_parse bumps parseGen, so a setData (which re-parses, maybe at the same address)
// invalidates it; the fast path parses its input internally and keeps it.
export let parseGen: u32 = 0;
let cacheGen: u32 = 0xffffffff;
let cacheData: usize = 0;
let pPlan: usize = 0;
let pRevision: usize = 0;
let pSystems: usize = 0;
let pEvents: usize = 0;
let pEventFields: usize = 0;
let pNodes: usize = 0;
let pFields: usize = 0;
let pOffsets: usize = 0;
let pQuiet: usize = 0;
let pKeyCustomer: usize = 0;
let pKeyOffset: usize = 0;
let pKeyZone: usize = 0;
let pZones: usize = 0;
let pReasons: usize = 0;
let pPlanLists: usize = 0;
let pChannels: usize = 0; // plan.channels: what a history entry may name
let pPurposes: usize = 0; // plan.purposes
let pHoldouts: usize = 0; // plan.holdouts (universal holdouts)
let pArbitration: usize = 0; // plan.arbitration

function loadPlan(data: usize): void {
  if (data == cacheData && parseGen == cacheGen) return;
  cacheData = data;
  cacheGen = parseGen;
  gTab = data != 0 && data == tabData;
  let w = objGetS(data, S_WAYPOST);
  pPlan = objGetS(w, S_PLAN);
  gLists = objGetS(w, S_LISTS);
  pRevision = objGetS(w, S_REVISION);
  if (pRevision == 0) pRevision = V_NULL;
  pSystems = objGetS(pPlan, S_SYSTEMS);
  pEvents = objGetS(pPlan, S_EVENTS);
  pEventFields = objGetS(pPlan, S_EVENT_FIELDS);
  pNodes = objGetS(pPlan, S_NODES);
  gIdxW = indexWidth(nodeCount());
  // Node rows and node tables are read through the tables planIndex builds: data it did not
  // index (it always does when opa_json_parse parses a plan) has no candidates, so every
  // decision denies.
  if (!gTab && (isStr(pNodes) || hasRow(pNodes))) pNodes = 0;
  pFields = objGetS(pPlan, S_FIELDS);
  pOffsets = objGetS(pPlan, S_OFFSETS_MS);
  pQuiet = objGetS(pPlan, S_QUIET_HOURS);
  let keys = objGetS(pPlan, S_KEYS);
  pKeyCustomer = objGetS(keys, S_CUSTOMER);
  pKeyOffset = objGetS(keys, S_UTC_OFFSET);
  pKeyZone = objGetS(keys, S_TIME_ZONE);
  pZones = objGetS(pPlan, S_ZONES);
  pReasons = objGetS(pPlan, S_REASONS);
  pPlanLists = objGetS(pPlan, S_LISTS);
  pChannels = objGetS(pPlan, S_CHANNELS);
  pPurposes = objGetS(pPlan, S_PURPOSES);
  pHoldouts = objGetS(pPlan, S_HOLDOUTS);
  pArbitration = objGetS(pPlan, S_ARBITRATION);
}

// Hex digits a node index takes in an index string (docs/ir.md "Bundle data"), for this plan.
let gIdxW: u32 = 1;

/** The hex digits of n - 1 (at least 1): the width of a node index among n nodes. */
function indexWidth(n: u32): u32 {
  let w: u32 = 1;
  while (n > 1 && w < 8 && (<u64>1 << (<u64>w << 2)) < <u64>n) w++;
  return w;
}

/** The number of node indices in ev (plan.events[event]: an array, or an index string). */
function evLen(ev: usize): u32 {
  return isStr(ev) ? load<u32>(ev, 4) / gIdxW : alen(ev);
}

// hexVal by byte (255: not a lowercase hex digit), for evAt: one load a digit on every candidate.
const HEX_VAL: usize = memory.data<u8>([255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 10, 11, 12, 13, 14, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]);

/** Node index k of ev as a number (-1 when it is not one: a digit that is not hex, a non-number). */
function evAt(ev: usize, k: u32): f64 {
  if (!isStr(ev)) {
    let v = arrAt(ev, k);
    return isNum(v) ? load<f64>(v, 16) : -1;
  }
  let w = gIdxW; // 1 to 8 (indexWidth)
  let p = <usize>load<u32>(ev, 8) + <usize>(k * w);
  // Unrolled: the meter charges a loop on every iteration, and this runs for every candidate.
  // A byte that is not a digit is 255 in HEX_VAL, so `bad` exceeds 15 (x is then garbage).
  let d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p));
  let x = d, bad = d;
  if (w > 1) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 1)); x = (x << 4) | d; bad |= d; }
  if (w > 2) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 2)); x = (x << 4) | d; bad |= d; }
  if (w > 3) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 3)); x = (x << 4) | d; bad |= d; }
  if (w > 4) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 4)); x = (x << 4) | d; bad |= d; }
  if (w > 5) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 5)); x = (x << 4) | d; bad |= d; }
  if (w > 6) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 6)); x = (x << 4) | d; bad |= d; }
  if (w > 7) { d = <u32>load<u8>(HEX_VAL + <usize>load<u8>(p + 7)); x = (x << 4) | d; bad |= d; }
  return bad > 15 ? -1 : <f64>x;
}

/** Some element of array a is an array (a node row). */
function hasRow(a: usize): bool {
  let n = alen(a);
  for (let i: u32 = 0; i < n; i++) if (isArr(arrAt(a, i))) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Slot tables: built once while opa_json_parse parses a data value holding a Waypost plan (so
// they live below the SDK's data heap pointer). Every plan node, node condition, gate and field
// spec object gets, in its free header word @28 (parsed objects only; json.ts zeroes it), a
// pointer to an array of its fields' values in fixed slots (0 = absent), so the hot path reads
// a slot instead of hashing or scanning keys. Objects without a table read through objGetS.
// A node's table (a *shape table*): the values of its keys that nodes of one shape share
// (node_parts, docs/ir.md "Bundle data"), built once per shape.
const N_VALID_FROM: u32 = 0, N_VALID_UNTIL: u32 = 1, N_ROLLOUT_BP: u32 = 2, N_REQUIRED: u32 = 3,
  N_CONDITIONS: u32 = 4, N_CHANNELS: u32 = 5, N_GATES: u32 = 6, N_TEMPLATES: u32 = 7,
  N_EXPERIMENT: u32 = 8, N_RISK: u32 = 9, N_REVIEW_REASON: u32 = 10, N_OFFER: u32 = 11,
  N_EXPLANATION: u32 = 12,
  N_REQUIRED_H: u32 = 13, // keyHash of each required string (u32s)
  N_CANDIDATE: u32 = 14, N_HOLDOUTS: u32 = 15,
  N_SLOTS: u32 = 16;
// A node's own table: what differs from node to node, and its shape table (a node without a
// shape, or with keys of its own beyond NODE_OWN_KEYS, has a shape table of its own). 16 bytes
// a node, the nodes' tables one block (tabOwn, in node order: a node's position is its table's):
// a full table per node (92 bytes, and its file as a string) was a sixth of a 10,000-node
// load's Wasm memory; the id, event, source and salt are read from the node itself.
const O_SHAPE: u32 = 0, // the node's shape table (N_*); 0: the node is neither an object nor a row
  O_FLAGS: u32 = 1, // O_DEFAULT_SALT | a node table row's event (O_EVENT_*) (a u32, not a value)
  O_SYS_MASK: u32 = 2, // bit s: plan.systems' s-th system (s < 32) lists the node (a u32)
  O_ROW: u32 = 3, // a node table row: its offset in the table's text (a u32)
  O_SLOTS: u32 = 4;
// In O_FLAGS: the node's salt is the default, its id and "#rollout" (docs/ir.md "Bundle data").
const O_DEFAULT_SALT: u32 = 0x80000000;
// In O_FLAGS of a node table row with an empty event: 1 + the position in plan.events of the
// event that lists it (tableEvents), O_EVENT_ASK until that is known.
const O_EVENT_MASK: u32 = 0x7fffffff;
const O_EVENT_ASK: u32 = 0x7fffffff;
// A node row's members (docs/ir.md "Bundle data"); the priority is the compiler's (events are
// listed in priority order).
const R_ID: u32 = 0, R_EVENT: u32 = 1, R_SHAPE: u32 = 3, R_SOURCE: u32 = 4, R_SALT: u32 = 5;
const C_COND: u32 = 0, C_REASON: u32 = 1, C_FAIL: u32 = 2, C_SLOTS: u32 = 3;
const G_CHANNEL: u32 = 0, G_COND: u32 = 1, G_REASON: u32 = 2, G_OUTCOME: u32 = 3, G_UNTIL: u32 = 4,
  G_PASS: u32 = 5, G_STEP: u32 = 6, G_AT_SEND: u32 = 7, G_SLOTS: u32 = 8;
const F_NULLABLE: u32 = 0, F_TYPE: u32 = 1, F_VALUES: u32 = 2, F_FORMAT: u32 = 3, F_MIN: u32 = 4,
  F_MAX: u32 = 5, F_TYCODE: u32 = 6, F_CONSENT: u32 = 7, F_SLOTS: u32 = 8;

// The data value whose plan objects carry tables, and the end of the memory it and its tables
// use: a later opa_json_parse allocating below that end may overwrite them (index.ts).
export let tabData: usize = 0;
export let tabHi: usize = 0;
// Tables are in use for the current evaluation (data == tabData).
let gTab = false;

/** Field `key` of o (slot i of its table when it has one). */
// @ts-ignore: decorator
@inline function sl(o: usize, i: u32, key: usize): usize {
  if (gTab && isObj(o)) {
    let t = <usize>load<u32>(o, 28);
    if (t != 0) return load<u32>(t + (<usize>i << 2));
  }
  return slowGet(o, key);
}

// A node *handle* (nodeAt): while gTab the node's own table (0 for a node that is neither an
// object nor a row), else the node value itself (an object: rows are read only when indexed).

/** Field `key` of node n (slot i of its shape table while gTab). */
// @ts-ignore: decorator
@inline function ns(n: usize, i: u32, key: usize): usize {
  if (gTab) return n == 0 ? 0 : load<u32>(<usize>load<u32>(n) + (<usize>i << 2));
  return slowGet(n, key);
}

/** Node n's own table (O_*) while gTab, else 0. */
// @ts-ignore: decorator
@inline function ownTab(n: usize): usize {
  return gTab ? n : 0;
}

/** The handle of plan.nodes[i] (i in range). */
// @ts-ignore: decorator
@inline function nodeAt(i: u32): usize {
  return gTab ? ownAt(i) : arrAt(pNodes, i);
}

/** The own table of the indexed plan's node i, or 0 (neither an object nor a row). */
// @ts-ignore: decorator
@inline function ownAt(i: u32): usize {
  let t = tabOwn + (<usize>i << 4);
  return load<u32>(t) != 0 ? t : 0;
}

/** The position in plan.nodes of the node of own table t. */
// @ts-ignore: decorator
@inline function ownIndex(t: usize): u32 {
  return <u32>((t - tabOwn) >> 4);
}

/** The number of nodes of the plan being evaluated (a node table's rows when indexed). */
function nodeCount(): u32 {
  return gTab ? tabNN : alen(pNodes);
}

/** Own key `key` (row member r) of the node of own table t. */
function ownKey(t: usize, r: u32, key: usize): usize {
  if (tabTable != 0) return tableMember(t, r);
  let v = arrAt(tabNodes, ownIndex(t));
  return isArr(v) ? arrAt(v, r) : nodeGet(v, key);
}

/** The rollout salt of the node of own table t (without the suffix of a default salt). */
function ownSalt(t: usize): usize {
  if ((load<u32>(t, O_FLAGS << 2) & O_DEFAULT_SALT) != 0) return ownKey(t, R_ID, S_ID);
  if (tabTable != 0) return tableMember(t, R_SALT);
  let v = arrAt(tabNodes, ownIndex(t));
  return isArr(v) ? (alen(v) > R_SALT ? arrAt(v, R_SALT) : 0) : nodeGet(v, S_ROLLOUT_SALT);
}

// ---------------------------------------------------------------------------------------------
// The node table (docs/ir.md "Bundle data"): plan.nodes as one string of rows, each ending with
// ";", members separated by "|"; a string member packed against its block's head row (a shared
// prefix and suffix length, then the rest). Read in place: a row's strings are made when asked
// for (a new string value, pointing into the text when the member is its own text), so the
// parsed plan holds no value per node.

// Rows per block (reason-table.ts NODE_TABLE_BLOCK).
const TABLE_BLOCK: u32 = 64;
// The indexed plan's node table (a string value), or 0 when its nodes are a list.
let tabTable: usize = 0;
// The indexed plan's nodes (a node table's rows) and events (a row's event).
let tabNN: u32 = 0;
let tabEvents: usize = 0;
// The length of the member rowMember found.
let gMemLen: u32 = 0;

/** The start of member r of the table row at p (its length in gMemLen), or 0 when the row has none. */
function rowMember(p: usize, r: u32): usize {
  let k: u32 = 0;
  let s = p;
  while (true) {
    let c = load<u8>(p);
    if (c == 0x7c || c == 0x3b) {
      if (k == r) { gMemLen = <u32>(p - s); return s; }
      if (c == 0x3b) return 0;
      k++;
      s = p + 1;
    }
    p++;
  }
  return 0;
}

/** The value of a packed string's length digit (0-9, A-Z, a-z, -, _: 0 to 63), else -1. */
function packDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x41 && c <= 0x5a) return <i32>(c - 0x41 + 10);
  if (c >= 0x61 && c <= 0x7a) return <i32>(c - 0x61 + 36);
  if (c == 0x2d) return 62;
  if (c == 0x5f) return 63;
  return -1;
}

/**
 * Member r (R_ID, R_EVENT, R_SOURCE, R_SALT) of the node table row of own table t as a string
 * value, or 0 when the row has none. An empty event is the one that lists the row (O_FLAGS).
 */
function tableMember(t: usize, r: u32): usize {
  let text = <usize>load<u32>(tabTable, 8);
  let m = rowMember(text + <usize>load<u32>(t, O_ROW << 2), r);
  if (m == 0) return 0;
  let n = gMemLen;
  if (n == 0) {
    let ev = load<u32>(t, O_FLAGS << 2) & O_EVENT_MASK;
    if (r != R_EVENT || ev == 0 || ev == O_EVENT_ASK) return 0;
    let e = <usize>load<u32>(tabEvents, 8) + (<usize>(ev - 1) << 4);
    return newStr(load<u32>(e, 4), load<u32>(e));
  }
  let pre = <u32>packDigit(load<u8>(m)), suf = <u32>packDigit(load<u8>(m, 1));
  let mid = m + 2, ml = n - 2;
  if (pre == 0 && suf == 0) return newStr(mid, ml);
  let i = ownIndex(t);
  let h = rowMember(text + <usize>load<u32>(tabOwn + (<usize>(i - i % TABLE_BLOCK) << 4), O_ROW << 2), r) + 2;
  let hl = gMemLen - 2;
  let out = alloc(<usize>(pre + ml + suf) | 1);
  memory.copy(out, h, pre);
  memory.copy(out + pre, mid, ml);
  memory.copy(out + pre + ml, h + hl - suf, suf);
  return newStr(out, pre + ml + suf);
}

/** Whether [p, p + n) is an integer the node table may hold: -?(0|[1-9][0-9]{0,k - 1}). */
function tableInt(p: usize, n: u32, sign: bool, k: u32): bool {
  if (sign && n > 0 && load<u8>(p) == 0x2d) { p++; n--; }
  if (n == 0 || n > k) return false;
  if (load<u8>(p) == 0x30) return n == 1;
  for (let i: u32 = 0; i < n; i++) {
    let c = load<u8>(p + i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * The rows of node table t (a string value), or -1 when it is not a node table: a character
 * other than printable ASCII (a quote and a backslash excluded), or not ending with ";".
 */
function tableRows(t: usize): i32 {
  let p = <usize>load<u32>(t, 8);
  let n = load<u32>(t, 4);
  let rows: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    let c = load<u8>(p + i);
    if (c < 0x20 || c > 0x7e || c == 0x22 || c == 0x5c) return -1;
    if (c == 0x3b) rows++;
  }
  if (n > 0 && load<u8>(p + n - 1) != 0x3b) return -1;
  return rows;
}

/**
 * Indexes the nn rows of node table t (tableRows) into their own tables: each row's members
 * checked (docs/ir.md "Bundle data"), its shape resolved as a row's. False when a row cannot be
 * read as written (the data is refused).
 */
function indexTable(t: usize, nn: u32): bool {
  let text = <usize>load<u32>(t, 8);
  let p = text;
  // The lengths of the head row's string members (id, event, -, -, source, salt).
  let hl = alloc(24);
  for (let i: u32 = 0; i < nn; i++) {
    let rec = tabOwn + (<usize>i << 4);
    let head = i % TABLE_BLOCK == 0;
    let row = p;
    let k: u32 = 0;
    let s = p;
    let flags: u32 = O_DEFAULT_SALT;
    let shapeNo: i32 = -1;
    while (true) {
      let c = load<u8>(p);
      if (c != 0x7c && c != 0x3b) { p++; continue; }
      let ml = <u32>(p - s);
      if (k == 2) {
        if (!tableInt(s, ml, true, 15)) return false;
      } else if (k == 3) {
        if (!tableInt(s, ml, false, 9)) return false;
        let x: u32 = 0;
        for (let j: u32 = 0; j < ml; j++) x = x * 10 + <u32>(load<u8>(s + j) - 0x30);
        if (x >= alen(tabParts)) return false;
        shapeNo = <i32>x;
      } else if (k <= 5) {
        if (k == 1 && ml == 0) flags |= O_EVENT_ASK;
        else {
          let pre = ml >= 2 ? packDigit(load<u8>(s)) : -1, suf = ml >= 2 ? packDigit(load<u8>(s + 1)) : -1;
          if (pre < 0 || suf < 0) return false;
          if (head) {
            if (pre != 0 || suf != 0) return false;
            store<u32>(hl + (<usize>k << 2), ml - 2);
          } else if (<u32>(pre + suf) > load<u32>(hl + (<usize>k << 2))) return false;
          if (k == 5) flags &= ~O_DEFAULT_SALT;
        }
      }
      if (c == 0x3b) break;
      k++;
      s = ++p;
    }
    p++;
    if (k != 4 && k != 5) return false;
    // A head without an event or a salt: its rows' are packed against the empty string.
    if (head && k == 4) store<u32>(hl + 20, 0);
    if (head && (flags & O_EVENT_MASK) == O_EVENT_ASK) store<u32>(hl + 4, 0);
    let shape = arrAt(tabParts, <u32>shapeNo);
    if (!isObj(shape)) return false;
    let seen: u32 = 3;
    if (firstSeen(<u32>shapeNo)) {
      seen = resolveParts(shape);
      resolveKey(shape, S_REVIEW_REASON);
    }
    store<u32>(rec, shapeTable(shape, <u32>shapeNo, seen), O_SHAPE << 2);
    store<u32>(rec, flags, O_FLAGS << 2);
    store<u32>(rec, 0, O_SYS_MASK << 2);
    store<u32>(rec, <u32>(row - text), O_ROW << 2);
  }
  return true;
}

/** Node n's id (a string value, or what else it holds; 0 when none). */
function nodeId(n: usize): usize {
  if (gTab) return n == 0 ? 0 : ownKey(n, R_ID, S_ID);
  return slowGet(n, S_ID);
}

/**
 * Bit i of system bitmap bm (a string value, docs/ir.md "Bundle data": hex digit i / 4, bit
 * i % 4); false past its end or on a digit that is not lowercase hex (planIndex refuses such a
 * bitmap; this is for data it did not index).
 */
function bitmapHas(bm: usize, i: u32): bool {
  if ((i >> 2) >= load<u32>(bm, 4)) return false;
  let d = hexVal(load<u8>(<usize>load<u32>(bm, 8) + <usize>(i >> 2)));
  return d >= 0 && ((d >> <i32>(i & 3)) & 1) != 0;
}

/** A lowercase hex digit's value, else -1. */
function hexVal(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x57);
  return -1;
}

/** Field `key` of a plan object without a slot table: its own, else (a node) its shape's. */
function slowGet(o: usize, key: usize): usize {
  let v = objGetS(o, key);
  if (v != 0 || !isObj(o)) return v;
  let sh = objGetS(o, S_SHAPE);
  return isObj(sh) ? objGetS(sh, key) : 0;
}

function slotTab(o: usize, n: u32): usize {
  let t = alloc(<usize>n << 2);
  store<u32>(o, t, 28);
  return t;
}

// Field spec type codes (fieldOk).
const TY_BAD: u32 = 0, TY_STRING: u32 = 1, TY_NUMBER: u32 = 2, TY_INTEGER: u32 = 3, TY_BOOLEAN: u32 = 4,
  TY_TIMESTAMP: u32 = 5, TY_STRING_ARR: u32 = 6, TY_NUMBER_ARR: u32 = 7, TY_DATE: u32 = 8;

function tyCode(ty: usize): u32 {
  if (!isStr(ty)) return TY_BAD;
  if (strEq(ty, S_TY_STRING)) return TY_STRING;
  if (strEq(ty, S_TY_NUMBER)) return TY_NUMBER;
  if (strEq(ty, S_TY_INTEGER)) return TY_INTEGER;
  if (strEq(ty, S_TY_BOOLEAN)) return TY_BOOLEAN;
  if (strEq(ty, S_TY_TIMESTAMP)) return TY_TIMESTAMP;
  if (strEq(ty, S_TY_DATE)) return TY_DATE;
  if (strEq(ty, S_TY_STRING_ARR)) return TY_STRING_ARR;
  if (strEq(ty, S_TY_NUMBER_ARR)) return TY_NUMBER_ARR;
  return TY_BAD;
}

// @28 of a reason_table entry that is a template (a `policy`, `message` or `source` given as
// pieces, docs/ir.md "Bundle data"): TPL | its index. reasonOut fills it in for the node gRN.
const TPL: u32 = 0x80000000;

/** Table entry r is a template: one of its text fields is a list of pieces. */
function isTemplate(r: usize): bool {
  return isArr(objGetS(r, S_POLICY)) || isArr(objGetS(r, S_MESSAGE)) || isArr(objGetS(r, S_SOURCE));
}

/** Marks (@28 = 1) a plan reason object that reasonOut may return as is. */
function markReason(r: usize): void {
  if (isObj(r) && load<u32>(r, 28) == 0 && canonicalReason(r)) store<u32>(r, 1, 28);
}

// plan.reason_table (docs/ir.md "Bundle data") of the plan being indexed: a reason stored as an
// index into it is replaced, in its holder, by the table's entry, so every later read (slot or
// key) sees the reason object itself.
let tabReasonTable: usize = 0;

/** Replaces entry `e`'s value, when it is an integer index into the reason table, by that entry. */
function resolveEntry(e: usize): void {
  let v = <usize>load<u32>(e, 8);
  if (!isNum(v) || !isArr(tabReasonTable)) return;
  let x = load<f64>(v, 16);
  if (!(x >= 0 && x < <f64>alen(tabReasonTable)) || x != Math.floor(x)) return;
  store<u32>(e, arrAt(tabReasonTable, <u32>x), 8);
}

/** Resolves (resolveEntry) and marks (markReason) the reason under static key `key` of o. */
function resolveKey(o: usize, key: usize): void {
  if (!isObj(o)) return;
  let n = load<u32>(o, 4);
  let e = <usize>load<u32>(o, 8);
  for (let i: u32 = 0; i < n; i++, e += 16) {
    if (!keyIs(e, key)) continue;
    resolveEntry(e);
    markReason(load<u32>(e, 8));
    return;
  }
}

/** Resolves and marks every value of o (a node's `candidate`, `plan.reasons`). */
function resolveValues(o: usize): void {
  if (!isObj(o)) return;
  let n = load<u32>(o, 4);
  let e = <usize>load<u32>(o, 8);
  for (let i: u32 = 0; i < n; i++, e += 16) {
    resolveEntry(e);
    markReason(load<u32>(e, 8));
  }
}

/**
 * Puts the keys of table reason r in output order (code, policy, message, source, channel), in
 * place, so reasonOut returns it as is. data.json is canonical JSON (keys sorted), so without
 * this every reported reason would be copied on every decision. Objects with a hash index (more
 * keys than a reason has) are left alone: their entries' order is their index's.
 */
function canonicalOrder(r: usize, index: u32): void {
  if (!isObj(r) || load<u32>(r, 12) != 0) return;
  let n = load<u32>(r, 4);
  if (n != 4 && n != 5) return;
  let e = <usize>load<u32>(r, 8);
  let tmp = alloc(80);
  for (let k: u32 = 0; k < n; k++) {
    let key = k == 0 ? S_CODE : k == 1 ? S_POLICY : k == 2 ? S_MESSAGE : k == 3 ? S_SOURCE : S_CHANNEL;
    let found = false;
    for (let i: u32 = 0; i < n; i++) {
      let ei = e + (<usize>i << 4);
      if (keyIs(ei, key)) {
        memory.copy(tmp + (<usize>k << 4), ei, 16);
        found = true;
        break;
      }
    }
    if (!found) return; // not a reason's key set: left as it is
  }
  let same = true;
  for (let i: u32 = 0; i < n << 2; i++) if (load<u32>(e + (<usize>i << 2)) != load<u32>(tmp + (<usize>i << 2))) same = false;
  if (!same) {
    memory.copy(e, tmp, <usize>n << 4);
    // Its source text (json.ts: dumped as is) has the old key order: dump the entries instead.
    store<u32>(r, 0, 20);
  }
  // Marked canonical (reasonOut) with its table index: 2 + index (compactDecision); a template
  // with TPL | index (never returned as is).
  if (isTemplate(r)) store<u32>(r, TPL | index, 28);
  else if (canonicalReason(r)) store<u32>(r, index + 2, 28);
}

function indexCond(c: usize): void {
  if (!isObj(c)) return;
  resolveKey(c, S_REASON);
  resolveKey(c, S_FAIL);
  let t = slotTab(c, C_SLOTS);
  store<u32>(t, objGetS(c, S_COND), C_COND << 2);
  store<u32>(t, objGetS(c, S_REASON), C_REASON << 2);
  store<u32>(t, objGetS(c, S_FAIL), C_FAIL << 2);
}

function indexGate(g: usize): void {
  if (!isObj(g)) return;
  resolveKey(g, S_REASON);
  resolveKey(g, S_PASS);
  let t = slotTab(g, G_SLOTS);
  store<u32>(t, objGetS(g, S_CHANNEL), G_CHANNEL << 2);
  store<u32>(t, objGetS(g, S_COND), G_COND << 2);
  store<u32>(t, objGetS(g, S_REASON), G_REASON << 2);
  store<u32>(t, objGetS(g, S_OUTCOME), G_OUTCOME << 2);
  store<u32>(t, objGetS(g, S_UNTIL), G_UNTIL << 2);
  store<u32>(t, objGetS(g, S_PASS), G_PASS << 2);
  store<u32>(t, objGetS(g, S_STEP), G_STEP << 2);
  store<u32>(t, objGetS(g, S_AT_SEND), G_AT_SEND << 2);
}

// plan.node_parts of the plan being indexed, and one byte per part: its conditions or gates
// already indexed (a part is shared by many nodes; its objects get one slot table).
let tabParts: usize = 0;
let tabPartSeen: usize = 0;
// Set when a node holds a part index that is not in node_parts: the data is refused.
let tabBad = false;

/** Node keys data.json may store as an index into plan.node_parts (reason-table.ts NODE_PART_KEYS). */
function partKey(e: usize): bool {
  return keyIs(e, S_CANDIDATE) || keyIs(e, S_CHANNELS) || keyIs(e, S_CONDITIONS) || keyIs(e, S_EXPLANATION)
    || keyIs(e, S_GATES) || keyIs(e, S_REQUIRED) || keyIs(e, S_TEMPLATES) || keyIs(e, S_TITLE);
}

/** Part j of node_parts, first seen now (marked seen). */
// @ts-ignore: decorator
@inline function firstSeen(j: u32): bool {
  let mark = tabPartSeen + <usize>j;
  let first = load<u8>(mark) == 0;
  store<u8>(mark, 1);
  return first;
}

/** Part index value v as a part number, or -1 (tabBad set) when it is not one. */
function partNo(v: usize): i32 {
  let x = load<f64>(v, 16);
  if (!(x >= 0 && x < <f64>alen(tabParts)) || x != Math.floor(x)) { tabBad = true; return -1; }
  return <i32>x;
}

/**
 * Replaces each part index among the members of o (a node or a node shape) by the part (in
 * place, like a reason index); returns a bit per part key whose part was seen before (its
 * objects are already indexed): 1 conditions, 2 gates.
 */
function resolveParts(o: usize): u32 {
  let seen: u32 = 0;
  let k = load<u32>(o, 4);
  let e = <usize>load<u32>(o, 8);
  for (let i: u32 = 0; i < k; i++, e += 16) {
    let v = <usize>load<u32>(e, 8);
    if (!isNum(v) || !partKey(e)) continue;
    let j = partNo(v);
    if (j < 0) continue;
    store<u32>(e, arrAt(tabParts, <u32>j), 8);
    if (!firstSeen(<u32>j)) {
      if (keyIs(e, S_CONDITIONS)) seen |= 1;
      else if (keyIs(e, S_GATES)) seen |= 2;
    }
  }
  return seen;
}

/**
 * Node n's shape (docs/ir.md "Bundle data": the object holding its keys other than id, event,
 * priority, rollout salt and source), its index replaced by the part; 0 when it has none. Sets
 * gShapeSeen: the shape was resolved before (all its parts too).
 */
let gShapeSeen = false;
let gShapeNo: u32 = 0; // its number in node_parts
function resolveShape(n: usize): usize {
  gShapeSeen = false;
  let k = load<u32>(n, 4);
  let e = <usize>load<u32>(n, 8);
  for (let i: u32 = 0; i < k; i++, e += 16) {
    if (!keyIs(e, S_SHAPE)) continue;
    let v = <usize>load<u32>(e, 8);
    if (isNum(v)) {
      let j = partNo(v);
      if (j < 0) return 0;
      v = arrAt(tabParts, <u32>j);
      store<u32>(e, v, 8);
      gShapeSeen = !firstSeen(<u32>j);
      gShapeNo = <u32>j;
    } else gShapeNo = 0xffffffff; // inline (a hand-made plan): no template
    if (!isObj(v)) { tabBad = true; return 0; }
    return v;
  }
  return 0;
}

/** Field `key` of node n: its own, else its shape's (resolveShape). */
function nodeGet(n: usize, key: usize): usize {
  let v = objGetS(n, key);
  if (v != 0) return v;
  let sh = objGetS(n, S_SHAPE);
  return isObj(sh) ? objGetS(sh, key) : 0;
}

/** The file of a node's `source` (without its trailing `:line:col`) as a string value, or 0. */
function sourceFile(src: usize): usize {
  if (!isStr(src)) return 0;
  let p = <usize>load<u32>(src, 8);
  let i = <i32>load<u32>(src, 4) - 1;
  for (let part = 0; part < 2; part++) {
    let d = i;
    while (i >= 0 && load<u8>(p + <usize>i) >= 0x30 && load<u8>(p + <usize>i) <= 0x39) i--;
    if (i == d || i < 0 || load<u8>(p + <usize>i) != 0x3a) return 0;
    i--;
  }
  return i < 0 ? 0 : newStr(p, <u32>(i + 1));
}

// Per node_parts entry, the slot table of a shape (its nodes' slots but their own keys'), built
// once per planIndex (0: not yet).
let tabShapeTabs: usize = 0;

/** Node n has no keys but a shape's companions (NODE_OWN_KEYS and `shape`). */
function ownKeysOnly(n: usize): bool {
  let k = load<u32>(n, 4);
  let e = <usize>load<u32>(n, 8);
  for (let i: u32 = 0; i < k; i++, e += 16) {
    if (!(keyIs(e, S_ID) || keyIs(e, S_EVENT) || keyIs(e, S_SOURCE) || keyIs(e, S_ROLLOUT_SALT)
      || keyIs(e, S_PRIORITY) || keyIs(e, S_SHAPE))) return false;
  }
  return true;
}

/**
 * A node's own table (O_*): its shape table st, then what depends on its own keys and position.
 * An encoded node (`shaped`) without a salt has its id and "#rollout" (docs/ir.md "Bundle data").
 */
function ownTable(t: usize, st: usize, id: usize, salt: usize, shaped: bool): void {
  store<u32>(t, st, O_SHAPE << 2);
  let dflt = salt == 0 && shaped && isStr(id);
  store<u32>(t, dflt ? O_DEFAULT_SALT : 0, O_FLAGS << 2);
  store<u32>(t, 0, O_SYS_MASK << 2); // planIndex sets it once the systems are known
  store<u32>(t, 0, O_ROW << 2);
}

/** The salt of node value n without `rollout_salt` when data is not indexed (ownTable's rule). */
function defaultSaltOf(n: usize, id: usize): usize {
  return isStr(id) && objGetS(n, S_SHAPE) != 0 ? id : 0;
}

/** The shape table of node part j, shape `shape` (built with the first node of that shape). */
function shapeTable(shape: usize, j: u32, seen: u32): usize {
  let at = tabShapeTabs + (<usize>j << 2);
  let st = <usize>load<u32>(at);
  if (st == 0) {
    st = alloc(<usize>N_SLOTS << 2);
    fillSlots(shape, st, seen);
    store<u32>(at, st);
  }
  return st;
}

/** Node n indexed into own table t (O_SHAPE 0 when it is neither an object nor a row). */
function indexNode(n: usize, t: usize): void {
  if (isArr(n)) { indexRow(n, t); return; }
  if (!isObj(n)) { memory.fill(t, 0, <usize>O_SLOTS << 2); return; }
  // Its shape (shared by nodes of one template) and parts: resolved, and their objects
  // indexed, once.
  let shape = resolveShape(n);
  let seen: u32 = 0;
  let shaped = objGetS(n, S_SHAPE) != 0;
  if (shape != 0) {
    if (gShapeSeen) seen = 3;
    else {
      seen = resolveParts(shape);
      resolveKey(shape, S_REVIEW_REASON);
    }
    if (gShapeNo != 0xffffffff && ownKeysOnly(n)) {
      // The usual node: its shape's slots, then its own. Looking each slot's key up in the
      // node and then in its shape was most of a 10,000-node load.
      ownTable(t, shapeTable(shape, gShapeNo, seen), nodeGet(n, S_ID), nodeGet(n, S_ROLLOUT_SALT), shaped);
      return;
    }
  }
  seen |= resolveParts(n);
  resolveKey(n, S_REVIEW_REASON);
  let st = alloc(<usize>N_SLOTS << 2);
  fillSlots(n, st, seen);
  ownTable(t, st, nodeGet(n, S_ID), nodeGet(n, S_ROLLOUT_SALT), shaped);
}

/**
 * Node row n (docs/ir.md "Bundle data": [id, event, priority, shape, source] and maybe a
 * rollout salt) indexed into own table t. A row of another length, or whose shape is not the
 * index of an object in node_parts, makes the plan unreadable (tabBad).
 */
function indexRow(n: usize, t: usize): void {
  memory.fill(t, 0, <usize>O_SLOTS << 2);
  let k = alen(n);
  let sv = k == 5 || k == 6 ? arrAt(n, R_SHAPE) : 0;
  if (!isNum(sv)) { tabBad = true; return; }
  let j = partNo(sv);
  if (j < 0) return;
  let shape = arrAt(tabParts, <u32>j);
  if (!isObj(shape)) { tabBad = true; return; }
  let seen: u32 = 3;
  if (firstSeen(<u32>j)) {
    seen = resolveParts(shape);
    resolveKey(shape, S_REVIEW_REASON);
  }
  ownTable(t, shapeTable(shape, <u32>j, seen), arrAt(n, R_ID), k == 6 ? arrAt(n, R_SALT) : 0, true);
}

/**
 * Fills slot table t of node n (or of a shape: the slots of its nodes but the own ones),
 * indexes its conditions and gates unless `seen` says they are (1 conditions, 2 gates), and
 * resolves its candidate and experiment reasons.
 */
function fillSlots(n: usize, t: usize, seen: u32): void {
  store<u32>(t, nodeGet(n, S_CANDIDATE), N_CANDIDATE << 2);
  store<u32>(t, nodeGet(n, S_VALID_FROM), N_VALID_FROM << 2);
  store<u32>(t, nodeGet(n, S_VALID_UNTIL), N_VALID_UNTIL << 2);
  store<u32>(t, nodeGet(n, S_ROLLOUT_BP), N_ROLLOUT_BP << 2);
  let req = nodeGet(n, S_REQUIRED);
  store<u32>(t, req, N_REQUIRED << 2);
  let rn = alen(req);
  let rh = alloc(<usize>rn << 2 | 4);
  for (let i: u32 = 0; i < rn; i++) {
    let f = arrAt(req, i);
    store<u32>(rh + (<usize>i << 2), isStr(f) ? keyHash(load<u32>(f, 8), load<u32>(f, 4)) : 0);
  }
  store<u32>(t, rh, N_REQUIRED_H << 2);
  let conds = nodeGet(n, S_CONDITIONS);
  store<u32>(t, conds, N_CONDITIONS << 2);
  store<u32>(t, nodeGet(n, S_CHANNELS), N_CHANNELS << 2);
  let gates = nodeGet(n, S_GATES);
  store<u32>(t, gates, N_GATES << 2);
  store<u32>(t, nodeGet(n, S_TEMPLATES), N_TEMPLATES << 2);
  store<u32>(t, nodeGet(n, S_EXPERIMENT), N_EXPERIMENT << 2);
  store<u32>(t, nodeGet(n, S_RISK), N_RISK << 2);
  store<u32>(t, nodeGet(n, S_REVIEW_REASON), N_REVIEW_REASON << 2);
  store<u32>(t, nodeGet(n, S_OFFER), N_OFFER << 2);
  store<u32>(t, nodeGet(n, S_EXPLANATION), N_EXPLANATION << 2);
  store<u32>(t, nodeGet(n, S_HOLDOUTS), N_HOLDOUTS << 2);
  if ((seen & 1) == 0) {
    let cn = alen(conds);
    for (let i: u32 = 0; i < cn; i++) indexCond(arrAt(conds, i));
  }
  if ((seen & 2) == 0) {
    let gn = alen(gates);
    for (let i: u32 = 0; i < gn; i++) indexGate(arrAt(gates, i));
  }
  // Why the node lost (step 5) and its experiment's membership reasons (step 6): copied as is.
  resolveValues(nodeGet(n, S_CANDIDATE));
  let x = nodeGet(n, S_EXPERIMENT);
  if (isObj(x)) {
    resolveKey(x, S_HOLDOUT_REASON);
    resolveKey(x, S_TREATMENT_REASON);
    let vs = objGetS(x, S_VARIANTS);
    let vn = alen(vs);
    for (let i: u32 = 0; i < vn; i++) resolveKey(arrAt(vs, i), S_REASON);
  }
}

function indexSpec(f: usize): void {
  if (!isObj(f)) return;
  let t = slotTab(f, F_SLOTS);
  store<u32>(t, objGetS(f, S_NULLABLE), F_NULLABLE << 2);
  let ty = objGetS(f, S_TYPE);
  store<u32>(t, ty, F_TYPE << 2);
  store<u32>(t, objGetS(f, S_VALUES), F_VALUES << 2);
  store<u32>(t, objGetS(f, S_FORMAT), F_FORMAT << 2);
  store<u32>(t, objGetS(f, S_MIN), F_MIN << 2);
  store<u32>(t, objGetS(f, S_MAX), F_MAX << 2);
  store<u32>(t, tyCode(ty), F_TYCODE << 2);
  store<u32>(t, objGetS(f, S_CONSENT), F_CONSENT << 2);
}

/**
 * Called by opa_json_parse on each parsed value (v != 0): when it holds a Waypost plan, builds
 * the slot tables of its objects and records it as tabData.
 */
export function planIndex(v: usize): bool {
  if (!isObj(v)) return true;
  let plan = objGetS(objGetS(v, S_WAYPOST), S_PLAN);
  if (!isObj(plan)) return true;
  // The tables below are replaced from here on: data indexed before is not indexed any more
  // (were this plan refused half-way, that data would be read with its tables).
  tabData = 0;
  // The reason table first: its entries put in output order, then every index resolved to one.
  tabReasonTable = objGetS(plan, S_REASON_TABLE);
  let rtn = alen(tabReasonTable);
  for (let i: u32 = 0; i < rtn; i++) canonicalOrder(arrAt(tabReasonTable, i), i);
  tabParts = objGetS(plan, S_NODE_PARTS);
  let pn = alen(tabParts);
  tabPartSeen = alloc(<usize>pn | 1);
  memory.fill(tabPartSeen, 0, <usize>pn);
  tabShapeTabs = alloc(<usize>pn << 2 | 4);
  memory.fill(tabShapeTabs, 0, <usize>pn << 2);
  tabBad = false;
  let nodes = objGetS(plan, S_NODES);
  tabTable = isStr(nodes) ? nodes : 0;
  tabEvents = objGetS(plan, S_EVENTS);
  let rows = tabTable != 0 ? tableRows(nodes) : 0;
  if (rows < 0) return false;
  let nn = tabTable != 0 ? <u32>rows : alen(nodes);
  tabNN = nn;
  tabOwn = alloc(<usize>nn << 4 | 4);
  if (tabTable != 0) {
    if (!indexTable(nodes, nn)) return false;
  } else {
    for (let i: u32 = 0; i < nn; i++) indexNode(arrAt(nodes, i), tabOwn + (<usize>i << 4));
  }
  tabNodes = nodes;
  tabTableLen = rtn;
  // A part index that is not in node_parts: the plan cannot be read as written (the
  // interpreter's decodePlan throws); the data is refused.
  if (tabBad) return false;
  let fields = objGetS(plan, S_FIELDS);
  if (isObj(fields)) {
    let n = load<u32>(fields, 4);
    let e = <usize>load<u32>(fields, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) indexSpec(load<u32>(e, 8));
  }
  resolveValues(objGetS(plan, S_REASONS));
  let hs = objGetS(plan, S_HOLDOUTS);
  let hn = alen(hs);
  for (let i: u32 = 0; i < hn; i++) {
    let h = arrAt(hs, i);
    resolveKey(h, S_CONTROL_REASON);
    resolveKey(h, S_TREATMENT_REASON);
  }
  let quiet = objGetS(plan, S_QUIET_HOURS);
  let qn = alen(quiet);
  for (let i: u32 = 0; i < qn; i++) resolveKey(arrAt(quiet, i), S_REASON);
  let pl = objGetS(plan, S_LISTS);
  if (isObj(pl)) {
    let n = load<u32>(pl, 4);
    let e = <usize>load<u32>(pl, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) resolveKey(load<u32>(e, 8), S_REASON);
  }
  let arb = objGetS(plan, S_ARBITRATION);
  if (isObj(arb)) {
    let n = load<u32>(arb, 4);
    let e = <usize>load<u32>(arb, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) resolveKey(load<u32>(e, 8), S_EXHAUSTED_REASON);
  }
  // Each event's allowed-key set gets (@28) a merged copy mapping each key to its field spec
  // (V_NULL when it has none), so step 4 looks every context key up once.
  let ef = objGetS(plan, S_EVENT_FIELDS);
  if (isObj(ef)) {
    let n = load<u32>(ef, 4);
    let e = <usize>load<u32>(ef, 8);
    // A set shared with an earlier event is written as that event's name (docs/ir.md "Bundle
    // data"): replaced, in place, by that event's set; a name of no event with a set makes
    // the plan unreadable (all names checked before any is replaced: a name is never followed).
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let a = <usize>load<u32>(e, 8);
      if (isStr(a) && !isObj(objGetV(ef, a))) return false;
    }
    e = <usize>load<u32>(ef, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let a = <usize>load<u32>(e, 8);
      if (isStr(a)) store<u32>(e, objGetV(ef, a), 8);
    }
    e = <usize>load<u32>(ef, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let a = <usize>load<u32>(e, 8);
      // A shared set gets its merged copy once.
      if (!isObj(a) || load<u32>(a, 28) != 0) continue;
      let an = load<u32>(a, 4);
      let m = newObj(an);
      let ae = <usize>load<u32>(a, 8);
      for (let j: u32 = 0; j < an; j++, ae += 16) {
        let kl = load<u32>(ae), kp = <usize>load<u32>(ae, 4);
        let spec = objGet(fields, kp, kl);
        objPush(m, kp, kl, spec != 0 ? spec : V_NULL);
      }
      objIndex(m);
      store<u32>(a, m, 28);
    }
  }
  // Each system's node ids as a hash-indexed set (system -> {id: true}), so step 5's "node in
  // plan.systems[system]" is one lookup, not a scan of every node id (10,000 nodes x 100
  // candidates was a million string compares per decision).
  tabSysSets = 0;
  let systems = objGetS(plan, S_SYSTEMS);
  // The compiler lists each system's nodes in plan.nodes order: the masks come from one walk
  // along the nodes per system, without sets (two sets of 10,000 ids were 0.9 MB).
  if (isObj(systems) && !sysWalk(systems, nn)) {
    let n = load<u32>(systems, 4);
    let e = <usize>load<u32>(systems, 8);
    let sets = newObj(n);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let ids = <usize>load<u32>(e, 8);
      let m = alen(ids);
      let set = newObj(m);
      for (let j: u32 = 0; j < m; j++) {
        let id = arrAt(ids, j);
        if (isStr(id)) objPush(set, load<u32>(id, 8), load<u32>(id, 4), V_TRUE);
      }
      objIndex(set);
      objPush(sets, load<u32>(e, 4), load<u32>(e), set);
    }
    objIndex(sets);
    tabSysSets = sets;
    // Each node's systems as a bit mask (the first 32 systems): step 5 tests a bit instead of
    // probing a set of 10,000 ids per candidate.
    let sn = n < 32 ? n : 32;
    let se = <usize>load<u32>(sets, 8);
    for (let i: u32 = 0; i < nn; i++) {
      let t = ownAt(i);
      if (t == 0) continue;
      // A node table row's id is made for the look-up only: its memory is given back.
      let mark = heapPtr;
      let id = ownKey(t, R_ID, S_ID);
      let mask: u32 = 0;
      if (isStr(id)) {
        for (let s: u32 = 0; s < sn; s++) {
          if (objGetH(load<u32>(se + (<usize>s << 4), 8), load<u32>(id, 8), load<u32>(id, 4), keyHash(load<u32>(id, 8), load<u32>(id, 4))) != 0) mask |= <u32>1 << s;
        }
      }
      setHeap(mark);
      store<u32>(t, mask, O_SYS_MASK << 2);
    }
  }
  if (isObj(systems) && !sysBitmaps(systems, nn)) return false;
  if (!indexStringsOk(objGetS(plan, S_EVENTS), nn)) return false;
  if (!(tabTable != 0 ? tableEvents(objGetS(plan, S_EVENTS), nn) : rowEvents(objGetS(plan, S_EVENTS), nodes, nn))) return false;
  tabData = v;
  tabHi = heapPtr;
  return true;
}

/**
 * Gives each node row whose event is null (docs/ir.md "Bundle data") the event that lists it,
 * in place, as a string value (one per event); false when such a row is not listed exactly once
 * (the plan cannot be read as written: the data is refused).
 */
function rowEvents(events: usize, nodes: usize, nn: u32): bool {
  let cnt = alloc(<usize>nn | 1);
  memory.fill(cnt, 0, <usize>nn);
  let save = gIdxW;
  gIdxW = indexWidth(nn);
  let n: u32 = isObj(events) ? load<u32>(events, 4) : 0;
  let e0: usize = isObj(events) ? <usize>load<u32>(events, 8) : 0;
  for (let pass = 0; pass < 2; pass++) {
    let e = e0;
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let v = <usize>load<u32>(e, 8);
      let m = isStr(v) || isArr(v) ? evLen(v) : 0;
      let name: usize = 0;
      for (let k: u32 = 0; k < m; k++) {
        let x = evAt(v, k);
        if (!(x >= 0 && x < <f64>nn) || x != Math.floor(x)) continue;
        let c = cnt + <usize>x;
        if (pass == 0) { if (load<u8>(c) < 2) store<u8>(c, load<u8>(c) + 1); continue; }
        let row = arrAt(nodes, <u32>x);
        if (!isArr(row) || alen(row) < 5 || load<u32>(arrAt(row, R_EVENT)) != T_NULL) continue;
        if (load<u8>(c) != 1) { gIdxW = save; return false; }
        if (name == 0) name = newStr(load<u32>(e, 4), load<u32>(e));
        store<u32>(<usize>load<u32>(row, 8) + (<usize>R_EVENT << 2), name);
      }
    }
  }
  gIdxW = save;
  // A row still without an event is listed nowhere.
  for (let i: u32 = 0; i < nn; i++) {
    let row = arrAt(nodes, i);
    if (isArr(row) && alen(row) >= 5 && load<u32>(arrAt(row, R_EVENT)) == T_NULL) return false;
  }
  return true;
}

/**
 * rowEvents for a node table: each row with an empty event gets the position in events of the
 * event that lists it (O_FLAGS), in one walk and without counts (a row listed a second time
 * already has one); false when such a row is not listed exactly once.
 */
function tableEvents(events: usize, nn: u32): bool {
  let save = gIdxW;
  gIdxW = indexWidth(nn);
  let n: u32 = isObj(events) ? load<u32>(events, 4) : 0;
  let e: usize = isObj(events) ? <usize>load<u32>(events, 8) : 0;
  let ok = true;
  for (let i: u32 = 0; i < n && ok; i++, e += 16) {
    let v = <usize>load<u32>(e, 8);
    let m = isStr(v) || isArr(v) ? evLen(v) : 0;
    for (let k: u32 = 0; k < m; k++) {
      let x = evAt(v, k);
      if (!(x >= 0 && x < <f64>nn) || x != Math.floor(x)) continue;
      let t = tabOwn + (<usize>x << 4);
      let f = load<u32>(t, O_FLAGS << 2);
      let ev = f & O_EVENT_MASK;
      if (ev == 0) continue; // the row names its event
      if (ev != O_EVENT_ASK) { ok = false; break; }
      store<u32>(t, (f & O_DEFAULT_SALT) | (i + 1), O_FLAGS << 2);
    }
  }
  gIdxW = save;
  for (let i: u32 = 0; i < nn && ok; i++) {
    if ((load<u32>(tabOwn + (<usize>i << 4), O_FLAGS << 2) & O_EVENT_MASK) == O_EVENT_ASK) ok = false;
  }
  return ok;
}

/**
 * Every index string among the values of events (docs/ir.md "Bundle data") is whole indices of
 * the plan's nodes; else the plan cannot be read as written, and the data is refused.
 */
function indexStringsOk(events: usize, nn: u32): bool {
  if (!isObj(events)) return true;
  let w = indexWidth(nn);
  let n = load<u32>(events, 4);
  let e = <usize>load<u32>(events, 8);
  let save = gIdxW;
  gIdxW = w;
  let ok = true;
  for (let i: u32 = 0; i < n && ok; i++, e += 16) {
    let v = <usize>load<u32>(e, 8);
    if (!isStr(v)) continue;
    if (load<u32>(v, 4) % w != 0) { ok = false; break; }
    let m = evLen(v);
    for (let k: u32 = 0; k < m; k++) {
      let x = evAt(v, k);
      if (!(x >= 0 && x < <f64>nn)) { ok = false; break; }
    }
  }
  gIdxW = save;
  return ok;
}

/**
 * The systems written as node bitmaps (docs/ir.md "Bundle data"): each one's bit in the masks
 * of its nodes (the first 32 systems). False when one is not a bitmap of these nodes (its
 * length or a digit): the plan cannot be read as written (the interpreter's decodePlan throws),
 * so the data is refused.
 */
function sysBitmaps(systems: usize, nn: u32): bool {
  let n = load<u32>(systems, 4);
  let e = <usize>load<u32>(systems, 8);
  for (let s: u32 = 0; s < n; s++, e += 16) {
    let bm = <usize>load<u32>(e, 8);
    if (!isStr(bm)) continue;
    let len = load<u32>(bm, 4);
    if (len != (nn + 3) >> 2) return false;
    let p = <usize>load<u32>(bm, 8);
    for (let k: u32 = 0; k < len; k++) if (hexVal(load<u8>(p + k)) < 0) return false;
    if (s >= 32) continue;
    for (let i: u32 = 0; i < nn; i++) {
      if (!bitmapHas(bm, i)) continue;
      let t = ownAt(i);
      if (t != 0) store<u32>(t, load<u32>(t, O_SYS_MASK << 2) | (<u32>1 << s), O_SYS_MASK << 2);
    }
  }
  return true;
}

/**
 * Sets each node's O_SYS_MASK by walking each system's ids along the nodes (at most 32
 * systems, each listing its nodes in node order); false when the plan is not so (then every
 * mask is set again from sets).
 */
function sysWalk(systems: usize, nn: u32): bool {
  let n = load<u32>(systems, 4);
  if (n > 32) return false;
  for (let i: u32 = 0; i < nn; i++) {
    let t = ownAt(i);
    if (t != 0) store<u32>(t, 0, O_SYS_MASK << 2);
  }
  let e = <usize>load<u32>(systems, 8);
  for (let s: u32 = 0; s < n; s++, e += 16) {
    let ids = <usize>load<u32>(e, 8);
    let m = alen(ids);
    let j: u32 = 0;
    for (let k: u32 = 0; k < m; k++) {
      let id = arrAt(ids, k);
      if (!isStr(id)) continue;
      let t: usize = 0;
      while (j < nn) {
        let nt = ownAt(j);
        j++;
        if (nt == 0) continue;
        let mark = heapPtr; // a node table row's id is made for the comparison only
        let nid = ownKey(nt, R_ID, S_ID);
        let same = isStr(nid) && strEq(nid, id);
        setHeap(mark);
        if (same) { t = nt; break; }
      }
      if (t == 0) return false;
      store<u32>(t, load<u32>(t, O_SYS_MASK << 2) | (<u32>1 << s), O_SYS_MASK << 2);
    }
  }
  return true;
}

// The indexed plan's nodes and reason table length (a template instance's compact code), and
// each node's own table (u32s, 0 for a node that is neither an object nor a row).
let tabNodes: usize = 0;
let tabOwn: usize = 0;
let tabTableLen: u32 = 0;

// plan.systems as sets (planIndex), and the request system's set while gTab (check).
let tabSysSets: usize = 0;
let gSystemSet: usize = 0;
// The request system's bit in the nodes' O_SYS_MASK while gTab, or -1 (not among the first 32).
let gSysBit: i32 = -1;

// ---------------------------------------------------------------------------------------------
// Growable vectors of value addresses [len, cap, dataPtr], convertible to array values.

function vecNew(cap: u32): usize {
  let v = alloc(12);
  store<u32>(v, 0);
  store<u32>(v, cap, 4);
  store<u32>(v, alloc(<usize>cap << 2), 8);
  return v;
}

// @ts-ignore: decorator
@inline function vecPush(v: usize, x: usize): void {
  let n = load<u32>(v);
  if (n < load<u32>(v, 4)) {
    store<u32>(load<u32>(v, 8) + (<usize>n << 2), x);
    store<u32>(v, n + 1);
    return;
  }
  vecGrowPush(v, x);
}

function vecGrowPush(v: usize, x: usize): void {
  let n = load<u32>(v), cap = load<u32>(v, 4);
  if (n == cap) {
    let nd = alloc(<usize>cap << 3);
    memory.copy(nd, load<u32>(v, 8), <usize>n << 2);
    store<u32>(v, cap << 1, 4);
    store<u32>(v, nd, 8);
  }
  store<u32>(load<u32>(v, 8) + (<usize>n << 2), x);
  store<u32>(v, n + 1);
}

function vecArr(v: usize): usize {
  let a = alloc(12);
  store<u32>(a, T_ARR);
  store<u32>(a, load<u32>(v), 4);
  store<u32>(a, load<u32>(v, 8), 8);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Length of a value's array (0 if not an array). */
// @ts-ignore: decorator
@inline function alen(a: usize): u32 { return isArr(a) ? load<u32>(a, 4) : 0; }

/** String-equality membership (JS `includes` over strings). */
function hasStr(a: usize, s: usize): bool {
  if (!isStr(s)) return false;
  if (a == gSystemNodes && gSystemSet != 0) return objGetV(gSystemSet, s) != 0; // the same answer, hashed
  let n = alen(a);
  for (let i: u32 = 0; i < n; i++) {
    let x = arrAt(a, i);
    if (isStr(x) && strEq(x, s)) return true;
  }
  return false;
}

/** Condition `idx` (a number value) holds: its value is exactly true. */
// @ts-ignore: decorator
@inline function holds(idx: usize): bool {
  return isTrue(condVal(idx));
}

// @ts-ignore: decorator
@inline function condVal(idx: usize): usize {
  if (!isNum(idx)) return 0;
  let x = load<f64>(idx, 16);
  if (!(x >= 0 && x < 2147483648) || x != Math.floor(x)) return 0;
  return evalCond(<i32>x);
}

/** FNV-1a 32 over bytes; h is the running state. */
function fnv(h: u32, p: usize, n: u32): u32 {
  let end = p + <usize>n;
  while (p < end) {
    h = (h ^ <u32>load<u8>(p)) * 16777619;
    p++;
  }
  return h;
}

/** bucket(salt [+ suffix], id) = fnv1a32(salt suffix ":" id) mod 10000 (docs/ir.md). */
function bucket(salt: usize, suffix: usize, id: usize): u32 {
  let h: u32 = 2166136261;
  if (isStr(salt)) h = fnv(h, load<u32>(salt, 8), load<u32>(salt, 4));
  if (suffix != 0) h = fnv(h, load<u32>(suffix, 8), load<u32>(suffix, 4));
  h = (h ^ 0x3a) * 16777619;
  h = fnv(h, load<u32>(id, 8), load<u32>(id, 4));
  return h % 10000;
}

function numOr(v: usize, d: f64): f64 { return isNum(v) ? load<f64>(v, 16) : d; }

/** lists[list][item] exists and is null or a time strictly after now (a compact list: by digest). */
export function inList(lp: usize, ll: u32, item: usize): bool {
  if (!isStr(item)) return false;
  let entries = objGetC(gLists, lp, ll);
  if (!isObj(entries)) return false;
  let e: usize;
  let f = objGetS(entries, S_FORMAT);
  if (isStr(f) && strEq(f, S_LIST_MURMUR3_64)) {
    let keys = objGetS(entries, S_KEYS);
    if (!isStr(keys)) return false;
    listDigest(load<u32>(item, 8), load<u32>(item, 4), DIGEST);
    if (!compactFind(load<u32>(keys, 8), load<u32>(keys, 4))) return false;
    e = objGet(entries, DIGEST, 16);
    if (e == 0) return true; // no expiry
  } else {
    e = objGetV(entries, item);
    if (e == 0) return false;
  }
  let t = load<u32>(e);
  if (t == T_NULL) return true;
  if (t != T_STR) return false;
  let x = parseTime(load<u32>(e, 8), load<u32>(e, 4));
  return timeOk && x > gNow;
}

// The digest of the item being looked up in a compact list (16 hex digits).
const DIGEST: usize = memory.data(16);

/**
 * Whether DIGEST is among the n / 16 fixed-width digests at p: the binary search of
 * compact-list.ts's compactIndex (lo = 0, hi = count, mid = (lo + hi) >> 1); a length that is
 * not a multiple of 16 lists nothing. Digests are compared as big-endian words (byte order).
 */
function compactFind(p: usize, n: u32): bool {
  if ((n & 15) != 0) return false;
  let t0 = bswap<u64>(load<u64>(DIGEST));
  let t1 = bswap<u64>(load<u64>(DIGEST, 8));
  let lo: u32 = 0;
  let hi: u32 = n >> 4;
  while (lo < hi) {
    let mid = (lo + hi) >> 1;
    let at = p + (<usize>mid << 4);
    let a0 = bswap<u64>(load<u64>(at));
    let a1 = a0 == t0 ? bswap<u64>(load<u64>(at, 8)) : 0;
    if (a0 == t0 && a1 == t1) return true;
    if (a0 < t0 || (a0 == t0 && a1 < t1)) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/** Entry i of object o has the static string key k. */
// @ts-ignore: decorator
@inline function keyIs(e: usize, k: usize): bool {
  let n = load<u32>(k, 4);
  return load<u32>(e) == n && bytesEq(load<u32>(e, 4), load<u32>(k, 8), n);
}

/** r's keys are exactly code, policy, message, source[, channel], in that order. */
function canonicalReason(r: usize): bool {
  let n = load<u32>(r, 4);
  if (n != 4 && n != 5) return false;
  let e = <usize>load<u32>(r, 8);
  return keyIs(e, S_CODE) && keyIs(e + 16, S_POLICY) && keyIs(e + 32, S_MESSAGE) && keyIs(e + 48, S_SOURCE)
    && (n == 4 || keyIs(e + 64, S_CHANNEL));
}

// Canonical reason keys, in output order.
/**
 * A plan reason as output: `code, policy, message, source, channel?, detail?` (only the keys the
 * plan reason has). The plan's own object is reused when it already has exactly that shape.
 */
function reasonOut(r: usize, detail: usize): usize {
  if (!isObj(r)) return V_NULL;
  if (gTab && (load<u32>(r, 28) & TPL) != 0) {
    let e = load<u32>(r, 28) & ~TPL;
    // templateOut's compact code, without the call (a failed trigger's reason, per candidate).
    if (gCompact && detail == 0 && gRN != 0) {
      let code = compactCode(e, gRN);
      if (code < 4294967296) return newNum(code);
    }
    return templateOut(r, e, gRN, detail);
  }
  // Plan reasons are almost always already canonical: check the keys in place (one compare
  // per entry) before looking each one up.
  if (detail == 0 && ((gTab && load<u32>(r, 28) != 0) || canonicalReason(r))) return r;
  let code = objGetS(r, S_CODE), policy = objGetS(r, S_POLICY), message = objGetS(r, S_MESSAGE);
  let source = objGetS(r, S_SOURCE), channel = objGetS(r, S_CHANNEL);
  let n = load<u32>(r, 4);
  if (detail == 0 && code != 0 && policy != 0 && message != 0 && source != 0 && n == (channel != 0 ? 5 : 4)) {
    // Same key set; reuse only if also in canonical order.
    let e = <usize>load<u32>(r, 8);
    if (load<u32>(e, 8) == code && load<u32>(e, 24) == policy && load<u32>(e, 40) == message
        && load<u32>(e, 56) == source && (channel == 0 || load<u32>(e, 72) == channel)) return r;
  }
  let o = newObj(6);
  if (code != 0) objPushS(o, S_CODE, code);
  if (policy != 0) objPushS(o, S_POLICY, policy);
  if (message != 0) objPushS(o, S_MESSAGE, message);
  if (source != 0) objPushS(o, S_SOURCE, source);
  if (channel != 0) objPushS(o, S_CHANNEL, channel);
  if (detail != 0) objPushS(o, S_DETAIL, detail);
  return o;
}

/**
 * reasonOut(r, 0) where each candidate reports one reason: a template's compact code (a failed
 * trigger's, a lower priority's) made here, number allocation included, without the two calls.
 */
// @ts-ignore: decorator
@inline function candidateOut(r: usize): usize {
  if (gTab && gCompact && gRN != 0 && isObj(r) && (load<u32>(r, 28) & TPL) != 0) {
    let code = compactCode(load<u32>(r, 28) & ~TPL, gRN);
    if (code < 4294967296) {
      let v = alloc(24); // newNum(code)
      store<u32>(v, T_NUM);
      store<u32>(v, 0, 4);
      store<u32>(v, 0, 8);
      store<f64>(v, code, 16);
      return v;
    }
  }
  return reasonOut(r, 0);
}

// The node whose reasons are being reported (a template's variables).
let gRN: usize = 0;
// waypost_decide is evaluating: a template instance may be written as its compact code.
let gCompact = false;

/** Text field v of a template for node n: v itself when a string, its pieces filled in when a list; 0 when a piece has no value. */
function reasonFill(v: usize, n: usize): usize {
  if (!isArr(v)) return v;
  let t = ownTab(n);
  if (t == 0) return 0;
  let file: usize = 0; // variable 2, made when a piece asks for it
  let k = alen(v);
  let total: u32 = 0;
  for (let pass = 0; pass < 2; pass++) {
    let out: usize = pass == 0 ? 0 : alloc(<usize>total | 1);
    let w = out;
    for (let i: u32 = 0; i < k; i++) {
      let p = arrAt(v, i);
      let s: usize = 0;
      if (isStr(p)) s = p;
      else if (isNum(p)) {
        let x = load<f64>(p, 16);
        if (x == 2 && file == 0) file = sourceFile(ownKey(t, R_SOURCE, S_SOURCE));
        s = x == 0 ? ownKey(t, R_ID, S_ID) : x == 1 ? ownKey(t, R_EVENT, S_EVENT) : x == 2 ? file : 0;
      }
      if (!isStr(s)) return 0;
      let l = load<u32>(s, 4);
      if (pass == 0) total += l;
      else { memory.copy(w, load<u32>(s, 8), l); w += l; }
    }
    if (pass == 1) return newStr(out, total);
  }
  return 0;
}

/** The compact code of template entry e for the node of own table t (templateOut). */
// @ts-ignore: decorator
@inline function compactCode(e: u32, t: usize): f64 {
  return <f64>e + <f64>tabTableLen * (<f64>ownIndex(t) + 1);
}

/**
 * Table entry r (index e), a template, reported for node n: in waypost_decide's compact form
 * the number e + len(reason_table) * (1 + n's position), which waypost_reason reads back; otherwise (or when the code does not fit in 32 bits) the reason itself, its
 * pieces filled in (V_NULL when one has no value: the runtime refuses it).
 */
function templateOut(r: usize, e: u32, n: usize, detail: usize): usize {
  let t = ownTab(n);
  if (t == 0) return V_NULL;
  let code = compactCode(e, t);
  // The code itself stands in the reasons (nothing reads a reason before compactDecision, which
  // keeps numbers as they are).
  if (gCompact && detail == 0 && code < 4294967296) return newNum(code);
  let code_ = objGetS(r, S_CODE), channel = objGetS(r, S_CHANNEL);
  let policy = reasonFill(objGetS(r, S_POLICY), n);
  let message = reasonFill(objGetS(r, S_MESSAGE), n);
  let source = reasonFill(objGetS(r, S_SOURCE), n);
  if (!isStr(code_) || policy == 0 || message == 0 || source == 0) return V_NULL;
  let o = newObj(6);
  objPushS(o, S_CODE, code_);
  objPushS(o, S_POLICY, policy);
  objPushS(o, S_MESSAGE, message);
  objPushS(o, S_SOURCE, source);
  if (channel != 0) objPushS(o, S_CHANNEL, channel);
  if (detail != 0) objPushS(o, S_DETAIL, detail);
  return o;
}

/** Appends plan.reasons[code] (+ detail) to vec R when the plan has it. */
function pushEngineReason(R: usize, code: usize, detail: usize): void {
  let r = objGetS(pReasons, code); // code: a static string
  if (r != 0) vecPush(R, reasonOut(r, detail));
}

// @ts-ignore: decorator
@inline function orNull(v: usize): usize { return v == 0 ? V_NULL : v; }

function decision(outcome: usize, R: usize, node: usize, channel: usize, template: usize, offer: usize,
    variant: usize, sendAt: usize, explanation: usize): usize {
  let o = newObj(10);
  objPushS(o, S_OUTCOME, outcome);
  objPushS(o, S_NODE, orNull(node));
  objPushS(o, S_CHANNEL, orNull(channel));
  objPushS(o, S_TEMPLATE, orNull(template));
  objPushS(o, S_OFFER, orNull(offer));
  objPushS(o, S_VARIANT, orNull(variant));
  objPushS(o, S_SEND_AT, orNull(sendAt));
  objPushS(o, S_REASONS, vecArr(R));
  objPushS(o, S_EXPLANATION, orNull(explanation));
  objPushS(o, S_REVISION, pRevision);
  return o;
}

function deny(code: usize, detail: usize, R: usize): usize {
  if (R == 0) R = vecNew(4);
  pushEngineReason(R, code, detail);
  return decision(S_O_DENY, R, 0, 0, 0, 0, 0, 0, 0);
}

/** Falsy JSON (false, 0, "", null) is what the SDK treats as "no input". */
function isFalsy(v: usize): bool {
  if (v == 0) return true;
  let t = load<u32>(v);
  if (t == T_NULL) return true;
  if (t == T_BOOL) return load<u32>(v, 4) == 0;
  if (t == T_NUM) return load<f64>(v, 16) == 0;
  if (t == T_STR) return load<u32>(v, 4) == 0;
  return false;
}

/** FieldSpec.format over the string's UTF-8 bytes (docs/ir.md step 4); unknown formats fail. */
function formatOk(fmt: usize, v: usize): bool {
  let n = load<u32>(v, 4);
  let p = load<u32>(v, 8) as usize;
  if (strEq(fmt, S_F_SHA256)) {
    if (n != 64) return false;
    for (let i: u32 = 0; i < n; i++) {
      let c = load<u8>(p + i);
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
    }
    return true;
  }
  if (strEq(fmt, S_F_ISO639_1)) {
    if (n != 2) return false;
    let a = load<u8>(p), b = load<u8>(p + 1);
    return a >= 0x61 && a <= 0x7a && b >= 0x61 && b <= 0x7a;
  }
  if (strEq(fmt, S_F_EMAIL)) {
    if (n > 254) return false;
    let at: i32 = -1;
    for (let i: u32 = 0; i < n; i++) {
      let c = load<u8>(p + i);
      if (c <= 0x20) return false;
      if (c == 0x40) {
        if (at >= 0) return false;
        at = i as i32;
      }
    }
    if (at < 1 || at > 64) return false;
    let d0 = (at as u32) + 1;
    if (d0 >= n) return false;
    if (load<u8>(p + d0) == 0x2e || load<u8>(p + n - 1) == 0x2e) return false;
    for (let i = d0; i < n; i++) if (load<u8>(p + i) == 0x2e) return true;
    return false;
  }
  return false;
}

/** A context value against its data-dictionary entry (step 4). A key without a spec passes. */
function fieldOk(spec: usize, v: usize): bool {
  if (!isObj(spec)) return true;
  let tb: usize = gTab ? <usize>load<u32>(spec, 28) : 0;
  let t = load<u32>(v);
  if (t == T_NULL) return isTrue(tb != 0 ? load<u32>(tb, F_NULLABLE << 2) : objGetS(spec, S_NULLABLE));
  let code = tb != 0 ? load<u32>(tb, F_TYCODE << 2) : tyCode(objGetS(spec, S_TYPE));
  switch (code) {
    case TY_STRING: { if (t != T_STR) return false; break; }
    case TY_NUMBER: { if (t != T_NUM) return false; break; }
    case TY_INTEGER: {
      if (t != T_NUM) return false;
      let x = load<f64>(v, 16);
      if (!isFinite(x) || x != Math.floor(x)) return false;
      break;
    }
    case TY_BOOLEAN: { if (t != T_BOOL) return false; break; }
    case TY_TIMESTAMP:
    case TY_DATE: {
      // Each type accepts only its own form: a date is exactly YYYY-MM-DD (10 bytes), which is
      // the only 10-byte shape parseTime accepts; a timestamp is anything longer it accepts.
      if (t != T_STR) return false;
      let n = load<u32>(v, 4);
      if ((n == 10) != (code == TY_DATE)) return false;
      let x = parseTime(load<u32>(v, 8), n);
      if (!timeOk) return false;
      // A consent time later than now is no consent (docs/ir.md step 4).
      if (x > gNow && isTrue(tb != 0 ? load<u32>(tb, F_CONSENT << 2) : objGetS(spec, S_CONSENT))) return false;
      break;
    }
    case TY_STRING_ARR:
    case TY_NUMBER_ARR: {
      if (t != T_ARR) return false;
      let want = code == TY_STRING_ARR ? T_STR : T_NUM;
      let n = load<u32>(v, 4);
      for (let i: u32 = 0; i < n; i++) if (load<u32>(arrAt(v, i)) != want) return false;
      break;
    }
    default: return false;
  }
  // values / min / max constrain scalar strings and numbers (not array elements).
  if (t == T_STR) {
    let vals = tb != 0 ? load<u32>(tb, F_VALUES << 2) : objGetS(spec, S_VALUES);
    if (isArr(vals) && !hasStr(vals, v)) return false;
    let fmt = tb != 0 ? load<u32>(tb, F_FORMAT << 2) : objGetS(spec, S_FORMAT);
    if (isStr(fmt) && !formatOk(fmt, v)) return false;
  } else if (t == T_NUM) {
    let x = load<f64>(v, 16);
    let mn = tb != 0 ? load<u32>(tb, F_MIN << 2) : objGetS(spec, S_MIN);
    let mx = tb != 0 ? load<u32>(tb, F_MAX << 2) : objGetS(spec, S_MAX);
    if (isNum(mn) && x < load<f64>(mn, 16)) return false;
    if (isNum(mx) && x > load<f64>(mx, 16)) return false;
  }
  return true;
}

/**
 * An invalid-request detail: `history[i]` (+ `.key`) + why when i >= 0, else key + why. Keys are
 * copied as given (the dump escapes them); `why` is a static string starting with ": ".
 */
function problem(i: i32, kp: usize, kl: u32, why: usize): usize {
  let digits: u32 = 0;
  if (i >= 0) {
    let x = <u32>i;
    do { digits++; x /= 10; } while (x != 0);
  }
  let hl: u32 = i >= 0 ? load<u32>(S_D_HISTORY, 4) + digits + 1 + (kl > 0 ? 1 : 0) : 0;
  let wl = load<u32>(why, 4);
  let n = hl + kl + wl;
  let p = alloc(n);
  let q = p;
  if (i >= 0) {
    let hn = load<u32>(S_D_HISTORY, 4);
    memory.copy(q, load<u32>(S_D_HISTORY, 8), hn);
    q += hn;
    let x = <u32>i;
    for (let k = digits; k > 0; k--) {
      store<u8>(q + k - 1, <u8>(0x30 + x % 10));
      x /= 10;
    }
    q += digits;
    store<u8>(q++, 0x5d); // ]
    if (kl > 0) store<u8>(q++, 0x2e); // .
  }
  memory.copy(q, kp, kl);
  q += kl;
  memory.copy(q, load<u32>(why, 8), wl);
  return newStr(p, n);
}

// @ts-ignore: decorator
@inline function problemS(i: i32, key: usize, why: usize): usize {
  return problem(i, load<u32>(key, 8), load<u32>(key, 4), why);
}

/** A request key outside system, event, now, context, node, history (a misspelt `History`). */
function unknownKey(input: usize): usize {
  let n = load<u32>(input, 4);
  let e = <usize>load<u32>(input, 8);
  let bp: usize = 0, bl: u32 = 0, bad = false;
  for (let j: u32 = 0; j < n; j++, e += 16) {
    if (keyIs(e, S_SYSTEM) || keyIs(e, S_EVENT) || keyIs(e, S_NOW) || keyIs(e, S_CONTEXT) || keyIs(e, S_NODE)
        || keyIs(e, S_HISTORY)) continue;
    let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
    if (!bad || bytesCmp(kp, kl, bp, bl) < 0) { bp = kp; bl = kl; bad = true; }
  }
  return bad ? problem(-1, bp, bl, S_D_UNKNOWN_KEY) : 0;
}

/**
 * The first malformed history entry as `history[i].key: why`, or 0 (docs/ir.md step 1). Such an
 * entry is refused, never skipped: skipping would let contacts slip past the frequency caps.
 */
function historyProblem(hist: usize): usize {
  let n = load<u32>(hist, 4);
  let recs = alloc(<usize>n * HIST_REC);
  for (let i: u32 = 0; i < n; i++) {
    let h = arrAt(hist, i);
    let ii = <i32>i;
    if (!isObj(h)) return problem(ii, 0, 0, S_D_NOT_OBJECT);
    // One pass over the entry's keys (a handful): the four known ones by value, the smallest
    // other key by bytes. (A JSON.stringify'd input has no duplicate keys.)
    let at: usize = 0, ch: usize = 0, pu: usize = 0, nd: usize = 0;
    let bp: usize = 0, bl: u32 = 0, bad = false;
    let m = load<u32>(h, 4);
    let e = <usize>load<u32>(h, 8);
    for (let j: u32 = 0; j < m; j++, e += 16) {
      let v = <usize>load<u32>(e, 8);
      if (keyIs(e, S_AT)) at = v;
      else if (keyIs(e, S_CHANNEL)) ch = v;
      else if (keyIs(e, S_PURPOSE)) pu = v;
      else if (keyIs(e, S_NODE)) nd = v;
      else {
        let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
        if (!bad || bytesCmp(kp, kl, bp, bl) < 0) { bp = kp; bl = kl; bad = true; }
      }
    }
    if (at == 0) return problemS(ii, S_AT, S_D_MISSING);
    if (!isStr(at)) return problemS(ii, S_AT, S_D_BAD_TIMESTAMP);
    let t = parseTime(load<u32>(at, 8), load<u32>(at, 4));
    if (!timeOk || load<u32>(at, 4) == 10) return problemS(ii, S_AT, S_D_BAD_TIMESTAMP);
    if (ch != 0 && !hasStr(pChannels, ch)) return problemS(ii, S_CHANNEL, S_D_BAD_CHANNEL);
    if (pu != 0 && !hasStr(pPurposes, pu)) return problemS(ii, S_PURPOSE, S_D_BAD_PURPOSE);
    if (nd != 0 && !isStr(nd)) return problemS(ii, S_NODE, S_D_NOT_STRING);
    if (bad) return problem(ii, bp, bl, S_D_UNKNOWN_KEY);
    let r = recs + <usize>i * HIST_REC;
    store<f64>(r, t);
    store<u32>(r, <u32>ch, 8);
    store<u32>(r, <u32>pu, 12);
    store<u32>(r, <u32>nd, 16);
  }
  gHistRecs = recs;
  return 0;
}

/** Steps 1-4. Returns 0 when the request passes (globals set), else the deny decision. */
function check(input: usize): usize {
  gSystemSet = 0; // until step 2 finds this request's system
  gSysBit = -1;
  gHistRecs = 0; // until historyProblem has checked this request's history
  // 1. Request shape.
  if (isFalsy(input)) return deny(S_R_INVALID_REQUEST, S_INPUT, 0);
  let sys = objGetS(input, S_SYSTEM);
  if (!isStr(sys)) return deny(S_R_INVALID_REQUEST, S_SYSTEM, 0);
  let ev = objGetS(input, S_EVENT);
  if (!isStr(ev)) return deny(S_R_INVALID_REQUEST, S_EVENT, 0);
  let nowS = objGetS(input, S_NOW);
  if (!isStr(nowS)) return deny(S_R_INVALID_REQUEST, S_NOW, 0);
  let now = parseTime(load<u32>(nowS, 8), load<u32>(nowS, 4));
  if (!timeOk || load<u32>(nowS, 4) == 10) return deny(S_R_INVALID_REQUEST, S_NOW, 0); // a timestamp, not a date
  gNow = now; // fieldOk compares consent times with it
  let ctx = objGetS(input, S_CONTEXT);
  if (!isObj(ctx)) return deny(S_R_INVALID_REQUEST, S_CONTEXT, 0);
  let node = objGetS(input, S_NODE);
  if (node != 0 && !isStr(node)) return deny(S_R_INVALID_REQUEST, S_NODE, 0);
  let hist = objGetS(input, S_HISTORY);
  if (hist != 0 && !isArr(hist)) return deny(S_R_INVALID_REQUEST, S_HISTORY, 0);
  let bad0 = unknownKey(input);
  if (bad0 != 0) return deny(S_R_INVALID_REQUEST, bad0, 0);
  if (hist != 0) {
    bad0 = historyProblem(hist);
    if (bad0 != 0) return deny(S_R_INVALID_REQUEST, bad0, 0);
  }
  // 2. System. 3. Event.
  gSystemNodes = objGetV(pSystems, sys);
  if (!isArr(gSystemNodes) && !isStr(gSystemNodes)) return deny(S_R_SYSTEM_NOT_ALLOWED, sys, 0);
  gSystemSet = gTab && tabSysSets != 0 ? objGetV(tabSysSets, sys) : 0;
  gSysBit = -1;
  if (gTab) {
    // The system's position among plan.systems' members: its bit in O_SYS_MASK (planIndex).
    let sn = load<u32>(pSystems, 4);
    let se = <usize>load<u32>(pSystems, 8);
    for (let s: u32 = 0; s < sn && s < 32; s++) if (load<u32>(se + (<usize>s << 4), 8) == gSystemNodes) { gSysBit = <i32>s; break; }
  }
  gEventNodes = objGetV(pEvents, ev);
  if (!isArr(gEventNodes) && !isStr(gEventNodes)) return deny(S_R_UNKNOWN_EVENT, ev, 0);
  gEvent = ev;
  // 4. Minimal context: the smallest (by bytes) key outside the event's set, then the smallest
  // key whose value fails its spec. One pass each, no sorting.
  let allowed = objGetV(pEventFields, ev);
  let n = load<u32>(ctx, 4);
  let e0 = <usize>load<u32>(ctx, 8);
  let badP: usize = 0, badL: u32 = 0, bad = false;
  let e = e0;
  let merged: usize = gTab && isObj(allowed) ? <usize>load<u32>(allowed, 28) : 0;
  if (merged != 0) {
    // One lookup per key (see planIndex). Specs are only checked while every key so far is
    // allowed: a key outside the set makes the field-not-allowed deny win anyway.
    let invP: usize = 0, invL: u32 = 0, inv = false;
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
      let h = load<u32>(e, 12);
      if (h == 0) { h = keyHash(kp, kl); store<u32>(e, h, 12); }
      let spec = objGetH(merged, kp, kl, h);
      if (spec == 0) {
        if (!bad || bytesCmp(kp, kl, badP, badL) < 0) { badP = kp; badL = kl; bad = true; }
      } else if (!bad && !fieldOk(spec, load<u32>(e, 8))) {
        if (!inv || bytesCmp(kp, kl, invP, invL) < 0) { invP = kp; invL = kl; inv = true; }
      }
    }
    if (bad) return deny(S_R_FIELD_NOT_ALLOWED, newStr(badP, badL), 0);
    if (inv) return deny(S_R_INVALID_FIELD, newStr(invP, invL), 0);
    return checkEnd(ctx, now, hist, node);
  }
  // A hash-indexed context already holds each key's hash; reuse it for both lookups.
  for (let i: u32 = 0; i < n; i++, e += 16) {
    let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
    let h = load<u32>(e, 12);
    if (h == 0) { h = keyHash(kp, kl); store<u32>(e, h, 12); } // the entry hash slot: 0 = not computed
    if (objGetH(allowed, kp, kl, h) != 0) continue;
    if (!bad || bytesCmp(kp, kl, badP, badL) < 0) { badP = kp; badL = kl; bad = true; }
  }
  if (bad) return deny(S_R_FIELD_NOT_ALLOWED, newStr(badP, badL), 0);
  e = e0;
  for (let i: u32 = 0; i < n; i++, e += 16) {
    let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
    if (fieldOk(objGetH(pFields, kp, kl, load<u32>(e, 12)), load<u32>(e, 8))) continue;
    if (!bad || bytesCmp(kp, kl, badP, badL) < 0) { badP = kp; badL = kl; bad = true; }
  }
  if (bad) return deny(S_R_INVALID_FIELD, newStr(badP, badL), 0);
  return checkEnd(ctx, now, hist, node);
}

/** The request passed steps 1-4: sets the per-evaluation globals. */
function checkEnd(ctx: usize, now: f64, hist: usize, node: usize): usize {
  gCtx = ctx;
  gNow = now;
  gNowV = newNum(now);
  gHistory = hist;
  gReqNode = node;
  gOffsetMin = 0;
  if (isStr(pKeyOffset)) {
    let off = objGetV(ctx, pKeyOffset);
    if (isNum(off) && isFinite(load<f64>(off, 16))) gOffsetMin = load<f64>(off, 16);
  }
  gZone = 0;
  if (isStr(pKeyZone)) {
    let zn = objGetV(ctx, pKeyZone);
    if (isStr(zn)) {
      let tab = objGetV(pZones, zn);
      if (tableOk(tab)) gZone = tab;
    }
  }
  gCustomer = 0;
  if (isStr(pKeyCustomer)) {
    let c = objGetV(ctx, pKeyCustomer);
    if (isStr(c)) gCustomer = c;
  }
  return 0;
}

// Step 5 result: the selected node, or 0 with selDecision set.
let selDecision: usize = 0;
// Block kinds (string values) of the last evaluated node: a vec made for each one (the heap is
// reset between evaluations, so nothing allocated may outlive one).
let gBlocked: usize = 0;
let gSendKind: usize = 0; // the block kind of the last channel sendTimeBlock blocked

/** Appends n.candidate[key] (why candidate n did not win) to R when the node has it. */
function candidateReason(R: usize, n: usize, key: usize): void {
  gRN = n;
  let c = ns(n, N_CANDIDATE, S_CANDIDATE);
  if (!isObj(c)) return;
  let r = objGetS(c, key);
  if (isObj(r)) vecPush(R, candidateOut(r));
}

/** Replaces the reasons of decision d (built by `decision`) with vec R. */
function setReasons(d: usize, R: usize): void {
  let n = load<u32>(d, 4);
  let e = <usize>load<u32>(d, 8);
  for (let i: u32 = 0; i < n; i++, e += 16) {
    if (keyIs(e, S_REASONS)) { store<u32>(e, vecArr(R), 8); return; }
  }
}

/** Every kind in gBlocked is in `on` (and there is at least one). */
function yields(on: usize): bool {
  let bn = load<u32>(gBlocked);
  if (bn == 0 || alen(on) == 0) return false;
  let bp = <usize>load<u32>(gBlocked, 8);
  for (let i: u32 = 0; i < bn; i++) if (!hasStr(on, load<u32>(bp + (<usize>i << 2)))) return false;
  return true;
}

/**
 * Step 5: the candidates in priority order, each not eligible one adding one reason to R. With
 * `evaluate` false (waypost/consent), returns the first eligible node; with it true, evaluates
 * each eligible one (steps 6-10) and returns the decision, letting a node blocked in a way the
 * event's arbitration names yield to the next. Returns 0 with selDecision set otherwise.
 */
// The required list last found complete in this evaluation's context (step 5e).
let gReqOk: usize = 0;

function candidates(R: usize, evaluate: bool): usize {
  gReqOk = 0;
  let m = evLen(gEventNodes);
  let nodesLen = nodeCount();
  let on: usize = 0;
  let arb: usize = 0;
  if (evaluate && isObj(pArbitration)) {
    arb = objGetV(pArbitration, gEvent);
    let fb = objGetS(arb, S_FALLBACK);
    if (isStr(fb) && strEq(fb, S_ARB_NEXT)) on = objGetS(arb, S_ARB_ON);
  }
  let first: usize = 0;
  for (let k: u32 = 0; k < m; k++) {
    let idx = evAt(gEventNodes, k);
    if (!(idx >= 0 && idx < <f64>nodesLen) || idx != Math.floor(idx)) continue;
    let n = nodeAt(<u32>idx);
    if (gTab && n == 0) continue; // neither an object nor a row: nothing to decide on
    gRN = n;
    let nt = ownTab(n);
    // The id is read only when something here needs it: with a node table and the system's bit
    // nothing does, unless the request names a node (a row read per candidate otherwise).
    let id: usize = 0;
    let forSystem: bool;
    if (nt != 0 && gSysBit >= 0) forSystem = ((load<u32>(nt, O_SYS_MASK << 2) >> <u32>gSysBit) & 1) != 0;
    else if (isStr(gSystemNodes)) forSystem = bitmapHas(gSystemNodes, <u32>idx);
    else {
      // The system's node set (planIndex) looked up with the id's hash from the node's table.
      id = nodeId(n);
      forSystem = nt != 0 && gSystemSet != 0 && isStr(id) ? objGetV(gSystemSet, id) != 0 : hasStr(gSystemNodes, id);
    }
    if (!forSystem) { candidateReason(R, n, S_NOT_FOR_SYSTEM); continue; }
    if (gReqNode != 0) {
      if (id == 0) id = nodeId(n);
      if (!strEq(id, gReqNode)) { candidateReason(R, n, S_NOT_REQUESTED); continue; }
    }
    let vf = ns(n, N_VALID_FROM, S_VALID_FROM);
    let vu = ns(n, N_VALID_UNTIL, S_VALID_UNTIL);
    if ((isNum(vf) && gNow < load<f64>(vf, 16)) || (isNum(vu) && gNow >= load<f64>(vu, 16))) {
      candidateReason(R, n, S_OUTSIDE_VALIDITY_WINDOW);
      continue;
    }
    let rb = ns(n, N_ROLLOUT_BP, S_ROLLOUT_BP);
    if (isNum(rb) && load<f64>(rb, 16) < 10000) {
      // Without a customer id the node cannot be proven to be in the rollout: skip it.
      let salt: usize = nt != 0 ? ownSalt(nt) : slowGet(n, S_ROLLOUT_SALT);
      let suffix: usize = nt != 0 && (load<u32>(nt, O_FLAGS << 2) & O_DEFAULT_SALT) != 0 ? S_ROLLOUT_SUFFIX : 0;
      if (nt == 0 && salt == 0) {
        salt = defaultSaltOf(n, nodeId(n));
        if (salt != 0) suffix = S_ROLLOUT_SUFFIX;
      }
      if (gCustomer == 0 || <f64>bucket(salt, suffix, gCustomer) >= load<f64>(rb, 16)) {
        candidateReason(R, n, S_OUTSIDE_ROLLOUT);
        continue;
      }
    }
    let req = ns(n, N_REQUIRED, S_REQUIRED);
    // Candidates sharing a required list (a node part) check it once per evaluation.
    let rn: u32 = req == gReqOk ? 0 : alen(req);
    let rh: usize = nt != 0 ? <usize>load<u32>(<usize>load<u32>(nt, O_SHAPE << 2), N_REQUIRED_H << 2) : 0;
    for (let i: u32 = 0; i < rn; i++) {
      let f = arrAt(req, i);
      if (!isStr(f)) continue;
      let v = rh != 0 ? objGetH(gCtx, load<u32>(f, 8), load<u32>(f, 4), load<u32>(rh + (<usize>i << 2)))
        : objGetV(gCtx, f);
      if (v == 0) {
        selDecision = deny(S_R_MISSING_FIELD, f, R);
        return 0;
      }
    }
    if (isArr(req)) gReqOk = req;
    let conds = ns(n, N_CONDITIONS, S_CONDITIONS);
    let cn = alen(conds);
    let failed = false;
    for (let i: u32 = 0; i < cn; i++) {
      let nc = arrAt(conds, i);
      if (!holds(sl(nc, C_COND, S_COND))) {
        vecPush(R, candidateOut(sl(nc, C_FAIL, S_FAIL)));
        failed = true;
        break;
      }
    }
    if (failed) continue;
    if (!evaluate) return n;
    gBlocked = vecNew(4);
    let d = evaluateNode(n, R);
    if (on != 0 && yields(on)) {
      // 5. The node yields: its reasons stay, the next candidate is tried.
      candidateReason(R, n, S_FALLBACK_NEXT);
      if (first == 0) first = d;
      continue;
    }
    // The decision stands: every later candidate lost to it on priority, unevaluated.
    for (let j: u32 = k + 1; j < m; j++) {
      let jx = evAt(gEventNodes, j);
      if (!(jx >= 0 && jx < <f64>nodesLen) || jx != Math.floor(jx)) continue;
      candidateReason(R, nodeAt(<u32>jx), S_LOWER_PRIORITY);
    }
    setReasons(d, R);
    return d;
  }
  if (first != 0) {
    let ex = objGetS(arb, S_EXHAUSTED_REASON);
    if (isObj(ex)) vecPush(R, reasonOut(ex, 0));
    setReasons(first, R);
    selDecision = first;
    return 0;
  }
  selDecision = deny(S_R_NO_ELIGIBLE_NODE, 0, R);
  return 0;
}

/** waypost/decide */
function decide(input: usize): usize {
  let d = check(input);
  if (d != 0) return d;
  // Room for a reason per candidate and the selected node's: R grows at most once.
  let r = candidates(vecNew(evLen(gEventNodes) + 16), true);
  return r != 0 ? r : selDecision;
}

/** Steps 6-10 for eligible candidate n, its reasons appended to R; gBlocked says what blocked it. */
function evaluateNode(n: usize, R: usize): usize {
  gRN = n;
  let id = nodeId(n);

  // 6. Selected node: condition reasons, holdout membership, then gates in order.
  let conds = ns(n, N_CONDITIONS, S_CONDITIONS);
  let cn = alen(conds);
  for (let i: u32 = 0; i < cn; i++) vecPush(R, reasonOut(sl(arrAt(conds, i), C_REASON, S_REASON), 0));
  let held = membership(n, R);
  let chans = ns(n, N_CHANNELS, S_CHANNELS);
  let chN = alen(chans);
  // Remaining channels: a copy we remove from (0 marks a removed slot).
  let rem = alloc(<usize>chN << 2 | 4);
  for (let i: u32 = 0; i < chN; i++) store<u32>(rem + (<usize>i << 2), arrAt(chans, i));
  let left = chN;
  let anySuppress = false;
  let removedBy = vecNew(4); // the kinds of the gates that removed a channel
  let gates = ns(n, N_GATES, S_GATES);
  let gn = alen(gates);
  for (let gi: u32 = 0; gi < gn; gi++) {
    let g = arrAt(gates, gi);
    let gch = sl(g, G_CHANNEL, S_CHANNEL);
    if (gch == 0) {
      if (holds(sl(g, G_COND, S_COND))) {
        vecPush(R, reasonOut(sl(g, G_REASON, S_REASON), 0));
        vecPush(gBlocked, gateKind(g));
        let outcome = sl(g, G_OUTCOME, S_OUTCOME);
        if (isStr(outcome) && strEq(outcome, S_O_DEFER)) {
          let t = toTime(condVal(sl(g, G_UNTIL, S_UNTIL)));
          let at: usize = timeOk ? formatTime(t) : 0;
          if (at == 0) return decision(S_O_SUPPRESS, R, id, 0, 0, 0, 0, 0, 0);
          // A deferral is a treatment that leaves later: a control customer gets `holdout`
          // (the would-be channel and template), as at step 7.
          if (held) {
            let hc = firstLeft(rem, chN);
            return decision(S_O_HOLDOUT, R, id, hc, templateOf(n, hc), 0, 0, 0, 0);
          }
          return decision(S_O_DEFER, R, id, 0, 0, 0, 0, at, 0);
        }
        return decision(orNull(outcome), R, id, 0, 0, 0, 0, 0, 0);
      }
      let pass = sl(g, G_PASS, S_PASS);
      if (isObj(pass)) vecPush(R, reasonOut(pass, 0));
      continue;
    }
    if (!isStr(gch)) continue;
    let present = false;
    for (let i: u32 = 0; i < chN; i++) {
      let c = load<u32>(rem + (<usize>i << 2));
      if (c != 0 && isStr(c) && strEq(c, gch)) { present = true; break; }
    }
    if (!present) continue;
    if (holds(sl(g, G_COND, S_COND))) {
      for (let i: u32 = 0; i < chN; i++) {
        let a = rem + (<usize>i << 2);
        let c = load<u32>(a);
        if (c != 0 && isStr(c) && strEq(c, gch)) { store<u32>(a, 0); left--; }
      }
      vecPush(R, reasonOut(sl(g, G_REASON, S_REASON), 0));
      vecPush(removedBy, gateKind(g));
      let outcome = sl(g, G_OUTCOME, S_OUTCOME);
      if (isStr(outcome) && strEq(outcome, S_O_SUPPRESS)) anySuppress = true;
    } else {
      let pass = sl(g, G_PASS, S_PASS);
      if (isObj(pass)) vecPush(R, reasonOut(pass, 0));
    }
  }
  if (left == 0) {
    gBlocked = removedBy;
    return decision(anySuppress ? S_O_SUPPRESS : S_O_DENY, R, id, 0, 0, 0, 0, 0, 0);
  }
  let channel = firstLeft(rem, chN);
  let template = templateOf(n, channel);

  // 7. Holdout (membership was recorded in step 6), else the experiment's variant. Without a
  // customer id both bucket tests fail: no holdout, no variant.
  if (held) return decision(S_O_HOLDOUT, R, id, channel, template, 0, 0, 0, 0);
  let variant: usize = 0;
  let x = ns(n, N_EXPERIMENT, S_EXPERIMENT);
  if (isObj(x) && gCustomer != 0) {
    let salt = objGetS(x, S_SALT);
    let vb = <f64>bucket(salt, S_VARIANT_SUFFIX, gCustomer);
    let vars = objGetS(x, S_VARIANTS);
    let vn = alen(vars);
    let cum: f64 = 0;
    for (let i: u32 = 0; i < vn; i++) {
      let v = arrAt(vars, i);
      cum += numOr(objGetS(v, S_WEIGHT_BP), 0);
      if (cum > vb) {
        variant = objGetS(v, S_ID);
        let vr = objGetS(v, S_REASON);
        if (isObj(vr)) vecPush(R, reasonOut(vr, 0));
        break;
      }
    }
  }

  // 8. Action: channel, template (above), offer (below). 9. Send time. 10. Send-time check: a
  // channel that fails it is removed and the next remaining one goes through 8-10 again.
  let t: f64 = 0;
  let deferred = false;
  let qn = alen(pQuiet);
  while (true) {
    t = gNow;
    if (isStr(channel)) t += numOr(objGetV(pOffsets, channel), 0);
    deferred = false;
    for (let i: u32 = 0; i < qn; i++) {
      let q = arrAt(pQuiet, i);
      if (!hasStr(objGetS(q, S_CHANNELS), channel)) continue;
      let local = toLocal(gZone, gOffsetMin, t);
      let m = floorModF(Math.floor(local / MS_MIN), 1440);
      let s = numOr(objGetS(q, S_START_MIN), 0), en = numOr(objGetS(q, S_END_MIN), 0);
      let inW = s < en ? (s <= m && m < en) : (m >= s || m < en);
      if (!inW) continue;
      // The window's end on the local calendar (today if still ahead, else tomorrow), as an instant.
      let day = Math.floor(local / MS_DAY) + (m < en ? 0 : 1);
      t = fromLocal(gZone, gOffsetMin, day * MS_DAY + en * MS_MIN, t);
      deferred = true;
      vecPush(R, reasonOut(objGetS(q, S_REASON), 0));
    }
    let block = sendTimeBlock(n, channel, t, R);
    if (block == 0) break;
    if (isStr(block) && strEq(block, S_O_SUPPRESS)) anySuppress = true;
    vecPush(removedBy, gSendKind);
    // Remove the channel: its slot (whatever it holds), and every equal string.
    for (let i: u32 = 0; i < chN; i++) {
      let a = rem + (<usize>i << 2);
      let c = load<u32>(a);
      if (c != 0 && (c == channel || (isStr(c) && isStr(channel) && strEq(c, channel)))) { store<u32>(a, 0); left--; }
    }
    if (left == 0) {
      gBlocked = removedBy;
      return decision(anySuppress ? S_O_SUPPRESS : S_O_DENY, R, id, 0, 0, 0, 0, 0, 0);
    }
    channel = firstLeft(rem, chN);
    template = templateOf(n, channel);
  }

  // 11. Outcome. A send time past 9999-12-31 cannot be written: no send without one (as a
  // deferral whose `until` is not a time).
  let sendAt = formatTime(t);
  if (sendAt == 0) return decision(S_O_SUPPRESS, R, id, 0, 0, 0, 0, 0, 0);
  let outcome = deferred ? S_O_DEFER : S_O_SEND;
  let risk = ns(n, N_RISK, S_RISK);
  if (isStr(risk) && strEq(risk, S_HIGH)) {
    outcome = S_O_REVIEW;
    let rr = ns(n, N_REVIEW_REASON, S_REVIEW_REASON);
    if (isObj(rr)) vecPush(R, reasonOut(rr, 0));
  }
  // Deferred only by quiet hours: a block the arbitration may name (step 5).
  if (outcome == S_O_DEFER) vecPush(gBlocked, S_K_QUIET_HOURS);
  return decision(outcome, R, id, channel, template, ns(n, N_OFFER, S_OFFER), variant, sendAt,
    ns(n, N_EXPLANATION, S_EXPLANATION));
}

/** The first channel still in `rem` (0 marks a removed slot), or 0. */
function firstLeft(rem: usize, chN: u32): usize {
  for (let i: u32 = 0; i < chN; i++) {
    let c = load<u32>(rem + (<usize>i << 2));
    if (c != 0) return c;
  }
  return 0;
}

/** Node n's template for channel ch, or 0 (none, or not a string). */
function templateOf(n: usize, ch: usize): usize {
  if (!isStr(ch)) return 0;
  let t = objGetV(ns(n, N_TEMPLATES, S_TEMPLATES), ch);
  return isStr(t) ? t : 0;
}

/** A gate's block kind for arbitration: its `kind`, else its step. */
function gateKind(g: usize): usize {
  let k = objGetS(g, S_KIND);
  return isStr(k) ? k : sl(g, G_STEP, S_STEP);
}

/**
 * Step 6, holdout membership: for each universal holdout of node n, then its experiment, the
 * group the customer is in (a reason each, appended to R). Returns whether one holds them out.
 */
function membership(n: usize, R: usize): bool {
  if (gCustomer == 0) return false;
  let held = false;
  let hs = ns(n, N_HOLDOUTS, S_HOLDOUTS);
  let hn = alen(hs);
  let pn = alen(pHoldouts);
  for (let i: u32 = 0; i < hn; i++) {
    let iv = arrAt(hs, i);
    if (!isNum(iv)) continue;
    let ix = load<f64>(iv, 16);
    if (!(ix >= 0 && ix < <f64>pn) || ix != Math.floor(ix)) continue;
    let h = arrAt(pHoldouts, <u32>ix);
    if (!isObj(h)) continue;
    let control = <f64>bucket(objGetS(h, S_SALT), 0, gCustomer) < numOr(objGetS(h, S_HOLDOUT_BP), 0);
    let why = objGetS(h, control ? S_CONTROL_REASON : S_TREATMENT_REASON);
    if (isObj(why)) vecPush(R, reasonOut(why, 0));
    if (control) held = true;
  }
  let x = ns(n, N_EXPERIMENT, S_EXPERIMENT);
  if (isObj(x)) {
    if (<f64>bucket(objGetS(x, S_SALT), 0, gCustomer) < numOr(objGetS(x, S_HOLDOUT_BP), 0)) {
      let hr = objGetS(x, S_HOLDOUT_REASON);
      if (isObj(hr)) vecPush(R, reasonOut(hr, 0));
      else pushEngineReason(R, S_O_HOLDOUT, 0);
      held = true;
    } else {
      let tr = objGetS(x, S_TREATMENT_REASON);
      if (isObj(tr)) vecPush(R, reasonOut(tr, 0));
    }
  }
  return held;
}

/**
 * Step 10 for `channel` sending at t: when t is later than now, the node's validity window,
 * then each `at_send` gate of the node or of the channel (in order) with now bound to t. The
 * first that blocks appends its reasons to R; returns its block outcome (V_NULL when it has
 * none), or 0 when the channel passes.
 */
function sendTimeBlock(n: usize, channel: usize, t: f64, R: usize): usize {
  if (!(t > gNow)) return 0;
  let at = formatTime(t);
  let vu = ns(n, N_VALID_UNTIL, S_VALID_UNTIL);
  if (isNum(vu) && t >= load<f64>(vu, 16)) {
    pushEngineReason(R, S_R_NOT_VALID_AT_SEND_TIME, at);
    gSendKind = S_K_VALIDITY; // no arbitration policy can name it (step 5)
    return S_O_DENY;
  }
  let gates = ns(n, N_GATES, S_GATES);
  let gn = alen(gates);
  let saveNow = gNow, saveNowV = gNowV;
  gNow = t;
  gNowV = newNum(t);
  let out: usize = 0;
  for (let gi: u32 = 0; gi < gn; gi++) {
    let g = arrAt(gates, gi);
    if (!isTrue(sl(g, G_AT_SEND, S_AT_SEND))) continue;
    let gch = sl(g, G_CHANNEL, S_CHANNEL);
    if (gch != 0 && !(isStr(gch) && isStr(channel) && strEq(gch, channel))) continue;
    if (!holds(sl(g, G_COND, S_COND))) continue;
    vecPush(R, reasonOut(sl(g, G_REASON, S_REASON), 0));
    pushEngineReason(R, S_R_BLOCKED_AT_SEND_TIME, at);
    gSendKind = gateKind(g);
    out = orNull(sl(g, G_OUTCOME, S_OUTCOME));
    break;
  }
  gNow = saveNow;
  gNowV = saveNowV;
  return out;
}

/** waypost/suppressed: steps 1-4, then the suppression lists that hold the request. */
function suppressed(input: usize): usize {
  let d = check(input);
  if (d != 0) return d;
  let hits = vecNew(8);
  if (isObj(pPlanLists)) {
    let n = load<u32>(pPlanLists, 4);
    let e = <usize>load<u32>(pPlanLists, 8);
    for (let i: u32 = 0; i < n; i++, e += 16) {
      let l = load<u32>(e, 8);
      let kind = objGetS(l, S_KIND);
      if (!isStr(kind) || !strEq(kind, S_SUPPRESSION)) continue;
      let match = objGetS(l, S_MATCH);
      if (!isStr(match)) continue;
      let kl = load<u32>(e), kp = <usize>load<u32>(e, 4);
      let key = objGetV(gCtx, match);
      // A missing key (absent, null or "") lists the customer unless the list says `missing:
      // allow` (docs/ir.md "Suppression lists and rules"): suppression never fails open.
      let missing = key == 0 || load<u32>(key) == T_NULL || (isStr(key) && load<u32>(key, 4) == 0);
      let how = objGetS(l, S_MISSING);
      let allowed = isStr(how) && strEq(how, S_ALLOW);
      if (inList(kp, kl, key) || (missing && !allowed)) vecPush(hits, newStr(kp, kl));
    }
  }
  // Sort the hit ids by bytes (insertion sort: a handful of lists).
  let hn = load<u32>(hits), hp = <usize>load<u32>(hits, 8);
  for (let i: u32 = 1; i < hn; i++) {
    let x = load<u32>(hp + (<usize>i << 2));
    let j = i;
    while (j > 0) {
      let y = load<u32>(hp + (<usize>(j - 1) << 2));
      if (bytesCmp(load<u32>(y, 8), load<u32>(y, 4), load<u32>(x, 8), load<u32>(x, 4)) <= 0) break;
      store<u32>(hp + (<usize>j << 2), y);
      j--;
    }
    store<u32>(hp + (<usize>j << 2), x);
  }
  let o = newObj(2);
  objPushS(o, S_SUPPRESSED, boolV(hn > 0));
  objPushS(o, S_LISTS, vecArr(hits));
  return o;
}

/** waypost/consent: steps 1-5, then per channel of the node whether consent gates let it pass. */
function consent(input: usize): usize {
  let d = check(input);
  if (d != 0) return d;
  let n = candidates(vecNew(8), false);
  if (n == 0) return selDecision;
  let gates = ns(n, N_GATES, S_GATES);
  let gn = alen(gates);
  let chans = ns(n, N_CHANNELS, S_CHANNELS);
  let chN = alen(chans);
  let out = newObj(chN);
  for (let i: u32 = 0; i < chN; i++) {
    let ch = arrAt(chans, i);
    if (!isStr(ch)) continue;
    if (objGetV(out, ch) != 0) continue; // a repeated channel is one key
    let blocked = false;
    for (let gi: u32 = 0; gi < gn && !blocked; gi++) {
      let g = arrAt(gates, gi);
      let step = sl(g, G_STEP, S_STEP);
      if (!isStr(step) || !strEq(step, S_CONSENT)) continue;
      let gch = sl(g, G_CHANNEL, S_CHANNEL);
      if (gch != 0 && !(isStr(gch) && strEq(gch, ch))) continue;
      if (holds(sl(g, G_COND, S_COND))) blocked = true;
    }
    objPush(out, load<u32>(ch, 8), load<u32>(ch, 4), boolV(!blocked));
  }
  let o = newObj(2);
  objPushS(o, S_NODE, nodeId(n));
  objPushS(o, S_CHANNELS, out);
  return o;
}

export { EP_COUNT };

/** Runs entrypoint ep (ids from runtime/contract.ts ENTRYPOINT_IDS); returns the result value. */
/**
 * The runtime's form of decision d (docs/ir.md "Decision (output)", compact form): the same
 * object, except that a reason that is entry i of plan.reason_table, as is (no detail), is the
 * number i. Only parsed table entries carry an index (@28 >= 2, below tabHi, while gTab).
 */
export function compactDecision(d: usize): usize {
  if (!gTab || !isObj(d)) return d;
  let n = load<u32>(d, 4);
  let e = <usize>load<u32>(d, 8);
  for (let i: u32 = 0; i < n; i++, e += 16) {
    if (!keyIs(e, S_REASONS)) continue;
    // In place: the reasons array was built for this evaluation (decision, setReasons).
    let rs = <usize>load<u32>(e, 8);
    let k = alen(rs);
    let el: usize = k > 0 ? <usize>load<u32>(rs, 8) : 0;
    for (let j: u32 = 0; j < k; j++) {
      let r = <usize>load<u32>(el + (<usize>j << 2));
      let m: u32 = isObj(r) && r < tabHi ? load<u32>(r, 28) : 0;
      if (m >= 2 && (m & TPL) == 0) store<u32>(el + (<usize>j << 2), newNum(<f64>(m - 2)));
    }
  }
  return d;
}

/**
 * Entry i of the current data's plan.reason_table (0 when there is none, or when it is a
 * template); for i >= the table's length, the template instance of that compact code
 * (templateOut), its pieces filled in.
 */
export function reasonEntry(data: usize, i: u32): usize {
  loadPlan(data);
  let t = objGetS(pPlan, S_REASON_TABLE);
  let tn = alen(t);
  if (!isArr(t) || tn == 0) return 0;
  if (i < tn) {
    let r = arrAt(t, i);
    return isObj(r) && !(gTab && (load<u32>(r, 28) & TPL) != 0) ? r : 0;
  }
  if (!gTab) return 0;
  let e = i % tn, k = i / tn - 1;
  let r = arrAt(t, e);
  if (!isObj(r) || (load<u32>(r, 28) & TPL) == 0 || k >= tabNN) return 0;
  gCompact = false;
  let o = templateOut(r, e, ownAt(k), 0);
  return o == V_NULL ? 0 : o;
}

export function evaluate(ep: u32, data: usize, input: usize, compact: bool = false): usize {
  loadPlan(data);
  gCompact = compact;
  resetTimeMemo();
  resetFieldMemo();
  gHistRecs = 0; // the heap is reused: records of an earlier evaluation are gone
  if (ep == EP_SUPPRESSED) return suppressed(input);
  if (ep == EP_CONSENT) return consent(input);
  return decide(input);
}
