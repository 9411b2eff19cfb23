import * as path from "node:path";
import { createColors } from "picocolors";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { headFileOf, verifyLog } from "../../runtime/log.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { formatProblem } from "../render/problem.js";
import { logKeyFromFlags } from "../keys.js";

export const command: Command = {
  name: "log verify",
  summary: "check a decision log's MACs, chain and end for edited, deleted, reordered, cut or torn entries",
  usage: `Usage: waypost log verify FILE [--log-key KEY] [--head MAC] [--format text|json]

Reads the decision log FILE (JSON Lines written by the runtime) and checks, with the log key,
every entry's MAC (an HMAC chain: nobody without the key can edit, delete, insert or reorder
entries, or recompute the chain, unnoticed), that the log reaches the entry its head file
FILE.head records (entries cut from the end), that sequence numbers run without gaps, that
erased entries' erasures verify, and that the last write was not interrupted.

Without the key only the structure and the links between entries can be checked, which anyone
can forge: the result says the MACs were not checked. Logs written unkeyed (a plain hash chain)
are checked as such and reported as unkeyed.

Options:
  --log-key FILE    the log key (or WAYPOST_LOG_KEY): 64 hex digits
  --head MAC        also require an entry with this mac (a head recorded elsewhere earlier:
                    the defence against someone who cuts the log and restores an older head file)
  --format FORMAT   text (default) or json (the full result: ok, proven, problems, notes, ...)

Exit status: 0 verified with the key (MACs checked and the end checked against the head file
or --head); 1 tampered or damaged (including a wrong key); 2 usage error or unreadable file;
3 no damage found, but integrity not proven (no key given, an unkeyed log, or nothing to check
the end against).`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { format: "string", head: "string", "log-key": "string" });
    if (positionals.length !== 1) throw new UsageError("give exactly one log file");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const file = positionals[0]!;
    const anchored = typeof flags["head"] === "string" ? flags["head"].toLowerCase() : undefined;
    const key = await logKeyFromFlags(ctx.cwd, flags, ctx.env);
    let r;
    try {
      r = await verifyLog(path.resolve(ctx.cwd, file), { ...(anchored !== undefined ? { head: anchored } : {}), ...(key !== undefined ? { key } : {}) });
    } catch (e) {
      if (e instanceof WaypostRuntimeError) {
        ctx.stderr(formatProblem(e, "log verify"));
        return 2;
      }
      throw e;
    }
    const status = !r.ok ? 1 : r.proven ? 0 : 3;
    if (format === "json") {
      ctx.stdout(JSON.stringify(r, null, 2) + "\n");
      return status;
    }
    const c = createColors(ctx.color);
    const where = (line: number): string => (line > 0 ? `${file}:${line}` : path.basename(headFileOf(file)));
    for (const p of r.problems) ctx.stdout(`${where(p.line)}: ${c.red(`error[${p.code}]`)} ${p.message}\n`);
    const n = `${r.entries} entr${r.entries === 1 ? "y" : "ies"}`;
    if (!r.ok) ctx.stdout(`${c.red("✖")} ${file}: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} in ${n}\n`);
    else if (r.proven) {
      const end = r.headFile === "checked" ? `end checked against ${path.basename(headFileOf(file))}` : "end checked against --head";
      ctx.stdout(`${c.green("✔")} ${file}: ${n}, MACs verified under log key ${r.kid ?? "(empty log)"}, ${end}${r.head ? `, head ${r.head}` : ""}\n`);
    } else ctx.stdout(`${c.yellow("⚠")} ${file}: ${n}, no damage found, but integrity not proven\n`);
    for (const note of r.notes) ctx.stdout(`  ${c.dim("note:")} ${note}\n`);
    return status;
  },
};
