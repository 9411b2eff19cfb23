/**
 * The decision engine: evaluates a bundle's `policy.wasm` through the official OPA SDK and
 * turns every failure into a `deny` (fail closed).
 *
 * decision_id = "wpd_" + the first 32 hex digits of
 *   sha256("waypost.decision.v1\n" + revision + "\n" + canonicalJson(masked request)),
 * where the masked request is exactly what the decision log stores. Why this choice:
 *  - replay: the id is recomputable from a log entry alone, and from the original request by
 *    anyone holding it; re-running the request on the same revision gives the same id;
 *  - idempotency: a retried request (same `now`, same context) gets the same id, so senders
 *    can de-duplicate on it; the log still records each call under its own `seq`;
 *  - privacy: hashing the masked request (not the raw one) means the id reveals nothing a
 *    dictionary attack on a redacted field could recover; `hash` fields enter as keyed
 *    pseudonyms (`pseudonymKey`), so neither can one on them. Without a configured key the
 *    engine draws a random one: ids stay distinct per customer, but are stable only within
 *    that engine (configure the key for ids that agree across instances, restarts and replays).
 * No per-engine counter goes in: it would differ between the original process and a replay.
 * A request that is not JSON gets a random id (it cannot be replayed anyway).
 *
 * Swapping bundles: the new bundle is read, verified, instantiated, given its data and
 * self-checked before one reference assignment activates it; until then (and if anything
 * fails) the current bundle keeps serving. Swaps run one at a time, in call order. The
 * candidate's code first runs in a worker thread under a deadline (runtime/dry-run.ts), and
 * the load on this thread gets exactly the fuel it used there.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { AbiPolicy, BudgetExceeded, resolveBudget, type Budget } from "./abi.js";
import { readBundle, verificationChoice, type BundleContents, type Manifest } from "./bundle.js";
import { describeThrown, runtimeError, WaypostRuntimeError, type ErrorInfo } from "./errors.js";
import { canonicalJson, isJsonObject, sha256Hex, type JsonObject, type JsonValue } from "./json.js";
import type { PublicKeyInput } from "./keys.js";
import { createPseudonymiser, DecisionLog, keyId, maskedAndInputJson, maskedCanonicalJson, type FieldMasks, type LogEntry, type Pseudonymiser } from "./log.js";
import { DEFAULT_DRY_RUN_HEAP_MB, DEFAULT_LOAD_DEADLINE_MS, dryRunLoad, prepareDryRun, type DryRunOptions } from "./dry-run.js";
import { finishLoad, runLoad, startLoad, type LoadedModule, type StartedLoad } from "./load.js";
import type { TarLimits } from "./tar.js";
import { DECISION_KEYS, DECISION_NULLABLE_KEYS, ENTRYPOINTS, OUTCOMES, REASON_KEYS, RUNTIME_ERROR, type Decision, type PolicyDecision, type Reason } from "./contract.js";

interface Active {
  policy: AbiPolicy;
  /** Every entrypoint id, for `evaluate(id)`. */
  ids: ReadonlySet<number>;
  /** "waypost.decision.v1\n" + revision + "\n": the decision id's prefix. */
  idPrefix: string;
  revision: string;
  manifest: Manifest;
  signature: BundleContents["signature"];
  /** Whether the bundle's signature was verified (false when loaded with `skipVerify`). */
  verified: boolean;
  masks: FieldMasks;
  entrypoints: Readonly<Record<string, number>>;
  source: string;
  /**
   * The plan's reason table entries read so far (docs/ir.md "Decision (output)", compact form),
   * by index: each read from the module once, on first use, checked and frozen; decisions get
   * copies, log entries the entry itself (nobody can change it). A Map, not an array: the
   * indices are the entries' offsets in the module's data (millions apart in a large plan),
   * which put an array in V8's slow dictionary mode.
   */
  reasonTable: Map<number, TableReason>;
}

/** A reason table entry as kept: frozen, and whether copyReason copies it exactly. */
interface TableReason {
  readonly reason: Readonly<Reason>;
  /** Its keys are in REASON_KEYS order (as the Wasm library writes them). */
  readonly inOrder: boolean;
}

/** How bundles are verified: a key, or an explicit `skipVerify: true`; neither is refused (WPR018). */
export interface VerifyOptions {
  /** Require the bundle to be signed by this key (algorithm RS256 unless configured; see keys.ts). */
  publicKey?: PublicKeyInput;
  /** Load bundles without verifying their signature (OPA's `--skip-verify`); decisions record `verified: false`. */
  skipVerify?: boolean;
}

