/**
 * The decision log: append-only JSON Lines whose integrity is keyed.
 *
 * Keyed entries (format 2, written when the log is opened with a log key):
 *   {v: 2, seq, ts, decision_id, revision, request, decision, sealed?, erased?, kid, prev, mac}
 * `mac` = HMAC-SHA256(log key, "waypost.log.v2\n" + prev + "\n" + canonicalJson(commitment)),
 * where `prev` is the previous entry's mac (64 zeros for the first) and the commitment is
 * {v, kid, seq, ts, decision_id, revision, request: sha256(canonicalJson(request)), decision,
 * sealed: sha256(sealed) | null}. Nobody without the key can compute a MAC, so an edit, deletion,
 * insertion or reordering shows at verification even when everything after it was rewritten.
 * The request and the sealed copy enter the MAC by digest only, so that an erasure can remove
 * them while every MAC still verifies (`eraseFromLog`). `kid` names the key (a digest of it):
 * a wrong key is reported as such, not as tampering.
 *
 * A chain cannot show that its end was cut. After each group commit the writer replaces the
 * sidecar FILE.head, {v, kid, seq, mac, tag} with tag = HMAC(key, "waypost.log.head.v2\n"…),
 * atomically (temp file, fsync, rename), and verification requires the log to reach the head's
 * entry. The head is written after the log's fsync: it may lag the log by the commit in flight
 * (a crash then leaves it one commit behind), never lead it. Someone who can cut the log AND
 * put back an older head file goes unnoticed: anchor heads elsewhere too (`verifyLog({head})`).
 *
 * Unkeyed entries (format 1: only with `unkeyed: true`, and how logs were written before): the
 * same entry without v/kid/mac, with `hash` = SHA-256 of the canonical entry and `prev` the
 * previous hash. Anyone can recompute such a chain after an edit; verification says so.
 *
 * One writer per log: `open` takes FILE.lock (created atomically, holding the writer's pid, host
 * and start time; a lock whose process no longer runs on this host is stale and taken over),
 * then verifies the whole log, streamed, before it positions after the last entry: a damaged log
 * is never appended to. Durability: O_APPEND, and `append()` resolves once the line is written
 * and fsync'd; appends issued while a write is in flight are group-committed. A last line
 * without its newline (a crash mid-write) is reported (WPL001) and never overwritten.
 *
 * Off the caller's path: an `owned` append (the engine's) hands over the masked request's
 * canonical text and a private copy of the decision, both taken when it decided, and gets its
 * seq at once; the MAC, the chain link and the line are computed when the writer next runs,
 * in seq order, before the group's write (`head` computes them at once when read). What is
 * written and what the MAC proves are exactly as above. `Engine.decide` queues its entry
 * without waiting (`enqueue`), as OPA's decision logger buffers events: a crash can lose
 * entries not yet written, which no caller was told were durable; `decideDurable` (and
 * `flush`) still resolve only once the entry is fsync'd. Lines carry the request and decision
 * as their canonical JSON (keys sorted; the same values).
 *
 * Masking: `hash` fields become pseudonyms "hmac:<kid>:<hex>", HMAC-SHA256 under a
 * pseudonymisation key kept apart from the log: nobody can reverse them by trying values.
 */
import { link, open, readFile, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { createReadStream, readFileSync, unlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { hostname } from "node:os";
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import { canonicalJson, isJsonObject, quote, sha256Hex, sortedKeys, type JsonValue } from "./json.js";
import { describeThrown, runtimeError, WaypostRuntimeError, type RuntimeErrorCode } from "./errors.js";

export const GENESIS_HASH = "0".repeat(64);

interface EntryBase {
  seq: number;
  /** The request's `now` (decision time), or null when the request had none. */
  ts: string | null;
  decision_id: string;
  revision: string;
  /** The request with context values masked (see `maskRequest`). */
  request: JsonValue;
  decision: JsonValue;
  /**
   * The unmasked request, sealed (AES-256-GCM) with the operator's replay key, when the log was
   * opened with one: `waypost replay --replay-key` can then re-evaluate it exactly, while the
   * readable `request` stays masked. Bound to this entry (seq, decision_id, revision).
   */
  sealed?: string;
  /** The previous entry's `mac` (keyed) or `hash` (unkeyed); 64 zeros for the first entry. */
  prev: string;
}

/** What an erasure left in an entry: the digests the MAC needs, and its own MAC. */
export interface Erasure {
  /** When the entry was erased (ISO 8601). */
  at: string;
  /** SHA-256 of the canonical request as it was logged. */
  request: string;
  /** SHA-256 of the sealed copy as it was logged, or null when there was none. */
  sealed: string | null;
  /** HMAC under the log key over the entry's mac, `at` and the erased request. */
  mac: string;
}

export interface KeyedLogEntry extends EntryBase {
  v: 2;
  /** Present once the entry was erased: its pseudonyms and sealed copy are gone. */
  erased?: Erasure;
  /** Key id of the log key (see `keyId`). */
  kid: string;
  mac: string;
}

export interface UnkeyedLogEntry extends EntryBase {
  v?: undefined;
  hash: string;
}

export type LogEntry = KeyedLogEntry | UnkeyedLogEntry;

/** The link the next entry's `prev` must equal: `mac` or `hash`. */
export const entryLink = (e: LogEntry): string => (e.v === 2 ? e.mac : e.hash);

export interface AppendInput {
  decision_id: string;
  revision: string;
  /** Already masked: the log stores what it is given. Optional when `requestText` is given. */
  request?: JsonValue;
  decision: JsonValue;
  /** The entry's `ts` when the caller has it (the request's `now`); else taken from `request`. */
  ts?: string | null;
  /**
   * The caller hands `decision` over: nobody changes it after this call (the engine passes a
   * copy of its own), so the entry (MAC, chain link, line) is encoded when the writer next runs
   * instead of on the caller's path. Needs `requestText`; the request is taken from it.
   */
  owned?: boolean;
  /** The request as evaluated; sealed into the entry only when the log has a replay key. */
  replay?: unknown;
  /**
   * `canonicalJson(request)` when the caller has it already (the engine hashed it for the
   * decision id): the MAC commits to its digest, so the request is not serialised twice. It
   * must be exactly that text; the entry written and what the MAC proves are the same.
   */
  requestText?: string;
}

// ---------------------------------------------------------------------------------------------
// Keys

const KEY_BYTES = 32;

/**
 * A secret key (log, pseudonymisation or replay key): 32 bytes, written as 64 hex digits or
 * base64 (a file's trimmed content, or an environment variable). Returns the key, or why the
 * text is not one.
 */
export function parseSecretKey(text: string, what = "a key"): Uint8Array | string {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Uint8Array.from(Buffer.from(t, "hex"));
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (b.length === KEY_BYTES) return Uint8Array.from(b);
  }
  return `${what} is 32 bytes written as 64 hex digits or base64 (e.g. \`openssl rand -hex 32\`)`;
}

/** `parseSecretKey` for the replay key. */
export const parseReplayKey = (text: string): Uint8Array | string => parseSecretKey(text, "a replay key");

const KEY_ID_DOMAIN = Buffer.from("waypost.key-id.v1\n", "utf8");

/**
 * A key's id: the first 8 bytes (16 hex digits) of SHA-256 over a domain prefix and the key.
 * Recorded next to what the key produced, so a wrong key is named, never mistaken for tampering;
 * it reveals nothing about the key.
 */
export const keyId = (key: Uint8Array): string => sha256Hex(Buffer.concat([KEY_ID_DOMAIN, key])).slice(0, 16);

function checkKey(key: unknown, what: string): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw runtimeError("WPL011", `the ${what} must be ${KEY_BYTES} bytes (64 hex digits, e.g. from \`openssl rand -hex 32\`)`);
  }
}

const sameKey = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);

/** A log key ready for use: the HMAC key object (made once) and its id. */
interface LogKey {
  obj: KeyObject;
  kid: string;
}

function logKeyOf(key: Uint8Array): LogKey {
  checkKey(key, "log key");
  return { obj: createSecretKey(key), kid: keyId(key) };
}

const hmacHex = (key: KeyObject, text: string): string => createHmac("sha256", key).update(text, "utf8").digest("hex");

const HEX64 = /^[0-9a-f]{64}$/;

/** Constant-time equality of two hex digests (a mismatch in length is simply unequal). */
function digestEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "latin1"), Buffer.from(b, "latin1"));
}

// ---------------------------------------------------------------------------------------------
// Masking and pseudonyms

export type MaskMode = "none" | "hash" | "redact";
/** The part of `Plan.fields` masking needs: field name -> `{mask}`. */
export type FieldMasks = Readonly<Record<string, { readonly mask?: MaskMode | string }>>;

export const REDACTED = "[redacted]";
/** What an erasure puts where a pseudonym was. */
export const ERASED = "[erased]";

/** Turns a `hash` field's value into a keyed pseudonym. */
export interface Pseudonymiser {
  /** Key id of the pseudonymisation key, part of every pseudonym. */
  readonly kid: string;
  /** The key was drawn at random for one engine because none was configured. */
  readonly ephemeral: boolean;
  /** "hmac:<kid>:<hex>": HMAC-SHA256 of a string's UTF-8, or of another value's canonical JSON. Throws TypeError for a non-JSON value. */
  pseudonym(value: unknown): string;
}

export const PSEUDONYM_PREFIX = "hmac:";
const PSEUDONYM_DOMAIN = "waypost.pseudonym.v1\n";
/** Pseudonyms remembered per pseudonymiser, and the longest input remembered (bounds its memory to ~1.5 MB). */
export const PSEUDONYM_CACHE_SIZE = 4096;
const PSEUDONYM_CACHE_MAX_INPUT = 256;

