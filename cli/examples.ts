/**
 * The example requests shipped with a policy repository (`requests/*.json`) and the
 * decision expected for each (`NAME.expected.json`, beside it): what `npm start` shows and what
 * the tests check through the runtime, the bare SDK and the reference interpreter.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { InputError } from "./command.js";

export interface ExpectedDecision {
  description: string;
  outcome: string;
  node: string | null;
  channel: string | null;
  template: string | null;
  variant: string | null;
  send_at: string | null;
  /** Reason codes in order; channel-specific ones as `code:channel`. */
  reasons: string[];
}

export interface ExampleRequest {
  name: string;
  file: string;
  request: unknown;
  expected: ExpectedDecision | null;
}

interface DecisionLike {
  outcome?: unknown;
  node?: unknown;
  channel?: unknown;
  template?: unknown;
  variant?: unknown;
  send_at?: unknown;
  reasons?: unknown;
}

export async function readExamples(dir: string): Promise<ExampleRequest[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith(".json") && !n.endsWith(".expected.json")).sort();
  } catch {
    return [];
  }
  const out: ExampleRequest[] = [];
  for (const n of names) {
    const name = n.slice(0, -".json".length);
    const file = path.join(dir, n);
    let request: unknown;
    try {
      request = JSON.parse(await fs.readFile(file, "utf8"));
    } catch (e) {
      throw new InputError(`cannot read the example request \`${file}\`: ${e instanceof SyntaxError ? `not valid JSON (${e.message})` : (e as Error).message}`,
        "each requests/NAME.json must hold one decision request as JSON");
    }
    let expected: ExpectedDecision | null = null;
    try {
      expected = JSON.parse(await fs.readFile(path.join(dir, `${name}.expected.json`), "utf8")) as ExpectedDecision;
    } catch {
      expected = null;
    }
    out.push({ name, file, request, expected });
  }
  return out;
}

/** The comparable summary of a decision, in the shape of an expected file (minus description). */
export function summarise(d: DecisionLike): Omit<ExpectedDecision, "description"> {
  const reasons = Array.isArray(d.reasons) ? (d.reasons as { code?: unknown; channel?: unknown }[]) : [];
  const s = (v: unknown): string | null => (typeof v === "string" ? v : null);
  return {
    outcome: String(d.outcome),
    node: s(d.node),
    channel: s(d.channel),
    template: s(d.template),
    variant: s(d.variant),
    send_at: s(d.send_at),
    reasons: reasons.map((r) => (typeof r.channel === "string" ? `${String(r.code)}:${r.channel}` : String(r.code))),
  };
}

/** Differences between a decision and its expectation, as readable lines (empty when equal). */
export function compareExpected(d: DecisionLike, e: ExpectedDecision): string[] {
  const got = summarise(d);
  const diffs: string[] = [];
  for (const k of ["outcome", "node", "channel", "template", "variant", "send_at"] as const) {
    if (got[k] !== e[k]) diffs.push(`${k}: expected ${JSON.stringify(e[k])}, got ${JSON.stringify(got[k])}`);
  }
  if (got.reasons.join(",") !== e.reasons.join(",")) diffs.push(`reasons: expected [${e.reasons.join(", ")}], got [${got.reasons.join(", ")}]`);
  return diffs;
}
