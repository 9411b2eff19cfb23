import * as path from "node:path";
import { formatProblem } from "../render/problem.js";
import { readStore, rollback } from "../../lifecycle/release.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";

export const command: Command = {
  name: "rollback",
  summary: "point the artifact store's current bundle at the previous (or a named) release",
  usage: `Usage: waypost rollback --store STORE [--to REV] [--list] [--format text|json]

Makes the release before the current one (in release order) current again, or the release
REV (a revision in the store, or a unique prefix of one). The bundle's bytes are checked
against the index first. Runtimes watching the store switch on their next poll.

Options:
  --store DIR       the artifact store
  --to REV          the release to go back to
  --list            list the releases (current marked) and change nothing
  --format FORMAT   text (default) or json`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { store: "string", to: "string", list: "boolean", format: "string" });
    if (positionals.length) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
    if (typeof flags["store"] !== "string") throw new UsageError("give the artifact store with `--store DIR`");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const store = path.resolve(ctx.cwd, flags["store"]);
    if (flags["list"]) {
      const idx = await readStore(store);
      if (!idx.ok) return ctx.stderr(formatProblem(idx.error)), 2;
      if (format === "json") ctx.stdout(JSON.stringify(idx.value, null, 2) + "\n");
      else for (const r of idx.value.releases) ctx.stdout(`${r.revision === idx.value.current ? "*" : " "} ${r.revision}  ${r.released_at}  ${r.digest.slice(0, 19)}…${r.dirty ? "  dirty" : ""}\n`);
      return 0;
    }
    const r = await rollback(store, flags["to"] as string | undefined);
    if (!r.ok) return ctx.stderr(formatProblem(r.error)), 2;
    if (format === "json") ctx.stdout(JSON.stringify({ from: r.value.from, to: r.value.to }, null, 2) + "\n");
    else ctx.stdout(`✔ rolled back: current is ${r.value.to} (was ${r.value.from ?? "none"})\n`);
    return 0;
  },
};
