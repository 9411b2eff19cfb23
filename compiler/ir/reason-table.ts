/**
 * The plan's reason table (docs/ir.md "Bundle data"): how `data.json` stores the plan's reasons.
 *
 * In memory a plan holds a Reason object wherever a reason is reported. In `data.json` each of
 * those places holds an integer instead, an index into `plan.reason_table`, where every distinct
 * reason is written once. A 10,000-node plan repeats the same suppression, consent, cap and
 * lawful-basis reasons on every node: inline, they were nine tenths of its data.json (43 MB),
 * which every build compresses and every load copies and parses into Wasm memory.
 *
 * The evaluators decide on the decoded plan (the Wasm engine resolves the indices once, when the
 * data is parsed), so a decision does not depend on which form the data was written in.
 */
import type { BundleData, Plan, Reason } from "./ir.js";

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Where reasons are, by the kind of object that holds them: the keys whose value is a reason.
 * Every other key is not one (a node's `candidate` object holds only reasons).
 */
const REASON_KEYS: Readonly<Record<string, readonly string[]>> = {
  condition: ["fail", "reason"],
  gate: ["pass", "reason"],
  node: ["review_reason"],
  experiment: ["holdout_reason", "treatment_reason"],
  variant: ["reason"],
  holdout: ["control_reason", "treatment_reason"],
  quiet: ["reason"],
  list: ["reason"],
  arbitration: ["exhausted_reason"],
};

const REASON_FIELDS = ["code", "policy", "message", "source", "channel"] as const;

/** Canonical text of a reason (its keys sorted): identical reasons share one table entry. */
function reasonKey(r: Obj): string {
  // The usual shape (string values under a reason's own keys) without sorting: each field's
  // value or, when absent, 0 (no string is 0), in a fixed order. Any other shape: sorted entries.
  let n = 0;
  for (const k of REASON_FIELDS) if (k in r) n++;
  if (n === Object.keys(r).length && REASON_FIELDS.every((k) => !(k in r) || typeof r[k] === "string")) {
    return "r" + JSON.stringify(REASON_FIELDS.map((k) => (k in r ? r[k] : 0)));
  }
  const keys = Object.keys(r).sort();
  return "o" + JSON.stringify(keys.map((k) => [k, r[k]]));
}

/**
 * Calls `visit(holder, key)` on every place of `plan` that holds a reason, in the order the
 * table is numbered: the order of first occurrence in the plan's canonical JSON (object keys
 * sorted, arrays in order).
 */
function eachReasonSlot(plan: Obj, visit: (holder: Obj, key: string) => void): void {
  const slots = (o: unknown, kind: string): void => {
    if (!isObj(o)) return;
    for (const k of REASON_KEYS[kind] ?? []) if (k in o) visit(o, k);
  };
  const sorted = (o: Obj): string[] => Object.keys(o).sort();
  for (const top of sorted(plan)) {
    const v = plan[top];
    if (top === "arbitration" && isObj(v)) for (const e of sorted(v)) slots(v[e], "arbitration");
    else if (top === "holdouts" && Array.isArray(v)) for (const h of v) slots(h, "holdout");
    else if (top === "lists" && isObj(v)) for (const l of sorted(v)) slots(v[l], "list");
    else if (top === "quiet_hours" && Array.isArray(v)) for (const q of v) slots(q, "quiet");
    else if (top === "reasons" && isObj(v)) for (const code of sorted(v)) visit(v, code);
    else if (top === "nodes" && Array.isArray(v)) {
      for (const n of v) {
        if (!isObj(n)) continue;
        // A node's keys in sorted order: candidate, conditions, experiment, gates, review_reason.
        const cand = n.candidate;
        if (isObj(cand)) for (const k of sorted(cand)) visit(cand, k);
        if (Array.isArray(n.conditions)) for (const c of n.conditions) slots(c, "condition");
        const x = n.experiment;
        if (isObj(x)) {
          slots(x, "experiment");
          if (Array.isArray(x.variants)) for (const vr of x.variants) slots(vr, "variant");
        }
        if (Array.isArray(n.gates)) for (const g of n.gates) slots(g, "gate");
        slots(n, "node");
      }
    }
  }
}

/**
 * A copy of the plan in which every object that holds a reason is a fresh (shallow) copy, so
 * its slots can be rewritten; everything else is shared with the input.
 */
function holdersCopied(plan: Obj): Obj {
  const obj = (v: unknown): unknown => (isObj(v) ? { ...v } : v);
  const arr = (v: unknown, f: (x: unknown) => unknown = obj): unknown => (Array.isArray(v) ? v.map(f) : v);
  const vals = (v: unknown): unknown => (isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, obj(x)])) : v);
  const out: Obj = { ...plan };
  if ("arbitration" in out) out.arbitration = vals(out.arbitration);
  if ("holdouts" in out) out.holdouts = arr(out.holdouts);
  if ("lists" in out) out.lists = vals(out.lists);
  if ("quiet_hours" in out) out.quiet_hours = arr(out.quiet_hours);
  if ("reasons" in out) out.reasons = obj(out.reasons);
  out.nodes = arr(out.nodes, (n) => {
    if (!isObj(n)) return n;
    const c: Obj = { ...n };
    if (isObj(n.candidate)) c.candidate = { ...n.candidate };
    if (Array.isArray(n.conditions)) c.conditions = arr(n.conditions);
    if (Array.isArray(n.gates)) c.gates = arr(n.gates);
    if (isObj(n.experiment)) c.experiment = { ...n.experiment, variants: arr(n.experiment.variants) };
    return c;
  });
  return out;
}

