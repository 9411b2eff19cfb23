/**
 * Keeps an engine on the current bundle of an artifact store (a folder written by
 * `waypost release` / `waypost rollback`) or of an HTTP URL serving the OPA bundle API.
 *
 * Store layout: runtime/contract.ts (`index.json`, `bundles/<revision>.tar.gz`, `sha256:` digests);
 * lifecycle/release.ts writes it.
 *
 * Each poll reads the index; when `current` names another bundle than the active one, the
 * bytes are checked against the digest and handed to `engine.swap`, which activates them in
 * one reference assignment after verification. Anything wrong (index torn or unreadable,
 * digest mismatch, signature, a bundle that fails its self-check) leaves the last good bundle
 * serving and is reported once per distinct failure, not on every poll.
 *
 * HTTP: `GET url` with `If-None-Match: <etag>`; 304 means unchanged; 200 carries the bundle.
 * Every read is bounded, because the source may be slow, broken or hostile: one deadline per
 * fetch (connecting, redirects and the whole body), a size limit checked against
 * Content-Length first and then counted while the body streams (the fetch is aborted the
 * moment it is passed), at most `maxRedirects` redirects (never from https to http, and the
 * caller's headers, which may carry credentials, go only to the URL's own origin), and the
 * tar reader's limits while inflating (runtime/tar.ts: a gzip bomb stops early). Store folders
 * get the same size limits, and `index.json` and the bundle must be regular files (a FIFO
 * there would block the poll forever).
 */
import { createHash } from "node:crypto";
import { constants as fsc } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "./bundle.js";
import { REVISION_NAME, STORE_DIGEST_PREFIX, STORE_INDEX_FILE, STORE_INDEX_VERSION, storeBundleFile, type StoreIndex } from "./contract.js";
import type { Engine } from "./engine.js";
import type { Problem, StoreCode } from "./codes.js";
import { WaypostRuntimeError, type ErrorInfo } from "./errors.js";
import type { PublicKeyInput } from "./keys.js";

/**
 * What went wrong, with a stable code: a runtime error code (a bad bundle, WPR0xx) or one of the
 * store's own (WPS0xx, runtime/codes.ts): the index, the current bundle file, fetching a URL.
 */
export type StoreProblem = Problem<ErrorInfo["code"] | StoreCode>;

export type StoreEvent =
  | { type: "activated"; revision: string; previous: string | null }
  | { type: "rejected"; revision: string | null; error: StoreProblem; /** still serving */ active: string | null }
  | { type: "unchanged" };

export interface WatchOptions {
  /** Poll interval in ms (default 5000). */
  intervalMs?: number;
  /** Require bundles signed by this key (passed to `engine.swap`; the engine's own choice otherwise). */
  publicKey?: PublicKeyInput;
  /** Activate bundles without verifying them (passed to `engine.swap`); without a key or this, the engine's choice applies. */
  skipVerify?: boolean;
  onEvent?: (e: StoreEvent) => void;
  /** For HTTP sources: extra request headers (e.g. authorization), sent only to the URL's origin. */
  headers?: Record<string, string>;
  /** For HTTP sources: deadline of one fetch, redirects and body included, in ms (default 60000). */
  timeoutMs?: number;
  /** Largest bundle accepted, compressed, in bytes (default 256 MiB); also for store folders. */
  maxBundleBytes?: number;
  /** For HTTP sources: redirects followed per fetch (default 5; 0 refuses every redirect). */
  maxRedirects?: number;
}

export const STORE_DEFAULTS = { intervalMs: 5000, timeoutMs: 60_000, maxBundleBytes: 256 * 1024 * 1024, maxRedirects: 5 } as const;
/** An index holds a few hundred bytes per release: 16 MiB is tens of thousands of releases. */
const MAX_INDEX_BYTES = 16 * 1024 * 1024;

export interface StoreWatcher {
  /** Polls now (also what the timer calls); resolves when the poll, and any swap, is done. */
  poll(): Promise<StoreEvent>;
  stop(): void;
}

/** The digest a store records for a bundle file (`sha256:<hex>`). */
export const bundleDigest = (b: Uint8Array): string => STORE_DIGEST_PREFIX + createHash("sha256").update(b).digest("hex");

interface Current {
  revision: string;
  digest: string;
}

type Bounded = { ok: true; bytes: Uint8Array } | { ok: false; tooLarge: boolean; message: string };

/**
 * Reads a regular file of at most `max` bytes. Opened non-blocking, so a FIFO put in its
 * place cannot stall the poll; the size is checked before reading and counted while reading
 * (the file may grow in between).
 */
async function readBounded(file: string, max: number): Promise<Bounded> {
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | (fsc.O_NONBLOCK ?? 0));
  } catch (e) {
    return { ok: false, tooLarge: false, message: (e as Error).message };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, tooLarge: false, message: "not a regular file" };
    if (st.size > max) return { ok: false, tooLarge: true, message: `${st.size} bytes, the limit is ${max}` };
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const buf = new Uint8Array(Math.min(Math.max(st.size - total, 0) + 1, max - total + 1, 1 << 24));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > max) return { ok: false, tooLarge: true, message: `more than ${max} bytes` };
      chunks.push(buf.subarray(0, bytesRead));
    }
    return { ok: true, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
  } catch (e) {
    return { ok: false, tooLarge: false, message: (e as Error).message };
  } finally {
    await fh.close();
  }
}

