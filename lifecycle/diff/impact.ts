/**
 * Decision impact: evaluate two policy versions on the same requests and group the decisions
 * that flip by (old outcome → new outcome, node, channel), with the smallest request that
 * shows each group. Used by `waypost diff` (examples, test cases, generated requests) and by
 * `waypost replay` (logged traffic).
 *
 * A decision "flips" when its outcome, node or channel differs. Everything else that differs
 * (template, send time, variant, reasons) is counted as a minor change. A flip is *widening*
 * when the new decision sends (send/defer) and the old one did not send that node on that
 * channel: those are the changes that can contact someone who was not contacted before.
 */
import type { BundleData, JsonValue, Plan } from "../../compiler/ir/ir.js";
import { listKeys as keysOfList } from "../../compiler/ir/compact-list.js";
import type { Outcome, PolicyDecision } from "../../runtime/contract.js";

export type { Outcome } from "../../runtime/contract.js";

/** The part of a decision the impact report compares. */
export type DecisionView = Pick<PolicyDecision, "outcome" | "node" | "channel" | "template" | "variant" | "send_at"> & { reasons: JsonValue[] };

export type Decider = (request: JsonValue) => DecisionView;

export type RequestOrigin = "example" | "test" | "generated" | "log" | "proof";

export interface Sample {
  request: JsonValue;
  origin: RequestOrigin;
  /** Where it came from: a file name, `seed 42 #17`, a log line. */
  label: string;
}

export interface FlipGroup {
  from: Outcome;
  to: Outcome;
  node: string | null;
  channel: string | null;
  widening: boolean;
  count: number;
  by_origin: Partial<Record<RequestOrigin, number>>;
  example: { label: string; origin: RequestOrigin; request: JsonValue; before: DecisionView; after: DecisionView };
}

export interface ImpactReport {
  evaluated: Partial<Record<RequestOrigin, number>>;
  unchanged: number;
  /** Same outcome, node and channel; something else differs (template, send time, reasons). */
  minor: number;
  flipped: number;
  widening: number;
  /** Widening groups first, then by count. */
  groups: FlipGroup[];
}

const SENDS = new Set<Outcome>(["send", "defer"]);

export const isWidening = (a: DecisionView, b: DecisionView): boolean =>
  SENDS.has(b.outcome) && !(SENDS.has(a.outcome) && a.node === b.node && a.channel === b.channel);

const flips = (a: DecisionView, b: DecisionView): boolean => a.outcome !== b.outcome || a.node !== b.node || a.channel !== b.channel;

const reasonCodes = (d: DecisionView): string => JSON.stringify(d.reasons.map((r) => (typeof r === "object" && r !== null && !Array.isArray(r) ? [r["code"], r["policy"], r["channel"] ?? null] : r)));

/** Same outcome/node/channel, but another template, variant, send time or reason list. */
const minorChange = (a: DecisionView, b: DecisionView): boolean =>
  a.template !== b.template || a.variant !== b.variant || a.send_at !== b.send_at || reasonCodes(a) !== reasonCodes(b);

const groupKey = (a: DecisionView, b: DecisionView): string => JSON.stringify([a.outcome, b.outcome, b.node ?? a.node, b.channel ?? a.channel]);

const size = (v: JsonValue): number => JSON.stringify(v).length;

