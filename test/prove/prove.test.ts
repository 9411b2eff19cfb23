import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { FsHost } from "../../compiler/source.js";
import { build } from "../../compiler/build.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import { loadBundle } from "../../runtime/engine.js";
import type { Decision } from "../../runtime/contract.js";
import { consentAtSend, proveRepository, reachability, shutdownSolver, type ProveReport } from "../../lifecycle/prove/index.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import { checkSuites } from "../../lifecycle/testing/check.js";
import { loadSuites } from "../../lifecycle/testing/suite.js";
import { EXAMPLE } from "../support/repo.js";

// z3-solver's Wasm heap is corrupted ("memory access out of bounds") on the encodings of the
// 2026-12-02 decision semantics, which hangs the suite; until issue 11 fixes the encoder these
// run on request only: WAYPOST_PROVE_TESTS=1 npx vitest run test/prove
const PROVE_TESTS = process.env["WAYPOST_PROVE_TESTS"] === "1";

afterAll(() => (PROVE_TESTS ? shutdownSolver() : undefined));

let report: ProveReport;
beforeAll(async () => {
  if (PROVE_TESTS) report = await proveRepository(new FsHost(EXAMPLE), { cadence: false });
}, 600_000);

describe.skipIf(!PROVE_TESTS)("waypost prove on the example repository", () => {
  test("quiet hours (in the customers' IANA zones), high-risk review and the authors' invariants are proved", () => {
    const status = Object.fromEntries(report.results.map((r) => [r.id, r.status]));
    expect(status["quiet-hours"]).toBe("proved");
    expect(status["high-risk"]).toBe("proved");
    for (const id of ["opted-out-and-deceased-get-nothing", "fraud-pauses-discretionary-contact", "claim-updates-only-on-day-3-or-7", "marketing-only-to-adults-without-vulnerability", "vouchers-are-reviewed"]) expect([id, status[id]]).toEqual([id, "proved"]);
    // Every guarantee and every author invariant of tests/ has a result.
    expect(report.results.map((r) => r.id)).toEqual(expect.arrayContaining(["suppression", "consent", "quiet-hours", "holdout", "high-risk", "no-texts-or-pushes-at-night"]));
  });

  test("every refutation replays, independently of the prover, to a violation on the Wasm bundle and the interpreter", async () => {
    const built = await build(new FsHost(EXAMPLE));
    const { program, ir } = built.state;
    const data = built.data!.waypost;
    const loaded = await loadSuites(new FsHost(EXAMPLE));
    const invs = checkSuites(loaded.suites, { program: program!, ir: ir!, lists: data.lists }).invariants;
    const engine = await loadBundle(built.bundle!, { skipVerify: true });
    try {
      for (const r of report.results.filter((x) => x.status === "refuted")) {
        const doc = parse(r.counterexample!.yaml) as { cases: { request: Record<string, unknown> }[] };
        const req = doc.cases[0]!.request as never;
        const inv = [...builtinInvariants({ program: program!, ir: ir!, lists: data.lists }), ...invs].find((i) => i.id === r.invariant)!;
        const check = r.id === "consent" ? (q: never, d: Decision) => consentAtSend(program!, ir!, q, d) : (q: never, d: Decision) => inv.check(q, d);
        expect([r.id, check(req, engine.decide(req) as Decision)]).not.toEqual([r.id, null]);
        expect([r.id, check(req, interpret(ir!, data, req) as unknown as Decision)]).not.toEqual([r.id, null]);
      }
    } finally {
      await engine.close();
    }
  });
});

describe.skipIf(!PROVE_TESTS)("the encoding is faithful, not vacuous", () => {
  test("every node and channel of the example can deliver, and each solver witness replays to exactly that delivery on the Wasm bundle", async () => {
    const built = await build(new FsHost(EXAMPLE));
    const reach = await reachability({ program: built.state.program!, ir: built.state.ir!, data: built.data!.waypost, bundle: built.bundle! });
    const pairs = built.state.ir!.plan.nodes.flatMap((n) => n.channels.map((c) => `${n.id}/${c}`));
    expect(reach.map((r) => `${r.node}/${r.channel}`).sort()).toEqual(pairs.sort());
    for (const r of reach) expect([`${r.node}/${r.channel}`, r.status, r.reason]).toEqual([`${r.node}/${r.channel}`, "reachable", undefined]);
    // The witnesses are ordinary requests: the interpreter agrees with the bundle on each.
    for (const r of reach) {
      const d = interpret(built.state.ir!, built.data!.waypost, r.request) as { node: string; channel: string };
      expect([d.node, d.channel]).toEqual([r.node, r.channel]);
    }
  }, 120_000);
});
