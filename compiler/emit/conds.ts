/**
 * Lowers condition expressions (docs/ir.md "Expressions") to Wasm functions. Each function
 * returns a value address, 0 standing for undefined. Literals live in the constant data
 * segment; context keys and list ids are passed to the library as (ptr, len) of their bytes.
 */
import type { Expr, JsonValue } from "../ir/ir.js";
import type { ConstData } from "./layout.js";
import { BUILTINS, CMP_OPS, LIB, condFuncName } from "./names.js";
import { w, type Func, type Node } from "./code.js";

export class CondLowering {
  private readonly trueV: number;
  private readonly falseV: number;

  constructor(private readonly data: ConstData) {
    this.trueV = data.value(true);
    this.falseV = data.value(false);
  }

  private lib(name: string, ...args: Node[]): Node {
    // Helpers are called by their export name; the splice resolves it (compiler/emit/template.ts).
    return w.call(name, ...args);
  }

  private constant(v: JsonValue): Node {
    return w.i32(this.data.value(v));
  }

  private bytes(s: string): [Node, Node] {
    const { ptr, len } = this.data.utf8(s);
    return [w.i32(ptr), w.i32(len)];
  }

  /** Optional string filter: (ptr, len), ptr 0 meaning "no filter". */
  private filter(s: string | undefined): [Node, Node] {
    return s === undefined ? [w.i32(0), w.i32(0)] : this.bytes(s);
  }

  private truthy(e: Expr): Node {
    return this.lib(LIB.truthy, this.expr(e));
  }

  private labels = 0;

  /**
   * `and`/`or`: short-circuit with a flat sequence of `br_if`s out of one block (not nested
   * ifs: every nesting level is a level of recursion for the encoder and for Wasm validators).
   * The result is always a boolean.
   */
  private junction(args: readonly Expr[], isAnd: boolean): Node {
    if (args.length === 0) return w.i32(isAnd ? this.trueV : this.falseV);
    const label = `$j${this.labels++}`;
    const short = isAnd ? this.falseV : this.trueV;
    const body: Node[] = args.slice(0, -1).map((a) => {
      const t = this.truthy(a);
      return w.drop(w.brIfValue(label, w.i32(short), isAnd ? w.eqz(t) : t));
    });
    body.push(this.lib(LIB.bool, this.truthy(args[args.length - 1]!)));
    return w.blockI32(label, body);
  }

  expr(e: Expr): Node {
    const undef = w.i32(0);
    switch (e.op) {
      case "const":
        return e.value === undefined ? undef : this.constant(e.value);
      case "field":
        return this.lib(LIB.field, ...this.bytes(e.name));
      case "now":
        return this.lib(LIB.now);
      case "not":
        return this.lib(LIB.bool, w.eqz(this.truthy(e.arg)));
      case "and":
        return this.junction(Array.isArray(e.args) ? e.args : [], true);
      case "or":
        return Array.isArray(e.args) ? this.junction(e.args, false) : w.i32(this.falseV);
      case "cmp": {
        const op = CMP_OPS.indexOf(e.cmp);
        if (op < 0) return undef;
        return this.lib(LIB.cmp, w.i32(op), this.expr(e.left), this.expr(e.right));
      }
      case "in":
        return this.lib(LIB.in, this.expr(e.item), this.expr(e.set));
      case "in_list":
        return this.lib(LIB.inList, ...this.bytes(e.list), this.expr(e.item));
      case "call": {
        const b = Object.prototype.hasOwnProperty.call(BUILTINS, e.fn) ? BUILTINS[e.fn] : undefined;
        // Wrong arity or unknown builtin: undefined, as in the interpreter (no side effects lost).
        if (b === undefined || !Array.isArray(e.args) || e.args.length !== b.arity) return undef;
        return this.lib(b.fn, ...e.args.map((a) => this.expr(a)));
      }
      case "history_count":
        if (typeof e.window_ms !== "number") return this.constant(0);
        return this.lib(
          LIB.historyCount,
          w.f64(e.window_ms),
          ...this.filter(e.channel),
          ...this.filter(e.purpose),
          ...this.filter(e.node),
        );
      case "add_ms":
        if (typeof e.ms !== "number") return undef;
        return this.lib(LIB.addMs, this.expr(e.time), w.f64(e.ms));
      default:
        return undef;
    }
  }

  condFunc(i: number, e: Expr): Func {
    return { name: condFuncName(i), params: [], body: [this.expr(e)] };
  }

  /**
   * eval_cond(i) as a tree of `br_table` dispatchers with at most FANOUT cases each (a single
   * br_table needs one nested block per case, and deep nesting is deep recursion everywhere).
   * Returns the functions, the root named `root`; out-of-range indexes give undefined (0).
   */
  dispatchers(root: string, count: number): Func[] {
    const out: Func[] = [];
    const build = (name: string, lo: number, hi: number): void => {
      const span = hi - lo;
      // Children: single conditions when they fit, else ranges of equal size.
      let size = 1;
      while (Math.ceil(span / size) > FANOUT) size *= FANOUT;
      const targets: Node[] = [];
      for (let start = lo; start < hi; start += size) {
        const end = Math.min(hi, start + size);
        if (end - start === 1) targets.push(w.call(condFuncName(start)));
        else {
          const child = `${root}/${start}-${end}`;
          build(child, start, end);
          targets.push(w.call(child, w.localGet(0)));
        }
      }
      out.push(this.switchFunc(name, lo, size, targets));
    };
    if (count === 0) return [{ name: root, params: ["i32"], body: [w.i32(0)] }];
    build(root, 0, count);
    return out;
  }

  /** Case k = (i - lo) / size evaluates calls[k]; any other index returns 0 (undefined). */
  private switchFunc(name: string, lo: number, size: number, calls: Node[]): Func {
    const labels = calls.map((_, k) => `$c${k}`);
    let index = lo === 0 ? w.localGet(0) : w.sub(w.localGet(0), w.i32(lo));
    if (size > 1) index = w.divU(index, w.i32(size));
    // Innermost block is case 0: br_table jumps to the end of block $ck, right before the
    // return of calls[k].
    let inner: Node = w.brTable([...labels, "$default"], index);
    for (let k = 0; k < calls.length; k++) {
      inner = w.block(labels[k]!, k === 0 ? [inner] : [inner, w.ret(calls[k - 1]!)]);
    }
    const body = [w.block("$default", [inner, w.ret(calls[calls.length - 1]!)]), w.i32(0)];
    return { name, params: ["i32"], body };
  }
}

/** Cases per br_table dispatcher (bounds the block nesting depth). */
const FANOUT = 64;
