/**
 * runtime/meter.ts, the rewriter behind "a bundle can never stall the service" (issue 8, item
 * 3): metered modules compute exactly what the originals compute; fuel is charged at function
 * entries, loop headers, bulk operations and host calls and runs out where it should; memory
 * grows only up to the limit; and whatever the meter cannot account for is refused.
 */
import { describe, expect, it } from "vitest";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { BAD_STRING_EXPORT, FUEL_EXPORT, HOST_CALL_FUEL, MEMORY_ACCESS_FUEL, meterWasm, OUT_OF_FUEL_EXPORT, OUT_OF_MEMORY_EXPORT, STRING_WINDOW } from "../../runtime/meter.js";
import { wat2wasm } from "./runaway-policy.js";

type Exports = Record<string, unknown>;
interface WasmTag { readonly __tag?: never }
interface WasmException { is(tag: WasmTag): boolean; getArg(tag: WasmTag, i: number): unknown }
const EH = WebAssembly as unknown as { Exception: abstract new () => WasmException };

interface Metered {
  exports: Exports;
  call: (name: string, ...args: unknown[]) => unknown;
  fuel: WebAssembly.Global;
  /** Runs `name` with `fuel` and returns [result, fuel spent]. */
  spend: (fuel: number, name: string, ...args: unknown[]) => [unknown, number];
  outOfFuel: WasmTag;
  outOfMemory: WasmTag;
}

async function instantiate(bytes: Uint8Array<ArrayBuffer>, imports: WebAssembly.Imports = {}): Promise<Exports> {
  const { instance } = await WebAssembly.instantiate(bytes, imports);
  return instance.exports as Exports;
}

async function metered(wat: string, o: { fuel?: number; pages?: number; imports?: WebAssembly.Imports } = {}): Promise<Metered> {
  const m = meterWasm(await wat2wasm(wat), { initialFuel: o.fuel ?? 1e12, maxMemoryPages: o.pages ?? 100 });
  expect(WebAssembly.validate(m.bytes)).toBe(true);
  const exports = await instantiate(m.bytes, o.imports);
  const fuel = exports[FUEL_EXPORT] as WebAssembly.Global;
  const call = (name: string, ...args: unknown[]): unknown => (exports[name] as (...a: unknown[]) => unknown)(...args);
  return {
    exports,
    call,
    fuel,
    spend: (f, name, ...args) => {
      fuel.value = BigInt(f);
      const r = call(name, ...args);
      return [r, f - Number(fuel.value as bigint)];
    },
    outOfFuel: exports[OUT_OF_FUEL_EXPORT] as WasmTag,
    outOfMemory: exports[OUT_OF_MEMORY_EXPORT] as WasmTag,
  };
}

/** What `fn` threw: the meter's tag it is, or the error. */
function thrown(m: Metered, fn: () => unknown): "out of fuel" | "out of memory" | unknown {
  try {
    fn();
  } catch (e) {
    if (e instanceof EH.Exception) return e.is(m.outOfFuel) ? "out of fuel" : e.is(m.outOfMemory) ? "out of memory" : e;
    return e;
  }
  return "nothing";
}

