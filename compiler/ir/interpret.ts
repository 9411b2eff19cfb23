/**
 * The reference interpreter for the Waypost IR: the oracle every other evaluator (the Wasm
 * backend) is tested against. It follows docs/ir.md step by step, favouring clarity over
 * speed; the numbered comments below match the numbered steps of the doc.
 *
 * Pure and deterministic: no clock (time comes only from `request.now`), no I/O, no
 * exceptions. Every input that is not what the doc expects (a request of any shape, an
 * ill-typed expression) yields a decision or `undefined`, never a throw: `decide` runs on
 * arbitrary JSON in the property tests.
 *
 * Lookups in plan/list objects go through `own()` (own enumerable properties only) so that a
 * context key such as `constructor` or `__proto__` is never resolved on Object.prototype.
 */
import type { BundleData, Expr, Gate, IR, JsonValue, Plan, PlanNode, Reason } from "./ir.js";
import { ENTRYPOINTS, HISTORY_ENTRY_KEYS, REQUEST_KEYS as REQUEST_KEY_LIST, requestProblemDetail, type EngineReasonCode, type Entrypoint, type PolicyDecision } from "../../runtime/contract.js";
import {
  MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, floorMod, formatTime, fromLocal, localDay, parseDate, parseTime,
  parseTimestamp, toLocal, toTime, type CustomerZone,
} from "./time.js";
import { compactHas, isCompactList } from "./compact-list.js";

export type { Entrypoint } from "../../runtime/contract.js";

/** Everything an expression can read. `undefined` values stand for Rego's "undefined". */
export interface Env {
  context: Record<string, unknown>;
  now: number; // epoch ms of request.now
  lists: BundleData["lists"];
  history: unknown; // request.history as given (validated entry by entry in history_count)
  utcOffsetMin: number; // context[plan.keys.utc_offset] when a number, else 0
  /** The compiled table of the customer's IANA zone (plan.zones[context[keys.time_zone]]), if any. */
  zone?: readonly number[] | undefined;
}

/** A usable zone table: an array of an odd number of numbers (anything else is ignored). */
function zoneTableOk(z: unknown): z is number[] {
  return Array.isArray(z) && z.length % 2 === 1 && z.every((x) => typeof x === "number");
}

/** The customer's zone: their IANA zone when the request names an embedded one, else the fixed offset. */
export function customerZone(env: Env): CustomerZone {
  return env.zone !== undefined ? { table: env.zone } : { fixed: env.utcOffsetMin };
}

/**
 * The calendar day (days since 1970-01-01) a time value falls on for the customer: a date
 * (`YYYY-MM-DD`) is that day, wherever the customer is; any other time is an instant, and its
 * day is the local date in the customer's zone.
 */
