/**
 * A bundle can never stall the service (issue 8, item 3). policy.wasm is metered when it is
 * loaded (runtime/meter.ts): a decision that runs out of fuel or memory is a fail-closed deny
 * that says so, and the engine decides the next request normally; a load or swap whose
 * candidate runs out is refused (WPR021) while the active bundle keeps serving; what cannot be
 * metered is refused (WPR020). Each hostile module follows the ABI well enough to load; see
 * runaway-policy.ts. A differential check shows metering changes no real decision.
 *
 * Loads are dry-run first in a worker thread under a deadline (runtime/dry-run.ts): a candidate
 * that would hold a thread longer is refused (WPR022) while decisions go on, one that kills its
 * worker is refused (WPR023), and the real load gets exactly the fuel the dry run measured.
 */
import * as path from "node:path";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { readExamples, type ExampleRequest } from "../../cli/examples.js";
import { build } from "../../compiler/build.js";
import { FsHost } from "../../compiler/source.js";
import { DEFAULT_BUDGET, resolveBudget } from "../../runtime/abi.js";
import { dryRunLoad } from "../../runtime/dry-run.js";
import { finishLoad, runLoad, startLoad, type LoadFuel } from "../../runtime/load.js";
import { STRING_WINDOW } from "../../runtime/meter.js";
import { createEngine, loadBundle, readBundle, type Decision, type Engine, type EngineOptions } from "../../runtime/index.js";
import { EXAMPLE } from "../support/repo.js";
import { bigRequest, bundleOf, runawayBundle, runawayWasm, sendDecision, smallRequest, type RunawayOptions } from "./runaway-policy.js";

const LOOP_FOREVER = "(loop $l (br $l)) (i32.const 0)";

const detail = (d: Decision): string | undefined => (d.reasons.length === 1 && d.reasons[0]!.code === "runtime-error" ? d.reasons[0]!.detail : undefined);

/** Loads a hostile module and checks: `bigRequest` is denied with `reason`, and `smallRequest` still decides `send`. */
async function expectStopped(o: RunawayOptions, reason: RegExp, budget?: EngineOptions["budget"]): Promise<Engine> {
  const engine = await loadBundle(await runawayBundle("rev-hostile", o), { skipVerify: true, ...(budget ? { budget } : {}) });
  expect(engine.decide(smallRequest).outcome).toBe("send");
  for (let i = 0; i < 2; i++) {
    const d = engine.decide(bigRequest);
    expect(d.outcome).toBe("deny");
    expect(detail(d)).toMatch(reason);
    // The engine stays healthy: the next decision is decided, as before.
    const next = engine.decide(smallRequest);
    expect(next.outcome).toBe("send");
    expect(next.reasons).toEqual(sendDecision.reasons);
  }
  return engine;
}

