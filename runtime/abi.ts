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
 * A module that reports ABI minor < 2 (no `opa_eval`) is driven through the SDK instead (only
 * unmetered: a metered load refuses it, the SDK's slow path reads results outside any budget).
 *
 * Budgets: a module metered by ./meter.ts exports a fuel global. Each evaluation starts with
 * the decision budget and `setData` with the load budget (one property write); running out
 * throws one of the meter's tags, which becomes a `BudgetExceeded`. The instance stays usable:
 * every evaluation passes its heap start to `opa_eval` (the SDK's slow path resets the heap
 * pointer itself), so what a stopped evaluation left on the heap is overwritten by the next.
 */
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import type { PolicyDecision } from "./contract.js";
import { describeThrown, runtimeError } from "./errors.js";
import { BAD_STRING_EXPORT, FUEL_EXPORT, HOST_STRING_IMPORTS, meterWasm, OUT_OF_FUEL_EXPORT, OUT_OF_MEMORY_EXPORT, STRING_WINDOW, WASM_PAGE } from "./meter.js";

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

/** The runtime's decision calls (wasmlib/index.ts; docs/ir.md "Decision (output)", compact form). */
interface CompactExports {
  waypost_decide(data: number, input: number, inputLen: number, heap: number): number;
  waypost_reason(data: number, index: number): number;
}

/** `waypost_decide` in the record form (wasmlib/record.ts), when the module has it. */
interface RecordExports {
  waypost_decide_rec(data: number, input: number, inputLen: number, heap: number): number;
}

/**
 * A compact decision read from its record (docs/ir.md "Decision (output)", record form):
 * `outcome` is an index into the contract's OUTCOMES (not checked here), `reasons` the compact
 * reason codes.
 */
export type DecisionRecord = Omit<PolicyDecision, "outcome" | "reasons" | "revision"> & { outcome: number; reasons: number[] };

/** Record words (wasmlib/record.ts): the form, then the rest. */
const REC_RECORD = 1;
const REC_JSON = 2;
const REC_WORDS = 17;
const REC_NULL_LEN = 0xffffffff;
/**
 * What a record may hold: a module controls its memory, so without these a record could make
 * the runtime allocate gigabytes (the JSON form is bounded by V8's string length). A decision
 * names one reason per candidate, and its strings are ids and a customer-facing text.
 */
const REC_MAX_REASONS = 1_000_000;
const REC_MAX_TEXT = 64 * 2 ** 20;
/** Strings of the loaded data remembered by address (bounds what a record's strings can hold on to). */
const DATA_STRINGS_MAX = 65536;
/** Cache keys are address * 2^21 + length, exact below 2^53: longer strings are not remembered. */
const DATA_STRING_KEY = 2 ** 21;

const PAGE = WASM_PAGE;
const enc = new TextEncoder();

/** Limits for a metered module (units: see ./meter.ts; fuel ≈ Wasm instructions executed). */
export interface Budget {
  /** Fuel for one evaluation (`decide`, `evaluate`, the activation self-check). */
  decision: number;
  /** Fuel for loading data.json (`opa_json_parse`). */
  load: number;
  /** The most 64 KiB pages the module's memory may grow to. */
  memoryPages: number;
}

/**
 * Defaults, measured on the reference machine (2-core AMD EPYC, Node 20; docs/security.md):
 *  - decision: the example requests use 0.15-1.2 M units, a request with 1,000 history
 *    entries 23 M; a runaway loop is stopped after ~40 ms (arithmetic) to ~1.5 s (loads
 *    missing every cache across 1 GiB);
 *  - load: data.json of the 1,000,000-entry list takes 6.3 G units, of a 10,000-node policy
 *    11 G; a runaway start function or parser is stopped after ~10 s (arithmetic) and at
 *    worst minutes (cache-missing loads);
 *  - memory: the 1,000,000-entry list needs 112 MiB, the 10,000-node policy 105 MiB; 1 GiB
 *    also holds a data.json at the 512 MB bundle entry limit.
 */
export const DEFAULT_BUDGET: Readonly<Budget> = {
  decision: 200_000_000,
  load: 50_000_000_000,
  memoryPages: 16384,
};

/** The budget with defaults filled in; a value that is not a positive integer is a RangeError. */
export function resolveBudget(b: Partial<Budget> | undefined): Budget {
  const out = { ...DEFAULT_BUDGET, ...b };
  for (const k of ["decision", "load"] as const) {
    if (!Number.isSafeInteger(out[k]) || out[k] < 1) throw new RangeError(`budget.${k} must be a positive integer (fuel units), got ${String(out[k])}`);
  }
  if (!Number.isInteger(out.memoryPages) || out.memoryPages < 1 || out.memoryPages > 65536) {
    throw new RangeError(`budget.memoryPages must be an integer from 1 to 65536 (64 KiB pages), got ${String(out.memoryPages)}`);
  }
  return out;
}

/** An evaluation or data load stopped by its budget (fuel or memory). */
export class BudgetExceeded extends Error {
  constructor(
    readonly kind: "fuel" | "memory",
    message: string,
  ) {
    super(message);
    this.name = "BudgetExceeded";
  }
}

// Exception handling's JS API (Node 20 has it; @types/node 20 does not declare it).
type WasmTag = object;
interface WasmException {
  is(tag: WasmTag): boolean;
  getArg(tag: WasmTag, index: number): unknown;
}
const WasmEH = WebAssembly as unknown as { Tag: abstract new () => WasmTag; Exception: abstract new () => WasmException };

interface MeterHandles {
  fuel: WebAssembly.Global;
  outOfFuel: WasmTag;
  outOfMemory: WasmTag;
  badString: WasmTag;
}

/** True for an exception thrown by Wasm code (in a metered module: only the meter throws). */
export const isWasmException = (e: unknown): boolean => e instanceof WasmEH.Exception;

function meterHandles(ex: unknown): MeterHandles | null {
  if (typeof ex !== "object" || ex === null) return null;
  const e = ex as Record<string, unknown>;
  const fuel = e[FUEL_EXPORT];
  const outOfFuel = e[OUT_OF_FUEL_EXPORT];
  const outOfMemory = e[OUT_OF_MEMORY_EXPORT];
  const badString = e[BAD_STRING_EXPORT];
  if (!(fuel instanceof WebAssembly.Global) || !(outOfFuel instanceof WasmEH.Tag) || !(outOfMemory instanceof WasmEH.Tag) || !(badString instanceof WasmEH.Tag)) return null;
  return { fuel, outOfFuel, outOfMemory, badString };
}

const pages = (n: number): string => `${n} pages (${n * PAGE >= 2 ** 30 ? `${n / 16384} GiB` : `${n / 16} MiB`})`;

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

/**
 * Meters `wasm` (./meter.ts) and instantiates it through the SDK's `loadPolicy`, with a memory
 * whose maximum is the memory limit (so the host's own grows are bounded too). The start
 * function and the SDK's setup calls run on `startFuel` (the load budget unless a dry run
 * measured what they need: runtime/load.ts). Throws WaypostRuntimeError:
 * WPR020 (cannot be metered), WPR021 (load budget exceeded while starting), WPR015 (anything
 * else that stops instantiation).
 */
export async function instantiateMetered(wasm: Uint8Array, budget: Budget, startFuel: number = budget.load): Promise<SdkPolicy> {
  const metered = meterWasm(wasm, { initialFuel: startFuel, maxMemoryPages: budget.memoryPages });
  const declared = metered.memoryImport;
  const maximum = Math.min(budget.memoryPages, declared?.max ?? Infinity);
  // The SDK's default is 5 pages; a module that asks for more gets what it declares.
  const initial = Math.min(Math.max(5, declared?.min ?? 0), maximum);
  let sdk: SdkPolicy;
  let builtins: string[];
  try {
    sdk = (await loadPolicy(metered.bytes, { initial, maximum })) as unknown as SdkPolicy;
    builtins = hostBuiltins(sdk);
  } catch (e) {
    // Before the instance exists its tags cannot be told apart; only the meter throws either.
    if (isWasmException(e)) {
      throw runtimeError("WPR021", `policy.wasm exceeded its load budget while starting: more than ${startFuel} fuel units or the memory limit of ${pages(budget.memoryPages)}, or it passed the host an unterminated string`);
    }
    throw runtimeError("WPR015", `policy.wasm could not be instantiated: ${describeThrown(e)}`);
  }
  if (builtins.length > 0) {
    // The SDK implements these in JavaScript (regex.split, sprintf, yaml.*, json.is_valid): no
    // fuel reaches them, and one call can run for minutes (a backtracking pattern).
    throw runtimeError("WPR020", `policy.wasm cannot be metered: it calls host built-in functions (${builtins.map((b) => `\`${b}\``).join(", ")}), which run outside its budget`);
  }
  const ex = (sdk.wasmInstance as { exports: Record<string, unknown> }).exports;
  if (typeof sdk.minorVersion !== "number" || sdk.minorVersion < 2 || !isFn(ex, "opa_eval")) {
    // The SDK drives ABI 1.0/1.1 modules itself and reads each result in a JavaScript loop until
    // a NUL (past the end of memory: forever), where no budget reaches. OPA has emitted 1.2 or later since 2021.
    throw runtimeError("WPR020", `policy.wasm cannot be metered: it does not implement the OPA Wasm ABI 1.2 (\`opa_eval\`), and the SDK's slow path for older modules reads results outside any budget`);
  }
  return sdk;
}

