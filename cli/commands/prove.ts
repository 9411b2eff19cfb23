import { FsHost } from "../../compiler/source.js";
import { DEFAULT_TIMEOUT_MS, proveExit, proveRepository, shutdownSolver, type ProveReport } from "../../lifecycle/prove/index.js";
import { oneOf, parseArgs, solverTimeout } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { renderGithub, renderSarif, renderText as renderDiagnostics } from "../render/diagnostics.js";
import { jsonResult, proofDiagnostics, PROVE_FORMATS, proveTestReport, renderProveText } from "../render/prove.js";
import { renderJunit } from "../render/test-report.js";
import { displayPrefix, rebaseDiagnostics, rebaseFiles } from "../paths.js";
import { resolveDir, VERSION } from "../util.js";

export const command: Command = {
  name: "prove",
  summary: "prove the built-in guarantees and author invariants for every possible request (SMT), or print a counterexample",
  usage: `Usage: waypost prove [DIR] [--format text|json|junit|sarif|github] [--timeout MS] [--no-cadence] [--guarantee ID]

Builds the bundle of the policy repository in DIR (default: the current directory), encodes its
decision symbolically and asks an SMT solver (z3) whether ANY request can break a guarantee:
  - suppression: a customer on a suppression list (or caught by a suppression rule) gets
    nothing in the list's scope, for every list content;
  - consent: nothing is sent without consent for its channel and purpose that is still valid
    at the send time (after the channel's delay and any quiet-hours deferral);
  - quiet-hours: no send time falls in quiet hours in the customer's local time (their IANA
    zone's table from the bundle, else the fixed offset);
  - holdout: a customer held out of a node's experiment gets no treatment from it;
  - high-risk: high-risk nodes only go to human review;
  - every author invariant in tests/*.yaml.
Each is proved, refuted (the solver's request is replayed on the built Wasm bundle and the
reference interpreter, and printed as a test case for tests/), or unknown with the reason (a
time-out, or a model that does not replay). Then cadence: for each frequency cap, whether every
journey in its scope is bound by it (so one customer gets at most the cap from all journeys
together), and every node and channel that can never deliver. See docs/prove.md.

Options:
  --format FORMAT   text (default), json, junit (CI test reports), sarif (code scanning) or
                    github (annotations)
  --timeout MS      solver time-out per query (default ${DEFAULT_TIMEOUT_MS})
  --no-cadence      skip the cadence analysis
  --guarantee ID    prove only this guarantee or author invariant
  --base DIR        report paths relative to DIR (default: the Git repository root)

Exit status: 0 every guarantee proved, 1 a guarantee refuted (or the policies have errors),
2 usage error, 3 no guarantee refuted but some unknown.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", timeout: "number", base: "string", cadence: "boolean", guarantee: "string" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], PROVE_FORMATS, "text");
    const timeout = solverTimeout(flags["timeout"]);
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const prefix = await displayPrefix(dir, flags["base"] as string | undefined, ctx.cwd);
    let report: ProveReport;
    try {
      report = await proveRepository(new FsHost(dir), { ...timeout, cadence: flags["cadence"] !== false, ...(typeof flags["guarantee"] === "string" ? { only: [flags["guarantee"]] } : {}) });
    } finally {
      await shutdownSolver();
    }
    const files = rebaseFiles(report.files, prefix);
    const ds = rebaseDiagnostics(report.diagnostics, prefix);
    const found = rebaseDiagnostics(proofDiagnostics(report), prefix);
    const status = ["proved", "refuted", "unknown"][[0, 1, 3].indexOf(proveExit(report))] ?? "error";
    switch (format) {
      case "json":
        ctx.stdout(JSON.stringify({ status, ms: Math.round(report.ms), results: report.results.map(jsonResult), ...(report.cadence ? { cadence: { windows: report.cadence.windows, dead: report.cadence.dead.map(({ node, channel }) => ({ node, channel })) } } : {}), diagnostics: [...ds, ...found] }, null, 2) + "\n");
        break;
      case "sarif":
        ctx.stdout(renderSarif([...ds, ...found], files, VERSION) + "\n");
        break;
      case "github":
        if (ds.length + found.length > 0) ctx.stdout(renderGithub([...ds, ...found], files) + "\n");
        ctx.stdout(`waypost prove: ${summaryLine(report)}\n`);
        break;
      case "junit":
        ctx.stdout(renderJunit(proveTestReport({ ...report, files }, ds), { ok: proveExit(report) === 0, coverageOk: true }) + "\n");
        break;
      default:
        if (ds.length > 0) ctx.stdout(renderDiagnostics(ds, files, ctx.color));
        ctx.stdout(renderProveText(report));
    }
    return proveExit(report);
  },
};

function summaryLine(report: ProveReport): string {
  const n = (s: string): number => report.results.filter((r) => r.status === s).length;
  return `${n("proved")} proved, ${n("refuted")} refuted, ${n("unknown")} unknown in ${(report.ms / 1000).toFixed(2)} s`;
}
