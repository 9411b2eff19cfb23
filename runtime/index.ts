/**
 * `waypost/runtime`: what a service embeds to ask for decisions. Depends only on the OPA Wasm
 * SDK, jose and Node built-ins; never on the compiler.
 *
 *   const engine = await loadBundle("bundle.tar.gz", { publicKey: { key: pem, alg: "RS256" }, log: "decisions.jsonl" });
 *   const decision = await engine.decideDurable(request); // never throws; fails closed
 */
export { loadBundle, createEngine, Engine, checkDecision, decisionId, failClosedDecision } from "./engine.js";
export type { EngineOptions, EvaluationResult, SwapResult, VerifyOptions } from "./engine.js";
export type { Request, Decision, Reason, Outcome, HistoryEntry, SuppressedResult, ConsentResult } from "./types.js";
export { OUTCOMES, RUNTIME_ERROR_REASON, ENTRYPOINTS, ENTRYPOINT_IDS, ENGINE_REASONS, STORE_INDEX_FILE, storeBundleFile } from "./contract.js";
export type { Entrypoint, EngineReasonCode, PolicyDecision, StoreIndex, StoreRelease } from "./contract.js";
export { readBundle, verifyBundleSignature, verificationChoice, MANIFEST_FILE, WASM_FILE, DATA_FILE, SIGNATURES_FILE } from "./bundle.js";
export type { BundleContents, Manifest, ReadBundleOptions, SignaturePayload, SignedFile, WasmResolver } from "./bundle.js";
export { DecisionLog, verifyLog, eraseFromLog, maskRequest, entryHash, entryMac, entryLink, parseEntry, parseReplayKey, parseSecretKey, keyId, createPseudonymiser, headFileOf, unsealRequest, GENESIS_HASH, REDACTED, ERASED, PSEUDONYM_PREFIX } from "./log.js";
export type { LogEntry, KeyedLogEntry, UnkeyedLogEntry, Erasure, LogHead, AppendInput, FieldMasks, MaskMode, Pseudonymiser, LogProblem, VerifyLogResult, VerifyLogOptions, OpenLogOptions, EraseOptions, EraseResult } from "./log.js";
export { WaypostRuntimeError, RUNTIME_ERROR_CODES, describeThrown } from "./errors.js";
export { DEFAULT_BUDGET, BudgetExceeded, type Budget } from "./abi.js";
export { meterWasm, HOST_CALL_FUEL, type MeterOptions, type MeteredModule } from "./meter.js";
export type { ErrorInfo, RuntimeErrorCode } from "./errors.js";
export { BUNDLE_CODES, LOG_CODES, STORE_CODES } from "./codes.js";
export type { CodeSpec, Problem, StoreCode } from "./codes.js";
export { keyMaterialFromFile, resolveVerificationKey, JWS_ALGORITHMS, isJwsAlgorithm, DEFAULT_VERIFICATION_ALG } from "./keys.js";
export type { KeyMaterial, PublicKeyInput, VerificationKey, JwsAlgorithm } from "./keys.js";
export type { JsonValue } from "./json.js";
export { readTarGz, type TarLimits } from "./tar.js";
export { watchStore, type StoreWatcher, type StoreEvent, type StoreProblem, type WatchOptions } from "./store.js";
