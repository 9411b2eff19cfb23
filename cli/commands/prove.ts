import { FsHost } from "../../compiler/source.js";
import { DEFAULT_TIMEOUT_MS, proveExit, proveRepository, shutdownSolver, type GuaranteeResult, type ProveReport } from "../../lifecycle/prove/index.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { renderText as renderDiagnostics } from "../render/diagnostics.js";
import { displayPrefix, rebaseDiagnostics, rebaseFiles } from "../paths.js";
import { resolveDir } from "../util.js";

const PROVE_FORMATS = ["text", "json"] as const;

export const command: Command = {
  name: "prove",
  summary: "prove the built-in guarantees for every possible request (SMT), or print a counterexample",
  usage: `Usage: waypost prove [DIR] [--format text|json] [--timeout MS]

Builds the bundle of the policy repository in DIR (default: the current directory), encodes its
decision symbolically and asks an SMT solver (z3) whether ANY request can break a guarantee:
  - suppression: a customer on a suppression list (or caught by a suppression rule) gets
    nothing in the list's scope, for every list content;
  - consent: nothing is sent without consent for its channel and purpose that is still valid
    at the send time (after the channel's delay and any quiet-hours deferral).
Each guarantee is proved, refuted (the solver's request is replayed on the built Wasm bundle
and the reference interpreter, and printed as a test case for tests/), or unknown with the
reason (a time-out, or a model that does not replay). See docs/prove.md.

Options:
  --format FORMAT   text (default) or json
  --timeout MS      solver time-out per query (default ${DEFAULT_TIMEOUT_MS})
  --base DIR        report paths relative to DIR (default: the Git repository root)

Exit status: 0 every guarantee proved, 1 a guarantee refuted (or the policies have errors),
2 usage error, 3 no guarantee refuted but some unknown.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", timeout: "number", base: "string" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], PROVE_FORMATS, "text");
    const timeout = flags["timeout"] as number | undefined;
    if (timeout !== undefined && (!Number.isInteger(timeout) || timeout < 1 || timeout > 3_600_000)) throw new UsageError("`--timeout` must be a whole number of milliseconds from 1 to 3600000");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const prefix = await displayPrefix(dir, flags["base"] as string | undefined, ctx.cwd);
    let report: ProveReport;
    try {
      report = await proveRepository(new FsHost(dir), timeout !== undefined ? { timeoutMs: timeout } : {});
    } finally {
      await shutdownSolver();
    }
    const ds = rebaseDiagnostics(report.diagnostics, prefix);
    if (format === "json") {
      ctx.stdout(JSON.stringify({ status: ["proved", "refuted", "unknown"][[0, 1, 3].indexOf(proveExit(report))] ?? "error", ms: Math.round(report.ms), results: report.results.map(jsonResult), diagnostics: ds }, null, 2) + "\n");
    } else {
      if (ds.length > 0) ctx.stdout(renderDiagnostics(ds, rebaseFiles(report.files, prefix), ctx.color));
      ctx.stdout(renderResults(report));
    }
    return proveExit(report);
  },
};

function jsonResult(r: GuaranteeResult): Record<string, unknown> {
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

function renderResults(report: ProveReport): string {
  const out: string[] = [];
  for (const r of report.results) {
    out.push(`${MARK[r.status]}  ${r.id}: ${r.description} (${r.queries} queries, ${(r.ms / 1000).toFixed(2)} s)`);
    if (r.reason) for (const line of r.reason.split("\n")) out.push(`    ${line}`);
    if (r.abstractions.length > 0) out.push(`    abstracted (sound for the proof): ${r.abstractions.join("; ")}`);
    const cx = r.counterexample;
    if (cx) {
      const d = cx.decision;
      out.push(`    ${cx.violation}`);
      out.push(`    replayed on the Wasm bundle and the interpreter: ${d.outcome} via ${d.channel ?? "-"} by ${d.node ?? "-"}`);
      out.push(`    counterexample (save as tests/prove-${r.id}.yaml; ${cx.failsTest ? "`waypost test` then fails on it" : "it pins the violating decision, which `waypost test`'s per-decision invariant does not catch"}):`);
      out.push(...cx.yaml.trimEnd().split("\n").map((l) => `      ${l}`));
    }
  }
  const n = (s: GuaranteeResult["status"]): number => report.results.filter((r) => r.status === s).length;
  if (report.results.length > 0) out.push(`${n("proved")} proved, ${n("refuted")} refuted, ${n("unknown")} unknown in ${(report.ms / 1000).toFixed(2)} s`);
  return out.join("\n") + "\n";
}
