/**
 * Memory stability, hashed list lookups at scale, and latency figures. Timed assertions are
 * deliberately lenient (shared 2-core CI machines); the figures are logged for the report and
 * belong to benchmarks, not to pass/fail.
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

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

/** Per-call latencies (µs) of fn over n calls after a warm-up. */
function time(fn: () => unknown, n: number): number[] {
  for (let i = 0; i < 2000; i++) fn();
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    fn();
    out[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  return out;
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

describe("performance (logged; lenient bounds)", () => {
  it("a ~1 KB decision vs the JSON floor", async () => {
    const l = await load(ir);
    l.policy.setData({ waypost: data });
    const req = request("C-1");
    const size = JSON.stringify(req).length;
    const decision = time(() => l.policy.evaluate(req), 20_000);
    const floor = time(() => JSON.parse(JSON.stringify(req)), 20_000);
    const p50 = percentile(decision, 0.5), p99 = percentile(decision, 0.99), f50 = percentile(floor, 0.5);
    console.log(`decision (${size} B request): p50 ${p50.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs; JSON floor p50 ${f50.toFixed(1)} µs; ratio ${(p50 / f50).toFixed(2)}x`);
    expect(p50 / f50).toBeLessThan(15);
  });

  it("a 1,000,000-key suppression list: setData time and decision latency vs 10 keys", async () => {
    const make = (n: number): BundleData => {
      const optout: Record<string, null> = {};
      for (let i = 0; i < n; i++) optout[`h-${(i * 2654435761) >>> 0}-${i}`] = null;
      optout["C-OPT"] = null;
      return { ...data, lists: { ...data.lists, optout } };
    };
    const lat = async (n: number) => {
      const l = await load(ir);
      const big = make(n);
      const t0 = performance.now();
      l.policy.setData({ waypost: big });
      const setDataMs = performance.now() - t0;
      const hit = l.policy.evaluate(request("C-OPT")) as { result: { outcome: string } }[];
      expect(hit[0]!.result.outcome).toBe("suppress");
      const xs = time(() => l.policy.evaluate(request("C-1")), 10_000);
      return { setDataMs, p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) };
    };
    const small = await lat(10);
    const large = await lat(1_000_000);
    console.log(`10 keys: p50 ${small.p50.toFixed(1)} µs p99 ${small.p99.toFixed(1)} µs; 1M keys: setData ${large.setDataMs.toFixed(0)} ms, p50 ${large.p50.toFixed(1)} µs p99 ${large.p99.toFixed(1)} µs`);
    expect(large.setDataMs).toBeLessThan(10_000);
    expect(large.p50).toBeLessThan(small.p50 * 3 + 20);
  });
});