/** Shrinks a request (drops context keys, history entries, `node`) while it stays in its group. */
function shrink(req: JsonValue, key: string, before: Decider, after: Decider, budget = 200): JsonValue {
  const stays = (r: JsonValue): boolean => {
    const a = before(r);
    const b = after(r);
    return flips(a, b) && groupKey(a, b) === key;
  };
  let cur = JSON.parse(JSON.stringify(req)) as JsonValue;
  if (typeof cur !== "object" || cur === null || Array.isArray(cur)) return cur;
  let progress = true;
  while (progress && budget > 0) {
    progress = false;
    const r = cur as { [k: string]: JsonValue };
    const candidates: JsonValue[] = [];
    const ctx = r["context"];
    if (typeof ctx === "object" && ctx !== null && !Array.isArray(ctx)) {
      for (const k of Object.keys(ctx)) {
        const { [k]: _drop, ...rest } = ctx;
        candidates.push({ ...r, context: rest });
      }
    }
    const hist = r["history"];
    if (Array.isArray(hist)) {
      if (hist.length > 0) {
        const { history: _h, ...rest } = r;
        candidates.push(rest);
      }
      hist.forEach((_, i) => candidates.push({ ...r, history: hist.filter((__, j) => j !== i) }));
    }
    if ("node" in r) {
      const { node: _n, ...rest } = r;
      candidates.push(rest);
    }
    for (const c of candidates) {
      if (--budget <= 0) break;
      if (stays(c)) {
        cur = c;
        progress = true;
        break;
      }
    }
  }
  return cur;
}

/** Compares two deciders over samples. */
export function measureImpact(samples: Iterable<Sample>, before: Decider, after: Decider, opts: { shrink?: boolean } = {}): ImpactReport {
  const report: ImpactReport = { evaluated: {}, unchanged: 0, minor: 0, flipped: 0, widening: 0, groups: [] };
  const groups = new Map<string, FlipGroup>();
  for (const s of samples) {
    report.evaluated[s.origin] = (report.evaluated[s.origin] ?? 0) + 1;
    const a = before(s.request);
    const b = after(s.request);
    if (!flips(a, b)) {
      if (minorChange(a, b)) report.minor++;
      else report.unchanged++;
      continue;
    }
    report.flipped++;
    const widening = isWidening(a, b);
    if (widening) report.widening++;
    const key = groupKey(a, b);
    let g = groups.get(key);
    if (!g) {
      g = { from: a.outcome, to: b.outcome, node: b.node ?? a.node, channel: b.channel ?? a.channel, widening, count: 0, by_origin: {}, example: { label: s.label, origin: s.origin, request: s.request, before: a, after: b } };
      groups.set(key, g);
    }
    g.count++;
    g.widening ||= widening;
    g.by_origin[s.origin] = (g.by_origin[s.origin] ?? 0) + 1;
    // Prefer hand-written requests (examples, tests) as the example, then the smallest.
    const rank = (o: RequestOrigin): number => (o === "example" || o === "test" ? 0 : 1);
    const cur = g.example;
    if (rank(s.origin) < rank(cur.origin) || (rank(s.origin) === rank(cur.origin) && size(s.request) < size(cur.request))) {
      g.example = { label: s.label, origin: s.origin, request: s.request, before: a, after: b };
    }
  }
  for (const [key, g] of groups) {
    if (opts.shrink !== false && g.example.origin === "generated") {
      const small = shrink(g.example.request, key, before, after);
      g.example = { ...g.example, request: small, before: before(small), after: after(small) };
    }
  }
  report.groups = [...groups.values()].sort((x, y) => Number(y.widening) - Number(x.widening) || y.count - x.count || groupKey(x.example.before, x.example.after).localeCompare(groupKey(y.example.before, y.example.after)));
  return report;
}

// ---------------------------------------------------------------------------------------------
// Generated requests

const DAY = 86_400_000;
const DAY_OFFSETS = [-400, -366, -365, -120, -91, -90, -89, -60, -31, -30, -29, -15, -14, -13, -8, -7, -6, -4, -3, -2, -1, 0, 1, 2, 3, 4, 6, 7, 8, 13, 14, 15, 29, 30, 31, 60, 89, 90, 91, 120, 365];

interface Mutation {
  kind: number;
  a: number;
  b: number;
  c: number;
}

const isObj = (v: unknown): v is { [k: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);

/** Numbers and strings that appear as constants in the IR conditions (when known). */
export function irConstants(conds: readonly unknown[]): { strings: string[]; numbers: number[] } {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObj(v)) {
      if (v["op"] === "const") {
        const c = v["value"];
        const vals = Array.isArray(c) ? c : [c];
        for (const x of vals) {
          if (typeof x === "string" && x.length < 64) strings.add(x);
          if (typeof x === "number" && Number.isFinite(x)) numbers.add(x);
        }
      }
      Object.values(v).forEach(walk);
    }
  };
  walk(conds);
  return { strings: [...strings].sort(), numbers: [...numbers].sort((a, b) => a - b) };
}

