/** A small, strict flag parser: unknown flags are usage errors, never silently ignored. */
import { UsageError } from "./command.js";

export interface FlagSpec {
  [name: string]: "string" | "boolean" | "number";
}

export interface Parsed {
  flags: Record<string, string | boolean | number | undefined>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: FlagSpec): Parsed {
  const flags: Parsed["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "-") {
      if (a.startsWith("-") && a !== "-") throw new UsageError(`unknown option \`${a}\``);
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    let name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    let negated = false;
    if (!(name in spec) && name.startsWith("no-") && spec[name.slice(3)] === "boolean") {
      name = name.slice(3);
      negated = true;
    }
    const kind = spec[name];
    if (kind === undefined) throw new UsageError(`unknown option \`--${name}\``);
    if (kind === "boolean") {
      if (eq > 0) throw new UsageError(`\`--${name}\` takes no value`);
      flags[name] = !negated;
      continue;
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new UsageError(`\`--${name}\` needs a value`);
    if (kind === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new UsageError(`\`--${name}\` needs a number, got \`${value}\``);
      flags[name] = n;
    } else flags[name] = value;
  }
  return { flags, positionals };
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`\`--${name}\` must be one of ${allowed.map((a) => `\`${a}\``).join(", ")}, got \`${String(value)}\``);
}

/** `--timeout MS` of the solver commands (prove, diff --prove): absent, or whole milliseconds from 1 to one hour. */
export function solverTimeout(value: unknown): { timeoutMs: number } | Record<string, never> {
  if (value === undefined) return {};
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 3_600_000) throw new UsageError("`--timeout` must be a whole number of milliseconds from 1 to 3600000");
  return { timeoutMs: value };
}
