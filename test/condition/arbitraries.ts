// fast-check arbitraries for the condition language: ASTs (for print/parse round trips) and
// token soup (for "never throws").
import fc from "fast-check";
import type { Cond, CondExpr as Expr, DurationUnit } from "../../compiler/condition/index.js";
import { KEYWORDS } from "../../compiler/condition/tokens.js";

const S = { start: 0, end: 0 }; // spans are ignored by the comparisons

const segment = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/);
export const identifier = fc
  .array(segment, { minLength: 1, maxLength: 3 })
  .map((xs) => xs.join("."))
  .filter((s) => !KEYWORDS.includes(s));

const pad = (n: number, w: number): string => String(n).padStart(w, "0");
const daysIn = (y: number, m: number): number => new Date(Date.UTC(2000, m, 0)).getUTCDate() - (m === 2 && !((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0) ? 1 : 0);
const ymd = fc
  .record({ y: fc.integer({ min: 0, max: 9999 }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 31 }) })
  .map(({ y, m, d }) => ({ y, m, d: Math.min(d, daysIn(y, m)) }));

const leaf: fc.Arbitrary<Expr> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 8 }).map((value): Expr => ({ kind: "string", value, span: S })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v): Expr => ({ kind: "number", value: Object.is(v, -0) ? 0 : v, span: S })),
  fc.integer({ min: -100000, max: 100000 }).map((value): Expr => ({ kind: "number", value, span: S })),
  fc.boolean().map((value): Expr => ({ kind: "boolean", value, span: S })),
  fc.constant<Expr>({ kind: "null", span: S }),
  fc.constant<Expr>({ kind: "now", span: S }),
  fc
    .record({ amount: fc.integer({ min: -100000, max: 100000 }), unit: fc.constantFrom<DurationUnit>("ms", "s", "m", "h", "d", "w") })
    .map(({ amount, unit }): Expr => ({ kind: "duration", amount: amount === 0 ? 0 : amount, unit, span: S })),
  ymd.map(({ y, m, d }): Expr => ({ kind: "date", text: `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`, ms: 0, span: S })),
  fc
    .record({
      date: ymd,
      h: fc.integer({ min: 0, max: 23 }),
      mi: fc.integer({ min: 0, max: 59 }),
      s: fc.integer({ min: 0, max: 59 }),
      frac: fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
      zone: fc.constantFrom("Z", "+01:00", "-05:30", "+00:00", "z"),
    })
    .map(({ date: { y, m, d }, h, mi, s, frac, zone }): Expr => ({
      kind: "timestamp",
      text: `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${frac ? "." + frac : ""}${zone}`,
      ms: 0,
      span: S,
    })),
  identifier.map((name): Expr => ({ kind: "field", name, span: S })),
  fc.string({ maxLength: 12 }).map((name): Expr => ({ kind: "named_list", name, span: S, nameSpan: S })),
);

const cmpOp = fc.constantFrom("==", "!=", "<", "<=", ">", ">=" as const);

/** Any syntactically valid AST (types are not respected: this is for the syntax layer). */
export const anyAst: fc.Arbitrary<Cond> = fc.letrec<{ e: Expr }>((tie) => ({
  e: fc.oneof(
    { maxDepth: 5, depthIdentifier: "cond" },
    { arbitrary: leaf, weight: 4 },
    fc.array(tie("e"), { maxLength: 3 }).map((items): Expr => ({ kind: "list", items, span: S })),
    fc.record({ name: identifier, args: fc.array(tie("e"), { maxLength: 3 }) }).map(({ name, args }): Expr => ({ kind: "call", name, args, span: S, nameSpan: S })),
    tie("e").map((arg): Expr => ({ kind: "not", arg, span: S })),
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((args): Expr => ({ kind: "and", args, span: S })),
    fc.array(tie("e"), { minLength: 2, maxLength: 3 }).map((args): Expr => ({ kind: "or", args, span: S })),
    fc.record({ op: cmpOp, left: tie("e"), right: tie("e") }).map(({ op, left, right }): Expr => ({ kind: "cmp", op, left, right, span: S, opSpan: S })),
    fc.record({ negated: fc.boolean(), item: tie("e"), set: tie("e") }).map(({ negated, item, set }): Expr => ({ kind: "in", negated, item, set, span: S, opSpan: S })),
  ),
})).e;

/** Token-like pieces of the language, good and bad, to glue into near-miss inputs. */
export const tokenSoup = fc
  .array(
    fc.constantFrom(
      "and", "or", "not", "in", "not in", "true", "false", "null", "now", "list", "list(\"x\")", "&&", "||", "!", "=",
      "==", "!=", "<", "<=", ">", ">=", "(", ")", "[", "]", ",", "-", ".", "\"", "'", "\\", "\"a\"", "'b'", "\"\\u12\"",
      "7d", "15m", "1.5h", "7days", "500ms", "1e999", "1e3", "2026-01-31", "2026-13-01", "2026-01-31T09:00:00Z",
      "2026-01-31T25:00", "0", "-1", "90", "customer.region", "x", "days_since(", "len(", "AND", "is", "\u201c", "#", " ", "\n",
    ),
    { maxLength: 25 },
  )
  .chain((parts) => fc.boolean().map((spaced) => parts.join(spaced ? " " : "")));
