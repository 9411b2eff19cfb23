import * as path from "node:path";
import { nodeHistory, openRepo } from "../../lifecycle/git.js";
import { formatProblem } from "../render/problem.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";

export const command: Command = {
  name: "history",
  summary: "the commits that changed a journey node (author, date, message)",
  usage: `Usage: waypost history NODE [--repo DIR] [--rev REF] [--format text|json]

Lists, newest first, the commits in the first-parent history of REF (default HEAD) that
added, changed or removed the journey node NODE. A change is a change of the node's content;
comments and formatting do not count.

Options:
  --repo DIR        the policy repository (default: the current directory)
  --rev REF         where the history starts (default HEAD)
  --format FORMAT   text (default) or json`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { repo: "string", rev: "string", format: "string" });
    if (positionals.length !== 1) throw new UsageError("give exactly one journey node id");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const repo = await openRepo(path.resolve(ctx.cwd, (flags["repo"] as string | undefined) ?? "."));
    if (!repo.ok) return ctx.stderr(formatProblem(repo.error)), 2;
    const node = positionals[0]!;
    const h = await nodeHistory(repo.value, (flags["rev"] as string | undefined) ?? "HEAD", node);
    if (!h.ok) return ctx.stderr(formatProblem(h.error)), 2;
    if (format === "json") {
      ctx.stdout(JSON.stringify(h.value.map((c) => ({ commit: c.commit.oid, change: c.change, file: c.file, author: c.commit.author, date: c.commit.authorDate, message: c.commit.message.trim() })), null, 2) + "\n");
    } else {
      for (const c of h.value) {
        ctx.stdout(`${c.commit.oid.slice(0, 12)}  ${c.commit.authorDate}  ${c.change.padEnd(8)} ${c.commit.author.name} <${c.commit.author.email}>\n    ${c.commit.message.split("\n")[0]}  (${c.file})\n`);
      }
    }
    return 0;
  },
};
