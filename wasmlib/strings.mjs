// The UTF-8 constants the runtime library needs, by name. scripts/build-wasmlib.mjs turns this
// list into wasmlib/strings.ts (static string VALUES in the data segment), because
// AssemblyScript string literals are UTF-16 managed objects and must not be used here. The
// decision contract's strings are added from runtime/contract.ts and must not be repeated here:
// request and history entry keys (SYSTEM, EVENT, NOW, ..., AT, PURPOSE), decision and reason keys
// (OUTCOME, NODE, CHANNEL, ..., CODE, POLICY, MESSAGE, SOURCE, DETAIL), outcomes (O_SEND, ...),
// engine reason codes (R_INVALID_REQUEST, ...), invalid-request details (D_*) and ENTRYPOINTS_JSON.
export const STRINGS = {
  // bundle data and plan
  WAYPOST: "waypost", PLAN: "plan", LISTS: "lists", SYSTEMS: "systems",
  EVENTS: "events", EVENT_FIELDS: "event_fields", NODES: "nodes", FIELDS: "fields",
  OFFSETS_MS: "offsets_ms", QUIET_HOURS: "quiet_hours", KEYS: "keys", CUSTOMER: "customer",
  UTC_OFFSET: "utc_offset", PURPOSES: "purposes",
  TIME_ZONE: "time_zone", ZONES: "zones",
  // the ABI's input key
  INPUT: "input",
  // plan nodes
  ID: "id", VALID_FROM: "valid_from", VALID_UNTIL: "valid_until", ROLLOUT_BP: "rollout_bp",
  ROLLOUT_SALT: "rollout_salt", REQUIRED: "required", CONDITIONS: "conditions", COND: "cond",
  REASON: "reason", FAIL: "fail", GATES: "gates",
  UNTIL: "until", PASS: "pass", STEP: "step", CONSENT: "consent", CHANNELS: "channels",
  AT_SEND: "at_send",
  TEMPLATES: "templates", EXPERIMENT: "experiment", SALT: "salt",
  HOLDOUT_BP: "holdout_bp", VARIANTS: "variants", WEIGHT_BP: "weight_bp",
  REVIEW_REASON: "review_reason", RISK: "risk", HIGH: "high",
  // field specs
  TYPE: "type", NULLABLE: "nullable", VALUES: "values", MIN: "min", MAX: "max", FORMAT: "format",
  HOLDOUT_REASON: "holdout_reason", F_SHA256: "sha256", F_ISO639_1: "iso-639-1", F_EMAIL: "email",
  TY_STRING: "string", TY_NUMBER: "number", TY_INTEGER: "integer", TY_BOOLEAN: "boolean",
  TY_TIMESTAMP: "timestamp", TY_DATE: "date", TY_STRING_ARR: "string[]", TY_NUMBER_ARR: "number[]",
  // quiet hours, plan lists
  START_MIN: "start_min", END_MIN: "end_min", KIND: "kind", SUPPRESSION: "suppression",
  MATCH: "match", MISSING: "missing", ALLOW: "allow",
  // compact suppression lists (compiler/ir/compact-list.ts): `format` value
  LIST_MURMUR3_64: "murmur3-64",
  // arbitration (step 5) and holdouts (step 6)
  CANDIDATE: "candidate", NOT_FOR_SYSTEM: "not_for_system", NOT_REQUESTED: "not_requested",
  OUTSIDE_VALIDITY_WINDOW: "outside_validity_window", OUTSIDE_ROLLOUT: "outside_rollout",
  LOWER_PRIORITY: "lower_priority", FALLBACK_NEXT: "fallback_next", ARBITRATION: "arbitration",
  FALLBACK: "fallback", ARB_ON: "on", ARB_NEXT: "next", EXHAUSTED_REASON: "exhausted_reason",
  K_QUIET_HOURS: "quiet-hours", K_VALIDITY: "validity", HOLDOUTS: "holdouts", CONTROL_REASON: "control_reason",
  TREATMENT_REASON: "treatment_reason",
  // the plan's reason table (docs/ir.md "Bundle data")
  REASON_TABLE: "reason_table",
  // node parts (docs/ir.md "Bundle data"): the node keys data.json may store as an index
  NODE_PARTS: "node_parts", TITLE: "title", SHAPE: "shape", PRIORITY: "priority",
  // result keys
  RESULT: "result", SUPPRESSED: "suppressed", VARIANT_SUFFIX: "#variant",
  // an encoded node without `rollout_salt` has its id and this (docs/ir.md "Bundle data")
  ROLLOUT_SUFFIX: "#rollout",
  // ABI objects, parsed from these texts on demand (ENTRYPOINTS_JSON: from the contract)
  BUILTINS_JSON: "{}",
  RS_OPEN: '[{"result":', RS_CLOSE: "}]",
  // abort messages (NUL-terminated by the generator; the SDK decodes them byte by byte)
  E_OOM: "waypost: out of memory",
  E_ENTRYPOINT: "waypost: invalid entrypoint id",
  E_ABORT: "waypost: runtime abort",
};
