/**
 * The z3 solver, loaded once per process, with its reference counting made safe.
 *
 * z3-solver runs `check` on a worker thread (an Emscripten pthread) while the main thread goes
 * on; its high-level API frees terms from a FinalizationRegistry, that is whenever V8 collects
 * garbage, which can be in the middle of that check. Two threads then touch one z3 context's
 * reference counts and allocator at once, and the Wasm heap is corrupted ("memory access out of
 * bounds", "corrupted its heap memory area", assertion violations in ast.cpp). So every
 * `*_dec_ref` waits while a solver call is in flight and runs when the last one settles.
 */
import { init } from "z3-solver";
import type { Z3 } from "./encode.js";

type Z3Api = Awaited<ReturnType<typeof init>>;
type Fn = (...args: unknown[]) => unknown;

let api: Promise<Z3Api> | undefined;
let zctx: Z3 | undefined;

/** Solver calls running on z3's worker threads now. */
let inFlight = 0;
/** Reference releases that arrived meanwhile (function, arguments), run in order when none is in flight. */
let deferred: [Fn, unknown[]][] = [];

function settle(): void {
  inFlight--;
  if (inFlight > 0) return;
  // Swapped out whole, not shifted one by one: a query can leave hundreds of thousands of
  // releases, and shifting each off the front made this loop quadratic (seconds per query).
  // A release cannot start a solver call, so nothing is deferred while these run.
  const batch = deferred;
  deferred = [];
  for (const [fn, args] of batch) fn(...args);
}

/**
 * Wraps the low-level functions the high-level API calls through (it looks them up on this
 * object at each call): those returning a promise mark a call in flight until it settles; the
 * reference releases wait while one is.
 */
function guard(low: Record<string, unknown>): void {
  for (const [name, f] of Object.entries(low)) {
    if (typeof f !== "function") continue;
    const fn = f as Fn;
    if (name.endsWith("dec_ref")) {
      low[name] = (...args: unknown[]): unknown => {
        if (inFlight === 0) return fn(...args);
        deferred.push([fn, args]);
        return undefined;
      };
      continue;
    }
    low[name] = (...args: unknown[]): unknown => {
      const r = fn(...args);
      if (r === null || typeof r !== "object" || typeof (r as { then?: unknown }).then !== "function") return r;
      inFlight++;
      return (r as Promise<unknown>).finally(settle);
    };
  }
}

/** z3's Wasm build, loaded once per process and guarded. */
function solverApi(): Promise<Z3Api> {
  api ??= init().then((a) => {
    guard(a.Z3 as unknown as Record<string, unknown>);
    return a;
  });
  return api;
}

/** One z3 context per process: its terms live in one Wasm heap, shared by every proof. */
export async function context(): Promise<Z3> {
  const { Context } = await solverApi();
  zctx ??= Context("waypost") as Z3;
  return zctx;
}

/** Stops z3's worker threads so the process can exit. */
export async function shutdownSolver(): Promise<void> {
  if (api === undefined) return;
  const a = await api;
  api = undefined;
  zctx = undefined;
  a.em.PThread.terminateAllThreads();
}
