import { mkdtempSync, mkdirSync, writeFileSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { EXAMPLE, ROOT } from "../support/repo.js";

/** A copy of the example repository in a temp dir, with one file replaced. */
function brokenRepo(file: string, content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "waypost-check-"));
  cpSync(path.join(EXAMPLE, "policies"), path.join(dir, "policies"), { recursive: true });
  cpSync(path.join(EXAMPLE, "journeys"), path.join(dir, "journeys"), { recursive: true });
  writeFileSync(path.join(dir, file), content);
  return dir;
}

const BAD_CONDITION = brokenRepo(
  "journeys/claim-update-day3.yaml",
  `apiVersion: waypost/v1
kind: JourneyNode
id: claim-update-day3
title: Claim status update on day 3
owner: claims@northwind.example
purpose: claims
lawful_basis: contract
trigger:
  event: claim.daily_check
  when: days_since(claim.opend_at) == 3
context: [claim.opened_at]
action:
  channels: [email]
  templates: { email: claim-day3-email }
risk: low
priority: 60
explanation: Your claim update.
`,
);

describe("waypost check", () => {
  it("is clean on the example repository (exit 0)", async () => {
    const r = await runCli(["check", EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("no problems in 11 files");
  });

  it("prints a code frame with a caret under the column, and exits 1", async () => {
    const r = await runCli(["check", BAD_CONDITION]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("error[WP2101]: unknown field `claim.opend_at`");
    expect(r.stdout).toContain("--> journeys/claim-update-day3.yaml:10:20");
    expect(r.stdout).toContain("10 |   when: days_since(claim.opend_at) == 3");
    expect(r.stdout).toMatch(/\|\s{20}\^{14}\n/);
    expect(r.stdout).toContain("help: did you mean `claim.opened_at`?");
    expect(r.stdout).toContain("1 error, 0 warnings in 11 files");
  });

  it("json, sarif and github formats carry the same located diagnostic", async () => {
    const json = JSON.parse((await runCli(["check", BAD_CONDITION, "--format", "json"])).stdout);
    expect(json.diagnostics[0]).toMatchObject({ code: "WP2101", file: "journeys/claim-update-day3.yaml", line: 10, column: 20 });
    const sarif = JSON.parse((await runCli(["check", BAD_CONDITION, "--format", "sarif"])).stdout);
    expect(sarif.version).toBe("2.1.0");
    expect(sarif.runs[0].results[0]).toMatchObject({
      ruleId: "WP2101",
      level: "error",
      locations: [{ physicalLocation: { artifactLocation: { uri: "journeys/claim-update-day3.yaml" }, region: { startLine: 10, startColumn: 20 } } }],
    });
    expect(sarif.runs[0].tool.driver.rules[0].id).toBe("WP2101");
    const gh = (await runCli(["check", BAD_CONDITION, "--format", "github"])).stdout;
    expect(gh).toMatch(/^::error file=journeys\/claim-update-day3\.yaml,line=10,col=20,endLine=10,endColumn=34,title=WP2101::unknown field `claim\.opend_at`%0Ahelp: did you mean `claim\.opened_at`\?$/m);
  });

  it("warnings fail only with --strict", async () => {
    const dir = brokenRepo("journeys/claim-update-day7.yaml", (await import("node:fs")).readFileSync(path.join(EXAMPLE, "journeys/claim-update-day7.yaml"), "utf8").replace("priority: 50", "priority: 60"));
    expect((await runCli(["check", dir])).code).toBe(0);
    const strict = await runCli(["check", dir, "--strict"]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain("warning[WP3090]");
  }, 300_000); // --strict also runs the prover's cadence analysis

  it("a missing directory is a usage error (exit 2) with no stack trace", async () => {
    const r = await runCli(["check", "/nonexistent/policies"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("`/nonexistent/policies` does not exist");
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  it("a file instead of a directory is a usage error", async () => {
    const r = await runCli(["check", path.join(ROOT, "package.json")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("is not a directory");
  });

  it("a directory without policies reports WP0005, an input error (exit 2)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "waypost-empty-"));
    mkdirSync(path.join(dir, "policies"));
    const r = await runCli(["check", dir, "--format", "json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).diagnostics[0].code).toBe("WP0005");
  });

  it("an unreadable directory reports WP0001 instead of crashing", async () => {
    const { compile } = await import("../../compiler/pipeline.js");
    const host = {
      description: "/srv/policies",
      listFiles: () => Promise.reject(Object.assign(new Error("permission denied"), { code: "EACCES" })),
      readFile: () => Promise.resolve(null),
    };
    const s = await compile(host);
    expect(s.diagnostics).toEqual([expect.objectContaining({ code: "WP0001", help: expect.stringContaining("not readable") })]);
  });

  it("unknown options and formats are usage errors", async () => {
    expect((await runCli(["check", EXAMPLE, "--fromat", "json"])).code).toBe(2);
    const r = await runCli(["check", EXAMPLE, "--format", "xml"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("`--format` must be one of `text`, `json`, `sarif`, `github`");
    expect((await runCli(["frobnicate"])).code).toBe(2);
  });
});