/** The names in the module's `builtins()` table: what it would ask the host to run. */
function hostBuiltins(sdk: SdkPolicy): string[] {
  const inst = sdk.wasmInstance as { exports: Record<string, unknown> };
  const ex = inst.exports;
  const mem = wasmMemory(sdk);
  if (!isFn(ex, "builtins") || !isFn(ex, "opa_json_dump") || mem === null) throw "policy.wasm does not export `builtins` and `opa_json_dump`";
  const addr = (ex.opa_json_dump as (a: number) => number)((ex.builtins as () => number)());
  const u8 = new Uint8Array(mem.buffer);
  const end = u8.indexOf(0, addr);
  if (end < 0) throw "policy.wasm returned an unterminated builtins table";
  const table: unknown = JSON.parse(Buffer.from(u8.buffer, addr, end - addr).toString("utf8"));
  if (typeof table !== "object" || table === null || Array.isArray(table)) throw "policy.wasm returned a malformed builtins table";
  return Object.keys(table);
}

/** Thrown (as the SDK does, a plain string) when `opa_json_parse` refuses the data. */
export const DATA_PARSE_FAILED = "failed to parse json value";

export class AbiPolicy {
  private readonly ex: AbiExports | null;
  private readonly mem: WasmMemory | null;
  /** True when evaluations go straight to `opa_eval`; false: through `policy.evaluate`. */
  readonly fast: boolean;
  /** The module's compact decision calls (`waypost_decide`, `waypost_reason`), when `fast` and it has them. */
  private readonly compactEx: CompactExports | null;
  /** `waypost_decide_rec`, when the module has it (and `compactEx`). */
  private readonly recordEx: RecordExports | null;
  /** callDecide's readers, made once (not a closure per decision). */
  private readonly readTextAt = (at: number): string => this.readText(at);
  private readonly readRecordAt = (at: number): DecisionRecord | string => this.readRecord(at);
  private u8: Uint8Array = new Uint8Array(0);
  private u32: Uint32Array = new Uint32Array(0);
  /**
   * The bytes setData parsed into, [dataLo, dataHi): the module never writes there once the
   * data is loaded, so a record's string there reads the same every time and is decoded once.
   */
  private dataLo = 0;
  private dataHi = 0;
  private dataStrings = new Map<number, string>();
  private buf: Buffer = Buffer.alloc(0);
  /** The metered module's fuel global and tags; null when unmetered (or no budget given). */
  private readonly meter: MeterHandles | null;
  private readonly decisionFuel: bigint = 0n;
  private readonly loadFuel: bigint = 0n;
  /** Fuel granted by the last refill (for `fuelUsed`). */
  private granted = 0n;

