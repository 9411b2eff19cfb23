/**
 * The decision contract, written once: what a decision and its reasons look like, the outcomes,
 * the entry points and their ids, the reasons the engine itself gives (codes, policies, texts),
 * the value layout and operator numbering the Wasm library shares with the emitter, and the
 * artifact store layout. Everything that produces or reads these imports them from here: the
 * runtime, the compiler (plan, reference interpreter, emitter, bundle), the lifecycle commands
 * and the CLI. The Wasm library cannot import TypeScript from outside its AssemblyScript
 * program, so scripts/build-wasmlib.mjs generates its copies (wasmlib/strings.ts) from this file.
 *
 * That generator transpiles this file on its own and evaluates it, so it must stay
 * self-contained: no imports other than `import type`.
 */

// ---------------------------------------------------------------------------------------------
// Requests

/** The keys a decision request may have (runtime/types.ts `Request`); any other is refused. */
export const REQUEST_KEYS = ["system", "event", "now", "context", "node", "history"] as const;
/** The keys a history entry may have. */
export const HISTORY_ENTRY_KEYS = ["at", "channel", "purpose", "node"] as const;

/**
 * Why a request is invalid, by problem: the `detail` of an `invalid-request` reason is
 * `key: why`, or `history[i].key: why` for a history entry (`history[i]: why` for the entry).
 */
export const REQUEST_PROBLEMS = {
  not_object: "not an object",
  missing: "missing",
  bad_timestamp: "not an RFC 3339 timestamp with a zone",
  bad_channel: "not a declared channel",
  bad_purpose: "not a declared purpose",
  not_string: "not a string",
  unknown_key: "unknown key",
} as const;
export type RequestProblem = keyof typeof REQUEST_PROBLEMS;

/** The `invalid-request` detail for `problem` at `key` (of history entry `entry` when given). */
export function requestProblemDetail(problem: RequestProblem, key: string | null, entry?: number): string {
  const at = entry === undefined ? (key ?? "") : `history[${entry}]${key === null ? "" : `.${key}`}`;
  return `${at}: ${REQUEST_PROBLEMS[problem]}`;
}

// ---------------------------------------------------------------------------------------------
// Decisions

