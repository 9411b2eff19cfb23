import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createColors } from "picocolors";
import { loadBundle, type Engine } from "../../runtime/engine.js";
import { describeThrown, WaypostRuntimeError } from "../../runtime/errors.js";
import { RUNTIME_ERROR_REASON, type Decision } from "../../runtime/types.js";
import { oneOf, parseArgs } from "../args.js";
import { logKeyFromFlags, pseudonymKeyFromFlags, replayKeyFromFlags, VERIFY_FLAGS, VERIFY_USAGE, verifyOptionsFromFlags } from "../keys.js";
import { UsageError, type Command, type CommandContext } from "../command.js";
import { formatProblem } from "../render/problem.js";

export const command: Command = {
  name: "decide",
  summary: "ask a bundle for one decision and show why",
  usage: `Usage: waypost decide --bundle BUNDLE --request REQUEST.json [--format text|json]
                      (--public-key KEY [--alg ALG] [--key-id ID] [--scope S] | --skip-verify)
                      [--log FILE (--log-key KEY | --unkeyed-log) [--replay-key KEY]] [--pseudonym-key KEY]

Loads BUNDLE (a bundle.tar.gz built by \`waypost build\`), evaluates the decision request in
REQUEST.json through the OPA Wasm SDK, exactly as the runtime embedded in a service does, and
prints the outcome, node, channel, template, variant, send time and every reason with the
policy and source location that produced it.

Options:
  --bundle FILE      the bundle to load
  --request FILE     the decision request (JSON: system, event, now, context, history)
  --format FORMAT    text (default) or json (the decision object)
${VERIFY_USAGE}
  --log FILE         append the decision to this decision log (JSON Lines; the log is verified
                     first and never appended to when it does not verify)
  --log-key FILE     the log key that MACs every entry (or WAYPOST_LOG_KEY); required with
                     --log unless --unkeyed-log
  --unkeyed-log      write a plain hash chain instead: anyone who edits the log can recompute it
  --replay-key FILE  seal the unmasked request into the log entry for exact replay (or
                     WAYPOST_REPLAY_KEY)
  --pseudonym-key FILE  key the pseudonyms of \`mask: hash\` fields in the log and the decision id
                     (or WAYPOST_PSEUDONYM_KEY); without it a random key is used for this run
  Keys are 32 bytes written as 64 hex digits (e.g. \`openssl rand -hex 32 > log.key\`); use a
  different key for each purpose.

Exit status: 0 a decision was made (whatever its outcome), 1 the runtime failed closed
(runtime-error), 2 usage or input error (unreadable request, refused bundle, damaged log).`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, {
      bundle: "string",
      request: "string",
      format: "string",
      ...VERIFY_FLAGS,
      log: "string",
      "replay-key": "string",
      "log-key": "string",
      "unkeyed-log": "boolean",
      "pseudonym-key": "string",
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument \`${positionals[0]}\``);
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const bundleArg = flags["bundle"];
    const requestArg = flags["request"];
    if (typeof bundleArg !== "string") throw new UsageError("`--bundle` is required");
    if (typeof requestArg !== "string") throw new UsageError("`--request` is required");
    const verify = (await verifyOptionsFromFlags(ctx.cwd, flags, true))!;
    const fail = (message: string, help?: string): number => {
      ctx.stderr(`waypost decide: error: ${message}\n${help ? `  help: ${help}\n` : ""}`);
      return 2;
    };

    const requestPath = path.resolve(ctx.cwd, requestArg);
    let request: unknown;
    try {
      request = JSON.parse(await fs.readFile(requestPath, "utf8"));
    } catch (e) {
      const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
      if (code === "ENOENT") return fail(`request file \`${requestArg}\` does not exist`);
      if (e instanceof SyntaxError) return fail(`request file \`${requestArg}\` is not valid JSON: ${e.message}`);
      return fail(`cannot read request file \`${requestArg}\`: ${describeThrown(e)}`);
    }

    const replayKey = await replayKeyFromFlags(ctx.cwd, flags, ctx.env);
    const logKey = await logKeyFromFlags(ctx.cwd, flags, ctx.env);
    const pseudonymKey = await pseudonymKeyFromFlags(ctx.cwd, flags, ctx.env);
    const unkeyedLog = flags["unkeyed-log"] === true;
    if (typeof flags["log"] === "string") {
      if (unkeyedLog && typeof flags["log-key"] === "string") throw new UsageError("give `--log-key KEY` or `--unkeyed-log`, not both");
      if (!unkeyedLog && logKey === undefined) {
        throw new UsageError("`--log` needs the log key: `--log-key FILE` (or WAYPOST_LOG_KEY), or `--unkeyed-log` for a log nobody can prove unedited");
      }
    } else if (unkeyedLog || typeof flags["log-key"] === "string") throw new UsageError("`--log-key` and `--unkeyed-log` need `--log FILE`");
    let engine: Engine;
    try {
      engine = await loadBundle(path.resolve(ctx.cwd, bundleArg), {
        ...verify,
        ...(typeof flags["log"] === "string" ? { log: path.resolve(ctx.cwd, flags["log"]) } : {}),
        ...(replayKey ? { replayKey } : {}),
        ...(typeof flags["log"] === "string" ? (unkeyedLog ? { unkeyedLog: true } : { logKey: logKey! }) : {}),
        ...(pseudonymKey ? { pseudonymKey } : {}),
      });
    } catch (e) {
      if (e instanceof WaypostRuntimeError) {
        const help =
          e.code === "WPL008"
            ? "one writer per log: wait for the other writer to finish, or use another log file"
            : e.code === "WPL009" || e.code === "WPL011"
              ? "give the log key this log was written with (`--log-key`), a key of its own for each purpose, or start a new log file"
              : e.code.startsWith("WPL")
                ? "run `waypost log verify` on the log; the runtime never appends to a log that does not verify"
                : e.code === "WPR010" || e.code === "WPR011" || e.code === "WPR012" || e.code === "WPR013"
                  ? "the bundle is not the one its signer produced, or the key, `--alg` or `--key-id` is not the signer's"
                  : undefined;
        ctx.stderr(formatProblem({ code: e.code, message: e.message, ...(help ? { help } : {}) }, "decide"));
        return 2;
      }
      throw e;
    }
    let decision: Decision;
    try {
      decision = await engine.decideDurable(request);
    } finally {
      await engine.close();
    }
    if (format === "json") ctx.stdout(JSON.stringify(decision, null, 2) + "\n");
    else ctx.stdout(renderDecision(decision, ctx));
    if (engine.log !== null && engine.log.error === null) {
      const keyed = engine.log.kid !== null ? `MAC'd under log key ${engine.log.kid}` : "unkeyed";
      ctx.stderr(`logged as seq ${engine.log.lastSeq} in ${flags["log"] as string} (${keyed}, head ${engine.log.head.slice(0, 16)}…)\n`);
    }
    return decision.reasons.some((r) => r.code === RUNTIME_ERROR_REASON) ? 1 : 0;
  },
};