/**
 * The plan as `data.json` stores it: each reason replaced by its index in `reason_table`
 * (distinct reasons, numbered by first occurrence). `null` (a node without a review reason)
 * stays `null`. The input is not modified.
 */
export function encodePlan(plan: Plan): Obj {
  const out = holdersCopied(plan as unknown as Obj);
  const table: Obj[] = [];
  const index = new Map<string, number>();
  eachReasonSlot(out, (holder, key) => {
    const r = holder[key];
    if (!isObj(r)) return;
    const k = reasonKey(r);
    let i = index.get(k);
    if (i === undefined) {
      i = table.length;
      index.set(k, i);
      table.push(r);
    }
    holder[key] = i;
  });
  out.reason_table = table;
  return out;
}

/**
 * The in-memory plan of an encoded one (`encodePlan`'s inverse): indices replaced by their
 * table entries (shared objects), `reason_table` removed. A plan without a table, or a reason
 * already inline, is taken as is. Throws on an index that is not in the table.
 */
export function decodePlan(encoded: unknown): Plan {
  if (!isObj(encoded)) return encoded as Plan;
  const out = holdersCopied(encoded);
  const table = out.reason_table;
  delete out.reason_table;
  if (!Array.isArray(table)) return out as unknown as Plan;
  eachReasonSlot(out, (holder, key) => {
    const i = holder[key];
    if (typeof i !== "number") return;
    const r: unknown = Number.isInteger(i) ? table[i] : undefined;
    if (!isObj(r)) throw new Error(`plan reason index ${i} is not in reason_table (${table.length} entries)`);
    holder[key] = r as Reason;
  });
  return out as unknown as Plan;
}

/** `{waypost: data}` as data.json stores it: the plan encoded (`encodePlan`). */
export function encodeBundleData(data: BundleData): Obj {
  return { ...data, plan: encodePlan(data.plan) };
}

/** The bundle data of a data.json's `waypost` value: the plan decoded (`decodePlan`). */
export function decodeBundleData(data: unknown): BundleData {
  if (!isObj(data)) return data as unknown as BundleData;
  return { ...(data as unknown as BundleData), plan: decodePlan(data.plan) };
}