/**
 * Pseudonyms under `key` (32 bytes, kept apart from the log key): the same value and key always
 * give the same pseudonym, so decisions about one customer stay linkable and decision ids stay
 * reproducible, while nobody without the key can test a guess.
 */
export function createPseudonymiser(key: Uint8Array, options: { ephemeral?: boolean } = {}): Pseudonymiser {
  checkKey(key, "pseudonymisation key");
  const obj = createSecretKey(key);
  const kid = keyId(key);
  const prefix = `${PSEUDONYM_PREFIX}${kid}:`;
  // Runs for every `hash` field of every decision, and the same customers come back: recent
  // short inputs are remembered, so a repeat costs a map lookup instead of an HMAC. Two
  // generations of PSEUDONYM_CACHE_SIZE / 2: when the current one fills it becomes the old one
  // and the old one is dropped; a hit in the old one moves forward (least recently used go first,
  // without per-hit reordering). Keyed by the exact HMAC input: the same pseudonym either way.
  let current = new Map<string, string>();
  let previous = new Map<string, string>();
  const made: Pseudonymiser = Object.freeze({
    kid,
    ephemeral: options.ephemeral === true,
    pseudonym: (v: unknown): string => {
      const text = typeof v === "string" ? v : typeof v === "boolean" ? (v ? "true" : "false") : canonicalJson(v);
      if (text.length > PSEUDONYM_CACHE_MAX_INPUT) return prefix + hmacHex(obj, PSEUDONYM_DOMAIN + text);
      let p = current.get(text);
      if (p !== undefined) return p;
      p = previous.get(text) ?? prefix + hmacHex(obj, PSEUDONYM_DOMAIN + text);
      if (current.size >= PSEUDONYM_CACHE_SIZE / 2) {
        previous = current;
        current = new Map();
      }
      current.set(text, p);
      return p;
    },
  });
  PLAIN_PSEUDONYMS.add(made);
  return made;
}

/** Pseudonymisers made here: their pseudonyms ("hmac:", hex, ":", hex) need no JSON escaping. */
const PLAIN_PSEUDONYMS = new WeakSet<Pseudonymiser>();

// Request keys whose values are kept so a logged decision can be replayed exactly.
const KEPT_KEYS = new Set(["system", "event", "node", "now", "history"]);
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Masks a request for the log: `context[k]` by `fields[k].mask` (`none` kept, `hash` -> the
 * pseudonym under `pseudonyms`, or "[redacted]" when there is none, `redact` -> "[redacted]").
 * A context key absent from the dictionary is redacted (unknown sensitivity), null stays null
 * (it says only "no value"). Top-level keys other than system, event, node, now, context and
 * history are redacted too. Pseudonymising throws TypeError for a non-JSON value; kept values
 * are shared with `request`, so serialise the result before the request changes.
 */
export function maskRequest(request: unknown, fields: FieldMasks, pseudonyms: Pseudonymiser | null = null): JsonValue {
  if (request === null || request === undefined) return null;
  if (!isJsonObject(request)) return REDACTED;
  // Runs on every decision (the decision id hashes its result): plain key loops, no
  // Object.entries pair arrays.
  const out: { [k: string]: JsonValue } = {};
  const src = request as Record<string, unknown>;
  // Keys are inserted sorted, so canonicalJson finds them in order and skips its sort.
  for (const k of sortedKeys(src)) {
    const v = src[k];
    if (v === undefined) continue;
    // Kept values are shared, not copied: callers serialise the result at once (decision id,
    // log line), and canonicalJson rejects anything that is not JSON at that point.
    if (KEPT_KEYS.has(k)) out[k] = v as JsonValue;
    else if (k === "context" && isJsonObject(v)) {
      const ctx: { [k: string]: JsonValue } = {};
      const c = v as Record<string, unknown>;
      for (const name of sortedKeys(c)) {
        const value = c[name];
        if (value === undefined) continue;
        if (value === null) {
          ctx[name] = null;
          continue;
        }
        const mode = hasOwn.call(fields, name) ? (fields[name]?.mask ?? "redact") : "redact";
        if (mode === "none") ctx[name] = value as JsonValue;
        else if (mode === "hash" && pseudonyms !== null) ctx[name] = pseudonyms.pseudonym(value);
        else ctx[name] = REDACTED;
      }
      out[k] = ctx;
    } else out[k] = REDACTED;
  }
  return out;
}

/**
 * `canonicalJson(maskRequest(request, fields, pseudonyms))`: the text the decision id hashes
 * and a logged entry's `request` is written as.
 */
export function maskedCanonicalJson(request: unknown, fields: FieldMasks, pseudonyms: Pseudonymiser | null = null): string {
  return writeMasked(request, fields, pseudonyms, false);
}

/**
 * maskedCanonicalJson(request, fields, pseudonyms) and, written in the same pass, the request's
 * own JSON text for the policy's input: the same JSON value as JSON.stringify(request) (keys in
 * canonical order), the kept values' text written once for both. A logged decision then
 * serialises its request once instead of twice. Null when that cannot be promised cheaply: a
 * value JSON.stringify writes otherwise (toJSON, a class instance or boxed value, a non-finite
 * number, an array hole), nesting past TEXT_DEPTH, a `__proto__` key, or anything that throws;
 * the caller then takes JSON.stringify and maskedCanonicalJson, which decide and fail as before.
 */
export function maskedAndInputJson(request: unknown, fields: FieldMasks, pseudonyms: Pseudonymiser | null = null): { masked: string; input: string } | null {
  if (!isJsonObject(request) || !plainProto(request) || (OBJECT_PROTO as { toJSON?: unknown }).toJSON !== undefined || (ARRAY_PROTO as { toJSON?: unknown }).toJSON !== undefined) return null;
  try {
    const masked = writeMasked(request, fields, pseudonyms, true);
    return { masked, input: inputText };
  } catch {
    return null;
  } finally {
    inputText = "";
  }
}

const OBJECT_PROTO = Object.prototype;
const ARRAY_PROTO = Array.prototype;
const plainProto = (o: object): boolean => {
  const p: unknown = Object.getPrototypeOf(o);
  return p === OBJECT_PROTO || p === null;
};
/** Thrown by the writers with `withInput` where the input text could differ from JSON.stringify's value. */
const NOT_PLAIN: unique symbol = Symbol("not plain");
/** writeMasked's second text (withInput), and maskedContextText's piece of it. */
let inputText = "";

/** maskedCanonicalJson's text; with `withInput`, the request's own text too, in inputText. */
function writeMasked(request: unknown, fields: FieldMasks, pseudonyms: Pseudonymiser | null, withInput: boolean): string {
  // Runs on every logged decision (the id hashes it, the entry stores it). Written as text
  // straight from the request: building the masked object and then a canonical copy of it
  // (history entries arrive with their keys out of order) cost twice as much as writing it.
  if (request === null || request === undefined) return "null";
  if (!isJsonObject(request)) return REDACTED_TEXT;
  const src = request as Record<string, unknown>;
  const keys = keysInOrder(src);
  let out = "{";
  let input = "{";
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = src[k];
    if (v === undefined) continue;
    let piece: string;
    let raw: string | undefined | null = null; // the input's piece: null when the masked one, undefined when none
    if (KEPT_KEYS.has(k)) piece = canonText(v, 0, withInput);
    else if (k === "context" && isJsonObject(v)) {
      if (withInput && !plainProto(v)) throw NOT_PLAIN;
      piece = maskedContextText(v as Record<string, unknown>, fields, pseudonyms, withInput);
      raw = inputText;
    } else if (k === "__proto__") {
      if (withInput) throw NOT_PLAIN;
      continue; // maskRequest's assignment of a string to it creates no key
    } else {
      piece = REDACTED_TEXT;
      if (withInput) raw = rawText(v);
    }
    const kt = keyText(k);
    out += (out.length === 1 ? "" : ",") + kt + piece;
    if (withInput && raw !== undefined) input += (input.length === 1 ? "" : ",") + kt + (raw ?? piece);
  }
  if (withInput) inputText = input + "}";
  return out + "}";
}

/**
 * A masked value's text in the input: canonText's, checked plain; undefined for what
 * JSON.stringify leaves out of an object (a function, a symbol).
 */
function rawText(v: unknown): string | undefined {
  return typeof v === "function" || typeof v === "symbol" ? undefined : canonText(v, 0, true);
}

const REDACTED_TEXT = quoteText(REDACTED);
const keyText = (k: string): string => quoteText(k) + ":";

/** A dictionary field as the masked text needs it: its `"name":` and its mask. */
interface FieldText {
  readonly text: string;
  readonly mode: string;
}

/**
 * Per FieldMasks that cannot change (frozen, entries too, as the engine's): each field's text
 * and mask, worked out on first use. Only dictionary fields are kept, so its size is bounded
 * by the dictionary whatever keys requests bring.
 */
const fieldTexts = new WeakMap<FieldMasks, Map<string, FieldText>>();

function fieldTextsOf(fields: FieldMasks): Map<string, FieldText> | null {
  let m = fieldTexts.get(fields);
  if (m !== undefined) return m;
  if (!Object.isFrozen(fields)) return null;
  for (const k of Object.keys(fields)) {
    const f = fields[k];
    if (typeof f === "object" && f !== null && !Object.isFrozen(f)) return null;
  }
  m = new Map();
  fieldTexts.set(fields, m);
  return m;
}

