/**
 * parseCondition: text → AST + diagnostics. Never throws. Stages: limits → lex → parse → AST;
 * each stage stops the run when it reports errors, so a user sees the first real problem
 * rather than its echoes.
 */
import type { IRecognitionException, IToken, TokenType } from "chevrotain";
import type { Cond } from "./ast.js";
import { code, ldiag, type LocalDiagnostic } from "./codes.js";
import { cstToAst } from "./cst-to-ast.js";
import { lex } from "./lexer.js";
import { runParser, type SyntaxErrorFacts } from "./parser.js";
import * as T from "./tokens.js";

/** Longest condition we read (characters). Real conditions are a line or two. */
export const MAX_CONDITION_LENGTH = 10_000;
/** Deepest nesting of `(`, `[`, calls and `not`s; bounds the parser's recursion. */
export const MAX_CONDITION_DEPTH = 40;
/** Syntax errors reported per condition: recovery finds more, but later ones are often echoes. */
const MAX_SYNTAX_ERRORS = 3;

export interface ParseResult {
  ast: Cond | null;
  diagnostics: LocalDiagnostic[];
}

/**
 * Parses of recent condition texts. Repositories repeat conditions (10,000 generated journey
 * nodes have about 100 distinct ones), and parsing is a pure function of the text; results are
 * frozen, so sharing one between sites cannot leak a change from one into another.
 */
const recent = new Map<string, ParseResult>();
const RECENT_MAX = 10_000;

