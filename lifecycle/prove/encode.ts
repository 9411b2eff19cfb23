/**
 * The symbolic encoding of a decision (docs/prove.md): the IR's request checks, candidate
 * selection and gates (docs/ir.md, steps 1-7) as SMT terms over one symbolic request, for
 * `z3-solver`. It sits beside the reference interpreter (compiler/ir/interpret.ts), which is its
 * semantics, and the Wasm emitter.
 *
 * Soundness first: every construct is either encoded exactly or replaced by a fresh unconstrained
 * value (a *havoc*: more possible decisions, never fewer), and each havoc is recorded with its
 * reason. So `unsat` is a proof for every request; a model found with havocs in play may be
 * spurious, which is why the prover replays every model on both evaluators before it reports it.
 *
 * Representation of a request, for one event:
 *  - `system`: an integer choosing one of `plan.systems`; `node`: -1 (none) or a candidate's index;
 *  - `now`: epoch ms (an integer within the years 0000-9999 that RFC 3339 allows);
 *  - each context field the event may receive: `present`, `null` (nullable fields only) and a
 *    value by dictionary type: numbers and times as reals (integers where the type says so), a
 *    `date` as a whole day, strings as integer ids (ids below `strings.length` are the constants
 *    the plan, the dictionary and the lists mention; larger ids are other, distinct strings), a
 *    `string[]`/`number[]` field as a membership predicate over its elements;
 *  - named lists: one uninterpreted predicate per list over string ids ("in the list and not
 *    expired at now"), so a proof holds for every list content;
 *  - buckets: one uninterpreted function per salt from the customer id to 0..9999 (the known
 *    strings' buckets are fixed to their FNV-1a values);
 *  - history: each distinct `history_count` term is a free count >= 0 (an over-approximation).
 */
import type { Arith, Bool, Context, FuncDecl } from "z3-solver";
import type { Expr, FieldSpec, IR, JsonValue, PlanNode } from "../../compiler/ir/ir.js";
import { bucket } from "../../compiler/ir/interpret.js";
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from "../../compiler/ir/time.js";

export type Z3 = Context<"waypost">;
type B = Bool<"waypost">;
type A = Arith<"waypost">;

/** The smallest and largest instants an RFC 3339 timestamp can name (years 0000-9999). */
export const MIN_TIME = -62_167_219_200_000;
export const MAX_TIME = 253_402_300_799_999;

/** A symbolic value: defined or not (Rego's undefined), null or not, and its typed payload. */
export interface SVal {
  def: B;
  /** Defined and JSON null. */
  nul: B;
  kind: "bool" | "num" | "str" | "time" | "arr" | "const-arr";
  b?: B;
  n?: A; // numbers and times (ms)
  /** A `date` field: its time is a UTC midnight and names that calendar day wherever the customer is. */
  isDate?: boolean;
  s?: A; // string id
  /** Membership of a string id / number in an array field. */
  has?: (x: SVal) => B;
  items?: JsonValue[]; // const arrays
}

export interface FieldVars {
  name: string;
  spec: FieldSpec;
  present: B;
  isNull: B;
  value: A; // number / time / string id / bool as 0|1
  /** For array fields: the element id (or number) whose membership the model witnesses. */
  member?: FuncDecl<"waypost">;
}

/** One symbolic request for one event, and the decision terms over it. */
export interface EventEncoding {
  event: string;
  system: A;
  systems: string[];
  nodeFilter: A;
  now: A;
  fields: Map<string, FieldVars>;
  /** Steps 1-4 pass (the request is one the engine decides on). */
  valid: B;
  /** Candidate node index (into plan.nodes) → its selection term. */
  selected: Map<number, B>;
  /** `delivers(nodeIndex, channel)`: the decision is send/defer/review with this node and channel. */
  delivers(node: number, channel: string): B;
  /** The send time (ms) of the decision when it delivers on `channel` by `node` (steps 9). */
  sendAt(node: number, channel: string): A;
  /** Evaluates an expression over this request (for guarantee specs). */
  expr(e: Expr): SVal;
}

