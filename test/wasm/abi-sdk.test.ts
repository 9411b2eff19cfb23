/**
 * The whole OPA Wasm ABI 1.x, driven the way each SDK drives it (issue 12, item 1):
 * - OPA's Go VM (what `opa` itself, Go services and so the OPA server use; the .NET and Java
 *   SDKs look the same exports up by name): ABI version check (1.1 or 1.3), `opa_malloc(0)`,
 *   base heap pointer, data through `opa_value_parse`, builtins/entrypoints through
 *   `opa_json_dump`, incremental data through `opa_value_add_path` / `opa_value_remove_path`
 *   between `opa_heap_blocks_restore` / `opa_heap_blocks_stash`, `opa_value_free` of the path,
 *   evaluation through `opa_eval` asking for value text (format 1), and the pre-1.2 slow path
 *   ending in `opa_value_dump`;
 * - the npm SDK (`loadPolicy`, `setData`, `evaluate`).
 * Every result must equal the runtime's decision for the same request.
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { build, type BuildResult } from "../../compiler/build.js";
import { writeBundle } from "../../compiler/bundle.js";
import { FsHost } from "../../compiler/source.js";
import { loadBundle, type Engine } from "../../runtime/index.js";
import { EXAMPLE } from "../support/repo.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

type Fn = (...a: number[]) => number;

/** A host written after OPA's Go VM (internal/wasm/sdk/internal/wasm/vm.go), call for call. */
class GoStyleVm {
  readonly ex: Record<string, Fn>;
  readonly mem: WebAssembly.Memory;
  readonly baseHeapPtr: number;
  evalHeapPtr: number;
  dataAddr = 0;
  readonly entrypoints: Record<string, number>;
  readonly abi: [number, number];