describe("a decision that runs away is denied, and the engine keeps deciding", () => {
  it("opa_eval looping forever is stopped by the default decision budget", async () => {
    await expectStopped({ evalBody: LOOP_FOREVER }, new RegExp(`^evaluation exceeded its budget of ${DEFAULT_BUDGET.decision} fuel units$`));
  });

  it("a loop that calls a function on every iteration (the callee's entry is charged)", async () => {
    await expectStopped(
      {
        evalBody: "(loop $l (drop (call $work (i32.const 1))) (br $l)) (i32.const 0)",
        fields: "(func $work (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))",
      },
      /^evaluation exceeded its budget of 1000000 fuel units$/,
      { decision: 1_000_000 },
    );
  });

  it("an exponential call tree without a single loop (2^40 calls) is priced where it is called", async () => {
    // f0 calls f1 twice, f1 calls f2 twice, ... f39 calls f40 twice: no loop and no cycle, so no
    // function needs an entry charge, but the call site of f0 pays for the whole tree at once.
    let fields = "(func $f40 (result i32) (i32.const 1))\n";
    for (let i = 39; i >= 0; i--) fields += `(func $f${i} (result i32) (i32.add (call $f${i + 1}) (call $f${i + 1})))\n`;
    // The call sits in a loop body that runs once: a region of its own, charged only when reached
    // (in opa_eval's own body it would be charged, upper bound, on every call, the self-check too).
    await expectStopped({ evalBody: "(loop $once (drop (call $f0))) (i32.const 0)", fields }, /^evaluation exceeded its budget of \d+ fuel units$/);
  });

  it("unbounded recursion (a stack overflow in V8) fails closed", async () => {
    await expectStopped(
      { evalBody: "(call $down (i32.const 0))", fields: "(func $down (param i32) (result i32) (call $down (i32.add (local.get 0) (i32.const 1))))" },
      /^evaluation failed: .*call stack/i,
    );
  });

  it("memory.grow without bound is stopped at the memory limit", async () => {
    const grow = "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) (i32.const 0)";
    await expectStopped({ evalBody: grow }, /^evaluation exceeded the memory limit of 64 pages \(4 MiB\)$/, { memoryPages: 64 });
    // One grow past the default limit (1 GiB) in a single instruction.
    await expectStopped({ evalBody: "(drop (memory.grow (i32.const 60000))) (i32.const 0)" }, /^evaluation exceeded the memory limit of 16384 pages \(1 GiB\)$/);
  });

  it("bulk memory operations pay for the bytes they touch", async () => {
    // One instruction per iteration, but each fills 64 KiB (above the module's static data):
    // 4,096 units, so 1,000,000 units last about 240 iterations.
    const fill = "(loop $l (memory.fill (i32.const 4096) (i32.const 0) (i32.const 65536)) (br $l)) (i32.const 0)";
    await expectStopped({ evalBody: fill }, /^evaluation exceeded its budget of 1000000 fuel units$/, { decision: 1_000_000 });
  });

  it("engine.evaluate (other entrypoints) reports the budget too", async () => {
    const engine = await loadBundle(await runawayBundle("rev-eval", { evalBody: LOOP_FOREVER }), { skipVerify: true, budget: { decision: 100_000 } });
    expect(engine.evaluate("waypost/suppressed", bigRequest)).toEqual({ ok: false, error: "evaluation exceeded its budget of 100000 fuel units", revision: "rev-eval" });
    expect(engine.evaluate("waypost/suppressed", smallRequest)).toMatchObject({ ok: true, value: sendDecision });
  });

  it("refuses budgets that are not positive integers", () => {
    expect(() => createEngine({ budget: { decision: 0 } })).toThrow(RangeError);
    expect(() => createEngine({ budget: { load: 1.5 } })).toThrow(RangeError);
    expect(() => createEngine({ budget: { memoryPages: 65537 } })).toThrow(RangeError);
  });
});

describe("strings the module passes to the host's opa_abort and opa_println are bounded", () => {
  // The SDK reads them byte by byte in JavaScript until a NUL, where no fuel reaches: a memory
  // without one held the serving thread forever. Fill from 64 KiB up (the answers' static
  // strings sit below), so the module still answers afterwards.
  const FILL_HIGH = "(memory.fill (i32.const 65536) (i32.const 65) (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 65536)))";
  const STATIC_STRING = '(data (i32.const 60000) "policy says no\\00")';

  it("opa_abort on a memory without a NUL (the reported reproduction) fails closed and says why", async () => {
    const engine = await loadBundle(
      await runawayBundle("rev-abort", { evalBody: "(memory.fill (i32.const 0) (i32.const 65) (i32.mul (memory.size) (i32.const 65536))) (call $abort (i32.const 0)) (i32.const 0)" }),
      { skipVerify: true },
    );
    const d = engine.decide(bigRequest);
    expect(d.outcome).toBe("deny");
    expect(detail(d)).toBe(`evaluation failed: policy.wasm passed an unterminated string to opa_abort (no NUL within ${STRING_WINDOW} bytes of its address, inside memory)`);
    // That body overwrote the module's own answers too: the engine still answers, closed.
    expect(engine.decide(smallRequest).outcome).toBe("deny");
  });

  it("the same, leaving the module's answers intact: the next decision is decided normally", async () => {
    await expectStopped({ evalBody: `${FILL_HIGH} (call $abort (i32.const 65536)) (i32.const 0)` }, /^evaluation failed: policy\.wasm passed an unterminated string to opa_abort \(/);
    // An address past the end of memory (the SDK would read `undefined` forever) or at 2 GiB and above (negative in JavaScript).
    await expectStopped({ evalBody: "(call $abort (i32.mul (memory.size) (i32.const 65536))) (i32.const 0)" }, /unterminated string to opa_abort/);
    await expectStopped({ evalBody: "(call $abort (i32.const -8)) (i32.const 0)" }, /unterminated string to opa_abort/);
  });

  it("opa_println on a memory without a NUL fails closed the same way", async () => {
    await expectStopped({ evalBody: `${FILL_HIGH} (call $println (i32.const 65536)) (i32.const 0)` }, /^evaluation failed: policy\.wasm passed an unterminated string to opa_println \(/);
  });

  it("opa_abort with a terminated string aborts as before: deny with the policy's message", async () => {
    await expectStopped({ evalBody: "(call $abort (i32.const 60000)) (i32.const 0)", fields: STATIC_STRING }, /^evaluation failed: policy says no$/);
  });

  it("opa_println with a terminated string prints it and the decision goes on", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      const engine = await loadBundle(await runawayBundle("rev-print", { evalPrologue: "(call $println (i32.const 60000))", fields: STATIC_STRING }), { skipVerify: true });
      log.mockClear();
      expect(engine.decide(bigRequest)).toMatchObject({ outcome: "send", reasons: sendDecision.reasons });
      expect(log).toHaveBeenCalledWith("policy says no");
    } finally {
      log.mockRestore();
    }
  });
});

