/**
 * Keeps an engine on the current bundle of an artifact store (a folder written by
 * `waypost release` / `waypost rollback`) or of an HTTP URL serving the OPA bundle API.
 *
 * Store format (written by compiler/release.ts; repeated here because the runtime never
 * imports the compiler): `index.json` = `{version: 1, current, releases: [{revision, digest,
 * ...}]}`, bundles at `bundles/<revision>.tar.gz`, `digest` = `sha256:<hex of the file>`.
 *
 * Each poll reads the index; when `current` names another bundle than the active one, the
 * bytes are checked against the digest and handed to `engine.swap`, which activates them in
 * one reference assignment after verification. Anything wrong (index torn or unreadable,
 * digest mismatch, signature, a bundle that fails its self-check) leaves the last good bundle
 * serving and is reported once per distinct failure, not on every poll.
 *
 * HTTP: `GET url` with `If-None-Match: <etag>`; 304 means unchanged; 200 carries the bundle.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readBundle } from "./bundle.js";
import type { Engine } from "./engine.js";
import { WaypostRuntimeError, type ErrorInfo } from "./errors.js";

/**
 * What went wrong, with a stable code: a runtime error code (a bad bundle, WPR0xx) or one of
 *   WPS001 the store index cannot be read or has an unknown format
 *   WPS002 the current bundle file is missing, or its bytes or revision differ from the index
 *   WPS003 the bundle URL cannot be fetched or answered an error status
 */
export interface StoreProblem {
  code: ErrorInfo["code"] | "WPS001" | "WPS002" | "WPS003";
  message: string;
}
import type { PublicKeyInput } from "./keys.js";

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
  /** For HTTP sources: extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
}

export interface StoreWatcher {
  /** Polls now (also what the timer calls); resolves when the poll, and any swap, is done. */
  poll(): Promise<StoreEvent>;
  stop(): void;
}

const sha256 = (b: Uint8Array): string => "sha256:" + createHash("sha256").update(b).digest("hex");

interface Current {
  revision: string;
  digest: string;
}

async function readCurrent(store: string): Promise<Current | StoreProblem | null> {
  let text: string;
  try {
    text = await readFile(join(store, "index.json"), "utf8");
  } catch (e) {
    return { code: "WPS001", message: `cannot read the store index in \`${store}\`: ${(e as Error).message}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { code: "WPS001", message: `the store index in \`${store}\` is not valid JSON` };
  }
  const idx = v as { version?: unknown; current?: unknown; releases?: unknown };
  if (typeof v !== "object" || v === null || idx.version !== 1 || !Array.isArray(idx.releases)) {
    return { code: "WPS001", message: `the store index in \`${store}\` has an unknown format` };
  }
  if (idx.current === null) return null;
  if (typeof idx.current !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(idx.current)) {
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
    let bytes: Uint8Array;
    try {
      bytes = await readFile(join(source, "bundles", `${cur.revision}.tar.gz`));
    } catch (e) {
      return rejectOnce(key, cur.revision, { code: "WPS002", message: `cannot read the bundle of \`${cur.revision}\`: ${(e as Error).message}` });
    }
    if (sha256(bytes) !== cur.digest) {
      return rejectOnce(key, cur.revision, { code: "WPS002", message: `the bundle of \`${cur.revision}\` does not match its digest ${cur.digest}` });
    }
    return activate(key, bytes, cur.revision);
  };

  const pollHttp = async (): Promise<StoreEvent> => {
    let res: Response;
    try {
      res = await fetch(source, { headers: { ...(options.headers ?? {}), ...(etag !== null ? { "if-none-match": etag } : {}) } });
    } catch (e) {
      return rejectOnce(`fetch:${(e as Error).message}`, null, { code: "WPS003", message: `cannot fetch \`${source}\`: ${(e as Error).message}` });
    }
    if (res.status === 304) return { type: "unchanged" };
    if (res.status !== 200) {
      return rejectOnce(`status:${res.status}`, null, { code: "WPS003", message: `\`${source}\` answered HTTP ${res.status}` });
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    const key = `http:${sha256(bytes)}`;
    etag = res.headers.get("etag");
    if (key === lastKey) return { type: "unchanged" };
    return activate(key, bytes, null);
  };

  const poll = (): Promise<StoreEvent> => {
    // One poll at a time: a slow swap must not be overtaken by the next tick.
    if (running) return running;
    running = (http ? pollHttp() : pollDir()).finally(() => {
      running = null;
    });
    return running;
  };

  const interval = options.intervalMs ?? 5000;
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
