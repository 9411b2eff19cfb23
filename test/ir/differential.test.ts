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
import { exprArb, planVariation, requestFor, validValue } from "../support/ir-arbitraries.js";
import { loadFixture, probeFixture } from "./load-cases.js";

const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(seed === undefined ? {} : { seed }) });

/** What the SDK does to an input (JSON.stringify), applied before either evaluator sees it. */
const asJson = (v: JsonValue): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;

const fixture = loadFixture("claims");

async function agree(run: EvaluateFn, ir: IR, data: BundleData, request: JsonValue): Promise<void> {
  for (const ep of ENTRYPOINTS) {
    const want = decide(ir, data, request, ep);
    const got = await run(request, ep);
    expect({ request, entrypoint: ep, got }).toStrictEqual({ request, entrypoint: ep, got: want });
    expect(JSON.stringify(got)).toBe(JSON.stringify(want));
  }
}

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
        fc.asyncProperty(requestFor(fixture.ir.plan, fixture.data), async (req) => {
          await agree(run, fixture.ir, fixture.data, asJson(req));
        }),
        params(1500),
      );
    });

    it("agrees on plan variations (gates, channels, experiments, quiet hours, random conditions)", async () => {
      await fc.assert(
        fc.asyncProperty(
          planVariation(fixture.ir, fixture.data),
          fc.array(requestFor(fixture.ir.plan, fixture.data, { invalidField: 0.03, badShape: 0.02 }), {
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
  const values = exprs.map((e) =>
    evalExpr(e, { context, now: nowMs, lists, history: undefined, utcOffsetMin: typeof offset === "number" ? offset : 0 }),
  );
  // Reuse probeFixture's plan shape and its `check` expression for each value.
  const first = probeFixture({ note: "p", expr: exprs[0]!, context, now, want: values[0] }, lists);
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
