/**
 * Every invalid input fails closed (issue 8, item 4). Starting from the example requests that
 * the example policies answer with `send`, `defer` or `review`, each generated request corrupts
 * exactly one thing (a history entry's time, channel, purpose or shape; a date where a
 * timestamp is declared and the reverse; a consent granted after `now`; a value of the wrong
 * type; a missing or misspelt key; junk) and the decision must be a validation `deny`, never
 * `send`, `defer` or `review`, both through the real runtime (the compiled bundle, Wasm) and
 * through the reference interpreter, which must agree exactly.
 *
 * Before this change a malformed history entry was silently skipped, so a caller could slip
 * contacts past a frequency cap: the history corruptions below are built so that the entry,
 * had it been readable, would count.
 */
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { build, type BuildResult } from "../../compiler/build.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { FieldSpec, JsonValue, Plan } from "../../compiler/ir/ir.js";
import { formatTime, parseTime } from "../../compiler/ir/time.js";
import { FsHost } from "../../compiler/source.js";
import { loadBundle, type Engine } from "../../runtime/index.js";
import { loadCaseFiles, loadFixture } from "../ir/load-cases.js";
import { wasmEvaluator } from "../support/evaluators.js";
import { EXAMPLE } from "../support/repo.js";

type Req = { [k: string]: JsonValue };
interface Base {
  name: string;
  request: Req;
  outcome: string;
}

/** Outcomes that contact (or queue contact with) the customer: a corrupted request never gets one. */
const POSITIVE = ["send", "defer", "review"];
/** The engine reasons a validation step denies with (docs/ir.md steps 1, 4, 5). */
const VALIDATION = ["invalid-request", "invalid-field", "field-not-allowed", "missing-field"];
const DAY = 86_400_000;

let built: BuildResult;
let engine: Engine;
let plan: Plan;
let bases: Base[];

beforeAll(async () => {
  built = await build(new FsHost(EXAMPLE));
  expect(built.state.diagnostics).toEqual([]);
  plan = built.state.ir!.plan;
  engine = await loadBundle(built.bundle!, { skipVerify: true }); // built just now, in this process
  const dir = path.join(EXAMPLE, "requests");
  bases = readdirSync(dir)
    .filter((n) => n.endsWith(".expected.json"))
    .sort()
    .map((n) => {
      const name = n.slice(0, -".expected.json".length);
      const expected = JSON.parse(readFileSync(path.join(dir, n), "utf8")) as { outcome: string };
      const request = JSON.parse(readFileSync(path.join(dir, `${name}.json`), "utf8")) as Req;
      return { name, request, outcome: expected.outcome };
    })
    .filter((b) => POSITIVE.includes(b.outcome));
});

const DECISION_KEYS = ["outcome", "node", "channel", "template", "offer", "variant", "send_at", "reasons", "explanation", "revision"];

/** The decision through the runtime and through the interpreter; they must be the same. */
function decideBoth(request: unknown): { outcome: string; reasons: { code: string; detail?: string }[] } {
  const viaRuntime = engine.decide(request as never) as unknown as Record<string, unknown>;
  const viaInterpreter = interpret(built.state.ir!, built.data!.waypost, JSON.parse(JSON.stringify(request)) as unknown) as unknown as Record<string, unknown>;
  const pick = (d: Record<string, unknown>) => Object.fromEntries(DECISION_KEYS.map((k) => [k, d[k]]));
  expect(pick(viaRuntime)).toEqual(pick(viaInterpreter));
  return viaRuntime as never;
}

// ---------------------------------------------------------------------------------------------
// Corruptions: each maps a base request to requests with exactly one thing wrong.

const clone = (r: Req): Req => JSON.parse(JSON.stringify(r)) as Req;
const ctxOf = (r: Req): Req => r["context"] as Req;
const nowOf = (r: Req): number => parseTime(r["now"] as string)!;
const pad = (n: number): string => String(n).padStart(2, "0");

