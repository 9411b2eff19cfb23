/**
 * WP5013: a holdout's or experiment's salt or share change moves customers between control and
 * treatment; `waypost diff` and `waypost check --against REV` say how many, next to the exact
 * expected fraction (docs/ir.md "Holdouts").
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../../cli/main.js";
import { bucket } from "../../compiler/ir/interpret.js";
import type { Plan } from "../../compiler/ir/ir.js";
import { holdoutShifts, SHIFT_SAMPLE } from "../../lifecycle/diff/holdouts.js";
import { scratchRepo, type Scratch } from "./scratch.js";

async function cli(cwd: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

/** A plan with just the parts holdoutShifts reads: one universal holdout and one experiment. */
const plan = (h: { salt: string; bp: number }, x: { salt: string; bp: number }): Plan =>
  ({
    nodes: [{ id: "n", experiment: { salt: x.salt, holdout_bp: x.bp, variants: [] } }],
    holdouts: [{ id: "u", salt: h.salt, holdout_bp: h.bp }],
  }) as unknown as Plan;

const inRange = (salt: string, lo: number, hi: number): number => {
  let n = 0;
  for (let i = 0; i < SHIFT_SAMPLE; i++) {
    const b = bucket(salt, `customer-${i}`);
    if (b >= lo && b < hi) n++;
  }
  return n;
};

describe("holdoutShifts", () => {
  test("unchanged groups move nobody and are not reported", () => {
    const p = plan({ salt: "a", bp: 500 }, { salt: "b", bp: 1000 });
    expect(holdoutShifts(p, plan({ salt: "a", bp: 500 }, { salt: "b", bp: 1000 }))).toEqual([]);
  });

  test("a larger share with the same salt moves exactly the buckets between the shares into control", () => {
    const [s, ...rest] = holdoutShifts(plan({ salt: "a", bp: 500 }, { salt: "b", bp: 1000 }), plan({ salt: "a", bp: 1000 }, { salt: "b", bp: 1000 }));
    expect(rest).toEqual([]);
    expect(s).toMatchObject({ key: "holdout/u", toTreatment: 0, sampled: SHIFT_SAMPLE, expectedToTreatment: 0, expectedToControl: 0.05 });
    expect(s!.toControl).toBe(inRange("a", 500, 1000));
    expect(s!.toControl / SHIFT_SAMPLE).toBeCloseTo(0.05, 1);
  });

  test("a smaller share moves the other way", () => {
    const [s] = holdoutShifts(plan({ salt: "a", bp: 1000 }, { salt: "b", bp: 0 }), plan({ salt: "a", bp: 200 }, { salt: "b", bp: 0 }));
    expect(s).toMatchObject({ toControl: 0, expectedToTreatment: 0.08, expectedToControl: 0 });
    expect(s!.toTreatment).toBe(inRange("a", 200, 1000));
  });

  test("a new salt reshuffles both ways, about p(1-q) and (1-p)q", () => {
    const [s] = holdoutShifts(plan({ salt: "u", bp: 0 }, { salt: "x-2026", bp: 2000 }), plan({ salt: "u", bp: 0 }, { salt: "x-2027", bp: 2000 }));
    expect(s!.key).toBe("node/n/experiment");
    expect(s!.expectedToTreatment).toBeCloseTo(0.16, 10);
    expect(s!.expectedToControl).toBeCloseTo(0.16, 10);
    expect(s!.toTreatment).toBeGreaterThan(1300);
    expect(s!.toTreatment).toBeLessThan(1900);
    expect(s!.toControl).toBeGreaterThan(1300);
    expect(s!.toControl).toBeLessThan(1900);
  });
});

describe("waypost diff and check --against", () => {
  let repo: Scratch;
  beforeAll(async () => {
    repo = await scratchRepo("wp-holdout-");
    await repo.commit("Hold out 10% of marketing, not 5%", {
      patches: [{ file: "policies/purposes.yaml", replace: "    share: 5%\n    purposes: [marketing]", with: "    share: 10%\n    purposes: [marketing]" }],
    });
  });
  afterAll(async () => {
    await repo.cleanup();
  });

  test("diff lists the share change as a holdout shift with its counts", async () => {
    const r = await cli(repo.dir, "diff", "HEAD~1", "HEAD", "--format", "json", "--runs", "0");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as { risks: { kind: string; message: string }[] };
    const shifts = report.risks.filter((k) => k.kind === "holdout-shift");
    expect(shifts).toHaveLength(1);
    const moved = inRange("marketing-2026", 500, 1000);
    expect(shifts[0]!.message).toBe(
      `WP5013 \`holdout/marketing-2026\`: share 5% → 10% moves 0 of ${SHIFT_SAMPLE} sampled customers from control to treatment and ${moved} from treatment to control (expected 0% and 5%)`,
    );
  });

  test("check --against warns at the changed share; without a change it is clean", async () => {
    const r = await cli(repo.dir, "check", ".", "--against", "HEAD~1");
    expect(r.code, r.err).toBe(0); // a warning, not an error
    expect(r.out).toContain("warning[WP5013]");
    expect(r.out).toMatch(/policies\/purposes\.yaml:\d+:\d+/);
    expect(r.out).toContain("share 5% → 10% moves 0 of 10000 sampled customers");
    const strict = await cli(repo.dir, "check", ".", "--against", "HEAD~1", "--strict");
    expect(strict.code).toBe(1);
    const same = await cli(repo.dir, "check", ".", "--against", "HEAD");
    expect(same.code, same.out).toBe(0);
    expect(same.out).not.toContain("WP5013");
  });

  test("check --against an unknown revision is a usage problem (exit 2)", async () => {
    const r = await cli(repo.dir, "check", ".", "--against", "no-such-branch");
    expect(r.code).toBe(2);
    expect(r.err).toContain("WP5002");
  });
});