/** Where the encoding is not exact: a reason per over-approximated construct. */
export class Abstractions {
  readonly reasons = new Set<string>();
  add(r: string): void {
    this.reasons.add(r);
  }
}

function collectStrings(v: JsonValue | undefined, out: Set<string>): void {
  if (typeof v === "string") out.add(v);
  else if (Array.isArray(v)) for (const x of v) collectStrings(x, out);
}

function exprStrings(e: Expr, out: Set<string>): void {
  switch (e.op) {
    case "const":
      collectStrings(e.value, out);
      break;
    case "not":
      exprStrings(e.arg, out);
      break;
    case "and":
    case "or":
      for (const a of e.args) exprStrings(a, out);
      break;
    case "cmp":
      exprStrings(e.left, out);
      exprStrings(e.right, out);
      break;
    case "in":
      exprStrings(e.item, out);
      exprStrings(e.set, out);
      break;
    case "in_list":
      exprStrings(e.item, out);
      break;
    case "call":
      for (const a of e.args) exprStrings(a, out);
      break;
    case "add_ms":
      exprStrings(e.time, out);
      break;
    default:
      break;
  }
}

/** How many list entries per list the concrete string table carries (enough for a witness). */
export const LIST_WITNESSES = 64;

/**
 * The shared symbolic world of one proof run: string ids, list predicates, bucket functions,
 * history counts. One per solver context; each event encoding reuses it.
 */
export class World {
  readonly strings: string[];
  private readonly ids = new Map<string, number>();
  readonly lists = new Map<string, FuncDecl<"waypost">>();
  /** Every list predicate application: (list id, string id term), for concretisation. */
  readonly listApps: { list: string; item: A }[] = [];
  readonly buckets = new Map<string, FuncDecl<"waypost">>();
  readonly bucketApps: { salt: string; item: A; thresholds: number[] }[] = [];
  readonly history = new Map<string, A>();
  readonly abstractions = new Abstractions();
  /** Facts about symbols every event shares (bucket functions, history counts): every query adds them. */
  readonly shared: B[] = [];
  /** Under-approximations: with any of these, `unsat` proves nothing (the result is unknown). */
  readonly incomplete = new Set<string>();
  private fresh = 0;

  constructor(
    readonly z: Z3,
    readonly ir: IR,
    listEntries: Record<string, Record<string, string | null>>,
    extraStrings: Iterable<string> = [],
  ) {
    const set = new Set<string>(extraStrings);
    for (const e of ir.conds) exprStrings(e, set);
    for (const spec of Object.values(ir.plan.fields)) for (const v of spec.values ?? []) set.add(v);
    for (const s of Object.keys(ir.plan.systems)) set.add(s);
    for (const n of ir.plan.nodes) set.add(n.id);
    for (const entries of Object.values(listEntries)) for (const k of Object.keys(entries).slice(0, LIST_WITNESSES)) set.add(k);
    this.strings = [...set].sort();
    this.strings.forEach((s, i) => this.ids.set(s, i));
  }

  id(s: string): number | undefined {
    return this.ids.get(s);
  }

  freshName(p: string): string {
    return `${p}!${this.fresh++}`;
  }

  listPred(list: string): FuncDecl<"waypost"> {
    let f = this.lists.get(list);
    if (!f) {
      f = this.z.Function.declare(`list:${list}`, this.z.Real.sort(), this.z.Bool.sort());
      this.lists.set(list, f);
    }
    return f;
  }

  inList(list: string, item: A): B {
    this.listApps.push({ list, item });
    return this.listPred(list).call(item) as B;
  }

  /** bucket(salt, id) for a string id term; the known strings' buckets are facts. */
  bucketOf(salt: string, item: A, threshold: number, facts: B[]): A {
    let f = this.buckets.get(salt);
    if (!f) {
      f = this.z.Function.declare(`bucket:${salt}`, this.z.Real.sort(), this.z.Real.sort());
      this.buckets.set(salt, f);
      this.strings.forEach((s, i) => this.shared.push((f!.call(this.z.Real.val(i)) as A).eq(bucket(salt, s))));
    }
    const app = this.bucketApps.find((a) => a.salt === salt && a.item === item);
    if (app) app.thresholds.push(threshold);
    else this.bucketApps.push({ salt, item, thresholds: [threshold] });
    const b = f.call(item) as A;
    facts.push(b.ge(0), b.le(9999), this.z.IsInt(b));
    return b;
  }

