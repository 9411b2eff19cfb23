/**
 * Dry run of a candidate's load in a worker thread, under a wall-clock deadline, so a candidate
 * whose start function, data.json parse or self-check runs away never holds the thread that
 * serves decisions: the engine awaits the worker while the active bundle keeps deciding. Fuel
 * does not bound everything a load runs (the OPA SDK scans module memory for a NUL in plain
 * JavaScript while instantiating, and a module can make that scan endless); the deadline does.
 * At the deadline the worker is terminated and the load refused (WPR022). Otherwise the worker
 * reports the fuel each load step used (./load.ts), which is what the engine then grants the
 * real load, or the refusal the real load would meet (metering is deterministic), returned as it is.
 *
 * Workers: a worker is stopped after a deadline, a crash, a refusal or a load whose memory
 * outgrew REUSE_MAX_MEMORY; one that finished a smaller load cleanly is kept (one per heap
 * limit, not keeping the process alive) for the next dry run, which saves the worker's startup
 * (importing the SDK) on every load. Its JavaScript heap is bounded (`heapMb`); Wasm memory is
 * bounded by the budget's `memoryPages`, as on the serving thread. A worker that dies (out of
 * memory, crashed, script missing) refuses the load (WPR023): nothing unchecked is activated.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Budget } from "./abi.js";
import { describeThrown, type ErrorInfo } from "./errors.js";
import type { LoadEntrypoints, LoadFuel } from "./load.js";

/** Default wall-clock deadline of a dry run: 30 s (docs/security.md has the figures behind it). */
export const DEFAULT_LOAD_DEADLINE_MS = 30_000;
/** Default heap limit of the dry-run worker (V8 old generation, MiB); Wasm memory is not part of it. */
export const DEFAULT_DRY_RUN_HEAP_MB = 256;
/** How long a new worker may take to start (import the SDK): our code, not the candidate's, so not its deadline. */
const WORKER_START_MS = 60_000;
/** A worker is kept for the next dry run only after a load whose memory stayed within this. */
const REUSE_MAX_MEMORY = 64 * 2 ** 20;

export interface DryRunOptions {
  /** Wall-clock milliseconds the candidate's load may take in the worker. */
  deadlineMs: number;
  /** The worker's heap limit in MiB. */
  heapMb: number;
  /**
   * Lend the job's buffers (those under `wasm` and `data`) to the worker instead of copying
   * them: they are detached here until the worker hands them back, and a passing result carries
   * the same bytes as `lent`, views into the returned buffers. For a caller that owns them (the
   * engine's gunzip output): copying a 160 MB data.json into fresh memory took 0.5-0.7 s, most of
   * it first-touch page faults. Meanwhile nothing else may use them; a refusal may lose them.
   */
  lend?: boolean;
  /**
   * Told the start step's fuel, and the milliseconds it took in the worker, as soon as the
   * worker has instantiated the candidate (so the caller may run that step itself, exactly
   * granted, while the worker loads the data). Must not throw.
   */
  onStarted?: (start: number, ms: number) => void;
}

/** One load for the worker. */
export interface DryRunJob {
  wasm: Uint8Array;
  data: Uint8Array;
  entrypoints: LoadEntrypoints;
  budget: Budget;
}

/** What the worker posts: `ready` once it has imported everything, then one report per job. */
export type DryRunMessage = { type: "ready" } | { type: "started"; start: number; ms: number } | { type: "loaded"; fuel: LoadFuel; memoryBytes: number; wasm: Uint8Array; data: Uint8Array } | { type: "refused"; error: ErrorInfo };

/** The job's bytes, handed back by the worker (with `lend`). */
export interface LentBytes {
  wasm: Uint8Array;
  data: Uint8Array;
}

export type DryRunResult = { ok: true; fuel: LoadFuel; lent?: LentBytes } | { ok: false; error: ErrorInfo };

const refused = (code: ErrorInfo["code"], message: string): DryRunResult => ({ ok: false, error: { code, message } });