const maskOf = (fields: FieldMasks, name: string): string => (hasOwn.call(fields, name) ? (fields[name]?.mask ?? "redact") : "redact");

// The last context's keys and their sorted order: a service sends the same fields, in the
// same order, request after request (JSON.parse gives the same key strings).
let lastContextKeys: string[] = [];
let lastContextSorted: string[] = [];

function sortedContextKeys(c: Record<string, unknown>): string[] {
  const keys = Object.keys(c);
  const last = lastContextKeys;
  if (keys.length === last.length) {
    let same = true;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== last[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastContextSorted;
  }
  const sorted = keysInOrder(c);
  lastContextKeys = keys;
  lastContextSorted = sorted;
  return sorted;
}

/** The masked context's canonical text (maskRequest's `context`); with `withInput`, the context's own text in inputText. */
function maskedContextText(c: Record<string, unknown>, fields: FieldMasks, pseudonyms: Pseudonymiser | null, withInput = false): string {
  const texts = fieldTextsOf(fields);
  const names = sortedContextKeys(c);
  // The same keys as the last context, under the same frozen masks: its fields, in order.
  const plan = texts !== null && names === lastPlanNames && fields === lastPlanFields ? lastPlan : null;
  const fresh: FieldText[] | null = plan === null && texts !== null ? new Array<FieldText>(names.length) : null;
  const plainPseudonyms = pseudonyms !== null && PLAIN_PSEUDONYMS.has(pseudonyms);
  let out = "{";
  let input = "{";
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let f = plan?.[i];
    if (f === undefined) {
      f = texts?.get(name);
      if (f === undefined) {
        f = { text: keyText(name), mode: maskOf(fields, name) };
        if (texts !== null && hasOwn.call(fields, name)) texts.set(name, f);
      }
      if (fresh !== null) fresh[i] = f;
    }
    const value = c[name];
    if (value === undefined) continue;
    if (withInput && name === "__proto__") throw NOT_PLAIN;
    let piece: string;
    let raw: string | undefined | null = null; // as in writeMasked
    if (value === null) piece = "null";
    else if (f.mode === "none") piece = canonText(value, 0, withInput);
    else {
      if (f.mode === "hash" && pseudonyms !== null) {
        const p = pseudonyms.pseudonym(value);
        piece = plainPseudonyms ? '"' + p + '"' : quoteText(p);
      } else piece = REDACTED_TEXT;
      if (withInput) raw = rawText(value);
    }
    // maskRequest's `ctx[name] = ...` cannot create an own "__proto__" (it sets the prototype,
    // or nothing): the key is dropped, after pseudonymising it as maskRequest does.
    if (name === "__proto__") continue;
    out += (out.length === 1 ? "" : ",") + f.text + piece;
    if (withInput && raw !== undefined) input += (input.length === 1 ? "" : ",") + f.text + (raw ?? piece);
  }
  if (withInput) inputText = input + "}";
  if (fresh !== null) {
    lastPlan = fresh;
    lastPlanNames = names;
    lastPlanFields = fields;
  }
  return out + "}";
}

// maskedContextText's last plan: the FieldText of each of lastPlanNames (sortedContextKeys'
// array, the same object while contexts keep their keys) under lastPlanFields.
let lastPlan: FieldText[] = [];
let lastPlanNames: string[] | null = null;
let lastPlanFields: FieldMasks | null = null;

// Objects of one shape (history entries) follow each other: the last shape's sorted keys and
// their texts are kept.
let lastShapeKeys: string[] = [];
let lastShapeSorted: string[] = [];
let lastShapeTexts: string[] = [];

/** Canonical texts of frozen objects whose values are all primitives (see canonText). */
const frozenTexts = new WeakMap<object, string>();

// Past this depth the rest is left to canonicalJson, which tells a cycle from deep nesting.
const TEXT_DEPTH = 32;

/**
 * canonicalJson(v), written directly (canonicalJson is compositional: a container's text is its
 * members' texts in canonical order); the same text and the same TypeErrors.
 */
function canonText(v: unknown, depth: number, plain = false): string {
  switch (typeof v) {
    case "string":
      return quoteText(v);
    case "boolean":
      return v ? "true" : "false";
    case "number":
      return Number.isFinite(v) ? JSON.stringify(v) : canonicalJson(v);
    case "object": {
      if (v === null) return "null";
      if (depth > TEXT_DEPTH) {
        if (plain) throw NOT_PLAIN;
        return canonicalJson(v);
      }
      if (Array.isArray(v)) {
        if (plain && Object.getPrototypeOf(v) !== ARRAY_PROTO) throw NOT_PLAIN;
        let out = "[";
        for (let i = 0; i < v.length; i++) out += (i === 0 ? "" : ",") + canonText(v[i], depth + 1, plain);
        return out + "]";
      }
      if (plain && !plainProto(v)) throw NOT_PLAIN;
      const obj = v as Record<string, unknown>;
      const frozen = Object.isFrozen(obj);
      if (frozen) {
        const t = frozenTexts.get(obj);
        if (t !== undefined) return t;
      }
      const keys = Object.keys(obj);
      let sorted: string[];
      let texts: string[];
      const last = lastShapeKeys;
      let same = keys.length === last.length;
      for (let i = 0; same && i < keys.length; i++) same = keys[i] === last[i];
      if (same) {
        sorted = lastShapeSorted;
        texts = lastShapeTexts;
      } else {
        sorted = keysInOrder(obj);
        texts = sorted.map(keyText);
        lastShapeKeys = keys;
        lastShapeSorted = sorted;
        lastShapeTexts = texts;
      }
      let out = "{";
      let flat = true;
      for (let i = 0; i < sorted.length; i++) {
        const item = obj[sorted[i]!];
        if (item === undefined) continue; // as JSON.stringify: an undefined property is absent
        if (typeof item === "object" && item !== null) flat = false;
        out += (out.length === 1 ? "" : ",") + texts[i]! + canonText(item, depth + 1, plain);
      }
      out += "}";
      // A frozen object of primitive data properties (no getters) cannot change: its text is
      // kept (the reason table's entries, which every logged decision names).
      if (frozen && flat && keys.every((k) => hasOwn.call(Object.getOwnPropertyDescriptor(obj, k), "value"))) frozenTexts.set(obj, out);
      return out;
    }
    default:
      return canonicalJson(v); // throws its TypeError
  }
}

// Own copies of json.ts's quote and sortedKeys for the writer above: V8 keeps type feedback per
// function, and a compiler in the same process (a build, then decisions) leaves the shared
// ones tuned for everything it wrote: the masked text took 2.5x as long after a build.

