/**
 * The decision log: append-only JSON Lines, hash-chained so that editing, deleting, inserting
 * or reordering entries is detectable by `verifyLog`.
 *
 * Each line is `{seq, ts, decision_id, revision, request, decision, prev, hash}`: `prev` is the
 * previous entry's `hash` (64 zeros for the first), `hash` is SHA-256 of the canonical JSON
 * (sorted keys) of the entry without `hash`. The chain cannot show that entries were cut from
 * the END of the log; anchor the head hash (`DecisionLog.head`, `verifyLog().head`) somewhere
 * else (a ticket, a transparency log) when that matters.
 *
 * Durability: the file is opened O_APPEND; `append()` resolves only after the line was written
 * and fsync'd. Appends issued while a write is in flight are group-committed (one write, one
 * fsync). On open the last line is read and checked so the chain continues; a last line
 * without its newline (a crash mid-write) is reported (WPL001) and never overwritten: an
 * operator repairs it deliberately. One process writes a log at a time; a size check before
 * each write detects another writer (WPL006).
 */
import { open, stat, type FileHandle } from "node:fs/promises";
import { createReadStream } from "node:fs";
import { dirname } from "node:path";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { canonicalJson, isJsonObject, quote, sha256Hex, sortedKeys, type JsonValue } from "./json.js";
import { describeThrown, runtimeError, WaypostRuntimeError, type RuntimeErrorCode } from "./errors.js";

export const GENESIS_HASH = "0".repeat(64);

export interface LogEntry {
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
  prev: string;
  hash: string;
}

export interface AppendInput {
  decision_id: string;
  revision: string;
  /** Already masked: the log stores what it is given. */
  request: JsonValue;
  decision: JsonValue;
  /** The request as evaluated; sealed into the entry only when the log has a replay key. */
  replay?: unknown;
}

export type MaskMode = "none" | "hash" | "redact";
/** The part of `Plan.fields` masking needs: field name -> `{mask}`. */
export type FieldMasks = Readonly<Record<string, { readonly mask?: MaskMode | string }>>;

export const REDACTED = "[redacted]";

const hashValue = (v: JsonValue): string => "sha256:" + sha256Hex(typeof v === "string" ? v : canonicalJson(v));

// Request keys whose values are kept so a logged decision can be replayed exactly.
const KEPT_KEYS = new Set(["system", "event", "node", "now", "history"]);
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * Masks a request for the log: `context[k]` by `fields[k].mask` (`none` kept, `hash` ->
 * "sha256:<hex>" of the string's UTF-8 or of other values' canonical JSON, `redact` ->
 * "[redacted]"). A context key absent from the dictionary is redacted (unknown sensitivity),
 * null stays null (it says only "no value"). Top-level keys other than system, event, node,
 * now, context and history are redacted too. Hashing throws TypeError for a non-JSON value;
 * kept values are shared with `request`, so serialise the result before the request changes.
 */
export function maskRequest(request: unknown, fields: FieldMasks): JsonValue {
  if (request === null || request === undefined) return null;
  if (!isJsonObject(request)) return REDACTED;
  // Runs on every decision (the decision id hashes its result): plain key loops, no
  // Object.entries pair arrays.
  const out: { [k: string]: JsonValue } = {};
  const src = request as Record<string, unknown>;
  // Keys are inserted sorted so canonicalJson can hand the masked context (and the top level,
  // when its values allow) to the native JSON.stringify.
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
        else if (mode === "hash") ctx[name] = hashValue(value as JsonValue);
        else ctx[name] = REDACTED;
      }
      out[k] = ctx;
    } else out[k] = REDACTED;
  }
  return out;
}

const REDACTED_JSON = JSON.stringify(REDACTED);

/**
 * `canonicalJson(maskRequest(request, fields))`, without building the masked request: the
 * decision id hashes this text on every decision, and the masked object is only needed when
 * a log is attached. Same text, same exceptions (both go through the same value rules).
 */
