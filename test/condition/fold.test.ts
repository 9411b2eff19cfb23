// The constant folder (WP2110 "always/never holds") against the reference interpreter: whenever
// the folder calls a condition constant, evaluating the lowered condition must give that answer
// for every request, including requests where fields are missing or of another type.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { Cond, CondExpr as Expr, ConditionEnv } from "../../compiler/condition/index.js";
import { lowerCondition, parseCondition } from "../../compiler/condition/index.js";
import { holds } from "../../compiler/condition/fold.js";
import { evalExpr, type Env } from "../../compiler/ir/interpret.js";

const S = { start: 0, end: 0 };
const NO_TYPES: ConditionEnv = { fields: new Map(), lists: new Map() };
const FIELDS = ["x", "y"];

// Values where the two evaluators once disagreed: UTF-16 vs UTF-8 order, 0.5 vs 1, mixed types.
const strings = fc.constantFrom("", "a", "b", "ab", "é", "\uffff", "\u{10000}");
const numbers = fc.constantFrom(-1, 0, 0.5, 1, 2, 1e9);
const scalar = fc.oneof(strings, numbers, fc.boolean(), fc.constant(null));

const lit = (v: string | number | boolean | null): Expr =>
  v === null ? { kind: "null", span: S } : typeof v === "string" ? { kind: "string", value: v, span: S } : typeof v === "number" ? { kind: "number", value: v, span: S } : { kind: "boolean", value: v, span: S };
const literal = scalar.map(lit);
const list = fc.array(literal, { maxLength: 3 }).map((items): Expr => ({ kind: "list", items, span: S }));
const field = fc.constantFrom(...FIELDS).map((name): Expr => ({ kind: "field", name, span: S }));
const term = fc.oneof({ arbitrary: literal, weight: 3 }, { arbitrary: field, weight: 2 }, { arbitrary: list, weight: 1 });
const cmpOp = fc.constantFrom("==", "!=", "<", "<=", ">", ">=" as const);

/** Boolean conditions over literals, lists and two fields; comparisons may nest. */
const cond: fc.Arbitrary<Cond> = fc.letrec<{ b: Expr }>((tie) => ({
  b: fc.oneof(
    { maxDepth: 4, depthIdentifier: "fold" },
    fc.record({ op: cmpOp, left: term, right: term }).map(({ op, left, right }): Expr => ({ kind: "cmp", op, left, right, span: S, opSpan: S })),
    fc.record({ op: cmpOp, left: tie("b"), right: fc.oneof(term, tie("b")) }).map(({ op, left, right }): Expr => ({ kind: "cmp", op, left, right, span: S, opSpan: S })),
    fc.record({ negated: fc.boolean(), item: term, set: fc.oneof(list, term) }).map(({ negated, item, set }): Expr => ({ kind: "in", negated, item, set, span: S, opSpan: S })),
    fc.boolean().map((value): Expr => ({ kind: "boolean", value, span: S })),
    tie("b").map((arg): Expr => ({ kind: "not", arg, span: S })),
    fc.array(tie("b"), { minLength: 2, maxLength: 3 }).map((args): Expr => ({ kind: "and", args, span: S })),
    fc.array(tie("b"), { minLength: 2, maxLength: 3 }).map((args): Expr => ({ kind: "or", args, span: S })),
  ),
})).b;

/** A request context: each field missing, a scalar, or a list of scalars. */
const context = fc.record(
  Object.fromEntries(FIELDS.map((f) => [f, fc.oneof(scalar, fc.array(scalar, { maxLength: 2 }))])),
  { requiredKeys: [] },
) as fc.Arbitrary<Record<string, unknown>>;

const env = (ctx: Record<string, unknown>): Env => ({ context: ctx, now: 0, lists: {}, history: [], utcOffsetMin: 0 });
const runs = (c: Cond, ctx: Record<string, unknown>): boolean => evalExpr(lowerCondition(c, NO_TYPES), env(ctx)) === true;

describe("constant folding agrees with the interpreter", () => {
  test("a condition folded to a constant evaluates to it on every request", () => {
    let constant = 0;
    fc.assert(
      fc.property(cond, fc.array(context, { minLength: 1, maxLength: 8 }), (c, ctxs) => {
        const h = holds(c);
        if (h === null) return;
        constant++;
        for (const ctx of ctxs) expect(runs(c, ctx), JSON.stringify(ctx)).toBe(h.value);
      }),
      { numRuns: 4000 },
    );
    // The property says nothing unless a good share of the conditions fold.
    expect(constant).toBeGreaterThan(400);
  });

  test.each<[string, boolean | null]>([
    // A comparison of constants that is undefined in the IR is a constant undefined, not false.
    ['(1 < "a") == false', false],
    ['not (1 < "a")', true],
    // Membership in an empty list says nothing about the value of the `in` itself.
    ["(x in []) == false", null],
    ["x in []", false],
    ["x not in []", true],
    // String order is UTF-8 byte order.
    ['"\uffff" < "\u{10000}"', true],
    ['x == 1 and x == 2', false],
  ])("%s", (text, expected) => {
    const p = parseCondition(text);
    expect(p.diagnostics).toEqual([]);
    expect(holds(p.ast!)?.value ?? null).toBe(expected);
    if (expected !== null) for (const x of [undefined, 1, "a", false, []]) expect(runs(p.ast!, x === undefined ? {} : { x })).toBe(expected);
  });
});
