/**
 * The package's public compiler API (package.json `"."`): build a bundle, or run the stage
 * list to any stage; the hosts that supply sources; diagnostics; the IR; and the reference
 * interpreter, which decides exactly as policy.wasm does (docs/ir.md). Services that only
 * decide import `waypost/runtime` instead.
 */
export { build, type BuildOptions, type BuildResult } from "./build.js";
export { compile, STAGES, RecordingHost, type Artifacts, type CompileOptions, type CompileState, type Stage, type StageName } from "./pipeline.js";
export { writeBundle, signBundleFiles, sourceDigest, dataJsonText, BUNDLE_ENTRYPOINTS, type BundleOptions, type BundleOutput, type SigningKeyInput, type WriteBundleInput } from "./bundle.js";
export { FsHost, MemoryHost, SourceRefusal, type SourceHost, type SourceListing, type RefusedEntry } from "./source.js";
export { hasErrors, sortDiagnostics, type Diagnostic, type RelatedInfo, type Severity, type Span } from "./diagnostics.js";
export type { SourceFile } from "./source-file.js";
export type { Program } from "./program.js";
export type { BundleData, Expr, Gate, IR, Plan, PlanList, PlanNode, Reason } from "./ir/ir.js";
export { decide, type Decision } from "./ir/interpret.js";
export { printIR } from "./ir/print.js";
export { VERSION } from "./version.js";
