/**
 * The compiler driver: one ordered list of named stages, as in OPA's compiler, from the
 * policy files to `bundle.tar.gz`: Load → Validate → Parse → Check → Plan → Emit → Bundle.
 * Each stage reads what earlier stages made (its `needs`), adds diagnostics, and sets one
 * artifact of its own (`makes`); the driver stops after the first stage that leaves errors
 * or at `until`, and times every stage (`--timings`).
 */
import { check } from "./check.js";
import type { BundleOptions, BundleOutput } from "./bundle.js";
import { hasErrors, sortDiagnostics, type Diagnostic } from "./diagnostics.js";
import { load, type LoadResult } from "./load.js";
import { parse } from "./parse.js";
import { plan, type PlanResult } from "./plan.js";
import type { Program } from "./program.js";
import type { SourceFile } from "./source-file.js";
import { scanHost, type SourceHost, type SourceListing } from "./source.js";
import { validate, type ValidDocument } from "./validate.js";

/** What each stage makes, by the stage that makes it. */
export interface Artifacts {
  /** Load: the policy files as YAML documents, with their text. */
  loaded: LoadResult;
  /** Validate: the documents that pass their kind's JSON Schema. */
  documents: ValidDocument[];
  /** Parse: the typed program, every condition parsed. Check adds only diagnostics. */
  program: Program;
  /** Plan: the IR (reached only without errors). */
  ir: PlanResult["ir"];
  /** Plan: the suppression lists of data.json. */
  lists: PlanResult["lists"];
  /** Emit: policy.wasm. */
  wasm: Uint8Array;
  /** Bundle: the `.tar.gz` bytes, its data document, revision and source digest. */
  bundle: BundleOutput;
}

export type StageName = "Load" | "Validate" | "Parse" | "Check" | "Plan" | "Emit" | "Bundle";

export interface CompileState extends Partial<Artifacts> {
  /** The sources, recording every file read (the Bundle stage digests them). */
  host: RecordingHost;
  options: CompileOptions;
  /** Every source file diagnostics may point into: Load's policy files, then Parse's data files. */
  files: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
  timings: { stage: StageName; ms: number }[];
}

export interface Stage<N extends StageName = StageName> {
  readonly name: N;
  /** The artifacts it reads, all made by earlier stages. */
  readonly needs: readonly (keyof Artifacts)[];
  /** The artifacts it sets (Check only adds diagnostics). */
  readonly makes: readonly (keyof Artifacts)[];
  run(s: CompileState): Promise<void> | void;
}

/** An artifact a stage needs; the stage order guarantees it, so a miss is a driver bug. */
function need<K extends keyof Artifacts>(s: CompileState, key: K): Artifacts[K] {
  const v = s[key];
  if (v === undefined) throw new Error(`compiler stage order: \`${key}\` is needed before it is made`);
  return v as Artifacts[K];
}

export const STAGES: readonly Stage[] = [
  {
    name: "Load",
    needs: [],
    makes: ["loaded"],
    async run(s) {
      const r = await load(s.host);
      s.loaded = r;
      for (const [name, f] of r.files) s.files.set(name, f);
      s.diagnostics.push(...r.diagnostics);
    },
  },
  {
    name: "Validate", // JSON Schema per kind; must run before anything reads document fields
    needs: ["loaded"],
    makes: ["documents"],
    run(s) {
      const r = validate(need(s, "loaded").documents);
      s.documents = r.documents;
      s.diagnostics.push(...r.diagnostics);
    },
  },
  {
    name: "Parse", // builds the typed Program and parses every condition; reads entries files
    needs: ["documents"],
    makes: ["program"],
    async run(s) {
      const r = await parse(need(s, "documents"), s.host);
      s.program = r.program;
      s.diagnostics.push(...r.diagnostics);
      for (const [name, f] of r.dataFiles) s.files.set(name, f);
    },
  },
  {
    name: "Check", // type-checks conditions, then the governance rules (compiler/check.ts)
    needs: ["program"],
    makes: [],
    run(s) {
      s.diagnostics.push(...check(need(s, "program")));
    },
  },
  {
    name: "Plan", // lowers to the IR; only reached when the program is error-free
    needs: ["program"],
    makes: ["ir", "lists"],
    run(s) {
      const r = plan(need(s, "program"));
      s.ir = r.ir;
      s.lists = r.lists;
    },
  },
  {
    name: "Emit", // the IR spliced into the Wasm runtime library (compiler/emit/)
    needs: ["ir"],
    makes: ["wasm"],
    async run(s) {
      // Emit and Bundle load their modules (the Wasm toolchain, the bundle writer) when they
      // run: `waypost check` stops before them and never loads them.
      const { emitPolicyWasm } = await import("./emit/index.js");
      s.wasm = await emitPolicyWasm(need(s, "ir"));
    },
  },
  {
    name: "Bundle", // data.json, .manifest, optional .signatures.json, deterministic tar.gz
    needs: ["ir", "lists", "wasm"],
    makes: ["bundle"],
    async run(s) {
      const { bundleProgram, sourceDigest } = await import("./bundle.js");
      const planned = { ir: need(s, "ir"), lists: need(s, "lists") };
      s.bundle = await bundleProgram(planned, need(s, "wasm"), sourceDigest(s.host.read), s.options.bundle ?? {});
    },
  },
];

export interface CompileOptions {
  /** Stop after this stage (inclusive); default: run to the end (Bundle). */
  until?: StageName;
  /** The Bundle stage's revision, metadata and signing key. */
  bundle?: BundleOptions;
}

/** Records every file the compiler reads, so the manifest can carry a digest of the sources. */
export class RecordingHost implements SourceHost {
  readonly read = new Map<string, Uint8Array>();
  constructor(private readonly inner: SourceHost) {}
  get description(): string {
    return this.inner.description;
  }
  listFiles(): Promise<string[]> {
    return this.inner.listFiles();
  }
  scan(): Promise<SourceListing> {
    return scanHost(this.inner);
  }
  async readFile(p: string): Promise<Uint8Array | null> {
    const b = await this.inner.readFile(p);
    if (b !== null) this.read.set(p, b);
    return b;
  }
}

/** Runs the stages in order up to `opts.until` (default all), stopping at the first with errors. */
export async function compile(host: SourceHost, opts: CompileOptions = {}): Promise<CompileState> {
  const s: CompileState = { host: new RecordingHost(host), options: opts, files: new Map(), diagnostics: [], timings: [] };
  return runStages(s, 0, opts.until);
}

/**
 * Goes on from where an earlier `compile(..., { until })` stopped, up to `until` (default all):
 * `check --strict` checks first and builds the bundle only for the cadence analysis.
 */
export async function continueCompile(s: CompileState, until?: StageName): Promise<CompileState> {
  if (hasErrors(s.diagnostics)) return s;
  const last = s.timings.at(-1)?.stage;
  return runStages(s, last === undefined ? 0 : STAGES.findIndex((x) => x.name === last) + 1, until);
}

async function runStages(s: CompileState, from: number, until: StageName | undefined): Promise<CompileState> {
  for (const stage of STAGES.slice(from)) {
    const t0 = performance.now();
    await stage.run(s);
    s.timings.push({ stage: stage.name, ms: performance.now() - t0 });
    if (hasErrors(s.diagnostics) || stage.name === until) break;
  }
  sortDiagnostics(s.diagnostics);
  return s;
}