describe("a candidate that runs away while loading is refused; the active bundle keeps serving", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await loadBundle(await runawayBundle("rev-good"), { skipVerify: true, budget: { load: 50_000_000 } });
  });

  const refusedSwap = async (o: RunawayOptions, message: RegExp, code = "WPR021"): Promise<void> => {
    const bundle = await runawayBundle("rev-bad", o);
    const r = await engine.swap(bundle);
    expect(r).toMatchObject({ activated: false, revision: "rev-good", error: { code } });
    if (!r.activated) expect(r.error.message).toMatch(message);
    expect(engine.revision).toBe("rev-good");
    expect(engine.decide(smallRequest)).toMatchObject({ outcome: "send", revision: "rev-good" });
    // loadBundle refuses it the same way (no last good bundle to fall back to).
    await expect(loadBundle(bundle, { skipVerify: true, budget: { load: 50_000_000 } })).rejects.toMatchObject({ code });
  };

  it("opa_json_parse looping forever on data.json", async () => {
    await refusedSwap({ parseBody: LOOP_FOREVER }, /^bundle exceeded its load budget: loading data\.json exceeded its budget of 50000000 fuel units$/);
  });

  it("a start function looping forever", async () => {
    await refusedSwap({ start: "(loop $l (br $l))" }, /^policy\.wasm exceeded its load budget while starting/);
  });

  it("a start function growing memory past the limit", async () => {
    await refusedSwap({ start: "(drop (memory.grow (i32.const 20000)))" }, /^policy\.wasm exceeded its load budget while starting/);
  });

  it("a self-check that loops (the probe gets the decision budget)", async () => {
    await refusedSwap({ evalPrologue: "(loop $l (br $l))" }, /^bundle exceeded its load budget: the activation self-check's evaluation exceeded its budget of \d+ fuel units$/);
  });

  it("a memory that starts above the limit", async () => {
    await refusedSwap({ memory: "20000" }, /imported memory starts at 20000 pages, more than the memory limit of 16384 pages/);
  });

  it("host built-in functions (JavaScript, outside the budget) are refused", async () => {
    await refusedSwap({ builtins: JSON.stringify({ "regex.split": 0 }) }, /host built-in functions \(`regex\.split`\)/, "WPR020");
  });

  it("instructions the meter does not know are refused", async () => {
    await refusedSwap({ evalBody: "(drop (v128.const i32x4 0 0 0 0)) (i32.const 0)" }, /cannot be metered: function \d+: SIMD instructions are not supported/, "WPR020");
  });

  it("a module for the ABI before 1.2 (no opa_eval: the SDK's slow path reads results outside any budget) is refused", async () => {
    await refusedSwap({ abiMinor: 1 }, /does not implement the OPA Wasm ABI 1\.2/, "WPR020");
  });

  it("a module exporting the meter's reserved names is refused", async () => {
    await refusedSwap({ extraGlobalExports: ["__waypost_fuel"] }, /exports `__waypost_fuel`, a name reserved for the runtime/, "WPR020");
  });
});

/** Start function that fills the module's memory without a NUL: the OPA SDK's JavaScript then scans for one forever. */
const NO_NUL_START = "(memory.fill (i32.const 0) (i32.const 65) (i32.mul (memory.size) (i32.const 65536)))";
/**
 * Start function that makes `builtins()` point at 1,000,000 nested arrays (`[[[...]]]`, 2 MB of
 * text): the SDK's JSON.parse of it needs ~60 MB of JavaScript heap, many small objects.
 */
const DEEP_JSON_START = `(memory.fill (i32.const 1024) (i32.const 91) (i32.const 1000000))
  (memory.fill (i32.const 1001024) (i32.const 93) (i32.const 1000000))
  (i32.store8 (i32.const 2001024) (i32.const 0))`;

