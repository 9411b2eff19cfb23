import * as path from "node:path";
import { createColors } from "picocolors";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { verifyLog } from "../../runtime/log.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";

export const command: Command = {
  name: "log verify",
  summary: "check a decision log's hash chain for edited, deleted, reordered or torn entries",
  usage: `Usage: waypost log verify FILE [--format text|json] [--head HASH]

Reads the decision log FILE (JSON Lines written by the runtime) and checks that every entry's
hash matches its content, that every entry links to the one before it from the first, that
sequence numbers run without gaps, and that the last write was not interrupted.

The chain cannot show entries cut from the end of the log: compare the printed head hash
with one recorded elsewhere, or pass it with --head.

Options:
  --format FORMAT   text (default) or json ({ok, entries, problems, head, lastSeq})
  --head HASH       also require the log to contain an entry with this hash (an anchored head)

Exit status: 0 intact, 1 tampered or damaged, 2 usage error or unreadable file.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", head: "string" });
    if (positionals.length !== 1) throw new UsageError("give exactly one log file");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const file = positionals[0]!;
    const anchored = typeof flags["head"] === "string" ? flags["head"].toLowerCase() : undefined;
    let r;
    try {
      r = await verifyLog(path.resolve(ctx.cwd, file), anchored !== undefined ? { head: anchored } : {});
    } catch (e) {
      if (e instanceof WaypostRuntimeError) {
        ctx.stderr(`waypost log verify: error[${e.code}]: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
    if (format === "json") {
      ctx.stdout(JSON.stringify(r, null, 2) + "\n");
    } else {
      const c = createColors(ctx.color);
      for (const p of r.problems) ctx.stdout(`${file}:${p.line}: ${c.red(`error[${p.code}]`)} ${p.message}\n`);
      if (r.ok) ctx.stdout(`${c.green("✔")} ${file}: ${r.entries} entr${r.entries === 1 ? "y" : "ies"}, chain intact${r.head ? `, head ${r.head}` : ""}\n`);
      else ctx.stdout(`${c.red("✖")} ${file}: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} in ${r.entries} entries\n`);
    }
    return r.ok ? 0 : 1;
  },
};
