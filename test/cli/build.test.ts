import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { EXAMPLE } from "../support/repo.js";

describe("waypost build", () => {
  it("writes bundle.tar.gz and reports the revision", async () => {
    const out = mkdtempSync(path.join(tmpdir(), "waypost-build-"));
    const r = await runCli(["build", EXAMPLE, "--out", out, "--format", "json"]);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, nodes: 6, bundle: path.join(out, "bundle.tar.gz") });
    expect(report.revision).toMatch(/^sha256-[0-9a-f]{16}$/);
    expect(existsSync(path.join(out, "bundle.tar.gz"))).toBe(true);
  });

  it("an output path it cannot write is a clear error (exit 2), not a crash", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "waypost-build-"));
    writeFileSync(path.join(dir, "file"), "x");
    const r = await runCli(["build", EXAMPLE, "--out", path.join(dir, "file", "out")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("cannot write");
    expect(r.stderr).toContain("a part of the path is a file, not a folder");
    expect(r.stderr).not.toContain("internal error");
  });

  it("--print-ir prints the plan and the compiled conditions", async () => {
    const r = await runCli(["build", EXAMPLE, "--print-ir"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("claim.daily_check: claim-update-day3, claim-update-day7");
    expect(r.stdout).toMatch(/days_since\(field\("claim\.opened_at"\)\) == 3/);
  });
});