export interface EngineOptions extends VerifyOptions {
  /** Decision log: an open DecisionLog, or a path to open (the engine then owns and closes it). */
  log?: DecisionLog | string;
  /** With a log path: seal each unmasked request into its entry for exact replay (32 bytes). */
  replayKey?: Uint8Array;
  /** With a log path: the log key (32 bytes, kept apart from the log) that MACs every entry (runtime/log.ts). */
  logKey?: Uint8Array;
  /** With a log path and no logKey: write an unkeyed (plain hash chain) log, explicitly. */
  unkeyedLog?: boolean;
  /** Key (32 bytes) of the pseudonyms `mask: hash` fields become, in the log and the decision id; random per engine when absent. */
  pseudonymKey?: Uint8Array;
  limits?: TarLimits;
  /**
   * What one bundle may spend (runtime/meter.ts injects the metering at load). Fuel units ≈
   * Wasm instructions executed (an upper bound: calls and loop iterations pay for their whole
   * body; a load or store counts 64), plus one per 16 bytes of bulk memory operations. A
   * decision that runs out is a fail-closed deny; a load or swap that runs out is refused
   * (WPR021). Defaults: DEFAULT_BUDGET in runtime/abi.ts.
   */
  budget?: {
    /** Fuel for one evaluation (a decision, `evaluate`, the activation self-check). */
    decision?: number;
    /** Fuel for instantiation (the start function) and, again, for parsing data.json. */
    load?: number;
    /** Most 64 KiB pages the module's memory may grow to (16384 = 1 GiB). */
    memoryPages?: number;
  };
  /**
   * Wall-clock deadline (ms) of a candidate's dry run: its load (start function, data.json,
   * self-check) runs first in a worker thread while the active bundle keeps deciding; past the
   * deadline the worker is terminated and the load refused (WPR022). Default 30,000.
   */
  loadDeadlineMs?: number;
  /**
   * Which loads are dry-run first: "always" (default), or "swap": only while a bundle is
   * active, so the first load runs on this thread directly, bounded by the load budget alone,
   * which does not bound the SDK's own JavaScript (runtime/dry-run.ts): for a first bundle
   * the operator trusts to load (built in this process, say), to save the second load.
   */
  dryRun?: "swap" | "always";
  /** Heap limit (MiB) of the dry-run worker; Wasm memory is bounded by `budget.memoryPages`. A worker that runs out refuses the load (WPR023). Default 256. */
  dryRunHeapMb?: number;
}

export type SwapResult =
  | { activated: true; revision: string; previous: string | null }
  | { activated: false; error: ErrorInfo; /** still active, or null when none */ revision: string | null };

export type EvaluationResult =
  | { ok: true; /** undefined when the entrypoint is undefined for this input */ value: JsonValue | undefined; revision: string }
  | { ok: false; error: string; revision: string | null };

/**
 * Gives an object a private slot: the base constructor returns the object it was given, so a
 * subclass's private field lands on that object (invisible to keys, JSON, spread and equality).
 */
class Carrier {
  constructor(o: object) {
    return o;
  }
}

/**
 * `decision_id` computed on first read: an enumerable accessor, the same for every decision
 * (a per-decision getter made each decision cost ~1.5 µs more: V8 cannot share the shape), whose
 * computation waits in a private slot; read or written, it becomes a plain data property.
 */
class LazyId extends Carrier {
  readonly #compute: () => string;
  private constructor(o: object, compute: () => string) {
    super(o);
    this.#compute = compute;
  }
  static attach(d: DecisionCore, compute: () => string): Decision {
    new LazyId(d, compute);
    Object.defineProperty(d, "decision_id", LAZY_ID);
    return d as Decision;
  }
  static compute(o: object): string {
    return #compute in o ? (o as LazyId).#compute() : "";
  }
}

const settle = (o: object, v: string): void => {
  Object.defineProperty(o, "decision_id", { value: v, enumerable: true, writable: true, configurable: true });
};
const LAZY_ID: PropertyDescriptor = Object.freeze({
  enumerable: true,
  configurable: true,
  get(this: object): string {
    const id = LazyId.compute(this);
    settle(this, id);
    return id;
  },
  set(this: object, v: string): void {
    settle(this, v);
  },
});

/** A decision before its id is attached. */
type DecisionCore = Omit<Decision, "decision_id"> & { decision_id?: string };

/** The decision's fields other than its outcome and reasons, as a module result or a record carries them. */
type DecisionFields = Pick<Decision, "node" | "channel" | "template" | "offer" | "variant" | "send_at" | "explanation">;

/** The contract's decision from a checked module result, in the contract's key order (one shape for every decision). */
function coreOf(outcome: Decision["outcome"], r: DecisionFields, reasons: Decision["reasons"], active: Active): DecisionCore {
  return {
    outcome,
    node: r.node,
    channel: r.channel,
    template: r.template,
    offer: r.offer,
    variant: r.variant,
    send_at: r.send_at,
    reasons,
    explanation: r.explanation,
    revision: active.revision,
    verified: active.verified,
  };
}

/** The `deny` every failure turns into; `detail` says what failed. */
export function failClosedDecision(detail: string, revision: string, decisionId: string, verified = false): Decision {
  return {
    outcome: "deny",
    node: null,
    channel: null,
    template: null,
    offer: null,
    variant: null,
    send_at: null,
    reasons: [{ ...RUNTIME_ERROR, detail }],
    explanation: null,
    revision,
    verified,
    decision_id: decisionId,
  };
}

/**
 * A decision nobody else holds, for the log to serialise later: its values are strings, null
 * and a boolean but for `reasons` (objects of strings), which are copied one level down.
 */
function decisionCopy(d: Decision): JsonValue {
  const c = { ...d } as unknown as Record<string, JsonValue>;
  for (const k of Object.keys(c)) {
    const v = c[k];
    if (typeof v !== "object" || v === null) continue;
    c[k] = k === "reasons" && Array.isArray(v) ? v.map((r) => (isFlat(r) ? { ...(r as JsonObject) } : structuredClone(r))) : structuredClone(v);
  }
  return c;
}

