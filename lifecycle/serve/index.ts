/**
 * `waypost serve`: the decision server on every core. The primary process forks one worker per
 * core (node:cluster; the workers share the listening socket) and restarts a worker that dies.
 * Each worker is a whole server, as a fleet of OPAs would be: its own engine (Wasm instance
 * with the evaluation budget), its own bundle polling (ETag), its own local keyed decision log
 * (`<log>` with one worker, `<log>.<n>` with more: one writer per log) and uploader. /metrics
 * answers with the sum over all workers (the primary aggregates them).
 *
 * Shutdown (SIGTERM or SIGINT to the primary, or to a worker): stop accepting, let requests in
 * flight finish (every answered decision is already durable), flush the log, upload what is
 * left while the collector accepts it (bounded by `drainMs`), exit 0.
 */
import cluster, { type Worker } from "node:cluster";
import { availableParallelism } from "node:os";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { AggregatorRegistry } from "prom-client";
import { createEngine, type Engine } from "../../runtime/engine.js";
import { DecisionLog, parseSecretKey } from "../../runtime/log.js";
import { watchStore, type StoreWatcher } from "../../runtime/store.js";
import { DEFAULT_BUDGET } from "../../runtime/abi.js";
import type { ServeConfig } from "./config.js";
import { DecisionLogUploader } from "./decision-logs.js";
import { ServeMetrics } from "./metrics.js";
import { createDecisionServer } from "./server.js";

export interface ServeOptions {
  /** `host:port` or `:port` (all interfaces); OPA's default is localhost:8181. */
  addr: string;
  version: string;
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** How long shutdown may spend uploading the rest of the log (default 10 s). */
  drainMs?: number;
}

export function parseAddr(addr: string): { host: string | undefined; port: number } {
  const i = addr.lastIndexOf(":");
  const host = i < 0 ? addr : addr.slice(0, i);
  const port = i < 0 ? 8181 : Number(addr.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`\`${addr}\` is not host:port`);
  return { host: host === "" ? undefined : host.replace(/^\[(.*)\]$/, "$1"), port };
}

export const logFileOf = (log: string, index: number, workers: number): string => (workers > 1 ? `${log}.${index}` : log);

const workerCount = (cfg: ServeConfig): number => (cfg.workers > 0 ? cfg.workers : availableParallelism());

async function secret(file: string | null, envVar: string, env: NodeJS.ProcessEnv, what: string): Promise<Uint8Array | undefined> {
  const text = file !== null ? await readFile(file, "utf8") : env[envVar];
  if (text === undefined) return undefined;
  const k = parseSecretKey(text, what);
  if (typeof k === "string") throw new Error(`${file ?? envVar}: ${k}`);
  return k;
}

/** Runs the server: the primary of a cluster, a worker, or (one worker) both in one process. Resolves with the exit code. */
export async function serve(cfg: ServeConfig, o: ServeOptions): Promise<number> {
  const n = workerCount(cfg);
  if (n > 1 && cluster.isPrimary) return primary(o, n);
  const index = cluster.isWorker ? Number(o.env["WAYPOST_WORKER"] ?? "0") : 0;
  return worker(cfg, o, index, n);
}

