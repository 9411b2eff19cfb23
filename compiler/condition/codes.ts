/**
 * Diagnostics of the condition language: values with offsets local to the condition text.
 * Codes are stable and append-only; WP20xx are lexical/syntax, WP21xx are names and types.
 */

export interface LocalDiagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  help?: string;
  start: number;
  end: number;
}

export const CONDITION_CODES: Record<string, string> = {
  WP2001: "unexpected character in a condition",
  WP2002: "unterminated string (a quote is not closed on the same line)",
  WP2003: "syntax error: a token is missing or not expected here",
  WP2004: "condition too long or too deeply nested",
  WP2005: "invalid literal: a date, time, duration or number that cannot be read",
  WP2006: "invalid escape sequence in a string",
  WP2007: "operator spelling not used in conditions (`&&`, `||`, `!`, `=`): use `and`, `or`, `not`, `==`",
  WP2008: "empty condition",
  WP2101: "unknown field (not in the data dictionary)",
  WP2102: "unknown function",
  WP2103: "wrong number of arguments to a function",
  WP2104: "type mismatch: values of incompatible types compared, or an argument of the wrong type",
  WP2105: "value not allowed for the field (not among its allowed values)",
  WP2106: "unknown named list",
  WP2107: "`in list(...)` used on a value that is not text",
  WP2108: "`list(...)` used somewhere other than after `in`",
  WP2109: "a true/false condition was expected, but the expression gives another type",
  WP2110: "condition (or a part of it) is always true or always false (warning)",
  WP2111: "list item is not a fixed value",
};

export function ldiag(code: string, message: string, start: number, end: number, help?: string, severity: "error" | "warning" = "error"): LocalDiagnostic {
  const d: LocalDiagnostic = { code, severity, message, start, end };
  if (help !== undefined) d.help = help;
  return d;
}

/** Quote user text for a message: backticks, cut when long, so one line stays one line. */
export function code(text: string, max = 40): string {
  const oneLine = text.replace(/[\r\n\t]/g, " ");
  return "`" + (oneLine.length > max ? oneLine.slice(0, max - 1) + "…" : oneLine) + "`";
}