async function readCurrent(store: string): Promise<Current | StoreProblem | null> {
  const r = await readBounded(join(store, STORE_INDEX_FILE), MAX_INDEX_BYTES);
  if (!r.ok) {
    return { code: r.tooLarge ? "WPS005" : "WPS001", message: `cannot read the store index in \`${store}\`: ${r.message}` };
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(r.bytes);
  } catch {
    return { code: "WPS001", message: `the store index in \`${store}\` is not UTF-8 text` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { code: "WPS001", message: `the store index in \`${store}\` is not valid JSON` };
  }
  const idx = v as { [K in keyof StoreIndex]?: unknown };
  if (typeof v !== "object" || v === null || idx.version !== STORE_INDEX_VERSION || !Array.isArray(idx.releases)) {
    return { code: "WPS001", message: `the store index in \`${store}\` has an unknown format` };
  }
  if (idx.current === null) return null;
  if (typeof idx.current !== "string" || !REVISION_NAME.test(idx.current)) {
    return { code: "WPS001", message: `the store index in \`${store}\` names an invalid current revision` };
  }
  const rel = (idx.releases as unknown[]).find((r) => typeof r === "object" && r !== null && (r as { revision?: unknown }).revision === idx.current) as
    | { digest?: unknown }
    | undefined;
  if (!rel || typeof rel.digest !== "string") {
    return { code: "WPS001", message: `the store index in \`${store}\` has no release entry for \`${idx.current}\`` };
  }
  return { revision: idx.current, digest: rel.digest };
}

type Fetched =
  | { kind: "bundle"; bytes: Uint8Array; etag: string | null }
  | { kind: "unchanged" }
  | { kind: "problem"; problem: StoreProblem };

interface FetchLimits {
  headers: Record<string, string>;
  timeoutMs: number;
  maxBundleBytes: number;
  maxRedirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** One bounded GET of the bundle URL, following redirects by hand so each hop is checked. */
async function fetchBundle(source: string, etag: string | null, limits: FetchLimits): Promise<Fetched> {
  const signal = AbortSignal.timeout(limits.timeoutMs);
  const problem = (code: StoreProblem["code"], message: string): Fetched => ({ kind: "problem", problem: { code, message } });
  const failed = (url: string, e: unknown): Fetched =>
    signal.aborted
      ? problem("WPS004", `fetching \`${url}\` did not finish within ${limits.timeoutMs} ms`)
      : problem("WPS003", `cannot fetch \`${url}\`: ${fetchError(e)}`);
  const origin = new URL(source).origin;
  let url = source;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      const headers = { ...(new URL(url).origin === origin ? limits.headers : {}), ...(etag !== null ? { "if-none-match": etag } : {}) };
      res = await fetch(url, { headers, redirect: "manual", signal });
    } catch (e) {
      return failed(url, e);
    }
    if (REDIRECTS.has(res.status)) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get("location");
      if (hop >= limits.maxRedirects) return problem("WPS006", `\`${source}\` redirects more than ${limits.maxRedirects} times`);
      if (location === null) return problem("WPS006", `\`${url}\` answered HTTP ${res.status} without a Location`);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return problem("WPS006", `\`${url}\` redirects to an invalid URL`);
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") return problem("WPS006", `\`${url}\` redirects to a \`${next.protocol}\` URL`);
      if (new URL(url).protocol === "https:" && next.protocol === "http:") return problem("WPS006", `\`${url}\` redirects from https to plain http`);
      url = next.href;
      continue;
    }
    if (res.status === 304) {
      await res.body?.cancel().catch(() => undefined);
      return { kind: "unchanged" };
    }
    if (res.status !== 200) {
      await res.body?.cancel().catch(() => undefined);
      return problem("WPS003", `\`${url}\` answered HTTP ${res.status}`);
    }
    const tooLarge = (what: string): Fetched => problem("WPS005", `the bundle at \`${url}\` is larger than ${limits.maxBundleBytes} bytes (${what})`);
    const declared = res.headers.get("content-length");
    if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limits.maxBundleBytes) {
      await res.body?.cancel().catch(() => undefined);
      return tooLarge(`Content-Length ${declared.trim()}`);
    }
    if (res.body === null) return { kind: "bundle", bytes: new Uint8Array(0), etag: res.headers.get("etag") };
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > limits.maxBundleBytes) {
          await reader.cancel().catch(() => undefined);
          return tooLarge(`stopped reading after ${total} bytes`);
        }
        chunks.push(value);
      }
    } catch (e) {
      return failed(url, e);
    }
    return { kind: "bundle", bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), etag: res.headers.get("etag") };
  }
}

