// The runtime's compact decision call (docs/ir.md "Decision (output)"): reasons of the plan's
// reason table come out of the module as indices, which the engine resolves; what a caller sees
// is the decision the interpreter gives, and a bad index fails closed.
import { describe, expect, it } from "vitest";
import { writeBundle } from "../../compiler/bundle.js";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import { decide } from "../../compiler/ir/interpret.js";
import { encodeBundleData } from "../../compiler/ir/reason-table.js";
import { loadBundle, readBundle } from "../../runtime/index.js";
import { AbiPolicy, instantiateMetered, resolveBudget } from "../../runtime/abi.js";
import type { JsonValue } from "../../runtime/json.js";
import { smallIR, smallLists } from "./small-ir.js";

const REV = "rev-compact";
const send = { system: "crm", event: "policy.renewal_due", now: "2026-03-01T10:00:00Z", context: { "customer.id": "C-1", "consent.email": true, "policy.days_left": 90 } };
const quiet = { ...send, now: "2026-03-01T22:30:00Z" };
const badField = { ...send, context: { ...send.context, "customer.ssn": "x" } };

async function bundle(tamper?: (plan: Record<string, unknown>) => void): Promise<Uint8Array> {
  const ir = smallIR();
  const data = encodeBundleData({ plan: ir.plan, lists: smallLists, revision: REV });
  tamper?.(data.plan as Record<string, unknown>);
  return writeBundle({
    wasm: await emitPolicyWasm(ir),
    data: { waypost: data } as unknown as JsonValue,
    manifest: { revision: REV, roots: ["waypost"], wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })), metadata: {} },
  });
}

describe("compact decisions (reasons as reason-table indices)", () => {
  it("a compiled module has the compact calls", async () => {
    const { files } = await readBundle(await bundle(), { skipVerify: true });
    const budget = resolveBudget({});
    const abi = new AbiPolicy(await instantiateMetered(files.get("policy.wasm")!, budget), budget);
    abi.setData(files.get("data.json")!);
    expect(abi.compact).toBe(true);
    const d = JSON.parse(abi.decideCompact(JSON.stringify(send))) as { reasons: unknown[] };
    expect(d.reasons.every((r) => Number.isInteger(r))).toBe(true);
    expect(JSON.parse(abi.reasonText(d.reasons[0] as number)!)).toEqual(smallIR().plan.nodes[0]!.conditions[0]!.reason);
    expect(abi.reasonText(1_000_000)).toBeNull();
  });

  it("a caller sees the interpreter's decision, byte for byte, and its own copies of the reasons", async () => {
    const ir = smallIR();
    const data = { plan: ir.plan, lists: smallLists, revision: REV };
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap" });
    for (const req of [send, quiet, badField, send]) {
      const d = engine.decide(req);
      const { verified: _v, decision_id: _id, ...rest } = d;
      expect(JSON.stringify(rest)).toBe(JSON.stringify(decide(ir, data, req, "waypost/decide")));
      // Changing what was returned changes nothing the engine keeps.
      for (const r of d.reasons) (r as { message: string }).message = "changed";
    }
    expect(engine.decide(send).reasons.map((r) => r.message)).toEqual(["policy renews in 90 days", "email consent given"]);
  });

  it("an index outside the reason table fails closed", async () => {
    const engine = await loadBundle(
      await bundle((plan) => {
        // The node's conditions are a node part, named by its shape (docs/ir.md "Bundle data":
        // member 3 of its row, in the node table).
        const parts = plan.node_parts as unknown[];
        const shape = parts[Number((plan.nodes as string).split("|")[3])] as { conditions: number };
        (parts[shape.conditions] as { reason: number }[])[0]!.reason = 1_000_000;
      }),
      { skipVerify: true, dryRun: "swap" },
    );
    const d = engine.decide(send);
    expect(d.outcome).toBe("deny");
    expect(d.reasons.map((r) => r.code)).toEqual(["runtime-error"]);
    expect(d.reasons[0]!.detail).toMatch(/^policy\.wasm returned an invalid decision: `reasons\[0\]`/);
  });
});
