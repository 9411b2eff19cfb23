/**
 * Metering for `policy.wasm`: a small, strict WebAssembly binary rewriter that makes a bundle
 * unable to stall the thread that serves decisions. A worker hop per decision costs more than a
 * whole decision, so the budget is enforced inside the module, by code injected at load:
 *
 *  - fuel: one mutable i64 global (`__waypost_fuel`, appended, so existing global indices
 *    stay valid). Every function entry and every `loop` header subtracts the number of
 *    instructions of the code it starts (the function body outside its loops; the loop body
 *    outside nested loops): within one call or one iteration control only moves forward, so
 *    each of those instructions runs at most once, and the fuel spent is an upper bound on the
 *    instructions executed, a load or store counting as MEMORY_ACCESS_FUEL. A small function
 *    without loops is paid for where it is called instead of at its entry (see
 *    priceFunctions): same bound, fewer checks. Bulk operations (`memory.copy`/`fill`/`init`, `table.*`) also pay
 *    one unit per 16 bytes or elements they touch, before they run, and a call to an imported
 *    (host) function pays HOST_CALL_FUEL. Below zero, the module throws the tag
 *    `__waypost_out_of_fuel`. Imported functions may only be called directly (not put in a
 *    table or referenced), so every host call is a call site the meter sees;
 *  - memory: every `memory.grow` first checks that the memory would stay within a maximum
 *    number of pages, else throws the tag `__waypost_out_of_memory`;
 *  - host strings: `opa_abort` and `opa_println` make the SDK read a C string in JavaScript
 *    until its NUL; every call goes through an appended wrapper that finds the NUL within
 *    STRING_WINDOW bytes first (paying for them), else throws `__waypost_bad_string`.
 * The tags make a budget stop unmistakable: the module cannot throw or catch them itself
 * (exception-handling instructions are refused), and a caught `WebAssembly.Exception` is
 * known to be ours even while instantiating, before the instance's exports exist.
 *
 * Strict by design: every section and every instruction is decoded (MVP, sign extension,
 * saturating truncation, bulk memory, multi-value and reference types: what the OPA SDK loads
 * and what OPA and our compiler emit); anything else (SIMD, threads, exceptions, tail calls,
 * GC, multiple memories, memory64, unknown sections) is refused with WPR020, because an
 * instruction we cannot decode is an instruction we cannot meter. The code may not name the
 * globals or locals we add (they did not exist in the module it was written for).
 * Custom sections are kept (names stay valid: function indices do not change).
 */
import { runtimeError } from "./errors.js";

/** Export names of what the meter adds. Modules may not export anything under this prefix. */
export const METER_PREFIX = "__waypost_";
export const FUEL_EXPORT = "__waypost_fuel";
export const OUT_OF_FUEL_EXPORT = "__waypost_out_of_fuel";
export const OUT_OF_MEMORY_EXPORT = "__waypost_out_of_memory";
/** Tag thrown (with the index of the import in HOST_STRING_IMPORTS) for an unterminated string. */
export const BAD_STRING_EXPORT = "__waypost_bad_string";

/**
 * Imports to which the module passes a NUL-terminated string: the SDK reads it byte by byte in
 * JavaScript until a NUL, outside any budget (past the end of memory it reads `undefined`
 * forever). Every call goes through a wrapper we append (see emitStringGuard) that first finds
 * the NUL within STRING_WINDOW bytes, inside memory, paying for the bytes it scans.
 */
export const HOST_STRING_IMPORTS = ["opa_abort", "opa_println"] as const;
/** How far a string passed to a HOST_STRING_IMPORTS function may run before its NUL. */
export const STRING_WINDOW = 65536;

/** A Wasm page: 64 KiB. */
export const WASM_PAGE = 65536;
/** The most pages a 32-bit memory can have (4 GiB). */
const MAX_PAGES_32 = 65536;
/** Bulk operations pay one fuel unit per 2^BULK_SHIFT bytes or elements. */
const BULK_SHIFT = 4;
/**
 * What a call to an imported (host) function pays, when it is made: the host's work is not
 * metered, so it is priced like a few microseconds of the tightest metered loop.
 */
export const HOST_CALL_FUEL = 10_000;
/**
 * What a load or store counts for. An access that misses the caches and the TLB takes
 * 100-400 ns where arithmetic takes well under one: priced as one instruction, a loop chasing
 * pointers across a large memory ran at ~70 ns per unit on the reference machine (against
 * ~0.2 ns for a tight arithmetic loop); priced as 64, at ~8 ns. Real policies pay 3-4x
 * more fuel for it (measured), so the same wall-clock bound leaves them far more room.
 */
export const MEMORY_ACCESS_FUEL = 64;

export interface MeterOptions {
  /** The fuel global's initial value: what instantiation (the start function) may spend. */
  initialFuel: number;
  /** The most 64 KiB pages the module's memory may grow to. */
  maxMemoryPages: number;
}

export interface MeteredModule {
  bytes: Uint8Array<ArrayBuffer>;
  /** The imported memory's declared limits (the host creates it), or null when it defines its own. */
  memoryImport: { min: number; max: number | null } | null;
}

const refuse = (why: string): never => {
  throw runtimeError("WPR020", `policy.wasm cannot be metered: ${why}`);
};

const tooLarge = (what: string, pages: number, max: number): never => {
  throw runtimeError("WPR021", `policy.wasm exceeded its load budget: ${what} starts at ${pages} pages, more than the memory limit of ${max} pages`);
};

// ---------------------------------------------------------------------------------------------
// Bytes in, bytes out.

