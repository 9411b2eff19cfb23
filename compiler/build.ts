/**
 * Stages 6 and 7, emit and bundle: from a compiled IR to `bundle.tar.gz`. The same sources
 * give the same bytes: the plan is deterministic, JSON keys are ordered by the planner, the
 * Wasm emitter is deterministic and the tar writer fixes every header field.
 */
import { createHash } from "node:crypto";
import { ENTRYPOINTS } from "../runtime/bundle.js";
import type { JsonValue } from "../runtime/json.js";
import { stableJson, writeBundle, type SigningKeyInput } from "./bundle.js";
import { hasErrors } from "./diagnostics.js";
import { emitPolicyWasm } from "./emit/index.js";
import type { BundleData } from "./ir/ir.js";
import { compile, type CompileState } from "./pipeline.js";
import { scanHost, type SourceHost, type SourceListing } from "./source.js";
import { VERSION } from "./version.js";

/** The entrypoints every Waypost bundle exports, in id order (id 0 is the SDK default). */
export const BUNDLE_ENTRYPOINTS = [ENTRYPOINTS.decide, ENTRYPOINTS.suppressed, ENTRYPOINTS.consent] as const;

/** Records every file the compiler reads, so the manifest can carry a digest of the sources. */
class RecordingHost implements SourceHost {
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

/** sha256 over every source file read, by path order: `name\0length\0bytes`. */
export function sourceDigest(files: ReadonlyMap<string, Uint8Array>): string {
  const h = createHash("sha256");
  for (const name of [...files.keys()].sort()) {
    const b = files.get(name)!;
    h.update(`${name}\0${b.length}\0`);
    h.update(b);
  }
  return h.digest("hex");
}

export interface BuildOptions {
  /** Manifest revision; default `sha256-<first 16 hex of the source digest>`. */
  revision?: string;
  /** Extra manifest metadata (the Git commit, its date, `dirty`...). */
  metadata?: Record<string, JsonValue>;
  signingKey?: SigningKeyInput;
}

export interface BuildResult {
  state: CompileState;
  /** Absent when the policies have errors. */
  bundle?: Uint8Array;
  wasm?: Uint8Array;
  data?: { waypost: BundleData };
  revision?: string;
  digest?: string;
  timings: { stage: string; ms: number }[];
}

export async function build(host: SourceHost, opts: BuildOptions = {}): Promise<BuildResult> {
  const rec = new RecordingHost(host);
  const state = await compile(rec);
  const result: BuildResult = { state, timings: [...state.timings] };
  if (hasErrors(state.diagnostics) || !state.ir || !state.lists) return result;
  const digest = sourceDigest(rec.read);
  const revision = opts.revision ?? `sha256-${digest.slice(0, 16)}`;
  let t0 = performance.now();
  const wasm = await emitPolicyWasm(state.ir);
  result.timings.push({ stage: "Emit", ms: performance.now() - t0 });
  t0 = performance.now();
  const data = { waypost: { plan: state.ir.plan, lists: state.lists, revision } };
  const bundle = await writeBundle({
    wasm,
    data: data as unknown as JsonValue,
    manifest: {
      revision,
      roots: ["waypost"],
      wasm: BUNDLE_ENTRYPOINTS.map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: { compiler: `waypost ${VERSION}`, source_digest: `sha256:${digest}`, ...(opts.metadata ?? {}) },
    },
    ...(opts.signingKey ? { signingKey: opts.signingKey } : {}),
  });
  result.timings.push({ stage: "Bundle", ms: performance.now() - t0 });
  return Object.assign(result, { bundle, wasm, data, revision, digest });
}

/** The data.json text exactly as the bundle stores it. */
export const dataJsonText = (data: { waypost: BundleData }): string => stableJson(data as unknown as JsonValue);
