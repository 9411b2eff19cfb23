/**
 * The dry-run worker (started by ./dry-run.ts): runs candidates' loads (./load.ts), one at a
 * time, with the engine's budget, and reports what each step used, or why the load was
 * refused. This thread is the one a runaway candidate holds; the engine terminates it at the
 * deadline.
 */
import { parentPort } from "node:worker_threads";
import type { DryRunJob, DryRunMessage } from "./dry-run.js";
import { loadErrorInfo, runLoad } from "./load.js";

const port = parentPort;
if (port === null) throw new Error("runtime/load-worker runs only as a worker thread (runtime/dry-run.ts)");
const post = (m: DryRunMessage): void => port.postMessage(m);

port.on("message", (job: DryRunJob) => {
  const t0 = performance.now();
  const started = (start: number): void => post({ type: "started", start, ms: performance.now() - t0 });
  runLoad(job.wasm, job.data, job.entrypoints, job.budget, undefined, started).then(
    ({ policy, fuel }) => {
      // The bytes go back (transferred, not copied): the engine may have lent them (dry-run.ts `lend`).
      const buffers = [...new Set([job.wasm.buffer, job.data.buffer])] as ArrayBuffer[];
      port.postMessage({ type: "loaded", fuel, memoryBytes: policy.memoryBytes(), wasm: job.wasm, data: job.data } satisfies DryRunMessage, buffers);
    },
    (e: unknown) => post({ type: "refused", error: loadErrorInfo(e) }),
  );
});
// Everything is imported: from now on a job's time is the candidate's.
post({ type: "ready" });
