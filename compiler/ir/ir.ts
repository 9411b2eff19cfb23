/**
 * The Waypost IR: the decision plan every checked policy set lowers to.
 *
 * It is a plain, JSON-serialisable data model (see docs/ir.md for the semantics). Two
 * evaluators consume it and must agree exactly:
 *  - the reference interpreter (`compiler/ir/interpret.ts`), the oracle;
 *  - the Wasm backend (`compiler/emit/`), which compiles every `Expr` in `conds` to a Wasm
 *    function and ships the `Plan` itself inside `data.json` for the generic engine in the
 *    Wasm runtime library (`wasmlib/`).
 *
 * Values follow JSON. Times are epoch milliseconds (numbers) once lowered; durations are
 * milliseconds. `undefined` (a missing field, an operation over a missing value) is distinct
 * from `false` and `null`, as in Rego: a condition holds only when it evaluates to `true`.
 */

import type { CmpOp, EngineReasonCode, Reason as DecisionReason } from "../../runtime/contract.js";

export type { CmpOp } from "../../runtime/contract.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Built-in functions callable from conditions (all are total: bad input gives undefined). */
export type BuiltinFn =
  | "days_since" // (time) -> number: calendar days from the value's date to now's, in the customer's zone
  | "days_until" // (time) -> number: calendar days from now's date to the value's, in the customer's zone
  | "hours_since" // (time) -> number: floor((now - t) / 1h)
  | "minutes_since" // (time) -> number: floor((now - t) / 1min)
  | "since" // (time) -> duration ms: now - t
  | "until" // (time) -> duration ms: t - now
  | "lower" // (string) -> string, ASCII only (A-Z), so every evaluator agrees byte for byte
  | "upper" // (string) -> string, ASCII only
  | "len" // (string | array) -> number: code points / elements
  | "contains" // (string, string) -> substring test; (array, value) -> deep-equal membership
  | "starts_with" // (string, string) -> boolean
  | "ends_with" // (string, string) -> boolean
  | "exists" // (any) -> boolean: true when the value is defined and not null (never undefined)
  | "time" // (string) -> time ms: RFC 3339 timestamp or YYYY-MM-DD date; undefined if malformed
  | "local_hour"; // (time) -> number 0..23: hour of the time in the customer's zone (or fixed offset)

export type Expr =
  | { op: "const"; value: JsonValue }
  | { op: "field"; name: string } // flat context key, e.g. "customer.region"; undefined when absent
  | { op: "now" } // request time, epoch ms
  | { op: "not"; arg: Expr } // true unless arg is exactly true (undefined -> true, as Rego's `not`)
  | { op: "and"; args: Expr[] } // true iff every arg is exactly true; else false (never undefined)
  | { op: "or"; args: Expr[] } // true iff some arg is exactly true; else false
  | { op: "cmp"; cmp: CmpOp; left: Expr; right: Expr } // undefined if either side is undefined
  | { op: "in"; item: Expr; set: Expr } // deep-equal membership in an array value
  | { op: "in_list"; list: string; item: Expr } // named list (data.waypost.lists[list]), honouring expiry
  | { op: "call"; fn: BuiltinFn; args: Expr[] }
  | {
      // number of history entries with at in (now - window_ms, now] matching every given filter
      op: "history_count";
      window_ms: number;
      channel?: string;
      purpose?: string;
      node?: string;
    }
  | { op: "add_ms"; time: Expr; ms: number }; // time (ms number or time string) + ms; undefined if not a time

/** A source location rendered as `file:line:col` (what a reviewer can click). */
export type SourceRef = string;

/**
 * A reason that may appear in a decision (runtime/contract.ts). Pre-built in the plan, copied to
 * the output; only the engine adds a `detail` when it copies one.
 */
export type Reason = Omit<DecisionReason, "detail">;

export type GateOutcome = "suppress" | "deny" | "defer";

/**
 * A gate blocks (the node, or one channel of it) when its condition is exactly true.
 * Node-wide gates (no `channel`) end the decision with `outcome`; channel gates remove the
 * channel from the candidates. `defer` gates carry `until`: the time the block ends.
 */
