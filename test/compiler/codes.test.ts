/**
 * The diagnostic registry (lifecycle/codes.ts): every code the sources use is registered, every
 * registered code is used and tested, entries follow the message style, and docs/codes.md is
 * what the registry renders (regenerate with `npm run docs:codes`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/pipeline.js";
import { MemoryHost, type SourceHost } from "../../compiler/source.js";
import { formatProblem } from "../../cli/render/problem.js";
import { CODES_PAGE, codeDocsUrl, REGISTRY } from "../../lifecycle/codes.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { RUNTIME_ERROR_CODES } from "../../runtime/index.js";
import { fixtureExamples, TESTED_ELSEWHERE } from "../support/code-tests.js";
import { renderCodesDoc } from "../support/codes-doc.js";
import { exampleFiles, ROOT } from "../support/repo.js";

const CODE = /\bWP[A-Z]?\d{3,4}\b/g;
/** Where codes are declared rather than used. */
const REGISTRY_FILES = new Set(["runtime/codes.ts", "compiler/codes.ts", "compiler/condition/codes.ts", "lifecycle/codes.ts"]);

function sources(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(ROOT, rel)).sort()) {
      const r = `${rel}/${name}`;
      if (statSync(path.join(ROOT, r)).isDirectory()) walk(r);
      else if (r.endsWith(".ts")) out.set(r, readFileSync(path.join(ROOT, r), "utf8"));
    }
  };
  for (const dir of ["compiler", "lifecycle", "runtime", "cli"]) walk(dir);
  return out;
}

describe("diagnostic registry", () => {
  const src = sources();

  it("has every code the sources use (compiler, lifecycle, runtime, cli)", () => {
    const unknown: string[] = [];
    for (const [file, text] of src) for (const m of text.matchAll(CODE)) if (!REGISTRY.has(m[0])) unknown.push(`${file}: ${m[0]}`);
    expect(unknown).toEqual([]);
  });

  it("uses every code it registers somewhere in the sources", () => {
    const used = new Set<string>();
    for (const [file, text] of src) if (!REGISTRY_FILES.has(file)) for (const m of text.matchAll(CODE)) used.add(m[0]);
    expect([...REGISTRY.keys()].filter((c) => !used.has(c))).toEqual([]);
  });

  it("has a golden fixture, or a test named in test/support/code-tests.ts, for every WP code", () => {
    const fixtures = fixtureExamples();
    const untested = [...REGISTRY.keys()].filter((c) => /^WP\d{4}$/.test(c) && !fixtures.has(c) && !(c in TESTED_ELSEWHERE));
    expect(untested).toEqual([]);
    for (const [code, file] of Object.entries(TESTED_ELSEWHERE)) {
      expect(REGISTRY.has(code), code).toBe(true);
      expect(existsSync(path.join(ROOT, file)), file).toBe(true);
      expect(readFileSync(path.join(ROOT, file), "utf8"), `${file} should test ${code}`).toContain(code);
    }
  });

  it("entries follow the message style: lowercase, one line, no final period; codes fit their family", () => {
    const bad: string[] = [];
    const prefix: Record<string, RegExp> = { WP: /^WP\d{4}$/, WPR: /^WPR\d{3}$/, WPL: /^WPL\d{3}$/, WPS: /^WPS\d{3}$/ };
    for (const c of REGISTRY.values()) {
      for (const [what, text] of [["summary", c.summary], ["help", c.help]] as const) {
        if (text.length === 0 || /\n/.test(text) || /\.$/.test(text) || /^[A-Z][a-z]/.test(text)) bad.push(`${c.code} ${what}: ${text}`);
      }
      if (!prefix[c.family.split(/[0-9:]/)[0]!]?.test(c.code)) bad.push(`${c.code} in family ${c.family}`);
      if (c.anchor !== c.code.toLowerCase()) bad.push(`${c.code} anchor ${c.anchor}`);
    }
    expect(bad).toEqual([]);
  });

  it("keeps the runtime's error list and its help in step with the registry", () => {
    for (const [code, summary] of Object.entries(RUNTIME_ERROR_CODES)) expect(REGISTRY.get(code)?.summary).toBe(summary);
    expect(new WaypostRuntimeError("WPR011", "x").help).toBe(REGISTRY.get("WPR011")!.help);
  });

  it("links every code to its own anchor in docs/codes.md", () => {
    expect(codeDocsUrl("WP3010")).toBe("https://github.com/waypost-dev/waypost/blob/main/docs/codes.md#wp3010");
    const page = readFileSync(path.join(ROOT, CODES_PAGE), "utf8");
    for (const c of REGISTRY.values()) {
      expect(page).toContain(`<a id="${c.anchor}"></a>\n\n### ${c.code}: ${c.summary}\n`);
    }
  });

  it("docs/codes.md is up to date (run `npm run docs:codes` after changing the registry or a fixture)", () => {
    const page = readFileSync(path.join(ROOT, CODES_PAGE), "utf8");
    expect(page === renderCodesDoc(), `${CODES_PAGE} is stale: run \`npm run docs:codes\``).toBe(true);
  });
});

describe("one way to print an error value", () => {
  it("prints the code, the message and the command's own help, or else the registry's", () => {
    expect(formatProblem({ code: "WP5002", message: "unknown revision `x`", help: "give a branch" })).toBe("error[WP5002]: unknown revision `x`\n  = help: give a branch\n");
    expect(formatProblem(new WaypostRuntimeError("WPR016", "cannot read bundle `b.tar.gz`: no such file"), "decide")).toBe(
      `waypost decide: error[WPR016]: cannot read bundle \`b.tar.gz\`: no such file\n  = help: ${REGISTRY.get("WPR016")!.help}\n`,
    );
    expect(formatProblem({ code: "WPS004", message: "too slow" })).toContain(`= help: ${REGISTRY.get("WPS004")!.help}`);
  });
});

describe("WP0002", () => {
  it("a policy file that cannot be read is an error with the file and advice, not a crash", async () => {
    const files = exampleFiles();
    const inner = new MemoryHost(files, "fixture");
    const host: SourceHost = {
      description: "fixture",
      listFiles: () => inner.listFiles(),
      readFile: async (p) => {
        if (p === "policies/contact.yaml") throw Object.assign(new Error("EACCES: permission denied"), { code: "EACCES" });
        return inner.readFile(p);
      },
    };
    const s = await compile(host, { until: "Check" });
    const d = s.diagnostics.find((x) => x.code === "WP0002");
    expect(d).toMatchObject({ severity: "error", message: "cannot read `policies/contact.yaml`", span: { file: "policies/contact.yaml" } });
    expect(d?.help).toBeTruthy();
  });
});
