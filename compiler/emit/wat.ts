/**
 * The one code builder for generated WAT: S-expression nodes, rendered in folded form.
 * Generated code never concatenates WAT text by hand; every instruction goes through here.
 */

export interface Node {
  readonly op: string;
  readonly imm: readonly string[]; // immediates and annotations printed after the op
  readonly args: readonly Node[];
}

function node(op: string, imm: readonly string[], args: readonly Node[]): Node {
  return { op, imm, args };
}

/** f64 literal: JS's shortest round-trip text, which wabt parses exactly. */
function f64Text(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  return Object.is(x, -0) ? "-0" : String(x);
}

export const w = {
  i32: (n: number): Node => node("i32.const", [String(n | 0)], []),
  f64: (x: number): Node => node("f64.const", [f64Text(x)], []),
  call: (fn: string, ...args: Node[]): Node => node("call", [fn], args),
  eqz: (a: Node): Node => node("i32.eqz", [], [a]),
  localGet: (name: string): Node => node("local.get", [name], []),
  ret: (a: Node): Node => node("return", [], [a]),
  /** `if` producing an i32. */
  ifI32: (cond: Node, then: Node, els: Node): Node =>
    node("if", ["(result i32)"], [cond, node("then", [], [then]), node("else", [], [els])]),
  block: (label: string, body: Node[]): Node => node("block", [label], body),
  blockI32: (label: string, body: Node[]): Node => node("block", [label, "(result i32)"], body),
  /** `br_if` carrying an i32 value; the value stays on the stack when not taken (drop it). */
  brIfValue: (label: string, value: Node, cond: Node): Node => node("br_if", [label], [value, cond]),
  drop: (a: Node): Node => node("drop", [], [a]),
  sub: (a: Node, b: Node): Node => node("i32.sub", [], [a, b]),
  divU: (a: Node, b: Node): Node => node("i32.div_u", [], [a, b]),
  /** Any other instruction, folded: `(op imm... args...)`. */
  instr: (op: string, imm: string[], ...args: Node[]): Node => node(op, imm, args),
  brTable: (labels: string[], index: Node): Node => node("br_table", labels, [index]),
};

/** A function `(func name (param ...) (result i32) body...)`. */
export interface Func {
  name: string;
  params: readonly [string, "i32" | "f64"][];
  body: readonly Node[];
}

export function renderNode(n: Node, indent: string, out: string[]): void {
  const head = [n.op, ...n.imm].join(" ");
  if (n.args.length === 0) {
    out.push(`${indent}(${head})`);
    return;
  }
  out.push(`${indent}(${head}`);
  for (const a of n.args) renderNode(a, indent + "  ", out);
  out.push(`${indent})`);
}

export function renderFunc(f: Func): string {
  const params = f.params.map(([name, t]) => `(param ${name} ${t})`).join(" ");
  const out: string[] = [` (func ${f.name}${params ? " " + params : ""} (result i32)`];
  for (const n of f.body) renderNode(n, "  ", out);
  out.push(" )");
  return out.join("\n");
}

/** WAT string literal for raw bytes (data segments). */
export function bytesLiteral(bytes: Uint8Array): string {
  let s = '"';
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c) s += String.fromCharCode(b);
    else s += "\\" + b.toString(16).padStart(2, "0");
  }
  return s + '"';
}
