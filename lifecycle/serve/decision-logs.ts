/**
 * Decision logs in OPA's event format, exported from the local keyed log and uploaded to an
 * OPA-compatible collector.
 *
 * The local log (runtime/log.ts) stays the source of truth: the uploader reads it, never a
 * second in-memory copy, so a collector that is down loses nothing (the log on disk is the
 * buffer; at most `bufferSizeLimitEvents` entries are held in memory at once). Only durable
 * entries are exported (up to the head file's seq for a keyed log). After the collector
 * acknowledges a batch (2xx), the last seq and its chain link are written to `<log>.uploaded`
 * (temp file, fsync, rename) before the next batch, so a restart resumes after the last
 * acknowledged entry. A crash between the acknowledgement and that write re-sends one batch:
 * each event carries `req_id` (= the log seq) and `labels.id`, by which a collector can drop it.
 *
 * Each event carries the entry's place in the MAC chain (`custom.waypost`: seq, prev, mac or
 * hash, kid), so the collector's copy can be checked for gaps and order against the local log,
 * which `waypost log verify` checks with the key.
 */
import { open, readFile, rename } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import { headFileOf, parseEntry, REDACTED, ERASED, PSEUDONYM_PREFIX, entryLink, type LogEntry } from "../../runtime/log.js";
import { isJsonObject, type JsonValue } from "../../runtime/json.js";
import { ENTRYPOINTS } from "../../runtime/contract.js";

export interface OpaDecisionEvent {
  labels: Record<string, string>;
  decision_id: string;
  path: string;
  input: JsonValue;
  result: JsonValue;
  bundles: Record<string, { revision: string }>;
  timestamp: string;
  req_id: number;
  masked?: string[];
  erased?: string[];
  custom: { waypost: { log: string; seq: number; prev: string; mac?: string; hash?: string; kid?: string; decided_at: string | null } };
}

const pointer = (...parts: string[]): string => "/" + parts.map((p) => p.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");

/**
 * One local log entry as OPA's decision event. `timestamp` is the decision's own time (the
 * request's `now`, which the log records) or, for a request without one, `fallbackTime`.
 */
export function toOpaEvent(e: LogEntry, o: { bundle: string; labels: Record<string, string>; log: string; fallbackTime: string }): OpaDecisionEvent {
  const masked: string[] = [];
  const erased: string[] = [];
  const req = e.request;
  if (isJsonObject(req) && isJsonObject(req.context)) {
    for (const [k, v] of Object.entries(req.context)) {
      if (v === ERASED) erased.push(pointer("input", "context", k));
      else if (v === REDACTED || (typeof v === "string" && v.startsWith(PSEUDONYM_PREFIX))) masked.push(pointer("input", "context", k));
    }
  }
  const chain = e.v === 2 ? { mac: e.mac, kid: e.kid } : { hash: e.hash };
  return {
    labels: o.labels,
    decision_id: e.decision_id,
    path: ENTRYPOINTS.decide,
    input: e.request,
    result: e.decision,
    bundles: { [o.bundle]: { revision: e.revision } },
    timestamp: e.ts ?? o.fallbackTime,
    req_id: e.seq,
    ...(masked.length ? { masked } : {}),
    ...(erased.length || (e.v === 2 && e.erased) ? { erased: erased.length ? erased : ["/input"] } : {}),
    custom: { waypost: { log: o.log, seq: e.seq, prev: e.prev, ...chain, decided_at: e.ts } },
  };
}

interface Cursor {
  seq: number;
  link: string;
}

export interface UploaderOptions {
  /** The local log file (one writer: this process). */
  log: string;
  url: string;
  headers: Record<string, string>;
  bundle: string;
  labels: Record<string, string>;
  minDelayMs: number;
  maxDelayMs: number;
  uploadSizeLimitBytes: number;
  bufferSizeLimitEvents: number;
  /** Called after each attempt (for metrics and logs). */
  onResult?: (r: { ok: true; events: number; lastSeq: number } | { ok: false; error: string; retryInMs: number }) => void;
  fetchTimeoutMs?: number;
}

export const cursorFileOf = (log: string): string => log + ".uploaded";

async function readCursor(file: string): Promise<Cursor> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { seq: 0, link: "" };
    throw e;
  }
  const v = JSON.parse(text) as unknown;
  if (!isJsonObject(v) || typeof v.seq !== "number" || typeof v.link !== "string") throw new Error(`${file} is not an upload cursor`);
  return { seq: v.seq, link: v.link };
}