const refusal = (fn: () => unknown): { code: string; message: string } => {
  try {
    fn();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error("not refused");
};

const meterRefusal = async (wat: string, pages = 100) => refusal(() => meterWasm(wat2wasmSync(wat), { initialFuel: 1000, maxMemoryPages: pages }));
// wat2wasm is async (wabt loads once); keep the refusal helpers synchronous around it.
let wat2wasmSync: (wat: string) => Uint8Array = () => {
  throw new Error("call prepare() first");
};
async function prepare(...wats: string[]): Promise<void> {
  const built = new Map<string, Uint8Array>();
  for (const w of wats) built.set(w, await wat2wasm(w, false));
  wat2wasmSync = (w) => built.get(w)!;
}

// A module that exercises every instruction family the meter decodes.
const KITCHEN_SINK = `(module
  (import "env" "g" (global $imported i32))
  (import "env" "tick" (func $tick))
  (memory (export "memory") 1 4)
  (table $t 4 funcref)
  (global $counter (mut i32) (i32.const 0))
  (global $started (mut i32) (i32.const 0))
  (global $f (mut f64) (f64.const 1.5))
  (type $binop (func (param i32 i32) (result i32)))
  (elem (table $t) (i32.const 0) func $add $mul)
  (elem $passive func $add)
  (data $seg "hello, metered world")
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $mul (type $binop) (i32.mul (local.get 0) (local.get 1)))
  (func $init (global.set $started (i32.const 42)))
  (start $init)
  (func (export "started") (result i32) (global.get $started))
  (func (export "imported") (result i32) (i32.add (global.get $imported) (global.get $counter)))
  (func (export "fact") (param $n i64) (result i64) (local $acc i64)
    (local.set $acc (i64.const 1))
    (block $done
      (loop $l
        (br_if $done (i64.le_s (local.get $n) (i64.const 1)))
        (local.set $acc (i64.mul (local.get $acc) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $s i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (local.set $s (i32.add (local.get $s) (i32.mul (local.get $i) (local.get $j))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $outer (i32.lt_u (local.get $i) (local.get $n))))
    (local.get $s))
  (func (export "switch") (param $k i32) (result i32)
    (block $c (block $b (block $a (br_table $a $b $c (local.get $k))) (return (i32.const 10))) (return (i32.const 20)))
    (i32.const 30))
  (func (export "multi") (param i32) (result i32 i32)
    (local.get 0)
    (block (param i32) (result i32 i32) (i32.const 7)))
  (func (export "indirect") (param $k i32) (param $a i32) (param $b i32) (result i32)
    (call_indirect (type $binop) (local.get $a) (local.get $b) (local.get $k)))
  (func (export "refs") (result i32)
    (table.set $t (i32.const 2) (ref.func $mul))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (table.fill $t (i32.const 4) (ref.null func) (i32.const 2))
    (table.copy $t $t (i32.const 3) (i32.const 2) (i32.const 1))
    (table.init $t $passive (i32.const 5) (i32.const 0) (i32.const 1))
    (elem.drop $passive)
    (i32.add (i32.add (table.size $t) (ref.is_null (table.get $t (i32.const 4))))
      (call_indirect (type $binop) (i32.const 6) (i32.const 7) (i32.const 3))))
  (func (export "memops") (result i32) (local $p i32)
    (memory.init $seg (i32.const 100) (i32.const 0) (i32.const 20))
    (data.drop $seg)
    (memory.copy (i32.const 200) (i32.const 100) (i32.const 20))
    (memory.fill (i32.const 300) (i32.const 255) (i32.const 8))
    (i64.store (i32.const 400) (i64.const -2))
    (i32.store16 (i32.const 408) (i32.const 0x1234))
    (f32.store (i32.const 412) (f32.const 2.5))
    (f64.store offset=8 align=4 (i32.const 408) (f64.const -0.25))
    (i32.add
      (i32.add (i32.load8_u (i32.const 207)) (i32.load16_s (i32.const 300)))
      (i32.add (i32.wrap_i64 (i64.load32_u (i32.const 400))) (i32.trunc_f32_s (f32.load (i32.const 412))))))
  (func (export "numeric") (param $x f64) (result i32)
    (i32.add
      (i32.add (i32.extend8_s (i32.const 0x80)) (i32.trunc_sat_f64_s (local.get $x)))
      (select (i32.const 1) (i32.const 2) (i32.eqz (i32.const 0)))))
  (func (export "typedSelect") (param i32) (result f64)
    (select (result f64) (global.get $f) (f64.const 9) (local.get 0)))
  (func (export "grow") (param $n i32) (result i32) (memory.grow (local.get $n)))
  (func (export "size") (result i32) (memory.size))
  (func (export "ticks") (param $n i32)
    (loop $l (call $tick) (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
)`;

describe("metered modules compute what the originals compute", () => {
  it("every instruction family, the start function, imported globals and host calls", async () => {
    let ticks = 0;
    const imports = (): WebAssembly.Imports => ({ env: { g: new WebAssembly.Global({ value: "i32", mutable: false }, 5), tick: () => void ticks++ } });
    const plain = await instantiate(await wat2wasm(KITCHEN_SINK), imports());
    const m = await metered(KITCHEN_SINK, { imports: imports() });
    const cases: [string, unknown[]][] = [
      ["started", []],
      ["imported", []],
      ["fact", [20n]],
      ["nested", [13]],
      ["switch", [0]],
      ["switch", [1]],
      ["switch", [2]],
      ["switch", [99]],
      ["multi", [3]],
      ["indirect", [0, 6, 7]],
      ["indirect", [1, 6, 7]],
      ["refs", []],
      ["memops", []],
      ["numeric", [1e300]],
      ["numeric", [-3.7]],
      ["typedSelect", [0]],
      ["typedSelect", [1]],
      ["size", []],
      ["grow", [1]],
      ["size", []],
      ["fib", [15]],
    ];
    for (const [name, args] of cases) {
      const want = (plain[name] as (...a: unknown[]) => unknown)(...args);
      expect(m.call(name, ...args), `${name}(${args.join(", ")})`).toEqual(want);
    }
    ticks = 0;
    m.call("ticks", 5);
    expect(ticks).toBe(5);
    expect(m.fuel.value).toBeGreaterThan(0n);
    expect(m.call("fib", 15)).toBe(610);
  });

  it("keeps custom sections (the name section still names the functions)", async () => {
    const wat = "(module (func $hello (export \"hello\") (result i32) (i32.const 1)))";
    const { default: init } = await import("wabt");
    const wabt = await init();
    const mod = wabt.parseWat("n.wat", wat);
    mod.resolveNames();
    const named = new Uint8Array(mod.toBinary({ write_debug_names: true }).buffer);
    mod.destroy();
    const out = meterWasm(named, { initialFuel: 10, maxMemoryPages: 1 }).bytes;
    expect(WebAssembly.Module.customSections(new WebAssembly.Module(out), "name")).toHaveLength(1);
  });

  it("adds what it adds to a module that has none of it (no types, globals, exports)", async () => {
    const m = await metered("(module)", { fuel: 123 });
    expect(m.fuel.value).toBe(123n);
    expect(Object.keys(m.exports).sort()).toEqual([BAD_STRING_EXPORT, FUEL_EXPORT, OUT_OF_FUEL_EXPORT, OUT_OF_MEMORY_EXPORT].sort());
  });

  it("encodes the largest initial fuel exactly", async () => {
    const m = await metered("(module)", { fuel: Number.MAX_SAFE_INTEGER });
    expect(m.fuel.value).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });
});

describe("fuel", () => {
  const LOOPS = `(module
    (func $leaf (param i32) (result i32)
      ${"(local.set 0 (i32.add (local.get 0) (i32.const 1)))".repeat(25)}
      (local.get 0))
    (func (export "count") (param $n i32) (result i32) (local $i i32)
      (block $d (loop $l
        (br_if $d (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (local.get $i))
    (func (export "callLeaf") (param $n i32) (result i32) (local $s i32)
      (block $d (loop $l
        (br_if $d (i32.eqz (local.get $n)))
        (local.set $s (call $leaf (local.get $s)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
      (local.get $s))
    (func (export "forever") (loop $l (br $l)))
    (func (export "cheap") (result i32) (i32.const 1))
  )`;

  it("every iteration of a loop pays the same, and an upper bound on what it runs", async () => {
    const m = await metered(LOOPS);
    const [, base] = m.spend(1e9, "count", 0);
    const [, ten] = m.spend(1e9, "count", 10);
    const [, twenty] = m.spend(1e9, "count", 20);
    const perIteration = (ten - base) / 10;
    expect(twenty - ten).toBe(10 * perIteration);
    // The loop body has 13 instructions (br_if, the comparison, the increment, br, end...).
    expect(perIteration).toBeGreaterThanOrEqual(10);
    expect(perIteration).toBeLessThan(20);
  });

  it("a call to a function without loops pays for the whole callee at the call site", async () => {
    const m = await metered(LOOPS);
    const [r, one] = m.spend(1e9, "callLeaf", 1);
    expect(r).toBe(25);
    const [, two] = m.spend(1e9, "callLeaf", 2);
    // The leaf runs 25 x 4 instructions (and two more) per call; the iteration pays for them.
    expect(two - one).toBeGreaterThanOrEqual(102);
  });

  it("runs out exactly when the budget is spent, and stays out until refilled", async () => {
    const m = await metered(LOOPS);
    const [, need] = m.spend(1e9, "count", 100);
    expect(m.spend(need, "count", 100)[0]).toBe(100);
    expect(thrown(m, () => m.spend(need - 1, "count", 100))).toBe("out of fuel");
    // Exhaustion is sticky: the next metered call stops at once.
    expect(m.fuel.value as bigint).toBeLessThan(0n);
    expect(thrown(m, () => m.call("cheap"))).toBe("out of fuel");
    m.fuel.value = 1000n;
    expect(m.call("cheap")).toBe(1);
  });

  it("an infinite loop is stopped", async () => {
    const m = await metered(LOOPS);
    expect(thrown(m, () => m.spend(1e7, "forever"))).toBe("out of fuel");
  });

  it("host calls pay HOST_CALL_FUEL each, when they are made", async () => {
    let ticks = 0;
    const wat = `(module (import "env" "tick" (func $tick))
      (func (export "spin") (loop $l (call $tick) (br $l)))
      (func (export "maybe") (param i32) (if (local.get 0) (then (call $tick)))))`;
    const m = await metered(wat, { imports: { env: { tick: () => void ticks++ } } });
    expect(thrown(m, () => m.spend(10 * HOST_CALL_FUEL, "spin"))).toBe("out of fuel");
    expect(ticks).toBeLessThanOrEqual(10);
    expect(ticks).toBeGreaterThanOrEqual(9);
    // Not made, not paid.
    expect(m.spend(1e9, "maybe", 0)[1]).toBeLessThan(HOST_CALL_FUEL);
    expect(m.spend(1e9, "maybe", 1)[1]).toBeGreaterThanOrEqual(HOST_CALL_FUEL);
  });

  it("bulk memory operations pay one unit per 16 bytes, before they run", async () => {
    const wat = `(module (memory 2)
      (func (export "fill") (param $n i32) (memory.fill (i32.const 0) (i32.const 7) (local.get $n)))
      (func (export "at") (param i32) (result i32) (i32.load8_u (local.get 0))))`;
    const m = await metered(wat);
    const [, small] = m.spend(1e9, "fill", 16);
    const [, large] = m.spend(1e9, "fill", 16 * 4096);
    expect(large - small).toBe(4095);
    expect(m.call("at", 65535)).toBe(7);
    // Too little fuel for the fill: stopped before a single byte is written.
    const fresh = await metered(wat);
    expect(thrown(fresh, () => fresh.spend(1000, "fill", 65536))).toBe("out of fuel");
    fresh.fuel.value = 1000n;
    expect(fresh.call("at", 0)).toBe(0);
  });

  it("an exponential tree of calls without loops is paid at the first call", async () => {
    let fields = "(func $f30 (result i32) (i32.const 1))\n";
    for (let i = 29; i >= 0; i--) fields += `(func $f${i} (result i32) (i32.add (call $f${i + 1}) (call $f${i + 1})))\n`;
    const m = await metered(`(module ${fields} (func (export "run") (result i32) (call $f0)))`);
    expect(thrown(m, () => m.spend(1e9, "run"))).toBe("out of fuel");
    expect(Number(m.fuel.value as bigint)).toBeLessThan(-1e9); // charged as a whole, before running
  });

  it("recursion pays at every call", async () => {
    const wat = `(module (func $r (export "r") (param $n i32) (result i32)
      (if (result i32) (i32.eqz (local.get $n)) (then (i32.const 0)) (else (i32.add (i32.const 1) (call $r (i32.sub (local.get $n) (i32.const 1))))))))`;
    const m = await metered(wat);
    const [, a] = m.spend(1e9, "r", 100);
    const [, b] = m.spend(1e9, "r", 200);
    expect(b - a).toBeGreaterThanOrEqual(100 * 5);
  });
});

describe("strings passed to opa_abort and opa_println", () => {
  // What the SDK does with the address: reads bytes until a NUL, forever past the end of memory.
  const HOST = `(module
    (import "env" "memory" (memory 2 4))
    (import "env" "opa_println" (func $println (param i32)))
    (import "env" "other" (func $other (param i32)))
    (import "env" "opa_abort" (func $abort (param i32)))
    (func (export "println") (param i32) (call $println (local.get 0)))
    (func (export "abort") (param i32) (call $abort (local.get 0)))
    (func (export "other") (param i32) (call $other (local.get 0)))
    (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2))))`;

  async function host() {
    const memory = new WebAssembly.Memory({ initial: 2, maximum: 4 });
    const seen: string[] = [];
    const read = (addr: number): string => {
      const u8 = new Uint8Array(memory.buffer);
      const end = u8.indexOf(0, addr);
      if (addr < 0 || end < 0) throw new Error("the host would scan forever");
      return Buffer.from(u8.subarray(addr, end)).toString("latin1");
    };
    const m = await metered(HOST, {
      imports: { env: { memory, opa_println: (a: number) => void seen.push(`println ${read(a)}`), opa_abort: (a: number) => void seen.push(`abort ${read(a)}`), other: (a: number) => void seen.push(`other ${a}`) } },
    });
    const badString = m.exports[BAD_STRING_EXPORT] as WasmTag;
    const which = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        if (e instanceof EH.Exception && e.is(badString)) return ["opa_abort", "opa_println"][e.getArg(badString, 0) as number];
        return e;
      }
      return "nothing";
    };
    const put = (addr: number, s: string): void => void new Uint8Array(memory.buffer).set(Buffer.from(s + "\0", "latin1"), addr);
    return { m, memory, seen, which, put };
  }

  it("a terminated string reaches the host, paying for the bytes scanned", async () => {
    const { m, seen, put } = await host();
    put(100, "hello");
    const [, spent] = m.spend(1e9, "println", 100);
    expect(seen).toEqual(["println hello"]);
    expect(spent).toBeGreaterThanOrEqual(HOST_CALL_FUEL + 6 * MEMORY_ACCESS_FUEL);
    expect(spent).toBeLessThan(HOST_CALL_FUEL + 7 * MEMORY_ACCESS_FUEL + 100);
    put(200, "");
    m.spend(1e9, "abort", 200);
    expect(seen).toEqual(["println hello", "abort "]);
  });

  it("a string without a NUL within the window, or running past memory, never reaches the host", async () => {
    const { m, memory, seen, which, put } = await host();
    const size = memory.buffer.byteLength;
    m.call("fill", 0, 65, size); // memory full of 'A', no NUL anywhere
    expect(which(() => m.call("abort", 0))).toBe("opa_abort");
    expect(which(() => m.call("println", 4096))).toBe("opa_println");
    expect(which(() => m.call("abort", size - 1))).toBe("opa_abort"); // past the end: the SDK would read undefined forever
    expect(which(() => m.call("abort", size))).toBe("opa_abort");
    expect(which(() => m.call("abort", -1))).toBe("opa_abort"); // 4 GiB - 1: negative in JavaScript
    // The window: a NUL at its last byte is found, one further is not.
    put(STRING_WINDOW - 1, "");
    m.call("abort", 0);
    expect(seen).toEqual([`abort ${"A".repeat(STRING_WINDOW - 1)}`]);
    m.call("fill", STRING_WINDOW - 1, 65, 1);
    put(STRING_WINDOW, "");
    expect(which(() => m.call("abort", 0))).toBe("opa_abort");
    expect(seen).toHaveLength(1);
    // Other imports are called as before.
    m.call("other", -1);
    expect(seen).toEqual([seen[0], "other -1"]);
  });

  it("the scan is paid for: a loop printing long strings runs out of fuel", async () => {
    const { m, put } = await host();
    put(0, "x".repeat(STRING_WINDOW - 1));
    const [, spent] = m.spend(1e9, "println", 0);
    expect(spent).toBeGreaterThanOrEqual(STRING_WINDOW * MEMORY_ACCESS_FUEL);
    expect(thrown(m, () => m.spend(STRING_WINDOW * MEMORY_ACCESS_FUEL, "println", 0))).toBe("out of fuel");
  });
});

