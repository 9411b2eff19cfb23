/**
 * `waypost prove` output. Text and JSON are its own; SARIF and GitHub annotations reuse the
 * diagnostic renderers (a refuted guarantee is a WP4101 error at the invariant or the node that
 * broke it, an unknown one a WP4102 warning), and JUnit reuses `waypost test`'s renderer with
 * one test case per guarantee, so CI views show proofs beside tests.
 */
import { diag, type Diagnostic } from "../../compiler/diagnostics.js";
import type { GuaranteeResult, ProveReport } from "../../lifecycle/prove/index.js";
import type { InvariantResult } from "../../lifecycle/testing/index.js";
import type { TestReport } from "../../lifecycle/testing/index.js";

export type ProveFormat = "text" | "json" | "junit" | "sarif" | "github";
export const PROVE_FORMATS: readonly ProveFormat[] = ["text", "json", "junit", "sarif", "github"];

const firstLine = (s: string | undefined): string => (s ?? "").split("\n")[0] ?? "";

/** Each guarantee that is not proved, as a diagnostic (the case to paste is in `help`). */
export function proofDiagnostics(report: ProveReport): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of report.results) {
    if (r.status === "refuted") {
      const cx = r.counterexample!;
      out.push(diag("WP4101", "error", `guarantee \`${r.id}\` is refuted: ${cx.violation}`, r.span, `the request below violates it on the Wasm bundle and the interpreter; save it under tests/:\n${cx.yaml.trimEnd()}`));
    } else if (r.status === "unknown") {
      out.push(diag("WP4102", "warning", `guarantee \`${r.id}\` is neither proved nor refuted: ${firstLine(r.reason)}`, r.span, r.reason));
    }
  }
  for (const f of report.cadence?.findings ?? []) out.push(f);
  return out;
}

export function jsonResult(r: GuaranteeResult): Record<string, unknown> {
  return {
    id: r.id,
    invariant: r.invariant,
    description: r.description,
    status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    ...(r.counterexample ? { counterexample: { request: r.counterexample.request, decision: r.counterexample.decision, violation: r.counterexample.violation, case: r.counterexample.yaml } } : {}),
    abstractions: r.abstractions,
    queries: r.queries,
    ms: Math.round(r.ms),
  };
}

const MARK: Record<GuaranteeResult["status"], string> = { proved: "✔ proved ", refuted: "✖ refuted", unknown: "? unknown" };

export function renderProveText(report: ProveReport): string {
  const out: string[] = [];
  for (const r of report.results) {
    out.push(`${MARK[r.status]}  ${r.id}: ${r.description} (${r.queries} queries, ${(r.ms / 1000).toFixed(2)} s)`);
    if (r.reason) for (const line of r.reason.split("\n")) out.push(`    ${line}`);
    if (r.abstractions.length > 0 && r.status !== "proved") out.push(`    abstracted (sound for the proof): ${r.abstractions.join("; ")}`);
    const cx = r.counterexample;
    if (cx) {
      const d = cx.decision;
      out.push(`    ${cx.violation}`);
      out.push(`    replayed on the Wasm bundle and the interpreter: ${d.outcome} via ${d.channel ?? "-"} by ${d.node ?? "-"}`);
      out.push(`    counterexample (save as tests/prove-${r.id}.yaml; ${cx.failsTest ? "`waypost test` then fails on it" : "it pins the violating decision, which `waypost test`'s per-decision invariant does not catch"}):`);
      out.push(...cx.yaml.trimEnd().split("\n").map((l) => `      ${l}`));
    }
  }
  if (report.cadence) out.push(...renderCadence(report.cadence));
  const n = (s: GuaranteeResult["status"]): number => report.results.filter((r) => r.status === s).length;
  if (report.results.length > 0) out.push(`${n("proved")} proved, ${n("refuted")} refuted, ${n("unknown")} unknown in ${(report.ms / 1000).toFixed(2)} s`);
  return out.join("\n") + "\n";
}

function renderCadence(c: NonNullable<ProveReport["cadence"]>): string[] {
  const out = ["cadence (messages one customer can be sent, all journeys together):"];
  for (const x of c.windows) {
    const most = x.most !== null ? `at most ${x.most}` : x.leaks.length > 0 ? `unbounded (${x.leaks.map((l) => `${l.node}/${l.channel}`).join(", ")} escape the cap)` : `not proved (${x.unknown.join("; ")})`;
    out.push(`    ${x.scope} per ${x.window} (cap \`${x.cap}\`, max ${x.max}): ${most}; ${x.nodes.length} sender(s) compete: ${x.nodes.join(", ") || "none"}`);
  }
  for (const d of c.dead) out.push(`    never delivers: ${d.node} via ${d.channel}${d.reason ? ` (${d.reason})` : ""}`);
  return out;
}

/** The report as `waypost test`'s, for its JUnit renderer: one invariant result per guarantee. */
export function proveTestReport(report: ProveReport, diagnostics: Diagnostic[]): TestReport {
  const invariants: InvariantResult[] = report.results.map((r) => ({
    id: r.id,
    builtin: r.span === undefined,
    description: r.description,
    ok: r.status === "proved",
    runs: r.queries,
    applied: r.queries,
    seed: 0,
    ...(r.counterexample ? { counterexample: { request: r.counterexample.request, decision: r.counterexample.decision, message: r.counterexample.violation, shrinks: 0, yaml: r.counterexample.yaml } } : {}),
    ...(r.status === "unknown" ? { error: `unknown: ${r.reason ?? ""}` } : {}),
    ...(r.span ? { file: r.span.file, offset: r.span.start } : {}),
    ms: r.ms,
  }));
  return { diagnostics, files: report.files, cases: [], invariants, seed: 0, runs: 0, timings: [] };
}
