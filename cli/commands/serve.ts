import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { parseArgs } from "../args.js";
import { VERIFY_FLAGS, VERIFY_USAGE, verifyOptionsFromFlags } from "../keys.js";
import { InputError, UsageError, type Command } from "../command.js";
import { VERSION } from "../util.js";
import type { VerificationKey } from "../../runtime/keys.js";
import { ConfigError, parseConfig, type ServeConfig } from "../../lifecycle/serve/config.js";
import { parseAddr, serve } from "../../lifecycle/serve/index.js";

export const command: Command = {
  name: "serve",
  summary: "run a decision server speaking OPA's REST Data API",
  usage: `Usage: waypost serve --config FILE [--addr HOST:PORT]
       waypost serve BUNDLE (--public-key KEY [--alg ALG] [--key-id ID] [--scope S] | --skip-verify)
                     [--log FILE (--log-key KEY | --unkeyed-log)] [--pseudonym-key KEY]
                     [--workers N] [--addr HOST:PORT]

Serves decisions over HTTP the way OPA does, so OPA clients, bundle servers and decision-log
collectors work unchanged:
  POST /v1/data/waypost/decide  {"input": REQUEST} -> {"result": DECISION, "decision_id": ID}
  POST /v1/data/waypost/suppressed, /v1/data/waypost/consent (and GET with ?input=JSON)
  GET  /health (200 once a bundle is active; ?bundles, ?plugins), GET /metrics (Prometheus)
A decision is answered only after its decision log entry is on disk. One worker per core.

--config FILE is OPA's configuration format (YAML or JSON): services, bundles (polling
min/max delay, ETag, signing.keyid), keys (algorithm, key), decision_logs (service, resource,
reporting), labels; plus a \`waypost\` section: log, log_key_file, pseudonym_key_file,
unkeyed_log, skip_verify, workers, decision_budget, bundle_file.

Options:
  --config FILE      the configuration file
  --addr HOST:PORT   where to listen (default localhost:8181, as OPA; port 0 picks one)
  --workers N        worker processes (default: one per core)
${VERIFY_USAGE}
  --log FILE         the local decision log (JSON Lines, MAC chain)
  --log-key FILE     the log key (or WAYPOST_LOG_KEY); required with --log unless --unkeyed-log
  --unkeyed-log      write a plain hash chain instead
  --pseudonym-key FILE  key of the pseudonyms of \`mask: hash\` fields (or WAYPOST_PSEUDONYM_KEY)

Stops on SIGTERM or SIGINT: stops accepting, finishes requests in flight, flushes the log and
uploads what is left. Exit status: 0 after a clean shutdown, 2 bad configuration or bundle.`,
  async run(ctx) {
    const { flags, positionals } = parseArgs(ctx.argv, {
      config: "string",
      addr: "string",
      workers: "number",
      ...VERIFY_FLAGS,
      log: "string",
      "log-key": "string",
      "unkeyed-log": "boolean",
      "pseudonym-key": "string",
    });
    const addr = typeof flags["addr"] === "string" ? flags["addr"] : "localhost:8181";
    try {
      parseAddr(addr);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    let cfg: ServeConfig;
    try {
      if (typeof flags["config"] === "string") {
        if (positionals.length > 0) throw new UsageError("give --config FILE or a BUNDLE, not both");
        for (const f of ["public-key", "skip-verify", "log", "log-key", "unkeyed-log", "pseudonym-key"]) {
          if (flags[f] !== undefined) throw new UsageError(`\`--${f}\` goes into the configuration file with --config`);
        }
        const file = path.resolve(ctx.cwd, flags["config"]);
        let text: string;
        try {
          text = await readFile(file, "utf8");
        } catch (e) {
          throw new InputError(`cannot read ${flags["config"]}: ${(e as Error).message}`);
        }
        cfg = parseConfig(text, file);
      } else {
        if (positionals.length !== 1) throw new UsageError("give --config FILE or one BUNDLE");
        const verify = (await verifyOptionsFromFlags(ctx.cwd, flags, true))!;
        const log = typeof flags["log"] === "string" ? path.resolve(ctx.cwd, flags["log"]) : null;
        const unkeyed = flags["unkeyed-log"] === true;
        if (log === null && (unkeyed || flags["log-key"] !== undefined)) throw new UsageError("`--log-key` and `--unkeyed-log` need `--log FILE`");
        if (log !== null && !unkeyed && flags["log-key"] === undefined && ctx.env["WAYPOST_LOG_KEY"] === undefined) {
          throw new UsageError("`--log` needs the log key: `--log-key FILE` (or WAYPOST_LOG_KEY), or `--unkeyed-log`");
        }
        cfg = {
          bundle: { name: "waypost", file: path.resolve(ctx.cwd, positionals[0]!), ...(verify.publicKey ? { publicKey: verify.publicKey as VerificationKey } : {}) },
          skipVerify: verify.skipVerify === true,
          decisionLogs: null,
          labels: {},
          log,
          logKeyFile: typeof flags["log-key"] === "string" ? path.resolve(ctx.cwd, flags["log-key"]) : null,
          pseudonymKeyFile: typeof flags["pseudonym-key"] === "string" ? path.resolve(ctx.cwd, flags["pseudonym-key"]) : null,
          unkeyedLog: unkeyed,
          workers: 0,
        };
      }
    } catch (e) {
      if (e instanceof ConfigError) throw new InputError(`configuration: ${e.message}`, e.help);
      throw e;
    }
    if (typeof flags["workers"] === "number") {
      if (!Number.isInteger(flags["workers"]) || flags["workers"] < 1) throw new UsageError("`--workers` must be a whole number >= 1");
      cfg.workers = flags["workers"];
    }
    return serve(cfg, {
      addr,
      version: `waypost ${VERSION}`,
      out: ctx.stdout,
      err: ctx.stderr,
      env: ctx.env,
    });
  },
};
