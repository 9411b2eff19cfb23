import * as path from "node:path";
import { createColors } from "picocolors";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { canonicalJson, isJsonObject, type JsonValue } from "../../runtime/json.js";
import { createPseudonymiser, eraseFromLog, PSEUDONYM_PREFIX, unsealRequest, verifyLog, type KeyedLogEntry } from "../../runtime/log.js";
import { oneOf, parseArgs } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { formatProblem } from "../render/problem.js";
import { logKeyFromFlags, pseudonymKeyFromFlags, replayKeyFromFlags } from "../keys.js";

export const command: Command = {
  name: "log erase",
  summary: "honour an erasure request: strip one person's data from a decision log, keeping it verifiable",
  usage: `Usage: waypost log erase FILE --field NAME=VALUE --log-key KEY
                         (--pseudonym-key KEY | --replay-key KEY) [--dry-run] [--format text|json]

Finds every entry of the keyed decision log FILE whose request had VALUE in the context field
NAME (e.g. \`--field customer.id=C-200003\`) and erases it: its sealed (unmasked) request is
removed and every pseudonym in its logged request (and NAME itself) becomes "[erased]". The
entry keeps its decision, its sequence number and the digests its MAC covers, plus an erasure
record MAC'd under the log key, so \`waypost log verify\` still passes (and counts the erased
entries) and \`waypost replay\` skips them.

Entries are found by their pseudonym, recomputed from VALUE with the pseudonymisation key the
runtime used (--pseudonym-key), and, with --replay-key, by opening each sealed request. Entries
pseudonymised under another key (or a random one, when the runtime had none) can be found only
through their sealed requests.

The log is verified first (a log that does not verify is never rewritten), and rewritten
atomically (temp file, fsync, rename) while holding its writer's lock: erase a rotated log, or
stop the service that writes it.

Options:
  --field NAME=VALUE    the context field and the person's value in it
  --log-key FILE        the log key (or WAYPOST_LOG_KEY)
  --pseudonym-key FILE  the runtime's pseudonymisation key (or WAYPOST_PSEUDONYM_KEY)
  --replay-key FILE     the runtime's replay key (or WAYPOST_REPLAY_KEY): also match sealed requests
  --dry-run             report what would be erased; change nothing
  --format FORMAT       text (default) or json

Exit status: 0 done (also when nothing matched), 2 usage error, or a log that is locked,
unreadable, or does not verify.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, {
      field: "string",
      "log-key": "string",
      "pseudonym-key": "string",
      "replay-key": "string",
      "dry-run": "boolean",
      format: "string",
    });
    if (positionals.length !== 1) throw new UsageError("give exactly one log file");
    const format = oneOf("format", flags["format"], ["text", "json"] as const, "text");
    const file = positionals[0]!;
    const spec = flags["field"];
    if (typeof spec !== "string") throw new UsageError("give the field and value to erase with `--field NAME=VALUE`");
    const eq = spec.indexOf("=");
    if (eq <= 0) throw new UsageError(`\`--field ${spec}\` must be NAME=VALUE, e.g. \`--field customer.id=C-200003\``);
    const field = spec.slice(0, eq);
    const raw = spec.slice(eq + 1);
    const logKey = await logKeyFromFlags(ctx.cwd, flags, ctx.env);
    if (logKey === undefined) throw new UsageError("give the log key with `--log-key FILE` (or WAYPOST_LOG_KEY): erasures are MAC'd with it");
    const pseudonymKey = await pseudonymKeyFromFlags(ctx.cwd, flags, ctx.env);
    const replayKey = await replayKeyFromFlags(ctx.cwd, flags, ctx.env);
    if (pseudonymKey === undefined && replayKey === undefined) {
      throw new UsageError("give `--pseudonym-key FILE` (match pseudonyms) or `--replay-key FILE` (match sealed requests), or both");
    }

    // The value as typed, and as JSON when it reads as a number, boolean or other non-string.
    const values: JsonValue[] = [raw];
    try {
      const parsed = JSON.parse(raw) as JsonValue;
      if (typeof parsed !== "string") values.push(parsed);
    } catch {
      /* a plain string */
    }
    const texts = new Set(values.map((v) => canonicalJson(v)));
    const pseudonyms = pseudonymKey !== undefined ? createPseudonymiser(pseudonymKey) : null;
    const wanted = new Set(pseudonyms !== null ? values.map((v) => pseudonyms.pseudonym(v)) : []);
    const otherKeys = new Map<string, number>(); // pseudonym key id -> entries not matchable by pseudonym
    let sealedUnopened = 0;

    const match = (e: KeyedLogEntry): boolean => {
      const ctxValue = isJsonObject(e.request) && isJsonObject(e.request.context) ? e.request.context[field] : undefined;
      if (typeof ctxValue === "string" && wanted.has(ctxValue)) return true;
      if (ctxValue !== undefined && ctxValue !== null && texts.has(canonicalJson(ctxValue))) return true; // logged unmasked
      if (replayKey !== undefined && e.sealed !== undefined) {
        const opened = unsealRequest(e, replayKey);
        if (opened.ok) {
          const v = isJsonObject(opened.request) && isJsonObject(opened.request.context) ? opened.request.context[field] : undefined;
          if (v !== undefined && v !== null && texts.has(canonicalJson(v))) return true;
        } else sealedUnopened++;
      }
      if (typeof ctxValue === "string" && ctxValue.startsWith(PSEUDONYM_PREFIX)) {
        const kid = ctxValue.slice(PSEUDONYM_PREFIX.length).split(":")[0] ?? "";
        if (kid !== pseudonyms?.kid) otherKeys.set(kid, (otherKeys.get(kid) ?? 0) + 1);
      }
      return false;
    };

    const target = path.resolve(ctx.cwd, file);
    let result;
    let after;
    try {
      result = await eraseFromLog(target, { key: logKey, match, fields: [field], dryRun: flags["dry-run"] === true });
      after = await verifyLog(target, { key: logKey });
    } catch (e) {
      if (e instanceof WaypostRuntimeError) {
        const help =
          e.code === "WPL008"
            ? "a writer has the log open: erase a rotated log, or stop the service writing it"
            : e.code === "WPL011"
              ? "only keyed logs can be erased from; an unkeyed log's hash chain covers every request"
              : "run `waypost log verify` on it; a log that does not verify is never rewritten";
        ctx.stderr(formatProblem({ code: e.code, message: e.message, help }, "log erase"));
        return 2;
      }
      throw e;
    }
    const notes: string[] = [];
    for (const [kid, n] of otherKeys) {
      notes.push(`${n} entr${n === 1 ? "y holds" : "ies hold"} \`${field}\` pseudonymised under another key (${kid}): matched only through a sealed request (--replay-key)`);
    }
    if (sealedUnopened > 0) notes.push(`${sealedUnopened} sealed request${sealedUnopened === 1 ? "" : "s"} did not open with the replay key`);
    if (format === "json") {
      ctx.stdout(JSON.stringify({ ...result, dryRun: flags["dry-run"] === true, field, verifies: after.ok, notes }, null, 2) + "\n");
      return 0;
    }
    const c = createColors(ctx.color);
    const seqs = result.seqs.length > 0 ? ` (seq ${result.seqs.slice(0, 20).join(", ")}${result.seqs.length > 20 ? ", …" : ""})` : "";
    const verb = flags["dry-run"] === true ? "would erase" : "erased";
    ctx.stdout(`${c.green("✔")} ${file}: ${verb} ${result.erased} of ${result.entries} entries${seqs}; ${result.alreadyErased} erased before\n`);
    if (flags["dry-run"] !== true) ctx.stdout(`  the log ${after.ok ? "still verifies" : c.red("no longer verifies")} under log key ${after.kid ?? "?"}\n`);
    for (const n of notes) ctx.stdout(`  ${c.dim("note:")} ${n}\n`);
    return after.ok ? 0 : 2;
  },
};