/**
 * decisionCopy of a decision whose reasons the log already holds unchangeable (`reasons`: the
 * frozen reason table entries, copies of the others): the rest are strings, null and a boolean.
 */
function logCopy(d: Decision, reasons: readonly Readonly<Reason>[]): JsonValue {
  return {
    outcome: d.outcome,
    node: d.node,
    channel: d.channel,
    template: d.template,
    offer: d.offer,
    variant: d.variant,
    send_at: d.send_at,
    reasons: reasons as unknown as JsonValue[],
    explanation: d.explanation,
    revision: d.revision,
    verified: d.verified,
    decision_id: d.decision_id,
  };
}

function isFlat(r: JsonValue): boolean {
  if (!isJsonObject(r)) return false;
  for (const k in r) if (typeof r[k] === "object" && r[k] !== null) return false;
  return true;
}

const ID_DOMAIN = "waypost.decision.v1\n";
const idPrefix = (revision: string): string => ID_DOMAIN + revision + "\n";

export function decisionId(revision: string, maskedRequest: JsonValue): string {
  return "wpd_" + sha256Hex(idPrefix(revision) + canonicalJson(maskedRequest)).slice(0, 32);
}

const DECISION_KEY_SET: ReadonlySet<string> = new Set(DECISION_KEYS);
const REASON_KEY_SET: ReadonlySet<string> = new Set(REASON_KEYS);
const OUTCOME_SET: ReadonlySet<string> = new Set(OUTCOMES);
const strOrNull = (v: unknown): boolean => v === null || typeof v === "string";
const hasOwn = Object.prototype.hasOwnProperty;

/** Returns why `v` is not a decision (docs/ir.md "Decision"), or null when it is one. */
export function checkDecision(v: unknown): string | null {
  if (!isJsonObject(v)) return "not an object";
  // Runs on every decision: Set lookups and a key count instead of array scans; the messages
  // (and which problem is reported first) are as before.
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length; i++) if (!DECISION_KEY_SET.has(keys[i]!)) return `unexpected key \`${keys[i]!}\``;
  if (keys.length !== DECISION_KEYS.length) {
    for (const k of DECISION_KEYS) if (!(k in v)) return `missing \`${k}\``;
  }
  if (typeof v.outcome !== "string" || !OUTCOME_SET.has(v.outcome)) return "`outcome` is not a known outcome";
  for (const k of DECISION_NULLABLE_KEYS) {
    if (!strOrNull(v[k])) return `\`${k}\` is not a string or null`;
  }
  if (typeof v.revision !== "string") return "`revision` is not a string";
  const reasons = v.reasons;
  if (!Array.isArray(reasons)) return "`reasons` is not an array";
  for (let i = 0; i < reasons.length; i++) {
    const problem = checkReason(reasons[i], i);
    if (problem !== null) return problem;
  }
  return null;
}

/** Why `r` is not the reason at `reasons[i]` of a decision, or null when it is one. */
function checkReason(r: unknown, i: number): string | null {
  if (!isJsonObject(r)) return `\`reasons[${i}]\` is not an object`;
  for (const k of Object.keys(r)) if (!REASON_KEY_SET.has(k)) return `\`reasons[${i}]\` has unexpected key \`${k}\``;
  if (typeof r.code !== "string") return `\`reasons[${i}].code\` is not a string`;
  if (typeof r.policy !== "string") return `\`reasons[${i}].policy\` is not a string`;
  if (typeof r.message !== "string") return `\`reasons[${i}].message\` is not a string`;
  if (typeof r.source !== "string") return `\`reasons[${i}].source\` is not a string`;
  if (hasOwn.call(r, "channel") && typeof r.channel !== "string") return `\`reasons[${i}].channel\` is not a string`;
  if (hasOwn.call(r, "detail") && typeof r.detail !== "string") return `\`reasons[${i}].detail\` is not a string`;
  return null;
}

/** Whether a checked reason's keys are in REASON_KEYS order (then copyReason copies it exactly). */
function reasonInOrder(r: Readonly<Reason>): boolean {
  const keys = Object.keys(r);
  let at = 0;
  for (const k of keys) {
    while (at < REASON_KEYS.length && REASON_KEYS[at] !== k) at++;
    if (at === REASON_KEYS.length) return false;
    at++;
  }
  return true;
}

/** A checked reason's copy, keys in REASON_KEYS order; a literal, not a spread (a spread of a frozen object is ~10x slower). */
function copyReason(r: Readonly<Reason>): Reason {
  const c: Reason = { code: r.code, policy: r.policy, message: r.message, source: r.source };
  if (r.channel !== undefined) c.channel = r.channel;
  if (r.detail !== undefined) c.detail = r.detail;
  return c;
}

/**
 * Entry `x` of the reason table, read from the module on first use and then kept; undefined
 * when `x` is not an index the table has, or its entry is not a reason.
 */
