/**
 * The plan slot tables (wasmlib/engine.ts planIndex): built while opa_json_parse parses
 * a data value holding a plan, used only while that same data is evaluated. Every case is
 * checked against the reference interpreter.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { decide as interpret, type Entrypoint } from "../../compiler/ir/interpret.js";
import type { BundleData } from "../../compiler/ir/ir.js";
import { fixture, r } from "./fixture.js";
import { evalSlow, load, type Loaded } from "./helpers.js";

const { ir, data } = fixture();
let l: Loaded;
beforeAll(async () => {
  l = await load(ir);
});

const NOW = "2026-11-25T10:00:00Z";
const req = (context: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  system: "crm", event: "ev", now: NOW, context, ...extra,
});
const REQS = [
  req({ "customer.id": "C-1", tier: "silver", "consent.sms": true, "consent.email": true }),
  req({ "customer.id": "C-2", tier: "silver", "consent.sms": false, "consent.email": false }),
  req({ "customer.id": "C-OPT", tier: "silver", "consent.sms": true }),
  req({ "customer.id": "C-3", tier: "gold" }),
  req({ tier: "bronze", age: 130, score: -1.5, tags: [], nums: [1, 2.5], opened: "2026-01-01" }),
  req({ tier: "platinum", age: 2.5 }),
  req({ tier: "silver", nope: 1, age: "x" }),
  req({ "customer.id": "C-4", tier: "silver", "consent.sms": true, frozen: true }),
];
const EPS: Entrypoint[] = ["waypost/decide", "waypost/suppressed", "waypost/consent"];

function agree(d: BundleData): void {
  for (const ep of EPS) {
    for (const input of REQS) {
      const rs = l.policy.evaluate(input, ep) as { result: unknown }[];
      expect(JSON.stringify(rs[0]!.result)).toBe(JSON.stringify(interpret({ ...ir, plan: d.plan }, d, input, ep)));
    }
  }
}

const clone = (): BundleData => JSON.parse(JSON.stringify(data)) as BundleData;

describe("plan slot tables", () => {
  it("follow setData: plan, another plan at the same address, non-plan data, the plan again", () => {
    l.policy.setData({ waypost: data });
    agree(data);
    // Same shape, different contents: reasons reordered (not canonical), specs and gates changed.
    const d2 = clone();
    const main = d2.plan.nodes[1]!;
    main.conditions[0]!.reason = { source: "s", message: "m", policy: "p", code: "c" } as never;
    main.gates = [...main.gates].reverse();
    main.required = ["tier", "customer.id"];
    d2.plan.fields.tier = { type: "string", nullable: true, mask: "none" } as never;
    d2.plan.fields.age = { type: "weird", nullable: false, mask: "none" } as never;
    d2.plan.event_fields.ev = { ...d2.plan.event_fields.ev, nope: true } as never;
    d2.plan.reasons["invalid-field"] = { message: "x", code: "invalid-field", policy: "engine", source: "engine" } as never;
    l.policy.setData({ waypost: d2 });
    agree(d2);
    l.policy.setData({ waypost: { something: "else" }, other: [1, 2, 3] });
    expect(l.policy.evaluate(REQS[0], "waypost/decide")).toHaveLength(1);
    l.policy.setData({ waypost: data });
    agree(data);
  });

  it("slow path: an input that looks like a plan does not disturb the data's tables", () => {
    l.policy.setData({ waypost: data });
    const input = { ...REQS[0]!, waypost: { plan: { nodes: [{ id: "x", gates: [{ cond: 0 }] }] } } };
    const want = interpret(ir, data, input, "waypost/decide");
    for (let i = 0; i < 2; i++) {
      const got = evalSlow(l, input) as { result: unknown }[];
      expect(JSON.stringify(got[0]!.result)).toBe(JSON.stringify(want));
    }
    agree(data);
  });

  it("a marked canonical reason is returned as is; a reordered one is rebuilt", () => {
    const d3 = clone();
    d3.plan.nodes[1]!.conditions[1]!.reason = { ...r("eligible"), channel: "sms" };
    d3.plan.nodes[1]!.conditions[0]!.reason = { channel: "sms", ...r("trigger-matched") };
    l.policy.setData({ waypost: d3 });
    agree(d3);
  });
});
