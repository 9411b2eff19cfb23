/**
 * The runtime's public data types: the decision request and the decision (docs/ir.md). These
 * mirror the compiler's IR types on purpose rather than importing them: runtime/ never imports
 * compiler/ (the runtime ships alone into services).
 */
import type { JsonValue } from "./json.js";

export type Outcome = "send" | "defer" | "review" | "holdout" | "suppress" | "deny";

export const OUTCOMES: readonly Outcome[] = ["send", "defer", "review", "holdout", "suppress", "deny"];

/** One contact in the customer's recent history (used by frequency caps). */
export interface HistoryEntry {
  at: string;
  channel?: string;
  purpose?: string;
  node?: string;
}

/** A decision request (the `input` of `waypost/decide`). */
export interface Request {
  system: string;
  event: string;
  /** Restrict the decision to one node. */
  node?: string;
  /** The decision time, RFC 3339: decisions never read a clock, so they replay exactly. */
  now: string;
  /** Flat context: data-dictionary field name -> value. */
  context: Record<string, JsonValue>;
  history?: HistoryEntry[];
}

/** A rule that decided (part of) the outcome, with where it is written. */
export interface Reason {
  code: string;
  policy: string;
  message: string;
  /** `file:line:col` in the policy repository. */
  source: string;
  channel?: string;
  /** Engine reasons only: the offending key, system or event; for `runtime-error`, the error. */
  detail?: string;
}

export interface Decision {
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
  /**
   * Whether that bundle's signature was verified (false when it was loaded with `skipVerify`, or
   * none is loaded). Added by the runtime, not by policy.wasm, so it is also in the log entry.
   */
  verified: boolean;
  /** Deterministic id of this decision (see Engine.decide). */
  decision_id: string;
}

/** Result of `waypost/suppressed`. */
export interface SuppressedResult {
  suppressed: boolean;
  lists: string[];
}

/** Result of `waypost/consent`. */
export interface ConsentResult {
  node: string;
  channels: Record<string, boolean>;
}

/** Reason code of every fail-closed decision. */
export const RUNTIME_ERROR_REASON = "runtime-error";