/** Node options whose value may be the next argument (`-e code`, `--import x`). */
const TAKES_VALUE = new Set(["-e", "--eval", "-p", "--print", "-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions", "--input-type", "--disable-warning", "--inspect-port", "--debug-port", "--title", "--env-file", "--experimental-policy", "--redirect-warnings", "--openssl-config", "--icu-data-dir", "--diagnostic-dir", "--report-dir", "--report-directory", "--report-filename", "--cpu-prof-dir", "--heap-prof-dir", "--secure-heap", "--secure-heap-min", "--unhandled-rejections", "--dns-result-order", "--tls-cipher-list", "--tls-keylog", "--max-old-space-size", "--max-semi-space-size", "--stack-size", "--stack-trace-limit"]);
/** Kept for the worker: warning and deprecation reporting, source maps, export conditions. */
const KEEP = new Set(["--no-warnings", "--no-deprecation", "--trace-warnings", "--trace-deprecation", "--throw-deprecation", "--pending-deprecation", "--disable-warning", "--enable-source-maps", "-C", "--conditions"]);
/**
 * `--experimental-*` options that are not the worker's business (a loader, a policy manifest),
 * that Node refuses in a worker (V8's), or that would narrow it: `--experimental-permission`
 * without the parent's `--allow-*` grants denies the worker every file read, and the parent's
 * permissions hold in a worker anyway (they are the process's).
 */
const DROP_EXPERIMENTAL = /^--(no-)?experimental-(loader|policy|permission|shadow-realm|wasm-(?!modules$))/;

/**
 * The parent's Node options a dry-run worker gets. A worker inherits them all by default, and
 * some only make sense for the parent's own entry point: `node --input-type=module -e …`
 * starting a service makes the worker's start fail (`--input-type can only be used with string
 * input`), `-e`/`-p` would be re-run, `--inspect*` would open a second debugger port, a preload
 * (`--import`, `--require`, `--loader`) would run again in a thread that needs none of it, and
 * V8 options (`--max-old-space-size`: the heap limit is `heapMb`, ours) are refused in a worker
 * (ERR_WORKER_INVALID_EXEC_ARGV). So only what changes how the worker reports or resolves, not
 * what it runs, is passed on: `--experimental-*` switches, warning and deprecation flags,
 * `--enable-source-maps`, `--conditions`.
 */
export function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    // A value in the next argument belongs to this option (execArgv holds only options and their values).
    const next = eq < 0 && TAKES_VALUE.has(name) && i + 1 < parent.length ? parent[i + 1]! : null;
    if (next !== null) i++;
    if (!name.startsWith("-")) continue;
    const keep = KEEP.has(name) || ((name.startsWith("--experimental-") || name.startsWith("--no-experimental-")) && !DROP_EXPERIMENTAL.test(name));
    if (!keep) continue;
    out.push(arg);
    if (next !== null) out.push(next);
  }
  return out;
}

/**
 * The worker script: the compiled sibling `load-worker.js` (dist/), else, when running from the
 * TypeScript sources (this repository's tests), `load-worker.ts` with the test loader that
 * transpiles it. A published package has the .js and never takes the second branch. Either way
 * the worker gets only the parent's options that are safe there (`workerExecArgv`).
 */
