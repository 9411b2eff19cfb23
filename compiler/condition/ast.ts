/**
 * The typed AST of a condition. Every node has a `span` of UTF-16 offsets local to the
 * condition text (end exclusive); callers add the offset of the condition inside its file.
 * Parentheses leave no node: `(a)` is the node of `a` (with the span of `a`).
 */

export interface LocalSpan {
  start: number;
  end: number;
}

export type CmpOperator = "==" | "!=" | "<" | "<=" | ">" | ">=";

export type DurationUnit = "ms" | "s" | "m" | "h" | "d" | "w";

export const DURATION_UNIT_MS: Readonly<Record<DurationUnit, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

export type Expr =
  | { kind: "string"; value: string; span: LocalSpan }
  | { kind: "number"; value: number; span: LocalSpan }
  | { kind: "boolean"; value: boolean; span: LocalSpan }
  | { kind: "null"; span: LocalSpan }
  /** `7d`: `amount` is a whole number (negative after a leading `-`). */
  | { kind: "duration"; amount: number; unit: DurationUnit; span: LocalSpan }
  /** `2026-01-31`: `text` as written (it is already canonical), `ms` = midnight UTC. */
  | { kind: "date"; text: string; ms: number; span: LocalSpan }
  /** `2026-01-31T09:00:00+02:00`: `text` as written, `ms` = the instant. */
  | { kind: "timestamp"; text: string; ms: number; span: LocalSpan }
  | { kind: "now"; span: LocalSpan }
  | { kind: "field"; name: string; span: LocalSpan }
  | { kind: "list"; items: Expr[]; span: LocalSpan }
  /** `list("fraud-suspected")`: a named suppression or value list (only meaningful after `in`). */
  | { kind: "named_list"; name: string; span: LocalSpan; nameSpan: LocalSpan }
  | { kind: "call"; name: string; args: Expr[]; span: LocalSpan; nameSpan: LocalSpan }
  | { kind: "not"; arg: Expr; span: LocalSpan }
  /** n-ary: `a and b and c` is one node; `a and (b and c)` keeps its nesting. */
  | { kind: "and"; args: Expr[]; span: LocalSpan }
  | { kind: "or"; args: Expr[]; span: LocalSpan }
  | { kind: "cmp"; op: CmpOperator; left: Expr; right: Expr; span: LocalSpan; opSpan: LocalSpan }
  /** `item in set`, or `item not in set` when `negated`. */
  | { kind: "in"; negated: boolean; item: Expr; set: Expr; span: LocalSpan; opSpan: LocalSpan };

/** The root of a condition (an expression that must have type boolean). */
export type Cond = Expr;

export type ExprKind = Expr["kind"];

/** The AST without its spans, for comparisons in tests and tools. */
export function stripSpans(e: Expr): unknown {
  return JSON.parse(
    JSON.stringify(e, (k, v: unknown) => (k === "span" || k === "opSpan" || k === "nameSpan" ? undefined : v)),
  );
}

/**
 * The IR value of a scalar literal (durations in ms, dates and timestamps as epoch ms), or
 * undefined for anything else. The lowering and the constant folder both read literals here.
 */
export function literalValue(e: Expr): string | number | boolean | null | undefined {
  switch (e.kind) {
    case "string":
    case "number":
    case "boolean":
      return e.value;
    case "null":
      return null;
    case "duration":
      return e.amount * DURATION_UNIT_MS[e.unit];
    case "date":
    case "timestamp":
      return e.ms;
    default:
      return undefined;
  }
}