  constructor(
    readonly policy: SdkPolicy,
    readonly budget?: Budget,
  ) {
    this.ex = abiExports(policy);
    this.mem = wasmMemory(policy);
    const inst = policy.wasmInstance;
    this.meter = budget && typeof inst === "object" && inst !== null && "exports" in inst ? meterHandles(inst.exports) : null;
    if (budget) {
      this.decisionFuel = BigInt(budget.decision);
      this.loadFuel = BigInt(budget.load);
    }
    const minor = policy.minorVersion;
    this.fast =
      this.ex !== null &&
      this.mem !== null &&
      typeof minor === "number" &&
      minor >= 2 &&
      isFn(this.ex as unknown as Record<string, unknown>, "opa_eval") &&
      typeof policy.dataAddr === "number" &&
      typeof policy.dataHeapPtr === "number";
    const ex = this.ex as unknown as Record<string, unknown> | null;
    this.compactEx = this.fast && ex !== null && isFn(ex, "waypost_decide") && isFn(ex, "waypost_reason") ? (ex as unknown as CompactExports) : null;
    this.recordEx = this.compactEx !== null && isFn(ex!, "waypost_decide_rec") ? (ex as unknown as RecordExports) : null;
    this.refresh();
  }

  /** Whether `decideCompact` and `reasonText` are available (a Waypost module, fast path). */
  get compact(): boolean {
    return this.compactEx !== null;
  }