function tableReason(active: Active, x: number, front?: ReasonFront): TableReason | undefined {
  if (!Number.isInteger(x) || x < 0 || x >= 2 ** 32) return undefined;
  const slot = x & (FRONT_SLOTS - 1); // the low bits (x < 2^32)
  if (front !== undefined && front.keys[slot] === x) return front.entries[slot];
  let entry = active.reasonTable.get(x);
  if (entry !== undefined) {
    if (front !== undefined) {
      front.keys[slot] = x;
      front.entries[slot] = entry;
    }
    return entry;
  }
  const text = active.policy.reasonText(x);
  const v: unknown = text === null ? null : JSON.parse(text);
  if (!isJsonObject(v) || checkReason(v, 0) !== null) return undefined;
  const reason = Object.freeze(v) as unknown as Readonly<Reason>;
  entry = { reason, inOrder: reasonInOrder(reason) };
  active.reasonTable.set(x, entry);
  return entry;
}

/**
 * A direct-mapped cache in front of an active bundle's reasonTable (slot: the index's low bits;
 * entries are kept for good, so a slot never goes stale): a large plan's decision names ~100
 * entries, and a Map lookup each was a third of what compactReasons cost.
 */
interface ReasonFront {
  readonly keys: Float64Array; // the index in each slot, -1 when none
  readonly entries: (TableReason | undefined)[];
}
const FRONT_SLOTS = 4096;
const fronts = new WeakMap<Map<number, TableReason>, ReasonFront>();

function frontOf(active: Active): ReasonFront {
  let f = fronts.get(active.reasonTable);
  if (f === undefined) {
    f = { keys: new Float64Array(FRONT_SLOTS).fill(-1), entries: new Array<TableReason | undefined>(FRONT_SLOTS).fill(undefined) };
    fronts.set(active.reasonTable, f);
  }
  return f;
}

const COMPACT_NULLABLE = DECISION_NULLABLE_KEYS;

/**
 * The compact decision `d` (docs/ir.md "Decision (output)") when it is exactly a decision as
 * the Wasm library writes it (DECISION_KEYS in order, reasons as table indices or reason
 * objects): the caller's reasons (copies) and, `forLog`, the log's (the frozen table entries,
 * copies of the others). Null for anything else, which the general path then explains.
 */
function compactReasons(active: Active, d: unknown, forLog: boolean): { reasons: Reason[]; logReasons: Readonly<Reason>[] | null } | null {
  if (!isJsonObject(d)) return null;
  const keys = Object.keys(d);
  if (keys.length !== DECISION_KEYS.length) return null;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== DECISION_KEYS[i]) return null;
  if (typeof d.outcome !== "string" || !OUTCOME_SET.has(d.outcome) || typeof d.revision !== "string") return null;
  for (let i = 0; i < COMPACT_NULLABLE.length; i++) if (!strOrNull(d[COMPACT_NULLABLE[i]!])) return null;
  const rs = d.reasons;
  if (!Array.isArray(rs)) return null;
  const reasons = new Array<Reason>(rs.length);
  // Only a logged decision needs them (a 10,000-node decision names ~100 reasons).
  const logReasons = forLog ? new Array<Readonly<Reason>>(rs.length) : null;
  const front = rs.length > 8 ? frontOf(active) : undefined; // a few reasons: the Map is as quick
  for (let i = 0; i < rs.length; i++) {
    const x = rs[i];
    if (typeof x === "number") {
      const entry = tableReason(active, x, front);
      if (entry === undefined) return null;
      reasons[i] = entry.inOrder ? copyReason(entry.reason) : ({ ...entry.reason } as Reason);
      if (logReasons !== null) logReasons[i] = entry.reason;
    } else {
      if (checkReason(x, i) !== null) return null;
      reasons[i] = x as unknown as Reason; // parsed here: nobody else holds it
      if (logReasons !== null) logReasons[i] = { ...(x as unknown as Reason) }; // string values only (checked)
    }
  }
  return { reasons, logReasons };
}

/**
 * A record's reason codes (docs/ir.md "Decision (output)", record form) resolved as
 * compactReasons resolves a compact decision's indices; null when one is not in the table.
 */
function codeReasons(active: Active, codes: readonly number[], forLog: boolean): { reasons: Reason[]; logReasons: Readonly<Reason>[] | null } | null {
  const reasons = new Array<Reason>(codes.length);
  const logReasons = forLog ? new Array<Readonly<Reason>>(codes.length) : null;
  const front = codes.length > 8 ? frontOf(active) : undefined;
  for (let i = 0; i < codes.length; i++) {
    const entry = tableReason(active, codes[i]!, front);
    if (entry === undefined) return null;
    reasons[i] = entry.inOrder ? copyReason(entry.reason) : ({ ...entry.reason } as Reason);
    if (logReasons !== null) logReasons[i] = entry.reason;
  }
  return { reasons, logReasons };
}

/**
 * Replaces, in the compact decision `d`, each reason given as an index into the plan's reason
 * table by a copy of that entry (read from the module on first use, then kept frozen). Returns
 * why it cannot (an index the table does not have, an entry that is not an object), or null;
 * anything else is left to checkDecision.
 */
