/**
 * Tokens of the condition language. One file per layer (see docs/style): the lexer and the
 * parser import these; nothing here knows about diagnostics.
 *
 * Some tokens exist only to give a better error: `&&`, `||`, `!` and a single `=` are lexed
 * and parsed like `and`, `or`, `not`, `==`, and the visitor then reports the spelling we want
 * (WP2007). Unterminated strings are a token too, so the lexer can name them (WP2002).
 */
import type { TokenType } from "chevrotain";
import { createToken, Lexer } from "./chevrotain.js";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n\u00a0]+/, group: Lexer.SKIPPED });

// A whole dotted path is one token, so `customer.region` has one span and keywords may appear
// after a dot (`order.in` is a field name, not `order` followed by `in`).
export const Identifier = createToken({
  name: "Identifier",
  pattern: /[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/,
});

const keyword = (name: string, word: string, categories?: TokenType[]): TokenType =>
  createToken({ name, pattern: word, longer_alt: Identifier, ...(categories ? { categories } : {}) });

// Categories: the grammar consumes these; the visitor looks at the concrete token type.
export const AndOp = createToken({ name: "AndOp", pattern: Lexer.NA });
export const OrOp = createToken({ name: "OrOp", pattern: Lexer.NA });
export const NotOp = createToken({ name: "NotOp", pattern: Lexer.NA });
export const CmpOp = createToken({ name: "CmpOp", pattern: Lexer.NA });
export const Literal = createToken({ name: "Literal", pattern: Lexer.NA });

export const And = keyword("And", "and", [AndOp]);
export const Or = keyword("Or", "or", [OrOp]);
export const Not = keyword("Not", "not", [NotOp]);
export const In = keyword("In", "in");
export const True = keyword("True", "true", [Literal]);
export const False = keyword("False", "false", [Literal]);
export const Null = keyword("Null", "null", [Literal]);
export const Now = keyword("Now", "now", [Literal]);
export const List = keyword("List", "list");

export const AmpAmp = createToken({ name: "AmpAmp", pattern: "&&", categories: [AndOp] });
export const PipePipe = createToken({ name: "PipePipe", pattern: "||", categories: [OrOp] });

export const Eq = createToken({ name: "Eq", pattern: "==", categories: [CmpOp] });
export const NotEq = createToken({ name: "NotEq", pattern: "!=", categories: [CmpOp] });
export const Lte = createToken({ name: "Lte", pattern: "<=", categories: [CmpOp] });
export const Gte = createToken({ name: "Gte", pattern: ">=", categories: [CmpOp] });
export const Lt = createToken({ name: "Lt", pattern: "<", categories: [CmpOp] });
export const Gt = createToken({ name: "Gt", pattern: ">", categories: [CmpOp] });
export const SingleEq = createToken({ name: "SingleEq", pattern: "=", categories: [CmpOp] });
export const Bang = createToken({ name: "Bang", pattern: "!", categories: [NotOp] });

export const LParen = createToken({ name: "LParen", pattern: "(" });
export const RParen = createToken({ name: "RParen", pattern: ")" });
export const LBracket = createToken({ name: "LBracket", pattern: "[" });
export const RBracket = createToken({ name: "RBracket", pattern: "]" });
export const Comma = createToken({ name: "Comma", pattern: "," });
export const Minus = createToken({ name: "Minus", pattern: "-" });

// Dates and times are lexed leniently (`2026-1-5`) so the visitor can say exactly what is wrong
// with them (WP2005) instead of a confusing "unexpected `-`".
export const Timestamp = createToken({
  name: "Timestamp",
  pattern: /\d{1,4}-\d{1,2}-\d{1,2}[Tt]\d{1,2}:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{1,2}(?::?\d{2})?)?/,
  categories: [Literal],
});
export const DateLit = createToken({ name: "DateLit", pattern: /\d{1,4}-\d{1,2}-\d{1,2}/, categories: [Literal] });
// Any number glued to letters is a duration (`7d`, also `7days`, `1.5h`): the visitor checks the
// unit, so `7days` gets "write `7d`" rather than a syntax error. Reached only via longer_alt.
export const Duration = createToken({ name: "Duration", pattern: /\d+(?:\.\d+)?[A-Za-z_][A-Za-z0-9_]*/, categories: [Literal] });
export const NumberLit = createToken({
  name: "NumberLit",
  pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/,
  longer_alt: Duration,
  categories: [Literal],
});
export const StringLit = createToken({ name: "StringLit", pattern: /"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*'/, categories: [Literal] });
// Matched only when StringLit fails: a quote with no closing quote on the same line.
export const UnterminatedString = createToken({ name: "UnterminatedString", pattern: /"(?:[^"\\\n\r]|\\.)*\\?|'(?:[^'\\\n\r]|\\.)*\\?/ });

/** Order matters: the first pattern that matches wins (longer_alt aside). */
export const allTokens: TokenType[] = [
  WhiteSpace,
  Timestamp,
  DateLit,
  NumberLit,
  Duration,
  StringLit,
  UnterminatedString,
  AndOp,
  OrOp,
  NotOp,
  CmpOp,
  Literal,
  And,
  Or,
  Not,
  In,
  True,
  False,
  Null,
  Now,
  List,
  Identifier,
  AmpAmp,
  PipePipe,
  Eq,
  NotEq,
  Lte,
  Gte,
  Lt,
  Gt,
  SingleEq,
  Bang,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Minus,
];

/** Words the language reserves; a field or function cannot be called exactly this. */
export const KEYWORDS: readonly string[] = ["and", "or", "not", "in", "true", "false", "null", "now", "list"];

export { EOF as EOF_TYPE } from "./chevrotain.js";