  /**
   * `waypost/decide` on the JSON text `input`, as the module's compact decision text: the
   * decision itself (no result set), a reason of the plan's reason table written as its index
   * (docs/ir.md "Decision (output)"). On `fuel` (default: the decision budget). Only when `compact`.
   */
  decideCompact(input: string, fuel?: number): string {
    return this.callDecide(this.compactEx!.waypost_decide, input, fuel, this.readTextAt);
  }

  /** Writes `input`, calls `decideExport` (a `waypost_decide` form) on the decision budget or `fuel`, and reads its result at the address it returns. */
  private callDecide<T>(decideExport: (data: number, input: number, inputLen: number, heap: number) => number, input: string, fuel: number | undefined, read: (at: number) => T): T {
    const f = fuel === undefined ? this.decisionFuel : BigInt(fuel);
    this.refill(f);
    try {
      const p = this.policy;
      const base = p.dataHeapPtr as number;
      const len = this.writeInput(input, base);
      return read(decideExport(p.dataAddr as number, base, len, base + len));
    } catch (e) {
      throw this.explain(e, "evaluation", f);
    }
  }

  /** Whether `decideRecord` is available (a module built with the record form). */
  get record(): boolean {
    return this.recordEx !== null;
  }

  /**
   * `decideCompact`'s decision read from its record form (docs/ir.md "Decision (output)"): no
   * JSON written or parsed. The compact JSON text instead when the module gave that (a decision
   * the record cannot carry). Only when `record`. Throws, as `decideCompact`, for a malformed
   * record (out of memory's bounds, an unknown form, a string slot that is not one).
   */
  decideRecord(input: string, fuel?: number): DecisionRecord | string {
    return this.callDecide(this.recordEx!.waypost_decide_rec, input, fuel, this.readRecordAt);
  }

  /** The record (or JSON text) the module wrote at `at`; throws for a malformed one. */
  private readRecord(at: number): DecisionRecord | string {
    if (this.u8.byteLength === 0) this.refresh(); // the module grew memory while evaluating
    const u32 = this.u32;
    const w = at >>> 2;
    if ((at & 3) !== 0 || w + 2 > u32.length) throw "policy.wasm returned a decision record outside its memory";
    const form = u32[w]!;
    if (form === REC_JSON) return this.readText(u32[w + 1]!);
    if (form !== REC_RECORD || w + REC_WORDS > u32.length) throw "policy.wasm returned a malformed decision record";
    const n = u32[w + 16]!;
    if (w + REC_WORDS + n > u32.length) throw "policy.wasm returned a decision record outside its memory";
    if (n > REC_MAX_REASONS) throw `policy.wasm returned a decision record with ${n} reasons (at most ${REC_MAX_REASONS})`;
    let text = 0;
    for (let i = 3; i < 16; i += 2) if (u32[w + i] !== REC_NULL_LEN) text += u32[w + i]!;
    if (text > REC_MAX_TEXT) throw `policy.wasm returned a decision record with ${text} bytes of text (at most ${REC_MAX_TEXT})`;
    const reasons = new Array<number>(n);
    for (let i = 0; i < n; i++) reasons[i] = u32[w + REC_WORDS + i]!;
    return {
      outcome: u32[w + 1]!,
      node: this.recString(u32[w + 2]!, u32[w + 3]!),
      channel: this.recString(u32[w + 4]!, u32[w + 5]!),
      template: this.recString(u32[w + 6]!, u32[w + 7]!),
      offer: this.recString(u32[w + 8]!, u32[w + 9]!),
      variant: this.recString(u32[w + 10]!, u32[w + 11]!),
      send_at: this.recString(u32[w + 12]!, u32[w + 13]!),
      explanation: this.recString(u32[w + 14]!, u32[w + 15]!),
      reasons,
    };
  }

  /** A record's string slot: null, or the UTF-8 text at [ptr, ptr + len), remembered when it is the data's. */
  private recString(ptr: number, len: number): string | null {
    if (len === REC_NULL_LEN) {
      if (ptr !== 0) throw "policy.wasm returned a malformed decision record";
      return null;
    }
    const end = ptr + len;
    if (end > this.u8.byteLength) throw "policy.wasm returned a decision record outside its memory";
    if (ptr < this.dataLo || end > this.dataHi || len >= DATA_STRING_KEY) return this.buf.toString("utf8", ptr, end);
    const key = ptr * DATA_STRING_KEY + len;
    let s = this.dataStrings.get(key);
    if (s === undefined) {
      s = this.buf.toString("utf8", ptr, end);
      if (this.dataStrings.size < DATA_STRINGS_MAX) this.dataStrings.set(key, s);
    }
    return s;
  }

