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
import type { BundleData, Expr, FieldSpec, IR, PlanNode } from "../ir/ir.js";
import { formatTime, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, parseTime } from "../ir/time.js";
import type { JsonValue, TestRequest } from "./suite.js";

export interface GenWorld {
  ir: IR;
  lists: BundleData["lists"];
  /** The centre of generated `now` values (the suites' default `now`, or a fixed date). */
  refNow: number;
}

/** A value that may depend on the request time. */
type Mk = (now: number) => JsonValue;

interface Hints {
  values: Map<string, JsonValue[]>;
  /** ms relative to now */
  offsets: Map<string, number[]>;
  items: Map<string, string[]>;
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

/** Collects, per field, the values and time offsets the policies' conditions care about. */
export function harvest(ir: IR, lists: BundleData["lists"]): Hints {
  const h: Hints = { values: new Map(), offsets: new Map(), items: new Map(), history: [] };
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
    if (side.op === "call" && side.args[0] && typeof k === "number") {
      const g = fieldOf(side.args[0]);
      if (g === undefined) return;
      const unit = COUNTS[side.fn];
      if (unit !== undefined) push(h.offsets, g, (k - 1) * unit, k * unit, (k + 1) * unit);
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
        if (f !== undefined) push(h.values, f, ...Object.keys(lists[e.list] ?? {}));
        return;
      }
      default:
        return;
    }
  };
  ir.conds.forEach(walk);
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
      return fc.integer({ min: -400 * 1440, max: 400 * 1440 }).map((m) => (now: number) => fmtTs(now + m * MS_PER_MINUTE));
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

/** A field's value: mostly a harvested one (what the conditions compare with), else random. */
function fieldValue(name: string, spec: FieldSpec, w: GenWorld, h: Hints): fc.Arbitrary<Mk> {
  const hinted: fc.Arbitrary<Mk>[] = [];
  const vals = (h.values.get(name) ?? []).filter((v) => valueFits(spec, v));
  if (vals.length) hinted.push(fc.constantFrom(...vals).map((v) => () => v));
  const offs = h.offsets.get(name) ?? [];
  if (offs.length && (spec.type === "timestamp" || spec.type === "date")) {
    const fmt = spec.type === "date" ? fmtDate : fmtTs;
    hinted.push(fc.constantFrom(...offs).map((o) => (now: number) => fmt(now + o)));
  }
  const random = randomValue(name, spec, w, h);
  if (hinted.length === 0) return random;
  return fc.oneof({ arbitrary: fc.oneof(...hinted), weight: 3 }, { arbitrary: random, weight: 1 });
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
function nodeRequests(n: PlanNode, w: GenWorld, h: Hints): fc.Arbitrary<TestRequest> {
  const plan = w.ir.plan;
  const systems = Object.keys(plan.systems).filter((s) => plan.systems[s]!.includes(n.id));
  const fields = Object.keys(plan.event_fields[n.event] ?? {}).sort();
  const model: Record<string, fc.Arbitrary<Mk>> = {};
  for (const f of fields) {
    const spec = plan.fields[f];
    if (spec) model[f] = fieldValue(f, spec, w, h);
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
      history: historyArb(n, w, h),
    })
    .map(({ system, only, now, context, history }) => {
      const req: TestRequest = { system, event: n.event, now: fmtTs(now), context: {} };
      if (only) req.node = n.id;
      for (const [k, mk] of Object.entries(context)) if (mk !== undefined) req.context[k] = mk(now);
      if (history.length) req.history = history.map((mk) => mk(now));
      return req;
    });
}

/** Requests for the given nodes (all when absent), each aimed at one of them. */
export function requestArbitrary(w: GenWorld, nodeIds?: readonly string[]): fc.Arbitrary<TestRequest> {
  const h = harvest(w.ir, w.lists);
  const nodes = w.ir.plan.nodes.filter((n) => !nodeIds || nodeIds.includes(n.id));
  if (nodes.length === 0) throw new Error("internal: no node to generate requests for");
  return fc.oneof(...nodes.map((n) => nodeRequests(n, w, h)));
}

export const DEFAULT_REF_NOW = parseTime("2026-06-01T12:00:00Z")!;