describe("memory", () => {
  const GROW = `(module (memory (export "memory") 1)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`;

  it("grows up to the limit, and no further", async () => {
    const m = await metered(GROW, { pages: 3 });
    expect(m.call("grow", 1)).toBe(1);
    expect(m.call("grow", 1)).toBe(2);
    expect(thrown(m, () => m.call("grow", 1))).toBe("out of memory");
    expect((m.exports.memory as WebAssembly.Memory).buffer.byteLength).toBe(3 * 65536);
    // A delta that is negative as a signed number is a huge unsigned one: stopped too.
    expect(thrown(m, () => m.call("grow", -1))).toBe("out of memory");
    expect(m.call("grow", 0)).toBe(3);
  });

  it("reports the imported memory's limits and refuses memories that start above the limit", async () => {
    const wat = '(module (import "env" "memory" (memory 3 10)))';
    await prepare(wat, "(module (memory 200))");
    expect(meterWasm(wat2wasmSync(wat), { initialFuel: 1, maxMemoryPages: 5 }).memoryImport).toEqual({ min: 3, max: 10 });
    expect(await meterRefusal("(module (memory 200))", 100)).toEqual({ code: "WPR021", message: "policy.wasm exceeded its load budget: memory 0 starts at 200 pages, more than the memory limit of 100 pages" });
  });
});