function workerEntry(): { url: URL; execArgv: string[] } | null {
  const inherited = workerExecArgv(process.execArgv);
  const js = new URL("./load-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js, execArgv: inherited };
  const ts = new URL("./load-worker.ts", import.meta.url);
  const loader = new URL("../test/support/ts-loader.mjs", import.meta.url);
  if (existsSync(fileURLToPath(ts)) && existsSync(fileURLToPath(loader))) return { url: ts, execArgv: [...inherited, "--import", loader.href] };
  return null;
}

/** Idle workers, one per heap limit, with the listener that forgets one that dies. */
const idle = new Map<number, { worker: Worker; forget: () => void }>();

const isFuel = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

type Failure = { failed: "late" } | { failed: "out-of-memory" } | { failed: "crashed"; why: string };

/** Waits for one report from `worker`, at most `ms`; resolves with it, or with what went wrong. */
function nextMessage(worker: Worker, ms: number): Promise<DryRunMessage | Failure> {
  return new Promise((resolve) => {
    const done = (r: DryRunMessage | Failure): void => {
      clearTimeout(timer);
      worker.off("message", onMessage).off("error", onError).off("exit", onExit);
      resolve(r);
    };
    const onMessage = (m: DryRunMessage): void => done(m);
    const onError = (e: unknown): void => {
      const oom = typeof e === "object" && e !== null && "code" in e && e.code === "ERR_WORKER_OUT_OF_MEMORY";
      done(oom ? { failed: "out-of-memory" } : { failed: "crashed", why: describeThrown(e) });
    };
    const onExit = (code: number): void => done({ failed: "crashed", why: `the worker exited (code ${code}) before reporting` });
    const timer = setTimeout(() => done({ failed: "late" }), ms);
    worker.on("message", onMessage).on("error", onError).on("exit", onExit);
  });
}

/** Keeps `worker` for the next dry run, or stops it when one is already kept. */
function keep(worker: Worker, heapMb: number): void {
  if (idle.has(heapMb)) {
    void worker.terminate().catch(() => undefined);
    return;
  }
  // An idle worker that dies is forgotten; its error must not go unhandled.
  const forget = (): void => {
    if (idle.get(heapMb)?.worker === worker) idle.delete(heapMb);
  };
  worker.on("exit", forget).on("error", forget);
  idle.set(heapMb, { worker, forget });
  worker.unref();
}

/**
 * Posts the job with `wasm` and `data`, transferring `transfer`; false when a buffer cannot be
 * transferred (Node's pooled Buffers are marked untransferable), and then nothing was posted.
 */
function post(worker: Worker, job: DryRunJob, wasm: Uint8Array, data: Uint8Array, transfer: ArrayBuffer[]): boolean {
  try {
    worker.postMessage({ entrypoints: job.entrypoints, budget: job.budget, wasm, data } satisfies DryRunJob, transfer);
    return true;
  } catch {
    return false;
  }
}

function stop(worker: Worker): void {
  void worker.terminate().catch(() => undefined);
}

/** Starts a worker and waits until it is ready: the worker, or why it could not start. */
async function startWorker(heapMb: number): Promise<Worker | DryRunResult> {
  const entry = workerEntry();
  if (entry === null) return refused("WPR023", "bundle load dry run could not start: the worker script `load-worker.js` is missing beside the runtime");
  let worker: Worker;
  try {
    worker = new Worker(entry.url, { resourceLimits: { maxOldGenerationSizeMb: heapMb }, execArgv: entry.execArgv });
  } catch (e) {
    return refused("WPR023", `bundle load dry run could not start: ${describeThrown(e)}`);
  }
  // The worker's own startup is bounded too, but is not the candidate's time.
  const ready = await nextMessage(worker, WORKER_START_MS);
  if (!("type" in ready) || ready.type !== "ready") {
    stop(worker);
    const why = !("failed" in ready) ? "the worker sent a malformed report" : ready.failed === "late" ? `the worker did not start within ${WORKER_START_MS} ms` : ready.failed === "out-of-memory" ? `the worker ran out of memory (heap limit ${heapMb} MiB)` : ready.why;
    return refused("WPR023", `bundle load dry run could not start: ${why}`);
  }
  return worker;
}

/** Workers being started ahead of their job (`prepareDryRun`), by heap limit: null once kept, else why not. */
const starting = new Map<number, Promise<DryRunResult | null>>();

/**
 * Starts a worker for the next dry run with this heap limit now, unless one is idle or starting:
 * the engine calls it before reading a bundle, so the worker's startup (0.2-0.3 s, importing the
 * SDK) runs beside the gunzip and the checks instead of after them. Runs no candidate code.
 */
export function prepareDryRun(heapMb: number): void {
  const kept = idle.get(heapMb);
  if ((kept !== undefined && kept.worker.threadId >= 0) || starting.has(heapMb)) return;
  const started = startWorker(heapMb).then((w) => {
    starting.delete(heapMb);
    if (!(w instanceof Worker)) return w;
    keep(w, heapMb);
    return null;
  });
  starting.set(heapMb, started);
}

/** The buffers under `views`, each once (a view cannot be transferred twice in one message). */
const buffersOf = (views: readonly Uint8Array[]): ArrayBuffer[] => [...new Set(views.map((v) => v.buffer as ArrayBuffer))];

/** Dry-runs the load of `job` in a worker thread. Never rejects. */
export async function dryRunLoad(job: DryRunJob, options: DryRunOptions): Promise<DryRunResult> {
  const { deadlineMs, heapMb } = options;
  const pending = starting.get(heapMb);
  if (pending !== undefined) {
    // A worker started ahead: it is idle by now, or could not start (reported as it would be here).
    const failed = await pending;
    if (failed !== null) return failed;
  }
  const kept = idle.get(heapMb);
  idle.delete(heapMb);
  let worker: Worker;
  // threadId is -1 once a worker has stopped.
  if (kept !== undefined && kept.worker.threadId >= 0) {
    worker = kept.worker;
    worker.off("exit", kept.forget).off("error", kept.forget);
    worker.ref();
  } else {
    const started = await startWorker(heapMb);
    if (!(started instanceof Worker)) return started;
    worker = started;
  }
  const sizes = { wasm: job.wasm.byteLength, data: job.data.byteLength };
  const until = performance.now() + deadlineMs;
  const report = nextMessage(worker, deadlineMs);
  const lent = options.lend === true && post(worker, job, job.wasm, job.data, buffersOf([job.wasm, job.data]));
  if (!lent) {
    // Compact copies, transferred: cloning a view would copy its whole buffer (the decompressed
    // tar). Not `slice()`: on a Buffer it is a view too.
    const wasm = new Uint8Array(job.wasm);
    const data = new Uint8Array(job.data);
    if (!post(worker, job, wasm, data, [wasm.buffer, data.buffer])) {
      stop(worker);
      return refused("WPR023", "bundle load dry run failed: the bundle's bytes could not be posted to the worker");
    }
  }
  let m = await report;
  // Progress reports come first; the deadline is the whole load's.
  while ("type" in m && m.type === "started") {
    if (!isFuel(m.start) || typeof m.ms !== "number") break;
    options.onStarted?.(m.start, m.ms);
    m = await nextMessage(worker, Math.max(0, until - performance.now()));
  }
  if ("failed" in m) {
    // Stops a runaway candidate mid-instruction and frees its memory.
    stop(worker);
    if (m.failed === "late") {
      return refused("WPR022", `bundle load exceeded its deadline of ${deadlineMs} ms: its start function, data.json parse or self-check was still running in the dry run, which was stopped`);
    }
    if (m.failed === "out-of-memory") return refused("WPR023", `bundle load dry run ran out of memory (worker heap limit ${heapMb} MiB)`);
    return refused("WPR023", `bundle load dry run failed: ${m.why}`);
  }
  if (m.type === "loaded" && isFuel(m.fuel.start) && isFuel(m.fuel.data) && isFuel(m.fuel.selfCheck)) {
    if (m.memoryBytes <= REUSE_MAX_MEMORY) keep(worker, heapMb);
    else stop(worker);
    const fuel = { start: m.fuel.start, data: m.fuel.data, selfCheck: m.fuel.selfCheck };
    if (!lent) return { ok: true, fuel };
    // Our own worker hands back what it was lent; checked anyway, since the load goes on with it.
    const back = m.wasm instanceof Uint8Array && m.data instanceof Uint8Array && m.wasm.byteLength === sizes.wasm && m.data.byteLength === sizes.data;
    if (!back) return refused("WPR023", "bundle load dry run failed: the worker did not hand back the bundle's bytes");
    return { ok: true, fuel, lent: { wasm: m.wasm, data: m.data } };
  }
  stop(worker);
  if (m.type === "refused") return { ok: false, error: m.error };
  return refused("WPR023", "bundle load dry run failed: the worker sent a malformed report");
}
