/**
 * The compiler's diagnostic codes (what `waypost check` reports), with their severity, summary
 * and help, in the registry's entry type (runtime/codes.ts). Codes are stable and append-only:
 * never reuse or renumber one. Each has a fixture under test/fixtures/broken/ or is listed with
 * the test that produces it (test/support/code-tests.ts).
 *   WP00xx reading files · WP10xx document shape (JSON Schema) · WP20xx/21xx conditions
 *   WP30xx governance checks. The lifecycle's WP40xx (policy tests) and WP50xx (builds, Git,
 *   releases) are in lifecycle/codes.ts, which also joins every family into one registry.
 */
import { errorCode as e, warningCode as w, type CodeFamily, type CodeSpec } from "../runtime/codes.js";
import { CONDITION_CODES } from "./condition/codes.js";

export const FILE_CODES = {
  WP0001: e("the policy directory cannot be read (missing, not a directory, no permission)", "give the folder that holds `policies/` and `journeys/`, and check its permissions"),
  WP0002: e("a policy file cannot be read", "check the file's permissions; a file that disappears while it is read is reported too"),
  WP0003: e("a policy or data file is binary or not valid UTF-8", "policy files must be YAML text in UTF-8; remove binary files from `policies/` and `journeys/`"),
  WP0004: e("a policy or data file is too large", "split the file; large suppression lists belong in an `entries_file`, which has its own limit"),
  WP0005: e("no policy files found (nothing under policies/ or journeys/)", "run the command in the policy repository, or give its folder; policies live in `policies/*.yaml` and `journeys/*.yaml`"),
  WP0006: e("a suppression list's entries_file is missing or outside the repository", "create the file, or fix its path (relative to the policy file); data files must live inside the repository"),
  WP0007: e("a line in an entries_file is not `key` or `key,until`", "write one key per line, optionally followed by `,` and an expiry date such as `2027-03-31`"),
  WP0008: e("a symlinked file or folder resolves outside the repository (policy file, data file, `entries_file`)",
    "the compiler reads only files inside the policy repository: copy the file in, or point the link at a file inside the repository",
    "a warning for a listed file that is neither YAML nor a folder (nothing reads it)"),
  WP0009: e("not a regular file: a FIFO, socket or device, a symlink loop or a dangling symlink",
    "policy and data files must be regular files (or links to them inside the repository): fix or remove it",
    "a warning for a listed file that is neither YAML nor a folder (nothing reads it)"),
  WP0010: e("YAML syntax error", "fix the YAML at the position shown; indent with spaces, never tabs, and quote values that contain `: ` or start with a special character"),
  WP0011: e("the same key appears twice in one mapping", "remove or rename one of them: YAML keeps only one value per key"),
  WP0012: e("too many YAML alias expansions (alias bomb)", "YAML aliases (`*name`) may expand only a limited number of times per document; write the values out instead (the limit stops \"billion laughs\" files)"),
  WP0013: e("reserved key (`__proto__`, `constructor`, `prototype`)", "`__proto__`, `constructor` and `prototype` are reserved; rename the key"),
  WP0014: w("YAML warning (e.g. an unresolved tag)", "remove the tag (`!name`) or the construct the warning names; policy YAML uses plain values only"),
} as const satisfies Record<string, CodeSpec>;

export const SHAPE_CODES = {
  WP1001: e("missing or unknown `kind`, or the document is not a mapping", "start each document with `apiVersion: waypost/v1` and a `kind` such as `DataDictionary`, `Purposes`, `AccessPolicy`, `ContactPolicy` or `JourneyNode`"),
  WP1002: e("a required property is missing", "add the property the message names"),
  WP1003: e("unknown property", "check the spelling (the message suggests the closest property), or remove it; the editor schemas under `schemas/` list every property"),
  WP1004: e("a value has the wrong type", "give a value of the type the message names: a mapping, a list, text, a number or true/false"),
  WP1005: e("a value is not one of the allowed values", "use one of the values the message lists"),
  WP1006: e("a value has the wrong format or is out of range (duration, date, share, id...)", "write the value in the expected form the help shows, e.g. `30d`, `2026-03-31` or `25%`"),
  WP1007: e("a value matches none of the accepted forms", "write the value in one of the forms the help lists"),
  WP1008: e("a list repeats the same value", "remove the repeated entry"),
  WP1009: e("wrong `apiVersion` (must be `waypost/v1`)", "set `apiVersion: waypost/v1`"),
  WP1010: e("a mapping key is not a valid name (field name, id, jurisdiction, channel)", "use lowercase names with letters, digits, `_` and `-` (fields as `entity.name`), as the help describes"),
} as const satisfies Record<string, CodeSpec>;

