/**
 * `waypost test`: build the bundle, load and check the test suites, run every case through the
 * real Wasm bundle, check every invariant with fast-check, and measure coverage. Each step is
 * its own module; this file only orders them. Policy or test-file errors stop the run before
 * anything is decided (there is nothing meaningful to run against).
 */
import { loadBundle } from "../../runtime/engine.js";
import type { Decision } from "../../runtime/types.js";
import { build } from "../../compiler/build.js";
import { hasErrors, sortDiagnostics, type Diagnostic } from "../../compiler/diagnostics.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import { parseTime } from "../../compiler/ir/time.js";
import type { SourceFile } from "../../compiler/source-file.js";
import type { SourceHost } from "../../compiler/source.js";
import { runCase, type CaseResult } from "./cases.js";
import { checkSuites } from "./check.js";
import { coverage, type Coverage } from "./coverage.js";
import { DEFAULT_REF_NOW, type GenWorld } from "./generators.js";
import type { Invariant, InvariantWorld } from "./invariants.js";
import { checkInvariant, type InvariantResult } from "./property.js";
import { loadSuites, type TestRequest } from "./suite.js";

export { builtinInvariants, invariantEnv, type Invariant } from "./invariants.js";
export { requestArbitrary, harvest, type GenWorld } from "./generators.js";
export { counterexampleYaml, invariantSeed, type InvariantResult, type Counterexample } from "./property.js";
export type { CaseResult, CaseFailure } from "./cases.js";
export type { Coverage, CoverageItem, NodeCoverage } from "./coverage.js";
export type { TestRequest } from "./suite.js";

/** Small by default: the whole run should take seconds on a laptop and in CI. */
export const DEFAULT_RUNS = 200;

export interface TestOptions {
  seed?: number;
  /** Generated requests per invariant. */
  runs?: number;
  /** Skip the property checks (cases and coverage only). */
  invariants?: boolean;
  /** Only the invariants with these ids. */
  only?: readonly string[];
  /**
   * What decides: the compiled Wasm bundle (default, what production runs) or the reference
   * interpreter on the same plan (to tell a policy bug from a backend bug).
   */
  engine?: "wasm" | "interpreter";
}

export interface TestReport {
  /** Policy and test-file diagnostics; errors mean nothing was run. */
  diagnostics: Diagnostic[];
  files: Map<string, SourceFile>;
  cases: CaseResult[];
  invariants: InvariantResult[];
  coverage?: Coverage;
  seed: number;
  runs: number;
  revision?: string;
  timings: { step: string; ms: number }[];
}

export const passed = (r: TestReport): boolean =>
  !hasErrors(r.diagnostics) && r.cases.every((c) => c.ok) && r.invariants.every((i) => i.ok);

export async function runPolicyTests(host: SourceHost, opts: TestOptions = {}): Promise<TestReport> {
  const seed = opts.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 1;
  const runs = opts.runs ?? DEFAULT_RUNS;
  const timings: TestReport["timings"] = [];
  const time = async <T>(step: string, f: () => Promise<T> | T): Promise<T> => {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      timings.push({ step, ms: performance.now() - t0 });
    }
  };
  const report: TestReport = { diagnostics: [], files: new Map(), cases: [], invariants: [], seed, runs, timings };
  const built = await time("build", () => build(host));
  report.files = new Map(built.state.files);
  report.diagnostics.push(...built.state.diagnostics);
  const loaded = await time("load tests", () => loadSuites(host));
  for (const [k, v] of loaded.files) report.files.set(k, v);
  report.diagnostics.push(...loaded.diagnostics);
  const { program, ir } = built.state;
  if (hasErrors(report.diagnostics) || !built.bundle || !program || !ir || !built.data) {
    sortDiagnostics(report.diagnostics);
    return report;
  }
  report.revision = built.revision!;
  const world: InvariantWorld = { program, ir, lists: built.data.waypost.lists };
  const checked = checkSuites(loaded.suites, world);
  report.diagnostics.push(...checked.diagnostics);
  sortDiagnostics(report.diagnostics);
  if (hasErrors(report.diagnostics)) return report;

  const engine = opts.engine === "interpreter" ? null : await time("load bundle", () => loadBundle(built.bundle!, { skipVerify: true })); // built just now, in this process
  const data = built.data.waypost;
  const decide = (r: TestRequest): Decision =>
    engine ? engine.decide(r) : ({ ...(interpret(ir, data, r) as object), verified: false, decision_id: "" } as Decision);
  const byId = new Map<string, Invariant>(checked.invariants.map((i) => [i.id, i]));
  report.cases = await time("cases", () => loaded.suites.flatMap((s) => s.cases.map((c) => runCase(c, decide, byId))));
  report.coverage = await time("coverage", () => coverage(ir, world.lists, report.cases));
  if (opts.invariants !== false) {
    const refNow = loaded.suites.map((s) => (s.defaults?.now ? parseTime(s.defaults.now) : undefined)).find((t) => t !== undefined) ?? DEFAULT_REF_NOW;
    const gen: GenWorld = { ir, lists: world.lists, refNow, seeds: report.cases.map((c) => c.request) };
    const selected = checked.invariants.filter((i) => !opts.only || opts.only.includes(i.id));
    report.invariants = await time("invariants", () => selected.map((inv) => checkInvariant(inv, gen, decide, { seed, runs })));
  }
  await engine?.close();
  return report;
}
