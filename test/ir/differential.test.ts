/**
 * Differential tests: every evaluator other than the reference interpreter must return exactly
 * the interpreter's output (deep-equal, and the same JSON text, i.e. the same key order) on
 * generated inputs. Skips, with the reason, only while an evaluator is unavailable (the Wasm
 * backend before compiler/emit/index.ts exists).
 *
 * Seeds: fast-check prints the seed and the shrunk counterexample of a failure; rerun with
 * `FC_SEED=<seed>` to reproduce it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, evalExpr } from "../../compiler/ir/interpret.js";
import type { BundleData, Expr, IR, JsonValue, Plan } from "../../compiler/ir/ir.js";
import { parseTime } from "../../compiler/ir/time.js";
import { ENTRYPOINTS, evaluators, interpreterEvaluator, type EvaluateFn } from "../support/evaluators.js";
import { consentMaxAges, exprArb, planVariation, requestFor, validValue, zoneTransitions, type RequestOptions } from "../support/ir-arbitraries.js";
import { ZONE_KEY, loadFixture, probeFixture, withZones } from "./load-cases.js";

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(seed === undefined ? {} : { seed }) });

/** What the SDK does to an input (JSON.stringify), applied before either evaluator sees it. */
const asJson = (v: JsonValue): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;

/**
 * Generated customers live in IANA zones of both hemispheres (with DST), a half-hour and a
 * 45-minute offset, or a fixed offset (the zone key absent); `now` clusters around the zones'
 * transitions and consent times around the plans' max ages, so deferrals, channel offsets and
 * send-time checks (docs/ir.md step 10) cross them.
 */
const ZONES = ["America/New_York", "Asia/Kolkata", "Australia/Sydney", "Europe/London", "Pacific/Chatham"];
const fixture = withZones(loadFixture("claims"), ZONES);
/** Consent with max_age, withdrawals, channel sets, `at_send` gates and a validity window. */
const marketing = withZones(loadFixture("marketing"), ZONES);
const timed = (ir: IR): RequestOptions => ({
  nowCenters: zoneTransitions(ir.plan),
  // shortly before a validity window ends: a deferred or delayed send time may fall after it
  nowBefore: ir.plan.nodes.flatMap((n) => (n.valid_until === null ? [] : [n.valid_until])),
  consentAgesMs: consentMaxAges(ir),
});

async function agree(run: EvaluateFn, ir: IR, data: BundleData, request: JsonValue): Promise<void> {
  for (const ep of ENTRYPOINTS) {
    const want = decide(ir, data, request, ep);
    const got = await run(request, ep);
    expect({ request, entrypoint: ep, got }).toStrictEqual({ request, entrypoint: ep, got: want });
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
  }
}

/**
 * Requests for the marketing fixture, half of them without withdrawals and half consenting to
 * every channel: otherwise few get past the consent gates to a send time (step 10).
 */
function marketingRequests(opts: RequestOptions = {}): fc.Arbitrary<JsonValue> {
  return fc
    .tuple(requestFor(marketing.ir.plan, marketing.data, { ...opts, ...timed(marketing.ir) }), fc.boolean(), fc.boolean())
    .map(([req, noWithdrawal, allChannels]) => {
      const ctx = req !== null && typeof req === "object" && !Array.isArray(req) ? req["context"] : undefined;
      if (ctx === null || typeof ctx !== "object" || Array.isArray(ctx)) return req;
      const context: { [k: string]: JsonValue } = { ...ctx };
      if (noWithdrawal) for (const k of Object.keys(context)) if (k.endsWith(".withdrawn_at")) delete context[k];
      if (allChannels && "consent.marketing.channels" in context) context["consent.marketing.channels"] = ["sms", "email"];
      return { ...(req as { [k: string]: JsonValue }), context };
    });
}

describe("differential generators", () => {
  // The properties above only compare evaluators; this checks (on a fixed sample, interpreter
  // only) that the generated inputs actually reach what they are meant to exercise.
  it("reach every zone, both send-time blocks, deferral and consent going stale at the send time", () => {
    const reqs = fc.sample(marketingRequests(), { seed: 7, numRuns: 600 });
    const seen = new Map<string, number>();
    const count = (k: string): void => void seen.set(k, (seen.get(k) ?? 0) + 1);
    for (const req of reqs) {
      const ctx = (req as { context?: Record<string, unknown> } | null)?.context;
      const zone = ctx?.[ZONE_KEY];
      if (typeof zone === "string") count(`zone:${zone}`);
      const d = decide(marketing.ir, marketing.data, req) as { outcome: string; reasons: { code: string }[] };
      count(`outcome:${d.outcome}`);
      const codes = d.reasons.map((r) => r.code);
      for (const c of new Set(codes)) count(`reason:${c}`);
      // consent fresh at decision time (granted) but stale at the send time
      if (codes.includes("blocked-at-send-time") && codes[codes.indexOf("blocked-at-send-time") - 1] === "consent-missing") count("stale-at-send");
    }
    for (const z of ZONES) expect(seen.get(`zone:${z}`) ?? 0, z).toBeGreaterThan(0);
    for (const k of ["reason:blocked-at-send-time", "reason:not-valid-at-send-time", "reason:quiet-hours", "reason:consent-withdrawn", "stale-at-send", "outcome:defer", "outcome:send"]) {
      expect(seen.get(k) ?? 0, k).toBeGreaterThan(0);
    }
  });
});

