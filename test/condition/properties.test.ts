import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { parseCondition, printCondition, stripSpans, MAX_CONDITION_DEPTH, MAX_CONDITION_LENGTH } from "../../compiler/condition/index.js";
import { anyAst, tokenSoup } from "./arbitraries.js";

/** Offsets of every diagnostic lie inside the text. */
function wellFormed(text: string): boolean {
  const r = parseCondition(text);
  for (const d of r.diagnostics) {
    if (!(0 <= d.start && d.start <= d.end && d.end <= text.length)) return false;
    if (!/^WP20\d\d$/.test(d.code) || d.message.length === 0) return false;
  }
  // An AST comes back exactly when no error was reported.
  return (r.ast === null) === r.diagnostics.some((d) => d.severity === "error");
}

describe("parseCondition never throws", () => {
  test("on arbitrary strings", () => {
    fc.assert(fc.property(fc.string(), wellFormed), { numRuns: 2000 });
  });
  test("on arbitrary UTF-16 (lone surrogates included)", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), wellFormed), { numRuns: 2000 });
  });
  test("on token soup", () => {
    fc.assert(fc.property(tokenSoup, wellFormed), { numRuns: 5000 });
  });
  test("on printed ASTs with one character changed", () => {
    fc.assert(
      fc.property(anyAst, fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), (ast, i, ch) => {
        const s = printCondition(ast);
        const k = i % (s.length + 1);
        return wellFormed(s.slice(0, k) + ch + s.slice(k + 1));
      }),
      { numRuns: 1000 },
    );
  });
  test("on huge and deeply nested input", () => {
    for (const s of [
      "(".repeat(100_000),
      "(".repeat(MAX_CONDITION_DEPTH + 1) + "a" + ")".repeat(MAX_CONDITION_DEPTH + 1),
      "not ".repeat(2000) + "a",
      "[".repeat(5000),
      "f(".repeat(3000),
      "a and ".repeat(1000) + "a",
      "x".repeat(MAX_CONDITION_LENGTH + 1),
      '"'.repeat(9999),
    ]) {
      expect(wellFormed(s)).toBe(true);
    }
    expect(parseCondition("(".repeat(100_000)).diagnostics[0]!.code).toBe("WP2004");
    expect(parseCondition("not ".repeat(2000) + "a").diagnostics[0]!.code).toBe("WP2004");
    expect(parseCondition("a and ".repeat(1000) + "a").ast?.kind).toBe("and");
  });
});

describe("print → parse round trip", () => {
  test("parse(print(ast)) equals ast, spans aside", () => {
    fc.assert(
      fc.property(anyAst, (ast) => {
        const text = printCondition(ast);
        const r = parseCondition(text);
        expect(r.diagnostics, text).toEqual([]);
        // Date/timestamp `ms` are derived from `text`; the arbitrary leaves them 0.
        const norm = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === "ms" ? 0 : v)));
        expect(norm(stripSpans(r.ast!)), text).toEqual(norm(stripSpans(ast)));
      }),
      { numRuns: 3000 },
    );
  });
  test("print is idempotent through parse", () => {
    fc.assert(
      fc.property(anyAst, (ast) => {
        const text = printCondition(ast);
        expect(printCondition(parseCondition(text).ast!)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
  test("spans of parsed nodes are inside the text and nested", () => {
    fc.assert(
      fc.property(anyAst, (ast) => {
        const text = printCondition(ast);
        const walk = (e: unknown, outer: { start: number; end: number }): void => {
          if (e === null || typeof e !== "object") return;
          const o = e as Record<string, unknown>;
          const span = o["span"] as { start: number; end: number } | undefined;
          const inner = span ?? outer;
          if (span) {
            expect(span.start).toBeGreaterThanOrEqual(outer.start);
            expect(span.end).toBeLessThanOrEqual(outer.end);
            expect(span.start).toBeLessThan(span.end);
          }
          for (const [k, v] of Object.entries(o)) if (k !== "span") (Array.isArray(v) ? v : [v]).forEach((c) => walk(c, inner));
        };
        walk(parseCondition(text).ast, { start: 0, end: text.length });
      }),
      { numRuns: 500 },
    );
  });
});
