/**
 * printCondition: the canonical text of an AST, with the fewest parentheses that keep its
 * structure (parse(print(a)) equals a, spans aside). Canonical choices: double quotes,
 * single spaces around operators, `, ` in lists and calls, numbers as JavaScript prints them.
 */
import type { Expr } from "./ast.js";

// Binding strength: higher binds tighter. Operands of a comparison must be atoms.
const PREC: Record<Expr["kind"], number> = {
  or: 1,
  and: 2,
  not: 3,
  cmp: 4,
  in: 4,
  string: 5, number: 5, boolean: 5, null: 5, duration: 5, date: 5, timestamp: 5, now: 5,
  field: 5, list: 5, named_list: 5, call: 5,
};

export function printCondition(ast: Expr): string {
  return print(ast);
}

/** Print `e` where the context needs at least binding strength `min`. */
function at(e: Expr, min: number): string {
  const s = print(e);
  return PREC[e.kind] >= min ? s : `(${s})`;
}

function print(e: Expr): string {
  switch (e.kind) {
    case "string":
      return quote(e.value);
    case "number":
      return e.value < 0 ? `-${String(-e.value)}` : String(e.value === 0 ? 0 : e.value);
    case "boolean":
      return e.value ? "true" : "false";
    case "null":
      return "null";
    case "duration":
      return `${e.amount}${e.unit}`;
    case "date":
    case "timestamp":
      return e.text;
    case "now":
      return "now";
    case "field":
      return e.name;
    case "list":
      return `[${e.items.map(print).join(", ")}]`;
    case "named_list":
      return `list(${quote(e.name)})`;
    case "call":
      return `${e.name}(${e.args.map(print).join(", ")})`;
    // Nested same-operator groups keep their parentheses: `a and (b and c)` stays as written.
    case "or":
      return e.args.map((a) => at(a, 2)).join(" or ");
    case "and":
      return e.args.map((a) => at(a, 3)).join(" and ");
    case "not":
      return `not ${at(e.arg, 3)}`;
    case "cmp":
      return `${at(e.left, 5)} ${e.op} ${at(e.right, 5)}`;
    case "in":
      return `${at(e.item, 5)} ${e.negated ? "not in" : "in"} ${at(e.set, 5)}`;
  }
}

const ESC: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

export function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ESC[ch] !== undefined) out += ESC[ch];
    else if (c < 0x20 || c === 0x7f || (ch.length === 1 && c >= 0xd800 && c <= 0xdfff)) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += ch;
  }
  return out + '"';
}