export interface Gate {
  step: "suppression" | "lawful-basis" | "consent" | "contact-policy" | "restriction";
  /**
   * What kind of block this is for arbitration (docs/ir.md step 5): the step, except that a
   * contact-policy gate is a `cap` or a `cool-down`. Absent: the step.
   */
  kind?: ArbitrationKind;
  cond: number; // index into Plan.conds
  channel?: string;
  outcome: GateOutcome;
  until?: number; // cond index of a time-valued expr (defer gates only)
  /**
   * Re-evaluated at the send time (docs/ir.md step 10) when that is later than `now`: set by the
   * planner on suppression, restriction and consent gates whose condition reads the time.
   */
  at_send?: true;
  reason: Reason; // reported when the gate blocks
  pass?: Reason; // reported when the gate lets the decision through (consent granted, basis ok)
}

/** The blocks an event's arbitration policy may let the next candidate try after (step 5). */
export type ArbitrationKind = "suppression" | "lawful-basis" | "restriction" | "consent" | "cap" | "cool-down" | "quiet-hours";

/** An event's declared arbitration: which blocks of a candidate let the next one be tried. */
export interface Arbitration {
  fallback: "next";
  on: ArbitrationKind[];
  /** Reported when every candidate after a blocked one fails too (the first block stands). */
  exhausted_reason: Reason;
}

/**
 * Why a candidate node did not win (step 5), pre-built with `policy: node/<id>`. A plan node
 * without them (a hand-written plan) reports none of these.
 */
export interface CandidateReasons {
  not_for_system: Reason;
  not_requested: Reason;
  outside_validity_window: Reason;
  outside_rollout: Reason;
  lower_priority: Reason;
  /** Only when its event's arbitration falls back: the node was blocked, the next one is tried. */
  fallback_next?: Reason;
}

/** A universal holdout: one control group for every node of the purposes it names. */
export interface PlanHoldout {
  id: string;
  salt: string;
  holdout_bp: number; // basis points 0..10000 in the control group
  control_reason: Reason;
  treatment_reason: Reason;
}

export interface NodeCondition {
  kind: "trigger" | "eligibility";
  cond: number;
  reason: Reason; // reported as met (code "trigger-matched" / "eligible") or not met
  fail: Reason;
}

export interface Experiment {
  salt: string;
  holdout_bp: number; // basis points 0..10000 of customers held out
  /** Reported for a held-out customer; when absent, plan.reasons["holdout"]. */
  holdout_reason?: Reason;
  /** Reported for a customer in the treatment group (not held out); none when absent. */
  treatment_reason?: Reason;
  /** Weights sum to 10000 (or empty); `reason` is reported when the variant is assigned. */
  variants: { id: string; weight_bp: number; reason?: Reason }[];
}

export interface PlanNode {
  id: string;
  title: string;
  purpose: string;
  lawful_basis: string;
  event: string;
  priority: number;
  risk: "low" | "medium" | "high";
  valid_from: number | null; // epoch ms, inclusive
  valid_until: number | null; // epoch ms, exclusive
  rollout_bp: number; // 0..10000: share of customers the node is live for
  rollout_salt: string;
  required: string[]; // context fields that must be present (sorted)
  conditions: NodeCondition[]; // trigger first, then eligibility, in source order
  gates: Gate[]; // in step order: suppression, lawful-basis, restriction, consent, contact-policy
  channels: string[]; // preference order
  templates: Record<string, string>; // channel -> template id
  offer: string | null;
  experiment: Experiment | null;
  /** Indices into Plan.holdouts of the universal holdouts of the node's purpose, in order. */
  holdouts?: number[];
  /** Why this node did not win, when it is a candidate that does not (step 5). */
  candidate?: CandidateReasons;
  explanation: string; // customer-facing reason
  review_reason: Reason | null; // for high risk: why it goes to human review
  source: SourceRef;
}

