/**
 * Golden diagnostics: every file in test/fixtures/broken/ patches the example repository into
 * a broken one and lists exactly the diagnostics `waypost check` must report (severity, code,
 * file:line:col). Set WAYPOST_UPDATE_GOLDEN=1 to print what a fixture currently produces.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { compile } from "../../compiler/pipeline.js";
import { REGISTRY } from "../../lifecycle/codes.js";
import { TESTED_ELSEWHERE } from "../support/code-tests.js";
import { patchedHost, ROOT, type RepoChange } from "../support/repo.js";

const DIR = path.join(ROOT, "test/fixtures/broken");

interface Fixture extends RepoChange {
  description: string;
  expect: string[];
}

const fixtures = readdirSync(DIR).filter((f) => f.endsWith(".yaml")).sort();

async function diagnosticsOf(change: RepoChange): Promise<string[]> {
  const s = await compile(patchedHost(change), { until: "Check" });
  return s.diagnostics.map((d) => {
    const f = d.span ? s.files.get(d.span.file) : undefined;
    const pos = f && d.span ? f.position(d.span.start) : undefined;
    return `${d.severity} ${d.code} ${d.span ? `${d.span.file}${pos ? `:${pos.line}:${pos.column}` : ""}` : "-"}`;
  });
}

describe("golden diagnostics", () => {
  it("the example repository is clean", async () => {
    expect(await diagnosticsOf({})).toEqual([]);
  });

  for (const file of fixtures) {
    it(file, async () => {
      const text = readFileSync(path.join(DIR, file), "utf8");
      const fx = YAML.parse(text) as Fixture;
      const got = await diagnosticsOf(fx);
      if (process.env["WAYPOST_UPDATE_GOLDEN"]) {
        // Rewrites `expect:` only; review the diff before committing it.
        const doc = YAML.parseDocument(text);
        doc.set("expect", got);
        writeFileSync(path.join(DIR, file), doc.toString({ lineWidth: 0 }));
        return;
      }
      expect(got).toEqual(fx.expect);
    });
  }

  it("every diagnostic code has a fixture that produces it", () => {
    const produced = new Set<string>();
    for (const file of fixtures) {
      const fx = YAML.parse(readFileSync(path.join(DIR, file), "utf8")) as Fixture;
      for (const line of fx.expect) produced.add(line.split(" ")[1]!);
    }
    // Codes a fixture cannot produce (a real file system, a command line) are listed with the
    // test that does in test/support/code-tests.ts; WP40xx are `waypost test`'s own fixtures.
    const missing = [...REGISTRY.keys()].filter((c) => /^WP[0-3]\d{3}$/.test(c) && !produced.has(c) && !(c in TESTED_ELSEWHERE));
    expect(missing).toEqual([]);
  });
});
