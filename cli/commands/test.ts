import * as path from "node:path";
import { FsHost } from "../../compiler/source.js";
import { DEFAULT_RUNS, runPolicyTests } from "../../lifecycle/testing/index.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { renderGithubReport, renderJson, renderJunit, renderText, TEST_FORMATS, verdict } from "../render/test-report.js";
import { writeFileAtomic } from "../fs.js";
import { displayPrefix, rebaseReport } from "../paths.js";
import { failureExit, resolveDir } from "../util.js";

export const command: Command = {
  name: "test",
  summary: "run the policy tests: example cases, invariants (property-checked) and coverage",
  usage: `Usage: waypost test [DIR] [--format text|json|junit|github] [--seed N] [--runs N]
                    [--coverage-threshold N] [--no-invariants] [--invariant ID] [--verbose]
                    [--base DIR]

Builds the bundle of the policy repository in DIR (default: the current directory), then:
  - runs every case in tests/*.yaml through the compiled Wasm bundle and compares the decision
    with what the case expects;
  - checks every invariant (the built-in ones and those in tests/*.yaml) on requests generated
    from the data dictionary; a violation prints the shrunk counterexample as a YAML case;
  - measures which journey nodes, condition branches and outcomes the cases exercise.

Options:
  --format FORMAT           text (default), json, junit (CI test reports) or github (annotations)
  --seed N                  replay a run: the seed is printed by every run
  --runs N                  generated requests per invariant (default ${DEFAULT_RUNS})
  --coverage-threshold N    fail when coverage is below N percent
  --no-invariants           run the cases and coverage only
  --invariant ID            check only this invariant (with its seed, to replay one failure)
  --junit FILE              also write a JUnit report to FILE (whatever --format is)
  --verbose                 list passing cases too
  --base DIR                report paths relative to DIR (default: the Git repository root
                            holding the policy folder, as CI test reports and annotations expect)
  --engine ENGINE           wasm (default: the compiled bundle) or interpreter (the reference
                            interpreter on the same plan, to tell a policy bug from a compiler bug)

Exit status: 0 everything passed, 1 a case, invariant or the coverage threshold failed (or the
policies or tests have errors), 2 usage error.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, {
      format: "string", seed: "number", runs: "number", "coverage-threshold": "number", invariants: "boolean", invariant: "string", verbose: "boolean", engine: "string", junit: "string", base: "string",
    });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], TEST_FORMATS, "text");
    const runs = flags["runs"] as number | undefined;
    if (runs !== undefined && (!Number.isInteger(runs) || runs < 1 || runs > 1_000_000)) throw new UsageError("`--runs` must be a whole number from 1 to 1000000");
    const seed = flags["seed"] as number | undefined;
    if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError("`--seed` must be a whole number");
    const threshold = flags["coverage-threshold"] as number | undefined;
    if (threshold !== undefined && (threshold < 0 || threshold > 100)) throw new UsageError("`--coverage-threshold` must be between 0 and 100");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const prefix = await displayPrefix(dir, flags["base"] as string | undefined, ctx.cwd);
    const report = rebaseReport(await runPolicyTests(new FsHost(dir), {
      ...(seed !== undefined ? { seed } : {}),
      ...(runs !== undefined ? { runs } : {}),
      invariants: flags["invariants"] !== false,
      ...(typeof flags["invariant"] === "string" ? { only: [flags["invariant"]] } : {}),
      engine: oneOf("engine", flags["engine"], ["wasm", "interpreter"] as const, "wasm"),
    }), prefix);
    const v = verdict(report, threshold);
    switch (format) {
      case "json":
        ctx.stdout(renderJson(report, v) + "\n");
        break;
      case "junit":
        ctx.stdout(renderJunit(report, v) + "\n");
        break;
      case "github":
        ctx.stdout(renderGithubReport(report, v) + "\n");
        break;
      default:
        ctx.stdout(renderText(report, v, ctx.color, { verbose: flags["verbose"] === true }));
    }
    if (typeof flags["junit"] === "string") await writeFileAtomic(path.resolve(ctx.cwd, flags["junit"]), renderJunit(report, v) + "\n");
    return v.ok ? 0 : failureExit(report.diagnostics);
  },
};
