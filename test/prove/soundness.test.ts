/**
 * Soundness of `waypost prove` against `waypost test`'s own search, on generated policy sets:
 * the example's plan with a generated bug planted (a suppression gate dropped or moved to another
 * channel, a consent gate dropped, quiet hours narrowed, an experiment's holdout emptied). Where
 * fast-check (the generator `waypost test` uses) finds a request breaking the guarantee, the
 * prover must refute it too, and its counterexample must replay to a violation on the Wasm bundle
 * and the interpreter. Where fast-check finds none, the prover may still refute (it sees every
 * request), but only with a case that replays, or say why it cannot (unknown, with the reason).
 */
import fc from "fast-check";
import { afterAll, describe, expect, test } from "vitest";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { IR } from "../../compiler/ir/ir.js";
import { loadBundle } from "../../runtime/engine.js";
import type { Decision } from "../../runtime/contract.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import { checkInvariant } from "../../lifecycle/testing/property.js";
import { DEFAULT_REF_NOW } from "../../lifecycle/testing/generators.js";
import { consentAtSend, prove, shutdownSolver } from "../../lifecycle/prove/index.js";
import type { TestRequest } from "../../lifecycle/testing/suite.js";
import { planted } from "../support/planted.js";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { EXAMPLE } from "../support/repo.js";

afterAll(() => shutdownSolver());

interface Bug {
  kind: "drop-suppression" | "move-suppression" | "drop-consent" | "narrow-quiet" | "empty-holdout";
  pick: number;
  hours: number;
}
const GUARANTEE: Record<Bug["kind"], [string, string]> = {
  "drop-suppression": ["suppression", "suppression-respected"],
  "move-suppression": ["suppression", "suppression-respected"],
  "drop-consent": ["consent", "consent-respected"],
  "narrow-quiet": ["quiet-hours", "quiet-hours-respected"],
  "empty-holdout": ["holdout", "holdout-no-treatment"],
};

/** Plants the bug; returns what it did, for the failure message. */
function plant(ir: IR, bug: Bug): string {
  const nodes = ir.plan.nodes;
  switch (bug.kind) {
    case "drop-suppression":
    case "move-suppression": {
      const n = nodes[bug.pick % nodes.length]!;
      const gates = n.gates.filter((g) => g.step === "suppression" && ir.conds[g.cond]?.op === "in_list");
      const g = gates[bug.pick % Math.max(1, gates.length)];
      if (!g) return `${n.id}: no list gate`;
      if (bug.kind === "drop-suppression") {
        n.gates = n.gates.filter((x) => x !== g);
        return `${n.id}: dropped ${g.reason.policy}${g.channel ? ` on ${g.channel}` : ""}`;
      }
      const to = n.channels.find((c) => c !== g.channel) ?? "push";
      const from = g.channel;
      g.channel = to;
      return `${n.id}: ${g.reason.policy} moved from ${from ?? "every channel"} to ${to}`;
    }
    case "drop-consent": {
      const withConsent = nodes.filter((n) => n.gates.some((g) => g.step === "consent"));
      const n = withConsent[bug.pick % withConsent.length]!;
      const ch = n.gates.filter((g) => g.step === "consent")[0]!.channel;
      n.gates = n.gates.filter((g) => !(g.step === "consent" && g.channel === ch));
      return `${n.id}: consent gates of ${ch} dropped`;
    }
    case "narrow-quiet":
      for (const q of ir.plan.quiet_hours) q.start_min = (q.start_min + bug.hours * 60) % 1440;
      return `quiet hours start ${bug.hours} h later`;
    case "empty-holdout": {
      const withExperiment = nodes.filter((n) => n.experiment !== null && n.experiment.holdout_bp > 0);
      const n = withExperiment[bug.pick % withExperiment.length]!;
      n.experiment!.holdout_bp = 0;
      return `${n.id}: experiment holds out nobody`;
    }
  }
}

const bugs = fc.record({
  kind: fc.constantFrom<Bug["kind"]>("drop-suppression", "move-suppression", "drop-consent", "narrow-quiet", "empty-holdout"),
  pick: fc.nat({ max: 1000 }),
  hours: fc.integer({ min: 1, max: 3 }),
});

describe("prove refutes what waypost test's generator finds, on generated planted bugs", () => {
  test("every violation fast-check finds is refuted, and every refutation replays on both evaluators", async () => {
    // The example requests seed the generator, as `waypost test` seeds it with the suites' cases.
    const dir = path.join(EXAMPLE, "requests");
    const seeds = readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith(".expected.json")).sort().map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")) as TestRequest);
    let caughtByBoth = 0;
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(bugs, async (bug) => {
        let what = "";
        const input = await planted((ir) => void (what = plant(ir, bug)));
        const [id, invariantId] = GUARANTEE[bug.kind];
        const inv = builtinInvariants({ program: input.program, ir: input.ir, lists: input.data.lists }).find((i) => i.id === invariantId)!;
        const check = id === "consent" ? (req: TestRequest, d: Decision) => consentAtSend(input.program, input.ir, req, d) : (req: TestRequest, d: Decision) => inv.check(req, d);
        const decide = (req: TestRequest): Decision => interpret(input.ir, input.data, req) as unknown as Decision;
        const found = checkInvariant({ ...inv, check }, { ir: input.ir, lists: input.data.lists, refNow: DEFAULT_REF_NOW, seeds }, decide, { seed: 7, runs: 400 });
        const report = await prove(input, { only: [id], timeoutMs: 120_000 });
        const r = report.results.find((x) => x.id === id)!;
        seen.push(`${what}: fast-check ${found.ok ? "none" : "found"}, prove ${r.status}`);
        if (!found.ok) {
          expect([what, r.status, r.reason]).toEqual([what, "refuted", undefined]);
          caughtByBoth++;
        }
        if (r.status === "refuted") {
          const req = r.counterexample!.request;
          const engine = await loadBundle(input.bundle, { skipVerify: true });
          try {
            expect([what, check(req, engine.decide(req) as Decision)]).not.toEqual([what, null]);
          } finally {
            await engine.close();
          }
          expect([what, check(req, decide(req))]).not.toEqual([what, null]);
        } else if (r.status === "unknown") {
          // Allowed only with its reason: e.g. the violation needs a list entry the bundle does
          // not have (a real bug that no concrete request over today's lists shows).
          expect([what, r.reason]).toEqual([what, expect.stringMatching(/^event `[a-z._]+`: /)]);
        }
      }),
      { seed: 11, numRuns: 6 },
    );
    // Not vacuous: some generated bugs were found by both.
    expect([caughtByBoth > 0, seen]).toEqual([true, seen]);
  }, 1_200_000);
});
