/**
 * The runtime's public data types: the decision request, and the decision and its reasons from
 * the contract (runtime/contract.ts, which the compiler imports too; docs/ir.md).
 */
import type { JsonValue } from "./json.js";

export { OUTCOMES, RUNTIME_ERROR_REASON, type Outcome, type Reason, type Decision } from "./contract.js";

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