  constructor(wasm: Uint8Array, data: string | null) {
    this.mem = new WebAssembly.Memory({ initial: 5 });
    const cstr = (a: number) => this.cstring(a);
    const builtin = () => {
      throw new Error("no builtins expected");
    };
    const inst = new WebAssembly.Instance(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), {
      env: {
        memory: this.mem,
        opa_abort: (a: number) => {
          throw new Error(`abort: ${cstr(a)}`);
        },
        opa_println: () => undefined,
        opa_builtin0: builtin, opa_builtin1: builtin, opa_builtin2: builtin, opa_builtin3: builtin, opa_builtin4: builtin,
      },
    });
    const g = (n: string) => (inst.exports[n] as WebAssembly.Global).value as number;
    this.abi = [g("opa_wasm_abi_version"), g("opa_wasm_abi_minor_version")];
    // The Go VM accepts exactly 1.1 and 1.3.
    if (this.abi[0] !== 1 || (this.abi[1] !== 1 && this.abi[1] !== 3)) throw new Error(`unsupported ABI ${this.abi.join(".")}`);
    this.ex = inst.exports as unknown as Record<string, Fn>;
    this.ex.opa_malloc!(0);
    this.baseHeapPtr = this.ex.opa_heap_ptr_get!();
    if (data !== null) this.dataAddr = this.toRego(data, true);
    this.evalHeapPtr = this.ex.opa_heap_ptr_get!();
    expect(this.fromRego(this.ex.builtins!())).toEqual({});
    this.entrypoints = this.fromRego(this.ex.entrypoints!()) as Record<string, number>;
  }

  private u8(): Uint8Array {
    return new Uint8Array(this.mem.buffer);
  }
  cstring(a: number): string {
    const u = this.u8();
    let e = a;
    while (u[e] !== 0) e++;
    return dec.decode(u.subarray(a, e));
  }
  toRego(text: string, free: boolean): number {
    const raw = enc.encode(text);
    const p = this.ex.opa_malloc!(raw.length);
    this.u8().set(raw, p);
    const addr = this.ex.opa_value_parse!(p, raw.length);
    if (free) this.ex.opa_free!(p);
    return addr;
  }
  fromRego(addr: number): unknown {
    const s = this.ex.opa_json_dump!(addr);
    const v = JSON.parse(this.cstring(s)) as unknown;
    this.ex.opa_free!(s);
    return v;
  }

  /** VM.Eval, ABI >= 1.2: the input written at the eval heap pointer, `opa_eval` format 1. */
  eval(ep: number, input: unknown): unknown {
    let inputAddr = 0, inputLen = 0, heapPtr = this.evalHeapPtr;
    if (input !== undefined) {
      const raw = enc.encode(JSON.stringify(input));
      inputAddr = this.evalHeapPtr;
      inputLen = raw.length;
      const need = inputAddr + inputLen - this.mem.buffer.byteLength;
      if (need > 0) this.mem.grow(Math.ceil(need / 65536));
      this.u8().set(raw, inputAddr);
      heapPtr += inputLen;
    }
    const r = this.ex.opa_eval!(0, ep, this.dataAddr, inputAddr, inputLen, heapPtr, 1);
    return JSON.parse(this.cstring(r)) as unknown;
  }

  /** VM.evalCompat (ABI 1.1): eval context calls, result through `opa_value_dump`. */
  evalCompat(ep: number, input: unknown): unknown {
    this.ex.opa_heap_ptr_set!(this.evalHeapPtr);
    const ctx = this.ex.opa_eval_ctx_new!();
    if (this.dataAddr !== 0) this.ex.opa_eval_ctx_set_data!(ctx, this.dataAddr);
    this.ex.opa_eval_ctx_set_entrypoint!(ctx, ep);
    if (input !== undefined) this.ex.opa_eval_ctx_set_input!(ctx, this.toRego(JSON.stringify(input), false));
    this.ex.eval!(ctx);
    const rs = this.ex.opa_eval_ctx_get_result!(ctx);
    return JSON.parse(this.cstring(this.ex.opa_value_dump!(rs))) as unknown;
  }

  /** VM.SetDataPath. Returns the module's error code. */
  setDataPath(p: string[], value: unknown): number {
    this.ex.opa_heap_ptr_set!(this.evalHeapPtr);
    this.ex.opa_heap_blocks_restore!();
    const valueAddr = this.toRego(JSON.stringify(value), true);
    const pathAddr = this.toRego(JSON.stringify(p), true);
    const rc = this.ex.opa_value_add_path!(this.dataAddr, pathAddr, valueAddr);
    this.ex.opa_value_free!(pathAddr);
    this.ex.opa_heap_blocks_stash!();
    this.evalHeapPtr = this.ex.opa_heap_ptr_get!();
    return rc;
  }

  /** VM.RemoveDataPath. */
  removeDataPath(p: string[]): number {
    this.ex.opa_heap_ptr_set!(this.evalHeapPtr);
    this.ex.opa_heap_blocks_restore!();
    const pathAddr = this.toRego(JSON.stringify(p), true);
    const rc = this.ex.opa_value_remove_path!(this.dataAddr, pathAddr);
    this.ex.opa_value_free!(pathAddr);
    this.ex.opa_heap_blocks_stash!();
    this.evalHeapPtr = this.ex.opa_heap_ptr_get!();
    return rc;
  }

  /** VM.SetPolicyData with the same policy: data parsed afresh at the base heap pointer. */
  setPolicyData(data: string): void {
    this.dataAddr = 0;
    this.ex.opa_heap_stash_clear!();
    this.ex.opa_heap_ptr_set!(this.baseHeapPtr);
    this.dataAddr = this.toRego(data, true);
    this.ex.opa_heap_blocks_stash!();
    this.evalHeapPtr = this.ex.opa_heap_ptr_get!();
  }

  dumpData(): unknown {
    return JSON.parse(this.cstring(this.ex.opa_value_dump!(this.dataAddr))) as unknown;
  }
}

const EPS = ["waypost/decide", "waypost/suppressed", "waypost/consent"] as const;
let built: BuildResult;
let engine: Engine;
let wasm: Uint8Array;
let dataText: string;
let requests: { name: string; request: Record<string, unknown> }[];

