/**
 * docs/codes.md, rendered from the diagnostic registry (lifecycle/codes.ts) and the golden
 * fixtures: one section per family, one stable anchor per code (`#wp3010`, what SARIF's
 * `helpUri` points at). scripts/gen-codes.mjs writes it; test/compiler/codes.test.ts fails when
 * the committed page differs from what this renders.
 */
import { CODES_PAGE, FAMILIES, REGISTRY } from "../../lifecycle/codes.js";
import { fixtureExamples, TESTED_ELSEWHERE } from "./code-tests.js";

/** A fixture's change is shown when it is this short; longer ones are only linked. */
const MAX_EXAMPLE_LINES = 16;

/** A link from docs/codes.md to a file of the repository. */
const link = (file: string): string => `[\`${file}\`](../${file})`;

export function renderCodesDoc(): string {
  const examples = fixtureExamples();
  const out: string[] = [
    "# Diagnostic codes",
    "",
    `<!-- Generated from the registry (lifecycle/codes.ts) by \`npm run docs:codes\`: edit the registry, not this page. -->`,
    "",
    "Every problem Waypost reports carries a stable code: the compiler's diagnostics (`waypost check`), the",
    "policy tests' (`waypost test`), the lifecycle commands' errors and the runtime's refusals. Codes are",
    "append-only: a code keeps its meaning and is never reused. Each section below has the code's severity,",
    "what it means, what to do about it, and where the suite produces it (the golden fixture is an example",
    "that triggers it). SARIF output links every rule here (`helpUri`).",
    "",
  ];
  for (const f of FAMILIES) out.push(`- [${f.title}](#${slug(f.title)}) (${Object.keys(f.codes).length} codes)`);
  out.push("");
  for (const f of FAMILIES) {
    out.push(`## ${f.title}`, "", f.about, "", "| Code | Severity | Summary |", "| --- | --- | --- |");
    for (const code of Object.keys(f.codes)) {
      const c = REGISTRY.get(code)!;
      out.push(`| [${code}](#${c.anchor}) | ${c.severity} | ${cell(c.summary)} |`);
    }
    out.push("");
    for (const code of Object.keys(f.codes)) {
      const c = REGISTRY.get(code)!;
      out.push(`<a id="${c.anchor}"></a>`, "", `### ${code}: ${c.summary}`, "");
      out.push(`**Severity:** ${c.severity}${c.severityNote ? ` (${c.severityNote})` : ""}`, "");
      out.push(`**Help:** ${c.help}`, "");
      const ex = examples.get(code)?.[0];
      if (ex) {
        out.push(`**Example:** ${link(ex.file)}: ${ex.description}`, "");
        const lines = ex.change.trimEnd().split("\n");
        if (lines.length <= MAX_EXAMPLE_LINES) out.push("```yaml", ...lines, "```", "");
      } else if (TESTED_ELSEWHERE[code]) {
        out.push(`**Tested in:** ${link(TESTED_ELSEWHERE[code])}`, "");
      }
    }
  }
  return out.join("\n");
}

/** GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens. */
function slug(title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-");
}

const cell = (s: string): string => s.replace(/\|/g, "\\|");

export { CODES_PAGE };