  historyCount(e: Extract<Expr, { op: "history_count" }>, facts: B[]): A {
    const key = JSON.stringify([e.window_ms, e.channel ?? null, e.purpose ?? null, e.node ?? null]);
    let v = this.history.get(key);
    if (!v) {
      v = this.z.Real.const(`history:${key}`);
      this.history.set(key, v);
      this.shared.push(v.ge(0), this.z.IsInt(v));
    }
    void facts;
    return v;
  }
}

const bool = (z: Z3, b: boolean): B => z.Bool.val(b);

/** Encodes one event's decision over a fresh symbolic request. */
export function encodeEvent(w: World, event: string): { enc: EventEncoding; facts: B[] } {
  const z = w.z;
  const plan = w.ir.plan;
  const facts: B[] = [];
  const T = bool(z, true);
  const F = bool(z, false);
  const pfx = `${event}/`;

  const systems = Object.keys(plan.systems).sort();
  const system = z.Real.const(`${pfx}system`);
  facts.push(z.IsInt(system), system.ge(0), system.lt(systems.length));
  const candidates = (plan.events[event] ?? []).filter((i) => plan.nodes[i] !== undefined);
  const nodeFilter = z.Real.const(`${pfx}node`);
  facts.push(z.IsInt(nodeFilter), nodeFilter.ge(-1), nodeFilter.lt(plan.nodes.length));
  const now = z.Real.const(`${pfx}now`);
  facts.push(z.IsInt(now), now.ge(MIN_TIME), now.le(MAX_TIME));

  // Step 4: only the event's fields, each valid for its dictionary entry.
  const fields = new Map<string, FieldVars>();
  const allowed = Object.keys(plan.event_fields[event] ?? {}).sort();
  for (const name of allowed) {
    const spec = plan.fields[name];
    if (spec === undefined) {
      // A key without a spec passes any value; leaving it absent would under-approximate.
      w.incomplete.add(`context field \`${name}\` has no dictionary entry`);
      continue;
    }
    const present = z.Bool.const(`${pfx}ctx:${name}:present`);
    const isNull = spec.nullable ? z.Bool.const(`${pfx}ctx:${name}:null`) : F;
    const value = z.Real.const(`${pfx}ctx:${name}`);
    const fv: FieldVars = { name, spec, present, isNull, value };
    const c: B[] = [];
    switch (spec.type) {
      case "integer":
        c.push(z.IsInt(value));
      // falls through
      case "number":
        if (spec.min !== undefined) c.push(value.ge(spec.min));
        if (spec.max !== undefined) c.push(value.le(spec.max));
        break;
      case "boolean":
        c.push(z.Or(value.eq(0), value.eq(1)));
        break;
      case "timestamp":
        c.push(z.IsInt(value), value.ge(MIN_TIME), value.le(MAX_TIME));
        if (spec.consent === true) c.push(value.le(now));
        break;
      case "date": {
        const d = value.div(MS_PER_DAY);
        c.push(z.IsInt(d), value.ge(MIN_TIME), value.le(MAX_TIME));
        if (spec.consent === true) c.push(value.le(now));
        break;
      }
      case "string": {
        c.push(z.IsInt(value), value.ge(0));
        const okConsts = w.strings.map((s, i) => [s, i] as const).filter(([s]) => (spec.values === undefined || spec.values.includes(s)) && (spec.format === undefined || formatOk(spec.format, s)));
        if (spec.values !== undefined) c.push(z.Or(F, ...okConsts.map(([, i]) => value.eq(i))));
        else c.push(z.Or(value.ge(w.strings.length), ...okConsts.map(([, i]) => value.eq(i))));
        break;
      }
      case "string[]":
      case "number[]":
        fv.member = z.Function.declare(`${pfx}ctx:${name}:has`, z.Real.sort(), z.Bool.sort());
        break;
    }
    facts.push(z.Implies(z.And(present, z.Not(isNull)), z.And(T, ...c)));
    fields.set(name, fv);
  }

  const field = (name: string): SVal => {
    const fv = fields.get(name);
    if (!fv) return { def: F, nul: F, kind: "num", n: z.Real.val(0) }; // not allowed for the event: always absent
    const def = fv.present;
    const nul = z.And(fv.present, fv.isNull);
    switch (fv.spec.type) {
      case "boolean":
        return { def, nul, kind: "bool", b: fv.value.eq(1) };
      case "number":
      case "integer":
        return { def, nul, kind: "num", n: fv.value };
      case "timestamp":
        return { def, nul, kind: "time", n: fv.value };
      case "date":
        return { def, nul, kind: "time", n: fv.value, isDate: true };
      case "string":
        return { def, nul, kind: "str", s: fv.value };
      default: {
        const member = fv.member!;
        const numeric = fv.spec.type === "number[]";
        return {
          def, nul, kind: "arr",
          has: (x) => {
            if (numeric ? x.kind === "num" : x.kind === "str") return z.And(x.def, z.Not(x.nul), member.call((numeric ? x.n : x.s)!) as B);
            return F;
          },
        };
      }
    }
  };

  const offset = (): A => {
    const f = field(plan.keys.utc_offset);
    return f.kind === "num" ? (z.If(z.And(f.def, z.Not(f.nul)), f.n!, z.Real.val(0)) as A) : z.Real.val(0);
  };
  // With a time-zone key, local time may come from a zone table: not encoded (havoc when named).
  const zoneKey = plan.keys.time_zone !== undefined && plan.zones !== undefined;
  const zoneNamed = (): B => (zoneKey ? z.And(field(plan.keys.time_zone!).def, z.Not(field(plan.keys.time_zone!).nul)) : F);
  const floorDiv = (x: A, d: number): A => z.ToReal(z.ToInt(x.div(d)));
  const localMs = (t: A): A => t.add(offset().mul(MS_PER_MINUTE));

  const havoc = (reason: string, kind: SVal["kind"] = "bool"): SVal => {
    w.abstractions.add(reason);
    const name = w.freshName(`${pfx}havoc`);
    const def = z.Bool.const(`${name}:def`);
    const v: SVal = { def, nul: F, kind };
    if (kind === "bool") v.b = z.Bool.const(name);
    else if (kind === "str") v.s = z.Real.const(name);
    else v.n = z.Real.const(name);
    return v;
  };
  const holds = (v: SVal): B => (v.kind === "bool" ? z.And(v.def, z.Not(v.nul), v.b!) : F);
  const boolVal = (b: B): SVal => ({ def: T, nul: F, kind: "bool", b });
  const some = (v: SVal): B => z.And(v.def, z.Not(v.nul));

  const constVal = (v: JsonValue): SVal => {
    if (v === null) return { def: T, nul: T, kind: "bool", b: F };
    if (typeof v === "boolean") return boolVal(bool(z, v));
    if (typeof v === "number") return { def: T, nul: F, kind: "num", n: z.Real.val(v) };
    if (typeof v === "string") {
      const id = w.id(v);
      return { def: T, nul: F, kind: "str", s: z.Real.val(id ?? -1) };
    }
    if (Array.isArray(v)) return { def: T, nul: F, kind: "const-arr", items: v };
    return havoc("an object constant", "bool");
  };

  /** Deep equality of two defined values of scalar kinds; undefined pairs are handled by callers. */
  const eq = (l: SVal, r: SVal): B | null => {
    const bothNull = z.And(l.nul, r.nul);
    const neither = z.And(z.Not(l.nul), z.Not(r.nul));
    let same: B;
    if (l.kind === "bool" && r.kind === "bool") same = l.b!.eq(r.b!);
    else if (l.kind === "num" && r.kind === "num") same = l.n!.eq(r.n!);
    else if (l.kind === "str" && r.kind === "str") same = l.s!.eq(r.s!);
    else if (l.kind === "time" || r.kind === "time" || l.kind === "arr" || r.kind === "arr" || l.kind === "const-arr" || r.kind === "const-arr") return null;
    else same = F; // different JSON types are never equal
    return z.Or(bothNull, z.And(neither, same));
  };

  const toTime = (v: SVal): { def: B; t: A; isDate: boolean } | null => {
    if (v.kind === "time") return { def: some(v), t: v.n!, isDate: v.isDate === true };
    if (v.kind === "num") return { def: some(v), t: v.n!, isDate: false };
    return null; // strings parsed at run time: not encoded
  };

  const expr = (e: Expr): SVal => {
    switch (e.op) {
      case "const":
        return constVal(e.value);
      case "field":
        return field(e.name);
      case "now":
        return { def: T, nul: F, kind: "num", n: now };
      case "not":
        return boolVal(z.Not(holds(expr(e.arg))));
      case "and":
        return boolVal(z.And(T, ...e.args.map((a) => holds(expr(a)))));
      case "or":
        return boolVal(z.Or(F, ...e.args.map((a) => holds(expr(a)))));
      case "cmp": {
        const l = expr(e.left);
        const r = expr(e.right);
        const def = z.And(l.def, r.def);
        if (e.cmp === "==" || e.cmp === "!=") {
          const q = eq(l, r);
          if (q === null) return havoc(`\`${e.cmp}\` between ${l.kind} and ${r.kind} values`);
          return { def, nul: F, kind: "bool", b: e.cmp === "==" ? q : z.Not(q) };
        }
        if (l.kind === "num" && r.kind === "num") {
          const a = l.n!;
          const b = r.n!;
          const c = e.cmp === "<" ? a.lt(b) : e.cmp === "<=" ? a.le(b) : e.cmp === ">" ? a.gt(b) : a.ge(b);
          // Null on either side is not a number: undefined.
          return { def: z.And(def, z.Not(l.nul), z.Not(r.nul)), nul: F, kind: "bool", b: c };
        }
        if (l.kind === "bool" && r.kind === "bool") return { def: F, nul: F, kind: "bool", b: F };
        return havoc(`ordering \`${e.cmp}\` of ${l.kind} values (byte order of strings)`);
      }
      case "in": {
        const item = expr(e.item);
        const set = expr(e.set);
        if (set.kind === "const-arr") {
          const hits: B[] = [];
          for (const x of set.items!) {
            if (Array.isArray(x) || (typeof x === "object" && x !== null)) return havoc("membership in an array of arrays or objects");
            const q = eq(item, constVal(x));
            if (q === null) return havoc(`membership of a ${item.kind} value`);
            hits.push(q);
          }
          return { def: item.def, nul: F, kind: "bool", b: z.Or(F, ...hits) };
        }
        if (set.kind === "arr") return { def: z.And(item.def, set.def, z.Not(set.nul)), nul: F, kind: "bool", b: set.has!(item) };
        // A set that is not an array (or null) makes `in` undefined.
        if (set.kind === "bool" || set.kind === "num" || set.kind === "str" || set.kind === "time") return { def: F, nul: F, kind: "bool", b: F };
        return havoc("membership in a computed set");
      }
      case "in_list": {
        const item = expr(e.item);
        if (item.kind === "str") return { def: item.def, nul: F, kind: "bool", b: z.And(z.Not(item.nul), w.inList(e.list, item.s!)) };
        if (item.kind === "bool" || item.kind === "num" || item.kind === "arr" || item.kind === "const-arr") return { def: item.def, nul: F, kind: "bool", b: F };
        return havoc(`list membership of a ${item.kind} value`); // a timestamp is a string at run time
      }
      case "call":
        return call(e.fn, e.args);
      case "history_count":
        return { def: T, nul: F, kind: "num", n: w.historyCount(e, facts) };
      case "add_ms": {
        const t = toTime(expr(e.time));
        if (t === null || typeof e.ms !== "number") return havoc("`add_ms` of a value that is not a time field or number", "num");
        return { def: t.def, nul: F, kind: "num", n: t.t.add(e.ms) };
      }
      default:
        return havoc(`the expression \`${(e as { op: string }).op}\``);
    }
  };

  const call = (fn: string, argsE: Expr[]): SVal => {
    const args = argsE.map(expr);
    if (fn === "exists") return args.length === 1 ? boolVal(some(args[0]!)) : { def: F, nul: F, kind: "bool", b: F };
    const num = (def: B, n: A): SVal => ({ def, nul: F, kind: "num", n });
    if (["days_since", "days_until", "hours_since", "minutes_since", "since", "until", "local_hour", "time"].includes(fn)) {
      if (args.length !== 1) return { def: F, nul: F, kind: "num", n: z.Real.val(0) };
      const t = toTime(args[0]!);
      if (t === null) return havoc(`\`${fn}\` of a ${args[0]!.kind} value (parsed at run time)`, "num");
      const local = (): SVal => {
        // Exact for a fixed UTC offset; a named IANA zone's table is not encoded (havoc).
        const dayOf = (x: A, isDate: boolean): A => (isDate ? x.div(MS_PER_DAY) : floorDiv(localMs(x), MS_PER_DAY));
        let v: A;
        if (fn === "days_since") v = dayOf(now, false).sub(dayOf(t.t, t.isDate));
        else if (fn === "days_until") v = dayOf(t.t, t.isDate).sub(dayOf(now, false));
        else {
          const h = floorDiv(localMs(t.t), MS_PER_HOUR);
          v = h.sub(floorDiv(h, 24).mul(24));
        }
        if (!zoneKey) return num(t.def, v);
        const zoned = zoneNamed();
        const hv = havoc("local time in a named IANA zone (offset tables are not encoded)", "num");
        return num(t.def, z.If(zoned, hv.n!, v) as A);
      };
      switch (fn) {
        case "days_since":
        case "days_until":
        case "local_hour":
          return local();
        case "hours_since":
          return num(t.def, floorDiv(now.sub(t.t), MS_PER_HOUR));
        case "minutes_since":
          return num(t.def, floorDiv(now.sub(t.t), MS_PER_MINUTE));
        case "since":
          return num(t.def, now.sub(t.t));
        case "until":
          return num(t.def, t.t.sub(now));
        default:
          return num(t.def, t.t);
      }
    }
    if (fn === "contains" && args.length === 2 && args[0]!.kind === "arr") {
      const [a, b] = args as [SVal, SVal];
      return { def: z.And(a.def, b.def, z.Not(a.nul)), nul: F, kind: "bool", b: a.has!(b) };
    }
    return havoc(`the builtin \`${fn}\``, fn === "len" ? "num" : fn === "lower" || fn === "upper" ? "str" : "bool");
  };

  const condHolds = (index: number | undefined): B => {
    if (typeof index !== "number" || w.ir.conds[index] === undefined) return F;
    return holds(expr(w.ir.conds[index]!));
  };

  // Steps 1-4: the system is one of the plan's (event fixed, context restricted above); the
  // history is abstracted by its counts, which a well-formed history can realise.
  const valid = T;

  // Step 5: candidates in order.
  const customer = field(plan.keys.customer);
  const selected = new Map<number, B>();
  let earlierPassed: B = T; // every earlier candidate was skipped or failed a condition
  for (const i of candidates) {
    const n = plan.nodes[i] as PlanNode;
    const inSystem = z.Or(F, ...systems.map((s, k) => (plan.systems[s]!.includes(n.id) ? system.eq(k) : F)));
    const byFilter = z.Or(nodeFilter.eq(-1), nodeFilter.eq(i));
    const window: B[] = [];
    if (n.valid_from !== null) window.push(now.ge(n.valid_from));
    if (n.valid_until !== null) window.push(now.lt(n.valid_until));
    let rollout: B = T;
    if (n.rollout_bp < 10000) {
      rollout = customer.kind === "str"
        ? z.And(some(customer), w.bucketOf(n.rollout_salt, customer.s!, n.rollout_bp, facts).lt(n.rollout_bp))
        : F;
    }
    const live = z.And(inSystem, byFilter, rollout, ...window);
    const required = z.And(T, ...n.required.map((f) => field(f).def));
    const conds = z.And(T, ...n.conditions.map((c) => condHolds(c.cond)));
    selected.set(i, z.And(earlierPassed, live, required, conds));
    // A live candidate missing a required field ends the decision (deny): later ones are not tried.
    earlierPassed = z.And(earlierPassed, z.Or(z.Not(live), z.And(required, z.Not(conds))));
  }

  // Steps 6-7: gates and the experiment, per selected node.
  const delivering = new Map<number, Map<string, B>>();
  const deliversOf = (i: number): Map<string, B> => {
    const hit = delivering.get(i);
    if (hit) return hit;
    const n = plan.nodes[i] as PlanNode;
    const nodeWide = n.gates.filter((g) => g.channel === undefined).map((g) => condHolds(g.cond));
    const noNodeGate = z.Not(z.Or(F, ...nodeWide));
    const removed = new Map<string, B>();
    for (const ch of n.channels) removed.set(ch, z.Or(F, ...n.gates.filter((g) => g.channel === ch).map((g) => condHolds(g.cond))));
    let holdout: B = F;
    if (n.experiment !== null && n.experiment.holdout_bp > 0) {
      const x = n.experiment;
      holdout = customer.kind === "str" ? z.And(some(customer), w.bucketOf(x.salt, customer.s!, x.holdout_bp, facts).lt(x.holdout_bp)) : F;
    }
    const out = new Map<string, B>();
    let before: B = T; // every channel earlier in preference order was removed
    for (const ch of n.channels) {
      if (!out.has(ch)) out.set(ch, z.And(selected.get(i) ?? F, noNodeGate, z.Not(removed.get(ch)!), before, z.Not(holdout)));
      before = z.And(before, removed.get(ch)!);
    }
    delivering.set(i, out);
    return out;
  };

  const sendAt = (i: number, ch: string): A => {
    let t: A = now.add(plan.offsets_ms[ch] ?? 0);
    for (const q of plan.quiet_hours) {
      if (!q.channels.includes(ch)) continue;
      const local = localMs(t);
      const minute = floorDiv(local, MS_PER_MINUTE);
      const m = minute.sub(floorDiv(minute, 1440).mul(1440));
      const inWindow = q.start_min < q.end_min ? z.And(m.ge(q.start_min), m.lt(q.end_min)) : z.Or(m.ge(q.start_min), m.lt(q.end_min));
      const day = floorDiv(local, MS_PER_DAY).add(z.If(m.lt(q.end_min), z.Real.val(0), z.Real.val(1)) as A);
      const moved = day.mul(MS_PER_DAY).add(q.end_min * MS_PER_MINUTE).sub(offset().mul(MS_PER_MINUTE));
      t = z.If(inWindow, moved, t) as A;
    }
    void i;
    if (!zoneKey || plan.quiet_hours.every((q) => !q.channels.includes(ch))) return t;
    const hv = havoc("quiet hours in a named IANA zone (offset tables are not encoded)", "num");
    return z.If(zoneNamed(), hv.n!, t) as A;
  };

  return {
    enc: {
      event, system, systems, nodeFilter, now, fields, valid, selected,
      delivers: (i, ch) => deliversOf(i).get(ch) ?? F,
      sendAt,
      expr,
    },
    facts: [...facts, ...w.shared],
  };
}

/** FieldSpec.format, as compiler/ir/interpret.ts checks it (the constants the table may use). */
export function formatOk(format: string, v: string): boolean {
  const b = new TextEncoder().encode(v);
  switch (format) {
    case "sha256":
      return b.length === 64 && b.every((c) => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66));
    case "iso-639-1":
      return b.length === 2 && b.every((c) => c >= 0x61 && c <= 0x7a);
    case "email": {
      if (b.length > 254 || !b.every((c) => c > 0x20)) return false;
      const at = b.indexOf(0x40);
      if (at < 1 || at > 64 || b.indexOf(0x40, at + 1) !== -1) return false;
      const d = b.subarray(at + 1);
      return d.length > 0 && d.includes(0x2e) && d[0] !== 0x2e && d[d.length - 1] !== 0x2e;
    }
    default:
      return false;
  }
}