beforeAll(async () => {
  built = await build(new FsHost(EXAMPLE));
  expect(built.state.diagnostics).toEqual([]);
  wasm = built.wasm!;
  dataText = JSON.stringify(built.data);
  engine = await loadBundle(built.bundle!, { skipVerify: true }); // built just now, in this process
  const dir = path.join(EXAMPLE, "requests");
  requests = readdirSync(dir)
    .filter((n) => n.endsWith(".json") && !n.endsWith(".expected.json"))
    .sort()
    .map((n) => ({ name: n, request: JSON.parse(readFileSync(path.join(dir, n), "utf8")) as Record<string, unknown> }));
  expect(requests.length).toBeGreaterThan(10);
});

/** What the runtime answers on entrypoint `ep`, as the module's result set. */
function runtimeResultSet(ep: (typeof EPS)[number], request: unknown): unknown {
  if (ep === "waypost/decide") {
    const { verified: _v, decision_id: _d, ...policyDecision } = engine.decide(request) as unknown as Record<string, unknown>;
    return [{ result: policyDecision }];
  }
  const r = engine.evaluate(ep, request);
  if (!r.ok) throw new Error(r.error);
  return r.value === undefined ? [] : [{ result: r.value }];
}

describe("exports of ABI 1.3", () => {
  it("has every function OPA documents for 1.0 to 1.3 and declares 1.3", () => {
    const names = WebAssembly.Module.exports(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>)).map((e) => e.name);
    for (const n of [
      "eval", "builtins", "entrypoints", "opa_eval_ctx_new", "opa_eval_ctx_set_input", "opa_eval_ctx_set_data",
      "opa_eval_ctx_set_entrypoint", "opa_eval_ctx_get_result", "opa_malloc", "opa_free", "opa_json_parse",
      "opa_value_parse", "opa_json_dump", "opa_value_dump", "opa_heap_ptr_set", "opa_heap_ptr_get",
      "opa_value_add_path", "opa_value_remove_path", "opa_value_free", "opa_heap_blocks_stash",
      "opa_heap_blocks_restore", "opa_heap_stash_clear", "opa_eval", "memory", "opa_wasm_abi_version",
      "opa_wasm_abi_minor_version",
    ]) expect(names, n).toContain(n);
    expect(new GoStyleVm(wasm, null).abi).toEqual([1, 3]);
  });
});