function dayOf(v: unknown, t: number, z: CustomerZone): number {
  const d = typeof v === "string" ? parseDate(v) : undefined;
  return d !== undefined ? Math.floor(d / MS_PER_DAY) : localDay(z, t);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Own property lookup. A key holding `undefined` counts as absent: that is what a JSON
 * round trip (what the Wasm SDK does to the input) makes of it.
 */
function own(o: unknown, key: string): unknown {
  if (!isObject(o) || !Object.prototype.hasOwnProperty.call(o, key)) return undefined;
  return o[key];
}

function has(o: unknown, key: string): boolean {
  return own(o, key) !== undefined;
}

/** Own keys that hold a defined value (see `own`). */
function definedKeys(o: Obj): string[] {
  return Object.keys(o).filter((k) => o[k] !== undefined);
}

const encoder = new TextEncoder();

/**
 * Byte-order comparison of the UTF-8 encodings (docs/ir.md). JS `<` compares UTF-16 code
 * units, which orders U+E000..U+FFFF after astral characters; UTF-8 bytes order by code point.
 */
export function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = (x[i] as number) - (y[i] as number);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

function sortedByBytes(keys: string[]): string[] {
  return [...keys].sort(compareUtf8);
}

/** Deep equality over JSON values: numbers by value, objects by key set, arrays by order. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === "number" && typeof b === "number") return a === b; // 0 === -0; NaN never
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = definedKeys(a);
    const kb = definedKeys(b);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => has(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** FNV-1a 32-bit over the UTF-8 bytes of `s`, unsigned. */
export function fnv1a32(s: string): number {
  let h = 2166136261;
  for (const byte of encoder.encode(s)) {
    h ^= byte;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h >>> 0;
}

/** `bucket(salt, id) = fnv1a32(utf8(salt + ":" + id)) mod 10000`. */
export function bucket(salt: string, id: string): number {
  return fnv1a32(`${salt}:${id}`) % 10000;
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

function asciiUpper(s: string): string {
  return s.replace(/[a-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 32));
}

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++; // string iteration is by code point (a lone surrogate counts as one)
  return n;
}

/** `lists[list][item]` exists and is null or a time strictly after now (a compact list: by digest). */
function inList(lists: unknown, list: string, item: unknown, now: number): boolean {
  if (typeof item !== "string") return false;
  const entries = own(lists, list);
  if (isCompactList(entries)) return compactHas(entries, item, now);
  if (!isObject(entries) || !Object.prototype.hasOwnProperty.call(entries, item)) return false;
  const expiry = entries[item];
  if (expiry === null) return true;
  const t = typeof expiry === "string" ? parseTime(expiry) : undefined;
  return t !== undefined && t > now;
}

// ---------------------------------------------------------------------------------------------
// Expressions

type Val = JsonValue | undefined;

/** Evaluates one expression; `undefined` is Rego's undefined (distinct from false and null). */
export function evalExpr(expr: Expr, env: Env): Val {
  // Defensive: the IR is data and may be malformed in property tests; malformed → undefined.
  if (!isObject(expr)) return undefined;
  const e = expr as Expr;
  switch (e.op) {
    case "const":
      return e.value === undefined ? undefined : e.value;
    case "field": {
      const v = own(env.context, e.name);
      return v === undefined ? undefined : (v as JsonValue);
    }
    case "now":
      return env.now;
    case "not":
      return evalExpr(e.arg, env) !== true;
    case "and":
      return Array.isArray(e.args) && e.args.every((a) => evalExpr(a, env) === true);
    case "or":
      return Array.isArray(e.args) && e.args.some((a) => evalExpr(a, env) === true);
    case "cmp":
      return evalCmp(e.cmp, evalExpr(e.left, env), evalExpr(e.right, env));
    case "in": {
      const item = evalExpr(e.item, env);
      const set = evalExpr(e.set, env);
      if (item === undefined || !Array.isArray(set)) return undefined;
      return set.some((x) => deepEqual(x, item));
    }
    case "in_list": {
      const item = evalExpr(e.item, env);
      if (item === undefined) return undefined;
      return inList(env.lists, e.list, item, env.now);
    }
    case "call":
      return evalCall(e.fn, Array.isArray(e.args) ? e.args.map((a) => evalExpr(a, env)) : [], env);
    case "history_count":
      return historyCount(e, env);
    case "add_ms": {
      const t = toTime(evalExpr(e.time, env));
      if (t === undefined || typeof e.ms !== "number") return undefined;
      return t + e.ms;
    }
    default:
      return undefined;
  }
}

function evalCmp(op: string, l: Val, r: Val): Val {
  if (l === undefined || r === undefined) return undefined;
  switch (op) {
    case "==":
      return deepEqual(l, r);
    case "!=":
      return !deepEqual(l, r);
  }
  let c: number;
  if (typeof l === "number" && typeof r === "number") c = l < r ? -1 : l > r ? 1 : 0;
  else if (typeof l === "string" && typeof r === "string") c = compareUtf8(l, r);
  else return undefined;
  switch (op) {
    case "<":
      return c < 0;
    case "<=":
      return c <= 0;
    case ">":
      return c > 0;
    case ">=":
      return c >= 0;
    default:
      return undefined;
  }
}

function evalCall(fn: string, args: Val[], env: Env): Val {
  // `exists` is the one builtin defined on undefined: it answers false, never undefined.
  if (fn === "exists") return args.length === 1 ? args[0] !== undefined && args[0] !== null : undefined;
  if (args.some((a) => a === undefined)) return undefined;
  const [a, b] = args;
  const unary = args.length === 1;
  const binary = args.length === 2;
  switch (fn) {
    case "days_since":
    case "days_until":
    case "hours_since":
    case "minutes_since":
    case "since":
    case "until":
    case "local_hour":
    case "time": {
      if (!unary) return undefined;
      const t = toTime(a);
      if (t === undefined) return undefined;
      const now = env.now;
      switch (fn) {
        case "days_since":
          return localDay(customerZone(env), now) - dayOf(a, t, customerZone(env));
        case "days_until":
          return dayOf(a, t, customerZone(env)) - localDay(customerZone(env), now);
        case "hours_since":
          return Math.floor((now - t) / MS_PER_HOUR);
        case "minutes_since":
          return Math.floor((now - t) / MS_PER_MINUTE);
        case "since":
          return now - t;
        case "until":
          return t - now;
        case "local_hour":
          return floorMod(Math.floor(toLocal(customerZone(env), t) / MS_PER_HOUR), 24);
        case "time":
          return t;
      }
      return undefined;
    }
    case "lower":
      return unary && typeof a === "string" ? asciiLower(a) : undefined;
    case "upper":
      return unary && typeof a === "string" ? asciiUpper(a) : undefined;
    case "len":
      if (!unary) return undefined;
      if (typeof a === "string") return codePointLength(a);
      if (Array.isArray(a)) return a.length;
      return undefined;
    case "contains":
      if (!binary) return undefined;
      if (typeof a === "string") return typeof b === "string" ? a.includes(b) : undefined;
      if (Array.isArray(a)) return a.some((x) => deepEqual(x, b));
      return undefined;
    case "starts_with":
      return binary && typeof a === "string" && typeof b === "string" ? a.startsWith(b) : undefined;
    case "ends_with":
      return binary && typeof a === "string" && typeof b === "string" ? a.endsWith(b) : undefined;
    default:
      return undefined;
  }
}

function historyCount(e: Extract<Expr, { op: "history_count" }>, env: Env): number {
  if (!Array.isArray(env.history) || typeof e.window_ms !== "number") return 0;
  let n = 0;
  for (const h of env.history) {
    if (!isObject(h)) continue;
    const at = toTime(own(h, "at"));
    // Entries after now are scheduled sends (docs/ir.md): they count against the cap too.
    if (at === undefined || !(env.now - e.window_ms < at)) continue;
    // A filter present in the expression must match exactly (a missing entry key never does).
    if (e.channel !== undefined && own(h, "channel") !== e.channel) continue;
    if (e.purpose !== undefined && own(h, "purpose") !== e.purpose) continue;
    if (e.node !== undefined && own(h, "node") !== e.node) continue;
    n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Decisions

/** The contract's decision (runtime/contract.ts), as JSON: data.json's revision may be any value. */
export type Decision = Omit<PolicyDecision, "reasons" | "revision"> & { reasons: JsonValue[]; revision: JsonValue };

/** Copies a plan reason with the output key order `code, policy, message, source, channel?, detail?`. */
function copyReason(r: Reason, detail?: string): { [k: string]: JsonValue } {
  const out: { [k: string]: JsonValue } = { code: r.code, policy: r.policy, message: r.message, source: r.source };
  if (r.channel !== undefined) out.channel = r.channel;
  if (detail !== undefined) out.detail = detail;
  return out;
}

/** Builds a decision object with the exact key order of docs/ir.md ("Decision"). */
/** Node n's template for channel ch (null when none, or not a string). */
function templateOf(n: PlanNode, ch: string): string | null {
  const t = own(n.templates, ch);
  return typeof t === "string" ? t : null;
}

function decision(
  revision: JsonValue,
  outcome: Decision["outcome"],
  reasons: JsonValue[],
  f: Partial<Omit<Decision, "outcome" | "reasons" | "revision">> = {},
): Decision {
  return {
    outcome,
    node: f.node ?? null,
    channel: f.channel ?? null,
    template: f.template ?? null,
    offer: f.offer ?? null,
    variant: f.variant ?? null,
    send_at: f.send_at ?? null,
    reasons,
    explanation: f.explanation ?? null,
    revision,
  };
}

/** What the first steps establish; passed on to the later steps. */
interface Checked {
  plan: Plan;
  context: Obj;
  env: Env;
  system: string;
  event: string;
  node: string | undefined;
  customerId: string | undefined;
}

class Interp {
  readonly plan: Plan;
  readonly conds: Expr[];
  readonly lists: BundleData["lists"];
  readonly revision: JsonValue;

  constructor(ir: IR, data: BundleData) {
    // The plan evaluated is the one in the IR (the Wasm module has the conds compiled in and
    // reads the plan from data.json; both are the same document in a build).
    this.plan = ir.plan;
    this.conds = ir.conds;
    this.lists = isObject(data.lists) ? data.lists : {};
    this.revision = data.revision ?? null;
  }

  /** `plan.reasons[code]` (+ detail) as a one-element list; empty if the plan lacks it. */
  engineReason(code: EngineReasonCode, detail?: string): JsonValue[] {
    const r = own(this.plan.reasons, code) as Reason | undefined;
    return r === undefined ? [] : [copyReason(r, detail)];
  }

  deny(code: EngineReasonCode, detail?: string, r: JsonValue[] = []): Decision {
    return decision(this.revision, "deny", [...r, ...this.engineReason(code, detail)]);
  }

  cond(index: number | undefined, env: Env): Val {
    if (typeof index !== "number") return undefined;
    const e = this.conds[index];
    return e === undefined ? undefined : evalExpr(e, env);
  }

  holds(index: number, env: Env): boolean {
    return this.cond(index, env) === true;
  }

  /** Steps 1-4. Returns the checked request or the deny decision. */
  check(input: unknown): Checked | Decision {
    const plan = this.plan;
    // 1. Request shape. A falsy input is what the SDK passes as "no input at all".
    if (!input) return this.deny("invalid-request", "input");
    const system = own(input, "system");
    if (typeof system !== "string") return this.deny("invalid-request", "system");
    const event = own(input, "event");
    if (typeof event !== "string") return this.deny("invalid-request", "event");
    const nowRaw = own(input, "now");
    const now = typeof nowRaw === "string" ? parseTimestamp(nowRaw) : undefined;
    if (now === undefined) return this.deny("invalid-request", "now");
    const context = own(input, "context");
    if (!isObject(context)) return this.deny("invalid-request", "context");
    const node = own(input, "node");
    if (node !== undefined && typeof node !== "string") return this.deny("invalid-request", "node");
    const history = own(input, "history");
    if (history !== undefined && !Array.isArray(history)) return this.deny("invalid-request", "history");
    // A misspelt optional key (`History`, `Node`) would silently drop caps or the node filter.
    const unknown = sortedByBytes(definedKeys(input as Obj)).find((k) => !REQUEST_KEYS.has(k));
    if (unknown !== undefined) return this.deny("invalid-request", requestProblemDetail("unknown_key", unknown));
    if (history !== undefined) {
      const bad = historyProblem(plan, history as unknown[]);
      if (bad !== undefined) return this.deny("invalid-request", bad);
    }

    // 2. System.
    if (!Array.isArray(own(plan.systems, system))) return this.deny("system-not-allowed", system);
    // 3. Event.
    if (!Array.isArray(own(plan.events, event))) return this.deny("unknown-event", event);

    // 4. Minimal context: first keys outside the event's allowed set, then value checks.
    const keys = sortedByBytes(definedKeys(context));
    const allowed = own(plan.event_fields, event);
    const extra = keys.find((k) => !has(allowed, k));
    if (extra !== undefined) return this.deny("field-not-allowed", extra);
    const bad = keys.find((k) => !fieldValueOk(own(plan.fields, k), context[k], now));
    if (bad !== undefined) return this.deny("invalid-field", bad);

    const offset = own(context, plan.keys.utc_offset);
    const customer = own(context, plan.keys.customer);
    const zoneName = typeof plan.keys.time_zone === "string" ? own(context, plan.keys.time_zone) : undefined;
    const zone = typeof zoneName === "string" ? own(plan.zones, zoneName) : undefined;
    return {
      plan,
      context,
      system,
      event,
      node,
      customerId: typeof customer === "string" ? customer : undefined,
      env: {
        context,
        now,
        lists: this.lists,
        history,
        utcOffsetMin: typeof offset === "number" && Number.isFinite(offset) ? offset : 0,
        zone: zoneTableOk(zone) ? zone : undefined,
      },
    };
  }

  /**
   * Step 5: the candidates in priority order. Each one that is not eligible adds one reason to
   * `r` (its `candidate` reason, or its failed condition's `fail`); an eligible one is handed to
   * `evaluate`, which says whether the walk goes on (the node yielded) or ends with a decision.
   * Returns that decision, the deny of a missing required field, or undefined when the
   * candidates ran out.
   */
  candidates(c: Checked, r: JsonValue[], evaluate: (n: PlanNode, rest: PlanNode[]) => Decision | undefined): Decision | undefined {
    const plan = c.plan;
    const allowedNodes = new Set(own(plan.systems, c.system) as string[]);
    const nodes = (own(plan.events, c.event) as unknown[])
      .map((idx) => (typeof idx === "number" ? plan.nodes[idx] : undefined))
      .filter((n): n is PlanNode => n !== undefined);
    const skip = (n: PlanNode, key: keyof NonNullable<PlanNode["candidate"]>): void => {
      const why = own(n.candidate, key);
      if (isObject(why)) r.push(copyReason(why as Reason));
    };
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i] as PlanNode;
      if (!allowedNodes.has(n.id)) { skip(n, "not_for_system"); continue; }
      if (c.node !== undefined && n.id !== c.node) { skip(n, "not_requested"); continue; }
      if ((n.valid_from !== null && c.env.now < n.valid_from) || (n.valid_until !== null && c.env.now >= n.valid_until)) {
        skip(n, "outside_validity_window");
        continue;
      }
      // Without a customer id the node cannot be proven to be in the rollout: skip it.
      if (n.rollout_bp < 10000 && (c.customerId === undefined || bucket(n.rollout_salt, c.customerId) >= n.rollout_bp)) {
        skip(n, "outside_rollout");
        continue;
      }
      const missing = n.required.find((f) => !has(c.context, f));
      if (missing !== undefined) return this.deny("missing-field", missing, r);
      const failed = n.conditions.find((nc) => !this.holds(nc.cond, c.env));
      if (failed !== undefined) {
        r.push(copyReason(failed.fail));
        continue;
      }
      const rest = nodes.slice(i + 1);
      const d = evaluate(n, rest);
      if (d === undefined) continue;
      // The decision stands: every later candidate lost to it on priority, unevaluated.
      for (const m of rest) {
        const why = own(m.candidate, "lower_priority");
        if (isObject(why)) d.reasons.push(copyReason(why as Reason));
      }
      return d;
    }
    return undefined;
  }

  /** Step 5 for `waypost/consent`: the first eligible candidate, or the deny decision. */
  select(c: Checked): PlanNode | Decision {
    const r: JsonValue[] = [];
    let chosen: PlanNode | undefined;
    const d = this.candidates(c, r, (n) => {
      chosen = n;
      return decision(this.revision, "deny", []);
    });
    if (chosen !== undefined) return chosen;
    return d ?? this.deny("no-eligible-node", undefined, r);
  }

  decide(input: unknown): Decision {
    const c = this.check(input);
    if (!("env" in c)) return c;
    // 5. Arbitration: an eligible candidate blocked in a way its event's policy names yields to
    // the next one; its reasons stay in the decision, and when no later one wins, its block does.
    const arb = own(c.plan.arbitration, c.event);
    const on: unknown[] = isObject(arb) && arb.fallback === "next" && Array.isArray(arb.on) ? arb.on : [];
    const r: JsonValue[] = [];
    let first: Decision | undefined;
    const d = this.candidates(c, r, (n) => {
      this.blocked = [];
      const dn = this.evaluate(c, n);
      // A kind only matches a string in `on` (as the Wasm engine compares strings).
      const yields = on.length > 0 && this.blocked.length > 0 && this.blocked.every((k) => typeof k === "string" && on.includes(k));
      if (!yields) return decision(this.revision, dn.outcome, [...r, ...dn.reasons], dn);
      r.push(...dn.reasons);
      const why = own(n.candidate, "fallback_next");
      if (isObject(why)) r.push(copyReason(why as Reason));
      first ??= dn;
      return undefined;
    });
    if (d !== undefined) return d;
    if (first !== undefined) {
      const ex = own(arb, "exhausted_reason");
      if (isObject(ex)) r.push(copyReason(ex as Reason));
      return decision(this.revision, first.outcome, r, first);
    }
    return this.deny("no-eligible-node", undefined, r);
  }

  /**
   * The block kinds of the last evaluated node (docs/ir.md step 5): what a node-wide gate, the
   * gates that removed every channel, or quiet hours did to it; empty when it was not blocked.
   */
  blocked: string[] = [];
  /** The block kind of the last channel `sendTimeBlock` blocked. */
  sendKind = "";

  /**
   * Step 6, holdout membership: for each universal holdout of the node, then its experiment, the
   * group the customer is in (a reason each). Returns whether some group holds them out.
   */
  membership(c: Checked, n: PlanNode, r: JsonValue[]): boolean {
    const id = c.customerId;
    if (id === undefined) return false;
    let held = false;
    const groups = Array.isArray(n.holdouts) ? n.holdouts : [];
    for (const i of groups) {
      const h = Array.isArray(c.plan.holdouts) && typeof i === "number" ? c.plan.holdouts[i] : undefined;
      if (!isObject(h)) continue;
      const control = bucket(h.salt, id) < h.holdout_bp;
      const why = control ? h.control_reason : h.treatment_reason;
      if (isObject(why)) r.push(copyReason(why));
      held ||= control;
    }
    const x = n.experiment;
    if (x !== null) {
      if (bucket(x.salt, id) < x.holdout_bp) {
        if (isObject(x.holdout_reason)) r.push(copyReason(x.holdout_reason));
        else r.push(...this.engineReason("holdout"));
        held = true;
      } else if (isObject(x.treatment_reason)) {
        r.push(copyReason(x.treatment_reason));
      }
    }
    return held;
  }

  /** Steps 6-10 for an eligible candidate; `blocked` says what blocked it. */
  evaluate(c: Checked, n: PlanNode): Decision {
    const env = c.env;
    const plan = c.plan;

    // 6. Selected node: condition reasons, holdout membership, then gates in order.
    const r: JsonValue[] = n.conditions.map((nc) => copyReason(nc.reason));
    const held = this.membership(c, n, r);
    let channels = [...n.channels];
    const blocks = new Map<string, Gate["outcome"]>();
    const removedBy: string[] = [];
    for (const g of n.gates) {
      if (g.channel === undefined) {
        if (this.holds(g.cond, env)) {
          r.push(copyReason(g.reason));
          this.blocked = [gateKind(g)];
          if (g.outcome === "defer") {
            const until = toTime(this.cond(g.until, env));
            const at = until === undefined ? undefined : formatTime(until);
            if (at === undefined) return decision(this.revision, "suppress", r, { node: n.id });
            // A deferral is a treatment that leaves later: a control customer gets `holdout`
            // (the would-be channel and template), as at step 7.
            if (held) {
              const ch = channels.length > 0 ? (channels[0] as string) : null;
              return decision(this.revision, "holdout", r, { node: n.id, channel: ch, template: ch === null ? null : templateOf(n, ch) });
            }
            return decision(this.revision, "defer", r, { node: n.id, send_at: at });
          }
          return decision(this.revision, g.outcome, r, { node: n.id });
        }
        if (g.pass) r.push(copyReason(g.pass));
      } else if (channels.includes(g.channel)) {
        if (this.holds(g.cond, env)) {
          const ch = g.channel;
          channels = channels.filter((x) => x !== ch);
          r.push(copyReason(g.reason));
          if (!blocks.has(ch)) blocks.set(ch, g.outcome);
          removedBy.push(gateKind(g));
        } else if (g.pass) {
          r.push(copyReason(g.pass));
        }
      }
    }
    if (channels.length === 0) {
      this.blocked = removedBy;
      const outcome = [...blocks.values()].includes("suppress") ? "suppress" : "deny";
      return decision(this.revision, outcome, r, { node: n.id });
    }
    const channel = channels[0] as string;
    const tmpl = templateOf(n, channel);

    // 7. Holdout (membership was recorded in step 6), else the experiment's variant. Without a
    // customer id both bucket tests fail: no holdout, no variant.
    if (held) return decision(this.revision, "holdout", r, { node: n.id, channel, template: tmpl });
    let variant: string | null = null;
    if (n.experiment !== null) {
      const x = n.experiment;
      const id = c.customerId;
      if (id !== undefined) {
        const vb = bucket(`${x.salt}#variant`, id);
        let cum = 0;
        for (const v of x.variants) {
          cum += v.weight_bp;
          if (cum > vb) {
            variant = v.id;
            if (isObject(v.reason)) r.push(copyReason(v.reason));
            break;
          }
        }
      }
    }

    // 8. Action (channel, template, offer) — below. 9. Send time. 10. Send-time check: a
    // channel that fails it is removed and the next remaining one goes through 8-10 again.
    let sendCh = channel;
    let sendTmpl = tmpl;
    let t: number;
    let deferred: boolean;
    const z = customerZone(env);
    for (;;) {
      const delay = own(plan.offsets_ms, sendCh);
      t = env.now + (typeof delay === "number" ? delay : 0);
      deferred = false;
      for (const q of plan.quiet_hours) {
        if (!q.channels.includes(sendCh)) continue;
        const local = toLocal(z, t);
        const m = floorMod(Math.floor(local / MS_PER_MINUTE), 1440);
        const inWindow = q.start_min < q.end_min ? q.start_min <= m && m < q.end_min : m >= q.start_min || m < q.end_min;
        if (!inWindow) continue;
        // The end of the window on the local calendar: today when it is still ahead, else
        // tomorrow; then back to an instant (a wall time skipped or repeated by DST: `fromLocal`).
        const day = Math.floor(local / MS_PER_DAY) + (m < q.end_min ? 0 : 1);
        t = fromLocal(z, day * MS_PER_DAY + q.end_min * MS_PER_MINUTE, t);
        deferred = true;
        r.push(copyReason(q.reason));
      }
      const block = this.sendTimeBlock(n, sendCh, t, env, r);
      if (block === undefined) break;
      const gone = sendCh;
      channels = channels.filter((x) => x !== gone);
      if (!blocks.has(gone)) blocks.set(gone, block);
      removedBy.push(this.sendKind);
      if (channels.length === 0) {
        this.blocked = removedBy;
        const outcome = [...blocks.values()].includes("suppress") ? "suppress" : "deny";
        return decision(this.revision, outcome, r, { node: n.id });
      }
      sendCh = channels[0] as string;
      sendTmpl = templateOf(n, sendCh);
    }

    // 11. Outcome. A send time past 9999-12-31 cannot be written: no send without one (as a
    // deferral whose `until` is not a time).
    const sendAt = formatTime(t);
    if (sendAt === undefined) return decision(this.revision, "suppress", r, { node: n.id });
    let outcome: Decision["outcome"] = deferred ? "defer" : "send";
    if (n.risk === "high") {
      outcome = "review";
      if (n.review_reason) r.push(copyReason(n.review_reason));
    }
    // Deferred only by quiet hours: a block the arbitration may name (step 5).
    if (outcome === "defer") this.blocked = ["quiet-hours"];
    return decision(this.revision, outcome, r, {
      node: n.id,
      channel: sendCh,
      template: sendTmpl,
      offer: n.offer,
      variant,
      send_at: sendAt,
      explanation: n.explanation,
    });
  }

  /**
   * Step 10 for channel `ch` sending at `t`: when t is later than now, the node's validity
   * window, then each `at_send` gate of the node or of `ch` (in order) with now bound to t. The
   * first that blocks appends its reasons to `r` and gives its block outcome; else undefined.
   */
  sendTimeBlock(n: PlanNode, ch: string, t: number, env: Env, r: JsonValue[]): Gate["outcome"] | undefined {
    if (!(t > env.now)) return undefined;
    const at = formatTime(t);
    if (n.valid_until !== null && t >= n.valid_until) {
      r.push(...this.engineReason("not-valid-at-send-time", at));
      this.sendKind = "validity"; // no arbitration policy can name it (step 5)
      return "deny";
    }
    const later: Env = { ...env, now: t };
    for (const g of n.gates) {
      if (g.at_send !== true || (g.channel !== undefined && g.channel !== ch)) continue;
      if (!this.holds(g.cond, later)) continue;
      r.push(copyReason(g.reason));
      r.push(...this.engineReason("blocked-at-send-time", at));
      this.sendKind = gateKind(g);
      return g.outcome;
    }
    return undefined;
  }

  suppressed(input: unknown): JsonValue {
    const c = this.check(input);
    if (!("env" in c)) return c as unknown as JsonValue;
    const hits: string[] = [];
    for (const id of sortedByBytes(Object.keys(c.plan.lists))) {
      const l = c.plan.lists[id];
      if (l === undefined || l.kind !== "suppression" || l.match === null) continue;
      const key = own(c.context, l.match);
      // A missing key (absent, null or "") lists the customer unless the list says `missing:
      // allow` (docs/ir.md "Suppression lists and rules"): suppression never fails open.
      const missing = key === undefined || key === null || key === "";
      if (inList(this.lists, id, key, c.env.now) || (missing && l.missing !== "allow")) hits.push(id);
    }
    return { suppressed: hits.length > 0, lists: hits };
  }

  consent(input: unknown): JsonValue {
    const c = this.check(input);
    if (!("env" in c)) return c as unknown as JsonValue;
    const n = this.select(c);
    if (!("conditions" in n)) return n as unknown as JsonValue;
    const consentGates = n.gates.filter((g) => g.step === "consent");
    const channels: { [ch: string]: JsonValue } = {};
    for (const ch of n.channels) {
      const blocked = consentGates.some((g) => (g.channel === undefined || g.channel === ch) && this.holds(g.cond, c.env));
      channels[ch] = !blocked;
    }
    return { node: n.id, channels };
  }
}

/** A gate's block kind for arbitration: its `kind`, else its step. */
function gateKind(g: Gate): string {
  return typeof g.kind === "string" ? g.kind : g.step;
}

/** FieldSpec.format over the UTF-8 bytes of `v`, exactly as docs/ir.md states it. */
function formatOk(format: string, v: string): boolean {
  const b = new TextEncoder().encode(v);
  const all = (ok: (c: number) => boolean): boolean => b.every(ok);
  switch (format) {
    case "sha256":
      return b.length === 64 && all((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66));
    case "iso-639-1":
      return b.length === 2 && all((c) => c >= 0x61 && c <= 0x7a);
    case "email": {
      if (b.length > 254 || !all((c) => c > 0x20)) return false;
      const at = b.indexOf(0x40);
      if (at < 1 || at > 64 || b.indexOf(0x40, at + 1) !== -1) return false;
      const domain = b.subarray(at + 1);
      return domain.length > 0 && domain.includes(0x2e) && domain[0] !== 0x2e && domain[domain.length - 1] !== 0x2e;
    }
    default:
      return false; // an unknown format never validates: fail closed
  }
}

const REQUEST_KEYS: ReadonlySet<string> = new Set(REQUEST_KEY_LIST);
const HISTORY_KEYS: ReadonlySet<string> = new Set(HISTORY_ENTRY_KEYS);

/**
 * The first malformed history entry (step 1), as `history[i].key: why`, or undefined. An entry
 * that cannot be read is refused rather than skipped: skipping it would let a caller slip
 * contacts past the frequency caps.
 */
function historyProblem(plan: Plan, history: unknown[]): string | undefined {
  const channels = Array.isArray(plan.channels) ? plan.channels : [];
  const purposes = Array.isArray(plan.purposes) ? plan.purposes : [];
  for (let i = 0; i < history.length; i++) {
    const h = history[i];
    if (!isObject(h)) return requestProblemDetail("not_object", null, i);
    const t = own(h, "at");
    if (t === undefined) return requestProblemDetail("missing", "at", i);
    if (typeof t !== "string" || parseTimestamp(t) === undefined) return requestProblemDetail("bad_timestamp", "at", i);
    const ch = own(h, "channel");
    if (ch !== undefined && !(typeof ch === "string" && channels.includes(ch))) return requestProblemDetail("bad_channel", "channel", i);
    const pu = own(h, "purpose");
    if (pu !== undefined && !(typeof pu === "string" && purposes.includes(pu))) return requestProblemDetail("bad_purpose", "purpose", i);
    const node = own(h, "node");
    if (node !== undefined && typeof node !== "string") return requestProblemDetail("not_string", "node", i);
    const unknown = sortedByBytes(definedKeys(h)).find((k) => !HISTORY_KEYS.has(k));
    if (unknown !== undefined) return requestProblemDetail("unknown_key", unknown, i);
  }
  return undefined;
}

/**
 * A field value against its data-dictionary entry (step 4). A key without a spec passes.
 * `timestamp` and `date` each accept only their own lexical form; a consent time must not be
 * later than `now`.
 */
function fieldValueOk(spec: unknown, v: unknown, now: number): boolean {
  if (!isObject(spec)) return true;
  if (v === null) return spec.nullable === true;
  switch (spec.type) {
    case "string":
      if (typeof v !== "string") return false;
      break;
    case "number":
      if (typeof v !== "number") return false;
      break;
    case "integer":
      if (!Number.isInteger(v)) return false;
      break;
    case "boolean":
      if (typeof v !== "boolean") return false;
      break;
    case "timestamp":
    case "date": {
      const t = typeof v !== "string" ? undefined : spec.type === "date" ? parseDate(v) : parseTimestamp(v);
      if (t === undefined) return false;
      if (spec.consent === true && t > now) return false;
      break;
    }
    case "string[]":
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) return false;
      break;
    case "number[]":
      if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) return false;
      break;
    default:
      return false;
  }
  // `values`, `min`, `max` constrain scalar strings / numbers (not array elements).
  if (typeof v === "string" && Array.isArray(spec.values) && !spec.values.includes(v)) return false;
  if (typeof v === "string" && typeof spec.format === "string" && !formatOk(spec.format, v)) return false;
  if (typeof v === "number") {
    if (typeof spec.min === "number" && v < spec.min) return false;
    if (typeof spec.max === "number" && v > spec.max) return false;
  }
  return true;
}

/**
 * Evaluates a request against an IR and its bundle data (docs/ir.md). Entrypoints:
 * `waypost/decide` (default) → the decision object; `waypost/suppressed` →
 * `{suppressed, lists}`; `waypost/consent` → `{node, channels}`; the last two return the
 * deny decision when an earlier step fails.
 */
export function decide(
  ir: IR,
  data: BundleData,
  request: unknown,
  entrypoint: Entrypoint = ENTRYPOINTS.decide,
): JsonValue {
  const it = new Interp(ir, data);
  switch (entrypoint) {
    case ENTRYPOINTS.suppressed:
      return it.suppressed(request);
    case ENTRYPOINTS.consent:
      return it.consent(request);
    default:
      return it.decide(request) as unknown as JsonValue;
  }
}
