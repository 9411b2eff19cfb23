/**
 * The lifecycle's diagnostic codes (WP40xx policy tests, WP50xx builds, Git and releases) and
 * the one registry of every code family: the compiler's (compiler/codes.ts), the lifecycle's
 * and the runtime's (runtime/codes.ts), in the entry type of runtime/codes.ts. docs/codes.md is
 * generated from REGISTRY (`npm run docs:codes`); SARIF links each rule to its section there.
 * Codes are stable and append-only: never reuse or renumber one.
 */
import { COMPILER_FAMILIES } from "../compiler/codes.js";
import { PROJECT_URL } from "../compiler/version.js";
import { errorCode as e, registryOf, RUNTIME_FAMILIES, warningCode as w, type CodeEntry, type CodeFamily, type CodeSpec } from "../runtime/codes.js";

export const TEST_CODES = {
  WP4001: e("a test file does not have the shape of a `PolicyTests` document (missing, unknown or mistyped property)", "fix the property the message names; a case has a `name` and either `expect:` (the decision you expect) or a `table:` of rows"),
  WP4002: e("a test names an unknown journey node", "use the `id` of a JourneyNode (the message suggests the closest)"),
  WP4003: e("a test names a field that is not in the data dictionary", "every context field must be declared in the data dictionary; fix the name or declare the field"),
  WP4004: w("a test's context value does not fit its field (type, allowed values, range)", "give a value the field's type and validation accept, unless the case tests that a bad value is refused"),
  WP4005: w("a test names an unknown calling system or event (not reported when the case expects `deny`)", "use a system of the AccessPolicy and an event a journey node fires on, or expect `deny`"),
  WP4006: e("a table row has the wrong number of cells, or a column cannot be expected", "write one value per column; only decision fields can be expected columns (the help lists them), reasons go in the case's `expect:`"),
  WP4007: e("duplicate case name or invariant id (or an invariant named like a built-in one)", "rename one of them, so a failure names exactly one case or invariant"),
  WP4008: e("an expected reason is no reason code or policy id these policies can produce", "write a reason code such as `suppressed` or a policy id such as `suppression/fraud` (the message suggests the closest)"),
  WP4009: e("a case names an unknown invariant", "use the id of a built-in invariant or one declared under `invariants:`"),
  WP4010: e("a time in a test (`now`, `send_at`, a history entry) is not a valid RFC 3339 time", "write an RFC 3339 timestamp with its zone, such as `2026-11-25T10:00:00Z`"),
  WP4011: w("no test files under `tests/` (only the built-in invariants are checked)", "add `tests/*.yaml` files of `kind: PolicyTests` with example cases"),
  WP4012: e("a case's request has no `system`, `event` or `now` (neither in the case nor in `defaults`)", "give them in the case, or once for the file under `defaults:`"),
} as const satisfies Record<string, CodeSpec>;

export const PROOF_CODES = {
  WP4101: e("a guarantee is refuted: a request breaks it, replayed on the Wasm bundle and the reference interpreter", "save the printed case under tests/, fix the policy until `waypost test` passes on it, then run `waypost prove` again"),
  WP4102: w("a guarantee is neither proved nor refuted (solver time-out, an encoding that is not exact, or a model that does not replay)", "read the reason; raise `--timeout` for a time-out; docs/prove.md lists what the encoding abstracts"),
  WP4103: w("a journey node can never deliver on a channel, for any request (dead trigger, contradictory eligibility, gates that always block)", "check the node's trigger, eligibility and gates against the data dictionary; remove the channel or the node if it is meant never to fire"),
  WP4104: w("a journey can deliver in a frequency cap's scope when the customer's history already reached the cap: the cap does not bound all journeys together", "add the cap to that node's scope (its channel or purpose), or give the node its own cap; the printed request is the witness"),
} as const satisfies Record<string, CodeSpec>;

export const GIT_CODES = {
  WP5001: e("not a Git repository (or the folder does not exist)", "give the folder of a Git repository, or run `git init` there"),
  WP5002: e("unknown or unusable revision (ref, commit id, `~`/`^` step), or a repository without commits", "give a branch, a tag or a commit id, e.g. `main` or `HEAD~1`; list them with `git log --oneline --all`"),
  WP5003: e("the revision or history reaches past a shallow clone's boundary", "fetch the full history with `git fetch --unshallow` (in CI: `fetch-depth: 0`)"),
  WP5004: e("the Git repository is corrupt (an object, tree or ref cannot be read)", "run `git fsck` to see what is damaged, or clone the repository again"),
  WP5005: e("uncommitted changes to policy files refuse a release build (without `--allow-dirty`)", "commit them (a release must come from a commit), or pass `--allow-dirty` to build the working tree, marked dirty"),
  WP5006: e("a revision to build, diff or release has policy errors", "run `waypost build --rev REV` to see them all, fix them and commit"),
  WP5007: e("a bundle file cannot be read or is not a Waypost bundle", "give a bundle file written by `waypost build`, or a Git revision"),
  WP5008: e("a decision log line is not a decision entry, or the log cannot be read", "give a log written by the Waypost runtime (`--log decisions.jsonl`); check it with `waypost log verify`"),
  WP5009: e("the artifact store cannot be read or written (missing, corrupt index, locked)", "create a store with `waypost release --store DIR`, check its permissions, or restore its index from a backup"),
  WP5010: e("the revision is not in the artifact store", "release it first (`waypost release --rev REV`), or list the releases with `waypost rollback --list`"),
  WP5011: e("there is no earlier release to roll back to", "give the revision to roll back to with `--to REV`"),
  WP5012: e("no commit defines the journey node", "check the node id (the `id:` of a JourneyNode document) and the revision"),
  WP5013: w("a holdout's or experiment's salt or share changed: customers move between control and treatment", "a moved customer's earlier and later decisions belong to different groups, which biases the comparison; keep salt and share for the life of the measurement, or start a new holdout (new id and salt) and analyse the two separately"),
} as const satisfies Record<string, CodeSpec>;

export type LifecycleCode = keyof typeof TEST_CODES | keyof typeof PROOF_CODES | keyof typeof GIT_CODES;

export const LIFECYCLE_FAMILIES: readonly CodeFamily[] = [
  { title: "WP40: policy tests", about: "Reported by `waypost test` for the test files under `tests/`.", codes: TEST_CODES },
  { title: "WP41: proofs", about: "Reported by `waypost prove` (and its cadence findings by `waypost check --strict`).", codes: PROOF_CODES },
  { title: "WP50: builds, Git and releases", about: "Reported by `waypost build --rev`, `diff`, `replay`, `release`, `rollback` and `history`.", codes: GIT_CODES },
];

/** Every family, in the order of docs/codes.md. */
export const FAMILIES: readonly CodeFamily[] = [...COMPILER_FAMILIES, ...LIFECYCLE_FAMILIES, ...RUNTIME_FAMILIES];

/** Every code Waypost reports, by code. */
export const REGISTRY: ReadonlyMap<string, CodeEntry> = registryOf(FAMILIES);

/** The page generated from the registry, as a path in the repository. */
export const CODES_PAGE = "docs/codes.md";

/** Where a code is documented: its section of docs/codes.md in the project repository. */
export const codeDocsUrl = (code: string): string => `${PROJECT_URL}/blob/main/${CODES_PAGE}#${code.toLowerCase()}`;