function resolveReasons(active: Active, d: unknown): string | null {
  if (!isJsonObject(d) || !Array.isArray(d.reasons)) return null;
  const rs = d.reasons;
  for (let i = 0; i < rs.length; i++) {
    const x = rs[i];
    if (typeof x !== "number") continue;
    const entry = tableReason(active, x);
    if (entry === undefined) {
      // Not an index, or an entry that is not a reason: said as before (checkDecision's words for the latter).
      if (!Number.isInteger(x) || x < 0 || x >= 2 ** 32) return `\`reasons[${i}]\` is not an index into the reason table`;
      const text = active.policy.reasonText(x);
      const v: unknown = text === null ? null : JSON.parse(text);
      if (!isJsonObject(v)) return `\`reasons[${i}]\` is not an index into the reason table`;
      rs[i] = v;
      continue;
    }
    rs[i] = { ...entry.reason } as unknown as JsonObject;
  }
  return null;
}

function fieldMasks(plan: JsonValue): FieldMasks {
  const out: Record<string, { mask: string }> = {};
  const fields = isJsonObject(plan) ? plan.fields : undefined;
  if (isJsonObject(fields)) {
    for (const [k, spec] of Object.entries(fields)) {
      if (isJsonObject(spec) && typeof spec.mask === "string") out[k] = Object.freeze({ mask: spec.mask });
    }
  }
  // Frozen, entries too: the masked text keeps each field's mask once read (runtime/log.ts).
  return Object.freeze(out);
}

const NO_MASKS: FieldMasks = {};

const toErrorInfo = (e: unknown): ErrorInfo =>
  e instanceof WaypostRuntimeError ? e.toInfo() : { code: "WPR016", message: describeThrown(e) };

async function readSource(src: string | Uint8Array): Promise<Uint8Array> {
  if (typeof src !== "string") return src;
  try {
    return await readFile(src);
  } catch (e) {
    const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : describeThrown(e);
    throw runtimeError("WPR016", `cannot read bundle \`${src}\`: ${why}`);
  }
}

/**
 * A candidate's start step runs on this thread before its dry run has passed only when it took
 * at most this long in the worker: a candidate the dry run then refuses holds this thread about
 * that long (plus touching its data's memory, which costs about what its gunzip did), never the
 * deadline. A slower start step waits for the whole dry run, as every step did before.
 */
const EARLY_START_MS = 250;

async function prepare(src: string | Uint8Array, verify: VerifyOptions, limits: TarLimits | undefined, budget: Budget, dryRun: DryRunOptions | null): Promise<Active> {
  // The verification choice is checked before the bundle is read: refused without one.
  const key = verificationChoice(verify);
  // The dry run's worker starts while the bundle is read and checked here (our code, none of the candidate's).
  if (dryRun !== null) prepareDryRun(dryRun.heapMb);
  const bytes = await readSource(src);
  const contents = await readBundle(bytes, {
    ...(key === null ? { skipVerify: true } : { publicKey: { key: key.key, alg: key.alg, keyid: key.keyid, scope: key.scope } }),
    ...(limits ? { limits } : {}),
  });
  const eps = { decide: ENTRYPOINTS.decide, named: contents.manifest.wasm.map((w) => w.entrypoint) };
  let loaded: LoadedModule;
  if (dryRun === null) {
    loaded = await runLoad(contents.wasm, contents.dataBytes, eps, budget);
  } else {
    // The candidate's code runs first in a worker (this thread keeps deciding), then here on
    // exactly the fuel it used there, each step once the worker has finished it; a refusal
    // there is the one it would meet here. The worker is lent the gunzip output (ours alone:
    // readBundle's files are views into it) and hands it back, so a large data.json is not
    // copied for it. Once its start step is done, that step runs here too (when it was quick:
    // EARLY_START_MS) and the memory the data needs is touched, so its page faults (3 ms per MB
    // on the reference machine) overlap the worker's load instead of following it.
    const wasm = new Uint8Array(contents.wasm); // kept here while the worker has the buffer
    const size = contents.dataBytes.byteLength;
    let early: Promise<StartedLoad> | null = null;
    const onStarted = (start: number, ms: number): void => {
      if (ms > EARLY_START_MS) return;
      early = startLoad(wasm, eps, budget, start).then((s) => {
        s.policy.prefaultData(size);
        return s;
      });
      // Awaited below when the dry run passes; a refusal there leaves it unread.
      early.catch(() => undefined);
    };
    const r = await dryRunLoad({ wasm: contents.wasm, data: contents.dataBytes, entrypoints: eps, budget }, { ...dryRun, lend: true, onStarted });
    if (!r.ok) throw new WaypostRuntimeError(r.error.code, r.error.message);
    const data = r.lent?.data ?? contents.dataBytes;
    const started = await (early ?? startLoad(wasm, eps, budget, r.fuel.start));
    if (started.start !== r.fuel.start) throw runtimeError("WPR023", "bundle load dry run failed: its start step's fuel was reported twice, differently");
    loaded = finishLoad(started, data, r.fuel);
  }
  const { policy, entrypoints, probe } = loaded;
  const result = Array.isArray(probe) && probe.length === 1 && isJsonObject(probe[0]) ? probe[0].result : undefined;
  const problem = checkDecision(result);
  if (problem !== null) throw runtimeError("WPR017", `policy.wasm failed its self-check: decision ${problem}`);
  if (isJsonObject(result) && result.outcome !== "deny") {
    throw runtimeError("WPR017", "policy.wasm failed its self-check: an empty request was not denied");
  }
  const revision = contents.manifest.revision;
  return {
    policy,
    ids: new Set(Object.values(entrypoints)),
    idPrefix: idPrefix(revision),
    revision,
    manifest: contents.manifest,
    signature: contents.signature,
    verified: contents.signature !== null,
    masks: fieldMasks({ fields: contents.planFields ?? null }),
    entrypoints,
    source: typeof src === "string" ? src : "<bytes>",
    reasonTable: new Map(),
  };
}

