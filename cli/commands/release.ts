import * as path from "node:path";
import { formatProblem } from "../render/problem.js";
import { buildRevision, publishRelease } from "../../lifecycle/release.js";
import { oneOf, parseArgs } from "../args.js";
import { signingKeyFromFlags } from "../keys.js";
import { UsageError, type Command } from "../command.js";
import { renderText, summary } from "../render/diagnostics.js";

export const command: Command = {
  name: "release",
  summary: "build a commit into the artifact store and make it current",
  usage: `Usage: waypost release --store STORE [--repo DIR] [--rev REF] [--allow-dirty] [--sign KEY.pem [--sign-alg ALG] [--key-id ID]]

Builds REF (default HEAD) of the policy repository in DIR from the commit (not the working
directory) into STORE/bundles/<commit>.tar.gz, records it in STORE/index.json with its digest
and time, and makes it current. Runtimes watching the store switch to it on their next poll.
Releasing a revision that is already in the store makes it current again.

Uncommitted changes to policy files refuse a release of the checked-out commit: commit them,
or pass --allow-dirty to release the working tree (marked dirty in the manifest).
Every store update is atomic: a failed release leaves the store as it was.

Options:
  --store DIR       the artifact store (created if missing)
  --repo DIR        the policy repository (default: the current directory)
  --rev REF         the revision to release (default HEAD)
  --allow-dirty     release the working tree even with uncommitted policy changes
  --sign KEY.pem    sign the bundle (see \`waypost build --help\`)
  --format FORMAT   text (default) or json`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { store: "string", repo: "string", rev: "string", "allow-dirty": "boolean", sign: "string", "sign-alg": "string", "key-id": "string", format: "string" });
    if (positionals.length) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
    if (typeof flags["store"] !== "string") throw new UsageError("give the artifact store with `--store DIR`");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const signingKey = await signingKeyFromFlags(ctx.cwd, flags);
    const dir = path.resolve(ctx.cwd, (flags["repo"] as string | undefined) ?? ".");
    const rev = (flags["rev"] as string | undefined) ?? "HEAD";
    const b = await buildRevision(dir, rev, { allowDirty: flags["allow-dirty"] === true, ...(signingKey ? { signingKey } : {}) });
    if (!b.ok) return ctx.stderr(formatProblem(b.error)), 2;
    const r = b.value.result;
    if (!r.bundle) {
      const s = r.state;
      ctx.stderr(renderText(s.diagnostics, s.files, ctx.color));
      ctx.stderr(formatProblem({ code: "WP5006", message: `\`${rev}\` has policy errors (${summary(s.diagnostics, s.files.size).text}); nothing was released`, help: "fix them and commit" }));
      return 1;
    }
    const store = path.resolve(ctx.cwd, flags["store"]);
    const p = await publishRelease(store, { revision: r.revision!, bundle: r.bundle, commit: b.value.commit, dirty: b.value.dirty !== null });
    if (!p.ok) return ctx.stderr(formatProblem(p.error)), 2;
    const { release, added, previous } = p.value;
    if (format === "json") ctx.stdout(JSON.stringify({ ...release, added, previous, store }, null, 2) + "\n");
    else {
      ctx.stdout(`✔ released ${release.revision}${release.dirty ? " (dirty working tree)" : ""} → ${path.relative(ctx.cwd, store) || store}\n`);
      ctx.stdout(`  ${added ? "new bundle" : "already in the store"}, ${release.bytes} bytes, ${release.digest}\n`);
      ctx.stdout(`  commit ${b.value.commit.oid.slice(0, 12)} by ${b.value.commit.author.name}, ${b.value.commit.authorDate}: ${b.value.commit.message.split("\n")[0]}\n`);
      ctx.stdout(`  current: ${release.revision}${previous && previous !== release.revision ? ` (was ${previous})` : ""}\n`);
    }
    return 0;
  },
};
