/**
 * `waypost init`: a new policy repository that passes `check`, `test` and `demo` as generated,
 * with editor schema comments that resolve to the schemas, workflows in the Git root, and no
 * file ever overwritten.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { runCli } from "../support/cli.js";
import { INIT_COVERAGE } from "../../lifecycle/init.js";
import { ROOT } from "../support/repo.js";

const fresh = (): string => mkdtempSync(path.join(tmpdir(), "waypost-init-"));

describe("waypost init", () => {
  it("creates a repository that passes check, test and demo as generated", async () => {
    const base = fresh();
    const r = await runCli(["init", "acme"], base);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const dir = path.join(base, "acme");
    for (const f of [
      "policies/data-dictionary.yaml", "policies/purposes.yaml", "policies/access.yaml", "policies/suppressions.yaml", "policies/contact.yaml",
      "journeys/welcome.yaml", "tests/welcome.yaml", "requests/welcome.json", "requests/welcome.expected.json",
      ".github/workflows/policy-tests.yml", ".github/workflows/policy-diff.yml", ".github/workflows/policy-diff-comment.yml",
    ]) expect(existsSync(path.join(dir, f)), f).toBe(true);
    const check = await runCli(["check", dir, "--strict"]);
    expect(check.stdout).toContain("no problems in");
    expect(check.code).toBe(0);
    const test = await runCli(["test", dir, "--seed", "1", "--runs", "100", "--coverage-threshold", String(INIT_COVERAGE)]);
    expect(test.stdout).toMatch(/✔ 5 cases passed, \d+ invariants hold, coverage 77\.8%/);
    expect(test.code).toBe(0);
    const demo = await runCli(["demo", dir]);
    expect(demo.code).toBe(0);
  });

  it("points every YAML file's editor schema comment at an existing schema", async () => {
    // Inside this package (a clone of waypost) the comment points at its own schemas/.
    const dir = mkdtempSync(path.join(ROOT, "test", ".init-"));
    mkdirSync(path.join(dir, ".git")); // its own repository, so the workflows stay inside it
    try {
      expect((await runCli(["init", dir])).code).toBe(0);
      for (const f of ["policies/purposes.yaml", "journeys/welcome.yaml", "tests/welcome.yaml"]) {
        const m = /^# yaml-language-server: \$schema=(\S+)$/m.exec(readFileSync(path.join(dir, f), "utf8"));
        expect(m, f).not.toBeNull();
        expect(existsSync(path.resolve(path.dirname(path.join(dir, f)), m![1]!)), m![1]).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Elsewhere, at the package installed in node_modules (here a stand-in folder).
    const proj = fresh();
    mkdirSync(path.join(proj, "node_modules/waypost/schemas"), { recursive: true });
    expect((await runCli(["init", "policies-repo"], proj)).code).toBe(0);
    expect(readFileSync(path.join(proj, "policies-repo/journeys/welcome.yaml"), "utf8")).toMatch(/^# yaml-language-server: \$schema=\.\.\/\.\.\/node_modules\/waypost\/schemas\/journey-node\.schema\.json$/m);
    // With nothing installed: where `npm install --save-dev waypost` in DIR will put it.
    const bare = fresh();
    expect((await runCli(["init"], bare)).code).toBe(0);
    expect(readFileSync(path.join(bare, "policies/contact.yaml"), "utf8").split("\n")[0]).toBe("# yaml-language-server: $schema=../node_modules/waypost/schemas/contact-policy.schema.json");
  });

  it("inside a Git repository: workflows go to the repository's .github, pointed at the policy folder", async () => {
    const repo = fresh();
    await git.init({ fs, dir: repo });
    expect((await runCli(["init", "teams/policies"], repo)).code).toBe(0);
    expect(existsSync(path.join(repo, "teams/policies/.github"))).toBe(false);
    const wf = YAML.parse(readFileSync(path.join(repo, ".github/workflows/policy-tests.yml"), "utf8")) as { env: Record<string, string> };
    expect(wf.env["POLICY_DIR"]).toBe("teams/policies");
  });

  it("refuses to overwrite an existing file (exit 2), and then writes nothing", async () => {
    const dir = fresh();
    mkdirSync(path.join(dir, "journeys"));
    writeFileSync(path.join(dir, "journeys/welcome.yaml"), "mine\n");
    const r = await runCli(["init", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("refusing to overwrite an existing file:");
    expect(r.stderr).toContain("journeys/welcome.yaml");
    expect(readFileSync(path.join(dir, "journeys/welcome.yaml"), "utf8")).toBe("mine\n");
    expect(existsSync(path.join(dir, "policies"))).toBe(false);
    // A second init over a first one: every file is in the way.
    const again = fresh();
    expect((await runCli(["init", again])).code).toBe(0);
    const r2 = await runCli(["init", again]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/refusing to overwrite \d+ existing files/);
    const file = path.join(fresh(), "f");
    writeFileSync(file, "");
    expect((await runCli(["init", file])).code).toBe(2);
  });
});