export class Engine {
  private active: Active | null = null;
  private swapping: Promise<unknown> = Promise.resolve();
  private readonly verify: VerifyOptions;
  private readonly limits: TarLimits | undefined;
  private readonly budget: Budget;
  private readonly dryRun: DryRunOptions;
  /** Dry-run the first load too (`dryRun: "always"`). */
  private readonly dryRunFirstLoad: boolean;
  private logHandle: DecisionLog | null = null;
  private ownsLog = false;
  private readonly pseudonyms: Pseudonymiser;

  constructor(options: Omit<EngineOptions, "log"> & { log?: DecisionLog } = {}) {
    this.pseudonyms = options.pseudonymKey !== undefined ? createPseudonymiser(options.pseudonymKey) : createPseudonymiser(randomBytes(32), { ephemeral: true });
    // A bad key, or both a key and skipVerify, is refused at once; neither is refused when a
    // bundle is loaded (a swap may still bring its own key).
    if (options.publicKey !== undefined || options.skipVerify === true) verificationChoice(options);
    this.verify = { ...(options.publicKey !== undefined ? { publicKey: options.publicKey } : {}), ...(options.skipVerify === true ? { skipVerify: true } : {}) };
    this.limits = options.limits;
    this.budget = resolveBudget(options.budget);
    const deadlineMs = options.loadDeadlineMs ?? DEFAULT_LOAD_DEADLINE_MS;
    if (typeof deadlineMs !== "number" || !(deadlineMs > 0) || deadlineMs > 2 ** 31 - 1) throw new RangeError(`loadDeadlineMs must be a positive number of milliseconds (at most 2^31 - 1), got ${String(deadlineMs)}`);
    const heapMb = options.dryRunHeapMb ?? DEFAULT_DRY_RUN_HEAP_MB;
    if (!Number.isSafeInteger(heapMb) || heapMb < 1) throw new RangeError(`dryRunHeapMb must be a positive integer (MiB), got ${String(heapMb)}`);
    if (options.dryRun !== undefined && options.dryRun !== "swap" && options.dryRun !== "always") throw new RangeError(`dryRun must be "swap" or "always", got ${String(options.dryRun)}`);
    this.dryRun = { deadlineMs, heapMb };
    this.dryRunFirstLoad = options.dryRun !== "swap";
    if (options.log !== undefined) this.logHandle = options.log;
  }

  /** @internal used by loadBundle when it opened the log itself. */
  attachLog(log: DecisionLog, owned: boolean): void {
    this.logHandle = log;
    this.ownsLog = owned;
  }

  get log(): DecisionLog | null {
    return this.logHandle;
  }

  /** Revision of the active bundle, or null when none is loaded. */
  get revision(): string | null {
    return this.active?.revision ?? null;
  }

  get manifest(): Manifest | null {
    return this.active?.manifest ?? null;
  }

  /** The verified signature of the active bundle (null when unsigned or not verified). */
  get signature(): BundleContents["signature"] {
    return this.active?.signature ?? null;
  }

  /** Whether the active bundle's signature was verified (false with `skipVerify` or no bundle). */
  get verified(): boolean {
    return this.active?.verified ?? false;
  }

  get entrypoints(): Readonly<Record<string, number>> {
    return this.active?.entrypoints ?? {};
  }

  /**
   * Decides. Never throws: any failure is a `deny` with a `runtime-error` reason. With a log,
   * the entry is queued before this returns (ordered by call); use `decideDurable` (or
   * `flush`) to wait until it is on disk. Once the log has failed, every decision is denied.
   */
  decide(request: unknown): Decision {
    return this.decideInternal(request, false).decision;
  }

  /** `decide`, resolving once the log entry is durable; a log failure turns it into a deny. */
  async decideDurable(request: unknown): Promise<Decision> {
    const { decision, logged } = this.decideInternal(request, true);
    if (logged === null) return decision;
    try {
      await logged;
      return decision;
    } catch (e) {
      return failClosedDecision(`decision log write failed: ${describeThrown(e)}`, decision.revision, decision.decision_id, decision.verified);
    }
  }

  /** Waits until every logged decision so far is durable; rejects if the log has failed. */
  async flush(): Promise<void> {
    if (this.logHandle === null) return;
    await this.logHandle.flush();
    if (this.logHandle.error !== null) throw this.logHandle.error;
  }

