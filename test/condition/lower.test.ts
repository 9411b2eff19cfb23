import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { checkCondition, lowerCondition, parseCondition } from "../../compiler/condition/index.js";
import { evalExpr, type Env } from "../../compiler/ir/interpret.js";
import type { Expr } from "../../compiler/ir/ir.js";
import { env } from "./env.js";

function lowered(text: string): Expr {
  const p = parseCondition(text);
  expect(p.diagnostics).toEqual([]);
  const r = checkCondition(p.ast!, env);
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return lowerCondition(p.ast!, env);
}

const f = (name: string): Expr => ({ op: "field", name });
const k = (value: Expr extends infer E ? (E extends { op: "const"; value: infer V } ? V : never) : never): Expr => ({ op: "const", value });
const time = (e: Expr): Expr => ({ op: "call", fn: "time", args: [e] });
const DAY = 86_400_000;

describe("lowering to IR", () => {
  test.each<[string, Expr]>([
    [
      'days_until(policy.renewal_date) == 90 and customer.region in ["EU", "UK"]',
      {
        op: "and",
        args: [
          { op: "cmp", cmp: "==", left: { op: "call", fn: "days_until", args: [f("policy.renewal_date")] }, right: k(90) },
          { op: "in", item: f("customer.region"), set: k(["EU", "UK"]) },
        ],
      },
    ],
    ["since(claim.opened_at) > 3d", { op: "cmp", cmp: ">", left: { op: "call", fn: "since", args: [f("claim.opened_at")] }, right: k(3 * DAY) }],
    ["until(policy.renewal_date) < -500ms", { op: "cmp", cmp: "<", left: { op: "call", fn: "until", args: [f("policy.renewal_date")] }, right: k(-500) }],
    ["claim.opened_at >= 2026-01-31T09:00:00+01:00", { op: "cmp", cmp: ">=", left: time(f("claim.opened_at")), right: k(Date.UTC(2026, 0, 31, 8)) }],
    ["policy.start_date < 2026-01-31", { op: "cmp", cmp: "<", left: time(f("policy.start_date")), right: k(Date.UTC(2026, 0, 31)) }],
    ["now > policy.start_date", { op: "cmp", cmp: ">", left: { op: "now" }, right: time(f("policy.start_date")) }],
    ["claim.opened_at == policy.start_date", { op: "cmp", cmp: "==", left: time(f("claim.opened_at")), right: time(f("policy.start_date")) }],
    ["claim.opened_at in [2026-01-01]", { op: "in", item: time(f("claim.opened_at")), set: k([Date.UTC(2026, 0, 1)]) }],
    ["customer.email == null", { op: "cmp", cmp: "==", left: f("customer.email"), right: k(null) }],
    ['customer.id not in list("fraud-suspected")', { op: "not", arg: { op: "in_list", list: "fraud-suspected", item: f("customer.id") } }],
    ['customer.region not in ["EU"]', { op: "not", arg: { op: "in", item: f("customer.region"), set: k(["EU"]) } }],
    ['"vip" in customer.segments', { op: "in", item: k("vip"), set: f("customer.segments") }],
    ["not customer.is_minor or exists(customer.email)", { op: "or", args: [{ op: "not", arg: f("customer.is_minor") }, { op: "call", fn: "exists", args: [f("customer.email")] }] }],
    ["local_hour(now) >= 9", { op: "cmp", cmp: ">=", left: { op: "call", fn: "local_hour", args: [{ op: "now" }] }, right: k(9) }],
    ["0001-01-01 < now", { op: "cmp", cmp: "<", left: k(-62135596800000), right: { op: "now" } }],
  ])("%j", (text, ir) => {
    expect(lowered(text)).toEqual(ir);
  });
});

// ---- semantics through the reference interpreter ----

const ctxEnv = (context: Record<string, unknown>, now = Date.UTC(2026, 10, 25, 10)): Env => ({
  context,
  now,
  lists: { "fraud-suspected": { "C-1": null } },
  history: [],
  utcOffsetMin: 0,
});
const holds = (text: string, context: Record<string, unknown>): boolean => evalExpr(lowered(text), ctxEnv(context)) === true;

