/**
 * Memory stability and hashed list lookups at scale, as behaviour. The figures (decision
 * latency vs the JSON floor, setData time of big lists) are benchmarks: `npm run bench`.
 */
import { describe, expect, it } from "vitest";
import type { BundleData } from "../../compiler/ir/ir.js";
import { fixture } from "./fixture.js";
import { load } from "./helpers.js";

const { ir, data } = fixture();

/** A ~1 KB request that goes through every step up to send time. */
function request(id: string): Record<string, unknown> {
  const history = Array.from({ length: 9 }, (_, i) => ({
    at: `2026-11-${String(16 + i).padStart(2, "0")}T08:00:00Z`, channel: i % 2 ? "sms" : "email", purpose: "claims", node: "main",
  }));
  return {
    system: "crm", event: "ev", now: "2026-11-25T10:00:00Z",
    context: {
      "customer.id": id, tier: "silver", "consent.sms": true, "consent.email": true, age: 42, score: 0.75,
      tags: ["a", "b", "c"], nums: [1, 2, 3], opened: "2026-11-22T09:00:00Z", "customer.utc_offset": 60,
    },
    history,
  };
}

describe("memory", () => {
  it("200,000 evaluations on one instance do not grow memory after warm-up", async () => {
    const l = await load(ir);
    l.policy.setData({ waypost: data });
    const reqs = [request("C-1"), request("C-2"), { ...request("C-3"), event: "nope" }, null];
    for (let i = 0; i < 1000; i++) l.policy.evaluate(reqs[i % reqs.length]);
    const size = l.mem.buffer.byteLength;
    for (let i = 0; i < 200_000; i++) l.policy.evaluate(reqs[i % reqs.length], i % 3);
    expect(l.mem.buffer.byteLength).toBe(size);
  });
});

// Latency and setData figures are `npm run bench` rows (bench/run.mjs), measured against a
// baseline in the same process; a timed assertion here would only measure the machine's load.
describe("scale", () => {
  it("a 1,000,000-key suppression list: members suppressed, others decided as with 10 keys", async () => {
    const make = (n: number): BundleData => {
      const optout: Record<string, null> = {};
      for (let i = 0; i < n; i++) optout[`h-${(i * 2654435761) >>> 0}-${i}`] = null;
      optout["C-OPT"] = null;
      return { ...data, lists: { ...data.lists, optout } };
    };
    const decide = async (n: number) => {
      const l = await load(ir);
      l.policy.setData({ waypost: make(n) });
      const out = (id: string) => (l.policy.evaluate(request(id)) as { result: unknown }[])[0]!.result;
      return { hit: out("C-OPT"), member: out(`h-${(7 * 2654435761) >>> 0}-7`), miss: out("C-1") };
    };
    const small = await decide(10);
    const large = await decide(1_000_000);
    expect(large.hit).toMatchObject({ outcome: "suppress" });
    expect(large.member).toMatchObject({ outcome: "suppress" });
    expect(small.miss).toMatchObject({ outcome: "send" });
    expect(large.miss).toEqual(small.miss);
  });
});