  /**
   * Entry `index` of the loaded plan's reason table as JSON text, or null when there is none;
   * on the decision budget. Call it after the decision that named the index (the text is
   * written above that evaluation's heap). Only when `compact`.
   */
  reasonText(index: number): string | null {
    this.refill(this.decisionFuel);
    try {
      const ret = this.compactEx!.waypost_reason(this.policy.dataAddr as number, index);
      return ret === 0 ? null : this.readText(ret);
    } catch (e) {
      throw this.explain(e, "reading a reason", this.decisionFuel);
    }
  }

  /** Writes `input` as UTF-8 at `base` (growing memory when the worst case does not fit); its length. */
  private writeInput(input: string, base: number): number {
    if (this.u8.byteLength === 0) this.refresh();
    // UTF-8 is at most 3 bytes per UTF-16 unit: grow only when the worst case does not fit.
    const need = base + input.length * 3 - this.u8.byteLength;
    if (need > 0) {
      this.growForInput(Math.ceil(need / PAGE));
      this.refresh();
    }
    return this.buf.write(input, base, "utf8");
  }

  /** The NUL-terminated UTF-8 text the module wrote at `addr`. */
  private readText(addr: number): string {
    if (this.u8.byteLength === 0) this.refresh(); // the module grew memory while evaluating
    const end = this.u8.indexOf(0, addr);
    if (end < 0) throw "policy.wasm returned an unterminated result";
    return this.buf.toString("utf8", addr, end);
  }

  /** Views over the current memory buffer (a `grow`, ours or the module's, detaches the old one). */
  private refresh(): void {
    if (this.mem === null) return;
    const b = this.mem.buffer;
    this.u8 = new Uint8Array(b);
    this.u32 = new Uint32Array(b, 0, b.byteLength >>> 2);
    this.buf = Buffer.from(b);
  }

  /**
   * Loads data.json bytes as the SDK's `setData(ArrayBuffer)` does, without its extra copy, on
   * `fuel` (default: the load budget). Throws `DATA_PARSE_FAILED` when the module refuses the JSON.
   */
  setData(bytes: Uint8Array, fuel?: number): void {
    const f = fuel === undefined ? this.loadFuel : BigInt(fuel);
    this.refill(f);
    try {
      this.setDataUnmetered(bytes);
    } catch (e) {
      throw this.explain(e, "loading data.json", f);
    }
  }

  private setDataUnmetered(bytes: Uint8Array): void {
    const ex = this.ex;
    const p = this.policy;
    // New data: nothing remembered of the old one holds (and until this one is parsed, no range is the data's).
    this.dataStrings = new Map();
    this.dataLo = this.dataHi = 0;
    if (ex === null || this.mem === null || typeof p.baseHeapPtr !== "number") {
      p.setData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      return;
    }
    ex.opa_heap_ptr_set(p.baseHeapPtr);
    this.reserveData(bytes.byteLength);
    const raw = ex.opa_malloc(bytes.byteLength);
    this.refresh();
    this.u8.set(bytes, raw);
    const addr = ex.opa_json_parse(raw, bytes.byteLength);
    if (addr === 0) throw DATA_PARSE_FAILED;
    p.dataAddr = addr;
    p.dataHeapPtr = ex.opa_heap_ptr_get();
    this.dataLo = raw;
    this.dataHi = p.dataHeapPtr as number;
    this.refresh();
  }

  /**
   * Grows memory (from here, before `opa_malloc` runs) to what a bump allocator needs for `len`
   * bytes at the base heap pointer, 8-aligned: the size the Waypost library's own `opa_malloc`
   * grows it to (wasmlib/mem.ts re-reads the size when the host grew it). It depends only on the
   * state instantiation left and `len`, so a dry run and the load here reach the same state and
   * spend the same fuel; the module's own grow and its limit apply to anything beyond. Returns
   * the byte range that is new (zero-filled pages), empty when nothing grew.
   */
  private reserveData(len: number): [number, number] {
    const base = this.policy.baseHeapPtr;
    if (this.mem === null || typeof base !== "number") return [0, 0];
    const have = this.mem.buffer.byteLength;
    const want = Math.ceil((Math.ceil(base / 8) * 8 + len) / PAGE);
    if (want * PAGE <= have) return [have, have];
    try {
      this.mem.grow(want - have / PAGE);
    } catch {
      // Past the memory limit: the module's malloc meets it itself, as without this.
      return [have, have];
    }
    this.refresh();
    return [have, want * PAGE];
  }