function primary(o: ServeOptions, n: number): Promise<number> {
  const agg = new AggregatorRegistry();
  const workers = new Map<number, Worker>();
  let stopping = false;
  let listening = 0;
  let announced = false;
  return new Promise<number>((resolve) => {
    const fork = (index: number): void => {
      const w = cluster.fork({ WAYPOST_WORKER: String(index) });
      workers.set(index, w);
      w.on("message", (m: { type?: string; id?: number }) => {
        if (m?.type === "waypost:metrics?") {
          agg.clusterMetrics().then(
            (text) => w.send({ type: "waypost:metrics", id: m.id, text, contentType: agg.contentType }),
            (e: Error) => w.send({ type: "waypost:metrics", id: m.id, error: e.message }),
          );
        }
      });
      w.on("listening", (a: { address: string; port: number }) => {
        listening++;
        if (!announced && listening >= n) {
          announced = true;
          o.out(`waypost serve: listening on http://${a.address && a.address !== "0.0.0.0" && a.address !== "::" ? (a.address.includes(":") ? `[${a.address}]` : a.address) : "localhost"}:${a.port} (${n} workers)\n`);
        }
      });
      w.on("exit", (code, signal) => {
        workers.delete(index);
        if (stopping) {
          if (workers.size === 0) resolve(0);
          return;
        }
        o.err(`waypost serve: worker ${index} exited (${signal ?? code}); restarting it\n`);
        if (code === 3) {
          // A configuration or startup problem: restarting would fail the same way.
          stopping = true;
          for (const other of workers.values()) other.send({ type: "waypost:shutdown" });
          if (workers.size === 0) resolve(2);
          return;
        }
        fork(index);
      });
    };
    for (let i = 0; i < n; i++) fork(i);
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      o.err("waypost serve: shutting down\n");
      for (const w of workers.values()) w.send({ type: "waypost:shutdown" });
      if (workers.size === 0) resolve(0);
    };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
}

async function worker(cfg: ServeConfig, o: ServeOptions, index: number, n: number): Promise<number> {
  const inCluster = cluster.isWorker;
  const metrics = new ServeMetrics();
  if (inCluster) {
    new AggregatorRegistry(); // registers this worker's answer to the primary's metrics requests
    AggregatorRegistry.setRegistries([metrics.registry]);
  }
  const fail = (msg: string): number => {
    o.err(`waypost serve: ${msg}\n`);
    if (inCluster) process.exit(3);
    return 2;
  };
  let engine: Engine;
  let uploader: DecisionLogUploader | null = null;
  let log: DecisionLog | null = null;
  try {
    const pseudonymKey = await secret(cfg.pseudonymKeyFile, "WAYPOST_PSEUDONYM_KEY", o.env, "a pseudonym key");
    engine = createEngine({
      ...(cfg.skipVerify ? { skipVerify: true } : { publicKey: cfg.bundle.publicKey! }),
      ...(cfg.decisionBudget !== undefined ? { budget: { decision: cfg.decisionBudget } } : { budget: { decision: DEFAULT_BUDGET.decision } }),
      ...(pseudonymKey ? { pseudonymKey } : {}),
    });
    if (cfg.log !== null) {
      const file = logFileOf(cfg.log, index, n);
      const key = cfg.unkeyedLog ? undefined : await secret(cfg.logKeyFile, "WAYPOST_LOG_KEY", o.env, "a log key");
      if (!cfg.unkeyedLog && key === undefined) return fail("the decision log needs its key (waypost.log_key_file or WAYPOST_LOG_KEY)");
      log = await DecisionLog.open(file, key !== undefined ? { key } : { unkeyed: true });
      engine.attachLog(log, true);
      const dl = cfg.decisionLogs;
      if (dl?.service) {
        const u: DecisionLogUploader = new DecisionLogUploader({
          log: file,
          url: /^https?:\/\//i.test(dl.resource) ? dl.resource : `${dl.service.url}/${dl.resource.replace(/^\/+/, "")}`,
          headers: dl.service.headers,
          bundle: cfg.bundle.name,
          labels: { id: `${process.pid}-${index}`, version: o.version, ...cfg.labels },
          minDelayMs: dl.minDelayMs,
          maxDelayMs: dl.maxDelayMs,
          uploadSizeLimitBytes: dl.uploadSizeLimitBytes,
          bufferSizeLimitEvents: dl.bufferSizeLimitEvents,
          onResult: (r) => {
            if (r.ok) metrics.uploaded(r.events);
            else {
              metrics.uploadFailed();
              o.err(`waypost serve: decision log upload failed (${r.error}); retrying in ${Math.round(r.retryInMs)} ms\n`);
            }
            metrics.backlog.set(Math.max(0, (log?.lastSeq ?? 0) - u.acknowledgedSeq));
          },
        });
        uploader = u;
      }
    }
  } catch (e) {
    return fail((e as Error).message);
  }

  // The bundle: a file once, or a service polled with OPA's min/max delay and ETag.
  let watcher: StoreWatcher | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  const b = cfg.bundle;
  if ("file" in b) {
    const r = await engine.swap(await readFile(b.file));
    if (!r.activated) return fail(`bundle ${b.file}: ${r.error.code} ${r.error.message}`);
    metrics.activated(b.name, r.revision);
  } else {
    let firstActive: () => void = () => undefined;
    const active = new Promise<void>((r) => (firstActive = r));
    watcher = watchStore(engine, b.url, {
      intervalMs: 2 ** 31 - 1, // polled below, with OPA's jittered delay
      headers: b.service.headers,
      ...(cfg.skipVerify ? { skipVerify: true } : { publicKey: b.publicKey! }),
      onEvent: (e) => {
        if (e.type === "activated") {
          firstActive();
          metrics.activated(b.name, e.revision);
          o.err(`waypost serve: worker ${index}: bundle ${b.name} revision ${e.revision} activated\n`);
        } else if (e.type === "rejected") {
          metrics.activationFailed(b.name, e.error.code);
          o.err(`waypost serve: worker ${index}: bundle ${b.name} not activated: ${e.error.code} ${e.error.message}${e.active ? ` (still serving ${e.active})` : ""}\n`);
        }
      },
    });
    const schedule = (): void => {
      pollTimer = setTimeout(() => {
        void watcher!.poll().finally(schedule);
      }, b.minDelayMs + Math.random() * (b.maxDelayMs - b.minDelayMs));
    };
    schedule();
    // Accept connections only with a bundle: the cluster never routes a request to a worker
    // that has none (until then the others serve; /health reports later trouble).
    await active;
  }

  let pendingMetrics = 0;
  const waiting = new Map<number, (m: { text?: string; contentType?: string; error?: string }) => void>();
  if (inCluster) {
    process.on("message", (m: { type?: string; id?: number; text?: string; contentType?: string; error?: string }) => {
      if (m?.type === "waypost:metrics" && m.id !== undefined) {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
  }
  const metricsText = async (): Promise<{ contentType: string; text: string }> => {
    if (!inCluster) return { contentType: metrics.registry.contentType, text: await metrics.registry.metrics() };
    const id = ++pendingMetrics;
    const m = await new Promise<{ text?: string; contentType?: string; error?: string }>((resolve) => {
      waiting.set(id, resolve);
      process.send!({ type: "waypost:metrics?", id });
    });
    if (m.error !== undefined) throw new Error(`metrics: ${m.error}`);
    return { contentType: m.contentType ?? "text/plain", text: m.text ?? "" };
  };

  const server = createDecisionServer({
    engine,
    metrics,
    metricsText,
    bundleName: b.name,
    pluginProblem: () => (log?.error ? `decision log: ${log.error.message}` : null),
    version: o.version,
  });
  const { host, port } = parseAddr(o.addr);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port, ...(host !== undefined ? { host } : {}) }, () => resolve());
  });
  if (!inCluster) {
    const a = server.address() as AddressInfo;
    const shown = host ?? "localhost";
    o.out(`waypost serve: listening on http://${shown.includes(":") ? `[${shown}]` : shown}:${a.port} (1 worker)\n`);
  }
  const uploading = uploader ? uploader.run() : Promise.resolve();

  return new Promise<number>((resolve) => {
    let done = false;
    const shutdown = async (): Promise<void> => {
      if (done) return;
      done = true;
      // 1. Stop accepting; requests in flight finish (their decisions are durable before they answer).
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(force);
      if (pollTimer) clearTimeout(pollTimer);
      watcher?.stop();
      // 2. Every logged decision is on disk.
      await engine.flush().catch(() => undefined);
      // 3. Send what is left to the collector, within the drain deadline (the log keeps the rest).
      if (uploader) {
        uploader.stop();
        await uploading;
        const all = await uploader.drain(o.drainMs ?? 10_000);
        if (!all) o.err(`waypost serve: worker ${index}: stopped with decisions not yet uploaded (${uploader.lastError ?? "collector unavailable"}); they are in the local log and go first at the next start\n`);
      }
      await engine.close().catch(() => undefined);
      resolve(0);
      if (inCluster) process.exit(0);
    };
    process.once("SIGTERM", () => void shutdown());
    process.once("SIGINT", () => void shutdown());
    if (inCluster) {
      process.on("message", (m: { type?: string }) => {
        if (m?.type === "waypost:shutdown") void shutdown();
      });
      // The primary is gone (killed): do not keep serving unsupervised.
      process.on("disconnect", () => void shutdown());
    }
  });
}
