/**
 * Loads the shared data-driven cases in test/cases/*.yaml (OPA's test/cases style).
 *
 * A case file is
 *   fixture: <name of test/cases/fixtures/<name>.yaml> | {plan, conds, lists, revision}
 *   cases: [{note, entrypoint?, request, want}]          # want: the full output JSON
 *   expr_cases: [{note, expr, context?, now?, history?, want | undefined: true}]
 *
 * Expression cases check one `Expr` value. The interpreter evaluates them directly; any other
 * evaluator only exposes entrypoints, so `probeFixture` wraps the expression in a one-node plan
 * whose condition holds iff the expression yields the wanted value (or is undefined).
 */
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { BundleData, Expr, FieldSpec, IR, JsonValue, Plan } from "../../compiler/ir/ir.js";
import type { Entrypoint } from "../support/evaluators.js";
import { compileZone, tzdataVersion } from "../../compiler/tz.js";

/** The context key of the customer's IANA zone in fixtures given `time_zones`. */
export const ZONE_KEY = "customer.time_zone";

export const CASES_DIR = fileURLToPath(new URL("../cases/", import.meta.url));

export interface Fixture {
  ir: IR;
  data: BundleData;
}

export interface DecisionCase {
  note: string;
  entrypoint: Entrypoint;
  request: unknown;
  want: JsonValue;
}

export interface ExprCase {
  note: string;
  expr: Expr;
  context: Record<string, JsonValue>;
  now: string;
  history?: JsonValue;
  /** undefined means "the expression is undefined". */
  want: JsonValue | undefined;
}

export interface CaseFile {
  file: string;
  fixture: Fixture;
  cases: DecisionCase[];
  exprCases: ExprCase[];
  /** The compiled zones a `time_zones:` file adds to its fixture (and to its probe plans). */
  zones?: Record<string, number[]>;
}

interface RawFixture {
  plan: Plan;
  conds: Expr[];
  lists?: BundleData["lists"];
  revision?: string;
}

function readYaml(path: string): unknown {
  // `merge: true` lets fixtures use `<<: *anchor`; wants are written out in full.
  return parse(readFileSync(path, "utf8"), { merge: true });
}

function toFixture(raw: RawFixture): Fixture {
  const data: BundleData = { plan: raw.plan, lists: raw.lists ?? {}, revision: raw.revision ?? "" };
  return { ir: { plan: raw.plan, conds: raw.conds }, data };
}

export function loadFixture(name: string): Fixture {
  return toFixture(readYaml(`${CASES_DIR}fixtures/${name}.yaml`) as RawFixture);
}

/**
 * Gives `plan` (in place) the zone key `customer.time_zone` (an allowed-values string field every
 * event may receive) and the zones compiled from the pinned database, as the planner embeds
 * them. Returns the zones.
 */
export function addZones(plan: Plan, names: readonly string[]): Record<string, number[]> {
  const zones: Record<string, number[]> = {};
  for (const z of [...names].sort()) zones[z] = compileZone(z) as number[];
  plan.keys = { ...plan.keys, time_zone: ZONE_KEY };
  plan.fields[ZONE_KEY] = { type: "string", nullable: false, values: [...names].sort(), mask: "none" };
  for (const ev of Object.values(plan.event_fields)) ev[ZONE_KEY] = true;
  plan.zones = zones;
  plan.tzdata = tzdataVersion();
  return zones;
}

/** A copy of `fixture` whose plan has the zones `names` (see `addZones`). */
export function withZones(fixture: Fixture, names: readonly string[]): Fixture {
  const plan: Plan = structuredClone(fixture.ir.plan);
  addZones(plan, names);
  return { ir: { ...fixture.ir, plan }, data: { ...fixture.data, plan } };
}

