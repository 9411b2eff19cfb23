/**
 * Request generators for invariants, from the data dictionary and the compiled plan. Random
 * values alone almost never reach a journey node (a trigger like `days_until(x) == 90` and two
 * eligibility rules), so values are biased towards the constants the policies compare with
 * (harvested from every condition: `== 90` gives dates 89, 90 and 91 days away; `in list(...)`
 * gives that list's keys, suppression hits as well as misses) and each request targets one
 * node: its event, a system allowed to ask for it and the fields its event may carry.
 * Timestamps are relative to `now`, so they stay realistic as `now` moves and shrinks.
 */
import fc from "fast-check";
import type { BundleData, Expr, FieldSpec, IR, PlanNode } from "../../compiler/ir/ir.js";
import { listKeys } from "../../compiler/ir/compact-list.js";
import { formatTime, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, parseTime } from "../../compiler/ir/time.js";
import type { JsonValue, TestRequest } from "./suite.js";

export interface GenWorld {
  ir: IR;
  lists: BundleData["lists"];
  /** The centre of generated `now` values (the suites' default `now`, or a fixed date). */
  refNow: number;
  /** The example cases' requests: perturbed copies reach nodes random values rarely reach. */
  seeds?: readonly TestRequest[];
}

/** A value that may depend on the request time. */
type Mk = (now: number) => JsonValue;

interface Hints {
  values: Map<string, JsonValue[]>;
  /** ms relative to now */
  offsets: Map<string, number[]>;
  items: Map<string, string[]>;
  /** Local minutes of the day worth sending at (quiet-hours edges, `local_hour(...)` bounds). */
  minutes: number[];
  history: { window_ms: number; count: number; channel?: string; purpose?: string; node?: string }[];
}

const COUNTS: Record<string, number> = { days_since: -MS_PER_DAY, days_until: MS_PER_DAY, hours_since: -MS_PER_HOUR, minutes_since: -MS_PER_MINUTE };

function push<T>(m: Map<string, T[]>, k: string, ...v: T[]): void {
  const cur = m.get(k) ?? [];
  for (const x of v) if (!cur.some((y) => JSON.stringify(y) === JSON.stringify(x))) cur.push(x);
  m.set(k, cur);
}

function fieldOf(e: Expr): string | undefined {
  if (e.op === "field") return e.name;
  if (e.op === "call" && e.fn === "time" && e.args[0]?.op === "field") return e.args[0].name;
  return undefined;
}

