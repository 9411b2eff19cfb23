/**
 * The dry-run worker (started by ./dry-run.ts): runs a candidate's load (./load.ts) with the
 * engine's budget and reports what each step used, or why the load was refused. This thread
 * is the one a runaway candidate holds; the engine terminates it at the deadline.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { DryRunInput, DryRunMessage } from "./dry-run.js";
import { loadErrorInfo, runLoad } from "./load.js";

const port = parentPort;
if (port === null) throw new Error("runtime/load-worker runs only as a worker thread (runtime/dry-run.ts)");
const post = (m: DryRunMessage): void => port.postMessage(m);
const input = workerData as DryRunInput;
// The deadline counts from here: the worker's own startup is not the candidate's time.
post({ type: "started" });
try {
  const { fuel } = await runLoad(input.wasm, input.data, input.entrypoints, input.budget);
  post({ type: "loaded", fuel });
} catch (e) {
  post({ type: "refused", error: loadErrorInfo(e) });
}
