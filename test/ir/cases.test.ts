/**
 * Runs every shared case in test/cases/*.yaml on every evaluator (test/support/evaluators.ts).
 * The wants are written by hand from docs/ir.md; a failure here is a disagreement with the doc.
 */
import { describe, expect, it } from "vitest";
import { evalExpr } from "../../compiler/ir/interpret.js";
import { parseTime } from "../../compiler/ir/time.js";
import { evaluators, type EvaluateFn } from "../support/evaluators.js";
import { ZONE_KEY, loadCaseFiles, probeFixture } from "./load-cases.js";

const files = loadCaseFiles();

describe("shared cases", () => {
  it("are present and cover every entrypoint", () => {
    const entrypoints = new Set(files.flatMap((f) => f.cases.map((c) => c.entrypoint)));
    expect([...entrypoints].sort()).toEqual(["waypost/consent", "waypost/decide", "waypost/suppressed"]);
    expect(files.reduce((n, f) => n + f.cases.length, 0)).toBeGreaterThan(80);
  });
});

describe("expression cases on evalExpr", () => {
  for (const f of files) {
    for (const c of f.exprCases) {
      it(`${f.file}: ${c.note}`, () => {
        const offset = c.context["customer.utc_offset"];
        const zoneName = c.context[ZONE_KEY];
        const got = evalExpr(c.expr, {
          context: c.context,
          now: parseTime(c.now) as number,
          lists: f.fixture.data.lists,
          history: c.history,
          utcOffsetMin: typeof offset === "number" ? offset : 0,
          zone: typeof zoneName === "string" ? f.zones?.[zoneName] : undefined,
        });
        expect(got).toStrictEqual(c.want);
      });
    }
  }
});

for (const ev of evaluators) {
  describe(`evaluator ${ev.name}`, () => {
    const reason = ev.unavailable();
    if (reason !== null) {
      it.skip(`skipped: ${reason}`, () => {});
      return;
    }
    for (const f of files) {
      describe(f.file, () => {
        let run: EvaluateFn | undefined;
        const evaluate = async (req: unknown, ep: Parameters<EvaluateFn>[1]) => {
          run ??= await ev.prepare(f.fixture.ir, f.fixture.data);
          return run(req, ep);
        };
        for (const c of f.cases) {
          it(c.note, async () => {
            const got = await evaluate(c.request, c.entrypoint);
            expect(got).toStrictEqual(c.want);
            // docs/ir.md fixes the key order of the output ("byte-for-byte the same JSON").
            expect(JSON.stringify(got)).toBe(JSON.stringify(c.want));
          });
        }
        for (const c of f.exprCases) {
          it(`expr: ${c.note}`, async () => {
            const probe = probeFixture(c, f.fixture.data.lists, f.zones);
            const run = await ev.prepare(probe.fixture.ir, probe.fixture.data);
            const got = (await run(probe.request, "waypost/decide")) as { outcome?: unknown };
            expect(got.outcome).toBe("send");
          });
        }
      });
    }
  });
}
