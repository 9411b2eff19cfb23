/**
 * End to end through the real SDK: emitPolicyWasm(IR) -> loadPolicy -> setData -> evaluate,
 * with concrete expected decisions for every step of docs/ir.md.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { bucket, decide as interpret, type Entrypoint } from "../../compiler/ir/interpret.js";
import { fixture, r } from "./fixture.js";
import { dumpRaw, evalSlow, load, type Loaded } from "./helpers.js";

const { ir, data } = fixture();
let l: Loaded;
beforeAll(async () => {
  l = await load(ir);
  l.policy.setData({ waypost: data });
});

function run(input: unknown, ep: Entrypoint = "waypost/decide"): unknown {
  const rs = l.policy.evaluate(input, ep) as { result: unknown }[];
  expect(rs).toHaveLength(1);
  const got = rs[0]!.result;
  // The reference interpreter must agree byte for byte.
  expect(JSON.stringify(got)).toBe(JSON.stringify(interpret(ir, data, input, ep)));
  return got;
}

const engine = (code: string, detail?: string) => ({
  code, policy: "engine", message: `engine ${code}`, source: "engine", ...(detail === undefined ? {} : { detail }),
});
const NULLS = { node: null, channel: null, template: null, offer: null, variant: null, send_at: null };
function dec(outcome: string, reasons: unknown[], f: Record<string, unknown> = {}) {
  return { outcome, ...NULLS, ...f, reasons, explanation: f.explanation ?? null, revision: "rev-1" };
}
const deny = (code: string, detail?: string) => dec("deny", [engine(code, detail)]);

const NOW = "2026-11-25T10:00:00Z";
const req = (context: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  system: "crm", event: "ev", now: NOW, context, ...extra,
});

// Customer ids with known buckets (the formula of docs/ir.md).
const ids = Array.from({ length: 5000 }, (_, i) => `C-${i}`);
const HELD = ids.find((id) => bucket("exp", id) < 1000)!;
const VAR_A = ids.find((id) => bucket("exp", id) >= 1000 && bucket("exp#variant", id) < 5000)!;
const VAR_B = ids.find((id) => bucket("exp", id) >= 1000 && bucket("exp#variant", id) >= 5000)!;

const silver = (over: Record<string, unknown> = {}) => ({
  "customer.id": VAR_A, tier: "silver", "consent.sms": true, "consent.email": true, ...over,
});
const MAIN_BASE = [r("trigger-matched"), r("eligible"), r("not-frozen")];
// `main` is decided after `vip`, whose trigger fails for a silver customer: its `fail` comes
// first (step 5: every candidate that does not win gives its reason, in order).
const main = (outcome: string, reasons: unknown[], f: Record<string, unknown> = {}) =>
  dec(outcome, [r("not-gold"), ...reasons], { node: "main", ...f });

describe("ABI surface", () => {
  it("lists the three entrypoints with ids 0, 1, 2 and no builtins", () => {
    expect(l.policy.entrypoints).toEqual({ "waypost/decide": 0, "waypost/suppressed": 1, "waypost/consent": 2 });
    expect(JSON.parse(dumpRaw(l, l.abi.builtins()))).toEqual({});
    for (const ep of [0, 1, 2]) expect(l.policy.evaluate(null, ep)).toHaveLength(1);
    expect(() => l.policy.evaluate(null, 3)).toThrow(/entrypoint/);
  });

  it("slow path (opa_eval_ctx_* + eval) gives the fast path's result", () => {
    const input = req(silver());
    const fast = l.policy.evaluate(input);
    expect(evalSlow(l, input)).toEqual(fast);
  });

  it("data's source text (which reason dumps copy) stays below the data heap pointer", () => {
    // Parsed objects point at their text (value layout: srcLen @20, srcPtr @24); setData puts
    // the text and the values between baseHeapPtr and dataHeapPtr, where evaluations never write.
    const inner = l.policy as unknown as { dataAddr: number; baseHeapPtr: number; dataHeapPtr: number };
    const dv = new DataView(l.mem.buffer);
    const len = dv.getUint32(inner.dataAddr + 20, true), at = dv.getUint32(inner.dataAddr + 24, true);
    expect(len).toBe(new TextEncoder().encode(JSON.stringify({ waypost: data })).length);
    expect(at).toBeGreaterThanOrEqual(inner.baseHeapPtr);
    expect(at + len).toBeLessThanOrEqual(inner.dataHeapPtr);
    // A big request scribbles over everything above dataHeapPtr; decisions stay exact.
    const before = run(req(silver()));
    l.policy.evaluate(req(silver({ junk: "x".repeat(200_000) })));
    expect(run(req(silver()))).toEqual(before);
  });

  it("is deterministic: same IR, same bytes", async () => {
    const { emitPolicyWasm } = await import("../../compiler/emit/index.js");
    expect(Buffer.from(await emitPolicyWasm(ir)).equals(Buffer.from(await emitPolicyWasm(fixture().ir)))).toBe(true);
  });
});

describe("step 1: request shape", () => {
  it("falsy or missing input -> invalid-request input", () => {
    for (const input of [null, false, 0, "", undefined]) expect(run(input)).toEqual(deny("invalid-request", "input"));
  });
  it("first bad key in order", () => {
    expect(run(5)).toEqual(deny("invalid-request", "system"));
    expect(run({})).toEqual(deny("invalid-request", "system"));
    expect(run({ system: 1, event: 2 })).toEqual(deny("invalid-request", "system"));
    expect(run({ system: "crm" })).toEqual(deny("invalid-request", "event"));
    expect(run({ system: "crm", event: "ev", now: "2026-02-29T00:00:00Z" })).toEqual(deny("invalid-request", "now"));
    expect(run({ system: "crm", event: "ev", now: "2026-11-25T10:00:00" })).toEqual(deny("invalid-request", "now"));
    expect(run({ system: "crm", event: "ev", now: 5 })).toEqual(deny("invalid-request", "now"));
    expect(run({ system: "crm", event: "ev", now: NOW, context: [] })).toEqual(deny("invalid-request", "context"));
    expect(run(req({}, { node: null }))).toEqual(deny("invalid-request", "node"));
    expect(run(req({}, { history: {} }))).toEqual(deny("invalid-request", "history"));
  });
});

describe("steps 2-4: system, event, minimal context", () => {
  it("unknown system and event", () => {
    expect(run({ ...req({}), system: "mail" })).toEqual(deny("system-not-allowed", "mail"));
    expect(run({ ...req({}), event: "nope" })).toEqual(deny("unknown-event", "nope"));
  });
  it("field-not-allowed names the smallest extra key by bytes", () => {
    expect(run(req({ zzz: 1, "b.x": 2, tier: "silver", "a\u00e9": 3, ab: 4 }))).toEqual(deny("field-not-allowed", "ab"));
  });
  it("invalid-field checks every type, nullability, values, min and max", () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ tier: "platinum" }, "tier"],
      [{ tier: 1 }, "tier"],
      [{ age: 1.5 }, "age"],
      [{ age: 131 }, "age"],
      [{ age: -1 }, "age"],
      [{ score: "1" }, "score"],
      [{ tags: ["a", 1] }, "tags"],
      [{ nums: [1, "x"] }, "nums"],
      [{ opened: "2026-02-30" }, "opened"],
      [{ opened: "2026-01-01" }, "opened"], // a date where a timestamp is declared
      [{ "consent.sms": null }, "consent.sms"],
      [{ "consent.sms": "yes", age: 2.5 }, "age"],
    ];
    for (const [ctx, key] of bad) expect(run(req({ tier: "bronze", ...ctx }))).toEqual(deny("invalid-field", key));
    // Valid values of every kind pass step 4 (fallback node is selected).
    const ok = run(req({ tier: "bronze", age: 130, score: -1.5, tags: [], nums: [1, 2.5], opened: "2026-01-01T00:00:00Z", "consent.email": null, flag: { any: 1 } }));
    expect(ok).toMatchObject({ outcome: "send", node: "fallback" });
  });
});

describe("step 5: candidates", () => {
  it("the first node whose conditions hold, skipping canary at 0 bp", () => {
    expect(run(req({ tier: "bronze" }))).toEqual(
      dec("send", [r("not-gold"), r("not-silver")], { node: "fallback", channel: "email", template: "tpl-fallback", send_at: NOW, explanation: "because fallback" }),
    );
  });
  it("a required field absent from the context denies (node stays null)", () => {
    expect(run(req({ "customer.id": "C-1" }))).toEqual(deny("missing-field", "tier"));
  });
  it("no eligible node: pending fails, then no-eligible-node", () => {
    expect(run(req({ tier: "bronze" }, { now: "2027-01-01T00:00:00Z" }))).toEqual(
      dec("deny", [r("not-gold"), r("not-silver"), engine("no-eligible-node")]),
    );
    expect(run(req({ tier: "bronze" }, { now: "2025-12-31T23:59:59.999Z" }))).toMatchObject({ outcome: "deny" });
  });
  it("the system's node list and the requested node restrict candidates", () => {
    expect(run({ ...req({ tier: "gold" }), system: "web" })).toMatchObject({ outcome: "send", node: "fallback" });
    expect(run(req({ tier: "silver" }, { node: "fallback" }))).toMatchObject({ outcome: "send", node: "fallback" });
    expect(run(req({ tier: "silver" }, { node: "ghost" }))).toEqual(dec("deny", [engine("no-eligible-node")]));
  });
});

describe("steps 6-10: gates, experiment, action, send time, outcome", () => {
  it("high risk goes to review, with the sms offset", () => {
    expect(run(req({ tier: "gold" }))).toEqual(
      dec("review", [r("trigger-matched"), r("needs-review")], {
        node: "vip", channel: "sms", template: "tpl-vip-sms", send_at: "2026-11-25T10:30:00Z", explanation: "because vip",
      }),
    );
  });
  it("send with variant A / B, channel pass reasons and the first remaining channel", () => {
    const sendA = main("send", [...MAIN_BASE, r("sms-ok", { channel: "sms" }), r("email-ok", { channel: "email" })], {
      channel: "sms", template: "tpl-main-sms", offer: "offer-1", variant: "A", send_at: "2026-11-25T10:30:00Z", explanation: "because main",
    });
    expect(run(req(silver()))).toEqual(sendA);
    expect(run(req(silver({ "customer.id": VAR_B })))).toEqual({ ...sendA, variant: "B" });
  });
  it("holdout keeps channel and template only", () => {
    expect(run(req(silver({ "customer.id": HELD })))).toEqual(
      // Membership (step 6) comes before the gates' reasons.
      main("holdout", [r("trigger-matched"), r("eligible"), engine("holdout"), r("not-frozen"), r("sms-ok", { channel: "sms" }), r("email-ok", { channel: "email" })], {
        channel: "sms", template: "tpl-main-sms",
      }),
    );
  });
  it("without a customer id: no holdout, no variant", () => {
    const { "customer.id": _, ...noId } = silver();
    expect(run(req(noId))).toMatchObject({ outcome: "send", variant: null, channel: "sms" });
  });
  it("node-wide suppression list gate (in_list, expiry honoured)", () => {
    expect(run(req(silver({ "customer.id": "C-OPT" })))).toEqual(main("suppress", [r("trigger-matched"), r("eligible"), r("gate-optedOut")]));
    expect(run(req(silver({ "customer.id": "C-LATER" })))).toMatchObject({ outcome: "suppress" });
    expect(run(req(silver({ "customer.id": "C-EXP" })))).toMatchObject({ outcome: "send" });
  });
  it("node-wide deny and defer gates", () => {
    expect(run(req(silver({ frozen: true })))).toEqual(main("deny", [r("trigger-matched"), r("eligible"), r("gate-frozen")]));
    expect(run(req(silver({ paused: true })))).toEqual(
      main("defer", [...MAIN_BASE, r("paused")], { send_at: "2026-11-26T10:00:00Z" }),
    );
  });
  it("a defer gate whose until is not a time suppresses", () => {
    expect(run({ system: "crm", event: "ev2", now: NOW, context: {} })).toEqual(dec("suppress", [r("odd-defer")], { node: "odd" }));
  });
  it("channel gates remove channels; none left -> suppress if any block was suppress", () => {
    expect(run(req(silver({ "consent.sms": false })))).toEqual(
      main("send", [...MAIN_BASE, r("gate-noSms"), r("email-ok", { channel: "email" })], {
        channel: "email", offer: "offer-1", variant: "A", send_at: NOW, explanation: "because main",
      }),
    );
    expect(run(req(silver({ "consent.sms": false, "consent.email": false })))).toEqual(
      main("suppress", [...MAIN_BASE, r("gate-noSms"), r("gate-noEmail")]),
    );
  });
  it("history_count frequency cap over the window", () => {
    const day = 86_400_000;
    const at = (ms: number) => new Date(Date.parse(NOW) - ms).toISOString();
    const history = [
      { at: at(day), channel: "email", purpose: "marketing" },
      { at: at(6 * day), channel: "email" },
      { at: at(1 * day), channel: "sms" },
      { at: at(8 * day), channel: "email" },
    ];
    const ctx = silver({ "consent.sms": false });
    expect(run(req(ctx, { history }))).toEqual(
      main("suppress", [...MAIN_BASE, r("gate-noSms"), r("email-ok", { channel: "email" }), r("gate-cap")]),
    );
    expect(run(req(ctx, { history: history.slice(1) }))).toMatchObject({ outcome: "send", channel: "email" });
    // An entry that cannot be read is refused, not skipped (skipping would bypass the cap).
    expect(run(req(ctx, { history: [...history, { at: "garbage", channel: "email" }] }))).toEqual(
      deny("invalid-request", "history[4].at: not an RFC 3339 timestamp with a zone"),
    );
  });
  it("quiet hours defer sms to the end of the window (local time)", () => {
    expect(run(req(silver(), { now: "2026-11-25T20:45:30.250Z" }))).toMatchObject({
      outcome: "defer", channel: "sms", send_at: "2026-11-26T08:00:00Z",
    });
    // utc_offset -60: 07:30Z + 30 min = 08:00Z is local 07:00, deferred to 09:00Z.
    expect(run(req(silver({ "customer.utc_offset": -60 }), { now: "2026-11-25T07:30:00Z" }))).toMatchObject({
      outcome: "defer", send_at: "2026-11-25T09:00:00Z",
    });
  });
});

describe("other entrypoints", () => {
  it("waypost/suppressed lists every matching suppression list, sorted", () => {
    expect(run(req({ "customer.id": "C-OPT" }), "waypost/suppressed")).toEqual({ suppressed: true, lists: ["fraud", "optout"] });
    expect(run(req({ "customer.id": "C-LATER" }), "waypost/suppressed")).toEqual({ suppressed: true, lists: ["optout"] });
    expect(run(req({ "customer.id": "C-EXP" }), "waypost/suppressed")).toEqual({ suppressed: false, lists: [] });
    // No customer id: every list keyed on it counts (`missing` undeclared means suppress, docs/ir.md).
    expect(run(req({}), "waypost/suppressed")).toEqual({ suppressed: true, lists: ["fraud", "optout"] });
    expect(run(null, "waypost/suppressed")).toEqual(deny("invalid-request", "input"));
  });
  it("waypost/consent reports consent gates per channel", () => {
    expect(run(req(silver({ "consent.sms": false })), "waypost/consent")).toEqual({ node: "main", channels: { sms: false, email: true } });
    expect(run(req({ tier: "gold" }), "waypost/consent")).toEqual({ node: "vip", channels: { sms: true, email: true } });
    expect(run(req({ tier: "bronze" }, { now: "2027-06-01T00:00:00Z" }), "waypost/consent")).toMatchObject({ outcome: "deny" });
  });
});