/** quote(s): JSON.stringify(s) for a string, without the native call when nothing needs escaping. */
function quoteText(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** sortedKeys(obj): own enumerable keys in UTF-16 code unit order. */
function keysInOrder(obj: object): string[] {
  const keys = Object.keys(obj);
  const n = keys.length;
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    if (keys[i - 1]! <= k) continue;
    if (n > 32) return keys.sort();
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Entries

/** SHA-256 of the canonical unkeyed entry without its `hash`. */
export function entryHash(e: Omit<UnkeyedLogEntry, "hash">): string {
  const body: Record<string, JsonValue> = { seq: e.seq, ts: e.ts, decision_id: e.decision_id, revision: e.revision, request: e.request, decision: e.decision, prev: e.prev };
  // Only present when sealed, so entries without it hash as they always did.
  if (e.sealed !== undefined) body["sealed"] = e.sealed;
  return sha256Hex(canonicalJson(body));
}

const MAC_DOMAIN = "waypost.log.v2\n";
const ERASE_DOMAIN = "waypost.log.erase.v2\n";

/**
 * canonicalJson({v: 2, kid, seq, ts, decision_id, revision, request, decision, sealed}) written
 * out key by key in canonical order, around the decision's canonical text: the writer has that
 * text already (it goes into the line too), so the decision is serialised once per entry.
 */
function commitmentText(kid: string, seq: number, ts: string | null, decisionId: string, revision: string, requestDigest: string, decisionText: string, sealedDigest: string | null): string {
  if (!Number.isFinite(seq)) throw new TypeError("non-finite number is not JSON");
  return (
    `{"decision":${decisionText},"decision_id":${quote(decisionId)},"kid":${quote(kid)},"request":${quote(requestDigest)},"revision":${quote(revision)},` +
    `"sealed":${sealedDigest === null ? "null" : quote(sealedDigest)},"seq":${JSON.stringify(seq)},"ts":${ts === null ? "null" : quote(ts)},"v":2}`
  );
}

/** The text a keyed entry's MAC covers (after the domain prefix and `prev`). */
function commitment(e: Omit<KeyedLogEntry, "mac">, requestText?: string, decisionText?: string): string {
  const request = e.erased !== undefined ? e.erased.request : sha256Hex(requestText ?? canonicalJson(e.request));
  const sealed = e.erased !== undefined ? e.erased.sealed : e.sealed !== undefined ? sha256Hex(e.sealed) : null;
  return commitmentText(e.kid, e.seq, e.ts, e.decision_id, e.revision, request, decisionText ?? canonicalJson(e.decision), sealed);
}

const macOf = (key: KeyObject, e: Omit<KeyedLogEntry, "mac">, requestText?: string, decisionText?: string): string =>
  hmacHex(key, MAC_DOMAIN + e.prev + "\n" + commitment(e, requestText, decisionText));
const erasureMacOf = (key: KeyObject, entryMac: string, at: string, request: JsonValue): string =>
  hmacHex(key, ERASE_DOMAIN + entryMac + "\n" + canonicalJson({ at, request }));

/** HMAC-SHA256 of a keyed entry under `key` (what its `mac` must be). */
export function entryMac(key: Uint8Array, e: Omit<KeyedLogEntry, "mac">): string {
  return macOf(logKeyOf(key).obj, e);
}

const UNKEYED_KEYS = ["seq", "ts", "decision_id", "revision", "request", "decision", "prev", "hash"];
const KEYED_KEYS = ["v", "seq", "ts", "decision_id", "revision", "request", "decision", "kid", "prev", "mac"];
const ERASURE_KEYS = ["at", "request", "sealed", "mac"];
const SEALED_PREFIX = "v1.";

const sealAad = (seq: number, decisionId: string, revision: string): Buffer => Buffer.from(`waypost.replay.v1\0${seq}\0${decisionId}\0${revision}`, "utf8");

function seal(key: Uint8Array, seq: number, decisionId: string, revision: string, request: unknown): string {
  const iv = randomBytes(12); // a fresh nonce per entry: never reused under one key
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(sealAad(seq, decisionId, revision));
  const ct = Buffer.concat([c.update(canonicalJson(request as JsonValue), "utf8"), c.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, ct, c.getAuthTag()]).toString("base64url");
}

/**
 * The unmasked request of a sealed entry, or why it cannot be had: no sealed copy (or erased), a
 * wrong key, or a sealed copy moved from another entry (the authentication covers seq, id and
 * revision).
 */
export function unsealRequest(entry: LogEntry, key: Uint8Array): { ok: true; request: JsonValue } | { ok: false; error: string } {
  if (entry.v === 2 && entry.erased !== undefined) return { ok: false, error: `the entry was erased on ${entry.erased.at}: its sealed request is gone` };
  if (entry.sealed === undefined) return { ok: false, error: "the entry has no sealed request (the log was written without a replay key)" };
  if (!entry.sealed.startsWith(SEALED_PREFIX)) return { ok: false, error: "unknown sealed format" };
  const raw = Buffer.from(entry.sealed.slice(SEALED_PREFIX.length), "base64url");
  if (raw.length < 12 + 16) return { ok: false, error: "the sealed request is truncated" };
  try {
    const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
    d.setAAD(sealAad(entry.seq, entry.decision_id, entry.revision));
    d.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString("utf8");
    return { ok: true, request: JSON.parse(text) as JsonValue };
  } catch {
    return { ok: false, error: "the sealed request does not open with this key (wrong key, or the entry was altered)" };
  }
}

function checkErasure(v: unknown): string | null {
  if (!isJsonObject(v)) return "`erased` is not an object";
  const keys = Object.keys(v);
  if (keys.length !== ERASURE_KEYS.length || !ERASURE_KEYS.every((k) => k in v)) return `\`erased\` keys must be exactly ${ERASURE_KEYS.join(", ")}`;
  if (typeof v.at !== "string") return "`erased.at` is not a string";
  if (typeof v.request !== "string" || !HEX64.test(v.request) || typeof v.mac !== "string" || !HEX64.test(v.mac)) return "`erased.request` or `erased.mac` is not a SHA-256 hex digest";
  if (v.sealed !== null && (typeof v.sealed !== "string" || !HEX64.test(v.sealed))) return "`erased.sealed` is not a SHA-256 hex digest or null";
  return null;
}

/** Parses one log line (keyed or unkeyed) into an entry, or returns why it is not one. */
export function parseEntry(line: string): LogEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return `not JSON (${describeThrown(e)})`;
  }
  if (!isJsonObject(v)) return "not a JSON object";
  const keys = Object.keys(v);
  const sealed = "sealed" in v;
  if ("v" in v) {
    if (v.v !== 2) return `unknown entry format \`v: ${JSON.stringify(v.v)}\` (written by a newer Waypost?)`;
    const erased = "erased" in v;
    if (keys.length !== KEYED_KEYS.length + (sealed ? 1 : 0) + (erased ? 1 : 0) || !KEYED_KEYS.every((k) => k in v)) {
      return `keys must be exactly ${KEYED_KEYS.join(", ")} (and optionally sealed or erased)`;
    }
    if (erased) {
      if (sealed) return "an erased entry keeps no `sealed` copy";
      const why = checkErasure(v.erased);
      if (why !== null) return why;
    }
    if (typeof v.kid !== "string" || !/^[0-9a-f]{16}$/.test(v.kid)) return "`kid` is not a key id (16 hex digits)";
    if (typeof v.prev !== "string" || !HEX64.test(v.prev) || typeof v.mac !== "string" || !HEX64.test(v.mac)) return "`prev` or `mac` is not a SHA-256 hex digest";
  } else {
    if (keys.length !== UNKEYED_KEYS.length + (sealed ? 1 : 0) || !UNKEYED_KEYS.every((k) => k in v)) {
      return `keys must be exactly ${UNKEYED_KEYS.join(", ")} (and optionally sealed), or a keyed entry's`;
    }
    if (typeof v.prev !== "string" || !HEX64.test(v.prev) || typeof v.hash !== "string" || !HEX64.test(v.hash)) {
      return "`prev` or `hash` is not a SHA-256 hex digest";
    }
  }
  if (sealed && typeof v.sealed !== "string") return "`sealed` is not a string";
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 1) return "`seq` is not a positive integer";
  if (v.ts !== null && typeof v.ts !== "string") return "`ts` is not a string or null";
  if (typeof v.decision_id !== "string" || typeof v.revision !== "string") return "`decision_id` or `revision` is not a string";
  return v as unknown as LogEntry;
}

// The fields both versions write, in their line order.
const entryBody = (e: LogEntry) => ({
  seq: e.seq,
  ts: e.ts,
  decision_id: e.decision_id,
  revision: e.revision,
  request: e.request,
  decision: e.decision,
  ...(e.sealed !== undefined ? { sealed: e.sealed } : {}),
});

/**
 * A keyed entry's line from the canonical texts its MAC was computed from: the fields in
 * `serialise`'s order, the request and decision as their canonical JSON (same values; their
 * keys sorted), so neither is serialised a second time.
 */
function keyedLine(e: KeyedLogEntry, requestText: string, decisionText: string): string {
  return (
    `{"v":2,"seq":${JSON.stringify(e.seq)},"ts":${e.ts === null ? "null" : quote(e.ts)},"decision_id":${quote(e.decision_id)},"revision":${quote(e.revision)},` +
    `"request":${requestText},"decision":${decisionText}${e.sealed !== undefined ? `,"sealed":${quote(e.sealed)}` : ""},"kid":${quote(e.kid)},"prev":${quote(e.prev)},"mac":${quote(e.mac)}}\n`
  );
}

const serialise = (e: LogEntry): string =>
  JSON.stringify(
    e.v === 2
      ? { v: 2, ...entryBody(e), ...(e.erased !== undefined ? { erased: e.erased } : {}), kid: e.kid, prev: e.prev, mac: e.mac }
      : { ...entryBody(e), prev: e.prev, hash: e.hash },
  ) + "\n";

// ---------------------------------------------------------------------------------------------
// The head file: where the log ended, under the key

export interface LogHead {
  v: 2;
  kid: string;
  seq: number;
  /** The mac of entry `seq` (64 zeros for an empty log). */
  mac: string;
  /** HMAC under the log key over kid, seq and mac. */
  tag: string;
}

const HEAD_DOMAIN = "waypost.log.head.v2\n";
const headTagOf = (key: KeyObject, kid: string, seq: number, mac: string): string => hmacHex(key, `${HEAD_DOMAIN}${kid}\n${seq}\n${mac}`);

/** Where the head of the log at `path` is kept. */
export const headFileOf = (path: string): string => path + ".head";

/**
 * The log's path with symbolic links resolved: the lock and the head file sit beside the real
 * file, so a second name for the same log cannot get a second writer or another head.
 */
async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    try {
      return join(await realpath(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

function parseHead(text: string): LogHead | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  if (!isJsonObject(v) || v.v !== 2) return "not a head record";
  if (typeof v.kid !== "string" || !/^[0-9a-f]{16}$/.test(v.kid)) return "`kid` is not a key id";
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 0) return "`seq` is not a count";
  if (typeof v.mac !== "string" || !HEX64.test(v.mac) || typeof v.tag !== "string" || !HEX64.test(v.tag)) return "`mac` or `tag` is not a SHA-256 hex digest";
  return { v: 2, kid: v.kid, seq: v.seq, mac: v.mac, tag: v.tag };
}

let tmpCounter = 0;
const tmpName = (path: string, what: string): string => `${path}.${what}-${process.pid}-${++tmpCounter}-${randomBytes(4).toString("hex")}.tmp`;

/** Writes `bytes` to `target` all at once: temp file in the same folder, fsync, rename. */
async function replaceFile(target: string, bytes: Buffer, mode: number): Promise<void> {
  const tmp = tmpName(target, "new");
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

async function writeHead(path: string, key: LogKey, seq: number, mac: string): Promise<void> {
  const head: LogHead = { v: 2, kid: key.kid, seq, mac, tag: headTagOf(key.obj, key.kid, seq, mac) };
  await replaceFile(headFileOf(path), Buffer.from(JSON.stringify(head) + "\n", "utf8"), 0o600);
}

// ---------------------------------------------------------------------------------------------
// The writer's lock

interface LockInfo {
  pid: number;
  host: string;
  started: string;
  token: string;
}

/** Lock files this process holds: absolute lock path -> token. */
const HELD = new Map<string, string>();
let exitHook = false;

const lockFileOf = (path: string): string => path + ".lock";

function readLockSync(lockPath: string): string | null {
  try {
    return readFileSync(lockPath, "utf8");
  } catch {
    return null;
  }
}

function parseLock(text: string | null): LockInfo | null {
  if (text === null) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (isJsonObject(v) && typeof v.pid === "number" && typeof v.host === "string" && typeof v.started === "string" && typeof v.token === "string") {
      return { pid: v.pid, host: v.host, started: v.started, token: v.token };
    }
  } catch {
    /* fall through */
  }
  return null;
}

/** True when the lock's process is known not to run any more (it ran on this host). */
function holderGone(h: LockInfo, lockAbs: string): boolean {
  if (h.host !== hostname()) return false; // another machine's process: cannot tell
  // Our own pid but not held here: left by an earlier process that had this pid (containers).
  if (h.pid === process.pid) return !HELD.has(lockAbs);
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH"; // EPERM: it runs, as another user
  }
}