export function parseCondition(text: string): ParseResult {
  const key = String(text);
  const hit = recent.get(key);
  if (hit !== undefined) return hit;
  const r = deepFreeze(parseUncached(key));
  if (recent.size >= RECENT_MAX) recent.clear();
  recent.set(key, r);
  return r;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function parseUncached(text: string): ParseResult {
  try {
    return parseUnsafe(text);
  } catch (e) {
    // Only an internal bug gets here; report it as a value rather than crash the compiler.
    const msg = e instanceof Error ? e.message : String(e);
    return { ast: null, diagnostics: [ldiag("WP2003", `could not read this condition (internal error: ${msg})`, 0, 0, "please report this as a Waypost bug")] };
  }
}

const hasError = (ds: LocalDiagnostic[]): boolean => ds.some((d) => d.severity === "error");

function parseUnsafe(text: string): ParseResult {
  if (text.length > MAX_CONDITION_LENGTH)
    return fail([ldiag("WP2004", `condition is too long (${text.length} characters, the limit is ${MAX_CONDITION_LENGTH})`, 0, text.length,
      "split it into several conditions, or use a named list for long lists of values")]);
  if (text.trim() === "")
    return fail([ldiag("WP2008", "the condition is empty", 0, text.length, 'write a condition such as `customer.region == "EU"`, or remove the key')]);

  const lexed = lex(text);
  if (hasError(lexed.diagnostics)) return fail(lexed.diagnostics);

  const deep = tooDeep(lexed.tokens);
  if (deep) return fail([ldiag("WP2004", `condition is nested too deeply (more than ${MAX_CONDITION_DEPTH} levels)`, deep.startOffset, deep.startOffset + deep.image.length,
    "split it into simpler conditions joined with `and` or `or`")]);

  const { cst, errors } = runParser(lexed.tokens);
  if (errors.length > 0) {
    const ds: LocalDiagnostic[] = [];
    for (const e of errors) {
      const d = syntaxDiagnostic(e, lexed.tokens, text);
      if (!ds.some((x) => x.start === d.start)) ds.push(d);
      if (ds.length >= MAX_SYNTAX_ERRORS) break;
    }
    return fail(ds);
  }
  const built = cstToAst(cst);
  const diagnostics = built.diagnostics.sort((a, b) => a.start - b.start);
  return { ast: hasError(diagnostics) ? null : built.ast, diagnostics };
}

const fail = (diagnostics: LocalDiagnostic[]): ParseResult => ({ ast: null, diagnostics });

/** The token where nesting first exceeds the limit, if it does. */
function tooDeep(tokens: IToken[]): IToken | undefined {
  // Each open bracket remembers the run of `not`s before it; `not not x` nests like brackets.
  const stack: number[] = [];
  let nots = 0;
  let depth = 0;
  for (const t of tokens) {
    const tt = t.tokenType;
    if (tt === T.Not || tt === T.Bang) {
      nots++;
    } else if (tt === T.LParen || tt === T.LBracket) {
      stack.push(nots + 1);
      depth += nots + 1;
      nots = 0;
    } else if (tt === T.RParen || tt === T.RBracket) {
      depth -= stack.pop() ?? 0;
      nots = 0;
    } else {
      nots = 0;
    }
    if (depth + nots > MAX_CONDITION_DEPTH) return t;
  }
  return undefined;
}

// ---- syntax errors in plain words ----

const WORDS: Record<string, string> = {
  RParen: "`)`",
  RBracket: "`]`",
  LParen: "`(`",
  LBracket: "`[`",
  Comma: "`,`",
  In: "`in`",
  StringLit: "text in quotes",
  Identifier: "a field name",
  NumberLit: "a number",
  Duration: "a duration",
};

const LIST_HELP = 'write a list such as `["EU", "UK"]`, or a named list such as `list("do-not-contact")`';
const VALUE_HELP = 'add a value such as `"EU"`, `90`, `true`, `7d` or a field name such as `customer.region`';

function isA(t: IToken | undefined, ...types: TokenType[]): boolean {
  if (!t) return false;
  return types.some((ty) => t.tokenType === ty || (t.tokenType.CATEGORIES ?? []).includes(ty));
}

function syntaxDiagnostic(e: IRecognitionException, tokens: IToken[], text: string): LocalDiagnostic {
  let facts: SyntaxErrorFacts;
  try {
    facts = JSON.parse(e.message) as SyntaxErrorFacts;
  } catch {
    facts = { kind: "noViableAlt", rule: "", expected: [] };
  }
  const tok = e.token;
  const atEnd = tok.tokenType === T.EOF_TYPE || Number.isNaN(tok.startOffset);
  const prev = atEnd ? tokens[tokens.length - 1] : [...tokens].reverse().find((t) => t.startOffset < tok.startOffset);
  const found = atEnd ? "" : `, found ${code(tok.image)}`;
  const span = atEnd ? (prev ? { start: prev.startOffset, end: prev.startOffset + prev.image.length } : { start: text.length, end: text.length })
    : { start: tok.startOffset, end: tok.startOffset + tok.image.length };
  const d = (message: string, help?: string): LocalDiagnostic => ldiag("WP2003", message, span.start, span.end, help);
  const endsHere = atEnd ? "the condition ends here; " : "";

  if (facts.kind === "notAllInput") {
    if (isA(tok, T.CmpOp, T.In)) return d(`unexpected ${code(tok.image)} after a complete comparison`, "compare two values at a time and join comparisons with `and`, such as `a < b and b < c`");
    if (isA(tok, T.RParen)) return d("unmatched `)`", "remove it, or add the `(` it closes");
    if (isA(tok, T.RBracket)) return d("unmatched `]`", "remove it, or add the `[` it closes");
    if (isA(tok, T.LParen) && isA(prev, T.Now)) return d("`now` is written without `()`", "write `now`, such as `now > policy.start_date`");
    return d(`expected \`and\`, \`or\` or the end of the condition${found}`, wordHelp(tok) ?? "join two conditions with `and` or `or`");
  }

  if (facts.kind === "mismatch") {
    const exp = facts.expected[0] ?? "";
    if (facts.rule === "listLit" && (exp === "RBracket" || exp === "Comma")) return d(`expected \`,\` or \`]\` in the list${found}`, `${endsHere}separate list items with commas and close the list with \`]\``);
    if (facts.rule === "call" && exp === "RParen") return d(`expected \`,\` or \`)\` after an argument${found}`, `${endsHere}separate arguments with commas and close the call with \`)\``);
    if (facts.rule === "namedList" && exp === "StringLit") return d(`expected the list name in quotes after \`list(\`${found}`, 'write it like `list("fraud-suspected")`');
    if (facts.rule === "namedList") return d(`expected ${WORDS[exp] ?? exp} in \`list(...)\`${found}`, 'write it like `list("fraud-suspected")`');
    if (exp === "RParen") return d(`expected \`)\` to close \`(\`${found}`, atEnd ? "the condition ends here; add the missing `)`" : wordHelp(tok) ?? "every `(` needs a matching `)`");
    return d(`expected ${WORDS[exp] ?? exp}${found}`);
  }

  // noViableAlt / earlyExit: a value or condition was expected.
  const bad = wordHelp(tok);
  if (prev === undefined) return d(`expected a condition${found}`, bad ?? 'start with a value or a field, such as `customer.region == "EU"`');
  const after = code(prev.image);
  if (isA(prev, T.CmpOp)) return d(`expected a value after ${after}${found}`, bad ?? `${endsHere}${VALUE_HELP}`);
  if (isA(prev, T.In)) return d(`expected a list after ${after}${found}`, bad ?? `${endsHere}${LIST_HELP}`);
  if (isA(prev, T.AndOp, T.OrOp, T.NotOp)) return d(`expected a condition after ${after}${found}`, bad ?? `${endsHere}add a condition such as \`customer.age >= 18\`, or remove ${after}`);
  if (isA(prev, T.Minus)) return d(`expected a number or duration after \`-\`${found}`, "write a negative number such as `-5` or a duration such as `-2d`");
  if (isA(prev, T.LParen, T.LBracket, T.Comma)) return d(`expected a value after ${after}${found}`, bad ?? `${endsHere}${VALUE_HELP}`);
  return d(`unexpected ${atEnd ? "end of the condition" : code(tok.image)}`, bad);
}

/** Help for words non-programmers write for operators: `AND`, `is`, `equals`. */
function wordHelp(t: IToken): string | undefined {
  if (!isA(t, T.Identifier)) return undefined;
  const w = t.image.toLowerCase();
  if (T.KEYWORDS.includes(w)) return `write \`${w}\` in lower case`;
  if (w === "is" || w === "equals" || w === "eq") return "write `==` to compare two values";
  if (w === "isnt" || w === "ne") return "write `!=` to compare two values";
  return undefined;
}
