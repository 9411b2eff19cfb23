import { compile } from "../../compiler/pipeline.js";
import { FsHost } from "../../compiler/source.js";
import { parseArgs, oneOf } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { FORMATS, renderGithub, renderJson, renderSarif, renderText, summary } from "../render/diagnostics.js";
import { displayPrefix, rebaseDiagnostics, rebaseFiles } from "../paths.js";
import { failureExit, resolveDir, VERSION } from "../util.js";

export const command: Command = {
  name: "check",
  summary: "check policies and journeys for mistakes (schema, conditions, governance rules)",
  usage: `Usage: waypost check [DIR] [--format text|json|sarif|github] [--strict] [--base DIR]

Checks the policy repository in DIR (default: the current directory): every YAML file under
policies/ and journeys/ against its JSON Schema, every condition against the data dictionary,
and the governance rules (references, data minimisation, lawful basis and consent, review,
shares, allow-lists, retention, residency, arbitration).

Options:
  --format FORMAT   text (default), json, sarif (code scanning) or github (annotations)
  --strict          warnings fail the check too
  --timings         print how long each compiler stage took
  --base DIR        report paths relative to DIR (default: the Git repository root holding
                    the policy folder, so code scanning and annotations find the files)

Exit status: 0 clean, 1 problems found, 2 usage error or unreadable input (the folder or a
file cannot be read, or it holds no policy files).`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", strict: "boolean", timings: "boolean", base: "string" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], FORMATS, "text");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const s = await compile(new FsHost(dir), { until: "Check" });
    const prefix = await displayPrefix(dir, flags["base"] as string | undefined, ctx.cwd);
    const ds = rebaseDiagnostics(s.diagnostics, prefix);
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