/** Collects, per field, the values and time offsets the given conditions care about. */
export function harvest(ir: IR, lists: BundleData["lists"], exprs: readonly Expr[] = ir.conds): Hints {
  const h: Hints = { values: new Map(), offsets: new Map(), items: new Map(), minutes: [], history: [] };
  const minute = (...ms: number[]): void => {
    for (const m of ms.map((x) => ((x % 1440) + 1440) % 1440)) if (!h.minutes.includes(m)) h.minutes.push(m);
  };
  if (exprs === ir.conds) for (const qh of ir.plan.quiet_hours) minute(qh.start_min - 1, qh.start_min, qh.end_min - 1, qh.end_min);
  const cmp = (side: Expr, k: JsonValue): void => {
    const f = fieldOf(side);
    if (f !== undefined) {
      if (typeof k === "number") {
        const spec = ir.plan.fields[f];
        if (spec && (spec.type === "timestamp" || spec.type === "date")) push(h.offsets, f, 0); // absolute times: stay near now
        else push(h.values, f, k, k - 1, k + 1);
      } else if (typeof k === "string" || typeof k === "boolean") push(h.values, f, k);
      return;
    }
    if (side.op === "call" && side.fn === "local_hour" && typeof k === "number") minute(k * 60 - 1, k * 60, k * 60 + 59);
    if (side.op === "call" && side.args[0] && typeof k === "number") {
      const g = fieldOf(side.args[0]);
      if (g === undefined) return;
      const unit = COUNTS[side.fn];
      if (unit !== undefined) push(h.offsets, g, k * unit, (k - 1) * unit, (k + 1) * unit);
      else if (side.fn === "since") push(h.offsets, g, -k + MS_PER_MINUTE, -k - MS_PER_MINUTE);
      else if (side.fn === "until") push(h.offsets, g, k - MS_PER_MINUTE, k + MS_PER_MINUTE);
    }
    if (side.op === "history_count" && typeof k === "number") {
      const t: Hints["history"][number] = { window_ms: side.window_ms, count: k };
      if (side.channel !== undefined) t.channel = side.channel;
      if (side.purpose !== undefined) t.purpose = side.purpose;
      if (side.node !== undefined) t.node = side.node;
      h.history.push(t);
    }
  };
  const walk = (e: Expr): void => {
    switch (e.op) {
      case "not":
        return walk(e.arg);
      case "and":
      case "or":
        return e.args.forEach(walk);
      case "call":
        return e.args.forEach(walk);
      case "add_ms":
        return walk(e.time);
      case "cmp":
        if (e.right.op === "const") cmp(e.left, e.right.value);
        if (e.left.op === "const") cmp(e.right, e.left.value);
        walk(e.left);
        walk(e.right);
        return;
      case "in": {
        const f = fieldOf(e.item);
        if (f !== undefined && e.set.op === "const" && Array.isArray(e.set.value)) push(h.values, f, ...e.set.value);
        const g = fieldOf(e.set);
        if (g !== undefined && e.item.op === "const" && typeof e.item.value === "string") push(h.items, g, e.item.value);
        return;
      }
      case "in_list": {
        const f = fieldOf(e.item);
        if (f !== undefined) push(h.values, f, ...listKeys(lists[e.list]));
        return;
      }
      default:
        return;
    }
  };
  exprs.forEach(walk);
  return h;
}

const fmtTs = (ms: number): string => formatTime(Math.floor(ms / MS_PER_MINUTE) * MS_PER_MINUTE) ?? "1970-01-01T00:00:00Z";
const fmtDate = (ms: number): string => fmtTs(ms).slice(0, 10);
const UTC_OFFSETS = [0, 60, 120, -300, -480, 330, 540, 600, -720, 840];

function randomValue(name: string, spec: FieldSpec, w: GenWorld, h: Hints): fc.Arbitrary<Mk> {
  const k = (a: fc.Arbitrary<JsonValue>): fc.Arbitrary<Mk> => a.map((v) => () => v);
  const last = name.split(".").pop() ?? "x";
  switch (spec.type) {
    case "string":
      if (spec.values) return k(fc.constantFrom(...spec.values));
      if (name === w.ir.plan.keys.customer) return k(fc.integer({ min: 100000, max: 999999 }).map((n) => `C-${n}`));
      return k(fc.integer({ min: 1, max: 99 }).map((n) => `${last}-${n}`));
    case "integer":
    case "number": {
      if (name === w.ir.plan.keys.utc_offset) return k(fc.constantFrom(...UTC_OFFSETS.filter((o) => (spec.min ?? -Infinity) <= o && o <= (spec.max ?? Infinity))));
      const min = spec.min ?? -1000;
      const max = spec.max ?? Math.max(min + 1000, 1000);
      return k(fc.integer({ min: Math.ceil(min), max: Math.floor(max) }));
    }
    case "boolean":
      return k(fc.boolean());
    case "timestamp":
      // A consent time later than now is an invalid request: draw consents from the past only.
      return fc.integer({ min: -400 * 1440, max: spec.consent === true ? 0 : 400 * 1440 }).map((m) => (now: number) => fmtTs(now + m * MS_PER_MINUTE));
    case "date":
      return fc.integer({ min: -400, max: 400 }).map((d) => (now: number) => fmtDate(now + d * MS_PER_DAY));
    case "string[]": {
      const pool = [...new Set([...(h.items.get(name) ?? []), ...(spec.values ?? []), `${last}-1`])];
      return k(fc.subarray(pool));
    }
    case "number[]":
      return k(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 3 }));
  }
}

