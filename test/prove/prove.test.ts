import { afterAll, describe, expect, test } from "vitest";
import { FsHost } from "../../compiler/source.js";
import { build } from "../../compiler/build.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import { proveRepository, reachability, shutdownSolver } from "../../lifecycle/prove/index.js";
import { EXAMPLE } from "../support/repo.js";

afterAll(() => shutdownSolver());

describe("waypost prove on the example repository", () => {
  test("guarantee (a): suppression lists hold for every request", async () => {
    const report = await proveRepository(new FsHost(EXAMPLE));
    const a = report.results.find((r) => r.id === "suppression")!;
    expect([a.status, a.reason]).toEqual(["proved", undefined]);
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
  }, 60_000);
});
