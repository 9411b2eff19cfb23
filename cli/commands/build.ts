import * as path from "node:path";
import { build } from "../../compiler/build.js";
import { listSize } from "../../compiler/ir/compact-list.js";
import { formatProblem } from "../render/problem.js";
import { buildRevision } from "../../lifecycle/release.js";
import { FsHost } from "../../compiler/source.js";
import { oneOf, parseArgs } from "../args.js";
import { signingKeyFromFlags } from "../keys.js";
import { UsageError, type Command } from "../command.js";
import { renderText, summary } from "../render/diagnostics.js";
import { failureExit, resolveDir } from "../util.js";
import { writeFileAtomic } from "../fs.js";

export const command: Command = {
  name: "build",
  summary: "compile policies into an OPA bundle (policy.wasm, data.json, .manifest)",
  usage: `Usage: waypost build [DIR] [--out OUTDIR] [--revision REV | --rev REF [--allow-dirty]] [--sign KEY.pem [--sign-alg ALG] [--key-id ID]]

Checks and compiles the policy repository in DIR into OUTDIR/bundle.tar.gz (default OUTDIR:
DIR/out): an OPA bundle whose policy.wasm follows the OPA Wasm ABI 1.3, with entrypoints
waypost/decide (0), waypost/suppressed (1) and waypost/consent (2). The same sources always
give the same bytes.

Options:
  --out DIR          where to write bundle.tar.gz (created if missing)
  --revision REV     the manifest revision (default: sha256-<digest of the sources>)
  --rev REF          build the commit REF of the Git repository holding DIR (a branch, tag,
                     commit id, HEAD~1...), read from Git, not the working directory; the
                     revision is the commit id and the manifest records the commit, its author
                     date and the source digest: the same commit gives the same bytes anywhere
  --allow-dirty      with --rev naming the checked-out commit: build the working tree even
                     though policy files have uncommitted changes (refused otherwise), marked
                     dirty in the manifest
  --sign KEY.pem     sign the bundle (.signatures.json, as \`opa sign\`) with this private key
                     (PEM or JWK; a public key is refused)
  --sign-alg ALG     default: from the key's type (RSA RS256, EC P-256 ES256, P-384 ES384,
                     P-521 ES512, Ed25519 EdDSA); PS256..., or HS256/384/512 for a file
                     holding a shared HMAC secret (only when given explicitly)
  --key-id ID        the key id written in the signature
  --print-ir         print the compiled decision plan (IR) instead of building
  --timings          print how long each stage took
  --format FORMAT    text (default) or json (a build report)`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, {
      out: "string", revision: "string", sign: "string", "sign-alg": "string", "key-id": "string",
      "print-ir": "boolean", timings: "boolean", format: "string", rev: "string", "allow-dirty": "boolean",
    });
    if (typeof flags["rev"] === "string" && typeof flags["revision"] === "string") throw new UsageError("give `--rev` or `--revision`, not both: `--rev` names the revision after the commit");
    if (flags["allow-dirty"] && typeof flags["rev"] !== "string") throw new UsageError("`--allow-dirty` goes with `--rev`");
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const out = path.resolve(ctx.cwd, (flags["out"] as string | undefined) ?? path.join(dir, "out"));
    const signingKey = await signingKeyFromFlags(ctx.cwd, flags);
    let r;
    if (typeof flags["rev"] === "string") {
      const g = await buildRevision(dir, flags["rev"], { allowDirty: flags["allow-dirty"] === true, ...(signingKey ? { signingKey } : {}) });
      if (!g.ok) {
        ctx.stderr(formatProblem(g.error));
        return 2;
      }
      r = g.value.result;
      if (g.value.dirty) ctx.stderr(`warning: building the working tree with ${g.value.dirty.length} uncommitted policy file(s); the manifest marks it dirty\n`);
    } else {
      r = await build(new FsHost(dir), {
        ...(typeof flags["revision"] === "string" ? { revision: flags["revision"] } : {}),
        ...(signingKey ? { signingKey } : {}),
      });
    }
    const s = r.state;
    const sum = summary(s.diagnostics, s.files.size);
    if (!r.bundle) {
      if (format === "json") ctx.stdout(JSON.stringify({ ok: false, errors: sum.errors, warnings: sum.warnings }) + "\n");
      ctx.stderr(renderText(s.diagnostics, s.files, ctx.color));
      ctx.stderr(`✖ build failed: ${sum.text}\n`);
      return failureExit(s.diagnostics);
    }
    if (flags["print-ir"]) {
      const { printIR } = await import("../../compiler/ir/print.js");
      ctx.stdout(printIR(s.ir!) + "\n");
      return 0;
    }
    if (s.diagnostics.length) ctx.stderr(renderText(s.diagnostics, s.files, ctx.color));
    const file = path.join(out, "bundle.tar.gz");
    await writeFileAtomic(file, r.bundle);
    const plan = s.ir!.plan;
    const report = {
      ok: true, bundle: file, revision: r.revision, bytes: r.bundle.length, wasm_bytes: r.wasm!.length,
      source_digest: `sha256:${r.digest}`, nodes: plan.nodes.length, conditions: s.ir!.conds.length,
      lists: Object.fromEntries(Object.entries(r.data!.waypost.lists).map(([k, v]) => [k, listSize(v)])),
      timings_ms: Object.fromEntries(r.timings.map((t) => [t.stage, Number(t.ms.toFixed(1))])),
    };
    if (format === "json") ctx.stdout(JSON.stringify(report, null, 2) + "\n");
    else {
      ctx.stdout(`✔ built ${path.relative(ctx.cwd, file) || file} (${report.bytes} bytes, policy.wasm ${report.wasm_bytes} bytes)\n`);
      ctx.stdout(`  revision ${r.revision}\n  ${report.nodes} journey nodes, ${report.conditions} compiled conditions, ${Object.keys(report.lists).length} lists\n`);
      ctx.stdout(`  entrypoints waypost/decide, waypost/suppressed, waypost/consent\n`);
      if (signingKey) ctx.stdout(`  signed with ${signingKey.alg}\n`);
    }
    if (flags["timings"]) for (const t of r.timings) ctx.stderr(`${t.stage.padEnd(10)} ${t.ms.toFixed(1)} ms\n`);
    return 0;
  },
};
