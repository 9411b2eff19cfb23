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
 *    strings' buckets are fixed to their FNV-1a values when a model is made concrete);
 *  - history: each distinct `history_count` term is a free count >= 0 (an over-approximation).
 */
import type { Arith, Bool, Context, FuncDecl } from "z3-solver";
import type { Expr, FieldSpec, IR, JsonValue, PlanNode } from "../../compiler/ir/ir.js";
import { bucket } from "../../compiler/ir/interpret.js";
import { isCompactList } from "../../compiler/ir/compact-list.js";
import { MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from "../../compiler/ir/time.js";
import { OUTCOMES, type Outcome } from "../../runtime/contract.js";

export type Z3 = Context<"waypost">;
type B = Bool<"waypost">;
type A = Arith<"waypost">;

/** The smallest and largest instants an RFC 3339 timestamp can name (years 0000-9999). */
export const MIN_TIME = -62_167_219_200_000;
export const MAX_TIME = 253_402_300_799_999;
/** The expiry of a list entry without one: after every time a request can name. */
export const NO_EXPIRY = 2 * MAX_TIME;

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
  /** The event's candidate node indices, in order. */
  candidates: number[];
  /** Where this encoding's list and bucket applications start in the world's lists. */
  listFrom: number;
  bucketFrom: number;
  /** `delivers(nodeIndex, channel)`: the decision is send/defer/review with this node and channel. */
  delivers(node: number, channel: string): B;
  /** The send time (ms) of the decision when it delivers on `channel` by `node` (steps 9). */
  sendAt(node: number, channel: string): A;
  /** The send time on `channel` can be written (years 0000-9999); else `send_at` is null. */
  sendAtOk(channel: string): B;
  /** Quiet hours moved the send time on `channel`. */
  deferred(channel: string): B;
  /** The decision is `outcome` with candidate `node` (node-wide gates, channel gates, holdout, review). */
  outcomeBy(node: number, outcome: Outcome): B;
  outcomeIs(outcome: Outcome): B;
  /** Minute of the customer's local day (0..1439) at instant t, in their zone. */
  localMinute(t: A): A;
  /** The local minute of day of the send time on `channel` (exact but for DST-gap shifts, over-approximated). */
  sendMinute(channel: string): A;
  /** `context[plan.keys.customer]`. */
  customer: SVal;
  /** bucket(salt, customer id) with a threshold the concretiser must honour; null when the id is never a string. */
  bucketOf(salt: string, threshold: number): { def: B; b: A } | null;
  /** The decision's fields as an author invariant reads them (`decision.*`, `request.*`). */
  decisionFields(program: { purpose: (node: string) => string | undefined; risk: (node: string) => string | undefined }): DecisionFields;
  /** Evaluates a condition with these fields in place of context fields of the same name. */
  withDecision(fields: DecisionFields, e: Expr): SVal;
  /** Exclusive cases covering every request: the fixed offset, then each usable zone table (to split hard queries). */
  zoneCases(): B[];
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
 * The first entries of a list, as witnesses for counterexamples. A compact list (digests only,
 * compiler/ir/compact-list.ts) names no key, so it offers none: a counterexample that needs one
 * of its entries stays unknown. Proofs do not read entries at all.
 */
export function listWitnesses(entries: Record<string, string | null> | undefined): [string, string | null][] {
  if (entries === undefined || isCompactList(entries)) return [];
  return Object.entries(entries).slice(0, LIST_WITNESSES);
}

/**
 * The shared symbolic world of one proof run: string ids, list predicates, bucket functions,
 * history counts. One per solver context; each event encoding reuses it.
 */
export class World {
  readonly strings: string[];
  private readonly ids = new Map<string, number>();
  readonly lists = new Map<string, FuncDecl<"waypost">>();
  readonly expiries = new Map<string, FuncDecl<"waypost">>();
  /** Every list predicate application: (list id, string id term), for concretisation. */
  readonly listApps: { list: string; item: A }[] = [];
  readonly buckets = new Map<string, FuncDecl<"waypost">>();
  readonly bucketApps: { salt: string; item: A; thresholds: number[] }[] = [];
  /** bucket(salt, s) of every known string s, for concretiseWith (see bucketOf). */
  readonly bucketFacts: B[] = [];
  readonly history = new Map<string, A>();
  /** Replaced per query by the prover, so each guarantee lists the abstractions its query used. */
  abstractions = new Abstractions();
  /** Facts about symbols every event shares (bucket functions, history counts): every query adds them. */
  readonly shared: B[] = [];
  /** Under-approximations: with any of these, `unsat` proves nothing (the result is unknown). */
  readonly incomplete = new Set<string>();
  /** Encodings built once per world over placeholders and instantiated per event with z3's substitution (zone tables). */
  readonly templates = new Map<string, { holes: A[]; term: B | A }>();
  private fresh = 0;

  constructor(
    readonly z: Z3,
    readonly ir: IR,
    listEntries: Record<string, Record<string, string | null>>,
    extraStrings: Iterable<string> = [],
    extraExprs: readonly Expr[] = [],
    /** Names this world's own symbols apart from another world's in the same context (`waypost diff --prove`). */
    readonly tag = "",
  ) {
    const set = new Set<string>([...extraStrings, ""]);
    for (const e of [...ir.conds, ...extraExprs]) exprStrings(e, set);
    for (const spec of Object.values(ir.plan.fields)) for (const v of spec.values ?? []) set.add(v);
    for (const s of Object.keys(ir.plan.systems)) set.add(s);
    for (const n of ir.plan.nodes) {
      set.add(n.id);
      set.add(n.purpose);
      set.add(n.risk);
      for (const t of Object.values(n.templates)) set.add(t);
      if (n.offer !== null) set.add(n.offer);
      for (const v of n.experiment?.variants ?? []) set.add(v.id);
    }
    // What an author invariant may compare `decision.*` and `request.*` with.
    for (const o of OUTCOMES) set.add(o);
    for (const c of ir.plan.channels) set.add(c);
    for (const c of ir.plan.purposes) set.add(c);
    for (const e of Object.keys(ir.plan.events)) set.add(e);
    for (const z of Object.keys(ir.plan.zones ?? {})) set.add(z);
    for (const entries of Object.values(listEntries)) for (const [k] of listWitnesses(entries)) set.add(k);
    this.strings = [...set].sort();
    this.strings.forEach((s, i) => this.ids.set(s, i));
  }

  id(s: string): number | undefined {
    return this.ids.get(s);
  }

  freshName(p: string): string {
    return `${p}!${this.tag}${this.fresh++}`;
  }

  listPred(list: string): FuncDecl<"waypost"> {
    let f = this.lists.get(list);
    if (!f) {
      f = this.z.Function.declare(`list:${list}`, this.z.Real.sort(), this.z.Bool.sort());
      this.lists.set(list, f);
    }
    return f;
  }

  /** When an entry of the list stops holding (epoch ms; `NO_EXPIRY` for none). */
  listExpiry(list: string): FuncDecl<"waypost"> {
    let f = this.expiries.get(list);
    if (!f) {
      f = this.z.Function.declare(`list-expiry:${list}`, this.z.Real.sort(), this.z.Real.sort());
      this.expiries.set(list, f);
    }
    return f;
  }

  /** `in_list` at instant `at`: an entry, in force (its expiry strictly after `at`). */
  inList(list: string, item: A, at: A): B {
    this.listApps.push({ list, item });
    return this.z.And(this.listPred(list).call(item) as B, (this.listExpiry(list).call(item) as A).gt(at));
  }

  /** bucket(salt, id) for a string id term; the known strings' buckets are facts. */
  bucketOf(salt: string, item: A, threshold: number, facts: B[]): A {
    let f = this.buckets.get(salt);
    if (!f) {
      f = this.z.Function.declare(`bucket:${salt}`, this.z.Real.sort(), this.z.Real.sort());
      this.buckets.set(salt, f);
      // The buckets of the known strings are asserted only when a model is made concrete
      // (concretiseWith), not in every query: a proof holds for every bucket function, so
      // leaving them free is sound, and there are strings x salts of them (2,800 per event's
      // solver at 200 nodes, in each of 170 solvers).
      this.strings.forEach((s, i) => this.bucketFacts.push((f!.call(this.z.Real.val(i)) as A).eq(bucket(salt, s))));
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

/** The ids of the strings `ok` accepts, as maximal runs of consecutive ids [first, last]. */
export function idRuns(strings: readonly string[], ok: (s: string) => boolean): [number, number][] {
  const runs: [number, number][] = [];
  strings.forEach((x, i) => {
    if (!ok(x)) return;
    const last = runs.at(-1);
    if (last !== undefined && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  });
  return runs;
}

/**
 * Encodes one event's decision over a fresh symbolic request. `facts` is live: terms are built
 * lazily, so add it to a solver only after building the query.
 */
export function encodeEvent(w: World, event: string): { enc: EventEncoding; facts: B[] } {
  const z = w.z;
  const plan = w.ir.plan;
  const facts: B[] = [];
  const T = bool(z, true);
  const F = bool(z, false);
  const pfx = `${event}/`;
  const listFrom = w.listApps.length;
  const bucketFrom = w.bucketApps.length;

  const systems = Object.keys(plan.systems).sort();
  // Indexes into this plan's systems and nodes: per world (another plan numbers them otherwise).
  const system = z.Real.const(`${pfx}${w.tag}system`);
  facts.push(z.IsInt(system), system.ge(0), system.lt(systems.length));
  const candidates = (plan.events[event] ?? []).filter((i) => plan.nodes[i] !== undefined);
  const nodeFilter = z.Real.const(`${pfx}${w.tag}node`);
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
        // The known strings it may be, as runs of consecutive ids (the table is sorted, so
        // they are few): one equality per string made every event's solver grow with the
        // string table, that is with the number of nodes. No constraint when all may be.
        const runs = idRuns(w.strings, (x) => (spec.values === undefined || spec.values.includes(x)) && (spec.format === undefined || formatOk(spec.format, x)));
        const inRuns = runs.map(([lo, hi]) => (lo === hi ? value.eq(lo) : z.And(value.ge(lo), value.le(hi))));
        if (spec.values !== undefined) c.push(z.Or(F, ...inRuns));
        else if (!(runs.length === 1 && runs[0]![0] === 0 && runs[0]![1] === w.strings.length - 1)) c.push(z.Or(value.ge(w.strings.length), ...inRuns));
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

  let overrides: DecisionFields | undefined;
  /** What `now` means while an expression is evaluated: the request's, or a send time (step 10). */
  let curNow: A = now;
  const field = (name: string): SVal => {
    const o = overrides?.get(name);
    if (o) return o;
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

  // The customer's zone (docs/ir.md "Time zones"): a usable table of `plan.zones` named by the
  // time-zone field, else the fixed offset. Tables are encoded exactly, as `If` chains over
  // their transitions; each lookup is bound to a fresh variable so the solver shares it.
  const fixedOffset = (): A => {
    const f = field(plan.keys.utc_offset);
    return f.kind === "num" ? (z.If(z.And(f.def, z.Not(f.nul)), f.n!, z.Real.val(0)) as A) : z.Real.val(0);
  };
  const tables: { id: number; table: number[] }[] = [];
  if (plan.keys.time_zone !== undefined && plan.zones !== undefined) {
    for (const [name, table] of Object.entries(plan.zones)) {
      const id = w.id(name);
      if (id === undefined || !Array.isArray(table) || table.length % 2 !== 1 || !table.every((x) => typeof x === "number" && Number.isFinite(x))) continue;
      tables.push({ id, table });
    }
  }
  const zoneField = tables.length > 0 ? field(plan.keys.time_zone!) : undefined;
  // Each table's `If` chain is built once per world over a placeholder and instantiated per
  // lookup with z3's substitution (one call), not rebuilt term by term from JavaScript.
  const tableOffset = (id: number, table: number[], t: A): A => {
    const key = `table:${id}`;
    let c = w.templates.get(key);
    if (c === undefined) {
      const at = z.Real.const(w.freshName(`zone${id}:at`));
      let e: A = z.Real.val(table[0]!);
      for (let k = 1; 2 * k < table.length; k++) if (table[2 * k] !== table[2 * k - 2]) e = z.If(at.ge(table[2 * k - 1]!), z.Real.val(table[2 * k]!), e) as A;
      c = { holes: [at], term: e };
      w.templates.set(key, c);
    }
    return z.substitute(c.term, [c.holes[0]!, t]) as A;
  };
  // Lookups near `now` (send times, deferrals, today's date) share one segment choice per zone:
  // the window [now - 3 days, now + the longest channel delay + 4 days] holds at most one
  // transition when the table's transitions are further apart than that (checked per table), so
  // a lookup there is one `If` against that transition. Anywhere else (a field's time) the table
  // is an `If` chain over every transition.
  const DAY = MS_PER_DAY;
  const winLo = now.sub(3 * DAY);
  const winHi = now.add(Math.max(0, ...Object.values(plan.offsets_ms).filter((x) => Number.isFinite(x))) + 4 * DAY);
  const span = Math.max(0, ...Object.values(plan.offsets_ms).filter((x) => Number.isFinite(x))) + 7 * DAY;
  const segments = new Map<number, { end: A; cur: A; next: A } | null>();
  const segmentOf = (id: number, table: number[]): { end: A; cur: A; next: A } | null => {
    if (segments.has(id)) return segments.get(id)!;
    // The transitions that change the offset, and the offsets between them.
    const ts: number[] = [];
    const os: number[] = [table[0]!];
    for (let k = 1; 2 * k < table.length; k++) {
      if (table[2 * k] === os[os.length - 1]) continue;
      ts.push(table[2 * k - 1]!);
      os.push(table[2 * k]!);
    }
    let seg: { end: A; cur: A; next: A } | null = null;
    if (ts.every((t, k) => k === 0 || t - ts[k - 1]! > span)) {
      const end = z.Real.const(w.freshName(`${pfx}zone${id}:end`));
      const cur = z.Real.const(w.freshName(`${pfx}zone${id}:cur`));
      const next = z.Real.const(w.freshName(`${pfx}zone${id}:next`));
      // The choice of segment is the same formula for every event: built once per world over
      // placeholders (hundreds of transitions make it thousands of terms), then substituted.
      const key = `segment:${id}`;
      let tpl = w.templates.get(key);
      if (tpl === undefined) {
        const [lo, e, c, n] = ["lo", "end", "cur", "next"].map((h) => z.Real.const(w.freshName(`zone${id}:${h}`)));
        const alts: B[] = [];
        for (let j = 0; j < os.length; j++) {
          const from = j === 0 ? T : lo!.ge(ts[j - 1]!);
          const to = j === os.length - 1 ? z.And(e!.eq(MAX_TIME * 2), n!.eq(os[j]!)) : z.And(lo!.lt(ts[j]!), e!.eq(ts[j]!), n!.eq(os[j + 1]!));
          alts.push(z.And(from, to, c!.eq(os[j]!)));
        }
        tpl = { holes: [lo!, e!, c!, n!], term: z.Or(...alts) };
        w.templates.set(key, tpl);
      }
      const [lo, e, c, n] = tpl.holes;
      facts.push(z.substitute(tpl.term, [lo!, winLo], [e!, end], [c!, cur], [n!, next]) as B);
      seg = { end, cur, next };
    }
    segments.set(id, seg);
    return seg;
  };
  const nearIds = new Set<number>();
  const near = (t: A): A => {
    nearIds.add(t.id());
    return t;
  };
  const offsets = new Map<number, A>();
  /** Minutes east of UTC in force at instant t for this customer. */
  const offsetAt = (t: A): A => {
    if (zoneField === undefined || zoneField.kind !== "str") return fixedOffset();
    const hit = offsets.get(t.id());
    if (hit) return hit;
    // An `If` of times (the decision's send time): the offset of each branch.
    if (z.isApp(t) && t.decl().name() === "if" && t.numArgs() === 3) {
      const r = z.If(t.arg(0) as B, offsetAt(t.arg(1) as A), offsetAt(t.arg(2) as A)) as A;
      offsets.set(t.id(), r);
      return r;
    }
    const isNear = nearIds.has(t.id());
    let o: A = fixedOffset();
    for (const { id, table } of tables) {
      const seg = isNear ? segmentOf(id, table) : null;
      let zo: A;
      if (seg) {
        // Outside the window (never, by construction of the near terms): any offset, which is sound.
        const outside = z.Real.const(w.freshName(`${pfx}offset-outside`));
        zo = z.If(z.And(t.ge(winLo), t.lt(winHi)), z.If(t.ge(seg.end), seg.next, seg.cur), outside) as A;
      } else zo = tableOffset(id, table, t);
      o = z.If(z.And(zoneField.def, z.Not(zoneField.nul), zoneField.s!.eq(id)), zo, o) as A;
    }
    const v = z.Real.const(w.freshName(`${pfx}offset`));
    facts.push(v.eq(o));
    offsets.set(t.id(), v);
    return v;
  };
  const floorDiv = (x: A, d: number): A => z.ToReal(z.ToInt(x.div(d)));
  const localMs = (t: A): A => t.add(offsetAt(t).mul(MS_PER_MINUTE));
  /** Local minute of the day (0..1439) of instant t in the customer's zone. */
  const localMinute = (t: A): A => {
    const minute = floorDiv(localMs(t), MS_PER_MINUTE);
    return minute.sub(floorDiv(minute, 1440).mul(1440));
  };
  /** `fromLocal` of compiler/ir/time.ts: a local wall time back to an instant, `compatible`, never before `after`. */
  const fromLocal = (local: A, after: A): A => {
    if (zoneField === undefined) return local.sub(fixedOffset().mul(MS_PER_MINUTE));
    const nearby = nearIds.has(after.id());
    const mark = (x: A): A => (nearby ? near(x) : x);
    const off1 = offsetAt(mark(local.sub(MS_PER_DAY)));
    const off2 = offsetAt(mark(local.add(MS_PER_DAY)));
    const a = mark(local.sub(off1.mul(MS_PER_MINUTE)));
    const b = mark(local.sub(off2.mul(MS_PER_MINUTE)));
    const aOk = offsetAt(a).eq(off1);
    const bOk = offsetAt(b).eq(off2);
    const lo = z.If(a.lt(b), a, b) as A;
    const hi = z.If(a.lt(b), b, a) as A;
    return z.If(z.And(aOk, bOk), z.If(lo.gt(after), lo, hi), z.If(aOk, a, z.If(bOk, b, a))) as A;
  };
  near(now);

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
        return { def: T, nul: F, kind: "num", n: curNow };
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
        if (item.kind === "str") return { def: item.def, nul: F, kind: "bool", b: z.And(z.Not(item.nul), w.inList(e.list, item.s!, curNow)) };
        if (item.kind === "bool" || item.kind === "num" || item.kind === "arr" || item.kind === "const-arr") return { def: item.def, nul: F, kind: "bool", b: F };
        return havoc(`list membership of a ${item.kind} value`); // a timestamp is a string at run time
      }
      case "call":
        return call(e.fn, e.args);
      case "history_count": {
        if (curNow === now) return { def: T, nul: F, kind: "num", n: w.historyCount(e, facts) };
        // At a later instant (step 10) the window holds at most the entries it holds at now.
        w.abstractions.add("a history count at the send time (bounded by the count at now)");
        const v = z.Real.const(w.freshName(`${pfx}history-at-send`));
        facts.push(z.IsInt(v), v.ge(0), v.le(w.historyCount(e, facts)));
        return { def: T, nul: F, kind: "num", n: v };
      }
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
        // Exact: the fixed offset, or the zone's table (offsetAt).
        const dayOf = (x: A, isDate: boolean): A => (isDate ? x.div(MS_PER_DAY) : floorDiv(localMs(x), MS_PER_DAY));
        let v: A;
        if (fn === "days_since") v = dayOf(curNow, false).sub(dayOf(t.t, t.isDate));
        else if (fn === "days_until") v = dayOf(t.t, t.isDate).sub(dayOf(curNow, false));
        else v = floorDiv(minuteOfTerm(t.t), 60);
        return num(t.def, v);
      };
      switch (fn) {
        case "days_since":
        case "days_until":
        case "local_hour":
          return local();
        case "hours_since":
          return num(t.def, floorDiv(curNow.sub(t.t), MS_PER_HOUR));
        case "minutes_since":
          return num(t.def, floorDiv(curNow.sub(t.t), MS_PER_MINUTE));
        case "since":
          return num(t.def, curNow.sub(t.t));
        case "until":
          return num(t.def, t.t.sub(curNow));
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

  // Step 5: candidates in order, with the event's fallback arbitration: an eligible node whose
  // block set is non-empty and within `on` yields to the next candidate; when every eligible
  // one yields, the first yielder's decision stands. Node terms (steps 6-11) are local to the
  // node (as if it were evaluated); `selected` says whose decision is the answer.
  const customer = field(plan.keys.customer);
  const arb = plan.arbitration?.[event];
  const on = arb !== undefined && arb !== null && arb.fallback === "next" && Array.isArray(arb.on) ? new Set<string>(arb.on) : null;
  const selected = new Map<number, B>();

  // Steps 6-11 for one candidate, as if it were evaluated (conjoin `selected` for the decision).
  const kindOf = (g: PlanNode["gates"][number]): string => (typeof g.kind === "string" ? g.kind : g.step);
  const nodeTerms = new Map<number, NodeTerms>();
  function termsOf(i: number): NodeTerms {
    const hit = nodeTerms.get(i);
    if (hit) return hit;
    const n = plan.nodes[i] as PlanNode;
    // Node-wide gates end the decision at the first that holds, whatever the channel gates did.
    const stops: NodeTerms["stops"] = [];
    let none: B = T;
    // Per channel, "removed by a channel gate earlier in plan order": the channels a node-wide
    // gate sees (a held customer's deferral names the first one left).
    const removedSoFar = new Map<string, B>();
    for (const g of n.gates) {
      if (g.channel !== undefined) {
        removedSoFar.set(g.channel, z.Or(removedSoFar.get(g.channel) ?? F, condHolds(g.cond)));
        continue;
      }
      const h = condHolds(g.cond);
      let until: SVal | undefined;
      if (g.outcome === "defer") {
        const u = typeof g.until === "number" && w.ir.conds[g.until] !== undefined ? toTime(expr(w.ir.conds[g.until]!)) : null;
        until = u === null ? havoc("a deferral's `until` that is not a time field or number", "num") : { def: z.And(u.def, u.t.ge(MIN_TIME), u.t.lt(MAX_TIME + 1)), nul: F, kind: "time", n: u.t };
      }
      stops.push({ fires: z.And(none, h), outcome: g.outcome, until, kind: kindOf(g), removedBefore: new Map(removedSoFar) });
      none = z.And(none, z.Not(h));
    }
    // Channel gates (step 6): a channel is removed by the first of its gates that holds.
    const removed = new Map<string, B>();
    const firstBlock = new Map<string, { g: PlanNode["gates"][number]; first: B }[]>();
    for (const ch of n.channels) {
      if (removed.has(ch)) continue;
      let earlier: B = F;
      const list: { g: PlanNode["gates"][number]; first: B }[] = [];
      for (const g of n.gates) {
        if (g.channel !== ch) continue;
        const h = condHolds(g.cond);
        list.push({ g, first: z.And(z.Not(earlier), h) });
        earlier = z.Or(earlier, h);
      }
      removed.set(ch, earlier);
      firstBlock.set(ch, list);
    }
    const channels = [...new Set(n.channels)];
    const open = none; // no node-wide gate held
    const allRemoved = z.And(T, ...channels.map((ch) => removed.get(ch)!));
    // Step 6-7: held out of a universal holdout of the node's purpose, or of its experiment.
    const groups: B[] = [];
    if (customer.kind === "str") {
      for (const k of n.holdouts ?? []) {
        const h = plan.holdouts?.[k];
        if (h && h.holdout_bp > 0) groups.push(z.And(some(customer), w.bucketOf(h.salt, customer.s!, h.holdout_bp, facts).lt(h.holdout_bp)));
      }
      if (n.experiment !== null && n.experiment.holdout_bp > 0) groups.push(z.And(some(customer), w.bucketOf(n.experiment.salt, customer.s!, n.experiment.holdout_bp, facts).lt(n.experiment.holdout_bp)));
    }
    const holdout = z.Or(F, ...groups);
    // Step 10, per channel: blocked at its send time (validity window, then `at_send` gates with now = t).
    const sendBlock = new Map<string, { blocked: B; suppress: B; kinds: (on: Set<string>) => B }>();
    for (const ch of channels) {
      const atSend = n.gates.filter((g) => g.at_send === true && (g.channel === undefined || g.channel === ch));
      if (atSend.length === 0 && n.valid_until === null) {
        sendBlock.set(ch, { blocked: F, suppress: F, kinds: () => F });
        continue;
      }
      const t = sendOf(ch).t;
      const later = t.gt(now);
      const validity = n.valid_until === null ? F : t.ge(n.valid_until);
      const firsts: { g: PlanNode["gates"][number]; first: B }[] = [];
      let earlier: B = validity;
      curNow = t;
      try {
        for (const g of atSend) {
          const h = condHolds(g.cond);
          firsts.push({ g, first: z.And(later, z.Not(earlier), h) });
          earlier = z.Or(earlier, h);
        }
      } finally {
        curNow = now;
      }
      sendBlock.set(ch, {
        blocked: z.And(later, earlier),
        suppress: z.Or(F, ...firsts.filter((x) => x.g.outcome === "suppress").map((x) => x.first)),
        kinds: (on) => z.Or(F, ...firsts.filter((x) => on.has(kindOf(x.g))).map((x) => x.first)), // validity never yields
      });
    }
    const survives = new Map(channels.map((ch) => [ch, z.And(z.Not(removed.get(ch)!), z.Not(sendBlock.get(ch)!.blocked))]));
    const chosen = new Map<string, B>();
    const chosenHeld = new Map<string, B>();
    let beforeSend: B = T;
    let beforeHeld: B = T;
    // A node-wide deferral of a held customer is `holdout` (docs/ir.md step 6), naming the first
    // channel left when that gate held.
    const heldDefers = stops.filter((x) => x.outcome === "defer").map((x) => z.And(x.fires, x.until!.def, holdout));
    const heldAt = channels.map(() => F as B);
    stops.forEach((x) => {
      if (x.outcome !== "defer") return;
      let before: B = T;
      channels.forEach((ch, k) => {
        const gone = x.removedBefore.get(ch) ?? F;
        heldAt[k] = z.Or(heldAt[k]!, z.And(x.fires, x.until!.def, holdout, z.Not(gone), before));
        before = z.And(before, gone);
      });
    });
    // The channel steps 8-10 settle on, but its send time cannot be written (step 11: suppress).
    const lateAt: B[] = [];
    channels.forEach((ch, k) => {
      chosen.set(ch, z.And(open, z.Not(holdout), survives.get(ch)!, beforeSend, sendAtOk(ch)));
      chosenHeld.set(ch, z.Or(z.And(open, holdout, z.Not(removed.get(ch)!), beforeHeld), heldAt[k]!));
      lateAt.push(z.And(open, z.Not(holdout), survives.get(ch)!, beforeSend, z.Not(sendAtOk(ch))));
      beforeSend = z.And(beforeSend, z.Not(survives.get(ch)!));
      beforeHeld = z.And(beforeHeld, removed.get(ch)!);
    });
    const allGone = z.And(T, ...channels.map((ch) => z.Not(survives.get(ch)!)));
    const suppress6 = z.Or(F, ...channels.flatMap((ch) => firstBlock.get(ch)!.filter((x) => x.g.outcome === "suppress").map((x) => x.first)));
    const suppress10 = z.Or(F, ...channels.map((ch) => z.And(z.Not(removed.get(ch)!), sendBlock.get(ch)!.suppress)));
    // The variant (step 7) of a customer who is not held out: the first whose cumulative weight exceeds the bucket.
    const variants: { id: string; is: B }[] = [];
    if (n.experiment !== null && n.experiment.variants.length > 0 && customer.kind === "str") {
      const x = n.experiment;
      let cum = 0;
      let prev = 0;
      for (const v of x.variants) {
        cum += v.weight_bp;
        const vb = w.bucketOf(`${x.salt}#variant`, customer.s!, cum, facts);
        if (cum > prev) variants.push({ id: v.id, is: z.And(some(customer), vb.ge(prev), vb.lt(cum)) });
        prev = Math.max(prev, cum);
      }
    }
    const local = (o: Outcome): B => {
      switch (o) {
        case "holdout":
          return z.Or(z.And(open, z.Not(allRemoved), holdout), ...heldDefers);
        case "send":
        case "defer":
        case "review": {
          const byStop = o === "defer" ? stops.filter((x) => x.outcome === "defer").map((x) => z.And(x.fires, x.until!.def, z.Not(holdout))) : [];
          if (n.risk === "high") return o === "review" ? z.Or(F, ...[...chosen.values()]) : z.Or(F, ...byStop);
          if (o === "review") return F;
          const byChannel = [...chosen].map(([ch, c]) => z.And(c, o === "defer" ? sendOf(ch).deferred : z.Not(sendOf(ch).deferred)));
          return z.Or(F, ...byChannel, ...byStop);
        }
        case "suppress":
          return z.Or(
            ...stops.map((x) => (x.outcome === "suppress" ? x.fires : x.outcome === "defer" ? z.And(x.fires, z.Not(x.until!.def)) : F)),
            z.And(open, allRemoved, suppress6),
            z.And(open, z.Not(allRemoved), z.Not(holdout), allGone, z.Or(suppress6, suppress10)),
            ...lateAt,
          );
        case "deny":
          return z.Or(
            ...stops.map((x) => (x.outcome === "deny" ? x.fires : F)),
            z.And(open, allRemoved, z.Not(suppress6)),
            z.And(open, z.Not(allRemoved), z.Not(holdout), allGone, z.Not(z.Or(suppress6, suppress10))),
          );
      }
    };
    const yields = (on: Set<string>): B => {
      // Block sets (docs/ir.md step 5): a node-wide gate's kind; every channel's remover when
      // none is left; quiet hours when the outcome is a deferral from step 9.
      const byStop = stops.map((x) => (on.has(x.kind) ? x.fires : F));
      const kind6 = (ch: string): B => z.Or(F, ...firstBlock.get(ch)!.filter((x) => on.has(kindOf(x.g))).map((x) => x.first));
      const none6 = z.And(open, allRemoved, ...channels.map(kind6));
      const none10 = z.And(open, z.Not(allRemoved), z.Not(holdout), allGone, ...channels.map((ch) => z.If(removed.get(ch)!, kind6(ch), sendBlock.get(ch)!.kinds(on)) as B));
      const quiet = on.has("quiet-hours") && n.risk !== "high" ? z.Or(F, ...[...chosen].map(([ch, c]) => z.And(c, sendOf(ch).deferred))) : F;
      return z.Or(...byStop, none6, none10, quiet);
    };
    const t: NodeTerms = { node: n, stops, open, holdout, chosen, chosenHeld, variants, local, yields };
    nodeTerms.set(i, t);
    return t;
  }

  // Step 9, per channel (it does not depend on the node): the send time and whether quiet hours moved it.
  const sends = new Map<string, { t: A; deferred: B }>();
  const sendOf = (ch: string): { t: A; deferred: B } => {
    const hit = sends.get(ch);
    if (hit) return hit;
    let t: A = near(now.add(plan.offsets_ms[ch] ?? 0));
    let deferred: B = F;
    for (const q of plan.quiet_hours) {
      if (!q.channels.includes(ch)) continue;
      const local = localMs(t);
      const minute = floorDiv(local, MS_PER_MINUTE);
      const m = minute.sub(floorDiv(minute, 1440).mul(1440));
      const inWindow = q.start_min < q.end_min ? z.And(m.ge(q.start_min), m.lt(q.end_min)) : z.Or(m.ge(q.start_min), m.lt(q.end_min));
      const day = floorDiv(local, MS_PER_DAY).add(z.If(m.lt(q.end_min), z.Real.val(0), z.Real.val(1)) as A);
      const moved = fromLocal(day.mul(MS_PER_DAY).add(q.end_min * MS_PER_MINUTE), t);
      const v = near(z.Real.const(w.freshName(`${pfx}send:${ch}`)));
      // A deferral ends strictly later than the time it moves (a fact of fromLocal's "never
      // back in time", tested in test/ir/tz.test.ts): stated, z3 need not rediscover it
      // through the zone tables for every consent and cap query.
      facts.push(v.eq(z.If(inWindow, moved, t)), z.Implies(inWindow, v.gt(t)));
      t = v;
      deferred = z.Or(deferred, inWindow);
    }
    const r = { t, deferred };
    sends.set(ch, r);
    return r;
  };
  // Step 11: a send time that cannot be written (after 9999-12-31) suppresses.
  const sendAtOk = (ch: string): B => z.And(sendOf(ch).t.ge(MIN_TIME), sendOf(ch).t.le(MAX_TIME));

  // The local minute of day of the send time, without the instant: after a quiet-hours deferral
  // it is the window's end, moved forward by a DST gap when the end falls in one (the gaps of
  // each table whose local span holds the end are precomputed). Sound and small: the quiet-hours
  // guarantee and `local_hour(decision.send_at)` need no more than this.
  const gapShifts = (q: { end_min: number }, table: number[]): number[] => {
    const out = new Set<number>([0]);
    for (let k = 1; 2 * k < table.length; k++) {
      const before = table[2 * k - 2]!;
      const after = table[2 * k]!;
      if (after <= before) continue;
      const g = after - before;
      const startLocal = Math.floor((table[2 * k - 1]! + before * MS_PER_MINUTE) / MS_PER_MINUTE);
      const startMin = ((startLocal % 1440) + 1440) % 1440;
      if (((q.end_min - startMin) % 1440 + 1440) % 1440 < g) out.add(g);
    }
    return [...out];
  };
  const minutes = new Map<string, { m: A; deferred: B }>();
  const sendMinuteOf = (ch: string): { m: A; deferred: B } => {
    const hit = minutes.get(ch);
    if (hit) return hit;
    let m: A = localMinute(near(now.add(plan.offsets_ms[ch] ?? 0)));
    let deferred: B = F;
    for (const q of plan.quiet_hours) {
      if (!q.channels.includes(ch)) continue;
      const inWindow = q.start_min < q.end_min ? z.And(m.ge(q.start_min), m.lt(q.end_min)) : z.Or(m.ge(q.start_min), m.lt(q.end_min));
      let shift: A = z.Real.val(0);
      if (zoneField !== undefined && zoneField.kind === "str") {
        for (const { id, table } of tables) {
          const gs = gapShifts(q, table);
          if (gs.length === 1) continue;
          const v = z.Real.const(w.freshName(`${pfx}gap`));
          facts.push(z.Or(...gs.map((g) => v.eq(g))));
          shift = z.If(z.And(zoneField.def, z.Not(zoneField.nul), zoneField.s!.eq(id)), v, shift) as A;
        }
      }
      const end = shift.add(q.end_min);
      const v = z.Real.const(w.freshName(`${pfx}minute:${ch}`));
      facts.push(v.eq(z.If(inWindow, z.If(end.ge(1440), end.sub(1440), end), m)));
      m = v;
      deferred = z.Or(deferred, inWindow);
    }
    const r = { m, deferred };
    minutes.set(ch, r);
    return r;
  };
  // Send times as `decision.send_at` reads them: not before the channel's delay, otherwise free
  // (an over-approximation) but for their local minute of day (above).
  const relaxed = new Map<string, A>();
  const relaxedMinute = new Map<number, A>();
  const relaxedSend = (ch: string): A => {
    const hit = relaxed.get(ch);
    if (hit) return hit;
    w.abstractions.add("`decision.send_at` after a quiet-hours deferral is known by its local minute of day only");
    const v = z.Real.const(w.freshName(`${pfx}send-relaxed:${ch}`));
    // A deferral moves the time forward by less than a day plus a DST gap: within two days.
    const t0 = now.add(plan.offsets_ms[ch] ?? 0);
    // Undeferred it is exact; it is writable exactly when the send time is (step 11).
    const { deferred } = sendOf(ch);
    facts.push(z.IsInt(v), v.ge(t0), v.le(t0.add(2 * MS_PER_DAY)), z.Implies(z.Not(deferred), v.eq(t0)), z.Implies(deferred, v.gt(t0)), z.Implies(sendAtOk(ch), v.le(MAX_TIME)));
    relaxed.set(ch, v);
    relaxedMinute.set(v.id(), sendMinuteOf(ch).m);
    return v;
  };
  /** Local minute of day of t; a relaxed send time (or an `If` of them) through `sendMinuteOf`. */
  const minuteOfTerm = (t: A): A => {
    const r = relaxedMinute.get(t.id());
    if (r) return r;
    if (z.isApp(t) && t.decl().name() === "if" && t.numArgs() === 3) return z.If(t.arg(0) as B, minuteOfTerm(t.arg(1) as A), minuteOfTerm(t.arg(2) as A)) as A;
    return localMinute(t);
  };

  // (Filled here, after the send-time terms the block sets read.)
  {
    let reached: B = T; // no earlier candidate decided, and none ended the decision (missing field)
    let yieldedBefore: B = F;
    const decides: [number, B, B][] = [];
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
      const elig = z.And(reached, live, required, conds);
      const y = on === null ? F : termsOf(i).yields(on);
      decides.push([i, z.And(elig, z.Not(y)), z.And(elig, y, z.Not(yieldedBefore))]);
      yieldedBefore = z.Or(yieldedBefore, z.And(elig, y));
      reached = z.And(reached, z.Or(z.Not(live), z.And(required, z.Not(conds)), z.And(required, conds, y)));
    }
    for (const [i, d, firstYield] of decides) selected.set(i, z.Or(d, z.And(firstYield, reached)));
  }

  /** The decision is `outcome` with candidate i. */
  const outcomeBy = (i: number, o: Outcome): B => z.And(selected.get(i) ?? F, termsOf(i).local(o));
  const anySelected = z.Or(F, ...candidates.map((i) => selected.get(i) ?? F));
  const outcomeIs = (o: Outcome): B => {
    const by = candidates.map((i) => outcomeBy(i, o));
    return o === "deny" ? z.Or(z.Not(anySelected), ...by) : z.Or(F, ...by);
  };
  const delivers = (i: number, ch: string): B => {
    if (!candidates.includes(i)) return F;
    return z.And(selected.get(i) ?? F, termsOf(i).chosen.get(ch) ?? F);
  };

  /**
   * The decision's fields as an author invariant reads them (lifecycle/testing/invariants.ts
   * `invariantContext`), each built when first read, so a query holds only the terms it needs.
   */
  const decisionFields = (program: { purpose: (node: string) => string | undefined; risk: (node: string) => string | undefined }): DecisionFields => {
    const strOf = (cases: [B, string | null][]): SVal => {
      // Cases are exclusive; none (or a null value) → null.
      let s: A = z.Real.val(-1);
      let nul: B = T;
      for (const [c, v] of cases) {
        if (v === null) continue;
        s = z.If(c, z.Real.val(w.id(v) ?? -1), s) as A;
        nul = z.And(nul, z.Not(c));
      }
      return { def: T, nul: z.Or(nul, ...cases.filter(([, v]) => v === null).map(([c]) => c)), kind: "str", s };
    };
    // Per candidate and channel: the decision sends on it (c), or holds the customer out with it (h).
    const byChannel = <V>(f: (i: number, n: NodeTerms, ch: string, c: B, h: B) => [B, V][]): [B, V][] =>
      candidates.flatMap((i) => [...termsOf(i).chosen].flatMap(([ch, c]) => f(i, termsOf(i), ch, z.And(selected.get(i) ?? F, c), z.And(selected.get(i) ?? F, termsOf(i).chosenHeld.get(ch) ?? F))));
    const thunks: Record<string, () => SVal> = {
      "decision.outcome": () => ({ def: T, nul: F, kind: "str", s: OUTCOMES.map((o) => [outcomeIs(o), o] as [B, string]).reduceRight<A>((acc, [c, o]) => z.If(c, z.Real.val(w.id(o)!), acc) as A, z.Real.val(w.id("deny")!)) }),
      "decision.node": () => strOf(candidates.map((i) => [selected.get(i) ?? F, plan.nodes[i]!.id])),
      "decision.purpose": () => strOf(candidates.map((i) => [selected.get(i) ?? F, program.purpose(plan.nodes[i]!.id) ?? null])),
      "decision.risk": () => strOf(candidates.map((i) => [selected.get(i) ?? F, program.risk(plan.nodes[i]!.id) ?? null])),
      // Channel and template: set for send/defer/review by a channel, and for holdout.
      "decision.channel": () => strOf(byChannel((_i, _n, ch, c, h) => [[z.Or(c, h), ch]])),
      "decision.template": () => strOf(byChannel((_i, n, ch, c, h) => [[z.Or(c, h), n.node.templates[ch] ?? null]])),
      "decision.offer": () => strOf(byChannel((_i, n, _ch, c) => [[c, n.node.offer]])),
      "decision.variant": () => strOf(byChannel((_i, n, _ch, c) => n.variants.map((v) => [z.And(c, v.is), v.id] as [B, string]))),
      "decision.send_at": () => {
        const cases: [B, A][] = byChannel((_i, _n, ch, c) => [[c, relaxedSend(ch)]]);
        for (const i of candidates) for (const x of termsOf(i).stops) if (x.outcome === "defer") cases.push([z.And(selected.get(i) ?? F, x.fires, x.until!.def, z.Not(termsOf(i).holdout)), x.until!.n!]);
        let sa: A = z.Real.val(0);
        for (const [c, t] of cases) sa = z.If(c, t, sa) as A;
        return { def: T, nul: z.Not(z.Or(F, ...cases.map(([c]) => c))), kind: "time", n: sa };
      },
      "decision.sends": () => boolVal(z.Or(outcomeIs("send"), outcomeIs("defer"), outcomeIs("review"))),
      "request.system": () => ({ def: T, nul: F, kind: "str", s: systems.reduceRight<A>((acc, name, k) => z.If(system.eq(k), z.Real.val(w.id(name) ?? -1), acc) as A, z.Real.val(-1)) }),
      "request.event": () => ({ def: T, nul: F, kind: "str", s: z.Real.val(w.id(event) ?? -1) }),
      "request.node": () => {
        let rn: A = z.Real.val(-1);
        plan.nodes.forEach((n, k) => (rn = z.If(nodeFilter.eq(k), z.Real.val(w.id(n.id) ?? -1), rn) as A));
        return { def: T, nul: nodeFilter.eq(-1), kind: "str", s: rn };
      },
    };
    for (const name of ["decision.reasons", "decision.policies"]) {
      thunks[name] = () => {
        w.abstractions.add("`decision.reasons` and `decision.policies` (any codes)");
        const has = z.Function.declare(w.freshName(`${pfx}${name}`), z.Real.sort(), z.Bool.sort());
        return { def: T, nul: F, kind: "arr", has: (x) => (x.kind === "str" ? z.And(x.def, z.Not(x.nul), has.call(x.s!) as B) : F) };
      };
    }
    const built = new Map<string, SVal>();
    return {
      get(name) {
        const hit = built.get(name);
        if (hit) return hit;
        const f = thunks[name];
        if (!f) return undefined;
        const v = f();
        built.set(name, v);
        return v;
      },
    };
  };

  /** Evaluates an author invariant's condition, `decision.*` and `request.*` read from this decision. */
  const withDecision = (fieldsOf: DecisionFields, e: Expr): SVal => {
    overrides = fieldsOf;
    try {
      return expr(e);
    } finally {
      overrides = undefined;
    }
  };


  return {
    enc: {
      event, system, systems, nodeFilter, now, fields, valid, selected, candidates, listFrom, bucketFrom,
      delivers,
      sendAt: (_i, ch) => sendOf(ch).t,
      sendAtOk,
      deferred: (ch) => sendOf(ch).deferred,
      outcomeBy,
      outcomeIs,
      localMinute,
      sendMinute: (ch) => sendMinuteOf(ch).m,
      customer,
      bucketOf: (salt, thr) => (customer.kind === "str" ? { def: some(customer), b: w.bucketOf(salt, customer.s!, thr, facts) } : null),
      decisionFields,
      withDecision,
      zoneCases: () => {
        if (zoneField === undefined || zoneField.kind !== "str") return [T];
        const named = tables.map(({ id }) => z.And(zoneField.def, z.Not(zoneField.nul), zoneField.s!.eq(id)));
        return [z.Not(z.Or(...named)), ...named];
      },
      expr,
    },
    // Live: terms built later (gates, send times, zone lookups) add their facts here.
    facts,
  };
}

/** `decision.*` and `request.*` values, built on first read. */
export interface DecisionFields {
  get(name: string): SVal | undefined;
}

interface NodeTerms {
  node: PlanNode;
  /** Node-wide gates: the first that holds ends the decision (a `defer` with a defined `until`, else suppress). */
  stops: { fires: B; outcome: PlanNode["gates"][number]["outcome"]; until?: SVal; kind: string; removedBefore: Map<string, B> }[];
  /** No node-wide gate held. */
  open: B;
  /** Held out (a universal holdout of its purpose, or its experiment). */
  holdout: B;
  /** The channel it sends on (after steps 6 and 10), not held out. */
  chosen: Map<string, B>;
  /** The channel a held-out decision names (the first left after step 6). */
  chosenHeld: Map<string, B>;
  variants: { id: string; is: B }[];
  /** Its own outcome, as if it were the decision. */
  local(o: Outcome): B;
  /** Its block set is non-empty and within `on` (docs/ir.md step 5). */
  yields(on: Set<string>): B;
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