/**
 * Takes the one-writer lock of the log at `path` (FILE.lock) or throws WPL008 naming the holder.
 * The lock file appears with its content in one step (written aside, then hard-linked), so a
 * reader never sees it half-written. Released by `releaseLock` and, failing that, when the
 * process exits; a lock left by a process killed outright is stale and taken over.
 */
async function acquireLock(path: string): Promise<string> {
  const lockPath = lockFileOf(await canonicalPath(path));
  if (HELD.has(lockPath)) {
    throw runtimeError("WPL008", `decision log \`${path}\` is already open for writing in this process: one writer per log (share the DecisionLog instead)`);
  }
  const info: LockInfo = { pid: process.pid, host: hostname(), started: new Date(Date.now() - process.uptime() * 1000).toISOString(), token: randomBytes(12).toString("hex") };
  const text = JSON.stringify(info) + "\n";
  for (let attempt = 0; attempt < 3; attempt++) {
    const tmp = tmpName(lockPath, "claim");
    let created = false;
    try {
      const fh = await open(tmp, "wx", 0o600);
      try {
        await fh.writeFile(text);
      } finally {
        await fh.close();
      }
      try {
        await link(tmp, lockPath);
        created = true;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== "EEXIST") {
          // No hard links here (some network or FAT file systems): an exclusive create instead.
          const fh2 = await open(lockPath, "wx", 0o600).catch((e2: NodeJS.ErrnoException) => {
            if (e2.code === "EEXIST") return null;
            throw e2;
          });
          if (fh2 !== null) {
            try {
              await fh2.writeFile(text);
            } finally {
              await fh2.close();
            }
            created = true;
          }
        }
      }
    } catch (e) {
      throw runtimeError("WPL007", `cannot create the lock \`${lockPath}\` of decision log \`${path}\`: ${describeThrown(e)}`);
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    if (created) {
      HELD.set(lockPath, info.token);
      if (!exitHook) {
        exitHook = true;
        process.on("exit", releaseAllLocksSync);
      }
      return lockPath;
    }
    const seen = readLockSync(lockPath);
    const holder = parseLock(seen);
    if (seen === null) continue; // released meanwhile: try again
    if (holder !== null && holderGone(holder, lockPath)) {
      // Stale: remove it only if it is still the very lock judged stale, then try again.
      if (readLockSync(lockPath) === seen) await unlink(lockPath).catch(() => undefined);
      continue;
    }
    const who = holder !== null ? `pid ${holder.pid} on ${holder.host}, since ${holder.started}` : "a writer whose lock file cannot be read";
    throw runtimeError(
      "WPL008",
      `decision log \`${path}\` is locked by another writer (${who}): one writer per log; ` +
        `if that process is gone for sure, delete \`${lockFileOf(path)}\``,
    );
  }
  throw runtimeError("WPL008", `decision log \`${path}\` is locked by another writer (the lock changed hands while it was taken over)`);
}

async function releaseLock(lockPath: string): Promise<void> {
  const token = HELD.get(lockPath);
  if (token === undefined) return;
  HELD.delete(lockPath);
  const text = readLockSync(lockPath);
  if (text !== null && parseLock(text)?.token === token) await unlink(lockPath).catch(() => undefined);
}

function releaseAllLocksSync(): void {
  for (const [lockPath, token] of HELD) {
    try {
      if (parseLock(readLockSync(lockPath))?.token === token) unlinkSync(lockPath);
    } catch {
      /* exiting anyway */
    }
  }
  HELD.clear();
}

// ---------------------------------------------------------------------------------------------
// The writer

interface Pending {
  /** The line; null while the entry waits to be encoded (an `owned` append). */
  bytes: Buffer | null;
  entry: LogEntry | null;
  /** What an `owned` append left to encode: seq is assigned, the MAC and the line are not. */
  owned: OwnedEntry | null;
  /** Null for an `enqueue`d entry: nobody waits for it. */
  resolve: ((e: LogEntry) => void) | null;
  reject: ((e: unknown) => void) | null;
}

interface OwnedEntry {
  seq: number;
  ts: string | null;
  decision_id: string;
  revision: string;
  requestText: string;
  decision: JsonValue;
  sealed: string | undefined;
}

/** An entry whose `request` is parsed from its canonical text when first read (nobody may). */
function withLazyRequest<T extends object>(e: T, requestText: string): T & { request: JsonValue } {
  Object.defineProperty(e, "request", {
    enumerable: true,
    configurable: true,
    get(): JsonValue {
      const v = JSON.parse(requestText) as JsonValue;
      Object.defineProperty(e, "request", { value: v, enumerable: true, writable: true, configurable: true });
      return v;
    },
  });
  return e as T & { request: JsonValue };
}

export interface OpenLogOptions {
  /** File mode for a new log (default 0o600: entries hold personal data, even masked). */
  mode?: number;
  /**
   * The log key (32 bytes, kept apart from the log): every entry is MAC'd under it, and the
   * head file records where the log ends. Required unless `unkeyed` is set.
   */
  key?: Uint8Array;
  /**
   * Write unkeyed entries (a plain hash chain, which anyone who edits the log can recompute):
   * an explicit choice, for logs whose integrity nobody needs to prove.
   */
  unkeyed?: boolean;
  /** 32-byte key: seal each unmasked request into its entry for exact replay (see `sealed`). */
  replayKey?: Uint8Array;
}

function problemError(path: string, p: LogProblem): WaypostRuntimeError {
  return runtimeError(p.code, `decision log \`${path}\` line ${p.line}: ${p.message}; it is never appended to while it does not verify`);
}

export class DecisionLog {
  readonly path: string;
  private fh: FileHandle;
  private seq: number;
  private prev: string;
  private size: number;
  private queue: Pending[] = [];
  /** Queued `owned` entries not encoded yet, in append order. */
  private unencoded: Pending[] = [];
  private writing: Promise<void> | null = null;
  private heading: Promise<void> | null = null;
  private headTarget: { seq: number; mac: string } | null = null;
  private failure: WaypostRuntimeError | null = null;
  private closed = false;
  private readonly key: LogKey | null;
  private readonly replayKey: Uint8Array | null;
  private readonly lockPath: string;
  /** `path` with links resolved: where the head file is written. */
  private readonly realPath: string;

  private constructor(path: string, realPath: string, fh: FileHandle, seq: number, prev: string, size: number, key: LogKey | null, replayKey: Uint8Array | null, lockPath: string) {
    this.path = path;
    this.realPath = realPath;
    this.fh = fh;
    this.seq = seq;
    this.prev = prev;
    this.size = size;
    this.key = key;
    this.replayKey = replayKey;
    this.lockPath = lockPath;
  }

  /**
   * Opens (or creates) a log for appending: takes its lock (WPL008 when another writer has it),
   * verifies the whole log (streamed) and positions the chain after its last entry. A log that
   * does not verify is refused with the first problem's code (WPL001 torn tail, WPL002-WPL005
   * damage, WPL009 another key, WPL010 cut tail, WPL012 no head file); WPL011 for a missing or
   * unsuitable key, WPL007 for I/O errors.
   */
  static async open(path: string, options: OpenLogOptions = {}): Promise<DecisionLog> {
    if (options.key !== undefined && options.unkeyed === true) {
      throw runtimeError("WPL011", "give either a log key or `unkeyed: true`, not both");
    }
    if (options.key === undefined && options.unkeyed !== true) {
      throw runtimeError(
        "WPL011",
        `decision log \`${path}\` needs a log key (32 bytes kept apart from the log) so that nobody can rewrite it unnoticed; ` +
          "pass `unkeyed: true` to write a plain hash chain instead",
      );
    }
    const key = options.key !== undefined ? logKeyOf(options.key) : null;
    const replayKey = options.replayKey ?? null;
    if (replayKey !== null) checkKey(replayKey, "replay key");
    if (replayKey !== null && options.key !== undefined && sameKey(replayKey, options.key)) {
      throw runtimeError("WPL011", "the replay key and the log key must differ: one key, one purpose");
    }
    const lockPath = await acquireLock(path);
    let fh: FileHandle | null = null;
    try {
      let existed = true;
      try {
        await stat(path);
      } catch {
        existed = false;
      }
      try {
        fh = await open(path, "a+", options.mode ?? 0o600);
      } catch (e) {
        throw runtimeError("WPL007", `cannot open decision log \`${path}\`: ${describeThrown(e)}`);
      }
      if (!existed) await syncDir(dirname(path));
      const realPath = await canonicalPath(path);
      const size = (await fh.stat()).size;
      const r = await verifyLog(realPath, key !== null ? { key: options.key! } : {});
      if (key === null && r.integrity !== "unkeyed" && r.entries > 0) {
        throw runtimeError("WPL011", `decision log \`${path}\` is keyed: open it with its log key (key id ${r.kid ?? "?"})`);
      }
      if (key !== null && r.integrity === "unkeyed") {
        throw runtimeError("WPL011", `decision log \`${path}\` is an unkeyed (hash-chained) log: keyed entries go to a new log file`);
      }
      const first = r.problems[0];
      if (first !== undefined) throw problemError(path, first);
      if (key !== null && r.headFile === "missing") {
        if (r.entries > 0) {
          throw runtimeError(
            "WPL012",
            `decision log \`${path}\` has no head file \`${basename(headFileOf(path))}\`, so a cut tail could not be detected; ` +
              "restore it, or start a new log file",
          );
        }
        await writeHead(realPath, key, 0, GENESIS_HASH); // a new log: the head exists before any entry
        await syncDir(dirname(realPath));
      }
      return new DecisionLog(path, realPath, fh, r.lastSeq ?? 0, r.head ?? GENESIS_HASH, size, key, replayKey, lockPath);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      await releaseLock(lockPath);
      if (e instanceof WaypostRuntimeError) throw e;
      throw runtimeError("WPL007", `cannot read decision log \`${path}\`: ${describeThrown(e)}`);
    }
  }

