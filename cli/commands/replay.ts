import * as path from "node:path";
import { openBundleSide } from "../../lifecycle/diff/index.js";
import { impactSummary } from "../../lifecycle/diff/render.js";
import { readDecisionLog, replay } from "../../lifecycle/diff/replay.js";
import { formatProblem } from "../render/problem.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { logKeyFromFlags, pseudonymKeyFromFlags, replayKeyFromFlags, VERIFY_FLAGS, VERIFY_USAGE, verifyOptionsFromFlags } from "../keys.js";

export const command: Command = {
  name: "replay",
  summary: "re-evaluate logged decisions against a candidate bundle and report what would change",
  usage: `Usage: waypost replay --log DECISIONS.jsonl --bundle CANDIDATE.tar.gz [--baseline BUNDLE] [--format text|json]
                      (--public-key KEY [--alg ALG] [--key-id ID] [--scope S] | --skip-verify)
                      [--log-key KEY] [--replay-key KEY | --pseudonym-key KEY]

Reads a decision log written by the runtime and decides every logged request again with the
candidate bundle. Decisions whose outcome, node or channel would change are grouped by
(old → new outcome, node, channel), widening changes (anything that newly sends) first.

The log is verified first: with its log key (--log-key FILE, or WAYPOST_LOG_KEY) every MAC, and
its end against its head file. A log that does not verify is refused (exit 2); without the key
only its structure is checked, and a note says so. Erased entries are skipped, with a note.

With the replay key the runtime logged with (--replay-key FILE, or WAYPOST_REPLAY_KEY), every
entry's sealed copy of the unmasked request is opened and replayed exactly. Without it the
logged requests have masked context fields (pseudonymised or redacted): each is replayed as logged on
the bundle that decided it (--baseline, or the candidate itself when the revisions match) and on
the candidate, so masking cannot pass for a policy change; entries where masking changed the
replayed decision are counted as approximate.

Options:
  --log FILE        the decision log (JSON Lines)
  --bundle FILE     the candidate bundle
  --baseline FILE   the bundle that made the logged decisions (matched by revision)
  --log-key FILE    the log key (64 hex digits): verify every entry's MAC before replaying
  --replay-key FILE the log's replay key (64 hex digits): replay the sealed, unmasked requests
  --pseudonym-key FILE  without --replay-key: the runtime's pseudonymisation key, so masked ids
                    are still found on the suppression lists (or WAYPOST_PSEUDONYM_KEY)
${VERIFY_USAGE}
                     (the key verifies both the candidate and the baseline)
  --format FORMAT   text (default) or json
  --fail-on-widening  exit 1 when a decision would newly send

Exit status: 0 reported, 1 widening with --fail-on-widening, 2 bad input.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, { log: "string", bundle: "string", baseline: "string", format: "string", "fail-on-widening": "boolean", "replay-key": "string", "log-key": "string", "pseudonym-key": "string", ...VERIFY_FLAGS });
    if (positionals.length) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
    if (typeof flags["log"] !== "string") throw new UsageError("give the decision log with `--log FILE`");
    if (typeof flags["bundle"] !== "string") throw new UsageError("give the candidate bundle with `--bundle FILE`");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const verify = (await verifyOptionsFromFlags(ctx.cwd, flags, true))!;
    const key = await replayKeyFromFlags(ctx.cwd, flags, ctx.env);
    const logKey = await logKeyFromFlags(ctx.cwd, flags, ctx.env);
    const pseudonymKey = await pseudonymKeyFromFlags(ctx.cwd, flags, ctx.env);
    const log = await readDecisionLog(path.resolve(ctx.cwd, flags["log"]), key, logKey !== undefined ? { logKey } : {});
    if (!log.ok) return ctx.stderr(formatProblem(log.error)), 2;
    for (const note of log.value.verification.notes) ctx.stderr(`note: ${note}\n`);
    // Masked requests need the bundles' list keys masked the way the log masks ids.
    const maskedRequests = key === undefined;
    const sideOpts = { maskedRequests, verify, ...(pseudonymKey !== undefined ? { pseudonymKey } : {}) };
    const candidate = await openBundleSide(path.resolve(ctx.cwd, flags["bundle"]), flags["bundle"], sideOpts);
    if (!candidate.ok) return ctx.stderr(formatProblem(candidate.error)), 2;
    let baseline = null;
    if (typeof flags["baseline"] === "string") {
      const b = await openBundleSide(path.resolve(ctx.cwd, flags["baseline"]), flags["baseline"], sideOpts);
      if (!b.ok) return ctx.stderr(formatProblem(b.error)), 2;
      baseline = b.value;
    }
    const v = log.value.verification;
    const r = {
      ...replay(flags["log"], log.value.entries, candidate.value, baseline),
      erased: log.value.erased,
      log_integrity: { proven: v.proven, integrity: v.integrity, kid: v.kid, tail: v.tail },
    };
    if (format === "json") ctx.stdout(JSON.stringify(r, null, 2) + "\n");
    else {
      if (r.erased > 0) ctx.stdout(`note: ${r.erased} erased entr${r.erased === 1 ? "y" : "ies"} skipped (their requests were removed on an erasure request)\n`);
      ctx.stdout(`replay ${r.log} (${r.entries} entries; revisions ${Object.entries(r.revisions).map(([k, n]) => `${k.slice(0, 12)}×${n}`).join(", ")}) against ${r.candidate}\n`);
      ctx.stdout(`  ${key ? "requests unsealed with the replay key; " : ""}${r.exact} exact, ${r.approximate} approximate (masked fields changed the replayed decision), ${r.against_log} compared with the logged decision\n`);
      ctx.stdout(`  ${impactSummary(r.impact)}\n`);
      if (r.impact.flipped === 0) ctx.stdout("  no decision would change\n");
      for (const g of r.impact.groups) {
        ctx.stdout(`  ${g.widening ? "⚠ widening " : ""}${g.from} → ${g.to} · node ${g.node ?? "none"} · channel ${g.channel ?? "none"}: ${g.count}\n`);
        ctx.stdout(`      e.g. ${g.example.label}: ${JSON.stringify(g.example.request)}\n`);
      }
    }
    return flags["fail-on-widening"] && r.impact.widening > 0 ? 1 : 0;
  },
};