export function maskedCanonicalJson(request: unknown, fields: FieldMasks): string {
  if (request === null || request === undefined) return "null";
  if (!isJsonObject(request)) return REDACTED_JSON;
  const src = request as Record<string, unknown>;
  let out = "{";
  for (const k of sortedKeys(src)) {
    const v = src[k];
    if (v === undefined) continue;
    let text: string;
    if (KEPT_KEYS.has(k)) text = canonicalJson(v);
    else if (k === "context" && isJsonObject(v)) {
      const c = v as Record<string, unknown>;
      text = "{";
      for (const name of sortedKeys(c)) {
        const value = c[name];
        if (value === undefined) continue;
        let masked: string;
        if (value === null) masked = "null";
        else {
          const mode = hasOwn.call(fields, name) ? (fields[name]?.mask ?? "redact") : "redact";
          if (mode === "none") masked = canonicalJson(value);
          else if (mode === "hash") masked = quote(hashValue(value as JsonValue));
          else masked = REDACTED_JSON;
        }
        text += (text.length === 1 ? "" : ",") + quote(name) + ":" + masked;
      }
      text += "}";
    } else text = REDACTED_JSON;
    out += (out.length === 1 ? "" : ",") + quote(k) + ":" + text;
  }
  return out + "}";
}

/** SHA-256 of the canonical entry without its `hash`. */
export function entryHash(e: Omit<LogEntry, "hash">): string {
  const body: Record<string, JsonValue> = { seq: e.seq, ts: e.ts, decision_id: e.decision_id, revision: e.revision, request: e.request, decision: e.decision, prev: e.prev };
  // Only present when sealed, so entries without it hash as they always did.
  if (e.sealed !== undefined) body["sealed"] = e.sealed;
  return sha256Hex(canonicalJson(body));
}

const ENTRY_KEYS = ["seq", "ts", "decision_id", "revision", "request", "decision", "prev", "hash"];
const SEALED_PREFIX = "v1.";

/**
 * A replay key: 32 bytes, written as 64 hex digits or base64 (a file's trimmed content, or an
 * environment variable). Returns the key, or why the text is not one.
 */
export function parseReplayKey(text: string): Uint8Array | string {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Uint8Array.from(Buffer.from(t, "hex"));
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (b.length === 32) return Uint8Array.from(b);
  }
  return "a replay key is 32 bytes written as 64 hex digits or base64 (e.g. `openssl rand -hex 32`)";
}

const sealAad = (seq: number, decisionId: string, revision: string): Buffer => Buffer.from(`waypost.replay.v1\0${seq}\0${decisionId}\0${revision}`, "utf8");

function seal(key: Uint8Array, seq: number, decisionId: string, revision: string, request: unknown): string {
  const iv = randomBytes(12); // a fresh nonce per entry: never reused under one key
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(sealAad(seq, decisionId, revision));
  const ct = Buffer.concat([c.update(canonicalJson(request as JsonValue), "utf8"), c.final()]);
  return SEALED_PREFIX + Buffer.concat([iv, ct, c.getAuthTag()]).toString("base64url");
}

/**
 * The unmasked request of a sealed entry, or why it cannot be had: no sealed copy, a wrong key,
 * or a sealed copy moved from another entry (the authentication covers seq, id and revision).
 */
export function unsealRequest(entry: LogEntry, key: Uint8Array): { ok: true; request: JsonValue } | { ok: false; error: string } {
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

/** Parses one log line into an entry, or returns why it is not one. */
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
  if (keys.length !== ENTRY_KEYS.length + (sealed ? 1 : 0) || !ENTRY_KEYS.every((k) => k in v)) {
    return `keys must be exactly ${ENTRY_KEYS.join(", ")} (and optionally sealed)`;
  }
  if (sealed && typeof v.sealed !== "string") return "`sealed` is not a string";
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 1) return "`seq` is not a positive integer";
  if (v.ts !== null && typeof v.ts !== "string") return "`ts` is not a string or null";
  if (typeof v.decision_id !== "string" || typeof v.revision !== "string") return "`decision_id` or `revision` is not a string";
  const hex = /^[0-9a-f]{64}$/;
  if (typeof v.prev !== "string" || !hex.test(v.prev) || typeof v.hash !== "string" || !hex.test(v.hash)) {
    return "`prev` or `hash` is not a SHA-256 hex digest";
  }
  return v as unknown as LogEntry;
}

const serialise = (e: LogEntry): string =>
  JSON.stringify({
    seq: e.seq,
    ts: e.ts,
    decision_id: e.decision_id,
    revision: e.revision,
    request: e.request,
    decision: e.decision,
    ...(e.sealed !== undefined ? { sealed: e.sealed } : {}),
    prev: e.prev,
    hash: e.hash,
  }) + "\n";

interface Pending {
  bytes: Buffer;
  entry: LogEntry;
  resolve: (e: LogEntry) => void;
  reject: (e: unknown) => void;
}

