/**
 * CST → AST: the meaning of the grammar. Reads literals (WP2005/WP2006) and reports operator
 * spellings we parse but do not accept (WP2007), so a user who types `&&` learns to write `and`
 * in one step instead of reading a syntax error.
 */
import type { CstElement, CstNode, IToken, TokenType } from "chevrotain";
import type { CmpOperator, Expr, LocalSpan } from "./ast.js";
import { code, ldiag, type LocalDiagnostic } from "./codes.js";
import { readDate, readDuration, readNumber, readString, readTimestamp } from "./literals.js";
import { parser } from "./parser.js";
import * as T from "./tokens.js";

type Ctx = Record<string, CstElement[] | undefined>;

const isToken = (e: CstElement): e is IToken => "image" in e;
const tokSpan = (t: IToken): LocalSpan => ({ start: t.startOffset, end: t.startOffset + t.image.length });
// Composite nodes take their extent from the CST, so `not (a)` spans through its `)`.
const cstSpan = (first: CstNode, last: CstNode): LocalSpan => ({
  start: first.location?.startOffset ?? 0,
  end: (last.location?.endOffset ?? -1) + 1,
});

function nodes(ctx: Ctx, key: string): CstNode[] {
  return (ctx[key] ?? []).filter((e): e is CstNode => !isToken(e));
}
function tokens(ctx: Ctx, key: string): IToken[] {
  return (ctx[key] ?? []).filter(isToken);
}

const WRONG_SPELLING = new Map<TokenType, [string, string]>([
  [T.AmpAmp, ["&&", "and"]],
  [T.PipePipe, ["||", "or"]],
  [T.Bang, ["!", "not"]],
]);

const CMP: Record<string, CmpOperator> = { Eq: "==", NotEq: "!=", Lt: "<", Lte: "<=", Gt: ">", Gte: ">=", SingleEq: "==" };

const BaseVisitor = parser.getBaseCstVisitorConstructor();

class AstBuilder extends BaseVisitor {
  diagnostics: LocalDiagnostic[] = [];

  constructor() {
    super();
    this.validateVisitor();
  }

  private spelling(t: IToken): void {
    const w = WRONG_SPELLING.get(t.tokenType);
    if (w) this.diagnostics.push(ldiag("WP2007", `write \`${w[1]}\` instead of \`${w[0]}\``, t.startOffset, t.startOffset + t.image.length, `conditions use the words \`and\`, \`or\` and \`not\``));
  }

  condition(ctx: Ctx): Expr {
    return this.visit(nodes(ctx, "orExpr")[0]!) as Expr;
  }

  orExpr(ctx: Ctx): Expr {
    return this.nary(ctx, "andExpr", "OrOp", "or");
  }

  andExpr(ctx: Ctx): Expr {
    return this.nary(ctx, "notExpr", "AndOp", "and");
  }

  private nary(ctx: Ctx, sub: string, opKey: string, kind: "and" | "or"): Expr {
    tokens(ctx, opKey).forEach((t) => this.spelling(t));
    const subs = nodes(ctx, sub);
    const args = subs.map((n) => this.visit(n) as Expr);
    if (args.length === 1) return args[0]!;
    return { kind, args, span: cstSpan(subs[0]!, subs[subs.length - 1]!) };
  }

  notExpr(ctx: Ctx): Expr {
    const op = tokens(ctx, "NotOp")[0];
    if (!op) return this.visit(nodes(ctx, "comparison")[0]!) as Expr;
    this.spelling(op);
    const argNode = nodes(ctx, "notExpr")[0]!;
    const arg = this.visit(argNode) as Expr;
    return { kind: "not", arg, span: { start: op.startOffset, end: cstSpan(argNode, argNode).end } };
  }

  comparison(ctx: Ctx): Expr {
    const ops = nodes(ctx, "operand");
    const [left, right] = ops.map((n) => this.visit(n) as Expr);
    if (!right) return left!;
    const span = cstSpan(ops[0]!, ops[1]!);
    const cmp = tokens(ctx, "CmpOp")[0];
    if (cmp) {
      if (cmp.tokenType === T.SingleEq)
        this.diagnostics.push(ldiag("WP2007", "write `==` to compare values, not `=`", cmp.startOffset, cmp.startOffset + 1, "a single `=` is not used in conditions"));
      return { kind: "cmp", op: CMP[cmp.tokenType.name]!, left: left!, right, span, opSpan: tokSpan(cmp) };
    }
    const ins = tokens(ctx, "In");
    const not = tokens(ctx, "Not")[0];
    const inTok = ins[0]!;
    const opSpan = { start: (not ?? inTok).startOffset, end: inTok.startOffset + 2 };
    return { kind: "in", negated: not !== undefined, item: left!, set: right, span, opSpan };
  }