for (const ev of evaluators) {
  if (ev === interpreterEvaluator) continue;
  describe(`differential: ${ev.name} vs interpreter`, () => {
    const reason = ev.unavailable();
    if (reason !== null) {
      it.skip(`skipped: ${reason}`, () => {});
      return;
    }

    it("agrees on generated requests against the shared fixture", async () => {
      const run = await ev.prepare(fixture.ir, fixture.data);
      await fc.assert(
        fc.asyncProperty(requestFor(fixture.ir.plan, fixture.data, timed(fixture.ir)), async (req) => {
          await agree(run, fixture.ir, fixture.data, asJson(req));
        }),
        params(1500),
      );
    });

    it("agrees on plan variations (gates, channels, experiments, quiet hours, random conditions)", async () => {
      await fc.assert(
        fc.asyncProperty(
          planVariation(fixture.ir, fixture.data),
          fc.array(requestFor(fixture.ir.plan, fixture.data, { invalidField: 0.03, badShape: 0.02, ...timed(fixture.ir) }), {
            minLength: 40,
            maxLength: 40,
          }),
          async (ir, requests) => {
            const data: BundleData = { ...fixture.data, plan: ir.plan };
            const run = await ev.prepare(ir, data);
            for (const req of requests) await agree(run, ir, data, asJson(req));
          },
        ),
        params(30),
      );
    });

    it("agrees on send-time checks (zones, offsets, quiet hours, consent near max_age, validity)", async () => {
      const run = await ev.prepare(marketing.ir, marketing.data);
      await fc.assert(
        fc.asyncProperty(marketingRequests({ invalidField: 0.03 }), async (req) => {
          await agree(run, marketing.ir, marketing.data, asJson(req));
        }),
        params(800),
      );
    });

    it("agrees on send-time checks under plan variations (at_send on any gate, windows closing near now)", async () => {
      await fc.assert(
        fc.asyncProperty(
          planVariation(marketing.ir, marketing.data),
          fc.array(marketingRequests({ invalidField: 0.02, badShape: 0.01 }), {
            minLength: 40,
            maxLength: 40,
          }),
          async (ir, requests) => {
            const data: BundleData = { ...marketing.data, plan: ir.plan };
            const run = await ev.prepare(ir, data);
            for (const req of requests) await agree(run, ir, data, asJson(req));
          },
        ),
        params(20),
      );
    });

    it("agrees on the value of random expressions (probe plans)", async () => {
      // One plan per run: K random expressions, each guarded by a channel gate that blocks
      // iff the evaluator's value differs from the interpreter's (see probeFixture). The
      // decision keeps every channel exactly when all K values agree.
      const plan = fixture.ir.plan;
      const names = Object.keys(plan.fields).sort();
      const lists = Object.keys(fixture.data.lists).sort();
      const contextArb = fc.record(
        Object.fromEntries(names.map((n) => [n, validValue(plan.fields[n]!, ["C-FRAUD", "C-EDGE", "C-1"])])),
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(exprArb(names, [...lists, "nope"], 4), { minLength: 12, maxLength: 12 }),
          contextArb,
          fc.integer({ min: -72, max: 72 }).map((h) => new Date(Date.UTC(2026, 10, 25, 10) + h * 3_600_000).toISOString()),
          async (exprs, context, now) => {
            const probe = probeAll(exprs, asJson(context as JsonValue) as Record<string, JsonValue>, now, fixture.data.lists, plan);
            const run = await ev.prepare(probe.ir, probe.data);
            const got = (await run(probe.request, "waypost/decide")) as { reasons?: { channel?: string }[] };
            const mismatched = (got.reasons ?? []).map((r) => r.channel).filter((c) => c !== undefined);
            const detail = mismatched.map((c) => ({ expr: exprs[Number(String(c).slice(1))], want: probe.values[Number(String(c).slice(1))] }));
            expect(detail).toEqual([]);
          },
        ),
        params(25),
      );
    });
  });
}

/** Builds one probe plan for several expressions (channel `e<i>` blocked iff expr i mismatches). */
function probeAll(
  exprs: Expr[],
  context: Record<string, JsonValue>,
  now: string,
  lists: BundleData["lists"],
  base: Plan,
): { ir: IR; data: BundleData; request: JsonValue; values: (JsonValue | undefined)[] } {
  const nowMs = parseTime(now) as number;
  const offset = context[base.keys.utc_offset];
  const zoneName = context[ZONE_KEY];
  const zone = typeof zoneName === "string" ? base.zones?.[zoneName] : undefined;
  const values = exprs.map((e) =>
    evalExpr(e, { context, now: nowMs, lists, history: undefined, utcOffsetMin: typeof offset === "number" ? offset : 0, zone }),
  );
  // Reuse probeFixture's plan shape and its `check` expression for each value.
  const first = probeFixture({ note: "p", expr: exprs[0]!, context, now, want: values[0] }, lists, base.zones);
  const conds: Expr[] = [];
  const channels: string[] = [];
  const gates = exprs.map((e, i) => {
    const p = probeFixture({ note: "p", expr: e, context, now, want: values[i] }, lists);
    conds.push({ op: "not", arg: p.fixture.ir.conds[0]! });
    channels.push(`e${i}`);
    return {
      step: "contact-policy" as const,
      cond: i,
      channel: `e${i}`,
      outcome: "deny" as const,
      reason: { code: "mismatch", policy: "probe", message: "mismatch", source: "probe", channel: `e${i}` },
    };
  });
  const node = { ...first.fixture.ir.plan.nodes[0]!, conditions: [], gates, channels };
  const plan: Plan = { ...first.fixture.ir.plan, nodes: [node], fields: { ...first.fixture.ir.plan.fields } };
  // The probe's field specs are inferred from the context values; keep the real ones instead.
  for (const k of Object.keys(context)) if (base.fields[k]) plan.fields[k] = base.fields[k]!;
  return { ir: { plan, conds }, data: { plan, lists, revision: "probe" }, request: first.request, values };
}