class Reader {
  pos: number;
  constructor(
    readonly b: Uint8Array,
    start = 0,
    readonly end = b.length,
  ) {
    this.pos = start;
  }
  get done(): boolean {
    return this.pos >= this.end;
  }
  u8(): number {
    if (this.pos >= this.end) refuse(`unexpected end of data at byte ${this.pos}`);
    return this.b[this.pos++]!;
  }
  /** Unsigned LEB128 of at most 32 bits, as the spec bounds it (5 bytes, no stray high bits). */
  u32(): number {
    let result = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      if (i === 4 && (byte & 0xf0) !== 0) refuse(`integer too large at byte ${this.pos - 1}`);
      result += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return result;
    }
    return refuse(`integer too long at byte ${this.pos}`);
  }
  /**
   * Signed LEB128 of `bits` bits (32, 33 or 64), with the spec's bounds: at most
   * ceil(bits / 7) bytes, and the unused bits of a last full-length byte repeat the sign.
   * The value is exact for 32 and 33 bits (64-bit immediates are only skipped).
   */
  signed(bits: number): number {
    const max = Math.ceil(bits / 7);
    let result = 0;
    let mul = 1;
    for (let i = 0; i < max; i++) {
      const byte = this.u8();
      result += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) {
        if (i === max - 1) {
          const used = bits - 7 * (max - 1); // value bits in this byte, the sign bit included
          const rest = byte >> (used - 1); // the sign bit and the unused bits above it
          if (rest !== 0 && rest !== 0x7f >> (used - 1)) refuse(`integer too large at byte ${this.pos - 1}`);
        }
        return byte & 0x40 ? result - mul : result;
      }
    }
    return refuse(`integer too long at byte ${this.pos}`);
  }
  skip(n: number): void {
    if (n > this.end - this.pos) refuse(`unexpected end of data at byte ${this.pos}`);
    this.pos += n;
  }
  name(): string {
    const n = this.u32();
    const start = this.pos;
    this.skip(n);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.b.subarray(start, start + n));
    } catch {
      return refuse(`a name at byte ${start} is not UTF-8`);
    }
  }
}

class Writer {
  private buf: Uint8Array<ArrayBuffer> = new Uint8Array(1024);
  length = 0;
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): this {
    this.room(1);
    this.buf[this.length++] = b;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  u32(v: number): this {
    do {
      let byte = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) byte |= 0x80;
      this.byte(byte);
    } while (v !== 0);
    return this;
  }
  /** Signed LEB128 of a safe integer (i64.const immediates). */
  s64(v: number): this {
    let x = BigInt(v);
    for (;;) {
      const byte = Number(x & 0x7fn);
      x >>= 7n;
      if ((x === 0n && (byte & 0x40) === 0) || (x === -1n && (byte & 0x40) !== 0)) return this.byte(byte);
      this.byte(byte | 0x80);
    }
  }
  name(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u32(b.length).bytes(b);
  }
  /** The bytes written so far. */
  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
}

// ---------------------------------------------------------------------------------------------
// Sections.

const SECTION = { custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6, export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12, tag: 13 } as const;
/** Where each known section goes; the tag section sits between memory and global. */
const ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 5.5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 9.5, 10: 10, 11: 11 };
const SECTION_NAMES: Record<number, string> = { 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "data count", 13: "tag" };

interface Section {
  id: number;
  /** Payload bytes (without id and size). */
  body: Uint8Array;
  /** Offset of the payload in the original module (for messages). */
  at: number;
}

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x70, 0x6f]); // i32 i64 f32 f64 funcref externref
const REFTYPES = new Set([0x70, 0x6f]);

function valtype(r: Reader): number {
  const t = r.u8();
  if (t === 0x7b) refuse("SIMD (v128) values are not supported");
  if (!VALTYPES.has(t)) refuse(`unknown value type 0x${t.toString(16)} at byte ${r.pos - 1}`);
  return t;
}

/** Limits of a table or memory: returns [min, max | null]. Shared and 64-bit forms are refused. */
function limits(r: Reader, what: string): [number, number | null] {
  const flag = r.u8();
  if (flag === 0x00) return [r.u32(), null];
  if (flag === 0x01) {
    const min = r.u32();
    return [min, r.u32()];
  }
  if (flag === 0x02 || flag === 0x03) return refuse(`shared ${what} (threads) is not supported`);
  return refuse(`${what} limits flag 0x${flag.toString(16)} (memory64 or unknown) is not supported`);
}

interface ModuleInfo {
  /** Number of params per type index (non-function types are refused). */
  typeParams: number[];
  /** Params and results per type index, as `p:r` with the value type bytes in hex. */
  typeSigs: string[];
  /** Imported functions the SDK reads a C string for: function index -> index in HOST_STRING_IMPORTS. */
  stringImports: Map<number, number>;
  importedFuncTypes: number[];
  funcTypes: number[];
  importedGlobals: number;
  definedGlobals: number;
  memories: number;
  memoryImport: { min: number; max: number | null } | null;
  /** Functions entered other than by a direct call: exported, start, in a table, ref.func'd. */
  entered: Set<number>;
  /** String import's function index -> its wrapper's (appended after the defined functions). */
  wrappers: Map<number, number>;
}

function readTypes(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const form = r.u8();
    if (form !== 0x60) refuse(`type ${i} is not a function type (GC types are not supported)`);
    const params = r.u32();
    let sig = "";
    for (let p = 0; p < params; p++) sig += valtype(r).toString(16);
    sig += ":";
    const results = r.u32();
    for (let p = 0; p < results; p++) sig += valtype(r).toString(16);
    info.typeParams.push(params);
    info.typeSigs.push(sig);
  }
  if (!r.done) refuse("trailing bytes in the type section");
}

