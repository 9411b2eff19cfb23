/** A small hand-written plan exercising every step of docs/ir.md, for the Wasm backend tests. */
import type { BundleData, Expr, Gate, IR, JsonValue, Plan, PlanNode, Reason } from "../../compiler/ir/ir.js";

export const r = (code: string, extra: Partial<Reason> = {}): Reason => ({
  code,
  policy: `p/${code}`,
  message: `m ${code}`,
  source: `f.yaml:1:1`,
  ...extra,
});

const ENGINE = [
  "invalid-request", "system-not-allowed", "unknown-event", "field-not-allowed", "invalid-field",
  "missing-field", "no-eligible-node", "holdout",
];

export function node(id: string, over: Partial<PlanNode> = {}): PlanNode {
  return {
    id, title: id, purpose: "service", lawful_basis: "contract", event: "ev", priority: 1, risk: "low",
    valid_from: null, valid_until: null, rollout_bp: 10000, rollout_salt: `${id}-salt`, required: [],
    conditions: [], gates: [], channels: ["email"], templates: { email: `tpl-${id}` }, offer: null,
    experiment: null, explanation: `because ${id}`, review_reason: null, source: `${id}.yaml:1:1`,
    ...over,
  };
}

const f = (name: string): Expr => ({ op: "field", name });
const c = (value: JsonValue): Expr => ({ op: "const", value });
const eq = (left: Expr, right: Expr): Expr => ({ op: "cmp", cmp: "==", left, right });
const T: Expr = { op: "const", value: true };

/** The conditions, by name (index = position). */
export const CONDS: Record<string, Expr> = {
  always: T,
  isGold: eq(f("tier"), c("gold")),
  isSilver: eq(f("tier"), c("silver")),
  optedOut: { op: "in_list", list: "optout", item: f("customer.id") },
  noEmail: eq(f("consent.email"), c(false)),
  noSms: eq(f("consent.sms"), c(false)),
  frozen: eq(f("frozen"), c(true)),
  paused: eq(f("paused"), c(true)),
  pauseUntil: { op: "add_ms", time: { op: "now" }, ms: 86_400_000 },
  badUntil: c("not a time"),
  cap: { op: "cmp", cmp: ">=", left: { op: "history_count", window_ms: 7 * 86_400_000, channel: "email" }, right: c(2) },
};
const IDX = Object.fromEntries(Object.keys(CONDS).map((k, i) => [k, i])) as Record<string, number>;
const gate = (g: Omit<Partial<Gate>, "cond"> & { cond: string; outcome: Gate["outcome"] }): Gate => ({
  step: "contact-policy",
  reason: r(`gate-${g.cond}`),
  ...g,
  cond: IDX[g.cond]!,
}) as Gate;

export function fixture(): { ir: IR; data: BundleData } {
  const nodes: PlanNode[] = [
    // 0: high priority, gold only, high risk -> review
    node("vip", {
      risk: "high", review_reason: r("needs-review"), required: ["tier"],
      conditions: [{ kind: "trigger", cond: IDX.isGold!, reason: r("trigger-matched"), fail: r("not-gold") }],
      channels: ["sms", "email"], templates: { sms: "tpl-vip-sms", email: "tpl-vip-email" },
    }),
    // 1: silver, with gates and an experiment
    node("main", {
      conditions: [
        { kind: "trigger", cond: IDX.isSilver!, reason: r("trigger-matched"), fail: r("not-silver") },
        { kind: "eligibility", cond: IDX.always!, reason: r("eligible"), fail: r("ineligible") },
      ],
      gates: [
        { ...gate({ cond: "optedOut", outcome: "suppress", step: "suppression" }) },
        { ...gate({ cond: "frozen", outcome: "deny", step: "restriction" }), pass: r("not-frozen") },
        { step: "contact-policy", cond: IDX.paused!, outcome: "defer", until: IDX.pauseUntil!, reason: r("paused") },
        { ...gate({ cond: "noSms", outcome: "suppress", step: "consent", channel: "sms" }), pass: r("sms-ok", { channel: "sms" }) },
        { ...gate({ cond: "noEmail", outcome: "deny", step: "consent", channel: "email" }), pass: r("email-ok", { channel: "email" }) },
        { ...gate({ cond: "cap", outcome: "deny", channel: "email" }) },
      ],
      channels: ["sms", "email"], templates: { sms: "tpl-main-sms" }, offer: "offer-1",
      experiment: { salt: "exp", holdout_bp: 1000, variants: [{ id: "A", weight_bp: 5000 }, { id: "B", weight_bp: 5000 }] },
    }),
    // 2: fallback, valid window and rollout
    node("fallback", { valid_from: Date.UTC(2026, 0, 1), valid_until: Date.UTC(2027, 0, 1) }),
    // 3: canary at 0 bp: never live
    node("canary", { rollout_bp: 0 }),
    // 4: another event, bad defer gate
    node("odd", { event: "ev2", gates: [{ step: "restriction", cond: IDX.always!, outcome: "defer", until: IDX.badUntil!, reason: r("odd-defer") }] }),
  ];
  const plan: Plan = {
    version: 1,
    lists: {
      optout: { kind: "suppression", match: "customer.id", reason: r("opted-out") },
      fraud: { kind: "suppression", match: "customer.id", reason: r("fraud") },
      regions: { kind: "values", match: null, reason: r("regions") },
    },
    systems: { crm: ["canary", "fallback", "main", "odd", "vip"], web: ["fallback"] },
    events: { ev: [0, 3, 1, 2], ev2: [4] },
    event_fields: {
      ev: Object.fromEntries(["customer.id", "tier", "consent.email", "consent.sms", "frozen", "paused", "customer.utc_offset", "age", "score", "tags", "nums", "opened", "flag", "maybe", "zz"].map((k) => [k, true])) as Record<string, true>,
      ev2: {},
    },
    nodes,
    fields: {
      "customer.id": { type: "string", nullable: false, mask: "hash" },
      tier: { type: "string", nullable: false, values: ["gold", "silver", "bronze"], mask: "none" },
      "consent.email": { type: "boolean", nullable: true, mask: "none" },
      "consent.sms": { type: "boolean", nullable: false, mask: "none" },
      age: { type: "integer", nullable: false, min: 0, max: 130, mask: "none" },
      score: { type: "number", nullable: false, mask: "none" },
      tags: { type: "string[]", nullable: false, mask: "none" },
      nums: { type: "number[]", nullable: false, mask: "none" },
      opened: { type: "timestamp", nullable: false, mask: "none" },
      "customer.utc_offset": { type: "integer", nullable: false, mask: "none" },
    },
    channels: ["email", "sms"],
    purposes: ["claims", "marketing", "service"],
    offsets_ms: { sms: 1_800_000, email: 0 },
    quiet_hours: [{ start_min: 1260, end_min: 480, channels: ["sms"], reason: r("quiet-hours", { channel: "sms" }) }],
    keys: { customer: "customer.id", jurisdiction: "customer.jurisdiction", utc_offset: "customer.utc_offset" },
    reasons: Object.fromEntries(ENGINE.map((code) => [code, { code, policy: "engine", message: `engine ${code}`, source: "engine" }])),
  };
  const data: BundleData = {
    plan,
    lists: {
      optout: { "C-OPT": null, "C-EXP": "2020-01-01T00:00:00Z", "C-LATER": "2099-01-01" },
      fraud: { "C-OPT": "2099-01-01T00:00:00Z" },
      regions: {},
    },
    revision: "rev-1",
  };
  return { ir: { plan, conds: Object.values(CONDS) }, data };
}
