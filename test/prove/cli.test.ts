import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../../cli/main.js";
import { FsHost } from "../../compiler/source.js";
import { proofDiagnostics, proveTestReport, renderProveText } from "../../cli/render/prove.js";
import { renderGithub, renderSarif } from "../../cli/render/diagnostics.js";
import { renderJunit } from "../../cli/render/test-report.js";
import { proveRepository, shutdownSolver, type ProveReport } from "../../lifecycle/prove/index.js";
import { EXAMPLE } from "../support/repo.js";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

afterAll(() => shutdownSolver());

describe("waypost prove", () => {
  test("the example as text: a line per guarantee and author invariant, counterexamples as cases, cadence, exit 1 on a refutation", async () => {
    // A generous per-query time-out: the suite runs beside other workers on two cores.
    const t = await run(["prove", EXAMPLE, "--timeout", "120000"]);
    expect(t.err).toBe("");
    // Every built-in guarantee and every author invariant of the example is proved.
    for (const id of ["suppression", "consent", "quiet-hours", "holdout", "high-risk", "no-texts-or-pushes-at-night", "vouchers-are-reviewed"]) expect(t.out).toMatch(new RegExp(`^✔ proved +${id}: `, "m"));
    expect(t.out).not.toMatch(/unknown +\S+:|refuted +\S+:/);
    expect(t.out).toMatch(/^cadence \(messages one customer can be sent, all journeys together\):$/m);
    expect(t.out).toMatch(/channel `email` per 7d \(cap `email-weekly`, max 3\): at most 3;/);
    expect(t.out).toMatch(/^11 proved, 0 refuted, 0 unknown in [\d.]+ s$/m);
    // No dead sender and no journey that escapes a cap in the example.
    expect(t.out).not.toMatch(/never deliver|unbounded|not proved|WP410[34]/);
    expect(t.code).toBe(0);
  }, 600_000);

  test("check --strict shows the cadence findings: a journey whose eligibility contradicts itself is dead on each channel (WP4103)", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "waypost-strict-"));
    cpSync(path.join(EXAMPLE, "policies"), path.join(dir, "policies"), { recursive: true });
    cpSync(path.join(EXAMPLE, "journeys"), path.join(dir, "journeys"), { recursive: true });
    const file = path.join(dir, "journeys/service-recovery.yaml");
    const src = readFileSync(file, "utf8");
    expect(src).toContain("when: hours_since(customer.last_negative_interaction_at) < 48\n");
    writeFileSync(file, src.replace("when: hours_since(customer.last_negative_interaction_at) < 48\n", "when: hours_since(customer.last_negative_interaction_at) < 48 and hours_since(customer.last_negative_interaction_at) > 72\n"));
    expect((await run(["check", dir])).code).toBe(0);
    const t = await run(["check", dir, "--strict"]);
    expect(t.code).toBe(1);
    for (const ch of ["email", "letter"]) expect(t.out).toContain(`warning[WP4103]: \`service-recovery\` can never deliver via \`${ch}\``);
    expect(t.out).toContain("journeys/service-recovery.yaml:");
    expect(t.out).not.toContain("WP4104");
  }, 600_000);

  test("usage errors exit 2", async () => {
    expect((await run(["prove", EXAMPLE, "--timeout", "0"])).code).toBe(2);
    expect((await run(["prove", EXAMPLE, "--format", "xml"])).code).toBe(2);
  });
});

describe("prove output formats reuse the check and test renderers", () => {
  let report: ProveReport;
  beforeAll(async () => {
    report = await proveRepository(new FsHost(EXAMPLE), { cadence: false, timeoutMs: 2000 });
  }, 600_000);

  test("sarif and github: a refuted guarantee is a WP4101 error at the node or invariant, an unknown one a WP4102 warning", () => {
    const ds = proofDiagnostics(report);
    expect(ds.length).toBe(report.results.filter((r) => r.status !== "proved").length);
    for (const d of ds) expect(d.code).toBe(d.severity === "error" ? "WP4101" : "WP4102");
    const sarif = JSON.parse(renderSarif(ds, report.files, "0.0.0")) as { runs: { results: { ruleId: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[] }[] };
    expect(sarif.runs[0]!.results.map((r) => r.ruleId).sort()).toEqual(ds.map((d) => d.code).sort());
    for (const r of sarif.runs[0]!.results.filter((x) => x.ruleId === "WP4101")) expect(r.locations[0]!.physicalLocation.artifactLocation.uri).toMatch(/^(journeys|tests)\//);
    const gh = renderGithub(ds, report.files);
    expect(gh.split("\n").filter((l) => l.startsWith("::error ")).length).toBe(ds.filter((d) => d.severity === "error").length);
  });

  test("junit: one test case per guarantee, failures for refutations, errors for unknowns", () => {
    const xml = renderJunit(proveTestReport(report, []), { ok: false, coverageOk: true });
    expect(xml.match(/<testcase /g)!.length).toBe(report.results.length);
    expect((xml.match(/<failure /g) ?? []).length).toBe(report.results.filter((r) => r.status === "refuted").length);
    expect((xml.match(/<error /g) ?? []).length).toBe(report.results.filter((r) => r.status === "unknown").length);
    expect(xml).not.toContain('name="seed"');
    expect(renderProveText(report)).toContain(`${report.results.filter((r) => r.status === "proved").length} proved`);
  });
});
