/**
 * Golden diagnostics of test files: every fixture in test/fixtures/policy-tests/ adds a broken
 * `tests/bad.yaml` to the example repository (or removes `tests/`) and lists exactly what
 * `waypost test` reports (severity, code, file:line:col). WAYPOST_UPDATE_GOLDEN=1 prints them.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { REGISTRY } from "../../lifecycle/codes.js";
import { runPolicyTests } from "../../lifecycle/testing/index.js";
import { exampleFiles, patchedHost, ROOT, type RepoChange } from "../support/repo.js";

const DIR = path.join(ROOT, "test/fixtures/policy-tests");
const fixtures = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();

interface Fixture extends RepoChange {
  description: string;
  removeTests?: boolean;
  expect: string[];
}

async function diagnosticsOf(fx: Fixture): Promise<{ lines: string[]; messages: string[] }> {
  const change: RepoChange = { ...(fx.files ? { files: fx.files } : {}) };
  if (fx.removeTests) change.remove = [...exampleFiles().keys()].filter((f) => f.startsWith("tests/"));
  const r = await runPolicyTests(patchedHost(change), { seed: 1, runs: 5, invariants: false });
  return {
    lines: r.diagnostics.map((d) => {
      const f = d.span ? r.files.get(d.span.file) : undefined;
      const pos = f && d.span ? f.position(d.span.start) : undefined;
      return `${d.severity} ${d.code} ${d.span ? `${d.span.file}${pos ? `:${pos.line}:${pos.column}` : ""}` : "-"}`;
    }),
    messages: r.diagnostics.map((d) => `${d.code}: ${d.message}${d.help ? ` (help: ${d.help})` : ""}`),
  };
}

describe("test-file diagnostics", () => {
  for (const file of fixtures) {
    it(file, async () => {
      const fx = YAML.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture;
      const got = await diagnosticsOf(fx);
      if (process.env["WAYPOST_UPDATE_GOLDEN"]) console.log(`${file}:\n${got.lines.map((g) => `  - ${g}`).join("\n")}\n${got.messages.map((m) => `    # ${m}`).join("\n")}`);
      expect(got.lines).toEqual(fx.expect);
    });
  }

  it("every WP40xx code has a fixture that produces it", () => {
    const produced = new Set<string>();
    for (const file of fixtures) {
      const fx = YAML.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture;
      for (const line of fx.expect) produced.add(line.split(" ")[1]!);
    }
    const missing = [...REGISTRY.keys()].filter((c) => c.startsWith("WP40") && !produced.has(c));
    expect(missing).toEqual([]);
  });

  it("messages follow the style guide: lowercase, no final period, user input in backticks", async () => {
    const all: string[] = [];
    for (const file of fixtures) {
      const fx = YAML.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture;
      all.push(...(await diagnosticsOf(fx)).messages.filter((m) => m.startsWith("WP40")));
    }
    for (const m of all) {
      const msg = m.replace(/^WP\d+: /, "").replace(/ \(help: .*\)$/, "");
      expect(msg[0], m).toBe(msg[0]!.toLowerCase());
      expect(msg.endsWith("."), m).toBe(false);
    }
  });
});
