/**
 * `waypost test` end to end on the example repository: it passes with full coverage, and
 * planting a real bug in a copy of the policies (in memory, through test/support/repo.ts)
 * makes an invariant fail with a shrunk counterexample that is a ready-to-paste YAML case:
 * pasted into tests/, it fails on the buggy policies and passes on the correct ones.
 * Run counts stay small (the suite must stay fast on a 2-core CI machine); seeds are fixed.
 */
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { main } from "../../cli/main.js";
import { runPolicyTests, type TestReport } from "../../lifecycle/testing/index.js";
import { patchedHost, EXAMPLE, ROOT, type RepoChange } from "../support/repo.js";

const RUNS = 200;

const BUGS: Record<string, { change: RepoChange; invariant: string; seed: number }> = {
  "renewal dropped from the fraud list's scope": {
    change: { patches: [{ file: "policies/suppressions.yaml", replace: "scope: { channels: all, purposes: [marketing, onboarding, renewal] }", with: "scope: { channels: all, purposes: [marketing, onboarding] }" }] },
    invariant: "fraud-pauses-discretionary-contact",
    seed: 1,
  },
  "global opt-out narrowed to marketing": {
    change: { patches: [{ file: "policies/suppressions.yaml", replace: "scope: { channels: all, purposes: all }\n    entries:\n      - C-100045", with: "scope: { channels: all, purposes: [marketing] }\n    entries:\n      - C-100045" }] },
    invariant: "opted-out-and-deceased-get-nothing",
    seed: 1,
  },
  "quiet hours start an hour later": {
    change: { patches: [{ file: "policies/contact.yaml", replace: 'from: "21:00"', with: 'from: "22:00"' }] },
    invariant: "no-texts-or-pushes-at-night",
    seed: 1,
  },
  "an overlapping evening window defers texts into the night": {
    change: { patches: [{ file: "policies/contact.yaml", after: "    reason: No texts or notifications between 21:00 and 08:00 local time.\n", with: '  - id: evening\n    from: "19:00"\n    to: "22:00"\n    channels: [sms]\n    reason: No texts in the evening.\n' }] },
    invariant: "quiet-hours-respected",
    seed: 3,
  },
};

const failedIds = (r: TestReport): string[] => r.invariants.filter((i) => !i.ok).map((i) => i.id);

describe("waypost test on the example repository", () => {
  it("passes, covering every journey node, condition branch and outcome", async () => {
    const r = await runPolicyTests(patchedHost({}), { seed: 7, runs: RUNS });
    expect(r.diagnostics).toEqual([]);
    expect(r.cases.filter((c) => !c.ok).map((c) => `${c.name}: ${c.failures.map((f) => f.message).join("; ")}`)).toEqual([]);
    expect(r.cases.length).toBeGreaterThan(60);
    expect(failedIds(r)).toEqual([]);
    expect(r.invariants.map((i) => i.id)).toEqual(expect.arrayContaining([
      "suppression-respected", "consent-respected", "quiet-hours-respected", "holdout-no-treatment", "high-risk-reviewed",
    ]));
    // Every invariant is exercised by some generated decision (none is vacuous).
    expect(r.invariants.filter((i) => i.applied === 0).map((i) => i.id)).toEqual([]);
    const cov = r.coverage!;
    expect(cov.nodes.flatMap((n) => n.items.filter((x) => !x.covered).map((x) => `${n.node}: ${x.what}`))).toEqual([]);
    expect(cov.outcomes.every((o) => o.covered)).toBe(true);
    expect(cov.percent).toBe(100);
  });

  for (const [name, bug] of Object.entries(BUGS)) {
    it(`catches a planted bug: ${name}`, async () => {
      const r = await runPolicyTests(patchedHost(bug.change), { seed: bug.seed, runs: RUNS });
      expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(failedIds(r)).toContain(bug.invariant);
      const inv = r.invariants.find((i) => i.id === bug.invariant)!;
      const ce = inv.counterexample!;
      expect(ce.yaml).toContain(`--seed ${bug.seed}`);
      expect(ce.shrinks).toBeGreaterThan(0);
      // The counterexample is a case: pasted into tests/, it fails now and passes once fixed.
      const parsed = YAML.parse(ce.yaml) as unknown[];
      expect(Array.isArray(parsed) && parsed.length === 1).toBe(true);
      const suite = `apiVersion: waypost/v1\nkind: PolicyTests\ncases:\n${ce.yaml.replace(/^/gm, "  ")}`;
      const replay = { ...bug.change, files: { "tests/regression.yaml": suite } };
      const buggy = await runPolicyTests(patchedHost(replay), { seed: 1, runs: 1, invariants: false });
      expect(buggy.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(buggy.cases.filter((c) => !c.ok).map((c) => c.name)).toContain(`${bug.invariant} counterexample (seed ${bug.seed})`);
      const fixed = await runPolicyTests(patchedHost({ files: { "tests/regression.yaml": suite } }), { seed: 1, runs: 1, invariants: false });
      expect(fixed.cases.filter((c) => !c.ok)).toEqual([]);
    });
  }

  it("replays the same counterexample from the same seed", async () => {
    const bug = BUGS["quiet hours start an hour later"]!;
    const only = [bug.invariant];
    const a = await runPolicyTests(patchedHost(bug.change), { seed: bug.seed, runs: RUNS, only });
    const b = await runPolicyTests(patchedHost(bug.change), { seed: bug.seed, runs: RUNS, only });
    expect(a.invariants[0]!.counterexample!.yaml).toBe(b.invariants[0]!.counterexample!.yaml);
  });

  it("runs cases through the Wasm bundle and the reference interpreter alike", async () => {
    const w = await runPolicyTests(patchedHost({}), { seed: 1, runs: 1, invariants: false });
    const i = await runPolicyTests(patchedHost({}), { seed: 1, runs: 1, invariants: false, engine: "interpreter" });
    const strip = (r: TestReport) => r.cases.map((c) => ({ ...c.decision, decision_id: "" }));
    expect(strip(w)).toEqual(strip(i));
  });
});

async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const code = await main(["test", ...args], { stdout: (s) => void (out += s), stderr: (s) => void (out += s), color: false, cwd: EXAMPLE, env: {} });
  return { code, out };
}