describe("a candidate's load is dry-run in a worker under a deadline; decisions go on meanwhile", () => {
  // Budgets this thread could not exhaust within any test: only the deadline stops these loads
  // (had they run here, the test would hang).
  const endless = { load: Number.MAX_SAFE_INTEGER, decision: Number.MAX_SAFE_INTEGER };
  let engine: Engine;
  beforeAll(async () => {
    engine = await loadBundle(await runawayBundle("rev-good"), { skipVerify: true, budget: endless, loadDeadlineMs: 300 });
  });

  const refusedByDeadline = async (o: RunawayOptions): Promise<void> => {
    const pending = engine.swap(await runawayBundle("rev-bad", o));
    let settled = false;
    void pending.finally(() => (settled = true));
    const answered: Decision[] = [];
    while (!settled) {
      await new Promise((r) => setTimeout(r, 10));
      answered.push(engine.decide(smallRequest));
    }
    const r = await pending;
    expect(r).toMatchObject({ activated: false, revision: "rev-good", error: { code: "WPR022" } });
    if (!r.activated) expect(r.error.message).toMatch(/^bundle load exceeded its deadline of 300 ms: /);
    // This thread was never held: decisions went on throughout, from the active bundle.
    expect(answered.length).toBeGreaterThan(1);
    for (const d of answered) expect(d).toMatchObject({ outcome: "send", revision: "rev-good" });
    expect(engine.revision).toBe("rev-good");
  };

  it("a start function looping forever", async () => {
    await refusedByDeadline({ start: "(loop $l (br $l))" });
  });

  it("opa_json_parse looping forever on data.json", async () => {
    await refusedByDeadline({ parseBody: LOOP_FOREVER });
  });

  it("a self-check that loops", async () => {
    await refusedByDeadline({ evalPrologue: "(loop $l (br $l))" });
  });

  it("a module that makes the SDK's own JavaScript loop (no fuel is spent there)", async () => {
    await refusedByDeadline({ start: NO_NUL_START });
  });

  it("a first load is dry-run too (the default)", async () => {
    const bundle = await runawayBundle("rev-first", { start: NO_NUL_START });
    await expect(loadBundle(bundle, { skipVerify: true, loadDeadlineMs: 300 })).rejects.toMatchObject({ code: "WPR022" });
    // createEngine + swap (how watchStore starts): the engine already answers (deny) meanwhile.
    const fresh = createEngine({ skipVerify: true, loadDeadlineMs: 300 });
    const r = await fresh.swap(bundle);
    expect(r).toMatchObject({ activated: false, revision: null, error: { code: "WPR022" } });
    expect(fresh.decide(smallRequest).outcome).toBe("deny");
  });

  it("a good candidate is activated, with the fuel the dry run measured", async () => {
    // The default deadline: a busy machine must not refuse a good bundle here.
    const patient = await loadBundle(await runawayBundle("rev-good"), { skipVerify: true, budget: endless });
    const r = await patient.swap(await runawayBundle("rev-next"));
    expect(r).toEqual({ activated: true, revision: "rev-next", previous: "rev-good" });
    expect(patient.decide(smallRequest)).toMatchObject({ outcome: "send", revision: "rev-next" });
    // A refusal in the dry run is the one the load would meet here, with the same message.
    const bad = await patient.swap(await runawayBundle("rev-bad", { parseBody: "(i32.const 0)" }));
    expect(bad).toMatchObject({ activated: false, revision: "rev-next", error: { code: "WPR009", message: "`data.json` is not valid JSON: policy.wasm could not parse it" } });
  });

  it("a worker that runs out of memory refuses the candidate (WPR023); the next swap gets a new worker", async () => {
    const small = await loadBundle(await runawayBundle("rev-a"), { skipVerify: true, dryRunHeapMb: 32 });
    const r = await small.swap(await runawayBundle("rev-oom", { start: DEEP_JSON_START, memory: "64" }));
    expect(r).toEqual({ activated: false, revision: "rev-a", error: { code: "WPR023", message: "bundle load dry run ran out of memory (worker heap limit 32 MiB)" } });
    expect(small.decide(smallRequest)).toMatchObject({ outcome: "send", revision: "rev-a" });
    expect(await small.swap(await runawayBundle("rev-b"))).toMatchObject({ activated: true, revision: "rev-b" });
  });

  it("refuses deadlines and heap limits that are not positive", () => {
    expect(() => createEngine({ loadDeadlineMs: 0 })).toThrow(RangeError);
    expect(() => createEngine({ loadDeadlineMs: Number.NaN })).toThrow(RangeError);
    expect(() => createEngine({ dryRunHeapMb: 0.5 })).toThrow(RangeError);
    expect(() => createEngine({ dryRun: "never" as never })).toThrow(RangeError);
  });
});

