import * as path from "node:path";
import { diffSides, openSide, type DiffOptions } from "../../lifecycle/diff/index.js";
import type { JsonValue } from "../../compiler/ir/ir.js";
import { renderHtml, renderJson, renderMarkdown, renderText } from "../../lifecycle/diff/render.js";
import { viewsOf } from "../../lifecycle/report/compare.js";
import { linkBaseFor } from "../../lifecycle/report/links.js";
import { formatProblem } from "../render/problem.js";
import { FsHost } from "../../compiler/source.js";
import { oneOf, parseArgs, solverTimeout } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { writeFileAtomic } from "../fs.js";
import { VERIFY_FLAGS, VERIFY_USAGE, verifyOptionsFromFlags } from "../keys.js";

export const command: Command = {
  name: "diff",
  summary: "what a policy change does: changes by entity, decisions that flip, risks to approve",
  usage: `Usage: waypost diff BASE HEAD [--repo DIR] [--format text|markdown|json|html] [--seed N] [--runs N] [--prove [--timeout MS]] [--out FILE]
                    [--public-key KEY [--alg ALG] [--key-id ID] [--scope S] | --skip-verify]

BASE and HEAD are Git revisions of the repository in DIR (a branch, tag, commit id, HEAD~1...)
or bundle files written by \`waypost build\`. Reports:
  - the changes by entity (nodes, suppression lists and rules, consent rules, allow-lists,
    caps...) with the file:line of each; list entries are counted, not listed;
  - the decision impact: both versions decide the example requests (requests/*.json),
    the test cases (tests/*.yaml) and generated requests (seeded, reproducible); decisions
    whose outcome, node or channel differ are grouped by (old → new outcome, node, channel),
    with a minimal example request each; widening changes (anything that newly sends) first;
  - call-outs that need extra approval: high-risk nodes, lawful bases, suppression scope,
    consent rules, widening.

Options:
  --repo DIR           the policy repository (default: the current directory)
  --format FORMAT      text (default), markdown (a pull-request comment), json, or html (one
                       self-contained page: the report's views of HEAD with the changes marked)
  --seed N             seed of the generated requests (default 1)
  --runs N             how many requests to generate (default 2000; 0 for none)
  --out FILE           write the report to FILE instead of standard output
  --fail-on-widening   exit 1 when a decision newly sends
  --prove              also ask an SMT solver, over every request both versions accept, whether
                       any newly sends or no longer sends on a node and channel; its witness
                       requests join the decision impact (origin \`proof\`), so a widening change
                       is found whatever the sample size (Git revisions only)
  --timeout MS         with --prove: the solver's time-out per query (default 10000)
A bundle file (BASE or HEAD) is read only with one of these (Git revisions need neither):
${VERIFY_USAGE}

Exit status: 0 reported, 1 widening with --fail-on-widening, 2 bad input.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { repo: "string", format: "string", seed: "number", runs: "number", out: "string", "fail-on-widening": "boolean", prove: "boolean", timeout: "number", ...VERIFY_FLAGS });
    if (positionals.length !== 2) throw new UsageError("give two revisions or bundle files: BASE and HEAD");
    const format = oneOf("format", flags["format"], ["text", "markdown", "json", "html"] as const, "text");
    const runs = (flags["runs"] as number | undefined) ?? 2000;
    if (!Number.isInteger(runs) || runs < 0 || runs > 1_000_000) throw new UsageError("`--runs` must be a whole number from 0 to 1000000");
    const seed = (flags["seed"] as number | undefined) ?? 1;
    if (!Number.isInteger(seed)) throw new UsageError("`--seed` must be a whole number");
    const dir = path.resolve(ctx.cwd, (flags["repo"] as string | undefined) ?? ".");
    const verify = await verifyOptionsFromFlags(ctx.cwd, flags, false);
    const [baseSpec, headSpec] = positionals as [string, string];
    const base = await openSide(dir, ctx.cwd, baseSpec, verify);
    if (!base.ok) return ctx.stderr(formatProblem(base.error)), 2;
    const head = await openSide(dir, ctx.cwd, headSpec, verify);
    if (!head.ok) return ctx.stderr(formatProblem(head.error)), 2;
    const timeout = solverTimeout(flags["timeout"]);
    if (flags["timeout"] !== undefined && flags["prove"] !== true) throw new UsageError("`--timeout` is the solver's: give it with `--prove`");
    let proof: DiffOptions["proof"];
    if (flags["prove"] === true) {
      const b = base.value;
      const h = head.value;
      if (b.ir === null || h.ir === null) throw new UsageError("`--prove` needs two Git revisions: a bundle file holds no decision plan to encode");
      // Loaded only here: the solver is no part of a plain diff.
      const { proveDiff } = await import("../../lifecycle/prove/diff.js");
      const { shutdownSolver } = await import("../../lifecycle/prove/solver.js");
      try {
        const r = await proveDiff({ ir: b.ir, data: b.data }, { ir: h.ir, data: h.data }, timeout);
        const dir = (k: "widening" | "narrowing"): "none" | "found" | "unknown" => (r.proved[k] ? "none" : r.witnesses.some((w) => w.kind === k) ? "found" : "unknown");
        proof = {
          witnesses: r.witnesses.map((w) => ({ request: w.request as unknown as JsonValue, origin: "proof", label: `${w.kind} ${w.node}/${w.channel}` })),
          summary: { widening: dir("widening"), narrowing: dir("narrowing"), witnesses: r.witnesses.length, unknown: r.unknown, ms: r.ms },
        };
      } finally {
        await shutdownSolver();
      }
    }
    // Examples in the checkout count too (in CI, the pull request's own examples).
    const report = await diffSides(base.value, head.value, { seed, runs, requestHosts: [new FsHost(dir)], ...(proof ? { proof } : {}) });
    let text: string;
    if (format === "html") {
      // The views of both trees (Git revisions only: a bundle has no sources to show).
      const bv = base.value.host ? await viewsOf(base.value.host) : null;
      const hv = head.value.host ? await viewsOf(head.value.host) : null;
      const out = typeof flags["out"] === "string" ? path.dirname(path.resolve(ctx.cwd, flags["out"])) : ctx.cwd;
      const at = (s: typeof head.value): string | undefined => (s.info.kind === "git" ? s.info.revision : undefined);
      const links = await linkBaseFor(dir, out, at(head.value));
      text = renderHtml(report, bv && hv ? { base: bv, head: hv } : null, links, await linkBaseFor(dir, out, at(base.value)));
    } else text = format === "json" ? renderJson(report) : format === "markdown" ? renderMarkdown(report) : renderText(report);
    if (typeof flags["out"] === "string") await writeFileAtomic(path.resolve(ctx.cwd, flags["out"]), text);
    else ctx.stdout(text);
    return flags["fail-on-widening"] && report.impact.widening > 0 ? 1 : 0;
  },
};
