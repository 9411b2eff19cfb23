/**
 * `waypost fmt`: the canonical layout is a fixed point (fmt of fmt is fmt, property-checked over
 * perturbed example files), never changes meaning (the parsed values, conditions compared as
 * ASTs; and the compiled IR of the whole example repository before and after), keeps comments,
 * and `--check` lists what it would change without changing it.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as YAML from "yaml";
import { parseCondition, stripSpans } from "../../compiler/condition/index.js";
import { compile } from "../../compiler/pipeline.js";
import { FsHost } from "../../compiler/source.js";
import { formatPolicyYaml } from "../../lifecycle/fmt.js";
import { runCli } from "../support/cli.js";
import { EXAMPLE } from "../support/repo.js";

const FILES = ["policies", "journeys", "tests"].flatMap((d) =>
  readdirSync(path.join(EXAMPLE, d)).filter((f) => f.endsWith(".yaml")).map((f) => ({ name: `${d}/${f}`, text: readFileSync(path.join(EXAMPLE, d, f), "utf8") })),
);
const CONDITION_KEYS = new Set(["when", "then"]);

function fmt(text: string): string {
  const r = formatPolicyYaml(text);
  if (!r.ok) throw new Error(r.error);
  return r.text;
}

/** What a file means: its values, keys unordered, conditions as ASTs (spacing and parentheses aside). */
function meaning(text: string): unknown {
  const norm = (v: unknown, key?: string): unknown => {
    if (typeof v === "string" && key !== undefined && CONDITION_KEYS.has(key)) {
      const r = parseCondition(v);
      return r.ast ? { condition: stripSpans(r.ast) } : v;
    }
    if (Array.isArray(v)) return v.map((x) => norm(x));
    if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, norm((v as Record<string, unknown>)[k], k)]));
    return v;
  };
  return YAML.parseAllDocuments(text).map((d) => norm(d.toJS()));
}

/** A file as someone might have written it: keys shuffled, other indentation, conditions spaced oddly. */
const perturbed = fc
  .record({
    file: fc.constantFrom(...FILES),
    seed: fc.integer(),
    indent: fc.constantFrom(2, 3, 4),
    spaces: fc.constantFrom("", " ", "  "),
    flow: fc.boolean(),
  })
  .map(({ file, seed, indent, spaces, flow }) => {
    const doc = YAML.parseDocument(file.text);
    let s = seed;
    const rand = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) | 0) >>> 8) % n;
    YAML.visit(doc, {
      Map: (_k, m) => {
        for (let i = m.items.length - 1; i > 0; i--) {
          const j = rand(i + 1);
          [m.items[i], m.items[j]] = [m.items[j]!, m.items[i]!];
        }
        if (flow && rand(4) === 0) m.flow = true;
      },
      Pair: (_k, p) => {
        if (YAML.isScalar(p.key) && CONDITION_KEYS.has(String(p.key.value)) && YAML.isScalar(p.value) && typeof p.value.value === "string") {
          p.value.value = p.value.value.replace(/\s*(==|!=|<=|>=|,)\s*/g, `${spaces}$1${spaces === "" ? "" : " "}`).replace(/\(\s*/g, `(${spaces}`);
        }
      },
    });
    return { name: file.name, text: doc.toString({ indent, lineWidth: 0 }) };
  });

describe("waypost fmt", () => {
  it("is idempotent and keeps the meaning of perturbed policy files (property)", () => {
    fc.assert(
      fc.property(perturbed, ({ text }) => {
        const once = fmt(text);
        expect(fmt(once)).toBe(once);
        expect(meaning(once)).toEqual(meaning(text));
        // 2-space indentation, whatever the input had.
        for (const line of once.split("\n")) expect(/^( *)/.exec(line)![1]!.length % 2).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it("orders keys as the kind's schema lists them, spaces conditions, keeps comments", () => {
    const messy = `# yaml-language-server: $schema=../schemas/journey-node.schema.json
# a node, written in a hurry
priority: 50
kind: JourneyNode
apiVersion: waypost/v1
trigger:
    when: days_since(claim.opened_at)==3 and   (claim.status!="closed")   # day 3 only
    event: claim.daily_check
id: x
`;
    const out = fmt(messy);
    expect(out).toBe(`# yaml-language-server: $schema=../schemas/journey-node.schema.json
# a node, written in a hurry
apiVersion: waypost/v1
kind: JourneyNode
id: x
trigger:
  event: claim.daily_check
  when: days_since(claim.opened_at) == 3 and claim.status != "closed"  # day 3 only
priority: 50
`);
  });

  it("leaves a file that is not valid YAML, or of no known kind, alone", () => {
    expect(formatPolicyYaml("a: [1\n").ok).toBe(false);
    const other = "kind: Something\nz: 1\na:   2\n";
    expect(formatPolicyYaml(other)).toEqual({ ok: true, text: other, changed: false });
  });

  it("the example repository compiles to the same IR after fmt; --check passes after fmt and fails before", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "waypost-fmt-"));
    for (const d of ["policies", "journeys", "tests"]) cpSync(path.join(EXAMPLE, d), path.join(dir, d), { recursive: true });
    // Untidy one file, so there is something to do whatever the example's state.
    const node = path.join(dir, "journeys/renewal-reminder-90.yaml");
    writeFileSync(node, readFileSync(node, "utf8").replace("risk: low\n", "").replace("apiVersion: waypost/v1\n", "apiVersion: waypost/v1\nrisk: low\n").replace('when: policy.status == "active"', 'when: policy.status=="active"'));
    const ir = async (): Promise<string> => {
      const s = await compile(new FsHost(dir), { until: "Plan" });
      expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      // Source references (file:line:col) move when keys move, and reason messages quote a
      // condition as written (fmt respells it canonically); everything else must not change.
      return JSON.stringify({ ir: s.ir, lists: s.lists }, (k, v: unknown) => (k === "message" ? undefined : v)).replace(/(\.yaml):\d+:\d+/g, "$1");
    };
    const before = await ir();
    const check = await runCli(["fmt", dir, "--check"]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain("journeys/renewal-reminder-90.yaml\n");
    expect(readFileSync(node, "utf8")).toContain('policy.status=="active"');
    const run = await runCli(["fmt", dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("formatted journeys/renewal-reminder-90.yaml");
    expect(readFileSync(node, "utf8")).toContain('when: policy.status == "active"');
    expect(await ir()).toBe(before);
    expect((await runCli(["fmt", dir, "--check"])).code).toBe(0);
    expect((await runCli(["test", dir, "--seed", "1", "--runs", "20"])).code).toBe(0);
    writeFileSync(path.join(dir, "policies/broken.yaml"), "kind: [\n");
    const broken = await runCli(["fmt", dir, "--check"]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("`policies/broken.yaml` is not valid YAML");
  });

  it("the example repository in this package is formatted (`waypost fmt --check examples/northwind`)", async () => {
    const r = await runCli(["fmt", EXAMPLE, "--check"]);
    expect(r.stdout).toBe("");
    expect(r.code).toBe(0);
  });
});
