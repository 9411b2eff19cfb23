/**
 * Planted bugs: a decision plan that breaks a suppression list's declared scope (what a planner
 * or scope bug would produce) must be refuted, and the counterexample must replay to a violation
 * on both evaluators, checked here independently of the prover.
 */
import { afterAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { compile, STAGES, type CompileState } from "../../compiler/pipeline.js";
import { MemoryHost } from "../../compiler/source.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { IR } from "../../compiler/ir/ir.js";
import { loadBundle } from "../../runtime/engine.js";
import type { Decision } from "../../runtime/contract.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import { prove, shutdownSolver, type ProveInput } from "../../lifecycle/prove/index.js";
import { exampleFiles } from "../support/repo.js";

afterAll(() => shutdownSolver());

/** Builds the example, lets `mutate` change the IR, then emits and bundles what it changed. */
async function planted(mutate: (ir: IR) => void): Promise<ProveInput> {
  const s: CompileState = await compile(new MemoryHost(exampleFiles()), { until: "Plan" });
  expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  mutate(s.ir!);
  for (const name of ["Emit", "Bundle"] as const) await STAGES.find((x) => x.name === name)!.run(s);
  return { program: s.program!, ir: s.ir!, data: s.bundle!.data.waypost, bundle: s.bundle!.bytes };
}

const node = (ir: IR, id: string) => ir.plan.nodes.find((n) => n.id === id)!;
const listOf = (ir: IR, cond: number): string | undefined => {
  const e = ir.conds[cond]!;
  return e.op === "in_list" ? e.list : undefined;
};

async function refutedAndReplayed(input: ProveInput): Promise<{ decision: Decision; request: Record<string, unknown> }> {
  const report = await prove(input);
  const a = report.results.find((r) => r.id === "suppression")!;
  expect(a.status, a.reason).toBe("refuted");
  const cx = a.counterexample!;
  expect(cx.failsTest).toBe(true);
  // The printed case is a PolicyTests document whose request is the counterexample.
  const doc = parse(cx.yaml) as { kind: string; cases: { request: Record<string, unknown>; expect: { invariants: string[] } }[] };
  expect(doc.kind).toBe("PolicyTests");
  expect(doc.cases[0]!.expect.invariants).toEqual(["suppression-respected"]);
  const request = doc.cases[0]!.request;
  expect(request).toEqual(cx.request);
  // Replayed here on both evaluators, independently of the prover.
  const inv = builtinInvariants({ program: input.program, ir: input.ir, lists: input.data.lists }).find((i) => i.id === "suppression-respected")!;
  const engine = await loadBundle(input.bundle, { skipVerify: true });
  const wasm = engine.decide(request) as Decision;
  await engine.close();
  const ref = interpret(input.ir, input.data, request) as unknown as Decision;
  expect(inv.check(request as never, wasm)).not.toBeNull();
  expect(inv.check(request as never, ref)).not.toBeNull();
  expect(wasm.outcome).toBe(ref.outcome);
  return { decision: wasm, request };
}

describe("planted suppression bugs are refuted", () => {
  test("a list gate on the wrong channel (email-opt-out guards push instead of email)", async () => {
    const input = await planted((ir) => {
      const g = node(ir, "cross-sell-home").gates.find((x) => listOf(ir, x.cond) === "email-opt-out")!;
      g.channel = "push";
    });
    const { decision, request } = await refutedAndReplayed(input);
    expect(decision.channel).toBe("email");
    expect(decision.node).toBe("cross-sell-home");
    const hashes = Object.keys(input.data.lists["email-opt-out"]!);
    expect(hashes).toContain((request["context"] as Record<string, unknown>)["customer.email_sha256"]);
  }, 30_000);

  test("a node that lost its bereavement-register gate", async () => {
    const input = await planted((ir) => {
      const n = node(ir, "claim-update-day3");
      n.gates = n.gates.filter((x) => listOf(ir, x.cond) !== "deceased");
    });
    const { decision, request } = await refutedAndReplayed(input);
    expect(decision.node).toBe("claim-update-day3");
    expect(Object.keys(input.data.lists["deceased"]!)).toContain((request["context"] as Record<string, unknown>)["customer.id"]);
  }, 30_000);
});