export function loadCaseFiles(): CaseFile[] {
  const files = readdirSync(CASES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  return files.map((file) => {
    const raw = readYaml(CASES_DIR + file) as {
      fixture: string | RawFixture;
      cases?: { note: string; entrypoint?: Entrypoint; request: unknown; want: JsonValue }[];
      expr_cases?: {
        note: string;
        expr: Expr;
        context?: Record<string, JsonValue>;
        now?: string;
        history?: JsonValue;
        want?: JsonValue;
        undefined?: boolean;
      }[];
      time_zones?: string[];
      plan_patch?: Partial<Plan>;
    };
    const fixture = typeof raw.fixture === "string" ? loadFixture(raw.fixture) : toFixture(raw.fixture);
    let zones: Record<string, number[]> | undefined;
    if (raw.time_zones !== undefined || raw.plan_patch !== undefined) {
      // `time_zones`: the fixture gains the zone key (an allowed-values string field every event
      // may receive) and the zones compiled from the pinned database, as the planner embeds them.
      const plan: Plan = structuredClone({ ...fixture.ir.plan, ...(raw.plan_patch ?? {}) });
      if (raw.time_zones !== undefined) zones = addZones(plan, raw.time_zones);
      fixture.ir = { ...fixture.ir, plan };
      fixture.data = { ...fixture.data, plan };
    }
    const cases = (raw.cases ?? []).map((c) => ({ ...c, entrypoint: c.entrypoint ?? "waypost/decide" }));
    const exprCases = (raw.expr_cases ?? []).map((c) => {
      if ((c.undefined === true) === ("want" in c)) throw new Error(`${file}: ${c.note}: give exactly one of want / undefined`);
      return {
        note: c.note,
        expr: c.expr,
        context: c.context ?? {},
        now: c.now ?? "2026-11-25T10:00:00Z",
        history: c.history,
        want: c.undefined === true ? undefined : c.want,
      };
    });
    const notes = new Set<string>();
    for (const c of [...cases, ...exprCases]) {
      if (notes.has(c.note)) throw new Error(`${file}: duplicate note ${JSON.stringify(c.note)}`);
      notes.add(c.note);
    }
    return { file, fixture, cases, exprCases, ...(zones !== undefined ? { zones } : {}) };
  });
}

function inferSpec(v: JsonValue): FieldSpec {
  const base = { nullable: true, mask: "none" as const };
  if (typeof v === "number") return { ...base, type: "number" };
  if (typeof v === "boolean") return { ...base, type: "boolean" };
  if (Array.isArray(v)) return { ...base, type: v.every((x) => typeof x === "number") && v.length > 0 ? "number[]" : "string[]" };
  return { ...base, type: "string" };
}

/** The string values of `key` in the history entries (sorted, distinct). */
function namedIn(history: JsonValue | undefined, key: string): string[] {
  if (!Array.isArray(history)) return [];
  const out = new Set<string>();
  for (const h of history) {
    const v = h !== null && typeof h === "object" && !Array.isArray(h) ? h[key] : undefined;
    if (typeof v === "string") out.add(v);
  }
  return [...out].sort();
}

const PROBE_REASON = { code: "probe", policy: "probe", message: "probe", source: "probe" };

/**
 * A one-node plan for an expression case: its only condition is
 *   want defined:   expr == want
 *   want undefined: not(exists(expr) or expr == null)   (exists(x) is false on undefined and null)
 * so the decision is `send` exactly when the evaluator agrees with the case.
 */
export function probeFixture(
  c: ExprCase,
  lists: BundleData["lists"],
  zones?: Record<string, number[]>,
): { fixture: Fixture; request: JsonValue } {
  const check: Expr =
    c.want === undefined
      ? {
          op: "not",
          arg: {
            op: "or",
            args: [
              { op: "call", fn: "exists", args: [c.expr] },
              { op: "cmp", cmp: "==", left: c.expr, right: { op: "const", value: null } },
            ],
          },
        }
      : { op: "cmp", cmp: "==", left: c.expr, right: { op: "const", value: c.want } };
  const fields: Record<string, FieldSpec> = {};
  const eventFields: Record<string, true> = {};
  for (const [k, v] of Object.entries(c.context)) {
    fields[k] = inferSpec(v);
    eventFields[k] = true;
  }
  const plan: Plan = {
    version: 1,
    lists: {},
    systems: { probe: ["probe"] },
    events: { probe: [0] },
    event_fields: { probe: eventFields },
    nodes: [
      {
        id: "probe",
        title: "probe",
        purpose: "probe",
        lawful_basis: "probe",
        event: "probe",
        priority: 0,
        risk: "low",
        valid_from: null,
        valid_until: null,
        rollout_bp: 10000,
        rollout_salt: "probe",
        required: [],
        conditions: [{ kind: "trigger", cond: 0, reason: PROBE_REASON, fail: PROBE_REASON }],
        gates: [],
        channels: ["probe"],
        templates: {},
        offer: null,
        experiment: null,
        explanation: "probe",
        review_reason: null,
        source: "probe",
      },
    ],
    fields,
    // What the case's history names is declared, so its entries pass step 1.
    channels: namedIn(c.history, "channel"),
    purposes: namedIn(c.history, "purpose"),
    offsets_ms: {},
    quiet_hours: [],
    keys: { customer: "customer.id", jurisdiction: "customer.jurisdiction", utc_offset: "customer.utc_offset" },
    reasons: { "no-eligible-node": PROBE_REASON },
  };
  if (zones !== undefined) {
    plan.keys.time_zone = ZONE_KEY;
    plan.zones = zones;
  }
  const request: { [k: string]: JsonValue } = { system: "probe", event: "probe", now: c.now, context: c.context };
  if (c.history !== undefined) request.history = c.history;
  return { fixture: { ir: { plan, conds: [check] }, data: { plan, lists, revision: "probe" } }, request };
}
