/**
 * The one table of names the emitter uses: runtime-library helpers (exported by
 * wasmlib/index.ts as `wp_*`, resolved to function indices through the template's exports),
 * generated symbols, and the builtin helpers of the library (wasmlib/ops.ts). The comparison
 * numbering is the contract's (runtime/contract.ts CMP_OPS).
 */
import type { BuiltinFn } from "../ir/ir.js";

export { CMP_OPS } from "../../runtime/contract.js";

/** Library helpers called by generated code, by their export name. */
export const LIB = {
  field: "wp_field", // (keyPtr, keyLen) -> context[key]
  now: "wp_now", // () -> request time as a number value
  bool: "wp_bool", // (i32) -> true/false value
  truthy: "wp_truthy", // (value) -> i32: value is exactly true
  cmp: "wp_cmp", // (op, l, r) -> value; op is the index in CMP_OPS
  in: "wp_in", // (item, set)
  inList: "wp_in_list", // (listPtr, listLen, item)
  historyCount: "wp_history_count", // (window f64, ch ptr/len, purpose ptr/len, node ptr/len); ptr 0 = no filter
  addMs: "wp_add_ms", // (time, ms f64)
} as const;

/** Builtins of `call`: library helper and arity. */
export const BUILTINS: Record<BuiltinFn, { fn: string; arity: 1 | 2 }> = {
  days_since: { fn: "wp_days_since", arity: 1 },
  days_until: { fn: "wp_days_until", arity: 1 },
  hours_since: { fn: "wp_hours_since", arity: 1 },
  minutes_since: { fn: "wp_minutes_since", arity: 1 },
  since: { fn: "wp_since", arity: 1 },
  until: { fn: "wp_until", arity: 1 },
  lower: { fn: "wp_lower", arity: 1 },
  upper: { fn: "wp_upper", arity: 1 },
  len: { fn: "wp_len", arity: 1 },
  contains: { fn: "wp_contains", arity: 2 },
  starts_with: { fn: "wp_starts_with", arity: 2 },
  ends_with: { fn: "wp_ends_with", arity: 2 },
  exists: { fn: "wp_exists", arity: 1 },
  time: { fn: "wp_time", arity: 1 },
  local_hour: { fn: "wp_local_hour", arity: 1 },
};

/** Generated function for condition i. */
export function condFuncName(i: number): string {
  return `$waypost/cond/${i}`;
}

/** Where the template (assembled by scripts/build-wasmlib.mjs) and its metadata live, relative to the package root. */
export const TEMPLATE_WASM = "dist/wasmlib/template.wasm";
export const TEMPLATE_META = "dist/wasmlib/runtime.json";