/** undici reports "fetch failed" and keeps the reason (ECONNREFUSED...) in `cause`. */
function fetchError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error ? (e as { cause?: unknown }).cause : undefined;
  return cause instanceof Error && cause.message !== msg ? `${msg} (${cause.message})` : msg;
}

const isError = (v: unknown): v is StoreProblem => typeof v === "object" && v !== null && "code" in v && "message" in v;

/** Watches a store folder or an `http(s)://` bundle URL and keeps `engine` on its current bundle. */
export function watchStore(engine: Engine, source: string, options: WatchOptions = {}): StoreWatcher {
  const http = /^https?:\/\//i.test(source);
  let etag: string | null = null;
  // The last thing we tried (activated or rejected): not retried until the source changes.
  let lastKey: string | null = null;
  let running: Promise<StoreEvent> | null = null;
  let stopped = false;
  const emit = (e: StoreEvent): StoreEvent => {
    if (e.type !== "unchanged") options.onEvent?.(e);
    return e;
  };
  const swapOpts = { ...(options.publicKey !== undefined ? { publicKey: options.publicKey } : {}), ...(options.skipVerify === true ? { skipVerify: true } : {}) };
  const timeoutMs = options.timeoutMs ?? STORE_DEFAULTS.timeoutMs;
  const maxBundleBytes = options.maxBundleBytes ?? STORE_DEFAULTS.maxBundleBytes;
  const maxRedirects = options.maxRedirects ?? STORE_DEFAULTS.maxRedirects;

  const rejectOnce = (key: string, revision: string | null, error: StoreProblem): StoreEvent => {
    if (lastKey === key) return { type: "unchanged" };
    lastKey = key;
    return emit({ type: "rejected", revision, error, active: engine.revision });
  };

  const activate = async (key: string, bytes: Uint8Array, expected: string | null): Promise<StoreEvent> => {
    if (expected !== null) {
      // The index names a revision: bytes that say otherwise are not what was released.
      let revision: string;
      try {
        // Only the revision is read here; engine.swap verifies the bundle (or refuses it, WPR018).
        revision = (await readBundle(bytes, { skipVerify: true })).manifest.revision;
      } catch (e) {
        lastKey = key;
        return emit({ type: "rejected", revision: expected, error: e instanceof WaypostRuntimeError ? e.toInfo() : { code: "WPR016", message: String(e) }, active: engine.revision });
      }
      if (revision !== expected) {
        return rejectOnce(key, expected, { code: "WPS002", message: `the bundle for \`${expected}\` carries revision \`${revision}\`` });
      }
    }
    const r = await engine.swap(bytes, swapOpts);
    lastKey = key;
    if (!r.activated) return emit({ type: "rejected", revision: expected, error: r.error, active: r.revision });
    return emit({ type: "activated", revision: r.revision, previous: r.previous });
  };

  const pollDir = async (): Promise<StoreEvent> => {
    const cur = await readCurrent(source);
    if (cur === null) return { type: "unchanged" };
    if (isError(cur)) return rejectOnce(`index:${cur.message}`, null, cur);
    const key = `${cur.revision}@${cur.digest}`;
    if (key === lastKey || (lastKey === null && engine.revision === cur.revision)) {
      lastKey = key;
      return { type: "unchanged" };
    }
    const file = await readBounded(join(source, storeBundleFile(cur.revision)), maxBundleBytes);
    if (!file.ok) {
      return rejectOnce(key, cur.revision, { code: file.tooLarge ? "WPS005" : "WPS002", message: `cannot read the bundle of \`${cur.revision}\`: ${file.message}` });
    }
    const bytes = file.bytes;
    if (bundleDigest(bytes) !== cur.digest) {
      return rejectOnce(key, cur.revision, { code: "WPS002", message: `the bundle of \`${cur.revision}\` does not match its digest ${cur.digest}` });
    }
    return activate(key, bytes, cur.revision);
  };

  const pollHttp = async (): Promise<StoreEvent> => {
    const r = await fetchBundle(source, etag, { headers: options.headers ?? {}, timeoutMs, maxBundleBytes, maxRedirects });
    if (r.kind === "unchanged") return { type: "unchanged" };
    if (r.kind === "problem") return rejectOnce(`${r.problem.code}:${r.problem.message}`, null, r.problem);
    const key = `http:${bundleDigest(r.bytes)}`;
    etag = r.etag;
    if (key === lastKey) return { type: "unchanged" };
    return activate(key, r.bytes, null);
  };

  const poll = (): Promise<StoreEvent> => {
    // One poll at a time: a slow swap must not be overtaken by the next tick.
    if (running) return running;
    running = (http ? pollHttp() : pollDir()).finally(() => {
      running = null;
    });
    return running;
  };

  const interval = options.intervalMs ?? STORE_DEFAULTS.intervalMs;
  let timer: NodeJS.Timeout | null = null;
  const tick = (): void => {
    if (stopped) return;
    void poll().finally(() => {
      if (!stopped) timer = setTimeout(tick, interval);
    });
  };
  timer = setTimeout(tick, 0);
  return {
    poll,
    stop(): void {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