describe("OPA's Go VM call sequence", () => {
  it("fast path (opa_eval, value format) and slow path (eval ctx, opa_value_dump) equal the runtime on every example request", () => {
    const vm = new GoStyleVm(wasm, dataText);
    expect(vm.entrypoints).toEqual({ "waypost/decide": 0, "waypost/suppressed": 1, "waypost/consent": 2 });
    for (const { name, request } of requests) {
      for (const ep of EPS) {
        const want = runtimeResultSet(ep, request);
        expect(vm.eval(vm.entrypoints[ep]!, request), `${name} ${ep}`).toEqual(want);
        expect(vm.evalCompat(vm.entrypoints[ep]!, request), `${name} ${ep} (compat)`).toEqual(want);
      }
    }
  });

  it("data assembled by opa_value_add_path decides as the bundle's data does", () => {
    const full = built.data!.waypost as unknown as Record<string, unknown>;
    const vm = new GoStyleVm(wasm, "{}");
    // As OPA's storage writes bundle roots: one patch per key, under a path created on the way.
    for (const k of Object.keys(full)) expect(vm.setDataPath(["waypost", k], full[k])).toBe(0);
    expect(vm.dumpData()).toEqual(built.data);
    for (const { name, request } of requests) expect(vm.eval(0, request), name).toEqual(runtimeResultSet("waypost/decide", request));
  });

  it("a patched suppression list decides as freshly parsed data with the same list", async () => {
    const target = requests.find((r) => engine.decide(r.request).outcome === "send")!;
    const customer = (target.request.context as Record<string, unknown>)["customer.id"] as string;
    const waypost = JSON.parse(JSON.stringify(built.data!.waypost)) as { lists: Record<string, unknown> };
    const listKey = Object.keys(waypost.lists).find((k) => k.includes("global-opt-out"))!;
    expect(listKey).toBeDefined();
    const list = waypost.lists[listKey] as Record<string, unknown>;
    const patchedList = JSON.parse(JSON.stringify(list).replace(/"C-100045"/g, JSON.stringify(customer))) as unknown;
    expect(patchedList).not.toEqual(list);

    const vm = new GoStyleVm(wasm, dataText);
    expect(vm.setDataPath(["waypost", "lists", listKey], patchedList)).toBe(0);
    waypost.lists[listKey] = patchedList;
    const fresh = await loadBundle(await rebuildBundle(waypost), { skipVerify: true });
    const got = vm.eval(0, target.request) as [{ result: { outcome: string } }];
    expect(got[0].result.outcome).toBe("suppress");
    const { verified: _v, decision_id: _d, ...want } = fresh.decide(target.request) as unknown as Record<string, unknown>;
    expect(got).toEqual([{ result: want }]);

    // Removing the list again: the customer is contactable again, as with no such list.
    expect(vm.removeDataPath(["waypost", "lists", listKey])).toBe(0);
    expect((vm.dumpData() as { waypost: { lists: Record<string, unknown> } }).waypost.lists[listKey]).toBeUndefined();
    expect((vm.eval(0, target.request) as [{ result: { outcome: string } }])[0].result.outcome).toBe("send");

    // SetPolicyData afterwards: back to the bundle's data exactly.
    vm.setPolicyData(dataText);
    expect(vm.eval(0, target.request)).toEqual(runtimeResultSet("waypost/decide", target.request));
  });

  it("refuses bad patches with OPA's error codes and leaves the data unchanged", () => {
    const vm = new GoStyleVm(wasm, JSON.stringify({ a: { b: 1 }, s: "x" }));
    const before = vm.dumpData();
    expect(vm.setDataPath(["s", "deeper"], 1)).toBe(3); // through a scalar
    expect(vm.setDataPath([], 1)).toBe(3);
    expect(vm.removeDataPath(["a", "missing"])).toBe(3);
    expect(vm.removeDataPath(["nope", "b"])).toBe(3);
    expect(vm.dumpData()).toEqual(before);
    expect(vm.setDataPath(["a", "x", "y"], { foo: "bar" })).toBe(0); // OPA's documented example
    expect(vm.dumpData()).toEqual({ a: { b: 1, x: { y: { foo: "bar" } } }, s: "x" });
    expect(vm.setDataPath(["a", "b"], [1, 2])).toBe(0); // replaces
    expect(vm.removeDataPath(["s"])).toBe(0);
    expect(vm.dumpData()).toEqual({ a: { b: [1, 2], x: { y: { foo: "bar" } } } });
    // Objects with hash tables (more than 8 keys) stay consistent across patches.
    for (let i = 0; i < 20; i++) expect(vm.setDataPath(["big", `k${i}`], i)).toBe(0);
    for (let i = 0; i < 20; i += 2) expect(vm.removeDataPath(["big", `k${i}`])).toBe(0);
    const big = (vm.dumpData() as { big: Record<string, number> }).big;
    expect(big).toEqual(Object.fromEntries(Array.from({ length: 10 }, (_, j) => [`k${2 * j + 1}`, 2 * j + 1])));
  });

  it("evaluations do not grow memory (the heap is reset to the eval heap pointer)", () => {
    const vm = new GoStyleVm(wasm, dataText);
    const req = requests[0]!.request;
    for (let i = 0; i < 200; i++) vm.eval(0, req);
    const size = vm.mem.buffer.byteLength;
    for (let i = 0; i < 3000; i++) vm.eval(0, req);
    expect(vm.mem.buffer.byteLength).toBe(size);
  });
});

describe("the npm SDK call sequence", () => {
  it("loadPolicy, setData, evaluate equal the runtime on every example request", async () => {
    const policy = await loadPolicy(wasm);
    policy.setData(built.data!);
    for (const { name, request } of requests) {
      for (const ep of EPS) expect(policy.evaluate(request, ep), `${name} ${ep}`).toEqual(runtimeResultSet(ep, request));
    }
  });
});

/** The example bundle with other data (same policy.wasm). */
async function rebuildBundle(waypost: unknown): Promise<Uint8Array> {
  return writeBundle({
    wasm,
    data: { waypost } as never,
    manifest: {
      revision: built.revision!,
      roots: ["waypost"],
      wasm: EPS.map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: {},
    },
  });
}