  operand(ctx: Ctx): Expr {
    const paren = nodes(ctx, "orExpr")[0];
    if (paren) return this.visit(paren) as Expr;
    for (const k of ["listLit", "namedList", "call"]) {
      const n = nodes(ctx, k)[0];
      if (n) return this.visit(n) as Expr;
    }
    const id = tokens(ctx, "Identifier")[0];
    if (id) return { kind: "field", name: id.image, span: tokSpan(id) };
    const minus = tokens(ctx, "Minus")[0];
    if (minus) {
      const t = [...tokens(ctx, "NumberLit"), ...tokens(ctx, "Duration")][0]!;
      return this.literal(t, minus);
    }
    return this.literal(tokens(ctx, "Literal")[0]!);
  }

  private literal(t: IToken, minus?: IToken): Expr {
    const start = minus ? minus.startOffset : t.startOffset;
    const span = { start, end: t.startOffset + t.image.length };
    const tspan = tokSpan(t);
    const bad = (ds: LocalDiagnostic[]): Expr => {
      this.diagnostics.push(...ds);
      return { kind: "null", span }; // placeholder: the AST is dropped when there are errors
    };
    switch (t.tokenType) {
      case T.True:
      case T.False:
        return { kind: "boolean", value: t.tokenType === T.True, span };
      case T.Null:
        return { kind: "null", span };
      case T.Now:
        return { kind: "now", span };
      case T.StringLit: {
        const r = readString(t.image, t.startOffset);
        return r.ok ? { kind: "string", value: r.value, span } : bad(r.diagnostics);
      }
      case T.NumberLit: {
        const r = readNumber(t.image, tspan.start, tspan.end);
        if (!r.ok) return bad(r.diagnostics);
        return { kind: "number", value: minus && r.value !== 0 ? -r.value : r.value, span };
      }
      case T.Duration: {
        const r = readDuration(t.image, tspan.start, tspan.end, minus !== undefined);
        return r.ok ? { kind: "duration", amount: r.value.amount, unit: r.value.unit, span } : bad(r.diagnostics);
      }
      case T.DateLit: {
        const r = readDate(t.image, tspan.start, tspan.end);
        return r.ok ? { kind: "date", text: t.image, ms: r.value, span } : bad(r.diagnostics);
      }
      case T.Timestamp: {
        const r = readTimestamp(t.image, tspan.start, tspan.end);
        return r.ok ? { kind: "timestamp", text: t.image, ms: r.value, span } : bad(r.diagnostics);
      }
      default:
        return bad([ldiag("WP2003", `unexpected ${code(t.image)}`, tspan.start, tspan.end)]);
    }
  }

  listLit(ctx: Ctx): Expr {
    const open = tokens(ctx, "LBracket")[0]!;
    const close = tokens(ctx, "RBracket")[0]!;
    const items = nodes(ctx, "orExpr").map((n) => this.visit(n) as Expr);
    return { kind: "list", items, span: { start: open.startOffset, end: close.startOffset + 1 } };
  }

  namedList(ctx: Ctx): Expr {
    const kw = tokens(ctx, "List")[0]!;
    const str = tokens(ctx, "StringLit")[0]!;
    const close = tokens(ctx, "RParen")[0]!;
    const r = readString(str.image, str.startOffset);
    if (!r.ok) this.diagnostics.push(...r.diagnostics);
    return { kind: "named_list", name: r.ok ? r.value : "", span: { start: kw.startOffset, end: close.startOffset + 1 }, nameSpan: tokSpan(str) };
  }

  call(ctx: Ctx): Expr {
    const id = tokens(ctx, "Identifier")[0]!;
    const close = tokens(ctx, "RParen")[0]!;
    const args = nodes(ctx, "orExpr").map((n) => this.visit(n) as Expr);
    return { kind: "call", name: id.image, args, span: { start: id.startOffset, end: close.startOffset + 1 }, nameSpan: tokSpan(id) };
  }
}

// One visitor instance, like the parser; `diagnostics` is reset per run.
const builder = new AstBuilder();

export function cstToAst(cst: CstNode): { ast: Expr; diagnostics: LocalDiagnostic[] } {
  builder.diagnostics = [];
  const ast = builder.visit(cst) as Expr;
  return { ast, diagnostics: builder.diagnostics };
}

