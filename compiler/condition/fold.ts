/**
 * Constant detection: does a condition hold always, never, or it depends? "Holds" means
 * "evaluates to exactly true" (docs/ir.md), so a missing field makes `x == 1` not hold and
 * `not (x == 1)` hold: the reasoning below is two-valued on "holds", which keeps `not` exact.
 *
 * Literal folding plus simple facts about one expression inside an `and`: equal to two
 * different values, in an empty list, outside a number range, `c and not c`, `c or not c`.
 * Comparisons and membership of constants are computed by the reference interpreter, so a
 * folded condition means exactly what evaluating it would (undefined included).
 */
import { literalValue, type Expr } from "./ast.js";
import { printCondition } from "./print.js";
import { deepEqual, evalExpr, type Env } from "../ir/interpret.js";
import type { Expr as IrExpr } from "../ir/ir.js";

export interface Constancy {
  value: boolean;
  why: string; // help text for the warning
}

type Val = null | boolean | number | string | Val[];
const NOT_CONST = Symbol("not constant");

/** Only constants are evaluated: nothing reads the request. */
const NO_REQUEST: Env = { context: {}, now: 0, lists: {}, history: [], utcOffsetMin: 0 };
/** A constant node; an undefined value stays undefined (the interpreter reads it so). */
const k = (value: Val | undefined): IrExpr => ({ op: "const", value: value as Val });
/** An operation on constants, by the interpreter; a value or undefined (a constant too). */
const interpret = (e: IrExpr): Val | undefined => evalExpr(e, NO_REQUEST) as Val | undefined;

/** The value of an expression without fields or `now`, as the IR would compute it; NOT_CONST otherwise. */
function constValue(e: Expr): Val | typeof NOT_CONST | undefined {
  const lit = literalValue(e);
  if (lit !== undefined) return lit;
  switch (e.kind) {
    case "list": {
      const out: Val[] = [];
      for (const i of e.items) {
        const v = constValue(i);
        if (v === NOT_CONST || v === undefined) return v;
        out.push(v);
      }
      return out;
    }
    case "cmp": {
      const l = constValue(e.left);
      const r = constValue(e.right);
      if (l === NOT_CONST || r === NOT_CONST) return NOT_CONST;
      return interpret({ op: "cmp", cmp: e.op, left: k(l), right: k(r) });
    }
    case "in": {
      const i = constValue(e.item);
      const s = constValue(e.set);
      if (i === NOT_CONST || s === NOT_CONST) return NOT_CONST;
      const v = interpret({ op: "in", item: k(i), set: k(s) });
      return e.negated ? v !== true : v; // `not in` lowers to `not (in)`
    }
    case "not":
    case "and":
    case "or": {
      const h = holds(e);
      return h === null ? NOT_CONST : h.value;
    }
    default:
      return NOT_CONST;
  }
}

const key = (e: Expr): string => printCondition(e);
const isScalar = (v: Val | typeof NOT_CONST | undefined): v is null | boolean | number | string =>
  v !== NOT_CONST && v !== undefined && !Array.isArray(v);

/** Whether `e` (a boolean expression) always holds, never holds, or depends on the request (null). */
export function holds(e: Expr): Constancy | null {
  switch (e.kind) {
    case "boolean":
      return { value: e.value, why: `it is the fixed value \`${e.value}\`` };
    case "null":
      return { value: false, why: "`null` is never true" };
    case "cmp": {
      const v = constValue(e);
      return v === NOT_CONST ? null : { value: v === true, why: "it compares fixed values; compare a field with a value instead" };
    }
    case "in": {
      const s = constValue(e.set);
      if (Array.isArray(s) && s.length === 0)
        return { value: e.negated, why: "the list is empty, so nothing is in it" };
      const v = constValue(e);
      return v === NOT_CONST ? null : { value: v === true, why: "it compares fixed values; compare a field with a value instead" };
    }
    case "not": {
      const h = holds(e.arg);
      return h && { value: !h.value, why: h.why };
    }
    case "and":
    case "or": {
      const isAnd = e.kind === "and";
      const parts = e.args.map(holds);
      // `and`: one part that never holds decides; `or`: one part that always holds decides.
      const decisive = parts.find((p) => p !== null && p.value !== isAnd);
      if (decisive) return { value: !isAnd, why: decisive.why };
      if (parts.every((p) => p !== null)) return { value: isAnd, why: parts[0]!.why };
      const keys = new Set(e.args.map(key));
      for (const a of e.args)
        if (a.kind === "not" && keys.has(key(a.arg)))
          return isAnd
            ? { value: false, why: `\`${key(a.arg)}\` cannot both hold and not hold` }
            : { value: true, why: `either \`${key(a.arg)}\` holds or it does not` };
      return isAnd ? contradiction(e.args) : null;
    }
    default:
      return null; // fields, calls, `in list(...)`: depend on the request
  }
}

