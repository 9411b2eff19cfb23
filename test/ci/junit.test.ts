/**
 * `waypost test --format junit` against the Ant JUnit schema (vendored in test/fixtures/junit,
 * see its README), checked by libxml2's validator (xmllint compiled to Wasm): a passing run, a
 * failing case, a violated invariant defined in a test file, and a run stopped by policy errors.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { validateXML } from "xmllint-wasm";
import { main } from "../../cli/main.js";
import { renderJunit, verdict } from "../../cli/render/test-report.js";
import { runPolicyTests } from "../../lifecycle/testing/index.js";
import { EXAMPLE, patchedHost, ROOT } from "../support/repo.js";

const XSD = readFileSync(path.join(ROOT, "test/fixtures/junit/JUnit.xsd"), "utf8");
const NOW = new Date("2026-12-02T10:00:00Z");

async function errorsOf(xml: string): Promise<string[]> {
  const r = await validateXML({ xml: { fileName: "report.xml", contents: xml }, schema: { fileName: "JUnit.xsd", contents: XSD } });
  return r.errors.map((e) => e.rawMessage);
}

describe("JUnit output is valid against the Ant JUnit XSD", () => {
  it("the schema validator rejects what the schema forbids (it can fail)", async () => {
    const bad = `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="waypost test"></testsuites>`;
    expect((await errorsOf(bad)).join("\n")).toMatch(/name.*not allowed/);
  });

  it("a passing run of `waypost test --format junit` on the example repository", async () => {
    let out = "";
    const code = await main(["test", EXAMPLE, "--seed", "5", "--runs", "5", "--format", "junit"], { stdout: (s) => void (out += s), stderr: (s) => void (out += s), color: false, cwd: ROOT, env: {} });
    expect(code).toBe(0);
    expect(await errorsOf(out)).toEqual([]);
    expect(out).toMatch(/<testsuite package="waypost" id="0" name="examples\/northwind\/tests\/claims\.yaml" timestamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d" hostname="[^"]+" tests="\d+" failures="0" errors="0" time="[\d.]+">/);
    expect(out).toContain('<property name="file" value="examples/northwind/tests/claims.yaml"/>');
    // An invariant from a test file says where it is written; a built-in one says so.
    expect(out).toMatch(/<property name="invariant\.no-texts-or-pushes-at-night" value="examples\/northwind\/tests\/invariants\.yaml:\d+:\d+"\/>/);
    expect(out).toContain('<property name="invariant.suppression-respected" value="built-in"/>');
    expect(out).not.toContain("<failure");
  });

  it("a failing case and a violated invariant carry failure@type and their file:line", async () => {
    const change = {
      patches: [
        { file: "tests/claims.yaml", replace: "      send_at: 2026-11-26T10:00:00Z  # texts leave 24 hours later", with: "      send_at: 2026-11-26T09:00:00Z" },
        { file: "policies/contact.yaml", replace: 'from: "21:00"', with: 'from: "22:00"' },
      ],
    };
    const r = await runPolicyTests(patchedHost(change), { seed: 1, runs: 200, only: ["no-texts-or-pushes-at-night"] });
    const v = verdict(r, 100);
    const xml = renderJunit(r, v, { now: NOW, hostname: "ci" });
    expect(await errorsOf(xml)).toEqual([]);
    expect(xml).toMatch(/<testcase classname="tests\/claims\.yaml" name="day 3 update goes by text" time="[\d.]+"><failure type="expectation" message="expected send_at `2026-11-26T09:00:00Z`, got `2026-11-26T10:00:00Z`">tests\/claims\.yaml:\d+:\d+ day 3 update goes by text\ntests\/claims\.yaml:\d+:16: expected send_at/);
    expect(xml).toMatch(/<testcase classname="invariants" name="no-texts-or-pushes-at-night" time="[\d.]+"><failure type="invariant" message="[^"]+ \(tests\/invariants\.yaml:\d+:\d+\)">tests\/invariants\.yaml:\d+:\d+\n/);
    expect(xml).toContain('timestamp="2026-12-02T10:00:00" hostname="ci"');
    // Totals on each suite: the failing file counts its failure.
    expect(xml).toMatch(/name="tests\/claims\.yaml" timestamp="[^"]+" hostname="ci" tests="\d+" failures="1" errors="0"/);
    expect(xml).toMatch(/name="invariants" timestamp="[^"]+" hostname="ci" tests="1" failures="1" errors="0"/);
  });

  it("a run stopped by a policy error reports the diagnostic as a failed case", async () => {
    const r = await runPolicyTests(patchedHost({ patches: [{ file: "journeys/claim-update-day3.yaml", replace: "claim.opened_at", with: "claim.opend_at" }] }), { seed: 1, runs: 1 });
    const xml = renderJunit(r, verdict(r, undefined), { now: NOW });
    expect(await errorsOf(xml)).toEqual([]);
    expect(xml).toMatch(/<testcase classname="waypost.check" name="WP2101 journeys\/claim-update-day3\.yaml:\d+:\d+" time="0.000"><failure type="WP2101"/);
  });
});