function hinted(name: string, spec: FieldSpec, h: Hints): fc.Arbitrary<Mk> | null {
  const arbs: fc.Arbitrary<Mk>[] = [];
  const vals = (h.values.get(name) ?? []).filter((v) => valueFits(spec, v));
  if (vals.length) arbs.push(fc.constantFrom(...vals).map((v) => () => v));
  const offs = h.offsets.get(name) ?? [];
  if (offs.length && (spec.type === "timestamp" || spec.type === "date")) {
    const fmt = spec.type === "date" ? fmtDate : fmtTs;
    arbs.push(fc.constantFrom(...offs).map((o) => (now: number) => fmt(now + o)));
  }
  return arbs.length ? fc.oneof(...arbs) : null;
}

/**
 * A field's value, in three tiers: what the focus (the target node's trigger and eligibility,
 * the invariant's own conditions) compares it with, most often; what any policy condition
 * compares it with (suppression keys, caps, consent ages), sometimes; random, otherwise. So most
 * requests reach their node, and a fair share of those hit a suppression or a gate.
 */
function fieldValue(name: string, spec: FieldSpec, w: GenWorld, focus: Hints, all: Hints): fc.Arbitrary<Mk> {
  const tiers: { arbitrary: fc.Arbitrary<Mk>; weight: number }[] = [];
  const f = hinted(name, spec, focus);
  if (f) tiers.push({ arbitrary: f, weight: 6 });
  const a = hinted(name, spec, all);
  if (a) tiers.push({ arbitrary: a, weight: 1 });
  const random = randomValue(name, spec, w, all);
  if (tiers.length === 0) return random;
  // fast-check favours (and shrinks towards) the first choice: the focus values, which keeps
  // counterexamples close to the policies' own numbers.
  return fc.oneof(...tiers, { arbitrary: random, weight: f ? 1 : 3 });
}

function valueFits(spec: FieldSpec, v: JsonValue): boolean {
  switch (spec.type) {
    case "string":
      return typeof v === "string" && (!spec.values || spec.values.includes(v));
    case "integer":
    case "number":
      return typeof v === "number" && (spec.type === "number" || Number.isInteger(v)) && (spec.min === undefined || v >= spec.min) && (spec.max === undefined || v <= spec.max);
    case "boolean":
      return typeof v === "boolean";
    default:
      return false;
  }
}

function historyArb(n: PlanNode, w: GenWorld, h: Hints): fc.Arbitrary<((now: number) => JsonValue)[]> {
  const channels = [...new Set([...n.channels, ...Object.keys(w.ir.plan.offsets_ms)])];
  const purposes = [...new Set([n.purpose, ...w.ir.plan.nodes.map((x) => x.purpose)])];
  const random = fc
    .record({ ago: fc.integer({ min: 1, max: 40 * 1440 }), channel: fc.constantFrom(...channels), purpose: fc.constantFrom(...purposes), node: fc.constantFrom(n.id, ...w.ir.plan.nodes.map((x) => x.id)) })
    .map((e) => (now: number): JsonValue => ({ at: fmtTs(now - e.ago * MS_PER_MINUTE), channel: e.channel, purpose: e.purpose, node: e.node }));
  const templates = h.history.map((t) =>
    fc.integer({ min: 1, max: Math.max(1, Math.floor(t.window_ms / MS_PER_MINUTE) - 1) }).map((ago) => (now: number): JsonValue => ({
      at: fmtTs(now - ago * MS_PER_MINUTE),
      channel: t.channel ?? n.channels[0] ?? "email",
      purpose: t.purpose ?? n.purpose,
      node: t.node ?? n.id,
    })),
  );
  const entry = templates.length ? fc.oneof({ arbitrary: fc.oneof(...templates), weight: 2 }, { arbitrary: random, weight: 1 }) : random;
  const max = Math.min(6, Math.max(2, ...h.history.map((t) => t.count + 1)));
  return fc.array(entry, { maxLength: max });
}