export interface GenerateInput {
  plans: readonly BundleData[];
  /** Hand-written requests to mutate (they already satisfy triggers). */
  seeds: readonly JsonValue[];
  constants?: { strings: string[]; numbers: number[] };
  seed: number;
  runs: number;
}

const pick = <T>(xs: readonly T[], n: number): T | undefined => (xs.length === 0 ? undefined : xs[Math.abs(n) % xs.length]);

const fmtTime = (ms: number): string => new Date(ms).toISOString().replace(/\.000Z$/, "Z");

/**
 * Requests near the interesting boundaries: hand-written requests with one to three fields
 * changed (a list key swapped in, a value changed or dropped, a date moved to a condition's
 * threshold, a contact added to the history, the clock moved), plus requests built from
 * scratch for events no example covers. Deterministic for a given seed (fast-check).
 */
export async function generateRequests(input: GenerateInput): Promise<Sample[]> {
  let fc: typeof import("fast-check");
  try {
    fc = await import("fast-check");
  } catch {
    return []; // fast-check is a development dependency: no generated requests without it
  }
  const plans = input.plans.map((d) => d.plan);
  const fields: Plan["fields"] = Object.assign({}, ...plans.map((p) => p.fields));
  const events = [...new Set(plans.flatMap((p) => Object.keys(p.events)))].sort();
  const eventFields = (ev: string): string[] => [...new Set(plans.flatMap((p) => Object.keys(p.event_fields[ev] ?? {})))].sort();
  const systems = [...new Set(plans.flatMap((p) => Object.keys(p.systems)))].sort();
  const channels = [...new Set(plans.flatMap((p) => p.nodes.flatMap((n) => n.channels)))].sort();
  const purposes = [...new Set(plans.flatMap((p) => p.nodes.map((n) => n.purpose)))].sort();
  const nodes = [...new Set(plans.flatMap((p) => p.nodes.map((n) => n.id)))].sort();
  // list match field -> every key on either side (+ one that is on no list)
  const listKeys = new Map<string, string[]>();
  for (const d of input.plans) {
    for (const [id, l] of Object.entries(d.plan.lists)) {
      if (l.match === null) continue;
      const keys = listKeys.get(l.match) ?? [];
      keys.push(...keysOfList(d.lists[id])); // a compact list's keys are not in the bundle
      listKeys.set(l.match, keys);
    }
  }
  for (const [k, v] of listKeys) listKeys.set(k, [...new Set(v)].sort());
  const matchFields = [...listKeys.keys()].sort();
  const consts = input.constants ?? { strings: [], numbers: [] };
  const customerKey = plans[0]?.keys.customer ?? "customer.id";

  const valueFor = (name: string, now: number, m: Mutation): JsonValue | undefined => {
    const f = fields[name];
    if (!f) return undefined;
    if (f.nullable && m.b % 11 === 0) return null;
    const offset = pick(DAY_OFFSETS, m.c) ?? 0;
    switch (f.type) {
      case "boolean":
        return m.b % 2 === 0;
      case "integer":
      case "number": {
        const lo = f.min ?? -10;
        const hi = f.max ?? 1000;
        const cands = [lo, hi, 0, 1, 15, 16, 17, 18, 21, 50, 99, 100, ...consts.numbers, ...consts.numbers.map((x) => x - 1), ...consts.numbers.map((x) => x + 1)]
          .filter((x) => x >= lo && x <= hi && (f.type === "number" || Number.isInteger(x)));
        return pick(cands, m.b) ?? lo;
      }
      case "timestamp":
        return fmtTime(now + offset * DAY - (m.b % 24) * 3_600_000);
      case "date":
        return fmtTime(now + offset * DAY).slice(0, 10);
      case "string[]":
        return (f.values ?? consts.strings).filter((_, i) => (m.b >> i) & 1);
      case "number[]":
        return [];
      default: {
        if (f.values) return pick(f.values, m.b) ?? "";
        const keys = listKeys.get(name);
        if (keys && m.b % 3 !== 0) return pick(keys, m.a) ?? "";
        return pick(name === customerKey ? ["C-100001", "C-555555", "C-999999"] : [...consts.strings, "x"], m.b) ?? "x";
      }
    }
  };

  const scratch = (ev: string, n: number): JsonValue => {
    const sys = systems.find((s) => plans.some((p) => (p.events[ev] ?? []).some((i) => p.systems[s]?.includes(p.nodes[i]!.id)))) ?? systems[0] ?? "";
    const now = Date.parse("2026-11-25T10:00:00Z");
    const ctx: { [k: string]: JsonValue } = {};
    eventFields(ev).forEach((name, i) => {
      const v = valueFor(name, now, { kind: 0, a: n + i, b: n * 7 + i, c: n + 3 * i });
      if (v !== undefined) ctx[name] = v;
    });
    return { system: sys, event: ev, now: fmtTime(now), context: ctx };
  };
  const coveredEvents = new Set(input.seeds.filter(isObj).map((s) => s["event"]));
  const seeds: JsonValue[] = [...input.seeds, ...events.filter((e) => !coveredEvents.has(e)).flatMap((e) => [0, 1, 2].map((n) => scratch(e, n)))];
  if (seeds.length === 0) return [];

  const mutate = (base: JsonValue, ms: Mutation[]): JsonValue => {
    const r = JSON.parse(JSON.stringify(base)) as { [k: string]: JsonValue };
    if (!isObj(r) || !isObj(r["context"])) return r;
    const ctx = r["context"];
    const ev = typeof r["event"] === "string" ? r["event"] : "";
    const fieldNames = eventFields(ev);
    for (const m of ms) {
      const now = Date.parse(typeof r["now"] === "string" ? r["now"] : "2026-11-25T10:00:00Z");
      if (!Number.isFinite(now)) continue;
      switch (m.kind) {
        case 0: case 1: { // a field of the event gets another value
          const name = pick(fieldNames, m.a);
          const v = name === undefined ? undefined : valueFor(name, now, m);
          if (name !== undefined && v !== undefined) ctx[name] = v;
          break;
        }
        case 2: { // the key of some list (suppression, opt-out) goes into its match field
          const name = pick(matchFields.filter((f) => fieldNames.includes(f)), m.a);
          const key = name === undefined ? undefined : pick(listKeys.get(name) ?? [], m.b);
          if (name !== undefined && key !== undefined) ctx[name] = key;
          break;
        }
        case 3: { // a field is left out
          const name = pick(Object.keys(ctx).sort(), m.a);
          if (name !== undefined) delete ctx[name];
          break;
        }
        case 4: // the clock moves (quiet hours, validity windows, expiries)
          r["now"] = fmtTime(now + (m.c % 48) * 3_600_000);
          break;
        case 5: { // one more contact in the history (caps, cool-downs)
          const h = Array.isArray(r["history"]) ? r["history"] : [];
          h.push({ at: fmtTime(now - (Math.abs(m.c) % (24 * 35)) * 3_600_000), channel: pick(channels, m.a) ?? "email", purpose: pick(purposes, m.b) ?? "", node: pick(nodes, m.a + m.b) ?? "" });
          r["history"] = h;
          break;
        }
        default: // another calling system
          r["system"] = pick(systems, m.a) ?? r["system"] ?? "";
      }
    }
    return r;
  };

  const mutation = fc.record({ kind: fc.nat(6), a: fc.nat(), b: fc.nat(), c: fc.integer({ min: -1000, max: 1000 }) });
  const arb = fc.tuple(fc.nat(seeds.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }));
  const drawn = fc.sample(arb, { seed: input.seed, numRuns: input.runs });
  return drawn.map(([i, ms], n) => ({ request: mutate(seeds[i]!, ms), origin: "generated" as const, label: `seed ${input.seed} #${n + 1}` }));
}
