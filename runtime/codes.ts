/**
 * The diagnostic registry's entry type, and the runtime's own code families (WPR bundles and
 * engine, WPL decision log, WPS artifact store). The compiler and lifecycle families are
 * declared above this layer (compiler/codes.ts, lifecycle/codes.ts) with the same type, and
 * lifecycle/codes.ts joins them into the one registry that docs/codes.md is generated from.
 * Codes are stable and append-only: never reuse or renumber one.
 */

/** How a code is reported; `info` is SARIF's `note`. */
export type CodeSeverity = "error" | "warning" | "info";

export interface CodeSpec {
  /** The usual severity. */
  readonly severity: CodeSeverity;
  /** When the same code is also reported at another severity, and why. */
  readonly severityNote?: string;
  /** One line: what the code means (Cedar style: lowercase, no final period). */
  readonly summary: string;
  /** What to do about it. */
  readonly help: string;
}

/** A code family: one section of docs/codes.md. */
export interface CodeFamily<C extends string = string> {
  readonly title: string;
  /** Which command or API reports these codes, in one sentence. */
  readonly about: string;
  readonly codes: Readonly<Record<C, CodeSpec>>;
}

/** A registry entry, as renderers and docs see it. */
export interface CodeEntry extends CodeSpec {
  readonly code: string;
  readonly family: string;
  /** The fragment of the code's section in docs/codes.md (`wp3010`). */
  readonly anchor: string;
}

/** A problem as a value: the shape every layer's errors share (Diagnostic adds a span). */
export interface Problem<C extends string = string> {
  code: C;
  message: string;
  help?: string;
}

export const codeAnchor = (code: string): string => code.toLowerCase();

/** Flattens families into entries, refusing a code declared twice (an internal bug). */
export function registryOf(families: readonly CodeFamily[]): ReadonlyMap<string, CodeEntry> {
  const out = new Map<string, CodeEntry>();
  for (const f of families) {
    for (const [code, spec] of Object.entries<CodeSpec>(f.codes)) {
      if (out.has(code)) throw new Error(`diagnostic code ${code} is declared twice`);
      out.set(code, { code, family: f.title, anchor: codeAnchor(code), ...spec });
    }
  }
  return out;
}

/** Registry entries, briefly: `errorCode(summary, help)`, `warningCode(summary, help)`. */
export const errorCode = (summary: string, help: string, severityNote?: string): CodeSpec =>
  severityNote === undefined ? { severity: "error", summary, help } : { severity: "error", severityNote, summary, help };
export const warningCode = (summary: string, help: string): CodeSpec => ({ severity: "warning", summary, help });
const err = errorCode;

export const BUNDLE_CODES = {
  // bundle container
  WPR001: err("bundle is not a gzip tar", "give the `.tar.gz` file that `waypost build` wrote; a bundle that was unpacked or re-compressed is refused"),
  WPR002: err("bundle tar is corrupt or truncated", "download or copy the bundle again; compare its SHA-256 with the one `waypost build` printed"),
  WPR003: err("bundle entry has an unsafe name", "bundles may only hold plain relative paths (no `..`, absolute paths or backslashes): rebuild it with `waypost build`"),
  WPR004: err("bundle has a duplicate entry", "a bundle names each file once; rebuild it with `waypost build`"),
  WPR005: err("bundle has a non-regular entry", "links, devices and folders with content are refused; rebuild it with `waypost build`"),
  WPR006: err("bundle exceeds a size limit", "check that this is the bundle you meant; raise the limit in the load options only if the bundle is trusted and really that large"),
  // bundle contents
  WPR007: err("bundle is missing a required file", "a Waypost bundle holds `/policy.wasm`, `/data.json` and `/.manifest`; rebuild it with `waypost build`"),
  WPR008: err("bundle manifest is invalid", "rebuild the bundle with `waypost build` (the manifest was edited, or written by another tool)"),
  WPR009: err("bundle data.json is invalid", "rebuild the bundle with `waypost build`; `data.json` must be the JSON the compiler wrote"),
  // signatures
  WPR010: err("bundle is not signed but a verification key was given", "sign the bundle (`waypost build --sign KEY.pem`), or load it with `skipVerify` if unsigned bundles are acceptable here"),
  WPR011: err("bundle signature is invalid", "the bundle was changed after signing or signed with another key: rebuild and sign it again, or give the matching public key"),
  WPR012: err("bundle file does not match its signed digest", "a file was changed after signing: rebuild and sign the bundle again"),
  WPR013: err("bundle files and signed file list differ", "a file was added or removed after signing: rebuild and sign the bundle again"),
  WPR014: err("verification or signing key is unusable", "give a PEM or JWK key of the configured algorithm (RS256 by default), or an HMAC secret for HS256"),
  // engine
  WPR015: err("policy.wasm could not be loaded", "rebuild the bundle with this version of Waypost; the module does not have the OPA Wasm ABI the runtime expects"),
  WPR016: err("bundle could not be read", "check the path and its permissions"),
  WPR017: err("bundle failed its activation self-check", "a loaded bundle must deny an empty request with a well-formed decision before it serves; rebuild it with `waypost build` and report it if it persists"),
  // verification choice (no silent trust)
  WPR018: err("no verification key was given; pass a key or skipVerify", "pass the public key the bundles are signed with, or `skipVerify: true` (`--skip-verify`) to trust unsigned bundles knowingly"),
  WPR019: err("both a verification key and skipVerify were given", "pass one of them: a key to verify, or `skipVerify` to skip verification"),
  // runaway bundles (metering)
  WPR020: err("policy.wasm cannot be metered (malformed or unsupported instructions)", "rebuild the bundle with `waypost build`; the runtime refuses modules it cannot bound"),
  WPR021: err("bundle exceeded its load budget (fuel or memory)", "the bundle's data is too large or its start-up loops: check what it holds, or raise the load budget if the bundle is trusted"),
  // runaway bundles (dry run of a candidate's load in a worker thread)
  WPR022: err("bundle load exceeded its deadline (dry run stopped)", "the candidate took too long to load and was not activated; check its data, or raise the dry-run deadline if the bundle is trusted"),
  WPR023: err("bundle load dry run failed (worker out of memory, crashed or missing)", "the candidate was not activated; check its size and data, or the worker's memory limit"),
} as const satisfies Record<string, CodeSpec>;