function readImports(s: Section, info: ModuleInfo, maxPages: number): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const field = r.name();
    const kind = r.u8();
    switch (kind) {
      case 0x00: {
        const t = r.u32();
        if (t >= info.typeParams.length) refuse(`import \`${module}.${field}\` names type ${t}, which does not exist`);
        const k = module === "env" ? (HOST_STRING_IMPORTS as readonly string[]).indexOf(field) : -1;
        if (k >= 0) {
          // Any other signature hands the SDK an address that is not an integer: it would scan forever.
          if (info.typeSigs[t] !== "7f:") refuse(`import \`${module}.${field}\` must have type (param i32), the SDK's`);
          info.stringImports.set(info.importedFuncTypes.length, k);
        }
        info.importedFuncTypes.push(t);
        break;
      }
      case 0x01: {
        const t = r.u8();
        if (!REFTYPES.has(t)) refuse(`import \`${module}.${field}\` is a table of an unknown type`);
        limits(r, "table");
        break;
      }
      case 0x02: {
        const [min, max] = limits(r, "memory");
        if (min > maxPages) tooLarge("the imported memory", min, maxPages);
        info.memories++;
        info.memoryImport = { min, max };
        break;
      }
      case 0x03:
        valtype(r);
        if (r.u8() > 1) refuse(`import \`${module}.${field}\` is a global with an unknown mutability`);
        info.importedGlobals++;
        break;
      case 0x04:
        refuse("tags (exception handling) are not supported");
        break;
      default:
        refuse(`import \`${module}.${field}\` has an unknown kind 0x${kind.toString(16)}`);
    }
  }
  if (!r.done) refuse("trailing bytes in the import section");
}

function readFunctions(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const t = r.u32();
    if (t >= info.typeParams.length) refuse(`function ${info.importedFuncTypes.length + i} names type ${t}, which does not exist`);
    info.funcTypes.push(t);
  }
  if (!r.done) refuse("trailing bytes in the function section");
}

function readMemories(s: Section, info: ModuleInfo, maxPages: number): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const [min] = limits(r, "memory");
    if (min > maxPages) tooLarge(`memory ${i}`, min, maxPages);
    info.memories++;
  }
  if (!r.done) refuse("trailing bytes in the memory section");
}

function readTables(s: Section): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const t = r.u8();
    if (!REFTYPES.has(t)) refuse(`table ${i} has an unknown element type`);
    limits(r, "table");
  }
  if (!r.done) refuse("trailing bytes in the table section");
}

function readExports(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const name = r.name();
    if (name.startsWith(METER_PREFIX)) refuse(`it exports \`${name}\`, a name reserved for the runtime`);
    const kind = r.u8();
    if (kind > 0x03) refuse(`export \`${name}\` has an unsupported kind 0x${kind.toString(16)}`);
    const idx = r.u32();
    // Our own global must stay unexported under other names: the module may not hand it out.
    if (kind === 0x03 && idx >= info.importedGlobals + info.definedGlobals) refuse(`export \`${name}\` names global ${idx}, which does not exist`);
    if (kind === 0x00 && info.stringImports.has(idx)) refuse(`export \`${name}\` re-exports the host function \`${HOST_STRING_IMPORTS[info.stringImports.get(idx)!]}\``);
    if (kind === 0x00) info.entered.add(idx);
  }
  if (!r.done) refuse("trailing bytes in the export section");
}

/** Counts defined globals, checking their constant expressions name only existing globals. */
function readGlobals(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    valtype(r);
    if (r.u8() > 1) refuse(`global ${i} has an unknown mutability`);
    constExpr(r, info.importedGlobals + i, info);
  }
  info.definedGlobals = n;
  if (!r.done) refuse("trailing bytes in the global section");
}

/**
 * Skips a constant expression (ending in `end`); `globals`: how many globals it may read.
 * A `ref.func` is recorded in `info.entered`; one naming an imported function is refused.
 */
function constExpr(r: Reader, globals: number, info: ModuleInfo): void {
  for (;;) {
    const op = r.u8();
    switch (op) {
      case 0x0b:
        return;
      case 0x41:
        r.signed(32);
        break;
      case 0x42:
        r.signed(64);
        break;
      case 0x43:
        r.skip(4);
        break;
      case 0x44:
        r.skip(8);
        break;
      case 0x23: {
        const g = r.u32();
        if (g >= globals) refuse(`a constant expression reads global ${g}, which it may not`);
        break;
      }
      case 0xd0:
        if (!REFTYPES.has(r.u8())) refuse("ref.null of an unknown type");
        break;
      case 0xd2: {
        const f = r.u32();
        if (f < info.importedFuncTypes.length) refuse("a constant expression references an imported function (host calls must be direct)");
        info.entered.add(f);
        break;
      }
      // extended constant expressions
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break;
      default:
        refuse(`unsupported instruction 0x${op.toString(16)} in a constant expression at byte ${r.pos - 1}`);
    }
  }
}

/** Element and data segments: decoded only to check that their offsets read existing globals. */
function readElements(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const globals = info.importedGlobals + info.definedGlobals;
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags > 7) refuse(`element segment ${i} has unknown flags ${flags}`);
    const passiveOrDeclared = (flags & 1) !== 0;
    const explicitTable = (flags & 2) !== 0;
    const usesExprs = (flags & 4) !== 0;
    if (!passiveOrDeclared) {
      if (explicitTable) r.u32();
      constExpr(r, globals, info);
    }
    if (passiveOrDeclared || explicitTable) {
      const k = r.u8();
      if (usesExprs ? !REFTYPES.has(k) : k !== 0x00) refuse(`element segment ${i} has an unknown element kind`);
    }
    const count = r.u32();
    const imports = info.importedFuncTypes.length;
    for (let j = 0; j < count; j++) {
      if (usesExprs) constExpr(r, globals, info);
      else {
        const f = r.u32();
        if (f < imports) refuse(`element segment ${i} references an imported function (host calls must be direct)`);
        info.entered.add(f);
      }
    }
  }
  if (!r.done) refuse("trailing bytes in the element section");
}