/**
 * String formats both evaluators check byte for byte (docs/ir.md, step 4):
 * `sha256` 64 lowercase hex digits; `iso-639-1` two lowercase ASCII letters; `email` at most
 * 254 bytes, exactly one `@`, a non-empty local part of at most 64 bytes, a domain with a `.`
 * that neither starts nor ends with `.`, and no byte <= 0x20 (no spaces or control characters).
 */
export type FieldFormat = "sha256" | "iso-639-1" | "email";

export interface FieldSpec {
  type: "string" | "number" | "integer" | "boolean" | "timestamp" | "date" | "string[]" | "number[]";
  nullable: boolean; // may be present with value null
  values?: string[]; // allowed values for strings (high-risk fields)
  min?: number;
  max?: number;
  format?: FieldFormat; // shape a string must have (high-risk identifiers)
  /**
   * The field holds the time a consent was granted (a purpose's consent requirement names it):
   * a value later than the request's `now` is invalid, since consent given in the future is none.
   */
  consent?: boolean;
  mask: "none" | "hash" | "redact"; // how the decision log stores it
}

export interface QuietHours {
  start_min: number; // minutes after local midnight, e.g. 21:00 -> 1260
  end_min: number; // e.g. 08:00 -> 480 (the window may wrap midnight)
  channels: string[]; // channels it applies to
  reason: Reason;
}

export interface PlanList {
  kind: "suppression" | "values";
  match: string | null; // context field holding the key (suppression lists), null for value lists
  reason: Reason;
  /**
   * Suppression lists: what a request whose `match` key is absent, null or "" means to
   * `waypost/suppressed` (docs/ir.md "Other entrypoints"). Anything but `allow` (absent
   * included) lists the customer: fail closed.
   */
  missing?: "suppress" | "allow";
}

export interface Plan {
  version: 1;
  lists: Record<string, PlanList>; // named lists; entries live in BundleData.lists
  /** calling system -> node ids it may ask for (sorted). Unknown systems are denied. */
  systems: Record<string, string[]>;
  /** event -> node indices, sorted by priority desc, then id asc. */
  events: Record<string, number[]>;
  /** event -> the union of context fields its candidate nodes may receive, as a set. */
  event_fields: Record<string, Record<string, true>>;
  nodes: PlanNode[];
  fields: Record<string, FieldSpec>; // the data dictionary, as the runtime needs it
  /** Every declared channel and purpose (exact case): what a history entry may name. */
  channels: string[];
  purposes: string[];
  offsets_ms: Record<string, number>; // channel -> delay before sending
  quiet_hours: QuietHours[];
  /** Universal holdouts (purposes.yaml `holdouts`), in declared order; nodes index them. */
  holdouts?: PlanHoldout[];
  /** event -> its arbitration policy, for events that fall back (absent: no fallback). */
  arbitration?: Record<string, Arbitration>;
  /**
   * customer id field, jurisdiction field, utc offset field (minutes east of UTC), and the
   * field holding the customer's IANA time zone (absent when the dictionary declares none).
   */
  keys: { customer: string; jurisdiction: string; utc_offset: string; time_zone?: string };
  /**
   * The allowed time zones, compiled from the pinned database (compiler/tz.ts): zone name →
   * `[o0, t1, o1, t2, o2, ...]`, offsets in minutes east of UTC, transitions in epoch ms
   * (ascending); `ok` holds from `tk` inclusive. Absent when no zone is declared.
   */
  zones?: Record<string, number[]>;
  /** The time-zone database version the zones were compiled from (e.g. `2026d`). */
  tzdata?: string;
  reasons: Partial<Record<EngineReasonCode, Reason>>; // the engine's own reasons (runtime/contract.ts ENGINE_REASONS); a hand-made plan may lack some
}

/** The IR document: the plan plus the condition expressions it indexes. */
export interface IR {
  plan: Plan;
  conds: Expr[];
}

/** What `data.json` holds under its root `waypost`. */
export interface BundleData {
  plan: Plan;
  /** list id -> key -> null (no expiry) or expiry time as RFC 3339 string. */
  lists: Record<string, Record<string, string | null>>;
  revision: string;
}