/** Requests aimed at one node. */
function nodeRequests(n: PlanNode, w: GenWorld, h: Hints, extra: readonly Expr[]): fc.Arbitrary<TestRequest> {
  const focus = harvest(w.ir, w.lists, [...n.conditions.map((c) => w.ir.conds[c.cond]!), ...extra]);
  const plan = w.ir.plan;
  const systems = Object.keys(plan.systems).filter((s) => plan.systems[s]!.includes(n.id));
  const fields = Object.keys(plan.event_fields[n.event] ?? {}).sort();
  const model: Record<string, fc.Arbitrary<Mk>> = {};
  for (const f of fields) {
    const spec = plan.fields[f];
    if (spec) model[f] = fieldValue(f, spec, w, focus, h);
  }
  const required = fields.filter((f) => n.required.includes(f));
  const lo = n.valid_from ?? -Infinity;
  const hi = n.valid_until ?? Infinity;
  // `now` within a year of the reference, in whole minutes, shrinking towards the reference.
  const nowArb = fc.integer({ min: -180 * 1440, max: 365 * 1440 }).map((m) => {
    const t = w.refNow + m * MS_PER_MINUTE;
    return t >= lo && t < hi ? t : w.refNow;
  });
  return fc
    .record({
      system: fc.constantFrom(...(systems.length ? systems : Object.keys(plan.systems))),
      only: fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }),
      now: nowArb,
      context: fc.record(model, { requiredKeys: required }),
      history: fc.oneof({ arbitrary: fc.constant<Mk[]>([]), weight: 2 }, { arbitrary: historyArb(n, w, h), weight: 1 }),
    })
    .map(({ system, only, now, context, history }) => {
      const req: TestRequest = { system, event: n.event, now: fmtTs(now), context: {} };
      if (only) req.node = n.id;
      for (const [k, mk] of Object.entries(context)) if (mk !== undefined) req.context[k] = mk(now);
      if (history.length) req.history = history.map((mk) => mk(now));
      return req;
    });
}

const shiftTime = (v: JsonValue, ms: number, days: number): JsonValue => {
  if (typeof v !== "string") return v;
  const t = parseTime(v);
  if (t === undefined) return v;
  return /^\d{4}-\d{2}-\d{2}$/.test(v) ? fmtDate(t + days * MS_PER_DAY) : fmtTs(t + ms);
};

/**
 * Perturbed example cases: a case's request with `now` (and every time in it, so ages stay
 * the same) moved by whole days and minutes, and a few fields replaced or left out. Shrinking
 * undoes the perturbations, so a counterexample reads as "this case, but with ...".
 */