  /** `wait`: the caller waits for the entry (a promise); otherwise it is only queued. */
  private decideInternal(request: unknown, wait: boolean): { decision: Decision; logged: Promise<LogEntry> | null } {
    const active = this.active;
    const revision = active?.revision ?? "";
    const masks = active?.masks ?? NO_MASKS;
    const prefix = active?.idPrefix ?? idPrefix(revision);
    let core: DecisionCore;
    let logReasons: readonly Readonly<Reason>[] | null = null;
    // With a log, the masked text and the module's input are written in one pass when the
    // request allows (null otherwise: both are then written apart, as without a log).
    let texts: { masked: string; input: string } | null = null;
    if (active === null) core = failClosedDecision("no bundle is loaded", revision, "");
    else if (this.logHandle?.error) core = failClosedDecision(`decision log unavailable: ${this.logHandle.error.message}`, revision, "");
    else {
      if (this.logHandle !== null) texts = maskedAndInputJson(request, masks, this.pseudonyms);
      const ev = this.evaluateDecision(active, request, texts?.input);
      core = ev.decision;
      logReasons = ev.logReasons;
    }
    // Set by the runtime, never by the module (checkDecision refuses the key in Wasm output).
    core.verified = active?.verified ?? false;
    if (this.logHandle === null) {
      // Without a log nobody needs the id yet: it is computed (once) when first read, which
      // keeps a third of the per-decision cost off callers that never look at it.
      const pseudonyms = this.pseudonyms;
      const decision = LazyId.attach(core, () => {
        try {
          // The masked request's canonical text straight from the request (no masked object):
          // equal to canonicalJson(maskRequest(request, masks)), what decisionId hashes. Throws
          // for a request that is not JSON.
          return "wpd_" + sha256Hex(prefix + maskedCanonicalJson(request, masks, pseudonyms)).slice(0, 32);
        } catch {
          return "wpd_" + sha256Hex(randomUUID()).slice(0, 32); // not JSON: nothing to replay anyway
        }
      });
      return { decision, logged: null };
    }
    // The masked request's canonical text serves both the id and the entry (its `request`).
    let maskedText: string;
    let id: string;
    try {
      maskedText = texts?.masked ?? maskedCanonicalJson(request, masks, this.pseudonyms);
      id = "wpd_" + sha256Hex(prefix + maskedText).slice(0, 32);
    } catch (e) {
      // Not JSON: nothing to replay or log faithfully.
      return { decision: failClosedDecision(`request is not JSON: ${describeThrown(e)}`, revision, "wpd_" + sha256Hex(randomUUID()).slice(0, 32), core.verified), logged: null };
    }
    core.decision_id = id;
    const decision = core as Decision;
    // The log encodes the entry (MAC, line) off this path: it gets a copy the caller cannot change.
    const ts = isJsonObject(request) && typeof request.now === "string" ? request.now : null;
    const snapshot = logReasons !== null ? logCopy(decision, logReasons) : decisionCopy(decision);
    const entry = { decision_id: id, revision, ts, decision: snapshot, replay: request, requestText: maskedText, owned: true as const };
    if (!wait) {
      this.logHandle.enqueue(entry); // a failure is kept in log.error and denies what follows
      return { decision, logged: null };
    }
    const logged = this.logHandle.append(entry);
    logged.catch(() => undefined); // the failure is kept in log.error and denies what follows
    return { decision, logged };
  }

  /**
   * The decision on `request` (its id not attached yet), and, when it came out of the compact
   * call, reasons for the log that nobody can change (null: the log copies the decision's).
   * `written`: the request's JSON text when the caller has it (maskedAndInputJson).
   */
  private evaluateDecision(active: Active, request: unknown, written?: string): { decision: DecisionCore; logReasons: readonly Readonly<Reason>[] | null } {
    let input: string | undefined = written;
    try {
      input ??= JSON.stringify(request);
    } catch (e) {
      return { decision: failClosedDecision(`request is not JSON: ${describeThrown(e)}`, active.revision, ""), logReasons: null };
    }
    try {
      let d: unknown;
      if (active.policy.compact) {
        if (active.policy.record) {
          // The record form: the fields read in place, reasons as compact codes (no JSON).
          const rec = active.policy.decideRecord(input);
          if (typeof rec !== "string") {
            const fast = rec.outcome < OUTCOMES.length ? codeReasons(active, rec.reasons, this.logHandle !== null) : null;
            if (fast !== null) return { decision: coreOf(OUTCOMES[rec.outcome]!, rec, fast.reasons, active), logReasons: fast.logReasons };
            // The general path below says what is wrong (an unknown outcome or reason code).
            d = {
              outcome: OUTCOMES[rec.outcome] ?? rec.outcome,
              node: rec.node,
              channel: rec.channel,
              template: rec.template,
              offer: rec.offer,
              variant: rec.variant,
              send_at: rec.send_at,
              reasons: rec.reasons,
              explanation: rec.explanation,
              revision: active.revision,
            };
          } else d = JSON.parse(rec); // a decision the record cannot carry: its compact JSON
        } else {
          // The compact form: a reason of the plan's reason table comes as its index.
          d = JSON.parse(active.policy.decideCompact(input));
        }
        const fast = compactReasons(active, d, this.logHandle !== null);
        if (fast !== null) {
          // compactReasons checked every key: what checkDecision checks, reasons included.
          return { decision: coreOf((d as unknown as PolicyDecision).outcome, d as unknown as PolicyDecision, fast.reasons, active), logReasons: fast.logReasons };
        }
        // Anything else takes the general path below, which says what is wrong.
        const bad = resolveReasons(active, d);
        if (bad !== null) return this.failed(`policy.wasm returned an invalid decision: ${bad}`, active);
      } else {
        const rs = active.policy.evaluate(input, 0);
        if (!Array.isArray(rs)) return this.failed("policy.wasm returned no result set", active);
        if (rs.length === 0) return this.failed(`\`${ENTRYPOINTS.decide}\` is undefined for this request`, active);
        const first: unknown = rs[0];
        if (rs.length !== 1 || !isJsonObject(first)) return this.failed("policy.wasm returned a malformed result set", active);
        d = first.result;
      }
      // Resolved or not, the decision is checked as a whole: a table entry is a reason too.
      const problem = checkDecision(d);
      if (problem !== null) return this.failed(`policy.wasm returned an invalid decision: ${problem}`, active);
      const r = d as unknown as Decision;
      return { decision: coreOf(r.outcome, r, r.reasons, active), logReasons: null };
    } catch (e) {
      // A budget stop says so ("evaluation exceeded its budget of N fuel units"); the next decision starts afresh.
      return this.failed(e instanceof BudgetExceeded ? e.message : `evaluation failed: ${describeThrown(e)}`, active);
    }
  }