export interface OpenLogOptions {
  /** File mode for a new log (default 0o600: entries hold personal data, even masked). */
  mode?: number;
  /** 32-byte key: seal each unmasked request into its entry for exact replay (see `sealed`). */
  replayKey?: Uint8Array;
}

export class DecisionLog {
  readonly path: string;
  private fh: FileHandle;
  private seq: number;
  private prev: string;
  private size: number;
  private queue: Pending[] = [];
  private writing: Promise<void> | null = null;
  private failure: WaypostRuntimeError | null = null;
  private closed = false;

  private readonly replayKey: Uint8Array | null;

  private constructor(path: string, fh: FileHandle, seq: number, prev: string, size: number, replayKey: Uint8Array | null) {
    this.replayKey = replayKey;
    this.path = path;
    this.fh = fh;
    this.seq = seq;
    this.prev = prev;
    this.size = size;
  }

  /**
   * Opens (or creates) a log and positions the chain after its last entry. Throws WPL001 for a
   * torn last line, WPL002/WPL003 when the last entry is damaged, WPL007 for I/O errors.
   */
  static async open(path: string, options: OpenLogOptions = {}): Promise<DecisionLog> {
    let existed = true;
    try {
      await stat(path);
    } catch {
      existed = false;
    }
    let fh: FileHandle;
    try {
      fh = await open(path, "a+", options.mode ?? 0o600);
    } catch (e) {
      throw runtimeError("WPL007", `cannot open decision log \`${path}\`: ${describeThrown(e)}`);
    }
    try {
      if (!existed) await syncDir(dirname(path));
      const size = (await fh.stat()).size;
      const key = options.replayKey ?? null;
      if (key !== null && key.length !== 32) throw runtimeError("WPL007", "the replay key must be 32 bytes");
      if (size === 0) return new DecisionLog(path, fh, 0, GENESIS_HASH, 0, key);
      const last = await readLastLine(fh, size);
      if (last.torn) {
        throw runtimeError(
          "WPL001",
          `decision log \`${path}\` ends with an incomplete entry at byte ${last.start} (a write was interrupted); ` +
            "inspect it with `waypost log verify` and truncate the partial line deliberately before appending",
        );
      }
      const entry = parseEntry(last.text);
      if (typeof entry === "string") throw runtimeError("WPL002", `last entry of \`${path}\` is invalid: ${entry}`);
      const { hash, ...rest } = entry;
      if (entryHash(rest) !== hash) throw runtimeError("WPL003", `last entry of \`${path}\` (seq ${entry.seq}) was modified`);
      return new DecisionLog(path, fh, entry.seq, entry.hash, size, key);
    } catch (e) {
      await fh.close().catch(() => undefined);
      if (e instanceof WaypostRuntimeError) throw e;
      throw runtimeError("WPL007", `cannot read decision log \`${path}\`: ${describeThrown(e)}`);
    }
  }

  /** Hash of the last entry appended (or found on open): the chain head to anchor elsewhere. */
  get head(): string {
    return this.prev;
  }

  /** Sequence number of the last entry. */
  get lastSeq(): number {
    return this.seq;
  }

  /** The error that stopped the log, if any: after a failed write no further append succeeds. */
  get error(): WaypostRuntimeError | null {
    return this.failure;
  }

  /**
   * Appends an entry; resolves once it is on disk (written and fsync'd). The sequence number
   * and chain link are assigned synchronously, so entries are ordered by call order.
   */
  append(input: AppendInput): Promise<LogEntry> {
    if (this.closed) return Promise.reject(runtimeError("WPL007", `decision log \`${this.path}\` is closed`));
    if (this.failure !== null) return Promise.reject(this.failure);
    let entry: LogEntry;
    try {
      const seq = this.seq + 1;
      const base: Omit<LogEntry, "hash"> = {
        seq,
        ts: tsOf(input.request),
        decision_id: input.decision_id,
        revision: input.revision,
        request: input.request,
        decision: input.decision,
        prev: this.prev,
      };
      if (this.replayKey !== null && input.replay !== undefined) base.sealed = seal(this.replayKey, seq, input.decision_id, input.revision, input.replay);
      entry = { ...base, hash: entryHash(base) };
    } catch (e) {
      return Promise.reject(runtimeError("WPL007", `decision log entry is not JSON: ${describeThrown(e)}`));
    }
    this.seq = entry.seq;
    this.prev = entry.hash;
    const bytes = Buffer.from(serialise(entry), "utf8");
    return new Promise<LogEntry>((resolve, reject) => {
      this.queue.push({ bytes, entry, resolve, reject });
      if (this.writing === null) this.writing = this.drain();
    });
  }

