/**
 * `build`: the whole stage list (compiler/pipeline.ts), from the policy files to
 * `bundle.tar.gz`. The same sources give the same bytes: the plan is deterministic, the Wasm
 * emitter is deterministic and the bundle writer fixes every byte (compiler/tar-write.ts).
 */
import { compile, type CompileState } from "./pipeline.js";
import type { BundleData } from "./ir/ir.js";
import type { BundleOptions } from "./bundle.js";
import type { SourceHost } from "./source.js";

export { BUNDLE_ENTRYPOINTS, dataJsonText, sourceDigest } from "./bundle.js";

export type BuildOptions = BundleOptions;

export interface BuildResult {
  state: CompileState;
  /** Absent when the policies have errors. */
  bundle?: Uint8Array;
  wasm?: Uint8Array;
  data?: { waypost: BundleData };
  revision?: string;
  digest?: string;
  timings: CompileState["timings"];
}

export async function build(host: SourceHost, opts: BuildOptions = {}): Promise<BuildResult> {
  const state = await compile(host, { bundle: opts });
  const result: BuildResult = { state, timings: state.timings };
  const b = state.bundle;
  if (b === undefined) return result;
  return Object.assign(result, { bundle: b.bytes, wasm: state.wasm, data: b.data, revision: b.revision, digest: b.digest });
}