  /** The last entry's mac (keyed) or hash (unkeyed): the head to anchor elsewhere. */
  get head(): string {
    this.encodePending();
    return this.prev;
  }

  /** Sequence number of the last entry. */
  get lastSeq(): number {
    return this.seq;
  }

  /** Key id of the log key, or null for an unkeyed log. */
  get kid(): string | null {
    return this.key?.kid ?? null;
  }

  /** The error that stopped the log, if any: after a failed write no further append succeeds. */
  get error(): WaypostRuntimeError | null {
    return this.failure;
  }

  /**
   * Appends an entry; resolves once it is on disk (written and fsync'd). The sequence number
   * is assigned synchronously, so entries are ordered by call order. An `owned` append (see
   * AppendInput) is encoded (MAC, chain link, line) when the writer next runs, in order, off the
   * caller's path, as OPA's decision logger encodes buffered events; `head` encodes first.
   */
  append(input: AppendInput): Promise<LogEntry> {
    if (this.closed) return Promise.reject(runtimeError("WPL007", `decision log \`${this.path}\` is closed`));
    if (this.failure !== null) return Promise.reject(this.failure);
    if (input.owned === true && input.requestText !== undefined) {
      return new Promise<LogEntry>((resolve, reject) => {
        const why = this.appendOwned(input, resolve, reject);
        if (why !== null) reject(why);
      });
    }
    this.encodePending(); // the chain runs through the entries appended before this one
    if (this.failure !== null) return Promise.reject(this.failure);
    let entry: LogEntry;
    let bytes: Buffer;
    try {
      const seq = this.seq + 1;
      const sealed = this.replayKey !== null && input.replay !== undefined ? seal(this.replayKey, seq, input.decision_id, input.revision, input.replay) : undefined;
      const request = input.request !== undefined ? input.request : (JSON.parse(input.requestText ?? "null") as JsonValue);
      const common = {
        seq,
        ts: input.ts !== undefined ? input.ts : tsOf(request),
        decision_id: input.decision_id,
        revision: input.revision,
        request,
        decision: input.decision,
        ...(sealed !== undefined ? { sealed } : {}),
      };
      if (this.key !== null) {
        const requestText = input.requestText ?? canonicalJson(request);
        const decisionText = canonicalJson(input.decision);
        const base: Omit<KeyedLogEntry, "mac"> = { v: 2, ...common, kid: this.key.kid, prev: this.prev };
        const keyed: KeyedLogEntry = { ...base, mac: macOf(this.key.obj, base, requestText, decisionText) };
        entry = keyed;
        bytes = Buffer.from(keyedLine(keyed, requestText, decisionText), "utf8");
      } else {
        const base: Omit<UnkeyedLogEntry, "hash"> = { ...common, prev: this.prev };
        entry = { ...base, hash: entryHash(base) };
        bytes = Buffer.from(serialise(entry), "utf8");
      }
    } catch (e) {
      return Promise.reject(runtimeError("WPL007", `decision log entry is not JSON: ${describeThrown(e)}`));
    }
    this.seq = entry.seq;
    this.prev = entryLink(entry);
    return new Promise<LogEntry>((resolve, reject) => {
      this.queue.push({ bytes, entry, owned: null, resolve, reject });
      if (this.writing === null) this.writing = this.drain();
    });
  }

  /**
   * `append` of an `owned` entry without a promise, for callers that do not wait for it (the
   * engine's `decide`): a failure to write it is kept in `error`, as any write failure is.
   * Returns the refusal instead of throwing.
   */
  enqueue(input: AppendInput & { owned: true; requestText: string }): WaypostRuntimeError | null {
    if (this.closed) return runtimeError("WPL007", `decision log \`${this.path}\` is closed`);
    if (this.failure !== null) return this.failure;
    return this.appendOwned(input, null, null);
  }

  private appendOwned(input: AppendInput & { requestText?: string }, resolve: ((e: LogEntry) => void) | null, reject: ((e: unknown) => void) | null): WaypostRuntimeError | null {
    let owned: OwnedEntry;
    try {
      const seq = this.seq + 1;
      owned = {
        seq,
        ts: input.ts !== undefined ? input.ts : tsOf(input.request ?? null),
        decision_id: input.decision_id,
        revision: input.revision,
        requestText: input.requestText!,
        decision: input.decision,
        // Sealed now: the replay value is the caller's and may change after this returns.
        sealed: this.replayKey !== null && input.replay !== undefined ? seal(this.replayKey, seq, input.decision_id, input.revision, input.replay) : undefined,
      };
    } catch (e) {
      return runtimeError("WPL007", `decision log entry is not JSON: ${describeThrown(e)}`);
    }
    this.seq = owned.seq;
    const p: Pending = { bytes: null, entry: null, owned, resolve, reject };
    this.queue.push(p);
    this.unencoded.push(p);
    if (this.writing === null) this.writing = this.drain();
    return null;
  }

  /**
   * Encodes the `owned` entries appended so far, in order: each one's MAC (or hash) chains to
   * the one before. A failure stops the log (its sequence numbers are taken: a later entry
   * would leave a gap), as a failed write does.
   */
  private encodePending(): void {
    if (this.unencoded.length === 0) return;
    const todo = this.unencoded;
    this.unencoded = [];
    for (const p of todo) {
      const o = p.owned!;
      if (this.failure !== null) {
        p.bytes = Buffer.alloc(0); // rejected by the writer with the failure
        continue;
      }
      try {
        // canonicalJson's text; the reason table's frozen entries are written once (canonText).
        const decisionText = canonText(o.decision, 0);
        if (this.key !== null) {
          const e = {
            v: 2 as const,
            seq: o.seq,
            ts: o.ts,
            decision_id: o.decision_id,
            revision: o.revision,
            decision: o.decision,
            ...(o.sealed !== undefined ? { sealed: o.sealed } : {}),
            kid: this.key.kid,
            prev: this.prev,
            mac: "",
          };
          e.mac = hmacHex(this.key.obj, MAC_DOMAIN + e.prev + "\n" + commitmentText(e.kid, e.seq, e.ts, e.decision_id, e.revision, sha256Hex(o.requestText), decisionText, o.sealed !== undefined ? sha256Hex(o.sealed) : null));
          const entry = withLazyRequest(e, o.requestText);
          p.entry = entry;
          p.bytes = Buffer.from(keyedLine(entry, o.requestText, decisionText), "utf8");
        } else {
          const base: Omit<UnkeyedLogEntry, "hash"> = { seq: o.seq, ts: o.ts, decision_id: o.decision_id, revision: o.revision, request: JSON.parse(o.requestText) as JsonValue, decision: o.decision, ...(o.sealed !== undefined ? { sealed: o.sealed } : {}), prev: this.prev };
          const entry: UnkeyedLogEntry = { ...base, hash: entryHash(base) };
          p.entry = entry;
          p.bytes = Buffer.from(serialise(entry), "utf8");
        }
        this.prev = entryLink(p.entry);
      } catch (e) {
        this.failure = runtimeError("WPL007", `decision log entry seq ${o.seq} could not be encoded: ${describeThrown(e)}`);
        p.bytes = Buffer.alloc(0);
      }
    }
  }

  /** Resolves when every append issued so far is durable (or has failed), and the head file records it. */
  async flush(): Promise<void> {
    while (this.writing !== null || this.heading !== null) await (this.writing ?? this.heading);
  }

