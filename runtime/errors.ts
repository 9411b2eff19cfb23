/**
 * Typed runtime errors with stable codes. A corrupt or untrusted bundle, or a damaged decision
 * log, is an expected condition: callers branch on `code`, and the CLI prints
 * `error[CODE]: message` and the code's help without a stack. The codes, with their summary
 * and help, are declared in runtime/codes.ts (append-only; never reuse a number).
 */
import { BUNDLE_CODES, LOG_CODES, type Problem, type RuntimeErrorCode } from "./codes.js";

export type { RuntimeErrorCode } from "./codes.js";

const CODES = { ...BUNDLE_CODES, ...LOG_CODES };

/** Every runtime error code with its one-line summary. */
export const RUNTIME_ERROR_CODES = Object.fromEntries(
  Object.entries(CODES).map(([code, spec]) => [code, spec.summary]),
) as Readonly<Record<RuntimeErrorCode, string>>;

/** Plain-data form of an error, for results and JSON output. */
export type ErrorInfo = Problem<RuntimeErrorCode>;

export class WaypostRuntimeError extends Error {
  readonly code: RuntimeErrorCode;
  constructor(code: RuntimeErrorCode, message: string) {
    super(message);
    this.name = "WaypostRuntimeError";
    this.code = code;
  }
  /** The code's advice from the registry (the message says what happened, this what to do). */
  get help(): string {
    return CODES[this.code].help;
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
