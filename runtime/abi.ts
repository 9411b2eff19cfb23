/**
 * Direct calls into the OPA Wasm ABI (OPA's "WebAssembly" docs, ABI 1.x) on a policy the
 * official SDK (`@open-policy-agent/opa-wasm`) has loaded.
 *
 * Why not `policy.evaluate` / `policy.setData`: per decision the SDK re-encodes the input into a
 * fresh Uint8Array, scans the result for its NUL in a JS loop and allocates a TextDecoder; and
 * `setData(object)` re-stringifies the whole data document (72 MB for a 1M-entry list). The
 * ABI itself is small and documented, so we keep the SDK as the loader (it instantiates our
 * module with its own imports and builtins, which is the compatibility claim) and make the
 * same two calls it makes, without the copies:
 *  - evaluation (ABI 1.2 fast path): input bytes are encoded straight into Wasm memory at the
 *    data heap pointer, `opa_eval(0, ep, dataAddr, inputAddr, len, inputAddr + len, 0)`, and
 *    the NUL-terminated result is found with a native `indexOf` and decoded in one call;
 *  - data: heap reset to the base pointer, `opa_malloc` + copy + `opa_json_parse`, then
 *    `dataAddr` and `dataHeapPtr` are written back on the SDK object, exactly what its
 *    `setData` does, so `policy.evaluate` keeps working on the same instance.
 * A module that reports ABI minor < 2 (no `opa_eval`) is driven through the SDK instead.
 */

/** The SDK's LoadedPolicy fields we read or write (its own typings are `any`). */
export interface SdkPolicy {
  evaluate(input: ArrayBuffer | object | undefined, entrypoint?: number | string): unknown;
  setData(data: ArrayBuffer | object): void;
  entrypoints: unknown;
  minorVersion?: unknown;
  mem?: unknown;
  wasmInstance?: unknown;
  baseHeapPtr?: unknown;
  dataHeapPtr?: unknown;
  dataAddr?: unknown;
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface AbiExports {
  opa_eval(reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heap: number, format: number): number;
  opa_malloc(size: number): number;
  opa_json_parse(addr: number, len: number): number;
  opa_heap_ptr_get(): number;
  opa_heap_ptr_set(addr: number): void;
}

const PAGE = 65536;
const enc = new TextEncoder();

const isFn = (o: Record<string, unknown>, k: string): boolean => typeof o[k] === "function";

function abiExports(policy: SdkPolicy): AbiExports | null {
  const inst = policy.wasmInstance;
  if (typeof inst !== "object" || inst === null || !("exports" in inst)) return null;
  const ex = (inst as { exports: unknown }).exports;
  if (typeof ex !== "object" || ex === null) return null;
  const e = ex as Record<string, unknown>;
  for (const k of ["opa_malloc", "opa_json_parse", "opa_heap_ptr_get", "opa_heap_ptr_set"]) if (!isFn(e, k)) return null;
  return e as unknown as AbiExports;
}

function wasmMemory(policy: SdkPolicy): WasmMemory | null {
  const m = policy.mem;
  if (typeof m !== "object" || m === null || !("buffer" in m) || !("grow" in m)) return null;
  return m as WasmMemory;
}

/** Thrown (as the SDK does, a plain string) when `opa_json_parse` refuses the data. */
export const DATA_PARSE_FAILED = "failed to parse json value";

export class AbiPolicy {
  private readonly ex: AbiExports | null;
  private readonly mem: WasmMemory | null;
  /** True when evaluations go straight to `opa_eval`; false: through `policy.evaluate`. */
  readonly fast: boolean;
  private u8: Uint8Array = new Uint8Array(0);
  private buf: Buffer = Buffer.alloc(0);

  constructor(readonly policy: SdkPolicy) {
    this.ex = abiExports(policy);
    this.mem = wasmMemory(policy);
    const minor = policy.minorVersion;
    this.fast =
      this.ex !== null &&
      this.mem !== null &&
      typeof minor === "number" &&
      minor >= 2 &&
      isFn(this.ex as unknown as Record<string, unknown>, "opa_eval") &&
      typeof policy.dataAddr === "number" &&
      typeof policy.dataHeapPtr === "number";
    this.refresh();
  }

  /** Views over the current memory buffer (a `grow`, ours or the module's, detaches the old one). */
  private refresh(): void {
    if (this.mem === null) return;
    const b = this.mem.buffer;
    this.u8 = new Uint8Array(b);
    this.buf = Buffer.from(b);
  }

  /**
   * Loads data.json bytes as the SDK's `setData(ArrayBuffer)` does, without its extra copy.
   * Throws `DATA_PARSE_FAILED` when the module refuses the JSON.
   */
  setData(bytes: Uint8Array): void {
    const ex = this.ex;
    const p = this.policy;
    if (ex === null || this.mem === null || typeof p.baseHeapPtr !== "number") {
      p.setData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      return;
    }
    ex.opa_heap_ptr_set(p.baseHeapPtr);
    const raw = ex.opa_malloc(bytes.byteLength); // the module grows memory itself
    this.refresh();
    this.u8.set(bytes, raw);
    const addr = ex.opa_json_parse(raw, bytes.byteLength);
    if (addr === 0) throw DATA_PARSE_FAILED;
    p.dataAddr = addr;
    p.dataHeapPtr = ex.opa_heap_ptr_get();
    this.refresh();
  }

  /**
   * Evaluates `entrypoint` on the JSON text `input` (undefined: no input, as the SDK passes
   * falsy inputs) and returns the result set's JSON text. Throws what the module throws.
   * Only when `fast`.
   */
  evaluateText(input: string | undefined, entrypoint: number): string {
    const ex = this.ex!;
    const p = this.policy;
    const base = p.dataHeapPtr as number;
    let len = 0;
    if (input !== undefined) {
      if (this.u8.byteLength === 0) this.refresh();
      // UTF-8 is at most 3 bytes per UTF-16 unit: grow only when the worst case does not fit.
      const need = base + input.length * 3 - this.u8.byteLength;
      if (need > 0) {
        this.mem!.grow(Math.ceil(need / PAGE));
        this.refresh();
      }
      len = this.buf.write(input, base, "utf8");
    }
    const ret = ex.opa_eval(0, entrypoint, p.dataAddr as number, input === undefined ? 0 : base, len, base + len, 0);
    if (this.u8.byteLength === 0) this.refresh(); // the module grew memory while evaluating
    const end = this.u8.indexOf(0, ret);
    if (end < 0) throw "policy.wasm returned an unterminated result";
    return this.buf.toString("utf8", ret, end);
  }

  /** The result set as a value: `evaluateText` + JSON.parse, or the SDK's own `evaluate`. */
  evaluate(input: string | undefined, entrypoint: number): unknown {
    if (this.fast) return JSON.parse(this.evaluateText(input, entrypoint));
    return this.policy.evaluate(input === undefined ? undefined : (enc.encode(input).buffer as ArrayBuffer), entrypoint);
  }
}
