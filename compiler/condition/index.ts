/** The condition language: parse, print, check and lower `when:`-style condition strings. */
export { parseCondition, MAX_CONDITION_LENGTH, MAX_CONDITION_DEPTH, type ParseResult } from "./parse.js";
export { printCondition, quote as quoteConditionString } from "./print.js";
export { CONDITION_CODES, type LocalDiagnostic } from "./codes.js";
export { stripSpans, DURATION_UNIT_MS, type Cond, type Expr as CondExpr, type LocalSpan, type CmpOperator, type DurationUnit } from "./ast.js";