  /** Flushes, closes the file and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
      await this.fh.close();
    } finally {
      await releaseLock(this.lockPath);
    }
  }

  private async drain(): Promise<void> {
    const fail = (e: unknown): void => {
      // The file's tail is now unknown (maybe a partial line): stop; reopening reports it.
      this.failure ??= e instanceof WaypostRuntimeError ? e : runtimeError("WPL007", `cannot write decision log \`${this.path}\`: ${describeThrown(e)}`);
    };
    const rejectQueued = (): void => {
      const batch = this.queue;
      this.queue = [];
      this.unencoded = [];
      for (const p of batch) p.reject?.(this.failure);
    };
    await null; // started by an append: the rest runs after its caller's synchronous work
    try {
      while (this.queue.length > 0) {
        if (this.failure !== null) {
          rejectQueued();
          continue;
        }
        try {
          // Also the first yield: `owned` entries appended meanwhile are encoded below, after
          // their callers' synchronous work, in one go.
          const actual = (await this.fh.stat()).size;
          if (actual !== this.size) {
            throw runtimeError("WPL006", `decision log \`${this.path}\` changed size (${this.size} -> ${actual} bytes): another writer?`);
          }
        } catch (e) {
          fail(e);
          continue;
        }
        this.encodePending();
        if (this.failure !== null) continue;
        const batch = this.queue;
        this.queue = [];
        try {
          const buf = batch.length === 1 ? batch[0]!.bytes! : Buffer.concat(batch.map((p) => p.bytes!));
          let off = 0;
          while (off < buf.length) {
            const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, null);
            off += bytesWritten;
          }
          await this.fh.sync();
          this.size += buf.length;
          for (const p of batch) p.resolve?.(p.entry!);
          const last = batch[batch.length - 1]!.entry!;
          if (this.key !== null) this.updateHead(last.seq, entryLink(last));
        } catch (e) {
          fail(e);
          for (const p of batch) p.reject?.(this.failure);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  /**
   * Records the durable end in the head file. Runs beside the next batch's write (so a caller
   * waiting for its entry never waits for the head too), one head write at a time, always the
   * latest end; intermediate ends are skipped.
   */
  private updateHead(seq: number, mac: string): void {
    this.headTarget = { seq, mac };
    if (this.heading !== null) return;
    this.heading = (async () => {
      try {
        while (this.headTarget !== null) {
          const t = this.headTarget;
          this.headTarget = null;
          await writeHead(this.realPath, this.key!, t.seq, t.mac);
        }
      } catch (e) {
        // Without a current head a cut tail would go unnoticed: stop, like a failed write.
        this.failure ??= runtimeError("WPL007", `cannot update the head file of decision log \`${this.path}\`: ${describeThrown(e)}`);
      } finally {
        this.heading = null;
      }
    })();
  }
}

function tsOf(request: JsonValue): string | null {
  return isJsonObject(request) && typeof request.now === "string" ? request.now : null;
}

async function syncDir(dir: string): Promise<void> {
  // Makes a new file's directory entry durable; not supported on every platform (Windows).
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

export interface LogProblem {
  /** 1-based line number; 0 for a problem of the head file itself. */
  line: number;
  code: RuntimeErrorCode;
  message: string;
}

export interface VerifyLogOptions {
  /** A head (mac or hash) recorded elsewhere earlier: some entry must have it (detects a cut tail). */
  head?: string;
  /** The log key: check every MAC (and the head file's tag). Without it only structure and links are checked. */
  key?: Uint8Array;
  /** The head file to check the tail against (default FILE.head); null to skip it. */
  headFile?: string | null;
}

export interface VerifyLogResult {
  /** No problem found. Whether that proves anything: `proven`. */
  ok: boolean;
  /**
   * Integrity shown with the key: a keyed log, every MAC checked, and its end checked against
   * the head file or an anchored head. Only then can nobody without the key have rewritten it.
   */
  proven: boolean;
  /** Lines that parsed as entries. */
  entries: number;
  problems: LogProblem[];
  /** The last well-formed entry's mac (keyed) or hash (unkeyed): compare with an anchored head. */
  head: string | null;
  lastSeq: number | null;
  /**
   * `macs-verified`: keyed, every MAC checked with the key; `macs-not-checked`: keyed (or
   * empty), no key given; `unkeyed`: a plain hash chain, which anyone can recompute.
   */
  integrity: "macs-verified" | "macs-not-checked" | "unkeyed";
  /** Key id the log names (keyed logs), or null. */
  kid: string | null;
  /** The head file: `checked` (against its tag too when the key was given), `missing`, `not-used`. */
  headFile: "checked" | "missing" | "not-used";
  /** Whether a cut tail would have been seen (head file or anchored head). */
  tail: "checked" | "unchecked";
  /** Entries whose request pseudonyms and sealed copy were erased. */
  erased: number;
  /** What the result does not prove, in words. */
  notes: string[];
}

/**
 * Checks a whole log, streamed (memory bounded by the longest line): every line parses; with the
 * key every MAC matches (WPL003 edited, or a chain recomputed without the key; WPL009 written
 * under another key), and every erasure's MAC; without it, unkeyed entries' hashes; every `prev`
 * links to the line before and the first to genesis (WPL004: deleted, inserted or reordered
 * lines); sequence numbers run 1, 2, 3... (WPL005); the file ends with a newline (WPL001); and
 * the log reaches the entry its head file records (WPL010: entries cut from the end; WPL012: the
 * head file is damaged or forged). An edited line is reported once: links use the stored values.
 */
export async function verifyLog(path: string, options: VerifyLogOptions = {}): Promise<VerifyLogResult> {
  const anchor = options.head?.toLowerCase();
  const key = options.key !== undefined ? logKeyOf(options.key) : null;
  let macKey: LogKey | null = key;
  let anchorSeen = false;
  const problems: LogProblem[] = [];
  let entries = 0;
  let erased = 0;
  let lineNo = 0;
  let expectPrev: string | null = GENESIS_HASH;
  let expectSeq: number | null = 1;
  let head: string | null = null;
  let lastSeq: number | null = null;
  let format: "keyed" | "unkeyed" | null = null;
  let kid: string | null = null;

  // The head file, read first: its entry is looked for on the way.
  const headPath = options.headFile === null ? null : (options.headFile ?? headFileOf(await canonicalPath(path)));
  let headRec: LogHead | null = null;
  let headText: string | null = null;
  if (headPath !== null) {
    try {
      headText = await readFile(headPath, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw runtimeError("WPL007", `cannot read the head file \`${headPath}\`: ${describeThrown(e)}`);
    }
  }
  const headProblem = (message: string, code: RuntimeErrorCode = "WPL012"): void => void problems.push({ line: 0, code, message });
  if (headText !== null) {
    const h = parseHead(headText);
    if (typeof h === "string") headProblem(`the head file \`${basename(headPath!)}\` is damaged: ${h}`);
    else if (key !== null && (h.kid !== key.kid || !digestEqual(h.tag, headTagOf(key.obj, h.kid, h.seq, h.mac)))) {
      if (h.kid !== key.kid) headProblem(`the head file \`${basename(headPath!)}\` was written under log key ${h.kid}, not the given key ${key.kid}: wrong key?`, "WPL009");
      else headProblem(`the head file \`${basename(headPath!)}\` does not verify under the log key (forged or altered)`);
    } else headRec = h;
  }
  let headFound = false; // some entry is the one the head file records (seq and mac)

  const check = (text: string, torn: boolean): void => {
    lineNo++;
    if (torn) {
      problems.push({ line: lineNo, code: "WPL001", message: "last line is incomplete (no newline): a write was interrupted" });
      return;
    }
    const e = parseEntry(text);
    if (typeof e === "string") {
      problems.push({ line: lineNo, code: "WPL002", message: `the line is not a decision log entry: ${e}` });
      expectPrev = null;
      expectSeq = null;
      return;
    }
    entries++;
    const entryFormat = e.v === 2 ? "keyed" : "unkeyed";
    if (format === null) {
      format = entryFormat;
      if (format === "unkeyed" && key !== null) {
        problems.push({
          line: lineNo,
          code: "WPL011",
          message: "the log is unkeyed (a plain hash chain, which anyone who edits it can recompute): the log key proves nothing about it",
        });
      }
    } else if (format !== entryFormat) {
      problems.push({ line: lineNo, code: "WPL002", message: `an ${entryFormat} entry in a${format === "keyed" ? " keyed" : "n unkeyed"} log (lines from another log, or a rewrite)` });
    }
    if (e.v === 2) {
      if (kid === null) {
        kid = e.kid;
        if (key !== null && e.kid !== key.kid) {
          problems.push({ line: lineNo, code: "WPL009", message: `the log was written under log key ${e.kid}, not the given key ${key.kid}: wrong key? (MACs not checked)` });
          macKey = null;
        }
      } else if (e.kid !== kid) {
        problems.push({ line: lineNo, code: "WPL003", message: `entry seq ${e.seq} names log key ${e.kid}, the log's is ${kid} (modified)` });
      }
      if (macKey !== null && e.kid === macKey.kid) {
        const { mac, ...rest } = e;
        let expected: string | null = null;
        try {
          expected = macOf(macKey.obj, rest);
        } catch {
          expected = null;
        }
        if (expected === null || !digestEqual(expected, mac)) {
          problems.push({ line: lineNo, code: "WPL003", message: `entry seq ${e.seq} was modified: its MAC does not match its content (edited, or the chain was recomputed without the key)` });
        } else if (e.erased !== undefined && !digestEqual(e.erased.mac, erasureMacOf(macKey.obj, mac, e.erased.at, e.request))) {
          problems.push({ line: lineNo, code: "WPL003", message: `entry seq ${e.seq} is marked erased, but the erasure does not verify under the log key (its request was altered)` });
        }
      }
      if (e.erased !== undefined) erased++;
    } else {
      const { hash, ...rest } = e;
      let recomputed: string | null = null;
      try {
        recomputed = entryHash(rest);
      } catch {
        recomputed = null;
      }
      if (recomputed !== hash) {
        problems.push({ line: lineNo, code: "WPL003", message: `entry seq ${e.seq} was modified (its hash does not match its content)` });
      }
    }
    const link = entryLink(e);
    if (expectPrev !== null && e.prev !== expectPrev) {
      let why: string;
      if (lineNo === 1) why = "the log does not start at the first entry: lines were deleted from its start";
      else if (expectSeq !== null && e.seq > expectSeq) why = `${e.seq - expectSeq} entr${e.seq - expectSeq === 1 ? "y is" : "ies are"} missing before seq ${e.seq} (deleted)`;
      else if (expectSeq !== null && e.seq < expectSeq) why = `seq ${e.seq} appears after seq ${expectSeq - 1} (lines reordered or duplicated)`;
      else why = "entry does not follow the previous one (a line was inserted or replaced)";
      problems.push({ line: lineNo, code: "WPL004", message: `chain broken: ${why}` });
    } else if (expectSeq !== null && e.seq !== expectSeq) {
      problems.push({ line: lineNo, code: "WPL005", message: `seq ${e.seq} where ${expectSeq} was expected` });
    }
    if (link === anchor) anchorSeen = true;
    if (headRec !== null && e.seq === headRec.seq && digestEqual(link, headRec.mac)) headFound = true;
    expectPrev = link;
    expectSeq = e.seq + 1;
    head = link;
    lastSeq = e.seq;
  };

  try {
    let rest: Buffer = Buffer.alloc(0);
    const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        check(buf.subarray(0, nl).toString("utf8"), false);
        buf = buf.subarray(nl + 1);
      }
      rest = Buffer.from(buf);
    }
    if (rest.length > 0) check(rest.toString("utf8"), true);
  } catch (e) {
    throw runtimeError("WPL007", `cannot read decision log \`${path}\`: ${describeThrown(e)}`);
  }

  const fmt = format as "keyed" | "unkeyed" | null;
  let headFile: VerifyLogResult["headFile"] = "not-used";
  if (headPath !== null && fmt !== "unkeyed") headFile = headText === null ? "missing" : "checked";
  if (headRec !== null) {
    if (fmt === "unkeyed") {
      problems.push({ line: 1, code: "WPL012", message: `the head file \`${basename(headPath!)}\` belongs to a keyed log, but the log is unkeyed: it was rewritten` });
    } else if (kid !== null && headRec.kid !== kid) {
      headProblem(`the head file \`${basename(headPath!)}\` names log key ${headRec.kid}, the log's is ${kid}: it belongs to another log`);
    } else if (headRec.seq > 0) {
      if (lastSeq === null || lastSeq < headRec.seq) {
        problems.push({
          line: lineNo + 1,
          code: "WPL010",
          message: `the head file records seq ${headRec.seq}, but the log ends at ${lastSeq === null ? "no entry" : `seq ${lastSeq}`}: entries were cut from its end`,
        });
      } else if (!headFound) {
        problems.push({ line: lineNo + 1, code: "WPL010", message: `entry seq ${headRec.seq} is not the one the head file records: the log was rewritten` });
      }
    }
  }
  if (anchor !== undefined && !anchorSeen) {
    problems.push({
      line: lineNo + 1,
      code: "WPL010",
      message: `no entry has the anchored head ${anchor}: entries were removed from the end of the log (or it is another log)`,
    });
  }

  const integrity: VerifyLogResult["integrity"] = fmt === "unkeyed" ? "unkeyed" : key !== null && macKey !== null ? "macs-verified" : "macs-not-checked";
  const tail: VerifyLogResult["tail"] = (headFile === "checked" && headRec !== null) || anchor !== undefined ? "checked" : "unchecked";
  const notes: string[] = [];
  if (integrity === "macs-not-checked") notes.push("MACs not checked: no log key was given, so only the structure and the links between entries were checked (anyone can forge those)");
  if (integrity === "unkeyed") notes.push("unkeyed log: a plain hash chain, which whoever edits the log can recompute; it proves integrity against accidents only");
  if (tail === "unchecked" && fmt !== "unkeyed") notes.push(`no head file \`${basename(headPath ?? headFileOf(path))}\` and no anchored head: entries cut from the end of the log would go unnoticed`);
  if (tail === "unchecked" && fmt === "unkeyed") notes.push("entries cut from the end of an unkeyed log go unnoticed unless its head is anchored elsewhere (`--head`)");
  if (erased > 0) notes.push(`${erased} entr${erased === 1 ? "y was" : "ies were"} erased: pseudonyms and sealed requests removed; their MACs still verify`);
  problems.sort((a, b) => a.line - b.line);
  const ok = problems.length === 0;
  return { ok, proven: ok && integrity === "macs-verified" && tail === "checked", entries, problems, head, lastSeq, integrity, kid, headFile, tail, erased, notes };
}

