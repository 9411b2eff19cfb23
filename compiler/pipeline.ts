/**
 * The compiler driver: one ordered list of named stages, as in OPA's compiler. Each stage adds
 * diagnostics; the driver stops after the first stage that leaves errors, and times every stage
 * (`--timings`). Stages: load → validate → parse → check → plan → emit → bundle.
 */
import { check } from "./check.js";
import { hasErrors, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import type { BundleData, IR } from "./ir/ir.js";
import { load, type LoadResult } from "./load.js";
import { parse } from "./parse.js";
import { plan } from "./plan.js";
import type { Program } from "./program.js";
import type { SourceFile } from "./source-file.js";
import type { SourceHost } from "./source.js";
import { validate, type ValidDocument } from "./validate.js";

export interface CompileState {
  host: SourceHost;
  files: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
  loaded?: LoadResult;
  documents?: ValidDocument[];
  program?: Program;
  ir?: IR;
  lists?: BundleData["lists"];
  timings: { stage: string; ms: number }[];
}

interface Stage {
  name: string;
  run(s: CompileState): Promise<void> | void;
}

export const STAGES: readonly Stage[] = [
  {
    name: "Load",
    async run(s) {
      const r = await load(s.host);
      s.loaded = r;
      s.files = r.files;
      s.diagnostics.push(...r.diagnostics);
    },
  },
  {
    name: "Validate", // JSON Schema per kind; must run before anything reads document fields
    run(s) {
      const r = validate(s.loaded!.documents);
      s.documents = r.documents;
      s.diagnostics.push(...r.diagnostics);
    },
  },
  {
    name: "Parse", // builds the typed Program and parses every condition
    async run(s) {
      const r = await parse(s.documents!, s.host);
      s.program = r.program;
      s.diagnostics.push(...r.diagnostics);
      for (const [name, f] of r.dataFiles) s.files.set(name, f);
    },
  },
  {
    name: "Check", // type-checks conditions, then the governance rules (compiler/check.ts)
    run(s) {
      s.diagnostics.push(...check(s.program!));
    },
  },
  {
    name: "Plan", // lowers to the IR; only reached when the program is error-free
    run(s) {
      const r = plan(s.program!);
      s.ir = r.ir;
      s.lists = r.lists;
    },
  },
];

export interface CompileOptions {
  /** Stop after this stage (inclusive). */
  until?: "Load" | "Validate" | "Parse" | "Check" | "Plan";
}

/** Runs the front end and the planner. Emit and bundle live in compiler/build.ts. */
export async function compile(host: SourceHost, opts: CompileOptions = {}): Promise<CompileState> {
  const s: CompileState = { host, files: new Map(), diagnostics: [], timings: [] };
  for (const stage of STAGES) {
    const t0 = performance.now();
    await stage.run(s);
    s.timings.push({ stage: stage.name, ms: performance.now() - t0 });
    if (hasErrors(s.diagnostics) || stage.name === opts.until) break;
  }
  sortDiagnostics(s.diagnostics);
  return s;
}