describe("what cannot be metered is refused (WPR020)", () => {
  const cases: [string, string, RegExp][] = [
    ["SIMD", "(module (func (drop (v128.const i64x2 0 0))))", /SIMD instructions are not supported/],
    ["atomics", "(module (memory 1 1 shared) (func (drop (i32.atomic.load (i32.const 0)))))", /shared memory \(threads\) is not supported/],
    ["atomics in an unshared module", '(module (import "env" "m" (memory 1)) (func (atomic.fence)))', /atomic instructions \(threads\) are not supported/],
    ["exception handling", "(module (tag $e) (func (throw $e)))", /tags \(exception handling\) are not supported/],
    ["tail calls", "(module (func $f (return_call $f)))", /tail call 0x12 is not supported/],
    ["multiple memories", "(module (memory 1) (memory 1))", /multiple memories are not supported/],
    ["memory64", "(module (memory i64 1))", /memory64 or unknown/],
    ["reserved export names", '(module (global (export "__waypost_fuel") i32 (i32.const 0)))', /exports `__waypost_fuel`, a name reserved for the runtime/],
    ["an imported function in a table", '(module (import "env" "f" (func $f)) (table 1 funcref) (elem (i32.const 0) $f))', /element segment 0 references an imported function/],
    ["a reference to an imported function", '(module (import "env" "f" (func $f)) (func (drop (ref.func $f))))', /function 1 references an imported function/],
    ["opa_abort with another signature (the SDK would read a non-integer address forever)", '(module (import "env" "memory" (memory 1)) (import "env" "opa_abort" (func (param f64))))', /import `env.opa_abort` must have type \(param i32\)/],
    ["opa_println without parameters", '(module (import "env" "memory" (memory 1)) (import "env" "opa_println" (func)))', /import `env.opa_println` must have type \(param i32\)/],
    ["opa_abort re-exported (a call through the export would skip the check)", '(module (import "env" "memory" (memory 1)) (import "env" "opa_abort" (func $a (param i32))) (export "a" (func $a)))', /export `a` re-exports the host function `opa_abort`/],
    ["opa_abort without the SDK's memory (the SDK reads another memory than the module writes)", '(module (import "env" "opa_abort" (func (param i32))) (memory 1))', /imports `opa_abort` or `opa_println` but not its memory/],
    ["a declared reference to an imported function", '(module (import "env" "f" (func $f)) (elem declare func $f) (func (drop (ref.func $f))))', /element segment 0 references an imported function/],
  ];
  it.each(cases)("%s", async (_name, wat, message) => {
    await prepare(wat);
    const r = await meterRefusal(wat);
    expect(r.code).toBe("WPR020");
    expect(r.message).toMatch(message);
  });

  it("a metered module cannot be metered again (it exports the reserved names)", async () => {
    const once = meterWasm(await wat2wasm("(module (func (export \"f\")))"), { initialFuel: 1, maxMemoryPages: 1 }).bytes;
    expect(refusal(() => meterWasm(once, { initialFuel: 1, maxMemoryPages: 1 })).code).toBe("WPR020");
  });
});

