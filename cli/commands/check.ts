import { compile, continueCompile, type CompileState } from "../../compiler/pipeline.js";
import { diag, hasErrors, type Diagnostic } from "../../compiler/diagnostics.js";
import { spanAt } from "../../compiler/load.js";
import type { Program } from "../../compiler/program.js";
import type { Plan } from "../../compiler/ir/ir.js";
import { formatProblem } from "../render/problem.js";
import { FsHost } from "../../compiler/source.js";
import { parseArgs, oneOf } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { FORMATS, renderGithub, renderJson, renderSarif, renderText, summary } from "../render/diagnostics.js";
import { displayPrefix, rebaseDiagnostics, rebaseFiles } from "../paths.js";
import { failureExit, resolveDir, VERSION } from "../util.js";


export const command: Command = {
  name: "check",
  summary: "check policies and journeys for mistakes (schema, conditions, governance rules)",
  usage: `Usage: waypost check [DIR] [--format text|json|sarif|github] [--strict] [--base DIR] [--against REV]

Checks the policy repository in DIR (default: the current directory): every YAML file under
policies/ and journeys/ against its JSON Schema, every condition against the data dictionary,
and the governance rules (references, data minimisation, lawful basis and consent, review,
shares, allow-lists, retention, residency, arbitration).

Options:
  --format FORMAT   text (default), json, sarif (code scanning) or github (annotations)
  --strict          warnings fail the check too; also the cadence analysis of \`waypost prove\`
                    (WP4103 nodes that never deliver, WP4104 journeys a frequency cap does not bind)
  --timings         print how long each compiler stage took
  --base DIR        report paths relative to DIR (default: the Git repository root holding
                    the policy folder, so code scanning and annotations find the files)
  --against REV     also compare with the policies at Git revision REV (e.g. \`main\`): warn
                    (WP5013) when a holdout's or experiment's salt or share changed, with how
                    many sampled customers move between control and treatment

Exit status: 0 clean, 1 problems found, 2 usage error or unreadable input (the folder or a
file cannot be read, or it holds no policy files).`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", strict: "boolean", timings: "boolean", base: "string", against: "string" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], FORMATS, "text");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const against = flags["against"] as string | undefined;
    // With --against the head is planned too: the groups are compared as the engine sees them.
    const s = await compile(new FsHost(dir), { until: against !== undefined ? "Plan" : "Check" });
    if (against !== undefined && s.ir && s.program) {
      // Loaded only here: the Git reader (isomorphic-git) and the diff are no part of a plain check.
      const { openGitSide } = await import("../../lifecycle/diff/index.js");
      const base = await openGitSide(dir, against);
      if (!base.ok) return ctx.stderr(formatProblem(base.error)), 2;
      s.diagnostics.push(...(await shiftDiagnostics(base.value.data.plan, s.ir.plan, s.program)));
    }
    const prefix = await displayPrefix(dir, flags["base"] as string | undefined, ctx.cwd);
    // --strict also asks the prover's cadence questions (WP4103 dead nodes, WP4104 caps a journey escapes).
    // (The check's own findings: building on for the cadence must not add the later stages'.)
    const checked = [...s.diagnostics];
    const found = flags["strict"] === true && !hasErrors(s.diagnostics) ? await cadenceFindings(s) : [];
    const ds = rebaseDiagnostics([...checked, ...found], prefix);
    const files = rebaseFiles(s.files, prefix);
    const sum = summary(ds, files.size);
    switch (format) {
      case "json":
        ctx.stdout(renderJson(ds, files, files.size) + "\n");
        break;
      case "sarif":
        ctx.stdout(renderSarif(ds, files, VERSION) + "\n");
        break;
      case "github":
        if (ds.length) ctx.stdout(renderGithub(ds, files) + "\n");
        ctx.stdout(`waypost check: ${sum.text}\n`);
        break;
      default:
        ctx.stdout(renderText(ds, files, ctx.color));
        ctx.stdout(`${sum.errors ? "✖" : "✔"} ${sum.text}\n`);
    }
    if (flags["timings"]) for (const t of s.timings) ctx.stderr(`${t.stage.padEnd(10)} ${t.ms.toFixed(1)} ms\n`);
    if (sum.errors > 0) return failureExit(ds);
    return flags["strict"] === true && sum.warnings > 0 ? 1 : 0;
  },
};

/**
 * The cadence findings of `waypost prove`, on the checked state built on to a bundle (loaded
 * only here: the later stages and the solver are no part of a plain check).
 */
async function cadenceFindings(s: CompileState): Promise<Diagnostic[]> {
  const { cadence, shutdownSolver } = await import("../../lifecycle/prove/index.js");
  await continueCompile(s);
  if (!s.bundle || !s.ir || !s.program) return [];
  try {
    return (await cadence({ program: s.program, ir: s.ir, data: s.bundle.data.waypost, bundle: s.bundle.bytes })).findings;
  } finally {
    await shutdownSolver();
  }
}

/** WP5013 for every holdout or experiment whose salt or share moved customers, at its head location. */
async function shiftDiagnostics(base: Plan, head: Plan, p: Program): Promise<Diagnostic[]> {
  const { holdoutShifts, shiftMessage } = await import("../../lifecycle/diff/holdouts.js");
  return holdoutShifts(base, head).map((sh) => {
    const id = sh.key.split("/")[1]!;
    const h = sh.key.startsWith("holdout/") ? p.holdouts.find((x) => x.id === id) : undefined;
    const x = h ? undefined : p.nodes.find((n) => n.id === id)?.experiment;
    const origin = h?.origin ?? x?.origin;
    const key = sh.before.salt !== sh.after.salt ? "salt" : h ? "share" : "holdout";
    return diag("WP5013", "warning", shiftMessage(sh), origin ? spanAt(origin.doc, [...origin.path, key]) : undefined,
      "a moved customer's decisions before and after belong to different groups; keep salt and share for the life of the measurement, or start a new holdout and analyse it separately");
  });
}
