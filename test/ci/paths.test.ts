/**
 * Paths in reports are relative to the Git repository root (or `--base`), so a policy folder
 * inside a monorepo is annotated on the right files: `waypost check sub/` reports
 * `sub/journeys/x.yaml`, in every format, and so does `waypost test`.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { EXAMPLE } from "../support/repo.js";

let repo = "";
let sub = "";

beforeAll(async () => {
  repo = mkdtempSync(path.join(tmpdir(), "waypost-paths-"));
  sub = path.join(repo, "policy", "sub");
  mkdirSync(sub, { recursive: true });
  for (const d of ["policies", "journeys", "tests"]) cpSync(path.join(EXAMPLE, d), path.join(sub, d), { recursive: true });
  await git.init({ fs, dir: repo });
  // One unknown field (a check error) and one wrong expectation (a failing case).
  const node = path.join(sub, "journeys/claim-update-day3.yaml");
  writeFileSync(node, readFileSync(node, "utf8").replace("when: days_since(claim.opened_at) == 3", "when: days_since(claim.opend_at) == 3"));
});

function fixCondition(): void {
  const node = path.join(sub, "journeys/claim-update-day3.yaml");
  writeFileSync(node, readFileSync(node, "utf8").replace("claim.opend_at", "claim.opened_at"));
  const t = path.join(sub, "tests/claims.yaml");
  writeFileSync(t, readFileSync(t, "utf8").replace("      send_at: 2026-11-26T10:00:00Z  # texts leave 24 hours later", "      send_at: 2026-11-26T09:00:00Z"));
}

describe("paths relative to the Git repository root", () => {
  it("check: SARIF uris, annotations, json and text all start with the folder's path in the repository", async () => {
    const sarif = await runCli(["check", "policy/sub", "--format", "sarif"], repo);
    expect(sarif.code).toBe(1);
    const uris = (JSON.parse(sarif.stdout) as { runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] }).runs[0]!.results.flatMap((r) => r.locations.map((l) => l.physicalLocation.artifactLocation.uri));
    expect(uris).toEqual(["policy/sub/journeys/claim-update-day3.yaml"]);
    const gh = await runCli(["check", sub, "--format", "github"], "/");
    expect(gh.stdout).toMatch(/^::error file=policy\/sub\/journeys\/claim-update-day3\.yaml,line=\d+,col=20,/m);
    const json = JSON.parse((await runCli(["check", sub, "--format", "json"])).stdout) as { diagnostics: { file: string }[] };
    expect(json.diagnostics[0]!.file).toBe("policy/sub/journeys/claim-update-day3.yaml");
    expect((await runCli(["check", sub])).stdout).toContain("--> policy/sub/journeys/claim-update-day3.yaml:12:20");
  });

  it("--base: relative to the folder given (here the policy folder itself); a folder outside it is a usage error", async () => {
    const gh = await runCli(["check", sub, "--format", "github", "--base", sub]);
    expect(gh.stdout).toMatch(/^::error file=journeys\/claim-update-day3\.yaml,line=\d+/m);
    const sarif = JSON.parse((await runCli(["check", sub, "--format", "sarif", "--base", path.join(repo, "policy")])).stdout) as { runs: { results: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] };
    expect(sarif.runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation.uri).toBe("sub/journeys/claim-update-day3.yaml");
    const outside = await runCli(["check", sub, "--base", path.join(sub, "journeys")]);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain("is not inside `--base");
    expect((await runCli(["check", sub, "--base", path.join(repo, "nope")])).code).toBe(2);
  });

  it("test: annotations, JUnit and JSON name the case files from the repository root", async () => {
    fixCondition();
    const gh = await runCli(["test", "policy/sub", "--seed", "1", "--runs", "1", "--no-invariants", "--format", "github"], repo);
    expect(gh.code).toBe(1);
    expect(gh.stdout).toMatch(/^::error file=policy\/sub\/tests\/claims\.yaml,line=\d+,col=16,title=waypost test%3A day 3 update goes by text::/m);
    const junit = await runCli(["test", "policy/sub", "--seed", "1", "--runs", "1", "--no-invariants", "--format", "junit"], repo);
    expect(junit.stdout).toMatch(/<testcase classname="policy\/sub\/tests\/claims\.yaml" name="day 3 update goes by text" time="[\d.]+"><failure type="expectation" message="[^"]*">policy\/sub\/tests\/claims\.yaml:\d+:\d+/);
    const json = JSON.parse((await runCli(["test", sub, "--seed", "1", "--runs", "1", "--no-invariants", "--format", "json"])).stdout) as { cases: { ok: boolean; file: string; failures: { file: string }[] }[] };
    const bad = json.cases.filter((c) => !c.ok);
    expect(bad.map((c) => [c.file, c.failures[0]!.file])).toEqual([["policy/sub/tests/claims.yaml", "policy/sub/tests/claims.yaml"]]);
    const text = await runCli(["test", sub, "--seed", "1", "--runs", "1", "--no-invariants", "--coverage-threshold", "100"]);
    expect(text.stdout).toMatch(/--> policy\/sub\/tests\/claims\.yaml:\d+:16/);
  });

  it("outside any Git repository, paths stay relative to the policy folder", async () => {
    const plain = mkdtempSync(path.join(tmpdir(), "waypost-nogit-"));
    for (const d of ["policies", "journeys"]) cpSync(path.join(sub, d), path.join(plain, d), { recursive: true });
    const node = path.join(plain, "journeys/claim-update-day3.yaml");
    writeFileSync(node, readFileSync(node, "utf8").replace("claim.opened_at) == 3", "claim.opend_at) == 3"));
    const gh = await runCli(["check", plain, "--format", "github"]);
    expect(gh.stdout).toMatch(/^::error file=journeys\/claim-update-day3\.yaml,line=\d+/m);
  });
});