describe("waypost test command", () => {
  it("passes on the example repository (text), with a coverage threshold", async () => {
    const { code, out } = await cli([EXAMPLE, "--seed", "5", "--runs", "50", "--coverage-threshold", "100"]);
    expect(out).toMatch(/✔ \d+ cases passed, \d+ invariants hold, coverage 100\.0% \(threshold 100%\)/);
    expect(code).toBe(0);
  });

  it("writes JSON and JUnit reports", async () => {
    const json = await cli([EXAMPLE, "--seed", "5", "--runs", "20", "--format", "json"]);
    const doc = JSON.parse(json.out) as { ok: boolean; cases: unknown[]; invariants: { id: string; ok: boolean }[]; coverage: { percent: number } };
    expect(doc.ok).toBe(true);
    expect(doc.coverage.percent).toBe(100);
    const junit = await cli([EXAMPLE, "--seed", "5", "--runs", "20", "--format", "junit"]);
    // Paths are relative to the Git repository root (this repository); test/ci/junit.test.ts validates the schema.
    expect(junit.out).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites>/);
    expect(junit.out).toMatch(/<testsuite package="waypost" id="\d+" name="examples\/northwind\/tests\/claims.yaml"/);
    expect(junit.out).toMatch(/<testsuite package="waypost" id="\d+" name="invariants"/);
    expect(junit.out).not.toContain("<failure");
  });

  it("usage errors exit 2", async () => {
    expect((await cli([EXAMPLE, "--runs", "0"])).code).toBe(2);
    expect((await cli([EXAMPLE, "--format", "tap"])).code).toBe(2);
    expect((await cli([EXAMPLE, "--coverage-threshold", "120"])).code).toBe(2);
  });
});

describe("failing tests are reported where they are written", () => {
  it("a wrong expectation: text points at the line, github annotates it, junit fails it", async () => {
    const { runPolicyTests: run } = await import("../../lifecycle/testing/index.js");
    const change: RepoChange = { patches: [{ file: "tests/claims.yaml", replace: "      send_at: 2026-11-26T10:00:00Z  # texts leave 24 hours later", with: "      send_at: 2026-11-26T09:00:00Z" }] };
    const r = await run(patchedHost(change), { seed: 1, runs: 10, invariants: false });
    const bad = r.cases.filter((c) => !c.ok);
    expect(bad.map((c) => c.name)).toEqual(["day 3 update goes by text"]);
    expect(bad[0]!.failures[0]!.message).toBe("expected send_at `2026-11-26T09:00:00Z`, got `2026-11-26T10:00:00Z`");
    const { renderGithubReport, renderJunit, verdict } = await import("../../cli/render/test-report.js");
    const v = verdict(r, undefined);
    expect(v.ok).toBe(false);
    const gh = renderGithubReport(r, v);
    expect(gh).toMatch(/^::error file=tests\/claims\.yaml,line=\d+,col=16,title=waypost test%3A day 3 update goes by text::expected send_at/m);
    expect(renderJunit(r, v)).toContain('<failure type="expectation" message="expected send_at `2026-11-26T09:00:00Z`, got `2026-11-26T10:00:00Z`"');
  });

  it("coverage below the threshold fails", async () => {
    const { renderText, verdict } = await import("../../cli/render/test-report.js");
    const change: RepoChange = { remove: ["tests/service-recovery.yaml"] };
    const r = await runPolicyTests(patchedHost(change), { seed: 1, runs: 10, invariants: false });
    const v = verdict(r, 95);
    expect(v.ok).toBe(false);
    const text = renderText(r, v, false);
    expect(text).toMatch(/uncovered: journeys\/service-recovery\.yaml:\d+:\d+ node `service-recovery` decides a case/);
    expect(text).toContain("is below the threshold of 95%");
    expect(text).toContain("review ✖");
  });
});

describe("the policy-repository workflow", () => {
  it("checks, tests with a coverage threshold and JUnit, builds and uploads the bundle", async () => {
    const { readFileSync } = await import("node:fs");
    const wf = YAML.parse(readFileSync(`${ROOT}.github/workflows/policy-tests.yml`, "utf8")) as { jobs: Record<string, { steps: { run?: string; uses?: string; with?: Record<string, string> }[] }> };
    const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
    const runs = steps.map((s) => s.run ?? "").join("\n");
    expect(runs).toMatch(/\$WAYPOST check "\$POLICY_DIR" --format github/);
    expect(runs).toMatch(/\$WAYPOST test .*--coverage-threshold "\$COVERAGE_THRESHOLD" --format github --junit waypost-test\.junit\.xml/);
    expect(runs).toMatch(/\$WAYPOST build "\$POLICY_DIR" --out out/);
    expect(steps.some((s) => s.uses?.startsWith("actions/upload-artifact") && s.with?.["path"] === "out/bundle.tar.gz")).toBe(true);
  });
});