export const LOG_CODES = {
  WPL001: err("decision log ends with a torn (incomplete) entry", "a write was interrupted (a crash or a full disk); keep the log for the audit, and check the entries before the torn line with `waypost log verify`"),
  WPL002: err("decision log line is not a valid entry", "the log was edited or mixed with other output; restore it from a backup or a replica"),
  WPL003: err("decision log entry was modified", "an entry no longer matches its hash: the log was tampered with; restore it from a backup or a replica"),
  WPL004: err("decision log chain is broken", "an entry was removed, inserted or reordered; restore the log from a backup or a replica"),
  WPL005: err("decision log sequence is out of order", "entries were reordered or spliced from another log; restore it from a backup or a replica"),
  WPL006: err("decision log was written by another writer", "two writers or two logs were mixed in one file; give each process its own log"),
  WPL007: err("decision log could not be read or written", "check the path, its permissions and the free disk space"),
  WPL008: err("decision log is locked by another writer", "one process writes a log at a time: stop the other writer, or remove `FILE.lock` if its process is gone"),
  WPL009: err("decision log was written with another log key", "give the key the log was written with (`--log-key`)"),
  WPL010: err("decision log was cut: entries are missing from its end", "entries after the last one present were removed; restore the log from a backup or a replica"),
  WPL011: err("decision log key is missing, malformed or does not suit the log", "give the key the log was written with: 32 bytes (64 hex digits, e.g. from `openssl rand -hex 32`), or open an unkeyed log as unkeyed"),
  WPL012: err("decision log head file is missing or invalid", "restore `FILE.head` from a backup, or verify the log without it knowingly (the cut of its tail then goes unnoticed)"),
} as const satisfies Record<string, CodeSpec>;

export const STORE_CODES = {
  WPS001: err("the store index cannot be read or has an unknown format", "check the store folder and its `index.json`; restore the index from a backup, the bundles under `bundles/` are intact"),
  WPS002: err("the current bundle file is missing, or its bytes or revision differ from the index", "release the revision again (`waypost release`), or roll back to one whose bundle is intact"),
  WPS003: err("the bundle URL cannot be fetched or answered an error status", "check the URL, the network and the server; the last good bundle keeps deciding meanwhile"),
  WPS004: err("the fetch did not finish within `timeoutMs` (connecting, redirects and body)", "check the server, or raise `timeoutMs` if the bundle is large and the link slow"),
  WPS005: err("the response, the bundle file or the index is larger than its limit", "check that the URL serves the bundle you meant, or raise the limit if the bundle is trusted and really that large"),
  WPS006: err("a redirect was refused: too many, no Location, another scheme, or https to http", "point the watcher at the bundle's final https URL"),
} as const satisfies Record<string, CodeSpec>;

export type RuntimeErrorCode = keyof typeof BUNDLE_CODES | keyof typeof LOG_CODES;
export type StoreCode = keyof typeof STORE_CODES;

export const RUNTIME_FAMILIES: readonly CodeFamily[] = [
  { title: "WPR: bundles and the engine", about: "Reported by the runtime (`loadBundle`, `Engine`) and by the commands that load bundles, as `WaypostRuntimeError`.", codes: BUNDLE_CODES },
  { title: "WPL: the decision log", about: "Reported by the decision log writer and reader and by `waypost log verify` and `waypost replay`.", codes: LOG_CODES },
  { title: "WPS: the artifact store watcher", about: "Reported in `rejected` events of `watchStore` and `watchUrl` while the last good bundle keeps deciding.", codes: STORE_CODES },
];
