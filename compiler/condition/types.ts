import type { BuiltinFn } from "../ir/ir.js";

/**
 * Types of the condition language, the checker's environment, and the built-in functions'
 * signatures. Users see types in plain words (`describeType`), never these names.
 */

export type ConditionType =
  | { kind: "string" }
  | { kind: "number" }
  | { kind: "boolean" }
  | { kind: "time" }
  | { kind: "duration" }
  | { kind: "null" }
  | { kind: "list"; elem: ConditionType }
  /** Not known: after an error (so one mistake is reported once), or the items of `[]`. */
  | { kind: "unknown" };

export const STRING: ConditionType = { kind: "string" };
export const NUMBER: ConditionType = { kind: "number" };
export const BOOLEAN: ConditionType = { kind: "boolean" };
export const TIME: ConditionType = { kind: "time" };
export const DURATION: ConditionType = { kind: "duration" };
export const NULL: ConditionType = { kind: "null" };
export const UNKNOWN: ConditionType = { kind: "unknown" };
export const listOf = (elem: ConditionType): ConditionType => ({ kind: "list", elem });

export interface FieldInfo {
  type: "string" | "number" | "integer" | "boolean" | "timestamp" | "date" | "string[]" | "number[]";
  values?: readonly string[];
  nullable?: boolean;
}

export interface ConditionEnv {
  fields: ReadonlyMap<string, FieldInfo>;
  lists: ReadonlyMap<string, { kind: "suppression" | "values" }>;
}

export function fieldType(f: FieldInfo): ConditionType {
  switch (f.type) {
    case "string":
      return STRING;
    case "number":
    case "integer":
      return NUMBER;
    case "boolean":
      return BOOLEAN;
    case "timestamp":
    case "date":
      return TIME; // stored as strings in the request; lowering converts with `time(...)`
    case "string[]":
      return listOf(STRING);
    case "number[]":
      return listOf(NUMBER);
  }
}

/** Plain words for messages: "text", "a number", "a list of text". */
export function describeType(t: ConditionType): string {
  switch (t.kind) {
    case "string":
      return "text";
    case "number":
      return "a number";
    case "boolean":
      return "true or false";
    case "time":
      return "a date or time";
    case "duration":
      return "a duration";
    case "null":
      return "null";
    case "unknown":
      return "a value";
    case "list":
      return t.elem.kind === "unknown" ? "a list" : `a list of ${plural(t.elem)}`;
  }
}
function plural(t: ConditionType): string {
  const words: Record<string, string> = { string: "text", number: "numbers", boolean: "true/false values", time: "dates or times", duration: "durations", null: "nulls", list: "lists" };
  return words[t.kind] ?? "values";
}

export function typeToString(t: ConditionType): string {
  return t.kind === "list" ? `list<${typeToString(t.elem)}>` : t.kind;
}

/** Whether values of `a` and `b` can be compared with `==`/`!=` (null compares with anything). */
export function equalityCompatible(a: ConditionType, b: ConditionType): boolean {
  if (a.kind === "unknown" || b.kind === "unknown" || a.kind === "null" || b.kind === "null") return true;
  if (a.kind === "list" && b.kind === "list") return equalityCompatible(a.elem, b.elem);
  return a.kind === b.kind;
}

/** Whether `<`, `<=`, `>`, `>=` order values of `a` and `b`. */
export function orderCompatible(a: ConditionType, b: ConditionType): boolean {
  const ordered = (k: string): boolean => k === "number" || k === "time" || k === "duration" || k === "string";
  if (a.kind === "unknown") return b.kind === "unknown" || ordered(b.kind);
  if (b.kind === "unknown") return ordered(a.kind);
  return a.kind === b.kind && ordered(a.kind);
}

export type ParamKind = "time" | "string" | "any" | "string_or_list";

export interface BuiltinSig {
  params: ParamKind[];
  result: ConditionType;
  /** An example call for help texts. */
  example: string;
  /** What the result means, for messages: "a number of days". */
  gives: string;
}

/** The functions a condition may call (a subset of the IR's BuiltinFn; `time` is internal). */
const SIGS = {
  days_since: { params: ["time"], result: NUMBER, example: "days_since(policy.start_date) > 30", gives: "a number of days" },
  days_until: { params: ["time"], result: NUMBER, example: "days_until(policy.renewal_date) == 90", gives: "a number of days" },
  hours_since: { params: ["time"], result: NUMBER, example: "hours_since(claim.opened_at) >= 24", gives: "a number of hours" },
  minutes_since: { params: ["time"], result: NUMBER, example: "minutes_since(event.at) < 15", gives: "a number of minutes" },
  since: { params: ["time"], result: DURATION, example: "since(claim.opened_at) > 3d", gives: "a duration" },
  until: { params: ["time"], result: DURATION, example: "until(policy.renewal_date) < 14d", gives: "a duration" },
  lower: { params: ["string"], result: STRING, example: 'lower(customer.language) == "en"', gives: "text" },
  upper: { params: ["string"], result: STRING, example: 'upper(customer.region) == "EU"', gives: "text" },
  len: { params: ["string_or_list"], result: NUMBER, example: "len(customer.segments) > 0", gives: "a number" },
  contains: { params: ["string_or_list", "any"], result: BOOLEAN, example: 'contains(customer.segments, "vip")', gives: "true or false" },
  starts_with: { params: ["string", "string"], result: BOOLEAN, example: 'starts_with(customer.postcode, "75")', gives: "true or false" },
  ends_with: { params: ["string", "string"], result: BOOLEAN, example: 'ends_with(customer.email, "@example.com")', gives: "true or false" },
  exists: { params: ["any"], result: BOOLEAN, example: "exists(customer.email)", gives: "true or false" },
  local_hour: { params: ["time"], result: NUMBER, example: "local_hour(now) >= 9", gives: "an hour of the day (0 to 23)" },
} satisfies Record<Exclude<BuiltinFn, "time">, BuiltinSig>; // every IR builtin but the internal `time`
export const BUILTINS: Readonly<Record<string, BuiltinSig>> = SIGS;

/** Per-unit time functions: the unit their number counts, for "compare with a number" advice. */
export const COUNTING_FNS: Readonly<Record<string, { unit: string; ms: number }>> = {
  days_since: { unit: "days", ms: 86_400_000 },
  days_until: { unit: "days", ms: 86_400_000 },
  hours_since: { unit: "hours", ms: 3_600_000 },
  minutes_since: { unit: "minutes", ms: 60_000 },
};