describe("malformed modules are refused, never half-metered", () => {
  // Hand-assembled binaries: what a validating assembler would not write.
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
  const module = (...sections: number[][]): Uint8Array => Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...sections.flat()]);
  const oneFunction = (code: number[], locals: number[] = [0]): Uint8Array => {
    const body = [...locals, ...code];
    return module(section(1, [1, 0x60, 0, 0]), section(3, [1, 0]), section(10, [1, ...leb(body.length), ...body]));
  };
  const refused = (bytes: Uint8Array): string => {
    const r = refusal(() => meterWasm(bytes, { initialFuel: 10, maxMemoryPages: 1 }));
    expect(r.code).toBe("WPR020");
    return r.message;
  };

  it("code naming a global the module does not have (it would be the fuel)", () => {
    expect(refused(oneFunction([0x23, 0x00, 0x1a, 0x0b]))).toMatch(/a global that does not exist/);
    expect(refused(oneFunction([0x41, 0x00, 0x24, 0x00, 0x0b]))).toMatch(/a global that does not exist/);
  });

  it("code naming a local the function does not have (it would be the scratch)", () => {
    expect(refused(oneFunction([0x20, 0x00, 0x1a, 0x0b]))).toMatch(/a local that does not exist/);
  });

  it("an export naming a global the module does not have", () => {
    const bytes = module(section(7, [1, 1, 0x61, 0x03, 0x00]));
    expect(refused(bytes)).toMatch(/names global 0, which does not exist/);
  });

  it("unknown opcodes, bytes after the final end, and bodies that end inside a block", () => {
    expect(refused(oneFunction([0xff, 0x0b]))).toMatch(/unknown instruction 0xff/);
    expect(refused(oneFunction([0xfc, 0x12, 0x0b]))).toMatch(/unsupported instruction 0xfc 18/);
    expect(refused(oneFunction([0x0b, 0x01]))).toMatch(/bytes after its final `end`/);
    expect(refused(oneFunction([0x02, 0x40, 0x0b]))).toMatch(/ends inside a block/);
    expect(refused(oneFunction([0x05, 0x0b]))).toMatch(/`else` outside an `if`/);
  });

  it("over-long and out-of-range integers", () => {
    // i32.const with 6 LEB bytes; an unsigned index with stray high bits.
    expect(refused(oneFunction([0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x1a, 0x0b]))).toMatch(/integer too long/);
    expect(refused(oneFunction([0x41, 0x80, 0x80, 0x80, 0x80, 0x70, 0x1a, 0x0b]))).toMatch(/integer too large/);
    expect(refused(module(section(1, [0x80, 0x80, 0x80, 0x80, 0x10])))).toMatch(/integer too large/);
  });

  it("truncated modules, unknown and misordered sections, and counts that disagree", () => {
    expect(refused(oneFunction([0x0b]).subarray(0, 20))).toMatch(/unexpected end/);
    expect(refused(module(section(14, [0])))).toMatch(/unknown section id 14/);
    expect(refused(module(section(3, [0]), section(1, [0])))).toMatch(/type section is out of order/);
    expect(refused(module(section(1, [0]), section(1, [0])))).toMatch(/type section is out of order or repeated/);
    expect(refused(module(section(1, [1, 0x60, 0, 0]), section(3, [2, 0, 0]), section(10, [1, 2, 0, 0x0b])))).toMatch(/1 bodies for 2 functions/);
    expect(refused(module(section(1, [1, 0x5f, 0])))).toMatch(/not a function type/);
  });

  it("what is not Wasm at all stays WPR015", () => {
    const r = refusal(() => meterWasm(new TextEncoder().encode("not wasm"), { initialFuel: 1, maxMemoryPages: 1 }));
    expect(r.code).toBe("WPR015");
  });
});
