/**
 * Diagnostics are values, not exceptions: every stage returns them, the driver stops between
 * stages when errors exist, and renderers (text, json, sarif, github) turn them into output.
 * Codes are stable and append-only (see DIAGNOSTIC_CODES); messages follow Cedar's style:
 * lowercase, no final period, user input in backticks, advice in `help`.
 */
import type { Problem } from "../runtime/codes.js";

export type Severity = "error" | "warning" | "info";

/** A span in a source file: offsets are UTF-16 code-unit offsets into the file text. */
export interface Span {
  file: string; // path relative to the policy repository root, with `/` separators
  start: number;
  end: number;
}

export interface RelatedInfo {
  message: string;
  span: Span;
}

/** A problem (runtime/codes.ts: code, message, help) with a severity and a place in a file. */
export interface Diagnostic extends Problem {
  severity: Severity;
  span?: Span; // absent only for errors with no file (a missing directory, a bad flag)
  related?: RelatedInfo[];
}

export function diag(
  code: string,
  severity: Severity,
  message: string,
  span?: Span,
  help?: string,
  related?: RelatedInfo[],
): Diagnostic {
  const d: Diagnostic = { code, severity, message };
  if (help !== undefined) d.help = help;
  if (span !== undefined) d.span = span;
  if (related !== undefined && related.length > 0) d.related = related;
  return d;
}

export const hasErrors = (ds: readonly Diagnostic[]): boolean => ds.some((d) => d.severity === "error");

/** Sort for stable output: by file, offset, then code. */
export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => {
    const fa = a.span?.file ?? "";
    const fb = b.span?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    const sa = a.span?.start ?? -1;
    const sb = b.span?.start ?? -1;
    if (sa !== sb) return sa - sb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}

/** Levenshtein-based "did you mean" for unknown names. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diagPrev = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diagPrev + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagPrev = tmp;
    }
  }
  return prev[b.length]!;
}
