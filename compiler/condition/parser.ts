/**
 * The grammar (CstParser, no embedded actions; meaning lives in cst-to-ast.ts).
 *
 *   condition  := orExpr
 *   orExpr     := andExpr (OrOp andExpr)*            OrOp  = `or` | `||`
 *   andExpr    := notExpr (AndOp notExpr)*           AndOp = `and` | `&&`
 *   notExpr    := NotOp notExpr | comparison         NotOp = `not` | `!`
 *   comparison := operand ( CmpOp operand | `in` operand | `not` `in` operand )?
 *   operand    := `(` orExpr `)` | listLit | namedList | call | Identifier | `-` (Number|Duration) | Literal
 *   listLit    := `[` (orExpr (`,` orExpr)* `,`?)? `]`
 *   namedList  := `list` `(` String `)`
 *   call       := Identifier `(` (orExpr (`,` orExpr)*)? `)`
 *
 * Comparisons do not chain (`a == b == c` is an error), which keeps conditions readable.
 * The parser's error messages are JSON (see `errorMessageProvider`): parse.ts turns them into
 * plain-words diagnostics, which needs the structured facts chevrotain only hands to the provider.
 */
import type { IParserErrorMessageProvider, IToken, TokenType } from "chevrotain";
import { CstParser } from "./chevrotain.js";
import * as T from "./tokens.js";

/** What the provider records about a syntax error, for parse.ts to phrase. */
export interface SyntaxErrorFacts {
  kind: "mismatch" | "noViableAlt" | "earlyExit" | "notAllInput";
  rule: string;
  expected: string[]; // token type names
}

const firstTokens = (paths: TokenType[][][] | TokenType[][]): string[] => {
  const out = new Set<string>();
  const visit = (p: unknown): void => {
    if (Array.isArray(p)) {
      if (p.length > 0 && !Array.isArray(p[0])) {
        const t = p[0] as TokenType;
        out.add(t.name);
      } else p.forEach(visit);
    }
  };
  visit(paths);
  return [...out];
};

const errorMessageProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage: ({ expected, ruleName }) =>
    JSON.stringify({ kind: "mismatch", rule: ruleName, expected: [expected.name] } satisfies SyntaxErrorFacts),
  buildNotAllInputParsedMessage: ({ ruleName }) =>
    JSON.stringify({ kind: "notAllInput", rule: ruleName, expected: [] } satisfies SyntaxErrorFacts),
  buildNoViableAltMessage: ({ expectedPathsPerAlt, ruleName }) =>
    JSON.stringify({ kind: "noViableAlt", rule: ruleName, expected: firstTokens(expectedPathsPerAlt) } satisfies SyntaxErrorFacts),
  buildEarlyExitMessage: ({ expectedIterationPaths, ruleName }) =>
    JSON.stringify({ kind: "earlyExit", rule: ruleName, expected: firstTokens(expectedIterationPaths) } satisfies SyntaxErrorFacts),
};

export class ConditionParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, nodeLocationTracking: "full", errorMessageProvider, maxLookahead: 3 });
    this.performSelfAnalysis();
  }

  public condition = this.RULE("condition", () => {
    this.SUBRULE(this.orExpr);
  });

  public orExpr = this.RULE("orExpr", () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.OrOp);
      this.SUBRULE2(this.andExpr);
    });
  });

  public andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.AndOp);
      this.SUBRULE2(this.notExpr);
    });
  });

  public notExpr = this.RULE("notExpr", () => {
    this.OR([
      {
        // `not x in L` is `not (x in L)`; `x not in L` is handled in comparison.
        ALT: () => {
          this.CONSUME(T.NotOp);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  public comparison = this.RULE("comparison", () => {
    this.SUBRULE(this.operand);
    this.OPTION(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(T.CmpOp);
            this.SUBRULE2(this.operand);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.In);
            this.SUBRULE3(this.operand);
          },
        },
        {
          ALT: () => {
            this.CONSUME(T.Not);
            this.CONSUME2(T.In);
            this.SUBRULE4(this.operand);
          },
        },
      ]);
    });
  });

  public operand = this.RULE("operand", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.orExpr);
          this.CONSUME(T.RParen);
        },
      },
      { ALT: () => this.SUBRULE(this.listLit) },
      { ALT: () => this.SUBRULE(this.namedList) },
      { ALT: () => this.SUBRULE(this.call) },
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.OR2([{ ALT: () => this.CONSUME(T.NumberLit) }, { ALT: () => this.CONSUME(T.Duration) }]);
        },
      },
      { ALT: () => this.CONSUME(T.Literal) },
    ]);
  });

  public listLit = this.RULE("listLit", () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.orExpr);
      this.MANY({
        GATE: () => this.LA(2).tokenType !== T.RBracket,
        DEF: () => {
          this.CONSUME(T.Comma);
          this.SUBRULE2(this.orExpr);
        },
      });
      this.OPTION2(() => this.CONSUME2(T.Comma)); // a trailing comma is harmless
    });
    this.CONSUME(T.RBracket);
  });

  public namedList = this.RULE("namedList", () => {
    this.CONSUME(T.List);
    this.CONSUME(T.LParen);
    this.CONSUME(T.StringLit);
    this.CONSUME(T.RParen);
  });

  public call = this.RULE("call", () => {
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.OPTION(() => {
      this.SUBRULE(this.orExpr);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.SUBRULE2(this.orExpr);
      });
    });
    this.CONSUME(T.RParen);
  });
}

/** The one parser instance (chevrotain parsers are built once and reused via `input`). */
export const parser = new ConditionParser();



export function runParser(tokens: IToken[]) {
  parser.input = tokens;
  const cst = parser.condition();
  return { cst, errors: parser.errors };
}