describe("metering changes no real decision", () => {
  let examples: ExampleRequest[];
  let sdk: Awaited<ReturnType<typeof loadPolicy>>;
  let bundle: Uint8Array;
  let engine: Engine;

  beforeAll(async () => {
    const built = await build(new FsHost(EXAMPLE));
    expect(built.state.diagnostics).toEqual([]);
    bundle = built.bundle!;
    examples = await readExamples(path.join(EXAMPLE, "requests"));
    engine = await loadBundle(bundle, { skipVerify: true });
    // Unmetered: the bare SDK on the module exactly as it is in the bundle.
    const { files } = await readBundle(bundle, { skipVerify: true });
    sdk = await loadPolicy(files.get("policy.wasm")!);
    sdk.setData(JSON.parse(new TextDecoder().decode(files.get("data.json")!)));
  });

  const unmetered = (request: unknown): unknown => (sdk.evaluate(request, "waypost/decide") as { result: unknown }[])[0]!.result;
  const metered = (e: Engine, request: unknown): unknown => {
    // decision_id and verified are the runtime's own fields, not the module's.
    const { decision_id: _id, verified: _v, ...rest } = e.decide(request) as unknown as Record<string, unknown>;
    return rest;
  };

  it("every example request decides identically, metered and unmetered", () => {
    expect(examples.length).toBeGreaterThan(10);
    for (const ex of examples) expect(metered(engine, ex.request), ex.name).toEqual(unmetered(ex.request));
    for (const ep of ["waypost/suppressed", "waypost/consent"]) {
      for (const ex of examples) {
        const r = engine.evaluate(ep, ex.request);
        expect(r.ok, ex.name).toBe(true);
        expect(r.ok && r.value, ex.name).toEqual((sdk.evaluate(ex.request, ep) as { result: unknown }[])[0]!.result);
      }
    }
  });

  it("a real decision stopped by a small budget leaves the module ready for the next one", async () => {
    // 1,000 history entries (a ~90 KB request) take about 20 M units; the examples take at
    // most about 1.2 M.
    const small = await loadBundle(bundle, { skipVerify: true, budget: { decision: 5_000_000 } });
    const heavy = structuredClone(examples.find((e) => e.name.startsWith("crosssell-send"))!.request) as Record<string, unknown>;
    heavy.history = Array.from({ length: 1_000 }, (_, i) => ({ at: `2026-10-${String(1 + (i % 28)).padStart(2, "0")}T09:00:00Z`, channel: "email", purpose: "claims", node: "claim-update-day3" }));
    for (const ex of examples) {
      expect(detail(small.decide(heavy))).toBe("evaluation exceeded its budget of 5000000 fuel units");
      expect(metered(small, ex.request), ex.name).toEqual(unmetered(ex.request));
    }
    // The default budget decides the heavy request as the unmetered module does.
    expect(metered(engine, heavy)).toEqual(unmetered(heavy));
  });

  it("the self-check and data load of the example fit far inside the default budgets", async () => {
    // Budgets 100x (load) and 20x (decision) smaller than the defaults still load the example
    // bundle and decide every example as before.
    const tight = await loadBundle(bundle, { skipVerify: true, budget: { load: DEFAULT_BUDGET.load / 100, decision: DEFAULT_BUDGET.decision / 20 } });
    for (const ex of examples) expect(metered(tight, ex.request), ex.name).toEqual(unmetered(ex.request));
  });

  it("the load here gets exactly the fuel its dry run used: one unit less on any step is refused", async () => {
    const { wasm, dataBytes } = await readBundle(bundle, { skipVerify: true });
    const eps = { decide: "waypost/decide", named: ["waypost/suppressed", "waypost/consent"] };
    const budget = resolveBudget({});
    const measured = await runLoad(wasm, dataBytes, eps, budget);
    const fuel = measured.fuel;
    for (const step of ["start", "data", "selfCheck"] as const) expect(fuel[step]).toBeGreaterThan(0);
    // In a worker, the same steps spend the same fuel (metering is deterministic).
    expect(await dryRunLoad({ wasm, data: dataBytes, entrypoints: eps, budget }, { deadlineMs: 30_000, heapMb: 256 })).toEqual({ ok: true, fuel });
    const exact = await runLoad(wasm, dataBytes, eps, budget, fuel);
    expect(exact.fuel).toEqual(fuel);
    expect(exact.probe).toEqual(measured.probe);
    for (const step of ["start", "data", "selfCheck"] as const) {
      const grant: LoadFuel = { ...fuel, [step]: fuel[step] - 1 };
      await expect(runLoad(wasm, dataBytes, eps, budget, grant), step).rejects.toMatchObject({ code: "WPR021" });
    }
  });

  it("a dry run lent the bundle's buffer hands the same bytes back, and the load goes on with them", async () => {
    const { wasm, dataBytes } = await readBundle(bundle, { skipVerify: true });
    const eps = { decide: "waypost/decide", named: ["waypost/suppressed", "waypost/consent"] };
    const budget = resolveBudget({});
    const before = { wasm: Buffer.from(wasm), data: Buffer.from(dataBytes) };
    const { fuel } = await runLoad(wasm, dataBytes, eps, budget);
    const r = await dryRunLoad({ wasm, data: dataBytes, entrypoints: eps, budget }, { deadlineMs: 30_000, heapMb: 256, lend: true });
    // Lent, not copied: the views here are detached until the worker hands the buffer back.
    expect(wasm.byteLength).toBe(0);
    expect(r).toMatchObject({ ok: true, fuel });
    const lent = r.ok ? r.lent! : null;
    expect(Buffer.from(lent!.wasm).equals(before.wasm) && Buffer.from(lent!.data).equals(before.data)).toBe(true);
    expect((await runLoad(lent!.wasm, lent!.data, eps, budget, fuel)).fuel).toEqual(fuel);
    // A buffer that cannot be transferred (Node's Buffer pool) is copied instead, and stays here.
    const pooled = Buffer.from(before.wasm.subarray(0, 8));
    const small = await dryRunLoad({ wasm: before.wasm, data: pooled, entrypoints: eps, budget }, { deadlineMs: 30_000, heapMb: 256, lend: true });
    // Refused by the module's parse (eight bytes of Wasm are not JSON), not for want of a transfer.
    expect(small).toMatchObject({ ok: false, error: { code: "WPR009" } });
    expect(pooled.byteLength).toBe(8);
  });

  it("the worker reports the start step first; a load started on that grant and prefaulted ends as the dry run did", async () => {
    const { wasm, dataBytes: json } = await readBundle(bundle, { skipVerify: true });
    // 1 MiB of trailing spaces: the data's memory has to grow, so the prefault has pages to touch.
    const dataBytes = Buffer.concat([json, Buffer.alloc(1 << 20, 0x20)]);
    const eps = { decide: "waypost/decide", named: ["waypost/suppressed", "waypost/consent"] };
    const budget = resolveBudget({});
    const plain = await runLoad(wasm, dataBytes, eps, budget);
    const reports: number[] = [];
    const r = await dryRunLoad({ wasm, data: dataBytes, entrypoints: eps, budget }, { deadlineMs: 30_000, heapMb: 256, onStarted: (start) => reports.push(start) });
    expect(r).toEqual({ ok: true, fuel: plain.fuel });
    expect(reports).toEqual([plain.fuel.start]);
    // The engine's order: the start step on its grant, the data's memory touched, then the rest.
    const started = await startLoad(wasm, eps, budget, reports[0]);
    const before = started.policy.memoryBytes();
    started.policy.prefaultData(dataBytes.byteLength);
    expect(started.policy.memoryBytes()).toBeGreaterThan(before);
    const staged = finishLoad(started, dataBytes, plain.fuel);
    expect(staged.fuel).toEqual(plain.fuel);
    expect(staged.probe).toEqual(plain.probe);
    expect(staged.policy.memoryBytes()).toBe(plain.policy.memoryBytes());
  });

  it("the example bundle swaps in through its dry run and decides as before", async () => {
    const r = await engine.swap(bundle);
    expect(r).toMatchObject({ activated: true });
    for (const ex of examples) expect(metered(engine, ex.request), ex.name).toEqual(unmetered(ex.request));
  });

  it("a data.json the module refuses is still WPR009, not a budget error", async () => {
    const wasm = await runawayWasm({ parseBody: "(i32.const 0)" });
    await expect(loadBundle(await bundleOf(wasm, "rev-x"), { skipVerify: true })).rejects.toMatchObject({ code: "WPR009" });
  });
});
