/** Policies of realistic and extreme size still assemble (wabt parses recursively). */
import { describe, expect, it } from "vitest";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { BundleData, Expr } from "../../compiler/ir/ir.js";
import { AbiPolicy, instantiateMetered, resolveBudget } from "../../runtime/abi.js";
import { fixture } from "./fixture.js";
import { load } from "./helpers.js";

describe("scale", () => {
  it("5,000 conditions and a 2,000-argument and/or dispatch and evaluate correctly", async () => {
    const { ir, data } = fixture();
    const extra: Expr[] = Array.from({ length: 5000 }, (_, i) => ({
      op: "cmp", cmp: "==", left: { op: "const", value: i }, right: { op: "const", value: i },
    }));
    const wide = (op: "and" | "or", last: boolean): Expr => ({
      op, args: [...Array.from({ length: 1999 }, () => ({ op: "const", value: op === "and" } as Expr)), { op: "const", value: last }],
    });
    const conds = [...ir.conds, ...extra, wide("and", true), wide("and", false), wide("or", true), wide("or", false)];
    const n = ir.conds.length;
    // Re-point the fallback node's condition at a chosen condition and check what it sees.
    const probe = async (cond: number): Promise<string> => {
      const nodes = ir.plan.nodes.map((x) => x.id === "fallback" ? { ...x, conditions: [{ kind: "trigger" as const, cond, reason: x.conditions[0]?.reason ?? { code: "ok", policy: "p", message: "m", source: "s" }, fail: { code: "no", policy: "p", message: "m", source: "s" } }] } : x);
      const plan = { ...ir.plan, nodes };
      const l = await load({ plan, conds });
      l.policy.setData({ waypost: { ...data, plan } });
      const rs = l.policy.evaluate({ system: "web", event: "ev", now: "2026-11-25T10:00:00Z", context: {} }) as { result: { outcome: string } }[];
      return rs[0]!.result.outcome;
    };
    expect(await probe(n)).toBe("send");
    expect(await probe(n + 4999)).toBe("send");
    expect(await probe(n + 5000)).toBe("send"); // and(..., true)
    expect(await probe(n + 5001)).toBe("deny"); // and(..., false)
    expect(await probe(n + 5002)).toBe("send"); // or(false..., true)
    expect(await probe(n + 5003)).toBe("deny"); // or(false..., false)
    expect(await probe(n + 5004)).toBe("deny"); // out of range: undefined
  });

  it("constants larger than the SDK's initial 5 pages load (passive segment, memory grown)", async () => {
    const { ir, data } = fixture();
    const big = Array.from({ length: 40_000 }, (_, i) => `value-${i}`);
    const cond: Expr = { op: "in", item: { op: "field", name: "tier" }, set: { op: "const", value: big } };
    const nodes = ir.plan.nodes.map((x) => x.id === "fallback" ? { ...x, conditions: [{ kind: "trigger" as const, cond: ir.conds.length, reason: { code: "ok", policy: "p", message: "m", source: "s" }, fail: { code: "no", policy: "p", message: "m", source: "s" } }] } : x);
    const plan = { ...ir.plan, nodes };
    const l = await load({ plan, conds: [...ir.conds, cond] });
    expect(l.mem.buffer.byteLength).toBeGreaterThan(5 * 65536);
    l.policy.setData({ waypost: { ...data, plan } });
    const ev = (tier: string) => (l.policy.evaluate({ system: "web", event: "ev", now: "2026-11-25T10:00:00Z", context: { tier: "bronze", zz: tier } }) as { result: { outcome: string } }[])[0]!.result.outcome;
    void ev;
    const outcome = (t: unknown) => (l.policy.evaluate({ system: "web", event: "ev", now: "2026-11-25T10:00:00Z", context: { tier: t } }) as { result: { outcome: string } }[])[0]!.result.outcome;
    expect(outcome("bronze")).toBe("deny");
  });

  it("system membership is one hashed lookup: decisions as the interpreter's with 20,000 ids in a system, and fuel per decision independent of their number", async () => {
    const { ir, data } = fixture();
    const wasm = await emitPolicyWasm(ir);
    const budget = resolveBudget({});
    const withIds = (crm: string[]): BundleData => ({ ...data, plan: { ...data.plan, systems: { ...data.plan.systems, crm } } });
    const decoys = Array.from({ length: 20_000 }, (_, i) => `decoy-${i}`);
    const requests = [
      { system: "crm", event: "ev", now: "2026-11-25T10:00:00Z", context: { "customer.id": "C-1", tier: "silver", "consent.sms": true, "consent.email": true } },
      { system: "crm", event: "ev", now: "2026-11-25T10:00:00Z", context: { "customer.id": "C-3", tier: "gold" } },
      { system: "web", event: "ev", now: "2026-11-25T10:00:00Z", context: { "customer.id": "C-1", tier: "silver" } },
    ];
    const fuel: number[] = [];
    // Every node listed; `main` missing among 20,000 others (the next candidate decides); few ids.
    for (const d of [withIds([...decoys, "canary", "fallback", "main", "odd", "vip"]), withIds([...decoys, "canary", "fallback", "odd", "vip"]), withIds(["canary", "fallback", "main", "odd", "vip"])]) {
      const abi = new AbiPolicy(await instantiateMetered(wasm, budget), budget);
      abi.setData(new TextEncoder().encode(JSON.stringify({ waypost: d })));
      for (const input of requests) {
        const text = abi.evaluateText(JSON.stringify(input), 0);
        expect(JSON.parse(text)[0].result).toEqual(interpret({ ...ir, plan: d.plan }, d, input, "waypost/decide"));
      }
      abi.evaluateText(JSON.stringify(requests[0]), 0);
      fuel.push(abi.fuelUsed());
    }
    // A scan of the system's ids would cost thousands of fuel units per id compared.
    expect(Math.abs(fuel[0]! - fuel[2]!)).toBeLessThan(20_000);
  });
});