/** RFC 3339 of `ms` written in the zone `offsetMin` (the same instant). */
function inZone(ms: number, offsetMin: number): string {
  const utc = formatTime(Math.floor(ms / 1000) * 1000)!;
  if (offsetMin === 0) return utc;
  const local = formatTime(Math.floor(ms / 1000) * 1000 + offsetMin * 60_000)!.slice(0, 19);
  const a = Math.abs(offsetMin);
  return `${local}${offsetMin < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}
const zone = fc.integer({ min: -48, max: 56 }).map((q) => q * 15);

function withContext(r: Req, key: string, value: JsonValue | undefined): Req {
  const out = clone(r);
  const ctx = ctxOf(out);
  if (value === undefined) delete ctx[key];
  else ctx[key] = value;
  return out;
}

/** A value of the wrong JSON type (or shape) for `spec`. */
function wrongType(spec: FieldSpec, nowMs: number): fc.Arbitrary<JsonValue> {
  switch (spec.type) {
    case "string":
      return fc.constantFrom<JsonValue>(1, true, ["x"], { v: "x" });
    case "number":
    case "integer":
      return fc.constantFrom<JsonValue>("1", true, [1], { v: 1 });
    case "boolean":
      return fc.constantFrom<JsonValue>("true", 1, 0, [true]);
    case "timestamp":
      return fc.constantFrom<JsonValue>(nowMs - DAY, true, [formatTime(nowMs - DAY)!]);
    case "date":
      return fc.constantFrom<JsonValue>(nowMs + 90 * DAY, false, { d: "2027-01-01" });
    case "string[]":
      return fc.constantFrom<JsonValue>("a", [1], [["a"]], { a: 1 });
    case "number[]":
      return fc.constantFrom<JsonValue>(1, ["1"], [[1]], { a: 1 });
  }
}

type Corruption = (r: Req) => fc.Arbitrary<Req> | null;

/** The corruptions for requests to `plan`, by name; each returns null when it cannot apply. */
function corruptionsFor(plan: Plan): Record<string, Corruption> {
  const eventFields = (r: Req): string[] => Object.keys(plan.event_fields[r["event"] as string] ?? {}).sort();
  const specOf = (k: string): FieldSpec | undefined => plan.fields[k];

  /** A well-formed history entry within the last day that any cap would count (before the corruption). */
  function entryFor(r: Req): fc.Arbitrary<Req> {
    const node = plan.nodes.find((n) => n.event === r["event"]) ?? plan.nodes[0]!;
    return fc.record({
      ago: fc.integer({ min: 60_000, max: DAY - 60_000 }),
      channel: fc.constantFrom(...(node.channels.length > 0 ? node.channels : plan.channels)),
      z: zone,
    }).map(({ ago, channel, z }) => ({ at: inZone(nowOf(r) - ago, z), channel, purpose: node.purpose, node: node.id }));
  }

  /** The base with `entry` placed among its history entries. */
  function withEntry(r: Req, entry: fc.Arbitrary<JsonValue>): fc.Arbitrary<Req> {
    const hist = Array.isArray(r["history"]) ? (r["history"] as JsonValue[]) : [];
    return fc.tuple(entry, fc.integer({ min: 0, max: hist.length })).map(([e, i]) => {
      const out = clone(r);
      out["history"] = [...hist.slice(0, i), e, ...hist.slice(i)];
      return out;
    });
  }

  /** An entry from `entryFor` with one field changed (`undefined` removes it). */
  function badEntry(r: Req, change: fc.Arbitrary<[string, JsonValue | undefined]>): fc.Arbitrary<Req> {
    return withEntry(
      r,
      fc.tuple(entryFor(r), change).map(([e, [k, v]]) => {
        const out: Req = { ...e };
        if (v === undefined) delete out[k];
        else out[k] = v;
        return out;
      }),
    );
  }

  const keysOfType = (r: Req, type: FieldSpec["type"]): string[] => eventFields(r).filter((k) => specOf(k)?.type === type);

  return {
    // History entries (docs/ir.md step 1): each of these was skipped before, so it escaped the caps.
    "history at without a zone": (r) =>
      badEntry(r, fc.tuple(fc.constant("at"), fc.integer({ min: 1, max: 20 * 60 }).map((m) => formatTime(nowOf(r) - m * 60_000)!.slice(0, 19)))),
    "history at as epoch ms": (r) => badEntry(r, fc.tuple(fc.constant("at"), fc.integer({ min: 1, max: 1000 }).map((s) => nowOf(r) - s * 60_000))),
    "history at as a date": (r) => badEntry(r, fc.constant(["at", formatTime(nowOf(r))!.slice(0, 10)])),
    "history at malformed": (r) =>
      badEntry(r, fc.tuple(fc.constant("at"), fc.constantFrom<JsonValue>("yesterday", "", "2026-11-31T10:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25 10:00:00Z", "2026-11-25T10:00Z", null, true, {}))),
    "history at missing": (r) => badEntry(r, fc.constant(["at", undefined])),
    "history channel unknown": (r) =>
      badEntry(r, fc.tuple(fc.constant("channel"), fc.constantFrom(...["fax", "telegram", "", "e-mail"].filter((c) => !plan.channels.includes(c))))),
    "history channel in the wrong case": (r) =>
      badEntry(r, fc.tuple(fc.constant("channel"), fc.constantFrom(...plan.channels.flatMap((c) => [c.toUpperCase(), c[0]!.toUpperCase() + c.slice(1)]).filter((c) => !plan.channels.includes(c))))),
    "history channel of the wrong type": (r) => badEntry(r, fc.tuple(fc.constant("channel"), fc.constantFrom<JsonValue>(1, null, true, ["sms"]))),
    "history purpose unknown or in the wrong case": (r) =>
      badEntry(r, fc.tuple(fc.constant("purpose"), fc.constantFrom<JsonValue>(...["billing", "other", ""].filter((p) => !plan.purposes.includes(p)), null, 3, ...plan.purposes.map((p) => p.toUpperCase()).filter((p) => !plan.purposes.includes(p))))),
    "history node of the wrong type": (r) => badEntry(r, fc.tuple(fc.constant("node"), fc.constantFrom<JsonValue>(1, null, false, ["x"]))),
    "history entry with an unknown key": (r) =>
      withEntry(r, fc.tuple(entryFor(r), fc.constantFrom("Channel", "AT", "ts", "purpose_id")).map(([e, k]) => ({ ...e, [k]: e["channel"]! }))),
    "history entry not an object": (r) => withEntry(r, fc.constantFrom<JsonValue>(null, 5, "2026-11-25T09:00:00Z", ["sms"], true)),
    "history not an array": (r) =>
      fc.constantFrom<JsonValue>({}, "none", 5, null, { at: formatTime(nowOf(r) - 60_000)! }).map((h) => ({ ...clone(r), history: h })),

    // Context values of the wrong shape for their dictionary type (step 4).
    "a timestamp where a date is declared": (r) => {
      const keys = keysOfType(r, "date");
      if (keys.length === 0) return null;
      return fc
        .tuple(fc.constantFrom(...keys), fc.integer({ min: -400, max: 400 }), zone)
        .map(([k, d, z]) => withContext(r, k, inZone(Math.floor(nowOf(r) / DAY + d) * DAY, z)));
    },
    "a date (or a zoneless time) where a timestamp is declared": (r) => {
      const keys = keysOfType(r, "timestamp");
      if (keys.length === 0) return null;
      return fc
        .tuple(fc.constantFrom(...keys), fc.integer({ min: -400, max: 0 }), fc.boolean())
        .map(([k, d, zoneless]) => {
          const t = formatTime(nowOf(r) + d * DAY)!;
          return withContext(r, k, zoneless ? t.slice(0, 19) : t.slice(0, 10));
        });
    },
    "a consent granted after now": (r) => {
      const keys = eventFields(r).filter((k) => specOf(k)?.consent === true);
      if (keys.length === 0) return null;
      return fc
        .tuple(fc.constantFrom(...keys), fc.integer({ min: 1, max: 400 * 86_400 }), zone)
        .map(([k, s, z]) => withContext(r, k, inZone(nowOf(r) + s * 1000, z)));
    },
    "a value of the wrong type": (r) => {
      const keys = Object.keys(ctxOf(r)).filter((k) => specOf(k) !== undefined).sort();
      if (keys.length === 0) return null;
      return fc.constantFrom(...keys).chain((k) => wrongType(specOf(k)!, nowOf(r)).map((v) => withContext(r, k, v)));
    },
    "null where the dictionary does not allow it": (r) => {
      const keys = Object.keys(ctxOf(r)).filter((k) => specOf(k)?.nullable === false).sort();
      if (keys.length === 0) return null;
      return fc.constantFrom(...keys).map((k) => withContext(r, k, null));
    },
    "a value outside the dictionary's values or range": (r) => {
      const keys = Object.keys(ctxOf(r)).filter((k) => { const s = specOf(k); return s !== undefined && (s.values !== undefined || s.min !== undefined || s.max !== undefined); }).sort();
      if (keys.length === 0) return null;
      return fc.constantFrom(...keys).map((k) => {
        const s = specOf(k)!;
        const v: JsonValue = s.values !== undefined ? `${s.values[0]!.toUpperCase()}?` : s.min !== undefined ? s.min - 1 : s.max! + 1;
        return withContext(r, k, v);
      });
    },
    "a field the event may not receive": (r) => {
      const allowed = new Set(eventFields(r));
      const others = Object.keys(plan.fields).filter((k) => !allowed.has(k)).sort();
      return fc.constantFrom(...others, "zz.junk", "Customer.Id").map((k) => withContext(r, k, specOf(k)?.type === "boolean" ? true : "x"));
    },
    "a field every candidate node requires, missing": (r) => {
      const nodes = (plan.events[r["event"] as string] ?? []).map((i) => plan.nodes[i]!);
      const required = nodes.map((n) => new Set(n.required)).reduce((a, b) => new Set([...a].filter((x) => b.has(x))));
      const keys = [...required].filter((k) => k in ctxOf(r)).sort();
      if (keys.length === 0) return null;
      return fc.constantFrom(...keys).map((k) => withContext(r, k, undefined));
    },

    // The request's own shape (step 1).
    "a required request key missing": (r) =>
      fc.constantFrom("system", "event", "now", "context").map((k) => {
        const out = clone(r);
        delete out[k];
        return out;
      }),
    "a request key of the wrong type": (r) =>
      fc.constantFrom<[string, JsonValue]>(["system", 1], ["event", null], ["context", []], ["context", "x"], ["node", 5], ["node", null]).map(([k, v]) => ({ ...clone(r), [k]: v })),
    "now that is not a timestamp": (r) =>
      fc.constantFrom<JsonValue>(nowOf(r), (r["now"] as string).slice(0, 19), (r["now"] as string).slice(0, 10), "2026-02-30T10:00:00Z", "now").map((v) => ({ ...clone(r), now: v })),
    "an unknown or misspelt request key": (r) =>
      fc.tuple(fc.constantFrom("History", "Node", "trace", "Now", "contexts"), entryFor(r)).map(([k, e]) => {
        const out = clone(r);
        out[k] = k === "History" ? [e] : "x";
        return out;
      }),
  };
}

/** One base, one corruption that applies to it, one corrupted request. */
function corrupted(corruptions: Record<string, Corruption>, bases: fc.Arbitrary<Req>): fc.Arbitrary<{ kind: string; request: Req }> {
  const names = Object.keys(corruptions);
  return fc
    .tuple(bases, fc.constantFrom(...names))
    .filter(([b, k]) => corruptions[k]!(b) !== null)
    .chain(([b, kind]) => corruptions[kind]!(b)!.map((request) => ({ kind, request })));
}

/** The property every corrupted request must satisfy, given its decision. */
function failsClosed(kind: string, d: { outcome: string; reasons: { code: string }[] }): void {
  expect(POSITIVE).not.toContain(d.outcome);
  expect(d.outcome).toBe("deny");
  // Without the customer id, a node in a partial rollout cannot be proven in it and is
  // skipped before its required fields are checked (docs/ir.md step 5): no node applies.
  const allowed = kind.endsWith("missing") && !kind.startsWith("history") ? [...VALIDATION, "no-eligible-node"] : VALIDATION;
  expect(allowed).toContain(d.reasons.at(-1)?.code);
}

describe("malformed requests to the example policies fail closed on the runtime and the interpreter", () => {
  let corruptions: Record<string, Corruption>;
  beforeAll(() => {
    corruptions = corruptionsFor(plan);
  });

  it("the bases are decided positively (so a skipped corruption would show)", () => {
    expect(bases.map((b) => b.outcome).sort()).toEqual(expect.arrayContaining(["defer", "review", "send"]));
    for (const b of bases) expect(decideBoth(b.request).outcome, b.name).toBe(b.outcome);
  });

  it("every corruption applies to some base", () => {
    for (const k of Object.keys(corruptions)) expect(bases.some((b) => corruptions[k]!(b.request) !== null), k).toBe(true);
  });

  it("a request with one thing wrong is never sent, deferred or reviewed: it is a validation deny", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(corrupted(corruptions, fc.constantFrom(...bases.map((b) => b.request))), ({ kind, request }) => {
        seen.add(kind);
        failsClosed(kind, decideBoth(request));
      }),
      { numRuns: 600 },
    );
    // Every kind of corruption was tried at least once.
    expect([...seen].sort()).toEqual(Object.keys(corruptions).sort());
  });

  it("a history entry that would hit the cap is refused with its index and why, not skipped", () => {
    // crosssell-send is sent; a second marketing email this month hits the monthly cap. The
    // same entry in a sloppy shape is refused, naming the entry.
    const b = bases.find((x) => x.name === "crosssell-send");
    expect(b, "examples/requests/crosssell-send.json").toBeDefined();
    const at = formatTime(nowOf(b!.request) - 2 * DAY)!;
    const entry = (e: Req): Req => ({ ...clone(b!.request), history: [{ at: formatTime(nowOf(b!.request) - 9 * DAY)!, channel: "email", purpose: "marketing" }, e] });
    // Control: the well-formed entry counts, and the cap suppresses the message.
    expect(decideBoth(entry({ at, channel: "email", purpose: "marketing" })).outcome).toBe("suppress");
    const cases: [Req, string][] = [
      [{ at: at.slice(0, 19), channel: "email", purpose: "marketing" }, "history[1].at: not an RFC 3339 timestamp with a zone"],
      [{ at: parseTime(at)!, channel: "email", purpose: "marketing" }, "history[1].at: not an RFC 3339 timestamp with a zone"],
      [{ at, channel: "Email", purpose: "marketing" }, "history[1].channel: not a declared channel"],
      [{ at, channel: "fax", purpose: "marketing" }, "history[1].channel: not a declared channel"],
      [{ at, channel: "email", purpose: "Marketing" }, "history[1].purpose: not a declared purpose"],
      [{ at, Channel: "email", purpose: "marketing" }, "history[1].Channel: unknown key"],
    ];
    for (const [e, detail] of cases) {
      const d = decideBoth(entry(e));
      expect(d.outcome).toBe("deny");
      expect(d.reasons.at(-1)).toMatchObject({ code: "invalid-request", detail });
    }
  });
});

describe("malformed requests to generated plans fail closed on the Wasm backend and the interpreter", () => {
  // The shared fixture plan (test/cases/fixtures/claims.yaml, a hand-written IR with every gate
  // kind): its shared cases that decide send, defer or review, each corrupted in one way.
  const fixture = loadFixture("claims");
  const bases = loadCaseFiles()
    .filter((f) => JSON.stringify(f.fixture.ir) === JSON.stringify(fixture.ir))
    .flatMap((f) => f.cases)
    .filter((c) => c.entrypoint === "waypost/decide" && POSITIVE.includes((c.want as { outcome: string }).outcome))
    .map((c) => c.request as Req);

  it("has positive bases of every kind", () => {
    const outcomes = new Set(bases.map((r) => (interpret(fixture.ir, fixture.data, r) as { outcome: string }).outcome));
    expect([...outcomes].sort()).toEqual(["defer", "review", "send"]);
  });

  it("a request with one thing wrong is never sent, deferred or reviewed: it is a validation deny", async () => {
    const reason = wasmEvaluator.unavailable();
    expect(reason).toBeNull();
    const run = await wasmEvaluator.prepare(fixture.ir, fixture.data);
    const corruptions = corruptionsFor(fixture.ir.plan);
    await fc.assert(
      fc.asyncProperty(corrupted(corruptions, fc.constantFrom(...bases)), async ({ kind, request }) => {
        const want = interpret(fixture.ir, fixture.data, request);
        const got = await run(request, "waypost/decide");
        expect(got).toEqual(want);
        failsClosed(kind, got as never);
      }),
      { numRuns: 300 },
    );
  });
});
