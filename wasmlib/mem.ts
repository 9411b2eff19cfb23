// Bump arena over the memory the SDK imports. Nothing is ever freed individually: the SDK
// resets the heap pointer (opa_heap_ptr_set) before every evaluation and every setData.
import { S_E_OOM, S_E_ABORT } from "./strings";

@external("env", "opa_abort")
export declare function opa_abort(addr: usize): void;

// Spliced in by the emitter: the first free address after the template's static data AND the
// policy's constant data segments (asc folds __heap_base, so it cannot move it for us).
@external("waypost", "heap_base")
declare function heapBase(): usize;

export let heapPtr: usize = 0;
// End of the static data (template and policy constants): bytes below it never change.
export let staticEnd: usize = 0;
// Cached end of linear memory; the host may grow memory behind our back, so a miss re-reads it.
// Memory never shrinks: [.., memEnd) stays inside it (json.ts's output bound reads it).
export let memEnd: usize = 0;

export function initHeap(): void {
  heapPtr = heapBase();
  staticEnd = heapPtr;
  memEnd = <usize>memory.size() << 16;
}

/** Makes sure [.., end) is inside linear memory, growing it (with headroom) when needed. */
export function ensureMem(end: usize): void {
  if (end <= memEnd) return;
  memEnd = <usize>memory.size() << 16;
  if (end <= memEnd) return;
  let cur = memory.size();
  let need = <i32>((end - memEnd + 0xffff) >>> 16);
  // Grow by at least 1/32 of the current size so big data sets do not grow page by page (each
  // grow is a call into the host), yet a load ends at most ~3% above what it uses (1/8 was up
  // to 12%: the Wasm memory a bundle costs is a budgeted figure, issue 14).
  let extra = cur >>> 5;
  if (extra > need && memory.grow(extra) >= 0) {
    memEnd = <usize>memory.size() << 16;
    return;
  }
  if (memory.grow(need) < 0) {
    opa_abort(S_E_OOM + 16);
    unreachable();
  }
  memEnd = <usize>memory.size() << 16;
}

/** 8-aligned bump allocation; contents are NOT zeroed (arena memory is reused). */
// @ts-ignore: decorator
@inline
export function alloc(size: usize): usize {
  let p = (heapPtr + 7) & ~<usize>7;
  let end = p + size;
  if (end > memEnd) ensureMem(end);
  heapPtr = end;
  return p;
}

export function setHeap(p: usize): void {
  heapPtr = p;
}

/** `--use abort=` target: AssemblyScript's own aborts end up as opa_abort. */
export function wpAbort(message: usize, fileName: usize, line: u32, column: u32): void {
  opa_abort(S_E_ABORT + 16);
  unreachable();
}
