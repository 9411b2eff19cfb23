/**
 * Every evaluator of the Waypost IR, behind one interface, so that the shared YAML cases
 * (test/cases) and the differential property tests run on all of them (as OPA runs its
 * shared test cases on topdown and on Wasm).
 *
 *  - `interpreter`: the reference interpreter (compiler/ir/interpret.ts), the oracle.
 *  - `wasm`: `emitPolicyWasm(ir)` (compiler/emit/index.ts) loaded with the OPA Wasm SDK.
 *    Skipped, with the reason, only while compiler/emit/index.ts does not exist.
 */
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { decide, type Entrypoint } from "../../compiler/ir/interpret.js";
import type { BundleData, IR, JsonValue } from "../../compiler/ir/ir.js";
import { dataJsonText } from "../../compiler/bundle.js";

export type { Entrypoint };

export type EvaluateFn = (request: unknown, entrypoint: Entrypoint) => Promise<JsonValue>;

export interface Evaluator {
  name: string;
  /** Why the evaluator cannot run in this checkout (checked at test time), or null. */
  unavailable(): string | null;
  prepare(ir: IR, data: BundleData): Promise<EvaluateFn>;
}

export { ENTRYPOINT_IDS as ENTRYPOINTS } from "../../runtime/contract.js";

export const interpreterEvaluator: Evaluator = {
  name: "interpreter",
  unavailable: () => null,
  prepare: async (ir, data) => async (request, entrypoint) => decide(ir, data, request, entrypoint),
};

const EMIT_TS = fileURLToPath(new URL("../../compiler/emit/index.ts", import.meta.url));

type EmitModule = { emitPolicyWasm(ir: IR): Promise<Uint8Array> };

export const wasmEvaluator: Evaluator = {
  name: "wasm",
  unavailable: () =>
    existsSync(EMIT_TS) ? null : "compiler/emit/index.ts does not exist yet: the Wasm backend is not in this checkout",
  prepare: async (ir, data) => {
    // Imported by URL at run time so this file compiles and loads before the backend exists.
    const mod = (await import(/* @vite-ignore */ pathToFileURL(EMIT_TS).href)) as EmitModule;
    const bytes = await mod.emitPolicyWasm(ir);
    const policy = await loadPolicy(bytes);
    // As data.json carries it: canonical JSON (keys sorted), the plan's reasons as indices into
    // its reason table.
    policy.setData(JSON.parse(dataJsonText({ waypost: data })) as object);
    return async (request, entrypoint) => {
      // The SDK serialises the input with JSON.stringify (and skips falsy input entirely).
      const rs: unknown = policy.evaluate(request, entrypoint);
      if (!Array.isArray(rs) || rs.length !== 1) {
        throw new Error(`wasm: expected exactly one result for ${entrypoint}, got ${JSON.stringify(rs)}`);
      }
      const first: unknown = rs[0];
      if (typeof first !== "object" || first === null || !("result" in first)) {
        throw new Error(`wasm: result set entry without "result": ${JSON.stringify(first)}`);
      }
      return (first as { result: JsonValue }).result;
    };
  },
};

/** Every evaluator, the oracle first. */
export const evaluators: readonly Evaluator[] = [interpreterEvaluator, wasmEvaluator];
