import { promises as fs } from "node:fs";
import * as path from "node:path";
import { formatPolicyYaml } from "../../lifecycle/fmt.js";
import { parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { writeFileAtomic } from "../fs.js";
import { displayPrefix } from "../paths.js";
import { resolveDir } from "../util.js";

/** The folders fmt formats: the compiler's (policies/, journeys/) and the tests'. */
const FMT_DIRS = ["policies", "journeys", "tests"];

async function yamlFiles(dir: string, rel: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) await yamlFiles(dir, r, out);
    else if (e.isFile() && /\.ya?ml$/.test(e.name)) out.push(r);
  }
}

export const command: Command = {
  name: "fmt",
  summary: "format policy, journey and test YAML in the canonical layout (--check for CI)",
  usage: `Usage: waypost fmt [DIR] [--check]

Rewrites every YAML file under policies/, journeys/ and tests/ of DIR (default: the current
directory) in the canonical layout: keys in the order of their kind's JSON Schema, 2-space
indentation, conditions spaced as the condition printer writes them (\`a == 1 and b\`), flow
maps padded (\`{ a: 1 }\`), flow lists not (\`[a, b]\`). Comments are kept. A file that is
not valid YAML, or not of a known kind, is left as it is.

Options:
  --check   change nothing; list the files that are not formatted and exit 1 if any

Exit status: 0 formatted (or, with --check, nothing to change), 1 --check found files to
format, 2 usage error or a file that is not valid YAML.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { check: "boolean" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const prefix = await displayPrefix(dir, undefined, ctx.cwd);
    const files: string[] = [];
    for (const d of FMT_DIRS) await yamlFiles(dir, d, files);
    const check = flags["check"] === true;
    let changed = 0;
    let broken = 0;
    for (const rel of files) {
      const text = await fs.readFile(path.join(dir, rel), "utf8");
      const r = formatPolicyYaml(text);
      if (!r.ok) {
        broken++;
        ctx.stderr(`waypost fmt: error: \`${prefix}${rel}\` is not valid YAML (${r.error}); left as it is\n`);
        continue;
      }
      if (!r.changed) continue;
      changed++;
      if (check) ctx.stdout(`${prefix}${rel}\n`);
      else {
        await writeFileAtomic(path.join(dir, rel), r.text);
        ctx.stdout(`formatted ${prefix}${rel}\n`);
      }
    }
    const n = (k: number): string => `${k} file${k === 1 ? "" : "s"}`;
    if (check) ctx.stderr(changed ? `${n(changed)} of ${files.length} not formatted; run \`waypost fmt\`\n` : `${n(files.length)} formatted\n`);
    else ctx.stderr(`${n(changed)} reformatted, ${n(files.length - changed - broken)} already formatted\n`);
    if (broken) return 2;
    return check && changed ? 1 : 0;
  },
};