interface Facts {
  allowed?: { vals: Val[]; text: string[] }; // must equal one of these (and so be present)
  excluded: Val[]; // must not equal any of these
  lo?: { v: number; incl: boolean };
  hi?: { v: number; incl: boolean };
}

/** Facts each part of an `and` states about one expression; a contradiction among them. */
function contradiction(args: Expr[]): Constancy | null {
  const facts = new Map<string, Facts>();
  const get = (k: string): Facts => facts.get(k) ?? (facts.set(k, { excluded: [] }), facts.get(k)!);
  const never = (why: string): Constancy => ({ value: false, why });
  for (const a of args) {
    let item: Expr | undefined;
    let op: string | undefined;
    let v: Val | typeof NOT_CONST | undefined;
    let negated = false;
    let inner = a;
    if (inner.kind === "not" && (inner.arg.kind === "cmp" || inner.arg.kind === "in")) {
      negated = true;
      inner = inner.arg;
    }
    if (inner.kind === "cmp") {
      const l = constValue(inner.left);
      const r = constValue(inner.right);
      if (l === NOT_CONST && isScalar(r)) [item, op, v] = [inner.left, inner.op, r];
      else if (r === NOT_CONST && isScalar(l)) [item, op, v] = [inner.right, FLIP[inner.op], l];
    } else if (inner.kind === "in") {
      const s = constValue(inner.set);
      if (constValue(inner.item) === NOT_CONST && Array.isArray(s)) [item, op, v, negated] = [inner.item, "in", s, negated !== inner.negated];
    }
    if (!item || !op || v === NOT_CONST || v === undefined) continue;
    const k = key(item);
    const f = get(k);
    // `not (x == v)` and `x != v` both exclude v; only a positive `==`/`in` requires a value.
    if ((op === "==" && !negated) || (op === "in" && !negated)) {
      const vals = op === "in" ? (v as Val[]) : [v];
      const kept = f.allowed ? f.allowed.vals.filter((x) => vals.some((y) => deepEqual(x, y))) : vals;
      const text = [...(f.allowed?.text ?? []), key(a)];
      if (kept.length === 0) return never(`\`${k}\` cannot match both \`${text[0]}\` and \`${text[text.length - 1]}\`; did you mean \`or\`?`);
      f.allowed = { vals: kept, text };
    } else if ((op === "!=" && !negated) || (op === "==" && negated) || (op === "in" && negated)) {
      f.excluded.push(...(op === "in" ? (v as Val[]) : [v]));
    } else if (!negated && typeof v === "number" && (op === "<" || op === "<=" || op === ">" || op === ">=")) {
      const bound = { v, incl: op.length === 2 };
      if (op[0] === ">") {
        if (!f.lo || v > f.lo.v || (v === f.lo.v && !bound.incl)) f.lo = bound;
      } else if (!f.hi || v < f.hi.v || (v === f.hi.v && !bound.incl)) f.hi = bound;
      if (f.lo && f.hi && (f.lo.v > f.hi.v || (f.lo.v === f.hi.v && !(f.lo.incl && f.hi.incl))))
        return never(`no value of \`${k}\` is both ${f.lo.incl ? ">=" : ">"} ${f.lo.v} and ${f.hi.incl ? "<=" : "<"} ${f.hi.v}`);
    }
    if (f.allowed) {
      const ok = f.allowed.vals.filter(
        (x) =>
          !f.excluded.some((y) => deepEqual(x, y)) &&
          (typeof x !== "number" || ((!f.lo || (f.lo.incl ? x >= f.lo.v : x > f.lo.v)) && (!f.hi || (f.hi.incl ? x <= f.hi.v : x < f.hi.v)))),
      );
      if (ok.length === 0) return never(`no value of \`${k}\` satisfies all of these comparisons`);
    }
  }
  return null;
}

const FLIP: Record<string, string> = { "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" };