function readData(s: Section, info: ModuleInfo): void {
  const r = new Reader(s.body);
  const globals = info.importedGlobals + info.definedGlobals;
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const flags = r.u32();
    if (flags === 0) constExpr(r, globals, info);
    else if (flags === 2) {
      if (r.u32() !== 0) refuse("data segments for other memories are not supported");
      constExpr(r, globals, info);
    } else if (flags !== 1) refuse(`data segment ${i} has unknown flags ${flags}`);
    r.skip(r.u32());
  }
  if (!r.done) refuse("trailing bytes in the data section");
}

function splitSections(bytes: Uint8Array): Section[] {
  // Not Wasm at all is what WPR015 always said; WPR020 is for modules we cannot meter.
  if (bytes.length < 8 || bytes[0] !== 0x00 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw runtimeError("WPR015", "policy.wasm could not be instantiated: it is not a WebAssembly module");
  }
  if (bytes[4] !== 0x01 || bytes[5] !== 0x00 || bytes[6] !== 0x00 || bytes[7] !== 0x00) refuse("it is not a version 1 WebAssembly module");
  const r = new Reader(bytes, 8);
  const out: Section[] = [];
  let last = 0;
  while (!r.done) {
    const id = r.u8();
    const size = r.u32();
    const at = r.pos;
    r.skip(size);
    const body = bytes.subarray(at, at + size);
    if (id === SECTION.custom) {
      new Reader(body).name(); // a custom section must at least carry a valid name
    } else {
      const rank = ORDER[id];
      if (rank === undefined) refuse(`unknown section id ${id} at byte ${at}`);
      if (rank! <= last) refuse(`the ${SECTION_NAMES[id]} section is out of order or repeated`);
      last = rank!;
    }
    out.push({ id, body, at });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Function bodies.

interface Added {
  fuelGlobal: number;
  outOfFuelTag: number;
  outOfMemoryTag: number;
  badStringTag: number;
  maxPages: number;
}

const enum Site {
  Fuel,
  Grow,
  Bulk,
  Host,
}

interface Insertion {
  at: number;
  site: Site;
  /** Fuel: index of the region whose instruction count it subtracts. */
  region: number;
  /** Host: a call to a string import, redirected to `target` (its wrapper); the call ends at `end`. */
  end?: number;
  target?: number;
}

/**
 * Emits `fuel -= cost; if (fuel < 0) throw out_of_fuel` (stack-neutral). The new value is kept
 * in the function's i64 local `left` for the test instead of read back from the global: one
 * memory load fewer on every function entry and loop iteration (a third of what metering cost
 * a decision).
 */
function emitCharge(w: Writer, a: Added, cost: number, left: number): void {
  w.byte(0x23).u32(a.fuelGlobal); // global.get fuel
  w.byte(0x42).s64(cost); // i64.const cost
  w.byte(0x7d); // i64.sub
  w.byte(0x22).u32(left); // local.tee left
  w.byte(0x24).u32(a.fuelGlobal); // global.set fuel
  w.byte(0x20).u32(left); // local.get left
  emitOutOfFuel(w, a);
}

function emitCheck(w: Writer, a: Added): void {
  w.byte(0x23).u32(a.fuelGlobal); // global.get fuel
  emitOutOfFuel(w, a);
}

/** With the fuel left on the stack: throw out_of_fuel when it is below zero. */
function emitOutOfFuel(w: Writer, a: Added): void {
  w.byte(0x42).byte(0x00); // i64.const 0
  w.byte(0x53); // i64.lt_s
  w.byte(0x04).byte(0x40); // if
  w.byte(0x08).u32(a.outOfFuelTag); // throw out_of_fuel
  w.byte(0x0b); // end
}

/** Before `memory.grow` (delta on the stack): throw out_of_memory when size + delta > max. */
function emitGrowGuard(w: Writer, a: Added, scratch: number): void {
  w.byte(0x22).u32(scratch); // local.tee scratch
  w.byte(0xad); // i64.extend_i32_u
  w.byte(0x3f).byte(0x00); // memory.size
  w.byte(0xad); // i64.extend_i32_u
  w.byte(0x7c); // i64.add
  w.byte(0x42).s64(a.maxPages); // i64.const max
  w.byte(0x56); // i64.gt_u
  w.byte(0x04).byte(0x40); // if
  w.byte(0x08).u32(a.outOfMemoryTag); // throw out_of_memory
  w.byte(0x0b); // end
  w.byte(0x20).u32(scratch); // local.get scratch
}

/**
 * The body of the wrapper of string import `f` (HOST_STRING_IMPORTS[k]), of type (param i32):
 * finds the NUL at or after the address within STRING_WINDOW bytes and before the end of
 * memory, pays MEMORY_ACCESS_FUEL per byte scanned (the SDK reads them again, one by one, in
 * JavaScript), then calls the import; else throws the bad-string tag with `k`. An address of
 * 2 GiB or more is refused too: the SDK sees it as a negative number and would never stop.
 * Bounded by construction (at most STRING_WINDOW iterations), so it is not metered further.
 */
function stringGuardBody(f: number, k: number, a: Added): Uint8Array {
  const w = new Writer();
  const fail = (): void => {
    w.byte(0x04).byte(0x40); // if
    w.byte(0x41).u32(k).byte(0x08).u32(a.badStringTag); // i32.const k; throw bad_string
    w.byte(0x0b); // end
  };
  w.u32(1).u32(3).byte(0x7e); // locals 1 $end, 2 $p, 3 $memBytes: i64
  w.byte(0x20).u32(0).byte(0x41).u32(0).byte(0x48); // addr < 0 (signed)
  fail();
  w.byte(0x20).u32(0).byte(0xad).byte(0x22).u32(2); // p = u64(addr)
  w.byte(0x42).s64(STRING_WINDOW).byte(0x7c).byte(0x21).u32(1); // end = p + window
  w.byte(0x3f).byte(0x00).byte(0xad).byte(0x42).s64(16).byte(0x86).byte(0x21).u32(3); // memBytes
  // end = memBytes < end ? memBytes : end
  w.byte(0x20).u32(3).byte(0x20).u32(1).byte(0x20).u32(3).byte(0x20).u32(1).byte(0x54).byte(0x1b).byte(0x21).u32(1);
  w.byte(0x02).byte(0x40); // block $found
  w.byte(0x03).byte(0x40); // loop $scan
  w.byte(0x20).u32(2).byte(0x20).u32(1).byte(0x5a); // p >= end
  fail();
  w.byte(0x20).u32(2).byte(0xa7).byte(0x2d).u32(0).u32(0).byte(0x45).byte(0x0d).u32(1); // br_if $found (mem[p] == 0)
  w.byte(0x20).u32(2).byte(0x42).s64(1).byte(0x7c).byte(0x21).u32(2); // p++
  w.byte(0x0c).u32(0); // br $scan
  w.byte(0x0b).byte(0x0b); // end loop, end block
  // fuel -= (p - addr + 1) * MEMORY_ACCESS_FUEL
  w.byte(0x23).u32(a.fuelGlobal);
  w.byte(0x20).u32(2).byte(0x20).u32(0).byte(0xad).byte(0x7d).byte(0x42).s64(1).byte(0x7c);
  w.byte(0x42).s64(MEMORY_ACCESS_FUEL).byte(0x7e).byte(0x7d);
  w.byte(0x24).u32(a.fuelGlobal);
  emitCheck(w, a);
  w.byte(0x20).u32(0).byte(0x10).u32(f); // call the import
  w.byte(0x0b);
  return w.finish();
}

/** Before a bulk operation (length on the stack): fuel -= length >> BULK_SHIFT, then check. */
function emitBulkCharge(w: Writer, a: Added, scratch: number): void {
  w.byte(0x21).u32(scratch); // local.set scratch
  w.byte(0x23).u32(a.fuelGlobal); // global.get fuel
  w.byte(0x20).u32(scratch); // local.get scratch
  w.byte(0xad); // i64.extend_i32_u
  w.byte(0x42).s64(BULK_SHIFT); // i64.const shift
  w.byte(0x88); // i64.shr_u
  w.byte(0x7d); // i64.sub
  w.byte(0x24).u32(a.fuelGlobal); // global.set fuel
  emitCheck(w, a);
  w.byte(0x20).u32(scratch); // local.get scratch
}

/** Names the proposal an opcode we refuse belongs to, for the message. */
function unsupported(op: number): string {
  const hex = `0x${op.toString(16)}`;
  if (op === 0xfd) return "SIMD instructions are not supported";
  if (op === 0xfe) return "atomic instructions (threads) are not supported";
  if ((op >= 0x06 && op <= 0x0a) || op === 0x18 || op === 0x19 || op === 0x1f) return `exception-handling instruction ${hex} is not supported`;
  if (op === 0x12 || op === 0x13 || op === 0x15) return `tail call ${hex} is not supported`;
  if (op === 0x14 || (op >= 0xd3 && op <= 0xd6) || op === 0xfb) return `typed function reference or GC instruction ${hex} is not supported`;
  return `unknown instruction ${hex}`;
}

function blockType(r: Reader, types: number): void {
  const b = r.b[r.pos];
  if (b === 0x40) {
    r.pos++;
    return;
  }
  if (b !== undefined && (VALTYPES.has(b) || b === 0x7b)) {
    valtype(r);
    return;
  }
  const t = r.signed(33);
  if (t < 0 || t >= types) refuse(`a block names type ${t}, which does not exist`);
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align >= 0x40) refuse("memory instructions for other memories are not supported");
  r.u32();
}

function zeroByte(r: Reader, what: string): void {
  if (r.u8() !== 0x00) refuse(`${what} for other memories are not supported`);
}

/** What decoding one function body found. */
interface BodyPlan {
  body: Uint8Array;
  /** Locals (params included) before ours: the index of the first we add. */
  locals: number;
  localGroups: number;
  localsEnd: number;
  /** Instructions per region: [0] the body outside loops, then one per loop. */
  regions: number[];
  inserts: Insertion[];
  /** Direct calls to defined functions: [region, callee function index] pairs, flattened. */
  calls: number[];
  hasLoop: boolean;
  hasIndirectCall: boolean;
  scratchNeeded: boolean;
}

/** Decodes one function body (without its size prefix): regions, call sites, insertion points. */
function planBody(body: Uint8Array, params: number, info: ModuleInfo, index: number, referenced: Set<number>): BodyPlan {
  const r = new Reader(body);
  const localGroups = r.u32();
  let locals = params;
  for (let i = 0; i < localGroups; i++) {
    const n = r.u32();
    valtype(r);
    locals += n;
    if (locals > 50000 - 2) refuse(`function ${index} declares too many locals`); // V8's limit, less the two we may add
  }
  const localsEnd = r.pos;
  const globals = info.importedGlobals + info.definedGlobals;
  const types = info.typeParams.length;
  const imports = info.importedFuncTypes.length;
  const funcs = imports + info.funcTypes.length;

  const regions: number[] = [0];
  const inserts: Insertion[] = [{ at: localsEnd, site: Site.Fuel, region: 0 }];
  const calls: number[] = [];
  // Control frames: the region (function or innermost loop) each one's instructions count toward.
  const frames: { region: number; isIf: boolean }[] = [{ region: 0, isIf: false }];
  let scratchNeeded = false;
  let hasIndirectCall = false;

  while (frames.length > 0) {
    if (r.done) refuse(`function ${index} ends inside a block`);
    const at = r.pos;
    const op = r.u8();
    const frame = frames[frames.length - 1]!;
    regions[frame.region]!++;
    switch (op) {
      case 0x00: // unreachable
      case 0x01: // nop
      case 0x0f: // return
      case 0x1a: // drop
      case 0x1b: // select
      case 0xd1: // ref.is_null
        break;
      case 0x02: // block
        blockType(r, types);
        frames.push({ region: frame.region, isIf: false });
        break;
      case 0x04: // if
        blockType(r, types);
        frames.push({ region: frame.region, isIf: true });
        break;
      case 0x03: {
        // loop: its body is a region of its own, charged at the header on every iteration
        blockType(r, types);
        const region = regions.push(0) - 1;
        inserts.push({ at: r.pos, site: Site.Fuel, region });
        frames.push({ region, isIf: false });
        break;
      }
      case 0x05: // else
        if (!frame.isIf) refuse(`function ${index}: \`else\` outside an \`if\` at byte ${at}`);
        frame.isIf = false;
        break;
      case 0x0b: // end
        frames.pop();
        break;
      case 0x0c: // br
      case 0x0d: // br_if
        r.u32();
        break;
      case 0x0e: {
        // br_table
        const n = r.u32();
        for (let i = 0; i <= n; i++) r.u32();
        break;
      }
      case 0x10: {
        // call
        const f = r.u32();
        if (f >= funcs) refuse(`function ${index}: a call to function ${f}, which does not exist`);
        const wrapper = info.wrappers.get(f);
        if (wrapper !== undefined) inserts.push({ at, site: Site.Host, region: 0, end: r.pos, target: wrapper });
        else if (f < imports) inserts.push({ at, site: Site.Host, region: 0 });
        else calls.push(frame.region, f);
        break;
      }
      case 0x11: // call_indirect
        if (r.u32() >= types) refuse(`function ${index}: call_indirect names a type that does not exist`);
        r.u32();
        hasIndirectCall = true;
        break;
      case 0x1c: {
        // select t*
        const n = r.u32();
        for (let i = 0; i < n; i++) valtype(r);
        break;
      }
      case 0x20: // local.get
      case 0x21: // local.set
      case 0x22: // local.tee
        if (r.u32() >= locals) refuse(`function ${index}: a local that does not exist at byte ${at}`);
        break;
      case 0x23: // global.get
      case 0x24: // global.set
        if (r.u32() >= globals) refuse(`function ${index}: a global that does not exist at byte ${at}`);
        break;
      case 0x25: // table.get
      case 0x26: // table.set
        r.u32();
        break;
      case 0x3f: // memory.size
        zeroByte(r, "memory.size");
        break;
      case 0x40: // memory.grow
        zeroByte(r, "memory.grow");
        inserts.push({ at, site: Site.Grow, region: 0 });
        scratchNeeded = true;
        break;
      case 0x41: // i32.const
        r.signed(32);
        break;
      case 0x42: // i64.const
        r.signed(64);
        break;
      case 0x43: // f32.const
        r.skip(4);
        break;
      case 0x44: // f64.const
        r.skip(8);
        break;
      case 0xd0: // ref.null
        if (!REFTYPES.has(r.u8())) refuse(`function ${index}: ref.null of an unknown type`);
        break;
      case 0xd2: {
        // ref.func
        const f = r.u32();
        if (f < imports) refuse(`function ${index} references an imported function (host calls must be direct)`);
        referenced.add(f);
        break;
      }
      case 0xfc: {
        const sub = r.u32();
        if (sub <= 7) break; // saturating truncations
        switch (sub) {
          case 8: // memory.init
            r.u32();
            zeroByte(r, "memory.init");
            break;
          case 9: // data.drop
          case 13: // elem.drop
          case 16: // table.size
            r.u32();
            break;
          case 10: // memory.copy
            zeroByte(r, "memory.copy");
            zeroByte(r, "memory.copy");
            break;
          case 11: // memory.fill
            zeroByte(r, "memory.fill");
            break;
          case 12: // table.init
          case 14: // table.copy
            r.u32();
            r.u32();
            break;
          case 15: // table.grow
          case 17: // table.fill
            r.u32();
            break;
          default:
            refuse(`function ${index}: unsupported instruction 0xfc ${sub} at byte ${at}`);
        }
        if (sub !== 9 && sub !== 13 && sub !== 16) {
          inserts.push({ at, site: Site.Bulk, region: 0 });
          scratchNeeded = true;
        }
        break;
      }
      default:
        if (op >= 0x28 && op <= 0x3e) {
          // loads and stores
          memarg(r);
          regions[frame.region] = regions[frame.region]! + MEMORY_ACCESS_FUEL - 1;
        }
        else if (op >= 0x45 && op <= 0xc4) break; // numeric, including sign extension
        else refuse(`function ${index}: ${unsupported(op)} at byte ${at}`);
    }
  }
  if (!r.done) refuse(`function ${index} has bytes after its final \`end\``);
  return { body, locals, localGroups, localsEnd, regions, inserts, calls, hasLoop: regions.length > 1, hasIndirectCall, scratchNeeded };
}

/** Fuel constants stay far below i64's range, whatever a call tree multiplies up to. */
const FUEL_CAP = 2 ** 60;

/**
 * Prices every region. A call pays for its callee's instructions either at the callee's entry
 * or, for a "static" callee, at the call site: a function without loops or indirect calls, off
 * every call cycle, whose callees are static too, runs at most `total` instructions per call
 * (its own plus its static callees' totals), so the caller's region adds `total` and the
 * callee needs no entry charge. That removes the entry charge from the small hot helpers, the
 * bulk of the metering cost. Functions that can be entered other than by a direct call
 * (exported, start, referenced by a table or ref.func) always charge at entry.
 * Returns, per defined function, the region charges and whether the entry is charged.
 */
function priceFunctions(plans: BodyPlan[], imports: number, entered: Set<number>): { charges: number[][]; entry: boolean[] } {
  const n = plans.length;
  const isStatic = new Array<boolean>(n).fill(false);
  const total = new Array<number>(n).fill(0);
  // Kahn's algorithm over the direct call graph: a candidate becomes static once every
  // defined function it calls is static; candidates on a cycle never do.
  const pending = new Array<number>(n).fill(0);
  const callers: number[][] = Array.from({ length: n }, () => []);
  const candidate = plans.map((p) => !p.hasLoop && !p.hasIndirectCall);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) {
    if (!candidate[i]) continue;
    const callees = new Set<number>();
    const c = plans[i]!.calls;
    for (let k = 1; k < c.length; k += 2) callees.add(c[k]! - imports);
    pending[i] = callees.size;
    for (const g of callees) callers[g]!.push(i);
    if (callees.size === 0) queue.push(i);
  }
  const selfCharged = (g: number): boolean => !isStatic[g] || entered.has(g + imports);
  for (let q = 0; q < queue.length; q++) {
    const f = queue[q]!;
    isStatic[f] = true;
    const p = plans[f]!;
    let t = p.regions[0]!;
    for (let k = 1; k < p.calls.length; k += 2) {
      const g = p.calls[k]! - imports;
      if (!selfCharged(g)) t = Math.min(FUEL_CAP, t + total[g]!);
    }
    total[f] = t;
    for (const c of callers[f]!) {
      pending[c] = pending[c]! - 1;
      if (pending[c] === 0) queue.push(c);
    }
  }
  const charges = plans.map((p) => {
    const out = p.regions.slice();
    for (let k = 0; k < p.calls.length; k += 2) {
      const g = p.calls[k + 1]! - imports;
      if (!selfCharged(g)) out[p.calls[k]!] = Math.min(FUEL_CAP, out[p.calls[k]!]! + total[g]!);
    }
    return out;
  });
  return { charges, entry: plans.map((_, i) => selfCharged(i)) };
}

