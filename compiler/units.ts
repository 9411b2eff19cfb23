/** Units of the YAML language: durations, shares and clock times. */
import { parseTime } from "./ir/time.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 365 * 86_400_000 };

/** `15m` -> 900000; schema validation guarantees the shape. */
export function durationMs(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text);
  if (!m) throw new Error(`internal: unvalidated duration ${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Render milliseconds the way a policy author writes them. */
export function formatDuration(ms: number): string {
  for (const u of ["y", "w", "d", "h", "m", "s"] as const) {
    const n = UNIT_MS[u]!;
    if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  }
  return `${ms}ms`;
}

/** `12.5%` -> 1250 basis points. */
export function percentBp(text: string): number {
  return Math.round(Number(text.slice(0, -1)) * 100);
}

/** `21:30` -> minutes after midnight. */
export function clockMinutes(text: string): number {
  const [h, m] = text.split(":");
  return Number(h) * 60 + Number(m);
}

/** A date or timestamp from the YAML language, or undefined when it is not a real date. */
export function timeMs(text: string): number | undefined {
  return parseTime(text);
}
