// Entry of the Waypost runtime library: the OPA Wasm ABI 1.3 exports and the `wp_*` helpers
// the generated condition code calls. Built once by scripts/build-wasmlib.mjs into a WAT
// template; compiler/emit splices the policy's conditions into it.
import { alloc, heapPtr, setHeap, initHeap, opa_abort } from "./mem";
import { parseJSON, dumpJSON, dumpBegin, dumpEnd, dumpValue, putBytes, initScratch } from "./json";
import { newArr, arrPush, newObj, objPushS } from "./value";
import { evaluate, EP_COUNT } from "./engine";
import * as engine from "./engine";
import { addPath, removePath } from "./patch";
import { decisionRecord } from "./record";
import { initStrings, S_ENTRYPOINTS_JSON, S_BUILTINS_JSON, S_E_ENTRYPOINT, S_RESULT, S_RS_OPEN, S_RS_CLOSE } from "./strings";

initStrings();
initHeap();
initScratch();

export const opa_wasm_abi_version: i32 = 1;
// 1.3: OPA's Go VM (and so `opa`) refuses 1.2; 1.3 adds only opa_value_free and the heap stash.
export const opa_wasm_abi_minor_version: i32 = 3;

export function opa_malloc(size: usize): usize { return alloc(size); }
// Arena allocator: memory is reclaimed wholesale when the host resets the heap pointer.
export function opa_free(addr: usize): void {}
export function opa_heap_ptr_get(): usize { return heapPtr; }
export function opa_heap_ptr_set(addr: usize): void { setHeap(addr); }

export function opa_json_parse(addr: usize, len: usize): usize {
  engine.parseGen++;
  // Allocating below the end of the indexed data may overwrite it or its slot tables.
  if (heapPtr < engine.tabHi) engine.tabData = 0;
  let v = parseJSON(addr, len);
  // A plan that cannot be read as written (a node part index outside node_parts) is refused.
  if (v != 0 && !engine.planIndex(v)) return 0;
  return v;
}

export function opa_json_dump(v: usize): usize { return dumpJSON(v); }

// Rego value text. Waypost values are JSON values (no sets, string keys only), so value text
// is JSON text both ways; a set literal is refused like invalid JSON (0).
export function opa_value_parse(addr: usize, len: usize): usize { return opa_json_parse(addr, len); }
export function opa_value_dump(v: usize): usize { return dumpJSON(v); }
// Arena allocator (ABI 1.3): nothing is freed one by one and there are no free blocks to stash.
export function opa_value_free(v: usize): void {}
export function opa_heap_blocks_stash(): void {}
export function opa_heap_blocks_restore(): void {}
export function opa_heap_stash_clear(): void {}

// In-place data patches (patch.ts). The plan cache and slot tables point into the old data:
// drop them and index the patched value again (above the patch, which the host keeps below its
// evaluation heap pointer, as OPA's VMs do).
function patched(base: usize, rc: i32): i32 {
  if (rc != 0) return rc;
  engine.parseGen++;
  if (base == engine.tabData) engine.tabData = 0;
  engine.planIndex(base);
  return rc;
}
export function opa_value_add_path(base: usize, path: usize, value: usize): i32 {
  return patched(base, addPath(base, path, value));
}
export function opa_value_remove_path(base: usize, path: usize): i32 {
  return patched(base, removePath(base, path));
}

function staticJSON(s: usize): usize { return parseJSON(load<u32>(s, 8), load<u32>(s, 4)); }
export function builtins(): usize { return staticJSON(S_BUILTINS_JSON); }
export function entrypoints(): usize { return staticJSON(S_ENTRYPOINTS_JSON); }

function checkEp(ep: u32): void {
  if (ep >= EP_COUNT) {
    opa_abort(S_E_ENTRYPOINT + 16);
    unreachable();
  }
}