/** Copies a planned body with the charges and guards inserted. */
function emitBody(p: BodyPlan, charges: number[], chargeEntry: boolean, a: Added): Uint8Array {
  const body = p.body;
  const w = new Writer();
  // Our locals go at the end, so the indices of params and existing locals do not move: the
  // fuel left after a charge (i64), then, when needed, the scratch operand of memory.grow and
  // bulk operations (i32).
  const left = p.locals;
  const scratch = p.locals + 1;
  w.u32(p.localGroups + (p.scratchNeeded ? 2 : 1)).bytes(body.subarray(leb32Length(body), p.localsEnd)).u32(1).byte(0x7e);
  if (p.scratchNeeded) w.u32(1).byte(0x7f);
  let from = p.localsEnd;
  for (const ins of p.inserts) {
    w.bytes(body.subarray(from, ins.at));
    from = ins.at;
    if (ins.site === Site.Fuel) {
      if (ins.region !== 0 || chargeEntry) emitCharge(w, a, charges[ins.region]!, left);
    } else if (ins.site === Site.Host) {
      emitCharge(w, a, HOST_CALL_FUEL, left);
      if (ins.target !== undefined) {
        w.byte(0x10).u32(ins.target); // call the wrapper instead
        from = ins.end!;
      }
    }
    else if (ins.site === Site.Grow) emitGrowGuard(w, a, scratch);
    else emitBulkCharge(w, a, scratch);
  }
  w.bytes(body.subarray(from));
  return w.finish();
}

