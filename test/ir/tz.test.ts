/**
 * Time zones (docs/ir.md "Time zones"): the tables compiled from the pinned database
 * (compiler/tz.ts) against the database's own 2026 transitions and against Node's ICU (Intl),
 * the local-time rules of the interpreter, and the Wasm engine against the interpreter on
 * generated zones and instants.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { evalExpr } from "../../compiler/ir/interpret.js";
import type { Expr, JsonValue } from "../../compiler/ir/ir.js";
import { fromLocal, parseTime, tableOffset, toLocal } from "../../compiler/ir/time.js";
import { TZ_DEFAULT_HORIZON, compileZone, tzdataVersion } from "../../compiler/tz.js";
import { wasmEvaluator } from "../support/evaluators.js";
import { probeFixture } from "./load-cases.js";

// Both hemispheres, negative DST (Dublin), half-hour offsets, no DST.
const ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Europe/Berlin", "Europe/Dublin", "America/Los_Angeles", "Asia/Kolkata", "Asia/Tokyo", "Australia/Lord_Howe", "America/Sao_Paulo"];
const HOUR = 3_600_000;

const formats = new Map<string, Intl.DateTimeFormat>();
function icuOffset(zone: string, t: number): number {
  let f = formats.get(zone);
  if (!f) formats.set(zone, (f = new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })));
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return Math.round((local - Math.floor(t / 1000) * 1000) / 60_000);
}

const transitions = (table: number[]): number[] => table.filter((_, i) => i % 2 === 1);
const at = (s: string): number => parseTime(s) as number;

describe("zone tables from the pinned database", () => {
  it("records the database version", () => {
    expect(tzdataVersion()).toMatch(/^20[0-9]{2}[a-z]$/);
  });

  it("has the 2026 transitions the IANA rules give (EU, US, AN rules)", () => {
    const in2026 = (z: string): [string, number][] => {
      const t = compileZone(z)!;
      const out: [string, number][] = [];
      for (let i = 1; i < t.length; i += 2) if (t[i]! >= at("2026-01-01") && t[i]! < at("2027-01-01")) out.push([new Date(t[i]!).toISOString(), t[i + 1]!]);
      return out;
    };
    // EU: last Sunday of March / October at 01:00 UTC.
    expect(in2026("Europe/London")).toEqual([["2026-03-29T01:00:00.000Z", 60], ["2026-10-25T01:00:00.000Z", 0]]);
    // US: second Sunday of March / first Sunday of November at 02:00 local.
    expect(in2026("America/New_York")).toEqual([["2026-03-08T07:00:00.000Z", -240], ["2026-11-01T06:00:00.000Z", -300]]);
    // AN (New South Wales): first Sunday of April 03:00 AEDT / first Sunday of October 02:00 AEST.
    expect(in2026("Australia/Sydney")).toEqual([["2026-04-04T16:00:00.000Z", 600], ["2026-10-03T16:00:00.000Z", 660]]);
  });

  it("stops at the horizon and keeps the last offset after it", () => {
    const t = compileZone("Europe/London", 2030)!;
    expect(Math.max(...transitions(t))).toBeLessThan(at("2031-01-01"));
    expect(tableOffset(t, at("2035-07-01"))).toBe(0); // winter offset from the last transition on
    expect(compileZone("Europe/London")!.length).toBeGreaterThan(t.length);
    expect(compileZone("Not/AZone")).toBeUndefined();
  });

  it("agrees with ICU at every transition and at every day's noon, 2020 to the horizon", () => {
    for (const z of ZONES) {
      const t = compileZone(z)!;
      for (const tr of transitions(t).filter((x) => x >= at("2020-01-01"))) {
        expect([z, tableOffset(t, tr - 1000)]).toEqual([z, icuOffset(z, tr - 1000)]);
        expect([z, tableOffset(t, tr)]).toEqual([z, icuOffset(z, tr)]);
      }
      for (let d = at("2020-01-01") + 12 * HOUR; d < at(`${TZ_DEFAULT_HORIZON + 1}-01-01`); d += 24 * HOUR) {
        if (tableOffset(t, d) !== icuOffset(z, d)) expect([z, new Date(d).toISOString(), tableOffset(t, d)]).toEqual([z, new Date(d).toISOString(), icuOffset(z, d)]);
      }
    }
  });

  it("agrees with ICU on generated instants and zones (property)", () => {
    const tables = new Map(ZONES.map((z) => [z, compileZone(z)!]));
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.integer({ min: at("2000-01-01"), max: at("2037-12-31") }), (z, t) => {
        expect(tableOffset(tables.get(z)!, t)).toBe(icuOffset(z, t));
      }),
      { numRuns: 2000 },
    );
  });
  // waypost prove relies on this (lifecycle/prove/encode.ts, sendOf): a quiet-hours deferral
  // ends strictly later than the time it moves, in every zone, across DST changes.
  it("a deferral to the next local end of a window is later than the time deferred (property)", () => {
    const tables = Object.fromEntries(ZONES.map((name) => [name, { table: compileZone(name)! }]));
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: at("1970-01-01"), max: at("2040-12-31") }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        (name, t, start, end) => {
          const zone = tables[name]!;
          const local = toLocal(zone, t);
          const m = (((Math.floor(local / 60_000)) % 1440) + 1440) % 1440;
          const inWindow = start < end ? start <= m && m < end : m >= start || m < end;
          if (!inWindow) return;
          const day = Math.floor(local / 86_400_000) + (m < end ? 0 : 1);
          expect(fromLocal(zone, day * 86_400_000 + end * 60_000, t)).toBeGreaterThan(t);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe("local wall times", () => {
  const z = { table: compileZone("America/New_York")! };
  it("a nonexistent time moves forward by the gap; a repeated one takes the earlier offset", () => {
    expect(fromLocal(z, at("2026-03-08T02:30:00Z"))).toBe(at("2026-03-08T07:30:00Z")); // 03:30 EDT
    expect(fromLocal(z, at("2026-11-01T01:30:00Z"))).toBe(at("2026-11-01T05:30:00Z")); // 01:30 EDT
    expect(fromLocal(z, at("2026-11-01T01:30:00Z"), at("2026-11-01T06:00:00Z"))).toBe(at("2026-11-01T06:30:00Z")); // not back in time
  });
  it("round-trips every existing local time (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: at("2020-01-01"), max: at("2037-12-31") }), (t) => {
        expect(fromLocal(z, toLocal(z, t), t - 1)).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("Wasm engine against the interpreter on zones and instants", () => {
  it("local_hour, days_since and days_until agree (property)", async () => {
    const zones: Record<string, number[]> = {};
    for (const z of ZONES) zones[z] = compileZone(z)!;
    const t: Expr = { op: "field", name: "t" };
    const u: Expr = { op: "field", name: "u" };
    const exprs: Expr[] = [
      { op: "call", fn: "local_hour", args: [t] },
      { op: "call", fn: "days_since", args: [u] },
      { op: "call", fn: "days_until", args: [u] },
    ];
    const reason = wasmEvaluator.unavailable();
    if (reason !== null) return;
    const iso = (ms: number): string => new Date(ms).toISOString();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ZONES),
        fc.integer({ min: at("2000-01-01"), max: at("2037-12-31") }),
        fc.integer({ min: at("2000-01-01"), max: at("2037-12-31") }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        async (zone, now, other, k, asDate) => {
          const context: Record<string, JsonValue> = { "customer.time_zone": zone, t: iso(other), u: asDate ? iso(other).slice(0, 10) : iso(other) };
          const expr = exprs[k]!;
          const want = evalExpr(expr, { context, now, lists: {}, history: undefined, utcOffsetMin: 0, zone: zones[zone] });
          expect(typeof want).toBe("number");
          const probe = probeFixture({ note: "p", expr, context, now: iso(now), want: want as JsonValue }, {}, zones);
          const run = await wasmEvaluator.prepare(probe.fixture.ir, probe.fixture.data);
          expect(((await run(probe.request, "waypost/decide")) as { outcome: string }).outcome).toBe("send");
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
