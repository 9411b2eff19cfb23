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
import { CODES } from "../../compiler/codes.js";
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
    // Codes reported outside `check` (reading directories, tests, builds) have their own tests;
    // WP0008/WP0009 need a real file system (symlinks, FIFOs): test/security/repo-boundary.test.ts.
    const elsewhere = new Set(["WP0001", "WP0002", "WP0005", "WP0008", "WP0009"]);
    const missing = Object.keys(CODES).filter((c) => !produced.has(c) && !elsewhere.has(c) && c < "WP4000");
    expect(missing).toEqual([]);
  });
});
