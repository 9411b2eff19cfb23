/**
 * `waypost serve`'s configuration: OPA's configuration file format where the two overlap, so an
 * OPA deployment's `services`, `bundles`, `keys`, `decision_logs` and `labels` work unchanged,
 * plus a `waypost` section for what OPA does not have (the local keyed decision log, its keys,
 * worker count, evaluation budget). Unknown OPA sections (plugins, status, discovery...) are
 * refused by name rather than silently ignored: a server that drops part of its configuration
 * behaves differently from what its operator wrote.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { isJwsAlgorithm, type JwsAlgorithm, type VerificationKey } from "../../runtime/keys.js";

export interface Service {
  name: string;
  url: string;
  headers: Record<string, string>;
}

export interface BundleSource {
  name: string;
  service: Service;
  resource: string;
  /** The bundle's URL: service url + resource. */
  url: string;
  minDelayMs: number;
  maxDelayMs: number;
  /** From `signing.keyid` (a key of `keys`); none: only with `skip_verify`. */
  publicKey?: VerificationKey;
}

export interface DecisionLogConfig {
  service: Service | null;
  resource: string;
  minDelayMs: number;
  maxDelayMs: number;
  /** Most events sent in one upload (OPA bounds by bytes; so do we, see uploadSizeLimitBytes). */
  uploadSizeLimitBytes: number;
  /** Most events read from the local log into memory at once (the bounded buffer). */
  bufferSizeLimitEvents: number;
  console: boolean;
}

export interface ServeConfig {
  bundle: BundleSource | { name: string; file: string; publicKey?: VerificationKey };
  skipVerify: boolean;
  decisionLogs: DecisionLogConfig | null;
  labels: Record<string, string>;
  /** The local keyed decision log (source of truth); one file per worker: `<log>.<n>.jsonl`. */
  log: string | null;
  logKeyFile: string | null;
  pseudonymKeyFile: string | null;
  unkeyedLog: boolean;
  workers: number;
  /** Fuel for one decision (runtime/abi.ts DEFAULT_BUDGET when absent). */
  decisionBudget?: number;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function str(o: Obj, key: string, where: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new ConfigError(`${where}.${key} is required`);
    return undefined;
  }
  if (typeof v !== "string" || v === "") throw new ConfigError(`${where}.${key} must be a non-empty string`);
  return v;
}

function num(o: Obj, key: string, where: string, dflt: number, min = 0): number {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new ConfigError(`${where}.${key} must be a number >= ${min}`);
  return v;
}

function only(o: Obj, where: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new ConfigError(`${where}.${k} is not supported by waypost serve`, `supported keys of ${where}: ${keys.join(", ")}`);
  }
}