/** Outcomes in severity order (docs/ir.md "Decision"). */
export const OUTCOMES = ["send", "defer", "review", "holdout", "suppress", "deny"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** A rule that decided (part of) the outcome, with where it is written. */
export interface Reason {
  /** Stable kebab-case, e.g. `suppressed`, `consent-missing`, `invalid-request`. */
  code: string;
  /** Policy id, e.g. `suppression/fraud-suspected`, `node/renewal-reminder-90`. */
  policy: string;
  /** One line for the operator / reviewer. */
  message: string;
  /** `file:line:col` in the policy repository, or `waypost` / `runtime` for the engine's own. */
  source: string;
  channel?: string;
  /** Engine reasons only: the offending key, system or event; for `runtime-error`, the error. */
  detail?: string;
}

/** Reason keys in output order (the Wasm library and the interpreter write them in this order). */
export const REASON_KEYS = ["code", "policy", "message", "source", "channel", "detail"] as const;

/** A decision as the policy (policy.wasm or the reference interpreter) returns it. */
export interface PolicyDecision {
  outcome: Outcome;
  node: string | null;
  channel: string | null;
  template: string | null;
  offer: string | null;
  variant: string | null;
  /** RFC 3339 UTC, or null. */
  send_at: string | null;
  reasons: Reason[];
  /** Customer-facing explanation, or null. */
  explanation: string | null;
  /** The bundle revision that decided. */
  revision: string;
}

/** A decision as the runtime hands it out: the policy's, plus what only the runtime knows. */
export interface Decision extends PolicyDecision {
  /**
   * Whether that bundle's signature was verified (false when it was loaded with `skipVerify`, or
   * none is loaded). Added by the runtime, not by policy.wasm, so it is also in the log entry.
   */
  verified: boolean;
  /** Deterministic id of this decision (see Engine.decide). */
  decision_id: string;
}

/** Keys of a policy decision in output order; exactly these, no more (the runtime checks). */
export const DECISION_KEYS = ["outcome", "node", "channel", "template", "offer", "variant", "send_at", "reasons", "explanation", "revision"] as const;
/** The decision keys that are a string or null. */
export const DECISION_NULLABLE_KEYS = ["node", "channel", "template", "offer", "variant", "send_at", "explanation"] as const;

// ---------------------------------------------------------------------------------------------
// Entry points

export const ENTRYPOINTS = { decide: "waypost/decide", suppressed: "waypost/suppressed", consent: "waypost/consent" } as const;
export type Entrypoint = (typeof ENTRYPOINTS)[keyof typeof ENTRYPOINTS];
/** Entry points by their id in policy.wasm (the index; the library dispatches on it). */
export const ENTRYPOINT_IDS: readonly Entrypoint[] = [ENTRYPOINTS.decide, ENTRYPOINTS.suppressed, ENTRYPOINTS.consent];

// ---------------------------------------------------------------------------------------------
// The engine's own reasons

/**
 * Where an engine reason points: the engine itself (`waypost`), or the policy file whose rule
 * it enforces (the access policy, the data dictionary); the compiler fills in that file's
 * location when it builds the plan.
 */
export type EngineReasonSource = "waypost" | "access" | "dictionary";

export interface EngineReason {
  policy: string;
  message: string;
  source: EngineReasonSource;
}

/**
 * Reasons the engine gives on its own, by code. The plan carries them (`plan.reasons`) and both
 * evaluators copy them from there; the Wasm library knows the codes (`R_*` in strings.ts).
 */
export const ENGINE_REASONS = {
  "invalid-request": { policy: "waypost/request", message: "the request is not a valid decision request", source: "waypost" },
  "system-not-allowed": { policy: "access/systems", message: "the calling system may not ask for journey decisions", source: "access" },
  "unknown-event": { policy: "journeys", message: "no journey node is triggered by this event", source: "waypost" },
  "field-not-allowed": { policy: "access/fields", message: "the request carries a field this journey may not receive (data minimisation)", source: "dictionary" },
  "invalid-field": { policy: "data-dictionary", message: "a context value does not match the data dictionary", source: "dictionary" },
  "missing-field": { policy: "data-dictionary", message: "a field this journey needs is missing from the request", source: "dictionary" },
  "no-eligible-node": { policy: "journeys", message: "no journey node is eligible for this request", source: "waypost" },
  holdout: { policy: "experiment", message: "the customer is in the holdout group and receives no treatment", source: "waypost" },
  // Step 10 (send-time check): `detail` is the send time at which the check failed.
  "blocked-at-send-time": { policy: "waypost/send-time", message: "the check above no longer passes at the send time, later than the decision, so this channel is not used", source: "waypost" },
  "not-valid-at-send-time": { policy: "journeys", message: "the node's validity window closes before the send time, so this channel is not used", source: "waypost" },
} as const satisfies Record<string, EngineReason>;
export type EngineReasonCode = keyof typeof ENGINE_REASONS;

/**
 * The reason of every fail-closed decision: the runtime gives it, not the plan, when a decision
 * cannot be evaluated (a trap, a budget, a malformed result). `detail` says what failed.
 */
export const RUNTIME_ERROR_REASON = "runtime-error";
export const RUNTIME_ERROR: Readonly<Omit<Reason, "detail" | "channel">> = {
  code: RUNTIME_ERROR_REASON,
  policy: "waypost/runtime",
  message: "the decision could not be evaluated, so it fails closed",
  source: "runtime",
};

// ---------------------------------------------------------------------------------------------
// What the Wasm library shares with the emitter

/** Value tags of the library's value layout (wasmlib/value.ts; compiler/emit/layout.ts writes constants in it). */
export const VALUE_TAGS = { null: 1, bool: 2, num: 3, str: 4, arr: 5, obj: 6 } as const;

/** Comparison operators in the numbering `wp_cmp` dispatches on. */
export const CMP_OPS = ["==", "!=", "<", "<=", ">", ">="] as const;
export type CmpOp = (typeof CMP_OPS)[number];

// ---------------------------------------------------------------------------------------------
// The artifact store

/**
 * Layout of an artifact store folder (written by `waypost release`, read by the runtime's store
 * watcher): `index.json` ({@link StoreIndex}), bundles at `bundles/<revision>.tar.gz`, each
 * recorded with `digest` = `sha256:<hex of the file>`.
 */
export const STORE_INDEX_FILE = "index.json";
export const STORE_INDEX_VERSION = 1;
export const STORE_BUNDLES_DIR = "bundles";
export const STORE_DIGEST_PREFIX = "sha256:";
/** A revision name: also a file name, so no separators and no leading dot. */
export const REVISION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The bundle file of `revision`, relative to the store. */
export const storeBundleFile = (revision: string): string => `${STORE_BUNDLES_DIR}/${revision}.tar.gz`;

export interface StoreRelease {
  revision: string;
  /** `sha256:<hex>` of the bundle file. */
  digest: string;
  bytes: number;
  /** When it was first released (the one clock read in Waypost: it is not part of any bundle). */
  released_at: string;
  commit: string | null;
  author_date: string | null;
  dirty: boolean;
}

export interface StoreHistoryEvent {
  at: string;
  action: "release" | "rollback";
  revision: string;
  from: string | null;
}

export interface StoreIndex {
  version: typeof STORE_INDEX_VERSION;
  current: string | null;
  /** In the order first released; rollback goes to the entry before the current one. */
  releases: StoreRelease[];
  events: StoreHistoryEvent[];
}
