/**
 * Diagnostics of the condition language: values with offsets local to the condition text.
 * Codes are stable and append-only; WP20xx are lexical/syntax, WP21xx are names and types.
 */
import { errorCode, warningCode, type CodeSpec } from "../../runtime/codes.js";

export interface LocalDiagnostic {
  code: ConditionCode;
  severity: "error" | "warning";
  message: string;
  help?: string;
  start: number;
  end: number;
}

export const CONDITION_CODES = {
  WP2001: errorCode("unexpected character in a condition", "remove the character, or quote it inside a string (`\"...\"`)"),
  WP2002: errorCode("unterminated string (a quote is not closed on the same line)", "close the string with a matching `\"` on the same line"),
  WP2003: errorCode("syntax error: a token is missing or not expected here", "a condition compares values (`field op value`) and joins comparisons with `and`, `or`, `not` and brackets; the message names what was expected"),
  WP2004: errorCode("condition too long or too deeply nested", "split the condition: move parts into named lists or separate journey nodes"),
  WP2005: errorCode("invalid literal: a date, time, duration or number that cannot be read", "write dates as `2026-03-31`, times as `2026-03-31T09:00:00Z`, durations as `30d` or `12h`"),
  WP2006: errorCode("invalid escape sequence in a string", "inside quotes, write `\\\"` for a quote, `\\\\` for a backslash, `\\n` for a new line or `\\u00e9` for a character by its code"),
  WP2007: errorCode("operator spelling not used in conditions (`&&`, `||`, `!`, `=`): use `and`, `or`, `not`, `==`", "conditions use the words `and`, `or` and `not`, and `==` to compare"),
  WP2008: errorCode("empty condition", "write a condition such as `customer.region == \"EU\"`, or remove the key"),
  WP2101: errorCode("unknown field (not in the data dictionary)", "check the spelling (the message suggests the closest field), or declare the field in the DataDictionary"),
  WP2102: errorCode("unknown function", "use one of the condition functions (`days_since`, `since`, `lower`, `len`, `contains`, `starts_with`, `exists`, ...); the message suggests the closest"),
  WP2103: errorCode("wrong number of arguments to a function", "give the function the number of arguments its signature in the message shows"),
  WP2104: errorCode("type mismatch: values of incompatible types compared, or an argument of the wrong type", "compare values of one type: a number with a number, a date with a date; quote text, and write dates unquoted"),
  WP2105: errorCode("value not allowed for the field (not among its allowed values)", "use one of the values the data dictionary allows for the field (the message lists the closest)"),
  WP2106: errorCode("unknown named list", "declare it as a suppression list or a value list, or check its name"),
  WP2107: errorCode("`in list(...)` used on a value that is not text", "named lists hold text keys, such as a customer id or a hashed email"),
  WP2108: errorCode("`list(...)` used somewhere other than after `in`", "write it like `customer.id in list(\"do-not-contact\")`"),
  WP2109: errorCode("a true/false condition was expected, but the expression gives another type", "compare the value with something (`==`, `<`, `in`) to get true or false"),
  WP2110: warningCode("condition (or a part of it) is always true or always false", "remove the part that never changes the outcome, or fix the comparison the message names"),
  WP2111: errorCode("list item is not a fixed value", "list items are fixed values (text, numbers, dates); compare fields one by one with `or` instead"),
} as const satisfies Record<string, CodeSpec>;

export type ConditionCode = keyof typeof CONDITION_CODES;

export function ldiag(code: ConditionCode, message: string, start: number, end: number, help?: string, severity: "error" | "warning" = "error"): LocalDiagnostic {
  const d: LocalDiagnostic = { code, severity, message, start, end };
  if (help !== undefined) d.help = help;
  return d;
}

/** Quote user text for a message: backticks, cut when long, so one line stays one line. */
export function code(text: string, max = 40): string {
  const oneLine = text.replace(/[\r\n\t]/g, " ");
  return "`" + (oneLine.length > max ? oneLine.slice(0, max - 1) + "…" : oneLine) + "`";
}
