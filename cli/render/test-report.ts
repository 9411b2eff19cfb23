/**
 * Renderers for `waypost test`: text (readable, default), json, junit (CI test reporting) and
 * github (workflow annotations at the failing case's file:line). Line and column are computed
 * here, from spans, as for diagnostics.
 */
import { hostname } from "node:os";
import pc from "picocolors";
import type { Span } from "../../compiler/diagnostics.js";
import type { SourceFile } from "../../compiler/source-file.js";
import type { TestReport } from "../../lifecycle/testing/index.js";
import { renderGithub, renderJson as renderDiagnosticsJson, renderText as renderDiagnosticsText } from "./diagnostics.js";

export type TestFormat = "text" | "json" | "junit" | "github";
export const TEST_FORMATS: readonly TestFormat[] = ["text", "json", "junit", "github"];

export interface Verdict {
  ok: boolean;
  /** Coverage threshold in percent, when one was given. */
  threshold?: number;
  coverageOk: boolean;
}

interface Pos {
  file: string;
  line?: number;
  column?: number;
}

function pos(files: ReadonlyMap<string, SourceFile>, span: Span | { file: string; start: number } | undefined): Pos | undefined {
  if (!span) return undefined;
  const f = files.get(span.file);
  if (!f) return { file: span.file };
  const p = f.position(span.start);
  return { file: span.file, line: p.line, column: p.column };
}
const where = (p: Pos | undefined): string => (p ? `${p.file}${p.line !== undefined ? `:${p.line}:${p.column}` : ""}` : "");
const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? "" : "s"}`;
const pct = (x: number): string => `${x.toFixed(1)}%`;

export function verdict(r: TestReport, threshold: number | undefined): Verdict {
  const coverageOk = threshold === undefined || (r.coverage !== undefined && r.coverage.percent + 1e-9 >= threshold);
  const clean = !r.diagnostics.some((d) => d.severity === "error");
  const v: Verdict = { ok: clean && coverageOk && r.cases.every((c) => c.ok) && r.invariants.every((i) => i.ok), coverageOk };
  if (threshold !== undefined) v.threshold = threshold;
  return v;
}

function summaryLine(r: TestReport, v: Verdict): string {
  const failedCases = r.cases.filter((c) => !c.ok).length;
  const failedInv = r.invariants.filter((i) => !i.ok).length;
  const parts = [
    failedCases ? `${failedCases} of ${plural(r.cases.length, "case")} failed` : `${plural(r.cases.length, "case")} passed`,
    failedInv ? `${failedInv} of ${plural(r.invariants.length, "invariant")} violated` : `${plural(r.invariants.length, "invariant")} hold`,
  ];
  if (r.coverage) parts.push(`coverage ${pct(r.coverage.percent)}${v.threshold !== undefined ? ` (threshold ${v.threshold}%)` : ""}`);
  return parts.join(", ");
}

export function renderText(r: TestReport, v: Verdict, color: boolean, opts: { verbose?: boolean } = {}): string {
  const c = pc.createColors(color);
  const out: string[] = [];
  const errors = r.diagnostics.filter((d) => d.severity === "error").length;
  if (r.diagnostics.length) out.push(renderDiagnosticsText(r.diagnostics, r.files, color));
  if (errors) {
    out.push(`${c.red("✖")} ${plural(errors, "error")}: nothing was run; fix the problems above first`);
    return out.join("\n") + "\n";
  }
  out.push(c.dim(`revision ${r.revision ?? "?"} · seed ${r.seed} · ${r.runs} runs per invariant`));
  let file = "";
  for (const k of r.cases) {
    if (k.ok && !opts.verbose) continue;
    if (k.file !== file) {
      file = k.file;
      out.push("", c.bold(file));
    }
    out.push(`  ${k.ok ? c.green("✔") : c.red("✖")} ${k.name}`);
    for (const f of k.failures) out.push(`      ${f.message}`, `        ${c.blue("-->")} ${where(pos(r.files, f.span))}`);
    if (!k.ok) {
      const d = k.decision;
      out.push(c.dim(`      decision: ${d.outcome}${d.node ? ` by ${d.node}` : ""}${d.channel ? ` via ${d.channel}` : ""}${d.send_at ? ` at ${d.send_at}` : ""}; reasons: ${d.reasons.map((x) => (x.detail ? `${x.code} (${x.detail})` : x.code)).join(", ") || "none"}`));
    }
  }
  const passedByFile = new Map<string, number>();
  for (const k of r.cases) if (k.ok) passedByFile.set(k.file, (passedByFile.get(k.file) ?? 0) + 1);
  if (!opts.verbose) {
    out.push("");
    for (const [f, n] of passedByFile) out.push(`  ${c.green("✔")} ${f}: ${plural(n, "case")} passed`);
  }
  if (r.invariants.length) out.push("", c.bold("invariants"));
  for (const i of r.invariants) {
    const at = i.file ? where(pos(r.files, { file: i.file, start: i.offset ?? 0 })) : "built-in";
    if (i.ok) {
      out.push(`  ${c.green("✔")} ${i.id} ${c.dim(`(${at}, ${i.runs} runs, applied in ${i.applied})`)}`);
      if (i.applied === 0) out.push(c.yellow(`      never applied: no generated request reached it; check its \`when\`, or aim it with \`nodes:\``));
      continue;
    }
    out.push(`  ${c.red("✖")} ${i.id} ${c.dim(`(${at})`)}`);
    if (i.error) out.push(`      the check could not run: ${i.error}`);
    const ce = i.counterexample;
    if (ce) {
      out.push(`      ${ce.message}`);
      out.push(`      falsified after ${i.runs} runs, shrunk ${plural(ce.shrinks, "time")}; counterexample (paste under \`cases:\`):`);
      out.push(...ce.yaml.trimEnd().split("\n").map((l) => `        ${l}`));
    }
  }
  if (r.coverage) {
    const cov = r.coverage;
    out.push("", `${c.bold("coverage")} ${pct(cov.percent)} (${cov.covered}/${cov.total} items: nodes, condition branches, outcomes)`);
    for (const n of cov.nodes) {
      const got = n.items.filter((x) => x.covered).length;
      const mark = got === n.items.length ? c.green("✔") : c.yellow("•");
      out.push(`  ${mark} ${n.file} ${c.dim(`node ${n.node}`)} ${got}/${n.items.length} ${c.dim(`outcomes: ${n.outcomes.join(", ") || "none"}`)}`);
      for (const x of n.items.filter((y) => !y.covered)) out.push(`      uncovered: ${x.source} ${x.what}`);
    }
    const missing = cov.outcomes.filter((o) => !o.covered);
    const bare = (w: string): string => w.replace(/^outcome `(.*)`$/, "$1");
    out.push(`  outcomes: ${cov.outcomes.map((o) => `${bare(o.what)} ${o.covered ? c.green("✔") : c.red("✖")}`).join("  ")}`);
    if (missing.length) out.push(`      no case decides ${missing.map((m) => `\`${bare(m.what)}\``).join(", ")}`);
    if (!v.coverageOk) out.push(c.red(`  coverage ${pct(cov.percent)} is below the threshold of ${v.threshold}%`));
  }
  out.push("", `${v.ok ? c.green("✔") : c.red("✖")} ${summaryLine(r, v)}`);
  return out.join("\n") + "\n";
}

export function renderJson(r: TestReport, v: Verdict): string {
  return JSON.stringify(
    {
      ok: v.ok,
      revision: r.revision ?? null,
      seed: r.seed,
      runs: r.runs,
      diagnostics: (JSON.parse(renderDiagnosticsJson(r.diagnostics, r.files, r.files.size)) as { diagnostics: unknown[] }).diagnostics,
      cases: r.cases.map((k) => ({
        name: k.name, ...pos(r.files, k.span), ok: k.ok,
        failures: k.failures.map((f) => ({ message: f.message, ...pos(r.files, f.span) })),
        request: k.request, decision: k.decision, ms: round(k.ms),
      })),
      invariants: r.invariants.map((i) => ({
        id: i.id, builtin: i.builtin, description: i.description, ok: i.ok, runs: i.runs, applied: i.applied, seed: i.seed,
        ...(i.file ? pos(r.files, { file: i.file, start: i.offset ?? 0 }) : {}),
        ...(i.error ? { error: i.error } : {}),
        ...(i.counterexample ? { counterexample: { message: i.counterexample.message, shrinks: i.counterexample.shrinks, request: i.counterexample.request, decision: i.counterexample.decision, yaml: i.counterexample.yaml } } : {}),
        ms: round(i.ms),
      })),
      coverage: r.coverage ? { ...r.coverage, percent: round(r.coverage.percent), threshold: v.threshold ?? null, ok: v.coverageOk } : null,
      timings: r.timings.map((t) => ({ step: t.step, ms: round(t.ms) })),
    },
    null,
    2,
  );
}
const round = (x: number): number => Math.round(x * 10) / 10;

const xml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "");

export interface JunitOptions {
  /** When the run happened (default now); the Ant schema wants local time without a zone. */
  now?: Date;
  hostname?: string;
}

/**
 * JUnit XML valid against the Ant JUnit schema (test/fixtures/junit/JUnit.xsd), the one CI
 * test-report views are built for: no attributes on <testsuites> (readers sum the suites), each
 * <testsuite> with its totals, package, id, timestamp, hostname, <properties>, <system-out> and
 * <system-err>; <testcase> has only name, classname and time, so a file:line goes in the suite's
 * properties and at the head of the failure text, where reporters show it. One suite per test
 * file, one for invariants, one for coverage, one for policy errors (nothing was run then).
 */
export function renderJunit(r: TestReport, v: Verdict, opts: JunitOptions = {}): string {
  const stamp = (opts.now ?? new Date()).toISOString().slice(0, 19);
  const host = xml(opts.hostname ?? (hostname() || "localhost"));
  const secs = (ms: number): string => (ms / 1000).toFixed(3);
  const suites: string[] = [];
  interface Case { classname: string; name: string; ms: number; failure?: { type: string; message: string; body: string }; error?: { type: string; message: string; body: string } }
  const suite = (name: string, props: [string, string][], cases: Case[]): void => {
    const failures = cases.filter((k) => k.failure).length;
    const errors = cases.filter((k) => k.error).length;
    const ms = cases.reduce((a, k) => a + k.ms, 0);
    // A proof report (`waypost prove --format junit`) has no seed and no generated runs.
    const run = [...(r.runs > 0 ? [["seed", String(r.seed)], ["runs", String(r.runs)]] : []), ...(r.revision ? [["revision", r.revision]] : []), ...props];
    const lines = [
      `  <testsuite package="waypost" id="${suites.length}" name="${xml(name)}" timestamp="${stamp}" hostname="${host}" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${secs(ms)}">`,
      "    <properties>",
      ...run.map(([k, x]) => `      <property name="${xml(k!)}" value="${xml(x!)}"/>`),
      "    </properties>",
      ...cases.map((k) => {
        const attrs = `classname="${xml(k.classname)}" name="${xml(k.name)}" time="${secs(k.ms)}"`;
        const f = k.failure ? ["failure", k.failure] as const : k.error ? ["error", k.error] as const : undefined;
        if (!f) return `    <testcase ${attrs}/>`;
        return `    <testcase ${attrs}><${f[0]} type="${xml(f[1].type)}" message="${xml(f[1].message)}">${xml(f[1].body)}</${f[0]}></testcase>`;
      }),
      "    <system-out/>",
      "    <system-err/>",
      "  </testsuite>",
    ];
    suites.push(lines.join("\n"));
  };
  const errs = r.diagnostics.filter((d) => d.severity === "error");
  if (errs.length) {
    suite("diagnostics", [], errs.map((d) => {
      const at = where(pos(r.files, d.span));
      const body = `${at ? `${at}\n` : ""}${d.message}${d.help ? `\nhelp: ${d.help}` : ""}`;
      return { classname: "waypost.check", name: `${d.code} ${at}`.trim(), ms: 0, failure: { type: d.code, message: d.message, body } };
    }));
  }
  const byFile = new Map<string, typeof r.cases>();
  for (const k of r.cases) byFile.set(k.file, [...(byFile.get(k.file) ?? []), k]);
  for (const [file, ks] of byFile) {
    suite(file, [["file", file]], ks.map((k) => {
      const c: Case = { classname: file, name: k.name, ms: k.ms };
      if (!k.ok) {
        const body = [`${where(pos(r.files, k.span))} ${k.name}`, ...k.failures.map((f) => `${where(pos(r.files, f.span))}: ${f.message}`)].join("\n");
        c.failure = { type: "expectation", message: k.failures[0]?.message ?? "failed", body };
      }
      return c;
    }));
  }
  if (r.invariants.length) {
    const at = (i: (typeof r.invariants)[number]): string => (i.file ? where(pos(r.files, { file: i.file, start: i.offset ?? 0 })) : "built-in");
    suite("invariants", r.invariants.map((i) => [`invariant.${i.id}`, at(i)]), r.invariants.map((i) => {
      const c: Case = { classname: "invariants", name: i.id, ms: i.ms };
      if (i.ok) return c;
      if (i.error && !i.counterexample) c.error = { type: "error", message: i.error, body: `${at(i)}\n${i.error}` };
      else {
        const msg = i.counterexample?.message ?? "violated";
        c.failure = { type: "invariant", message: `${msg} (${at(i)})`, body: `${at(i)}\n${msg}\n${i.counterexample?.yaml ?? ""}` };
      }
      return c;
    }));
  }
  if (r.coverage && v.threshold !== undefined) {
    const name = `coverage >= ${v.threshold}%`;
    const body = r.coverage.nodes.flatMap((n) => n.items.filter((x) => !x.covered).map((x) => `uncovered: ${x.source} ${x.what}`)).join("\n");
    suite("coverage", [["coverage", pct(r.coverage.percent)]], [{ classname: "coverage", name, ms: 0, ...(v.coverageOk ? {} : { failure: { type: "coverage", message: `coverage ${pct(r.coverage.percent)} is below ${v.threshold}%`, body } }) }]);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n${suites.join("\n")}\n</testsuites>`;
}

/** GitHub workflow commands: data escapes %, CR and LF; properties also `:` and `,`. */
export function renderGithubReport(r: TestReport, v: Verdict): string {
  const esc = (s: string): string => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const prop = (s: string): string => esc(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
  const ann = (p: Pos | undefined, title: string, msg: string): string => {
    const props = [...(p ? [`file=${prop(p.file)}`] : []), ...(p?.line !== undefined ? [`line=${p.line}`, `col=${p.column}`] : []), `title=${prop(title)}`];
    return `::error ${props.join(",")}::${esc(msg)}`;
  };
  const out: string[] = [];
  if (r.diagnostics.length) out.push(renderGithub(r.diagnostics, r.files));
  for (const k of r.cases) for (const f of k.failures) out.push(ann(pos(r.files, f.span), `waypost test: ${k.name}`, f.message));
  for (const i of r.invariants) {
    if (i.ok) continue;
    const p = i.file ? pos(r.files, { file: i.file, start: i.offset ?? 0 }) : undefined;
    out.push(ann(p, `waypost test: invariant ${i.id}`, `${i.counterexample?.message ?? i.error ?? "violated"}\n${i.counterexample?.yaml ?? ""}`));
  }
  if (r.coverage && !v.coverageOk) out.push(ann(undefined, "waypost test: coverage", `coverage ${pct(r.coverage.percent)} is below the threshold of ${v.threshold}%`));
  out.push(`waypost test: ${summaryLine(r, v)}`);
  return out.join("\n");
}