/** `services` as a map `{name: {url}}` or OPA's list form `[{name, url}]`. */
function services(v: unknown): Map<string, Service> {
  const out = new Map<string, Service>();
  if (v === undefined) return out;
  const entries: [string, unknown][] = Array.isArray(v)
    ? v.map((s, i) => [isObj(s) && typeof s.name === "string" ? s.name : `#${i}`, s])
    : isObj(v)
      ? Object.entries(v)
      : (() => {
          throw new ConfigError("services must be a map or a list");
        })();
  for (const [name, s] of entries) {
    const where = `services.${name}`;
    if (!isObj(s)) throw new ConfigError(`${where} must be a map`);
    only(s, where, ["name", "url", "headers", "credentials", "response_header_timeout_seconds", "allow_insecure_tls"]);
    const url = str(s, "url", where, true)!;
    if (!/^https?:\/\//i.test(url)) throw new ConfigError(`${where}.url must be an http(s) URL`);
    const headers: Record<string, string> = {};
    if (isObj(s.headers)) for (const [k, h] of Object.entries(s.headers)) headers[k] = String(h);
    if (s.credentials !== undefined) {
      const c = s.credentials;
      if (!isObj(c) || !isObj(c.bearer) || Object.keys(c).length !== 1) {
        throw new ConfigError(`${where}.credentials: only \`bearer\` is supported`, "use credentials.bearer.token (or token_path), or headers");
      }
      const b = c.bearer;
      const token = typeof b.token === "string" ? b.token : typeof b.token_path === "string" ? readFileSync(b.token_path, "utf8").trim() : undefined;
      if (token === undefined) throw new ConfigError(`${where}.credentials.bearer needs token or token_path`);
      headers["Authorization"] = `${typeof b.scheme === "string" ? b.scheme : "Bearer"} ${token}`;
    }
    if (s.allow_insecure_tls === true) throw new ConfigError(`${where}.allow_insecure_tls is refused: bundles and logs are fetched and sent over verified TLS only`);
    out.set(name, { name, url: url.replace(/\/+$/, ""), headers });
  }
  return out;
}

function keys(v: unknown, base: string): Map<string, VerificationKey> {
  const out = new Map<string, VerificationKey>();
  if (v === undefined) return out;
  if (!isObj(v)) throw new ConfigError("keys must be a map");
  for (const [id, k] of Object.entries(v)) {
    const where = `keys.${id}`;
    if (!isObj(k)) throw new ConfigError(`${where} must be a map`);
    only(k, where, ["algorithm", "key", "key_path", "scope"]);
    const alg = str(k, "algorithm", where) ?? "RS256"; // OPA's default
    if (!isJwsAlgorithm(alg)) throw new ConfigError(`${where}.algorithm \`${alg}\` is not a JWS algorithm`);
    const text = typeof k.key === "string" ? k.key : typeof k.key_path === "string" ? readFileSync(resolve(base, k.key_path), "utf8") : undefined;
    if (text === undefined) throw new ConfigError(`${where} needs key (PEM or secret) or key_path`);
    const scope = str(k, "scope", where);
    out.set(id, { key: text, alg: alg as JwsAlgorithm, keyid: id, ...(scope !== undefined ? { scope } : {}) });
  }
  return out;
}

const SECTIONS = ["services", "bundles", "keys", "decision_logs", "labels", "default_decision", "waypost"] as const;

/** Parses a configuration document (YAML or JSON text). `file` resolves relative paths. */
export function parseConfig(text: string, file: string): ServeConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`${file} is not YAML or JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new ConfigError(`${file} must hold a map`);
  only(doc, "config", SECTIONS);
  const base = dirname(resolve(file));
  const svc = services(doc.services);
  const ks = keys(doc.keys, base);
  const wp = doc.waypost === undefined ? {} : doc.waypost;
  if (!isObj(wp)) throw new ConfigError("waypost must be a map");
  only(wp, "waypost", ["bundle_file", "skip_verify", "log", "log_key_file", "pseudonym_key_file", "unkeyed_log", "workers", "decision_budget"]);

  const service = (name: string | undefined, where: string): Service => {
    if (name === undefined) {
      if (svc.size === 1) return [...svc.values()][0]!;
      throw new ConfigError(`${where}.service is required when there is not exactly one service`);
    }
    const s = svc.get(name);
    if (!s) throw new ConfigError(`${where}.service \`${name}\` is not in services`, `services: ${[...svc.keys()].join(", ") || "(none)"}`);
    return s;
  };

  let bundle: ServeConfig["bundle"] | undefined;
  if (doc.bundles !== undefined) {
    if (!isObj(doc.bundles)) throw new ConfigError("bundles must be a map");
    const names = Object.keys(doc.bundles);
    if (names.length !== 1) throw new ConfigError("bundles must name exactly one bundle", "a Waypost server serves one policy bundle (its roots are `waypost`)");
    const name = names[0]!;
    const b = doc.bundles[name];
    const where = `bundles.${name}`;
    if (!isObj(b)) throw new ConfigError(`${where} must be a map`);
    only(b, where, ["service", "resource", "polling", "signing", "persist"]);
    const s = service(str(b, "service", where), where);
    const resource = str(b, "resource", where) ?? `bundles/${name}`; // OPA's default
    const polling = isObj(b.polling) ? b.polling : {};
    const minDelayMs = num(polling, "min_delay_seconds", `${where}.polling`, 60) * 1000;
    const maxDelayMs = num(polling, "max_delay_seconds", `${where}.polling`, 120) * 1000;
    if (maxDelayMs < minDelayMs) throw new ConfigError(`${where}.polling.max_delay_seconds is below min_delay_seconds`);
    let publicKey: VerificationKey | undefined;
    if (b.signing !== undefined) {
      if (!isObj(b.signing)) throw new ConfigError(`${where}.signing must be a map`);
      const keyid = str(b.signing, "keyid", `${where}.signing`, true)!;
      const k = ks.get(keyid);
      if (!k) throw new ConfigError(`${where}.signing.keyid \`${keyid}\` is not in keys`);
      const scope = str(b.signing, "scope", `${where}.signing`);
      publicKey = { ...k, ...(scope !== undefined ? { scope } : {}) };
    }
    const url = /^https?:\/\//i.test(resource) ? resource : `${s.url}/${resource.replace(/^\/+/, "")}`;
    bundle = { name, service: s, resource, url, minDelayMs, maxDelayMs, ...(publicKey ? { publicKey } : {}) };
  }
  const bundleFile = str(wp, "bundle_file", "waypost");
  if (bundleFile !== undefined) {
    if (bundle) throw new ConfigError("give bundles or waypost.bundle_file, not both");
    bundle = { name: "waypost", file: resolve(base, bundleFile) };
  }
  if (!bundle) throw new ConfigError("no bundle configured", "add a `bundles:` entry (OPA's format) or `waypost.bundle_file`");
  const skipVerify = wp.skip_verify === true;
  if (!skipVerify && bundle.publicKey === undefined) {
    throw new ConfigError(
      `bundles.${bundle.name} has no signing.keyid and waypost.skip_verify is not set`,
      "verify bundles with `signing: {keyid: K}` and `keys: {K: {algorithm, key}}`, or set `waypost: {skip_verify: true}` to trust the bundle server",
    );
  }
  if (skipVerify && bundle.publicKey !== undefined) throw new ConfigError("give a signing key or waypost.skip_verify, not both");

  let decisionLogs: DecisionLogConfig | null = null;
  if (doc.decision_logs !== undefined) {
    const d = doc.decision_logs;
    if (!isObj(d)) throw new ConfigError("decision_logs must be a map");
    only(d, "decision_logs", ["service", "resource", "reporting", "console", "partition_name"]);
    const rep = isObj(d.reporting) ? d.reporting : {};
    only(rep, "decision_logs.reporting", ["min_delay_seconds", "max_delay_seconds", "upload_size_limit_bytes", "buffer_size_limit_events", "buffer_size_limit_bytes", "buffer_type"]);
    const minDelayMs = num(rep, "min_delay_seconds", "decision_logs.reporting", 300) * 1000;
    const maxDelayMs = num(rep, "max_delay_seconds", "decision_logs.reporting", 600) * 1000;
    if (maxDelayMs < minDelayMs) throw new ConfigError("decision_logs.reporting.max_delay_seconds is below min_delay_seconds");
    const hasService = d.service !== undefined || (d.console !== true && svc.size > 0);
    decisionLogs = {
      service: hasService ? service(str(d, "service", "decision_logs"), "decision_logs") : null,
      resource: str(d, "resource", "decision_logs") ?? "/logs",
      minDelayMs,
      maxDelayMs,
      uploadSizeLimitBytes: num(rep, "upload_size_limit_bytes", "decision_logs.reporting", 32768, 1024),
      bufferSizeLimitEvents: num(rep, "buffer_size_limit_events", "decision_logs.reporting", 10000, 1),
      console: d.console === true,
    };
  }
  const labels: Record<string, string> = {};
  if (isObj(doc.labels)) for (const [k, v] of Object.entries(doc.labels)) labels[k] = String(v);
  if (doc.default_decision !== undefined && doc.default_decision !== "/waypost/decide") {
    throw new ConfigError("default_decision must be /waypost/decide (the only decision a Waypost bundle has)");
  }
  const log = str(wp, "log", "waypost");
  const logKeyFile = str(wp, "log_key_file", "waypost");
  const unkeyedLog = wp.unkeyed_log === true;
  if (decisionLogs && log === undefined) throw new ConfigError("decision_logs needs waypost.log", "the local log is the source of truth the uploads are exported from: give its path");
  if (log !== undefined && logKeyFile === undefined && !unkeyedLog && process.env["WAYPOST_LOG_KEY"] === undefined) {
    throw new ConfigError("waypost.log needs waypost.log_key_file (or WAYPOST_LOG_KEY), or waypost.unkeyed_log: true");
  }
  const workers = num(wp, "workers", "waypost", 0, 0);
  const budget = wp.decision_budget === undefined ? undefined : num(wp, "decision_budget", "waypost", 0, 1);
  return {
    bundle,
    skipVerify,
    decisionLogs,
    labels,
    log: log === undefined ? null : resolve(base, log),
    logKeyFile: logKeyFile === undefined ? null : resolve(base, logKeyFile),
    pseudonymKeyFile: str(wp, "pseudonym_key_file", "waypost") === undefined ? null : resolve(base, wp.pseudonym_key_file as string),
    unkeyedLog,
    workers: Math.floor(workers),
    ...(budget !== undefined ? { decisionBudget: budget } : {}),
  };
}
