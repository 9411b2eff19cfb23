/**
 * `waypost check --format sarif` as code scanning reads it: valid against the SARIF 2.1.0
 * schema, every rule linked to its section of docs/codes.md (`helpUri`) with the registry's
 * help, and results whose `partialFingerprints` survive edits elsewhere in the file (so an alert
 * is tracked across commits) but change with the finding itself.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { afterAll, describe, expect, it } from "vitest";
import { CODES_PAGE, codeDocsUrl, REGISTRY } from "../../lifecycle/codes.js";
import { runCli } from "../support/cli.js";
import { patchedFiles, ROOT, type Patch } from "../support/repo.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The example repository with patches, written to a temp folder (outside any Git repository). */
function repoWith(patches: Patch[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), "waypost-sarif-"));
  dirs.push(dir);
  for (const [name, bytes] of patchedFiles({ patches })) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), bytes);
  }
  return dir;
}

const PURPOSE: Patch = { file: "journeys/renewal-reminder-90.yaml", replace: "purpose: renewal", with: "purpose: renewals" };
const ROLLOUT: Patch = { file: "journeys/onboarding-nudge.yaml", replace: "rollout: 50%", with: "rollout: 0%" };
/** Lines added above both findings: nothing about them changes. */
const ABOVE = (file: string): Patch => ({ file, replace: "apiVersion: waypost/v1", with: "# reviewed by legal\n# owner: growth team\n\napiVersion: waypost/v1" });

interface SarifResult {
  ruleId: string;
  level: string;
  locations: { physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number } } }[];
  partialFingerprints: Record<string, string>;
}

async function sarifOf(patches: Patch[]): Promise<{ log: { runs: { tool: { driver: { rules: Record<string, unknown>[] } }; results: SarifResult[] }[] }; results: SarifResult[] }> {
  const r = await runCli(["check", repoWith(patches), "--format", "sarif"]);
  expect(r.stderr).toBe("");
  const log = JSON.parse(r.stdout);
  return { log, results: log.runs[0].results };
}

const byRule = (rs: SarifResult[], id: string): SarifResult => rs.find((r) => r.ruleId === id)!;

describe("SARIF for code scanning", () => {
  it("is valid against the SARIF 2.1.0 schema", async () => {
    const schema = JSON.parse(readFileSync(path.join(ROOT, "test/fixtures/sarif/sarif-schema-2.1.0.json"), "utf8"));
    // A draft-04 schema whose only draft-04 keyword is the top-level `id` (see the README there).
    delete schema.$schema;
    delete schema.id;
    // `unicodeRegExp: false`: the schema's `language` pattern is a valid JavaScript regular
    // expression only without the `u` flag (as the draft-04 validators read it).
    const ajv = new Ajv.default({ strict: false, allErrors: true, unicodeRegExp: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    const { log } = await sarifOf([PURPOSE, ROLLOUT]);
    expect(validate(log), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // And the schema does reject a broken log, so the check above means something.
    const broken = structuredClone(log) as { runs: { results: { partialFingerprints: unknown }[] }[] };
    broken.runs[0]!.results[0]!.partialFingerprints = { "waypost/v1": 42 };
    expect(validate(broken)).toBe(false);
  });

  it("links every rule to its anchor in docs/codes.md, with the registry's summary and help", async () => {
    const { log } = await sarifOf([PURPOSE, ROLLOUT]);
    const rules = log.runs[0]!.tool.driver.rules;
    expect(rules.map((r) => r["id"])).toEqual(["WP3010", "WP3052"]);
    const page = readFileSync(path.join(ROOT, CODES_PAGE), "utf8");
    for (const rule of rules) {
      const id = rule["id"] as string;
      const entry = REGISTRY.get(id)!;
      expect(rule).toMatchObject({
        shortDescription: { text: entry.summary },
        helpUri: `https://github.com/waypost-dev/waypost/blob/main/docs/codes.md#${id.toLowerCase()}`,
        help: { text: entry.help },
        defaultConfiguration: { level: entry.severity === "info" ? "note" : entry.severity },
      });
      expect(rule["helpUri"]).toBe(codeDocsUrl(id));
      expect(page).toContain(`<a id="${id.toLowerCase()}"></a>`);
    }
  });

  it("fingerprints results without line numbers: an edit above a finding keeps its alert", async () => {
    const before = await sarifOf([PURPOSE, ROLLOUT]);
    const after = await sarifOf([PURPOSE, ROLLOUT, ABOVE(PURPOSE.file), ABOVE(ROLLOUT.file)]);
    for (const id of ["WP3010", "WP3052"]) {
      const a = byRule(before.results, id);
      const b = byRule(after.results, id);
      expect(b.locations[0]!.physicalLocation.region!.startLine).toBe(a.locations[0]!.physicalLocation.region!.startLine + 3);
      expect(b.partialFingerprints).toEqual(a.partialFingerprints);
      expect(a.partialFingerprints["waypost/v1"]).toMatch(/^[0-9a-f]{32}:1$/);
    }
    expect(byRule(before.results, "WP3010").partialFingerprints).not.toEqual(byRule(before.results, "WP3052").partialFingerprints);
  });

  it("gives another finding on the same line another fingerprint", async () => {
    const a = byRule((await sarifOf([PURPOSE])).results, "WP3010");
    const b = byRule((await sarifOf([{ ...PURPOSE, with: "purpose: renewalz" }])).results, "WP3010");
    expect(b.locations[0]!.physicalLocation.region!.startLine).toBe(a.locations[0]!.physicalLocation.region!.startLine);
    expect(b.partialFingerprints).not.toEqual(a.partialFingerprints);
  });
});