function seededRequests(event: string, seeds: readonly TestRequest[], w: GenWorld, focus: Hints, all: Hints): fc.Arbitrary<TestRequest> {
  const plan = w.ir.plan;
  const minutes = [...new Set([...focus.minutes, ...all.minutes])];
  const channels = [...new Set(plan.events[event]?.flatMap((i) => plan.nodes[i]?.channels ?? []) ?? [])];
  // Land the send time (now + the channel's delay, in local time) on an interesting minute.
  const target = minutes.length && channels.length
    ? fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.record({ m: fc.constantFrom(...minutes), ch: fc.constantFrom(...channels) }), weight: 1 })
    : fc.constant(null);
  const fields = Object.keys(plan.event_fields[event] ?? {}).sort();
  const required = new Set(plan.events[event]?.flatMap((i) => plan.nodes[i]?.required ?? []) ?? []);
  const model: Record<string, fc.Arbitrary<Mk | "keep" | "drop">> = {};
  for (const f of fields) {
    const spec = plan.fields[f];
    if (!spec) continue;
    const choices: { arbitrary: fc.Arbitrary<Mk | "keep" | "drop">; weight: number }[] = [
      { arbitrary: fc.constant("keep" as const), weight: 8 },
      { arbitrary: fieldValue(f, spec, w, focus, all), weight: 2 },
    ];
    if (!required.has(f)) choices.push({ arbitrary: fc.constant("drop" as const), weight: 1 });
    model[f] = fc.oneof(...choices);
  }
  return fc
    .record({
      seed: fc.constantFrom(...seeds),
      days: fc.integer({ min: -45, max: 45 }),
      minutes: fc.integer({ min: -720, max: 720 }),
      change: fc.record(model),
      target,
    })
    .map(({ seed, days, minutes, change, target }) => {
      let ms = days * MS_PER_DAY + minutes * MS_PER_MINUTE;
      if (target) {
        const base = (parseTime(seed.now) ?? w.refNow) + days * MS_PER_DAY;
        const off = seed.context[plan.keys.utc_offset];
        const delayMin = Math.round((plan.offsets_ms[target.ch] ?? 0) / MS_PER_MINUTE);
        const localNow = Math.floor(base / MS_PER_MINUTE) + (typeof off === "number" ? off : 0) + delayMin;
        const shift = (((target.m - localNow) % 1440) + 1440) % 1440;
        ms = days * MS_PER_DAY + (shift > 720 ? shift - 1440 : shift) * MS_PER_MINUTE;
      }
      const now = (parseTime(seed.now) ?? w.refNow) + ms;
      const req: TestRequest = { system: seed.system, event: seed.event, now: fmtTs(now), context: {} };
      if (seed.node !== undefined) req.node = seed.node;
      for (const [k, v] of Object.entries(seed.context)) {
        const spec = plan.fields[k];
        req.context[k] = spec && (spec.type === "timestamp" || spec.type === "date") ? shiftTime(v, ms, days) : v;
      }
      for (const [k, c] of Object.entries(change)) {
        if (c === "keep") continue;
        if (c === "drop") delete req.context[k];
        else req.context[k] = c(now);
      }
      if (seed.history) req.history = seed.history.map((e) => (e && typeof e === "object" && !Array.isArray(e) ? { ...e, at: shiftTime(e["at"] ?? null, ms, days) } : e));
      return req;
    });
}

/**
 * Requests for the given nodes (all when absent): half aimed at one node from scratch, half
 * perturbed example cases of their events; `focus` are more conditions to aim at (an
 * invariant's `when` and `then`).
 */
export function requestArbitrary(w: GenWorld, nodeIds?: readonly string[], focus: readonly Expr[] = []): fc.Arbitrary<TestRequest> {
  const h = harvest(w.ir, w.lists);
  const nodes = w.ir.plan.nodes.filter((n) => !nodeIds || nodeIds.includes(n.id));
  if (nodes.length === 0) throw new Error("internal: no node to generate requests for");
  const fresh = fc.oneof(...nodes.map((n) => nodeRequests(n, w, h, focus)));
  const events = [...new Set(nodes.map((n) => n.event))];
  const seeded = events.flatMap((e) => {
    const seeds = (w.seeds ?? []).filter((r) => r.event === e && typeof w.ir.plan.systems[r.system] !== "undefined" && parseTime(r.now) !== undefined);
    if (seeds.length === 0) return [];
    const eventNodes = nodes.filter((n) => n.event === e);
    const f = harvest(w.ir, w.lists, [...eventNodes.flatMap((n) => n.conditions.map((c) => w.ir.conds[c.cond]!)), ...focus]);
    return [seededRequests(e, seeds, w, f, h)];
  });
  return seeded.length ? fc.oneof(fc.oneof(...seeded), fresh) : fresh;
}

export const DEFAULT_REF_NOW = parseTime("2026-06-01T12:00:00Z")!;
