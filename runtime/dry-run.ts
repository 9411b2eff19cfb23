/**
 * Dry run of a candidate's load in a worker thread, under a wall-clock deadline, so a candidate
 * whose start function, data.json parse or self-check runs away never holds the thread that
 * serves decisions: the engine awaits the worker while the active bundle keeps deciding. At the
 * deadline the worker is terminated and the load refused (WPR022). Otherwise the worker reports
 * the fuel each load step used (./load.ts), which is what the engine then grants the real load,
 * or the refusal the real load would meet (metering is deterministic), returned as it is.
 *
 * One worker per dry run: it starts clean, and terminating it frees everything the candidate
 * allocated. Its JavaScript heap is bounded (`heapMb`); Wasm memory is bounded by the budget's
 * `memoryPages` as on the serving thread. A worker that dies (out of memory, crashed, script
 * missing) refuses the load (WPR023): nothing unchecked is activated.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Budget } from "./abi.js";
import { describeThrown, type ErrorInfo } from "./errors.js";
import type { LoadEntrypoints, LoadFuel } from "./load.js";

/** Default wall-clock deadline of a dry run: 30 s, 3x the longest legitimate load measured (docs/security.md). */
export const DEFAULT_LOAD_DEADLINE_MS = 30_000;
/** Default heap limit of the dry-run worker (V8 old generation, MiB); Wasm memory is not part of it. */
export const DEFAULT_DRY_RUN_HEAP_MB = 256;

export interface DryRunOptions {
  /** Wall-clock milliseconds the candidate's load may take in the worker. */
  deadlineMs: number;
  /** The worker's heap limit in MiB. */
  heapMb: number;
}

/** What the worker is given (`workerData`). */
export interface DryRunInput {
  wasm: Uint8Array;
  data: Uint8Array;
  entrypoints: LoadEntrypoints;
  budget: Budget;
}

/** What the worker posts: `started` once loaded itself, then one of the others. */
export type DryRunMessage = { type: "started" } | { type: "loaded"; fuel: LoadFuel } | { type: "refused"; error: ErrorInfo };

export type DryRunResult = { ok: true; fuel: LoadFuel } | { ok: false; error: ErrorInfo };

const refused = (code: ErrorInfo["code"], message: string): DryRunResult => ({ ok: false, error: { code, message } });

/**
 * The worker script: the compiled sibling `load-worker.js` (dist/), else, when running from the
 * TypeScript sources (this repository's tests), `load-worker.ts` with the test loader that
 * transpiles it. A published package has the .js and never takes the second branch.
 */
function workerEntry(): { url: URL; execArgv?: string[] } | null {
  const js = new URL("./load-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js };
  const ts = new URL("./load-worker.ts", import.meta.url);
  const loader = new URL("../test/support/ts-loader.mjs", import.meta.url);
  if (existsSync(fileURLToPath(ts)) && existsSync(fileURLToPath(loader))) return { url: ts, execArgv: ["--import", loader.href] };
  return null;
}

const isFuel = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** Dry-runs the load of `input` in a worker thread. Never rejects. */
export function dryRunLoad(input: DryRunInput, options: DryRunOptions): Promise<DryRunResult> {
  const entry = workerEntry();
  if (entry === null) return Promise.resolve(refused("WPR023", "bundle load dry run could not start: the worker script `load-worker.js` is missing beside the runtime"));
  // Compact copies, transferred: cloning a view would copy its whole buffer (the decompressed
  // tar). Not `slice()`: on a Buffer it is a view too.
  const wasm = new Uint8Array(input.wasm);
  const data = new Uint8Array(input.data);
  return new Promise<DryRunResult>((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(entry.url, {
        workerData: { ...input, wasm, data } satisfies DryRunInput,
        transferList: [wasm.buffer, data.buffer],
        resourceLimits: { maxOldGenerationSizeMb: options.heapMb },
        ...(entry.execArgv ? { execArgv: entry.execArgv } : {}),
      });
    } catch (e) {
      resolve(refused("WPR023", `bundle load dry run could not start: ${describeThrown(e)}`));
      return;
    }
    let done = false;
    const finish = (r: DryRunResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      // Stops a runaway candidate mid-instruction and frees its memory; a finished worker too.
      worker.terminate().catch(() => undefined);
      resolve(r);
    };
    // First the worker's own startup, then (from `started`) the candidate's load, each bounded.
    let timer = setTimeout(() => finish(refused("WPR023", `bundle load dry run could not start: the worker did not start within ${options.deadlineMs} ms`)), options.deadlineMs);
    worker.on("message", (m: DryRunMessage) => {
      if (m.type === "started") {
        clearTimeout(timer);
        timer = setTimeout(
          () => finish(refused("WPR022", `bundle load exceeded its deadline of ${options.deadlineMs} ms: its start function, data.json parse or self-check was still running in the dry run, which was stopped`)),
          options.deadlineMs,
        );
      } else if (m.type === "loaded" && isFuel(m.fuel.start) && isFuel(m.fuel.data) && isFuel(m.fuel.selfCheck)) {
        finish({ ok: true, fuel: m.fuel });
      } else if (m.type === "refused") {
        finish({ ok: false, error: m.error });
      } else {
        finish(refused("WPR023", "bundle load dry run failed: the worker sent a malformed report"));
      }
    });
    worker.on("error", (e) => {
      const oom = typeof e === "object" && e !== null && "code" in e && e.code === "ERR_WORKER_OUT_OF_MEMORY";
      finish(refused("WPR023", oom ? `bundle load dry run ran out of memory (worker heap limit ${options.heapMb} MiB)` : `bundle load dry run failed: ${describeThrown(e)}`));
    });
    worker.on("exit", (code) => finish(refused("WPR023", `bundle load dry run failed: the worker exited (code ${code}) before reporting`)));
  });
}
