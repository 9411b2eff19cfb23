/**
 * Running a candidate's code at load, in three metered steps: instantiation (the start
 * function and the SDK's setup calls), loading data.json (`opa_json_parse`), and the
 * activation self-check's evaluation of `{}`. The engine runs them on the thread that serves
 * decisions; the dry run (./dry-run.ts) runs the very same function in a worker thread first.
 * Metering is deterministic (the same module, data and calls spend the same fuel), so the fuel
 * each step used in the dry run is exactly what it needs on the serving thread, and the engine
 * grants it no more: the serving thread is held no longer than the dry run proved necessary.
 * The fuel global traps only below zero, so an exact grant is enough: no margin. The steps are
 * also exported one by one (`startLoad`, `finishLoad`) so the engine can run the start step as
 * soon as the dry run has passed it, while the worker is still loading the data.
 *
 * Imports only what the worker needs (no bundle reader, no log): it is the worker's whole load.
 */
import { AbiPolicy, BudgetExceeded, DATA_PARSE_FAILED, instantiateMetered, type Budget } from "./abi.js";
import { describeThrown, runtimeError, WaypostRuntimeError, type ErrorInfo } from "./errors.js";

/** Fuel units per load step: what a step used, or what it is granted. */
export interface LoadFuel {
  /** Instantiation: the start function, the SDK's setup calls and the `builtins()` check. */
  start: number;
  /** Loading data.json. */
  data: number;
  /** The self-check's evaluation of `{}` on entrypoint 0. */
  selfCheck: number;
}

export interface LoadEntrypoints {
  /** Must be entrypoint 0. */
  decide: string;
  /** Entrypoints the manifest names: policy.wasm must export each. */
  named: readonly string[];
}

export interface LoadedModule {
  policy: AbiPolicy;
  entrypoints: Record<string, number>;
  /** The self-check's result set, unchecked (the engine checks it is a well-formed deny). */
  probe: unknown;
  /** What each step used. */
  fuel: LoadFuel;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A load after its first step: instantiated and checked, its data not yet loaded. */
export interface StartedLoad {
  policy: AbiPolicy;
  entrypoints: Record<string, number>;
  /** Fuel the start step used. */
  start: number;
}

/**
 * The first step: instantiates the (verified) `wasm` on `startFuel` (default: the load budget)
 * and checks its entrypoints. Throws WaypostRuntimeError: WPR015, WPR017, WPR020, WPR021.
 */
export async function startLoad(wasm: Uint8Array, eps: LoadEntrypoints, budget: Budget, startFuel: number = budget.load): Promise<StartedLoad> {
  // Metered on the verified bytes: a module that cannot be metered is refused (WPR020).
  const sdk = await instantiateMetered(wasm, budget, startFuel);
  const table = sdk.entrypoints;
  if (!isRecord(table) || !Object.values(table).every((id) => typeof id === "number")) {
    throw runtimeError("WPR017", "policy.wasm reports no entrypoint table");
  }
  const entrypoints = table as Record<string, number>;
  if (entrypoints[eps.decide] !== 0) throw runtimeError("WPR017", `policy.wasm must export \`${eps.decide}\` as entrypoint 0`);
  for (const name of eps.named) {
    if (!(name in entrypoints)) throw runtimeError("WPR017", `the manifest names entrypoint \`${name}\`, which policy.wasm does not export`);
  }
  const policy = new AbiPolicy(sdk, budget);
  return { policy, entrypoints, start: startFuel - policy.fuelLeft() };
}

/**
 * The other steps of a started load: loads `data` and evaluates the self-check, each on
 * `grant`'s fuel for it when given, else the budget (load, then decision). Throws
 * WaypostRuntimeError: WPR009 (data.json refused by the module), WPR015, WPR017, WPR021.
 */
export function finishLoad(started: StartedLoad, data: Uint8Array, grant?: Pick<LoadFuel, "data" | "selfCheck">): LoadedModule {
  const { policy, entrypoints, start } = started;
  try {
    policy.setData(data, grant?.data);
  } catch (e) {
    if (e instanceof BudgetExceeded) throw runtimeError("WPR021", `bundle exceeded its load budget: ${e.message}`);
    if (e === DATA_PARSE_FAILED) throw runtimeError("WPR009", "`data.json` is not valid JSON: policy.wasm could not parse it");
    throw runtimeError("WPR015", `data.json could not be loaded into policy.wasm: ${describeThrown(e)}`);
  }
  const dataFuel = policy.fuelUsed();
  // Self-check: the engine checks that an empty request comes back as a well-formed deny.
  let probe: unknown;
  try {
    probe = policy.evaluate("{}", 0, grant?.selfCheck);
  } catch (e) {
    if (e instanceof BudgetExceeded) throw runtimeError("WPR021", `bundle exceeded its load budget: the activation self-check's ${e.message}`);
    throw runtimeError("WPR017", `policy.wasm failed its self-check: ${describeThrown(e)}`);
  }
  return { policy, entrypoints, probe, fuel: { start, data: dataFuel, selfCheck: policy.fuelUsed() } };
}

/**
 * Instantiates the (verified) `wasm`, loads `data` and evaluates the self-check. Each step gets
 * `grant`'s fuel for it when given (a dry run's measurement), else the budget (load for the
 * first two, decision for the self-check); `onStarted` is told the start step's fuel as soon
 * as it is done. Throws WaypostRuntimeError: WPR015, WPR017, WPR020, WPR021, WPR009
 * (data.json refused by the module).
 */
export async function runLoad(wasm: Uint8Array, data: Uint8Array, eps: LoadEntrypoints, budget: Budget, grant?: LoadFuel, onStarted?: (start: number) => void): Promise<LoadedModule> {
  const started = await startLoad(wasm, eps, budget, grant?.start);
  onStarted?.(started.start);
  return finishLoad(started, data, grant);
}

/** Anything a load throws, as the engine reports it (a WaypostRuntimeError's own code, else WPR016). */
export const loadErrorInfo = (e: unknown): ErrorInfo =>
  e instanceof WaypostRuntimeError ? e.toInfo() : { code: "WPR016", message: describeThrown(e) };
