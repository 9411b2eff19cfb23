import { promises as fs } from "node:fs";
import * as path from "node:path";
import pc from "picocolors";
import { build } from "../../compiler/build.js";
import { FsHost } from "../../compiler/source.js";
import { loadBundle } from "../../runtime/index.js";
import { parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { compareExpected, readExamples } from "../examples.js";
import { writeFileAtomic } from "../fs.js";
import { logKeyFromFlags, pseudonymKeyFromFlags, replayKeyFromFlags } from "../keys.js";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { renderText, summary } from "../render/diagnostics.js";
import { failureExit, resolveDir } from "../util.js";

export const command: Command = {
  name: "demo",
  summary: "build the repository's bundle and show decisions for its requests/ (npm start)",
  usage: `Usage: waypost demo [DIR] [--out OUTDIR] [--verbose]

Checks and builds the policy repository in DIR (default: current directory) into
OUTDIR/bundle.tar.gz (default DIR/out), signed with a fresh Ed25519 key whose public half is
written to OUTDIR/bundle.pub, loads it in the runtime (verifying that signature), decides every request in
DIR/requests/*.json, prints each decision with its reasons next to the decision
expected in NAME.expected.json, and writes the decision log to OUTDIR/decisions.jsonl with
every request sealed under OUTDIR/replay.key (or WAYPOST_REPLAY_KEY) for exact replay, every
entry MAC'd under OUTDIR/log.key (or WAYPOST_LOG_KEY; check it with \`waypost log verify
OUTDIR/decisions.jsonl --log-key OUTDIR/log.key\`) and masked fields pseudonymised under
OUTDIR/pseudonym.key (or WAYPOST_PSEUDONYM_KEY). The demo keeps the keys beside the log; a
service keeps them apart from it.

Exit status: 0 when every decision is as expected, 1 otherwise.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { out: "string", verbose: "boolean" });
    if (positionals.length > 1) throw new UsageError("give at most one directory");
    const dir = await resolveDir(ctx.cwd, positionals[0]);
    const out = path.resolve(ctx.cwd, (flags["out"] as string | undefined) ?? path.join(dir, "out"));
    const c = pc.createColors(ctx.color);
    const t0 = performance.now();
    // Signed with a key made for this run and verified on load, so the demo takes the path a
    // service should take (decisions record `verified: true`) rather than skipping verification.
    // Only the public half is kept: `waypost decide --public-key out/bundle.pub --alg EdDSA`.
    const signer = generateKeyPairSync("ed25519");
    const r = await build(new FsHost(dir), { signingKey: { key: signer.privateKey, alg: "EdDSA" } });
    const s = r.state;
    if (!r.bundle) {
      ctx.stdout(renderText(s.diagnostics, s.files, ctx.color));
      ctx.stdout(`✖ ${summary(s.diagnostics, s.files.size).text}: fix these before a bundle can be built\n`);
      return failureExit(s.diagnostics);
    }
    const bundlePath = path.join(out, "bundle.tar.gz");
    await writeFileAtomic(bundlePath, r.bundle);
    const publicKeyPem = signer.publicKey.export({ type: "spki", format: "pem" }).toString();
    await writeFileAtomic(path.join(out, "bundle.pub"), publicKeyPem);
    ctx.stdout(`${c.bold("waypost check")}  ${summary(s.diagnostics, s.files.size).text}\n`);
    ctx.stdout(`${c.bold("waypost build")}  ${path.relative(ctx.cwd, bundlePath) || bundlePath}: ${r.bundle.length} bytes, revision ${r.revision}, ${s.ir!.plan.nodes.length} journey nodes (${(performance.now() - t0).toFixed(0)} ms)\n\n`);

    // Read before the log is opened: a broken example file must not leave a log behind.
    const examples = await readExamples(path.join(dir, "requests"));
    const logPath = path.join(out, "decisions.jsonl");
    // A fresh log per demo run (with its head file: a head left behind would say the new log was cut).
    for (const f of [logPath, `${logPath}.head`]) await fs.rm(f, { force: true });
    // One key per purpose, each from the environment or made for this run and written beside the
    // log: seal every request for exact replay (`waypost replay --replay-key out/replay.key`),
    // MAC every entry (`waypost log verify --log-key out/log.key`), pseudonymise masked fields.
    const keyFile = async (name: string, given: Uint8Array | undefined): Promise<Uint8Array> => {
      const key = given ?? randomBytes(32);
      await fs.writeFile(path.join(out, name), Buffer.from(key).toString("hex") + "\n", { mode: 0o600 });
      return key;
    };
    const keyPath = path.join(out, "replay.key");
    const replayKey = await keyFile("replay.key", await replayKeyFromFlags(ctx.cwd, {}, ctx.env));
    const logKey = await keyFile("log.key", await logKeyFromFlags(ctx.cwd, {}, ctx.env));
    const pseudonymKey = await keyFile("pseudonym.key", await pseudonymKeyFromFlags(ctx.cwd, {}, ctx.env));
    const engine = await loadBundle(r.bundle, { publicKey: { key: publicKeyPem, alg: "EdDSA" }, log: logPath, replayKey, logKey, pseudonymKey });
    let ok = 0;
    let bad = 0;
    for (const ex of examples) {
      const d = await engine.decideDurable(ex.request);
      const diffs = ex.expected ? compareExpected(d, ex.expected) : ["no NAME.expected.json beside the request"];
      const mark = diffs.length === 0 ? c.green("✔") : c.red("✖");
      diffs.length === 0 ? ok++ : bad++;
      const outcome = d.outcome === "send" ? c.green(d.outcome) : d.outcome === "defer" || d.outcome === "review" || d.outcome === "holdout" ? c.yellow(d.outcome) : c.red(d.outcome);
      ctx.stdout(`${mark} ${c.bold(ex.name)}  ${c.dim(ex.expected?.description ?? "")}\n`);
      const what = [d.node, d.channel && `via ${d.channel}`, d.template && `template ${d.template}`, d.variant && `variant ${d.variant}`, d.send_at && `at ${d.send_at}`].filter(Boolean).join(", ");
      ctx.stdout(`    ${outcome}${what ? ` ${what}` : ""}\n`);
      const shown = flags["verbose"] ? d.reasons : d.reasons.filter((x) => x.code !== "trigger-matched" && x.code !== "eligible" && x.code !== "lawful-basis");
      for (const reason of shown) {
        const detail = (reason as { detail?: string }).detail;
        ctx.stdout(`    ${c.dim("·")} ${reason.code}${reason.channel ? ` (${reason.channel})` : ""}${detail ? ` \`${detail}\`` : ""}: ${reason.message} ${c.dim(`[${reason.source}]`)}\n`);
      }
      if (d.explanation && d.outcome !== "holdout") ctx.stdout(`    ${c.dim("customer sees:")} ${d.explanation}\n`);
      for (const diff of diffs) ctx.stdout(`    ${c.red(diff)}\n`);
      ctx.stdout("\n");
    }
    await engine.close();
    ctx.stdout(`${bad === 0 ? c.green("✔") : c.red("✖")} ${examples.length} decisions, ${ok} as expected${bad ? `, ${bad} not` : ""}; decision log ${path.relative(ctx.cwd, logPath) || logPath} (replay key ${path.relative(ctx.cwd, keyPath) || keyPath}, log key ${path.relative(ctx.cwd, path.join(out, "log.key"))})\n`);
    return bad === 0 && examples.length > 0 ? 0 : 1;
  },
};