  /** Resolves when every append issued so far is durable (or has failed). */
  async flush(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    await this.fh.close();
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        if (this.failure !== null) {
          for (const p of batch) p.reject(this.failure);
          continue;
        }
        try {
          const actual = (await this.fh.stat()).size;
          if (actual !== this.size) {
            throw runtimeError("WPL006", `decision log \`${this.path}\` changed size (${this.size} -> ${actual} bytes): another writer?`);
          }
          const buf = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((p) => p.bytes));
          let off = 0;
          while (off < buf.length) {
            const { bytesWritten } = await this.fh.write(buf, off, buf.length - off, null);
            off += bytesWritten;
          }
          await this.fh.sync();
          this.size += buf.length;
          for (const p of batch) p.resolve(p.entry);
        } catch (e) {
          // The file's tail is now unknown (maybe a partial line): stop; reopening reports it.
          this.failure = e instanceof WaypostRuntimeError ? e : runtimeError("WPL007", `cannot write decision log \`${this.path}\`: ${describeThrown(e)}`);
          for (const p of batch) p.reject(this.failure);
        }
      }
    } finally {
      this.writing = null;
    }
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

async function readLastLine(fh: FileHandle, size: number): Promise<{ text: string; start: number; torn: boolean }> {
  const lastByte = Buffer.alloc(1);
  await fh.read(lastByte, 0, 1, size - 1);
  const torn = lastByte[0] !== 0x0a;
  const end = torn ? size : size - 1; // exclusive end of the last line's text
  const CHUNK = 64 * 1024;
  const parts: Buffer[] = [];
  let pos = end;
  let start = 0;
  while (pos > 0) {
    const from = Math.max(0, pos - CHUNK);
    const buf = Buffer.alloc(pos - from);
    await fh.read(buf, 0, buf.length, from);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) {
      parts.unshift(buf.subarray(nl + 1));
      start = from + nl + 1;
      break;
    }
    parts.unshift(buf);
    pos = from;
  }
  return { text: Buffer.concat(parts).toString("utf8"), start, torn };
}

export interface LogProblem {
  /** 1-based line number. */
  line: number;
  code: RuntimeErrorCode;
  message: string;
}

export interface VerifyLogOptions {
  /** A head hash recorded elsewhere earlier: some entry must have it (detects a cut tail). */
  head?: string;
}

export interface VerifyLogResult {
  ok: boolean;
  /** Lines that parsed as entries. */
  entries: number;
  problems: LogProblem[];
  /** Hash of the last well-formed entry (compare with an externally anchored head). */
  head: string | null;
  lastSeq: number | null;
}

/**
 * Checks a whole log: every line parses, every hash matches its content (WPL003 edited), every
 * `prev` links to the line before and the first to genesis (WPL004: deleted, inserted or
 * reordered lines), sequence numbers run 1, 2, 3... (WPL005), and the file ends with a newline
 * (WPL001 torn tail). An edited line is reported once: the chain check uses the stored hashes.
 */
export async function verifyLog(path: string, options: VerifyLogOptions = {}): Promise<VerifyLogResult> {
  const anchor = options.head?.toLowerCase();
  let anchorSeen = false;
  const problems: LogProblem[] = [];
  let entries = 0;
  let lineNo = 0;
  let expectPrev: string | null = GENESIS_HASH;
  let expectSeq: number | null = 1;
  let head: string | null = null;
  let lastSeq: number | null = null;

  const check = (text: string, torn: boolean): void => {
    lineNo++;
    if (torn) {
      problems.push({ line: lineNo, code: "WPL001", message: "last line is incomplete (no newline): a write was interrupted" });
      return;
    }
    const e = parseEntry(text);
    if (typeof e === "string") {
      problems.push({ line: lineNo, code: "WPL002", message: `not a log entry: ${e}` });
      expectPrev = null;
      expectSeq = null;
      return;
    }
    entries++;
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
    if (hash === anchor) anchorSeen = true;
    expectPrev = hash;
    expectSeq = e.seq + 1;
    head = hash;
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
  if (anchor !== undefined && !anchorSeen) {
    problems.push({
      line: lineNo + 1,
      code: "WPL004",
      message: `no entry has the anchored head hash ${anchor}: entries were removed from the end of the log (or it is another log)`,
    });
  }
  return { ok: problems.length === 0, entries, problems, head, lastSeq };
}
