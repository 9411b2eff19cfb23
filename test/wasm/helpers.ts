/** Shared helpers for the Wasm backend tests: load a module through the real SDK, raw ABI calls. */
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import type { IR } from "../../compiler/ir/ir.js";

type LoadedPolicy = Awaited<ReturnType<typeof loadPolicy>>;

export interface Abi {
  opa_malloc(n: number): number;
  opa_json_parse(addr: number, len: number): number;
  opa_json_dump(addr: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(addr: number): void;
  opa_eval_ctx_new(): number;
  opa_eval_ctx_set_input(ctx: number, v: number): void;
  opa_eval_ctx_set_data(ctx: number, v: number): void;
  opa_eval_ctx_set_entrypoint(ctx: number, ep: number): void;
  opa_eval_ctx_get_result(ctx: number): number;
  eval(ctx: number): number;
  entrypoints(): number;
  builtins(): number;
}

export interface Loaded {
  policy: LoadedPolicy;
  abi: Abi;
  mem: WebAssembly.Memory;
}

export async function load(ir: IR): Promise<Loaded> {
  const policy = await loadPolicy(await emitPolicyWasm(ir));
  const inner = policy as unknown as { wasmInstance: WebAssembly.Instance };
  return { policy, abi: inner.wasmInstance.exports as unknown as Abi, mem: policy.mem };
}

export const EMPTY_IR = { plan: {}, conds: [] } as unknown as IR;

/** Parses bytes with opa_json_parse; returns the value address (0 = rejected). */
export function parseRaw(l: Loaded, bytes: Uint8Array): number {
  const addr = l.abi.opa_malloc(bytes.length);
  new Uint8Array(l.mem.buffer).set(bytes, addr);
  return l.abi.opa_json_parse(addr, bytes.length);
}

/** opa_json_dump of a value, as text. */
export function dumpRaw(l: Loaded, v: number): string {
  const at = l.abi.opa_json_dump(v);
  const u8 = new Uint8Array(l.mem.buffer);
  let end = at;
  while (u8[end] !== 0) end++;
  return new TextDecoder("utf-8", { fatal: true }).decode(u8.subarray(at, end));
}

/**
 * One evaluation through the ABI's slow path (opa_eval_ctx_* + `eval`), on the data the SDK set,
 * with the heap reset to the data heap pointer as the SDK does; returns the parsed result set.
 */
export function evalSlow(l: Loaded, input: unknown, entrypoint = 0): unknown {
  const inner = l.policy as unknown as { dataAddr: number; dataHeapPtr: number };
  l.abi.opa_heap_ptr_set(inner.dataHeapPtr);
  const inAddr = parseRaw(l, new TextEncoder().encode(JSON.stringify(input)));
  const ctx = l.abi.opa_eval_ctx_new();
  l.abi.opa_eval_ctx_set_input(ctx, inAddr);
  l.abi.opa_eval_ctx_set_data(ctx, inner.dataAddr);
  l.abi.opa_eval_ctx_set_entrypoint(ctx, entrypoint);
  l.abi.eval(ctx);
  return JSON.parse(dumpRaw(l, l.abi.opa_eval_ctx_get_result(ctx)));
}