  private failed(detail: string, active: Active): { decision: DecisionCore; logReasons: null } {
    return { decision: failClosedDecision(detail, active.revision, ""), logReasons: null };
  }

  /**
   * Evaluates another entrypoint (`waypost/suppressed`, `waypost/consent`, or an id). Never
   * throws. The step entrypoints return the `deny` decision object when an early step fails:
   * check the shape before trusting `suppressed`/`channels`.
   */
  evaluate(entrypoint: string | number, input: unknown): EvaluationResult {
    const active = this.active;
    if (active === null) return { ok: false, error: "no bundle is loaded", revision: null };
    const id = typeof entrypoint === "number" ? entrypoint : hasOwn.call(active.entrypoints, entrypoint) ? active.entrypoints[entrypoint] : undefined;
    if (id === undefined || !active.ids.has(id)) {
      return { ok: false, error: `unknown entrypoint \`${String(entrypoint)}\``, revision: active.revision };
    }
    try {
      const rs = active.policy.evaluate(JSON.stringify(input), id);
      if (!Array.isArray(rs)) return { ok: false, error: "policy.wasm returned no result set", revision: active.revision };
      if (rs.length === 0) return { ok: true, value: undefined, revision: active.revision };
      const first: unknown = rs[0];
      if (rs.length !== 1 || !isJsonObject(first) || !("result" in first)) {
        return { ok: false, error: "policy.wasm returned a malformed result set", revision: active.revision };
      }
      return { ok: true, value: first.result, revision: active.revision };
    } catch (e) {
      return { ok: false, error: e instanceof BudgetExceeded ? e.message : `evaluation failed: ${describeThrown(e)}`, revision: active.revision };
    }
  }

  /**
   * Activates another bundle (path or bytes) once it is fully loaded and self-checked; on any
   * failure the current bundle stays active and the result says why. Never throws.
   */
  swap(src: string | Uint8Array, options: VerifyOptions = {}): Promise<SwapResult> {
    // A swap's own choice (key or skipVerify) replaces the engine's; neither falls back to it.
    const verify = options.publicKey !== undefined || options.skipVerify === true ? options : this.verify;
    const run = async (): Promise<SwapResult> => {
      const previous = this.active?.revision ?? null;
      try {
        const dryRun = this.active !== null || this.dryRunFirstLoad ? this.dryRun : null;
        const next = await prepare(src, verify, this.limits, this.budget, dryRun);
        this.active = next;
        return { activated: true, revision: next.revision, previous };
      } catch (e) {
        return { activated: false, error: toErrorInfo(e), revision: previous };
      }
    };
    const result = this.swapping.then(run, run);
    this.swapping = result;
    return result;
  }

  /** Flushes and (when the engine opened it) closes the log. */
  async close(): Promise<void> {
    if (this.logHandle === null) return;
    await this.logHandle.flush();
    if (this.ownsLog) await this.logHandle.close();
  }
}

/** An engine with no bundle yet: every decision is a fail-closed deny until `swap` succeeds. */
export function createEngine(options: Omit<EngineOptions, "log"> & { log?: DecisionLog } = {}): Engine {
  return new Engine(options);
}

/**
 * Loads a bundle (path or bytes) into a new engine. Throws WaypostRuntimeError (WPR0xx for the
 * bundle, WPL0xx for the log) when it cannot: there is no last good bundle to fall back to.
 */
export async function loadBundle(src: string | Uint8Array, options: EngineOptions = {}): Promise<Engine> {
  const { log, ...rest } = options;
  const engine = new Engine(rest);
  const r = await engine.swap(src);
  if (!r.activated) throw new WaypostRuntimeError(r.error.code, r.error.message);
  if (typeof log === "string") {
    if (rest.logKey !== undefined && rest.pseudonymKey !== undefined && keyId(rest.logKey) === keyId(rest.pseudonymKey)) {
      throw new WaypostRuntimeError("WPL011", "the pseudonymisation key and the log key must differ: one key, one purpose");
    }
    const keying = rest.logKey !== undefined ? { key: rest.logKey } : rest.unkeyedLog === true ? { unkeyed: true } : {};
    engine.attachLog(await DecisionLog.open(log, { ...keying, ...(rest.replayKey ? { replayKey: rest.replayKey } : {}) }), true);
  }
  else if (log !== undefined) engine.attachLog(log, false);
  return engine;
}
