/**
 * lowerCondition: a checked AST → the IR `Expr` (compiler/ir/ir.ts, semantics in docs/ir.md).
 * Durations become milliseconds, date/timestamp literals epoch milliseconds. Time fields are
 * strings in the request, so where one is compared with a time it is wrapped in `time(...)`:
 * comparing the strings would order `...+02:00` wrongly and miss equal instants.
 * Call only on a condition `checkCondition` accepted without errors.
 */
import type { Expr as IrExpr, JsonValue } from "../ir/ir.js";
import { literalValue, type Cond, type Expr } from "./ast.js";
import type { ConditionEnv } from "./types.js";
import { BUILTINS } from "./types.js";

export function lowerCondition(ast: Cond, env: ConditionEnv): IrExpr {
  const isTimeField = (e: Expr): boolean => {
    if (e.kind !== "field") return false;
    const t = env.fields.get(e.name)?.type;
    return t === "timestamp" || t === "date";
  };
  const isTime = (e: Expr): boolean => e.kind === "date" || e.kind === "timestamp" || e.kind === "now" || isTimeField(e);
  /** Lower `e` as a time when it is a time field (used where the other side is a time). */
  const asTime = (e: Expr): IrExpr => (isTimeField(e) ? { op: "call", fn: "time", args: [lower(e)] } : lower(e));

  const constant = (e: Expr): JsonValue | undefined => literalValue(e);

  function lower(e: Expr): IrExpr {
    const k = constant(e);
    if (k !== undefined) return { op: "const", value: k };
    switch (e.kind) {
      case "now":
        return { op: "now" };
      case "field":
        return { op: "field", name: e.name };
      case "list": {
        const items = e.items.map(constant);
        if (items.some((x) => x === undefined)) throw new Error("internal: list with a non-constant item reached lowering");
        return { op: "const", value: items as JsonValue[] };
      }
      case "call":
        if (!(e.name in BUILTINS)) throw new Error(`internal: unknown function ${e.name} reached lowering`);
        // A date literal counted in days stays a date (its text): a calendar day is the same day
        // in every zone, while its epoch ms would be read as an instant in the customer's zone.
        if (e.name === "days_since" || e.name === "days_until") {
          return { op: "call", fn: e.name, args: e.args.map((a) => (a.kind === "date" ? { op: "const", value: a.text } : lower(a))) };
        }
        return { op: "call", fn: e.name as IrBuiltin, args: e.args.map(lower) };
      case "not":
        return { op: "not", arg: lower(e.arg) };
      case "and":
      case "or":
        return { op: e.kind, args: e.args.map(lower) };
      case "cmp": {
        const timed = isTime(e.left) || isTime(e.right);
        const side = timed ? asTime : lower;
        return { op: "cmp", cmp: e.op, left: side(e.left), right: side(e.right) };
      }
      case "in": {
        let inner: IrExpr;
        if (e.set.kind === "named_list") inner = { op: "in_list", list: e.set.name, item: lower(e.item) };
        else if (e.set.kind === "list") {
          const timed = isTime(e.item) || e.set.items.some(isTime);
          inner = { op: "in", item: timed ? asTime(e.item) : lower(e.item), set: lower(e.set) };
        } else inner = { op: "in", item: lower(e.item), set: lower(e.set) };
        return e.negated ? { op: "not", arg: inner } : inner;
      }
      case "named_list":
        throw new Error("internal: `list(...)` outside `in` reached lowering");
      default:
        throw new Error(`internal: cannot lower ${e.kind}`);
    }
  }
  return lower(ast);
}

type IrBuiltin = Extract<IrExpr, { op: "call" }>["fn"];
