import { promises as fs } from "node:fs";
import * as path from "node:path";
import { makeReport, parseProveResults, type ProveResult } from "../../lifecycle/report/index.js";
import { parseArgs } from "../args.js";
import { InputError, UsageError, type Command } from "../command.js";
import { writeFileAtomic } from "../fs.js";
import { resolveDir } from "../util.js";

export const command: Command = {
  name: "report",
  summary: "a self-contained HTML report for reviewers: journey map, consent matrix, suppression and access, quality",
  usage: `Usage: waypost report [DIR] [--out DIR] [--prove FILE] [--seed N] [--runs N] [--no-tests]

Writes report.html for the policy repository in DIR (default: the current directory): one
file with no outside resources (it opens from disk or as a CI artifact) holding
  - the journey map: per triggering event, the candidate nodes in arbitration order with their
    triggers and eligibility, channels and send offsets, quiet hours, caps and cool-downs,
    holdouts, variants and rollout;
  - the consent matrix: purpose × channel × jurisdiction with lawful basis, whether consent is
    needed and its maximum age;
  - suppression and access: lists and rules by purpose and channel, which systems may ask for
    which nodes, which purposes may read which fields (deny wins);
  - quality: check diagnostics, \`waypost test\` results and coverage, \`waypost prove\` results.
Every entity links to its file and line: on the Git host when the repository has an origin
remote and the policy files are committed, else relative to the report.
The same sources give the same bytes (the invariant checks use a fixed seed).

Options:
  --out DIR      where to write report.html (default: out/report)
  --prove FILE   guarantees from \`waypost prove --format json\` to show under Quality
  --seed N       seed of the invariant checks (default 1)
  --runs N       generated requests per invariant (default 200)
  --no-tests     do not run the policy tests (views and diagnostics only)

Exit status: 0 written (even when checks or tests fail: the report shows them), 2 bad input.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { out: "string", prove: "string", seed: "number", runs: "number", "no-tests": "boolean" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const outDir = path.resolve(ctx.cwd, (flags["out"] as string | undefined) ?? path.join("out", "report"));
    const seed = (flags["seed"] as number | undefined) ?? 1;
    if (!Number.isInteger(seed)) throw new UsageError("`--seed` must be a whole number");
    const runs = (flags["runs"] as number | undefined) ?? 200;
    if (!Number.isInteger(runs) || runs < 0 || runs > 100_000) throw new UsageError("`--runs` must be a whole number from 0 to 100000");
    let prove: ProveResult[] | null = null;
    if (typeof flags["prove"] === "string") {
      const file = path.resolve(ctx.cwd, flags["prove"]);
      const text = await fs.readFile(file, "utf8").catch((e: Error) => {
        throw new InputError(`cannot read \`${flags["prove"]}\`: ${e.message}`, "give the JSON that `waypost prove --format json` writes");
      });
      const parsed = parseProveResults(text);
      if (typeof parsed === "string") throw new InputError(`\`${flags["prove"]}\` is not prove output: ${parsed}`, "give the JSON that `waypost prove --format json` writes");
      prove = parsed;
    }
    const t0 = performance.now();
    const { model, html } = await makeReport(dir, outDir, { seed, runs, tests: flags["no-tests"] !== true, prove, title: `Waypost policy report: ${path.basename(dir)}` });
    const file = path.join(outDir, "report.html");
    await fs.mkdir(outDir, { recursive: true });
    await writeFileAtomic(file, html);
    const nodes = model.events.reduce((a, e) => a + e.nodes.length, 0);
    ctx.stderr(`wrote ${path.relative(ctx.cwd, file) || file} (${Buffer.byteLength(html)} bytes, ${nodes} nodes, ${model.consent.length} consent cells) in ${Math.round(performance.now() - t0)} ms\n`);
    return 0;
  },
};
