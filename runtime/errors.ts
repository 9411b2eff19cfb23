/**
 * Typed runtime errors with stable codes. A corrupt or untrusted bundle, or a damaged decision
 * log, is an expected condition: callers branch on `code`, and the CLI prints
 * `error[CODE]: message` without a stack. Codes are append-only; never reuse a number.
 */

export const RUNTIME_ERROR_CODES = {
  // bundle container
  WPR001: "bundle is not a gzip tar",
  WPR002: "bundle tar is corrupt or truncated",
  WPR003: "bundle entry has an unsafe name",
  WPR004: "bundle has a duplicate entry",
  WPR005: "bundle has a non-regular entry",
  WPR006: "bundle exceeds a size limit",
  // bundle contents
  WPR007: "bundle is missing a required file",
  WPR008: "bundle manifest is invalid",
  WPR009: "bundle data.json is invalid",
  // signatures
  WPR010: "bundle is not signed but a verification key was given",
  WPR011: "bundle signature is invalid",
  WPR012: "bundle file does not match its signed digest",
  WPR013: "bundle files and signed file list differ",
  WPR014: "verification or signing key is unusable",
  // engine
  WPR015: "policy.wasm could not be loaded",
  WPR016: "bundle could not be read",
  WPR017: "bundle failed its activation self-check",
  // verification choice (no silent trust)
  WPR018: "no verification key was given; pass a key or skipVerify",
  WPR019: "both a verification key and skipVerify were given",
  // runaway bundles (metering)
  WPR020: "policy.wasm cannot be metered (malformed or unsupported instructions)",
  WPR021: "bundle exceeded its load budget (fuel or memory)",
  // runaway bundles (dry run of a candidate's load in a worker thread)
  WPR022: "bundle load exceeded its deadline (dry run stopped)",
  WPR023: "bundle load dry run failed (worker out of memory, crashed or missing)",
  // decision log
  WPL001: "decision log ends with a torn (incomplete) entry",
  WPL002: "decision log line is not a valid entry",
  WPL003: "decision log entry was modified",
  WPL004: "decision log chain is broken",
  WPL005: "decision log sequence is out of order",
  WPL006: "decision log was written by another writer",
  WPL007: "decision log could not be read or written",
  WPL008: "decision log is locked by another writer",
  WPL009: "decision log was written with another log key",
  WPL010: "decision log was cut: entries are missing from its end",
  WPL011: "decision log key is missing, malformed or does not suit the log",
  WPL012: "decision log head file is missing or invalid",
} as const;

export type RuntimeErrorCode = keyof typeof RUNTIME_ERROR_CODES;

/** Plain-data form of an error, for results and JSON output. */
export interface ErrorInfo {
  code: RuntimeErrorCode;
  message: string;
}

export class WaypostRuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = "WaypostRuntimeError";
    this.code = code;
  }
  toInfo(): ErrorInfo {
    return { code: this.code, message: this.message };
  }
}

export const runtimeError = (code: RuntimeErrorCode, message: string): WaypostRuntimeError =>
  new WaypostRuntimeError(code, message);

/** Normalises anything thrown (the OPA SDK throws plain strings) to one line of text. */
export function describeThrown(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "string") return e;
  if (typeof e === "object" && e !== null && "message" in e && typeof e.message === "string") return e.message;
  try {
    return String(e);
  } catch {
    return "unknown error";
  }
}
