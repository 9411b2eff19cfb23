import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FsHost } from "../../compiler/source.js";
import { build } from "../../compiler/build.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import { proveRepository, reachability, shutdownSolver, type ProveReport } from "../../lifecycle/prove/index.js";
import { EXAMPLE } from "../support/repo.js";

afterAll(() => shutdownSolver());

let report: ProveReport;
beforeAll(async () => {
  report = await proveRepository(new FsHost(EXAMPLE), { cadence: false, timeoutMs: 120_000 });
}, 600_000);

describe("waypost prove on the example repository", () => {
  test("every built-in guarantee (quiet hours in the customers' IANA zones included) and every author invariant is proved", () => {
    const status = Object.fromEntries(report.results.map((r) => [r.id, [r.status, r.reason]]));
    for (const id of ["suppression", "consent", "quiet-hours", "holdout", "high-risk", "opted-out-and-deceased-get-nothing", "fraud-pauses-discretionary-contact", "no-texts-or-pushes-at-night", "claim-updates-only-on-day-3-or-7", "marketing-only-to-adults-without-vulnerability", "vouchers-are-reviewed"]) expect([id, status[id]]).toEqual([id, ["proved", undefined]]);
    // Every guarantee and every author invariant of tests/ has a result.
    expect(report.results.map((r) => r.id)).toEqual(expect.arrayContaining(["suppression", "consent", "quiet-hours", "holdout", "high-risk", "no-texts-or-pushes-at-night"]));
  });
});

describe("the encoding is faithful, not vacuous", () => {
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
  }, 600_000);
});