export const GOVERNANCE_CODES = {
  WP3001: e("duplicate id (node, list, rule, eligibility rule, cap, quiet hours, cool-down)", "ids must be unique; rename one of them (the note shows the first one)"),
  WP3002: e("a required document (DataDictionary, Purposes) is missing", "add `policies/data-dictionary.yaml` (`kind: DataDictionary`) and `policies/purposes.yaml` (`kind: Purposes`)"),
  WP3003: e("a document kind that must be unique appears twice", "merge the two documents into one"),
  WP3010: e("unknown purpose", "use a purpose declared in the Purposes document (the message suggests the closest), or declare it there"),
  WP3011: e("unknown journey node", "use the `id` of a JourneyNode (the message suggests the closest)"),
  WP3012: e("unknown field (context, key, match, cool-down, field pattern)", "declare the field in the data dictionary, with its type, category, sensitivity, source and residency, or fix its spelling"),
  WP3013: e("unknown template", "declare the template under `templates:` in the AccessPolicy, or fix its id"),
  WP3014: e("unknown jurisdiction", "declare it under `jurisdictions:` in the Purposes document, or fix its spelling"),
  WP3016: w("a suppression list repeats an entry", "remove the repeated entry; the last one wins"),
  WP3017: e("a field has the wrong type for its role (key, match, consent, cool-down)", "change the field's type to the one the message names (keys and matches are strings, consent and withdrawal times timestamps, consented channel sets `string[]`)"),
  WP3018: e("a field's validation does not fit its type or role", "use `values` for text fields and `min`/`max` for numbers; the jurisdiction field must list every jurisdiction"),
  WP3019: e("a consent requirement names a consent field that the dictionary lacks", "declare the field in the data dictionary (a consent or withdrawal time as a `timestamp`, a channel set as `string[]`), or fix the name in the purpose's consent rules"),
  WP3020: e("data minimisation: a condition reads a field the node does not declare in `context`", "add the field to the node's `context:` list, so the request carries it and the review sees it"),
  WP3021: e("data minimisation: the node's purpose may not read a field (not allowed or denied)", "remove the read, or allow the field for the purpose in the AccessPolicy if the purpose really needs it"),
  WP3030: e("the node's lawful basis is not permitted for its purpose in any jurisdiction", "use a lawful basis the purpose permits (Purposes document), or change the purpose"),
  WP3031: w("the node's lawful basis is not permitted in some jurisdictions", "customers there will be denied; use a basis permitted everywhere, or accept the denial knowingly"),
  WP3032: e("a marketing purpose lacks a consent requirement where the jurisdiction requires consent", "add a consent requirement for each channel in those jurisdictions (the purpose's `consent:`)"),
  WP3033: e("a purpose relies on consent as lawful basis but never checks consent", "add a consent requirement to the purpose, or use another lawful basis"),
  WP3034: e("a marketing purpose has no restriction protecting minors where a minimum age applies", "add a restriction to the purpose, such as `when: customer.age < 18`"),
  WP3040: e("a high-risk node has no human review", "add `review: { team: ..., reason: ... }`: high-risk actions go to a person before they are sent"),
  WP3041: w("a review block on a node that is not high-risk", "set `risk: high` or remove `review`"),
  WP3050: e("a holdout, variant or rollout share is over 100%", "use a share from `0%` to `100%`"),
  WP3051: e("variant weights do not add up to 100%", "variant weights share out the treated customers; make them add up to exactly 100%"),
  WP3052: w("a share makes a node never fire or never treat anyone", "raise the rollout or lower the holdout, or remove the node"),
  WP3060: e("a channel is not on the allow-list or is on the deny-list", "pick an allowed channel (deny beats allow), or change the AccessPolicy's `channels`"),
  WP3061: e("a template is withdrawn or belongs to another channel", "use a current template of the channel"),
  WP3062: e("an offer is not on the allow-list or is on the deny-list", "pick an allowed offer, or change the AccessPolicy's `offers`"),
  WP3063: e("a channel has no template", "add `CHANNEL: <template id>` under `action.templates`"),
  WP3064: e("a template is longer than its channel allows", "shorten the template and update its `length`"),
  WP3065: e("a template lacks the opt-out footer its channel requires", "add an unsubscribe footer to the template and set `opt_out_footer: true`"),
  WP3066: w("a template is given for a channel the node does not use", "add the channel to the node's `channels`, or remove the template"),
  WP3070: e("a condition looks back further than the field's retention", "shorten the look-back, or lengthen the field's retention if the purpose allows keeping it that long"),
  WP3071: e("a system may process a field outside the field's residency", "allow the node only for systems in the field's residency regions, or change the residency"),
  WP3072: w("a high-risk field has no validation rules", "add `validation:` with `values`, `min`/`max` or `format`, so bad values are refused before they drive a decision"),
  WP3080: e("a suppression list or rule is keyed on a field a request may lack (optional or nullable) and does not say what a missing key means", "add `missing: suppress` (a customer without the key is treated as suppressed: the safe choice) or `missing: allow` (the list or rule then does not apply to that customer)"),
  WP3081: e("a suppression list's `zone` is not a zone of the time-zone database", "use an IANA zone name such as `Europe/London` (case-sensitive), or leave `zone` out: `until` dates then end at midnight UTC"),
  WP3090: w("two nodes fire on the same event with the same priority (ambiguous arbitration)", "give the nodes different priorities, so the choice between them does not depend on their ids"),
  WP3091: e("a node's validity window is empty", "`valid.from` must be earlier than `valid.until`"),
  WP3092: w("no system may request a node", "allow the node or its purpose for a system in the AccessPolicy, or remove the node"),
  WP3094: e("quiet hours start and end at the same time", "an empty window does nothing; fix `from` or `to`"),
  WP3096: e("a time-zone field lists no allowed zones, or a zone the time-zone database does not know", "list the allowed IANA zones under `validation: { values: [...] }` (e.g. `Europe/London`); only these are embedded in the bundle"),
  WP3095: w("a cap of 0 suppresses everything in its scope", "to stop a channel, deny it in the AccessPolicy instead"),
  WP3097: e("a consent's channel-set field depends on the channel", "`channels_field` names one `string[]` field per purpose listing the consented channels; use `{purpose}` only (e.g. `consent.{purpose}.channels`)"),
  WP3093: w("two holdouts or experiments share a salt, so their control groups are the same customers", "give each holdout and experiment its own salt, unless the groups are meant to coincide"),
  WP3098: e("an arbitration policy names an event no journey node fires on", "use the `trigger.event` of a journey node (the message suggests the closest), or remove the entry"),
  WP3099: w("an arbitration policy can have no effect (`on` with `fallback: none`, or an event with a single node)", "remove the entry, or set `fallback: next` with the blocks that may let the next node be tried"),
} as const satisfies Record<string, CodeSpec>;

export const COMPILER_FAMILIES: readonly CodeFamily[] = [
  { title: "WP00: reading files", about: "Reported by `waypost check` (and every command that compiles) while reading the policy repository.", codes: FILE_CODES },
  { title: "WP10: document shape", about: "Reported by `waypost check` when a YAML document does not match its JSON Schema (`schemas/`).", codes: SHAPE_CODES },
  { title: "WP20 and WP21: conditions", about: "Reported by `waypost check` for a condition: WP20xx syntax, WP21xx names and types.", codes: CONDITION_CODES },
  { title: "WP30: governance checks", about: "Reported by `waypost check` when the policies are well formed but break a governance rule.", codes: GOVERNANCE_CODES },
];

export type CompilerCode = keyof typeof FILE_CODES | keyof typeof SHAPE_CODES | keyof typeof CONDITION_CODES | keyof typeof GOVERNANCE_CODES;