  /**
   * Before `setData` with `len` bytes: does its memory reservation now and writes zeros over the
   * new pages (what a grow gives them), so their first-touch page faults are paid here, e.g.
   * while a dry run loads the same data in its worker, rather than in `setData`'s copy. Runs no
   * module code and changes nothing the module can see but what `setData` would do anyway.
   */
  prefaultData(len: number): void {
    const [from, to] = this.reserveData(len);
    if (to > from) this.u8.fill(0, from, to);
  }

  /**
   * Evaluates `entrypoint` on the JSON text `input` (undefined: no input, as the SDK passes
   * falsy inputs) and returns the result set's JSON text, on `fuel` (default: the decision
   * budget). Throws what the module throws. Only when `fast`.
   */
  evaluateText(input: string | undefined, entrypoint: number, fuel?: number): string {
    const f = fuel === undefined ? this.decisionFuel : BigInt(fuel);
    this.refill(f);
    try {
      return this.evaluateTextUnmetered(input, entrypoint);
    } catch (e) {
      throw this.explain(e, "evaluation", f);
    }
  }

  private evaluateTextUnmetered(input: string | undefined, entrypoint: number): string {
    const ex = this.ex!;
    const p = this.policy;
    const base = p.dataHeapPtr as number;
    let len = 0;
    if (input !== undefined) {
      if (this.u8.byteLength === 0) this.refresh();
      // UTF-8 is at most 3 bytes per UTF-16 unit: grow only when the worst case does not fit.
      const need = base + input.length * 3 - this.u8.byteLength;
      if (need > 0) {
        this.growForInput(Math.ceil(need / PAGE));
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
  evaluate(input: string | undefined, entrypoint: number, fuel?: number): unknown {
    if (this.fast) return JSON.parse(this.evaluateText(input, entrypoint, fuel));
    const f = fuel === undefined ? this.decisionFuel : BigInt(fuel);
    this.refill(f);
    try {
      return this.policy.evaluate(input === undefined ? undefined : (enc.encode(input).buffer as ArrayBuffer), entrypoint);
    } catch (e) {
      throw this.explain(e, "evaluation", f);
    }
  }

  /** Fuel spent since the last refill (0 when unmetered): what the last evaluation or load used. */
  fuelUsed(): number {
    if (this.meter === null) return 0;
    return Number(this.granted - (this.meter.fuel.value as bigint));
  }

  /** Size of the module's memory in bytes (0 when the SDK does not expose it). */
  memoryBytes(): number {
    return this.mem === null ? 0 : this.mem.buffer.byteLength;
  }

  /** Fuel left in the module (0 when unmetered): after instantiation, what the start left of its grant. */
  fuelLeft(): number {
    return this.meter === null ? 0 : Number(this.meter.fuel.value as bigint);
  }

  private refill(fuel: bigint): void {
    if (this.meter === null) return;
    this.granted = fuel;
    this.meter.fuel.value = fuel;
  }

  /** The input does not fit: grow (the memory's maximum is the memory limit) or say why not. */
  private growForInput(n: number): void {
    try {
      this.mem!.grow(n);
    } catch (e) {
      if (this.budget && e instanceof RangeError) {
        throw new BudgetExceeded("memory", `the request does not fit within the memory limit of ${pages(this.budget.memoryPages)}`);
      }
      throw e;
    }
  }

  /** A meter tag thrown by the module becomes a BudgetExceeded; anything else is returned as is. */
  private explain(e: unknown, what: string, fuel: bigint): unknown {
    const m = this.meter;
    if (m === null || !(e instanceof WasmEH.Exception)) return e;
    if (e.is(m.outOfFuel)) return new BudgetExceeded("fuel", `${what} exceeded its budget of ${fuel} fuel units`);
    if (e.is(m.outOfMemory)) return new BudgetExceeded("memory", `${what} exceeded the memory limit of ${pages(this.budget!.memoryPages)}`);
    if (e.is(m.badString)) {
      const host = HOST_STRING_IMPORTS[e.getArg(m.badString, 0) as number] ?? "a host function";
      return new Error(`policy.wasm passed an unterminated string to ${host} (no NUL within ${STRING_WINDOW} bytes of its address, inside memory)`);
    }
    return e;
  }
}