// Slow path: context [input, data, entrypoint, result].
export function opa_eval_ctx_new(): usize {
  let c = alloc(16);
  store<u32>(c, 0);
  store<u32>(c, 0, 4);
  store<u32>(c, 0, 8);
  store<u32>(c, 0, 12);
  return c;
}
export function opa_eval_ctx_set_input(c: usize, v: usize): void { store<u32>(c, v); }
export function opa_eval_ctx_set_data(c: usize, v: usize): void { store<u32>(c, v, 4); }
export function opa_eval_ctx_set_entrypoint(c: usize, ep: u32): void { store<u32>(c, ep, 8); }
export function opa_eval_ctx_get_result(c: usize): usize { return load<u32>(c, 12); }

function evalCtx(c: usize): i32 {
  let ep = load<u32>(c, 8);
  checkEp(ep);
  let v = evaluate(ep, load<u32>(c, 4), load<u32>(c));
  let o = newObj(1);
  objPushS(o, S_RESULT, v);
  let rs = newArr(1);
  arrPush(rs, o);
  store<u32>(c, rs, 12);
  return 0;
}
export { evalCtx as eval };

// Fast path (ABI 1.2): parse the input the SDK wrote at inputAddr, evaluate, dump the result set.
// format 1 (Rego value text, what OPA's Go VM asks for) is the same text for JSON values.
export function opa_eval(reserved: i32, ep: u32, data: usize, inputAddr: usize, inputLen: usize, heapAddr: usize, format: i32): usize {
  checkEp(ep);
  setHeap(heapAddr);
  let input: usize = inputLen > 0 ? parseJSON(inputAddr, inputLen) : 0;
  let v = evaluate(ep, data, input);
  let start = dumpBegin();
  putBytes(load<u32>(S_RS_OPEN, 8), load<u32>(S_RS_OPEN, 4));
  dumpValue(v);
  putBytes(load<u32>(S_RS_CLOSE, 8), load<u32>(S_RS_CLOSE, 4));
  dumpEnd();
  return start;
}

// The runtime's decision call (runtime/abi.ts, docs/ir.md "Decision (output)"): `waypost/decide`
// as opa_eval evaluates it (not `wp_`: the emitter drops those exports), dumped as the decision itself (no result set) in its compact form,
// where a reason of the plan's reason table is its index. The SDK entrypoints keep the full shape.
export function waypost_decide(data: usize, inputAddr: usize, inputLen: usize, heapAddr: usize): usize {
  setHeap(heapAddr);
  let input: usize = inputLen > 0 ? parseJSON(inputAddr, inputLen) : 0;
  return dumpJSON(engine.compactDecision(evaluate(0, data, input, true)));
}

// waypost_decide's decision in its record form (wasmlib/record.ts; docs/ir.md "Decision
// (output)"): fixed words the runtime reads in place; JSON only for what a record cannot carry.
export function waypost_decide_rec(data: usize, inputAddr: usize, inputLen: usize, heapAddr: usize): usize {
  setHeap(heapAddr);
  let input: usize = inputLen > 0 ? parseJSON(inputAddr, inputLen) : 0;
  return decisionRecord(engine.compactDecision(evaluate(0, data, input, true)));
}

// Entry i of the plan's reason table as JSON text (NUL-terminated), or 0 when there is none.
export function waypost_reason(data: usize, i: u32): usize {
  let r = engine.reasonEntry(data, i);
  return r == 0 ? 0 : dumpJSON(r);
}

// Condition helpers for generated code (names in compiler/emit/names.ts).
export {
  field as wp_field, now as wp_now, toBool as wp_bool, truthy as wp_truthy, cmp as wp_cmp,
  isIn as wp_in, inListOp as wp_in_list, daysSince as wp_days_since, daysUntil as wp_days_until,
  hoursSince as wp_hours_since, minutesSince as wp_minutes_since, since as wp_since,
  until as wp_until, localHour as wp_local_hour, time as wp_time, lower as wp_lower,
  upper as wp_upper, lenOp as wp_len, contains as wp_contains, startsWith as wp_starts_with,
  endsWith as wp_ends_with, exists as wp_exists, historyCount as wp_history_count,
  addMs as wp_add_ms,
} from "./ops";

// End of the template's static data (asc folds __heap_base into constants, so the build script
// reads it through this export; the emitter places the policy's constants after it).
export function wp_static_end(): usize { return __heap_base; }