/** Readable rendering: the outcome and its action first, then each reason with its source. */
export function renderDecision(d: Decision, ctx: Pick<CommandContext, "color">): string {
  const c = createColors(ctx.color);
  const outcomeColor =
    d.outcome === "send" ? c.green : d.outcome === "defer" || d.outcome === "review" || d.outcome === "holdout" ? c.yellow : c.red;
  const none = c.dim("-");
  const row = (label: string, value: string | null) => `${c.dim(label.padEnd(10))}${value ?? none}\n`;
  let out = "";
  out += row("outcome", c.bold(outcomeColor(d.outcome)));
  out += row("node", d.node);
  out += row("channel", d.channel);
  out += row("template", d.template);
  if (d.offer !== null) out += row("offer", d.offer);
  out += row("variant", d.variant);
  out += row("send at", d.send_at);
  out += row("revision", d.revision);
  out += row("verified", d.verified ? "yes (signature checked)" : c.yellow("no (loaded with --skip-verify)"));
  out += row("decision", d.decision_id);
  if (d.explanation !== null) out += `\n${c.dim("explanation")}\n  ${d.explanation}\n`;
  out += `\n${c.bold(`reasons (${d.reasons.length})`)}\n`;
  d.reasons.forEach((r, i) => {
    const channel = r.channel !== undefined ? ` ${c.dim("channel")} ${r.channel}` : "";
    out += `  ${String(i + 1).padStart(2)}. ${c.bold(r.code)}  ${c.cyan(r.policy)}${channel}\n`;
    out += `      ${r.message}\n`;
    if (r.detail !== undefined) out += `      ${c.dim("detail")} ${r.detail}\n`;
    out += `      ${c.dim("at")} ${r.source}\n`;
  });
  return out;
}
