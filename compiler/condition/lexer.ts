/**
 * The lexer: text → tokens, with lexical problems turned into diagnostics (WP2001/2002).
 */
import type { IToken } from "chevrotain";
import { Lexer } from "./chevrotain.js";
import { allTokens, UnterminatedString } from "./tokens.js";
import { code, ldiag, type LocalDiagnostic } from "./codes.js";

// One lexer instance, built once: building it validates the token set, which is not free.
const lexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });

export interface LexResult {
  tokens: IToken[];
  diagnostics: LocalDiagnostic[];
}

const CHAR_HELP: Record<string, string> = {
  "&": "write `and` to require both conditions",
  "|": "write `or` to accept either condition",
  ".": "field names are written like `customer.region`, with no spaces around the dot",
  "\u201c": "use straight double quotes `\"` around text, not curly quotes",
  "\u201d": "use straight double quotes `\"` around text, not curly quotes",
  "\u2018": "use straight quotes `'` or `\"` around text, not curly quotes",
  "\u2019": "use straight quotes `'` or `\"` around text, not curly quotes",
  "+": "conditions do not do arithmetic; to compare times use `since(...)`, `until(...)` or `days_since(...)`",
  "*": "conditions do not do arithmetic",
  "/": "conditions do not do arithmetic",
  "$": "field names are written without `$`, such as `customer.region`",
  "{": "lists are written with square brackets, such as `[\"EU\", \"UK\"]`",
  "}": "lists are written with square brackets, such as `[\"EU\", \"UK\"]`",
};

export function lex(text: string): LexResult {
  const res = lexer.tokenize(text);
  const diagnostics: LocalDiagnostic[] = [];
  for (const e of res.errors) {
    const bad = text.slice(e.offset, e.offset + e.length);
    const first = String.fromCodePoint(bad.codePointAt(0) ?? 0xfffd);
    const what = bad.length === first.length ? `unexpected character ${code(bad)}` : `unexpected characters ${code(bad)}`;
    diagnostics.push(ldiag("WP2001", what, e.offset, e.offset + e.length, CHAR_HELP[first]));
  }
  const tokens: IToken[] = [];
  for (const t of res.tokens) {
    if (t.tokenType === UnterminatedString) {
      diagnostics.push(
        ldiag("WP2002", `unterminated string ${code(t.image)}`, t.startOffset, t.startOffset + t.image.length,
          `close the text with a matching ${t.image[0] === "'" ? "`'`" : "`\"`"} on the same line`),
      );
    } else tokens.push(t);
  }
  diagnostics.sort((a, b) => a.start - b.start);
  return { tokens, diagnostics };
}
