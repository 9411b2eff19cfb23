/** Planted bugs for the prover's tests: the example's plan, changed, then emitted and bundled. */
import { expect } from "vitest";
import { compile, STAGES, type CompileState } from "../../compiler/pipeline.js";
import { MemoryHost } from "../../compiler/source.js";
import type { IR } from "../../compiler/ir/ir.js";
import type { ProveInput } from "../../lifecycle/prove/index.js";
import { exampleFiles } from "./repo.js";

/** Builds the example, lets `mutate` change the IR, then emits and bundles what it changed. */
export async function planted(mutate: (ir: IR) => void): Promise<ProveInput> {
  const s: CompileState = await compile(new MemoryHost(exampleFiles()), { until: "Plan" });
  expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  mutate(s.ir!);
  for (const name of ["Emit", "Bundle"] as const) await STAGES.find((x) => x.name === name)!.run(s);
  return { program: s.program!, ir: s.ir!, data: s.bundle!.data.waypost, bundle: s.bundle!.bytes };
}