/** Length in bytes of the u32 LEB128 at the start of `b`. */
function leb32Length(b: Uint8Array): number {
  let i = 0;
  while (b[i]! & 0x80) i++;
  return i + 1;
}

function meterCode(s: Section, info: ModuleInfo, a: Added, entered: Set<number>): Uint8Array {
  const r = new Reader(s.body);
  const n = r.u32();
  if (n !== info.funcTypes.length) refuse(`the code section has ${n} bodies for ${info.funcTypes.length} functions`);
  const imports = info.importedFuncTypes.length;
  const plans: BodyPlan[] = [];
  for (let i = 0; i < n; i++) {
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    plans.push(planBody(s.body.subarray(start, start + size), info.typeParams[info.funcTypes[i]!]!, info, imports + i, entered));
  }
  if (!r.done) refuse("trailing bytes in the code section");
  const { charges, entry } = priceFunctions(plans, imports, entered);
  const w = new Writer().u32(n);
  for (let i = 0; i < n; i++) {
    const out = emitBody(plans[i]!, charges[i]!, entry[i]!, a);
    w.u32(out.length).bytes(out);
  }
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// The module.

/** A section whose payload is a vector: the same vector with `extra` items (already encoded) appended. */
function appendToVector(body: Uint8Array | undefined, extraCount: number, extra: Uint8Array): Uint8Array {
  if (body === undefined) return new Writer().u32(extraCount).bytes(extra).finish();
  const r = new Reader(body);
  const n = r.u32();
  return new Writer()
    .u32(n + extraCount)
    .bytes(body.subarray(r.pos))
    .bytes(extra)
    .finish();
}

/**
 * Returns `bytes` with fuel metering and a memory bound injected, or throws WPR020 when the
 * module cannot be metered. The result exports FUEL_EXPORT (a mutable i64 global, initially
 * `initialFuel`), OUT_OF_FUEL_EXPORT, OUT_OF_MEMORY_EXPORT and BAD_STRING_EXPORT (tags).
 */
export function meterWasm(bytes: Uint8Array, options: MeterOptions): MeteredModule {
  const { initialFuel, maxMemoryPages } = options;
  if (!Number.isSafeInteger(initialFuel) || initialFuel < 0) throw new RangeError("initialFuel must be a non-negative safe integer");
  if (!Number.isInteger(maxMemoryPages) || maxMemoryPages < 1 || maxMemoryPages > MAX_PAGES_32) throw new RangeError(`maxMemoryPages must be an integer from 1 to ${MAX_PAGES_32}`);
  const sections = splitSections(bytes);
  const byId = new Map<number, Section>();
  for (const s of sections) if (s.id !== SECTION.custom) byId.set(s.id, s);
  if (byId.has(SECTION.tag)) refuse("tags (exception handling) are not supported");

  const info: ModuleInfo = {
    typeParams: [],
    importedFuncTypes: [],
    funcTypes: [],
    importedGlobals: 0,
    definedGlobals: 0,
    memories: 0,
    memoryImport: null,
    entered: new Set(),
    typeSigs: [],
    stringImports: new Map(),
    wrappers: new Map(),
  };
  const get = (id: number): Section | undefined => byId.get(id);
  if (get(SECTION.type)) readTypes(get(SECTION.type)!, info);
  if (get(SECTION.import)) readImports(get(SECTION.import)!, info, maxMemoryPages);
  if (get(SECTION.function)) readFunctions(get(SECTION.function)!, info);
  for (const f of info.stringImports.keys()) info.wrappers.set(f, info.importedFuncTypes.length + info.funcTypes.length + info.wrappers.size);
  if (get(SECTION.table)) readTables(get(SECTION.table)!);
  if (get(SECTION.memory)) readMemories(get(SECTION.memory)!, info, maxMemoryPages);
  if (info.memories > 1) refuse("multiple memories are not supported");
  if (get(SECTION.global)) readGlobals(get(SECTION.global)!, info);
  if (get(SECTION.export)) readExports(get(SECTION.export)!, info);
  if (get(SECTION.element)) readElements(get(SECTION.element)!, info);
  if (get(SECTION.data)) readData(get(SECTION.data)!, info);
  if (get(SECTION.start)) {
    const r = new Reader(get(SECTION.start)!.body);
    info.entered.add(r.u32());
    if (!r.done) refuse("trailing bytes in the start section");
  }
  if (!get(SECTION.code) && info.funcTypes.length > 0) refuse("functions are declared but the code section is missing");
  // The SDK reads strings from the memory it created and passed in; the wrappers must scan that one.
  if (info.stringImports.size > 0 && info.memoryImport === null) refuse("it imports `opa_abort` or `opa_println` but not its memory (`env.memory`)");

  const tagType = info.typeParams.length; // appended: () -> ()
  const added: Added = {
    fuelGlobal: info.importedGlobals + info.definedGlobals,
    outOfFuelTag: 0,
    outOfMemoryTag: 1,
    badStringTag: 2,
    maxPages: maxMemoryPages,
  };

  const replaced = new Map<number, Uint8Array>();
  replaced.set(SECTION.type, appendToVector(get(SECTION.type)?.body, 2, Uint8Array.of(0x60, 0x00, 0x00, 0x60, 0x01, 0x7f, 0x00)));
  const tags = new Writer().u32(3).byte(0x00).u32(tagType).byte(0x00).u32(tagType).byte(0x00).u32(tagType + 1).finish();
  replaced.set(SECTION.tag, tags);
  const global = new Writer().byte(0x7e).byte(0x01).byte(0x42).s64(initialFuel).byte(0x0b).finish();
  replaced.set(SECTION.global, appendToVector(get(SECTION.global)?.body, 1, global));
  const exports = new Writer().name(FUEL_EXPORT).byte(0x03).u32(added.fuelGlobal).name(OUT_OF_FUEL_EXPORT).byte(0x04).u32(0).name(OUT_OF_MEMORY_EXPORT).byte(0x04).u32(1).name(BAD_STRING_EXPORT).byte(0x04).u32(2).finish();
  replaced.set(SECTION.export, appendToVector(get(SECTION.export)?.body, 4, exports));
  const code = get(SECTION.code) ? meterCode(get(SECTION.code)!, info, added, info.entered) : undefined;
  if (info.wrappers.size > 0) {
    const types = new Writer();
    const bodies = new Writer();
    for (const f of info.wrappers.keys()) {
      types.u32(info.importedFuncTypes[f]!);
      const body = stringGuardBody(f, info.stringImports.get(f)!, added);
      bodies.u32(body.length).bytes(body);
    }
    replaced.set(SECTION.function, appendToVector(get(SECTION.function)?.body, info.wrappers.size, types.finish()));
    replaced.set(SECTION.code, appendToVector(code, info.wrappers.size, bodies.finish()));
  } else if (code) replaced.set(SECTION.code, code);

  // Original order, replaced payloads in place, new sections before the first that follows them.
  const out = new Writer().bytes(bytes.subarray(0, 8));
  const pending = new Set([...replaced.keys()].filter((id) => !byId.has(id)));
  const emit = (id: number, body: Uint8Array): void => {
    out.byte(id).u32(body.length).bytes(body);
  };
  const flushBefore = (rank: number): void => {
    for (const id of [...pending].sort((x, y) => ORDER[x]! - ORDER[y]!)) {
      if (ORDER[id]! < rank) {
        emit(id, replaced.get(id)!);
        pending.delete(id);
      }
    }
  };
  for (const s of sections) {
    if (s.id !== SECTION.custom) flushBefore(ORDER[s.id]!);
    emit(s.id, replaced.get(s.id) ?? s.body);
  }
  flushBefore(Infinity);
  return { bytes: out.finish(), memoryImport: info.memoryImport };
}