test("time fields compare as times, not as strings", () => {
  // Same instant, different spelling; string comparison would say false / the wrong order.
  expect(holds("claim.opened_at == 2026-01-01T01:00:00+01:00", { "claim.opened_at": "2026-01-01T00:00:00Z" })).toBe(true);
  expect(holds("claim.opened_at < 2026-01-01T00:30:00Z", { "claim.opened_at": "2026-01-01T01:00:00+01:00" })).toBe(true);
  expect(holds("policy.start_date == 2026-03-01", { "policy.start_date": "2026-03-01" })).toBe(true);
  expect(holds("days_until(policy.renewal_date) == 90", { "policy.renewal_date": "2027-02-23" })).toBe(true);
  expect(holds("since(claim.opened_at) > 3d", { "claim.opened_at": "2026-11-22T09:00:00Z" })).toBe(true);
  expect(holds('customer.id in list("fraud-suspected")', { "customer.id": "C-1" })).toBe(true);
  expect(holds('customer.id not in list("fraud-suspected")', {})).toBe(true);
});

// Conditions built from a few typed pieces over env's fields, so contradictions are common.
const piece = fc.oneof(
  fc.record({ op: fc.constantFrom("==", "!="), v: fc.constantFrom("EU", "UK", "US") }).map(({ op, v }) => `customer.region ${op} "${v}"`),
  fc.record({ neg: fc.boolean(), vs: fc.subarray(["EU", "UK", "US"]) }).map(({ neg, vs }) => `customer.region ${neg ? "not in" : "in"} [${vs.map((v) => `"${v}"`).join(", ")}]`),
  fc.record({ op: fc.constantFrom("==", "!=", "<", "<=", ">", ">="), v: fc.constantFrom(17, 18, 30) }).map(({ op, v }) => `customer.age ${op} ${v}`),
  fc.record({ op: fc.constantFrom("<", ">=", "=="), v: fc.constantFrom("2026-01-01", "2026-06-01") }).map(({ op, v }) => `policy.start_date ${op} ${v}`),
  fc.constantFrom("customer.is_minor", "customer.is_minor == true", "true", "false", "1 == 1", "1 < 0", '"a" in []', "since(claim.opened_at) > 3d",
    'customer.id in list("fraud-suspected")', "customer.email == null", "exists(customer.email)"),
);
const cond: fc.Arbitrary<string> = fc.letrec<{ c: string }>((tie) => ({
  c: fc.oneof(
    { maxDepth: 3, depthIdentifier: "c" },
    { arbitrary: piece, weight: 3 },
    tie("c").map((c) => `not (${c})`),
    fc.array(tie("c"), { minLength: 2, maxLength: 3 }).map((cs) => cs.map((c) => `(${c})`).join(" and ")),
    fc.array(tie("c"), { minLength: 2, maxLength: 3 }).map((cs) => cs.map((c) => `(${c})`).join(" or ")),
  ),
})).c;
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const context = fc
  .record({
    "customer.region": maybe(fc.constantFrom("EU", "UK", "US")),
    "customer.age": maybe(fc.constantFrom(16, 17, 18, 25, 30, 40)),
    "policy.start_date": maybe(fc.constantFrom("2025-12-31", "2026-01-01", "2026-03-01", "2026-06-01", "2026-07-01")),
    "customer.is_minor": maybe(fc.boolean()),
    "claim.opened_at": maybe(fc.constantFrom("2026-11-20T00:00:00Z", "2026-11-25T09:00:00+01:00")),
    "customer.id": maybe(fc.constantFrom("C-1", "C-2")),
    "customer.email": fc.constantFrom(undefined, null, "a@example.com"),
  })
  .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));

test("a condition reported constant evaluates to that constant in every context", () => {
  let constants = 0;
  fc.assert(
    fc.property(cond, fc.array(context, { minLength: 1, maxLength: 8 }), (text, ctxs) => {
      const p = parseCondition(text);
      expect(p.diagnostics, text).toEqual([]);
      const r = checkCondition(p.ast!, env);
      expect(r.diagnostics.filter((d) => d.severity === "error"), text).toEqual([]);
      if (r.constant === null) return;
      constants++;
      const ir = lowerCondition(p.ast!, env);
      for (const c of ctxs) expect(evalExpr(ir, ctxEnv(c)) === true, `${text} in ${JSON.stringify(c)}`).toBe(r.constant);
    }),
    { numRuns: 3000 },
  );
  expect(constants).toBeGreaterThan(100); // the generator does produce constant conditions
});
