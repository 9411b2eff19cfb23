import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import { packageRoot } from "../../compiler/package-root.js";
import { initFiles } from "../../lifecycle/init.js";
import { parseArgs } from "../args.js";
import { InputError, UsageError, type Command } from "../command.js";
import { findGitRoot } from "../paths.js";

const posix = (p: string): string => p.split(path.sep).join("/");

/**
 * Where the editor finds the schemas, from DIR: an installed `node_modules/waypost` at or above
 * DIR; else this package's own schemas/ when DIR is inside it (a clone of waypost); else
 * `node_modules/waypost/schemas`, which `npm install --save-dev waypost` in DIR provides.
 */
function schemasFrom(dir: string): string {
  for (let cur = dir; ; ) {
    const s = path.join(cur, "node_modules", "waypost", "schemas");
    if (existsSync(s)) return posix(path.relative(dir, s));
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  const own = packageRoot();
  const rel = path.relative(own, dir);
  if (!rel.startsWith("..") && !path.isAbsolute(rel)) return posix(path.relative(dir, path.join(own, "schemas")));
  return "node_modules/waypost/schemas";
}

export const command: Command = {
  name: "init",
  summary: "start a new policy repository (policies, one journey, tests, a request, CI workflows)",
  usage: `Usage: waypost init [DIR]

Creates a policy repository in DIR (default: the current directory; created if missing): a data
dictionary, purposes, an access policy, a suppression list, contact rules, one journey node,
a test file, requests/ with one example and its expected decision, and the CI workflows
(policy-tests.yml, policy-diff.yml, policy-diff-comment.yml) in .github/workflows of the Git
repository holding DIR (or of DIR when it is not in one). Every YAML file starts with an editor
schema comment pointing at the installed package's schemas/.

As generated, \`waypost check\`, \`waypost test\` and \`waypost demo\` pass. Existing files are
never overwritten: if any would be, nothing is written.

Exit status: 0 created, 2 usage error or a file is in the way.`,
  async run(ctx) {
    const { positionals } = parseArgs(ctx.argv, {});
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const dir = path.resolve(ctx.cwd, positionals[0] ?? ".");
    const st = await fs.stat(dir).catch(() => undefined);
    if (st && !st.isDirectory()) throw new UsageError(`\`${positionals[0] ?? dir}\` is not a directory`);
    const gitRoot = await findGitRoot(dir);
    const root = gitRoot ?? dir;
    const policyDir = posix(path.relative(root, dir)) || ".";
    const files = initFiles({ schemas: schemasFrom(dir), policyDir });
    const targets = [...files].map(([name, text]) => ({ name, text, file: name.startsWith(".github/") ? path.join(root, name) : path.join(dir, name) }));
    const shown = (f: string): string => posix(path.relative(ctx.cwd, f)) || ".";
    const taken = targets.filter((t) => existsSync(t.file));
    if (taken.length) {
      throw new InputError(
        `refusing to overwrite ${taken.length === 1 ? "an existing file" : `${taken.length} existing files`}: ${taken.map((t) => `\`${shown(t.file)}\``).join(", ")}`,
        "run it in an empty folder, or move these files away first; nothing was written",
      );
    }
    for (const t of targets) {
      await fs.mkdir(path.dirname(t.file), { recursive: true });
      // `wx`: a file that appeared since the check above is still not overwritten.
      await fs.writeFile(t.file, t.text, { flag: "wx" });
    }
    for (const t of targets) ctx.stdout(`  created ${shown(t.file)}\n`);
    const at = shown(dir);
    ctx.stdout(`\nA policy repository in ${at}. Next:\n  npx waypost check ${at}\n  npx waypost test ${at}\n  npx waypost demo ${at}\n`);
    return 0;
  },
};