// ---------------------------------------------------------------------------------------------
// Erasure

export interface EraseOptions {
  /** The log key: the log must verify under it, and each erasure is MAC'd with it. */
  key: Uint8Array;
  /** Which entries to erase; asked for every entry not erased yet. */
  match: (entry: KeyedLogEntry) => boolean;
  /** The erasure time recorded in each erased entry (default: now). */
  at?: string;
  /** Context fields erased too, whatever their masking (pseudonyms always are). */
  fields?: readonly string[];
  /** Count what would be erased; change nothing. */
  dryRun?: boolean;
}

export interface EraseResult {
  entries: number;
  /** Entries erased by this call. */
  erased: number;
  /** Sequence numbers of the entries erased by this call. */
  seqs: number[];
  /** Entries that had been erased before. */
  alreadyErased: number;
}

/** The request with every pseudonym in its context, and the `fields` named, replaced by "[erased]". */
function erasedRequest(request: JsonValue, fields: ReadonlySet<string>): JsonValue {
  if (!isJsonObject(request) || !isJsonObject(request.context)) return request;
  const ctx: { [k: string]: JsonValue } = {};
  for (const [k, v] of Object.entries(request.context)) ctx[k] = v !== null && (fields.has(k) || (typeof v === "string" && v.startsWith(PSEUDONYM_PREFIX))) ? ERASED : v;
  return { ...request, context: ctx };
}

/**
 * Honours an erasure request without breaking verification of the rest of the log: every
 * matching entry loses its sealed (unmasked) request and the pseudonyms in its request, and
 * keeps the digests its MAC covers plus an erasure record MAC'd under the log key. The log must
 * verify with the key first (a damaged log is never rewritten); the rewrite holds the writer's
 * lock (WPL008 while a writer has the log open) and replaces the file atomically (temp file,
 * fsync, rename). The head file stays valid: no entry's MAC changes.
 */
export async function eraseFromLog(path: string, options: EraseOptions): Promise<EraseResult> {
  const key = logKeyOf(options.key);
  const at = options.at ?? new Date().toISOString();
  const lockPath = await acquireLock(path);
  const real = await canonicalPath(path);
  let tmp: string | null = null;
  let out: FileHandle | null = null;
  try {
    const r = await verifyLog(real, { key: options.key });
    if (r.integrity === "unkeyed") {
      throw runtimeError("WPL011", `decision log \`${path}\` is unkeyed: its hash chain covers every request, so nothing can be erased from it without breaking verification`);
    }
    const first = r.problems[0];
    if (first !== undefined) throw runtimeError(first.code, `decision log \`${path}\` line ${first.line}: ${first.message}; a log that does not verify is not rewritten`);
    const result: EraseResult = { entries: 0, erased: 0, seqs: [], alreadyErased: 0 };
    const fields = new Set(options.fields ?? []);
    const dryRun = options.dryRun === true;
    if (!dryRun) {
      tmp = tmpName(real, "erase");
      out = await open(tmp, "wx", (await stat(real)).mode & 0o777);
    }
    // Streamed: memory stays bounded by the longest line plus one output chunk.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const NL = Buffer.from("\n");
    const each = (bytes: Buffer): void => {
      const e = parseEntry(bytes.toString("utf8"));
      if (typeof e === "string" || e.v !== 2) throw runtimeError("WPL002", `decision log \`${path}\` changed while it was erased from`);
      result.entries++;
      let line: Buffer | null = null;
      if (e.erased !== undefined) result.alreadyErased++;
      else if (options.match(e)) {
        const request = erasedRequest(e.request, fields);
        const erasure: Erasure = {
          at,
          request: sha256Hex(canonicalJson(e.request)),
          sealed: e.sealed !== undefined ? sha256Hex(e.sealed) : null,
          mac: erasureMacOf(key.obj, e.mac, at, request),
        };
        const { sealed: _sealed, ...kept } = e;
        line = Buffer.from(serialise({ ...kept, request, erased: erasure }), "utf8");
        result.erased++;
        result.seqs.push(e.seq);
      }
      if (dryRun) return;
      if (line !== null) pending.push(line);
      else pending.push(bytes, NL);
      pendingBytes += line?.length ?? bytes.length + 1;
    };
    let rest: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(real, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      let buf = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(0x0a)) >= 0) {
        each(buf.subarray(0, nl));
        buf = buf.subarray(nl + 1);
      }
      rest = Buffer.from(buf);
      if (out !== null && pendingBytes >= 1024 * 1024) {
        await out.writeFile(Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
    if (rest.length > 0) throw runtimeError("WPL001", `decision log \`${path}\` ends with an incomplete line`);
    if (out === null || tmp === null) return result; // dry run
    await out.writeFile(Buffer.concat(pending));
    await out.sync();
    await out.close();
    out = null;
    if (result.erased > 0) {
      await rename(tmp, real);
      tmp = null;
      await syncDir(dirname(real));
    }
    return result;
  } finally {
    await out?.close().catch(() => undefined);
    if (tmp !== null) await unlink(tmp).catch(() => undefined);
    await releaseLock(lockPath);
  }
}
