/**
 * Lowers condition expressions (docs/ir.md "Expressions") to WAT functions. Each function
 * returns a value address, 0 standing for undefined. Literals live in the constant data
 * segment; context keys and list ids are passed to the library as (ptr, len) of their bytes.
 */
import type { Expr, JsonValue } from "../ir/ir.js";
import type { ConstData } from "./layout.js";
import { BUILTINS, CMP_OPS, LIB, condFuncName } from "./names.js";
import { helper, type Template } from "./template.js";
import { w, type Func, type Node } from "./wat.js";

export class CondLowering {
  private readonly trueV: number;
  private readonly falseV: number;

  constructor(
    private readonly t: Template,
    private readonly data: ConstData,
  ) {
    this.trueV = data.value(true);
    this.falseV = data.value(false);
  }

  private lib(name: string, ...args: Node[]): Node {
    return w.call(helper(this.t, name), ...args);
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

  /** `and`/`or` as nested ifs: short-circuit, and the result is always a boolean. */
  private junction(args: readonly Expr[], isAnd: boolean): Node {
    const [first, ...rest] = args;
    if (first === undefined) return w.i32(isAnd ? this.trueV : this.falseV);
    if (rest.length === 0) return this.lib(LIB.bool, this.truthy(first));
    const short = w.i32(isAnd ? this.falseV : this.trueV);
    const more = this.junction(rest, isAnd);
    return isAnd ? w.ifI32(this.truthy(first), more, short) : w.ifI32(this.truthy(first), short, more);
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

  /** eval_cond(i): a br_table over the condition functions; out of range → undefined. */
  dispatcher(name: string, count: number): Func {
    const labels = Array.from({ length: count }, (_, i) => `$c${i}`);
    // Innermost block is case 0: `br_table` jumps to the end of block $ci, right before the
    // call of condition i.
    let inner: Node = w.brTable([...labels, "$default"], w.localGet("$i"));
    for (let i = 0; i < count; i++) {
      inner = w.block(labels[i]!, i === 0 ? [inner] : [inner, w.ret(w.call(condFuncName(i - 1)))]);
    }
    const body: Node[] =
      count === 0
        ? [w.i32(0)]
        : [w.block("$default", [inner, w.ret(w.call(condFuncName(count - 1)))]), w.i32(0)];
    return { name, params: [["$i", "i32"]], body };
  }
}