async function writeCursor(file: string, c: Cursor): Promise<void> {
  const tmp = `${file}.tmp`;
  const fh = await open(tmp, "w", 0o600);
  try {
    await fh.writeFile(JSON.stringify({ v: 1, seq: c.seq, link: c.link }) + "\n");
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** The last durable seq: the head file's for a keyed log, otherwise every complete line counts. */
async function durableSeq(log: string): Promise<number> {
  try {
    const v = JSON.parse(await readFile(headFileOf(log), "utf8")) as unknown;
    if (isJsonObject(v) && typeof v.seq === "number") return v.seq;
  } catch {
    // unkeyed log (no head file) or not written yet
  }
  return Number.POSITIVE_INFINITY;
}

/**
 * Uploads the local log's entries after the cursor in batches. `run()` loops until `stop()`;
 * `drain()` uploads everything durable now (used at shutdown), retrying with backoff until
 * `deadline`.
 */
export class DecisionLogUploader {
  private cursor: Cursor | null = null;
  /** Byte offset in the log just after the cursor's entry (found on the first read). */
  private offset = 0;
  private stopped = false;
  private wake: (() => void) | null = null;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Entries written to the log but not yet acknowledged by the collector (an estimate for metrics). */
  backlog = 0;
  lastError: string | null = null;

  constructor(private readonly o: UploaderOptions) {}

  /** Seq of the last entry the collector acknowledged (0: none yet, or not read yet). */
  get acknowledgedSeq(): number {
    return this.cursor?.seq ?? 0;
  }

  private async init(): Promise<Cursor> {
    if (this.cursor) return this.cursor;
    const c = await readCursor(cursorFileOf(this.o.log));
    // Find the cursor's entry; its link must match (else the log is not the one we uploaded).
    if (c.seq > 0) {
      const found = await this.scan(0, (e) => e.seq === c.seq);
      if (!found) throw new Error(`the upload cursor names entry ${c.seq}, which ${this.o.log} does not have: the log was replaced`);
      if (entryLink(found.entry) !== c.link) throw new Error(`entry ${c.seq} of ${this.o.log} is not the one uploaded (its chain link differs): the log was replaced`);
      this.offset = found.end;
    }
    this.cursor = c;
    return c;
  }

  /** Streams complete lines from byte `from`; returns the first entry `hit` accepts and the offset after it. */
  private async scan(from: number, hit: (e: LogEntry) => boolean): Promise<{ entry: LogEntry; end: number } | null> {
    const batch = await this.readFrom(from, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, hit);
    return batch.stopAt;
  }

  /**
   * Reads entries from byte `from`: at most `maxEvents` and up to seq `maxSeq`; with `hit`, stops
   * at the first entry it accepts. Reads in 1 MiB chunks, so memory is bounded by the batch.
   */
  private async readFrom(from: number, maxEvents: number, maxSeq: number, hit?: (e: LogEntry) => boolean) {
    const out: { entry: LogEntry; end: number }[] = [];
    let stopAt: { entry: LogEntry; end: number } | null = null;
    const fh = await open(this.o.log, "r").catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return null;
      throw e;
    });
    if (fh === null) return { events: out, stopAt };
    try {
      const size = (await fh.stat()).size;
      let pos = from;
      let carry = Buffer.alloc(0);
      const chunk = Buffer.alloc(1 << 20);
      outer: while (pos < size) {
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
        if (bytesRead === 0) break;
        let buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : Buffer.from(chunk.subarray(0, bytesRead));
        const base = pos - carry.length;
        pos += bytesRead;
        let start = 0;
        for (;;) {
          const nl = buf.indexOf(10, start);
          if (nl < 0) break;
          const line = buf.subarray(start, nl).toString("utf8");
          const end = base + nl + 1;
          start = nl + 1;
          const e = parseEntry(line);
          if (typeof e === "string") throw new Error(`${this.o.log} at byte ${end - line.length - 1}: ${e}`);
          if (hit) {
            if (hit(e)) {
              stopAt = { entry: e, end };
              break outer;
            }
            continue;
          }
          if (e.seq > maxSeq) break outer;
          out.push({ entry: e, end });
          if (out.length >= maxEvents) break outer;
        }
        buf = buf.subarray(start);
        carry = Buffer.from(buf);
      }
    } finally {
      await fh.close();
    }
    return { events: out, stopAt };
  }

  /** One upload attempt of the next batch. Returns the number of events acknowledged (0: nothing to send). */
  async uploadOnce(): Promise<number> {
    const c = await this.init();
    const durable = await durableSeq(this.o.log);
    const { events } = await this.readFrom(this.offset, this.o.bufferSizeLimitEvents, durable);
    const pending = events.filter((x) => x.entry.seq > c.seq);
    if (pending.length === 0) {
      this.backlog = 0;
      return 0;
    }
    // A batch up to the size limit (uncompressed JSON; always at least one event).
    const now = new Date().toISOString();
    const batch: OpaDecisionEvent[] = [];
    let bytes = 2;
    let last = pending[0]!;
    for (const x of pending) {
      const ev = toOpaEvent(x.entry, { bundle: this.o.bundle, labels: this.o.labels, log: this.o.log, fallbackTime: now });
      const n = JSON.stringify(ev).length + 1;
      if (batch.length > 0 && bytes + n > this.o.uploadSizeLimitBytes) break;
      batch.push(ev);
      bytes += n;
      last = x;
    }
    const body = gzipSync(Buffer.from(JSON.stringify(batch), "utf8"));
    const res = await fetch(this.o.url, {
      method: "POST",
      headers: { ...this.o.headers, "Content-Type": "application/json", "Content-Encoding": "gzip" },
      body,
      redirect: "error",
      signal: AbortSignal.timeout(this.o.fetchTimeoutMs ?? 30_000),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`the collector answered HTTP ${res.status}`);
    const next = { seq: last.entry.seq, link: entryLink(last.entry) };
    await writeCursor(cursorFileOf(this.o.log), next);
    this.cursor = next;
    this.offset = last.end;
    this.backlog = Math.max(0, pending.length - batch.length);
    return batch.length;
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.o;
    if (this.failures === 0) return minDelayMs + Math.random() * (maxDelayMs - minDelayMs);
    // Exponential backoff from the minimum delay, capped at the maximum, with jitter.
    const base = Math.min(maxDelayMs, Math.max(minDelayMs, 100) * 2 ** Math.min(this.failures - 1, 30));
    return base / 2 + Math.random() * (base / 2);
  }

  /** Sends everything durable now; returns after success or a failed attempt. */
  async uploadAll(): Promise<void> {
    for (;;) {
      const n = await this.uploadOnce();
      this.failures = 0;
      this.lastError = null;
      if (n === 0) return;
      this.o.onResult?.({ ok: true, events: n, lastSeq: this.cursor!.seq });
    }
  }

  /** Uploads periodically until `stop()`. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.uploadAll();
      } catch (e) {
        this.failures++;
        this.lastError = (e as Error).message;
        this.o.onResult?.({ ok: false, error: this.lastError, retryInMs: this.delay() });
      }
      if (this.stopped) break;
      await new Promise<void>((r) => {
        this.wake = r;
        this.timer = setTimeout(r, this.delay());
      });
      this.wake = null;
    }
  }

  /** Upload soon (e.g. after a decision, when the reporting delay is short). */
  nudge(): void {
    if (this.failures === 0 && this.wake) {
      if (this.timer) clearTimeout(this.timer);
      this.wake();
    }
  }

  /** Stops the loop; then `drain` to send what is left. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  /** At shutdown: retries with backoff until everything durable is acknowledged or the deadline passes. */
  async drain(deadlineMs: number): Promise<boolean> {
    const until = Date.now() + deadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.uploadAll();
        return true;
      } catch (e) {
        this.lastError = (e as Error).message;
        const wait = Math.min(200 * 2 ** attempt, 5000);
        if (Date.now() + wait > until) return false;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}
