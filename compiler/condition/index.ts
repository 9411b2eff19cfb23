/**
 * The condition language (docs: CONDITION_CODES for diagnostics). Pipeline for one condition:
 * parseCondition → checkCondition (against the data dictionary and lists) → lowerCondition.
 * Offsets in diagnostics and spans are local to the condition text.
 */
export { parseCondition, MAX_CONDITION_LENGTH, MAX_CONDITION_DEPTH, type ParseResult } from "./parse.js";
export { printCondition, quote as quoteConditionString } from "./print.js";
export { checkCondition, type CheckResult, type NameRef } from "./check.js";
export { lowerCondition } from "./lower.js";
export { CONDITION_CODES, type LocalDiagnostic } from "./codes.js";
export { BUILTINS, describeType, typeToString, type ConditionEnv, type ConditionType, type FieldInfo, type BuiltinSig } from "./types.js";
export { stripSpans, DURATION_UNIT_MS, type Cond, type Expr as CondExpr, type LocalSpan, type CmpOperator, type DurationUnit } from "./ast.js";
