/**
 * `waypost replay`: re-evaluates logged requests against a candidate bundle and reports which
 * decisions would change (impact analysis on real traffic).
 *
 * The log stores requests with context values masked (runtime/log.ts: `hash` fields become
 * `sha256:…`, `redact` fields `[redacted]`). A masked value can change a decision by itself
 * (a redacted age fails validation; a hashed customer id is on no list and buckets
 * differently), so the replay compares like with like: each logged request is evaluated, as
 * logged, on a baseline (the bundle that made the decision: `--baseline`, or the candidate
 * itself when the entry's revision is the candidate's) and on the candidate. An entry whose
 * baseline replay reproduces the logged decision is *exact*; otherwise masking changed it and
 * the entry is *approximate*: its change is still measured baseline-vs-candidate on the same
 * masked input, and counted apart. Without a baseline for an entry, the logged decision itself
 * is the baseline.
 *
 * The log is verified before anything is read from it (with the log key: every MAC, and its end
 * against the head file), and a log that does not verify fails the whole replay (WP5008) with
 * its first problem; a replay never rests on a log someone rewrote. Erased entries (an honoured
 * erasure request) are skipped and counted.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import { checkDecision, headFileOf, parseEntry, unsealRequest, verifyLog, type VerifyLogResult } from "../../runtime/index.js";
import { canonicalJson } from "../../runtime/json.js";
import type { JsonValue } from "../../compiler/ir/ir.js";
import { fail, ok, type Result } from "../git.js";
import { measureImpact, type DecisionView, type ImpactReport, type Sample } from "./impact.js";
import { toView, type Side } from "./index.js";

export interface LoggedDecision {
  line: number;
  revision: string;
  request: JsonValue;
  decision: DecisionView;
}

export interface ReplayReport {
  log: string;
  candidate: string;
  baseline: string | null;
  entries: number;
  /** Entries whose baseline replay reproduced the logged decision. */
  exact: number;
  /** Entries where masked context values changed the baseline replay (compared on the masked input). */
  approximate: number;
  /** Entries compared against the logged decision because no baseline bundle was given for their revision. */
  against_log: number;
  revisions: Record<string, number>;
  impact: ImpactReport;
}

export interface ReadLog {
  entries: LoggedDecision[];
  /** Erased entries, skipped. */
  erased: number;
  /** How the log verified (`proven` only with the log key; `notes` say what was not checked). */
  verification: VerifyLogResult;
}

/**
 * Verifies the log (with `logKey` when given), then reads every entry. With the log's replay key
 * every entry's sealed, unmasked request is opened instead of the masked one, so the replay is
 * exact; an entry that has no sealed copy, or does not open, is an error then. Erased entries
 * are skipped.
 */
export async function readDecisionLog(file: string, replayKey?: Uint8Array, options: { logKey?: Uint8Array } = {}): Promise<Result<ReadLog>> {
  const out: LoggedDecision[] = [];
  let lineNo = 0;
  let erased = 0;
  let verification: VerifyLogResult;
  try {
    await stat(file);
    verification = await verifyLog(file, options.logKey !== undefined ? { key: options.logKey } : {});
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail("WP5008", `cannot read the decision log \`${file}\`: ${code === "ENOENT" ? "no such file" : (e as Error).message}`, "give the path of a decision log (JSON Lines)");
  }
  const problem = verification.problems[0];
  if (problem !== undefined) {
    const where = problem.line > 0 ? `${file}:${problem.line}` : headFileOf(file);
    return fail(
      "WP5008",
      `${where}: ${problem.message} (${problem.code})`,
      problem.code === "WPL002"
        ? "give a log written by the Waypost runtime (`--log decisions.jsonl`); check it with `waypost log verify`"
        : `the log does not verify, so it is not replayed; see \`waypost log verify ${file}${options.logKey !== undefined ? " --log-key KEY" : ""}\``,
    );
  }
  try {
    const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
    for await (const line of rl) {
      lineNo++;
      if (line.trim() === "") continue;
      const e = parseEntry(line);
      if (typeof e === "string") return fail("WP5008", `${file}:${lineNo}: the line is not a decision log entry: ${e}`, "give a log written by the Waypost runtime (`--log decisions.jsonl`); check it with `waypost log verify`");
      if (e.v === 2 && e.erased !== undefined) {
        erased++; // its request is gone: nothing to replay
        continue;
      }
      let req = e.request;
      if (replayKey !== undefined) {
        const opened = unsealRequest(e, replayKey);
        if (!opened.ok) {
          return fail("WP5008", `${file}:${lineNo}: ${opened.error}`, "give the replay key the runtime wrote this log with, or replay without `--replay-key` (masked, approximate)");
        }
        req = opened.request;
      }
      if (typeof req !== "object" || req === null || Array.isArray(req)) {
        return fail("WP5008", `${file}:${lineNo}: the entry's request is not an object, so it cannot be replayed`, "requests that were not JSON objects were denied and cannot be replayed; remove the line or skip the log");
      }
      // The runtime logs the decision with its `decision_id` and `verified` (runtime-added; older
      // logs lack it); the rest is the decision (docs/ir.md).
      const { decision_id: _id, verified: _verified, ...decision } = (typeof e.decision === "object" && e.decision !== null && !Array.isArray(e.decision) ? e.decision : { invalid: e.decision }) as Record<string, unknown>;
      const problem = checkDecision(decision);
      if (problem !== null) return fail("WP5008", `${file}:${lineNo}: the entry's decision is not a decision: ${problem}`, "check the log with `waypost log verify`");
      out.push({ line: lineNo, revision: e.revision, request: req, decision: toView(e.decision) });
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail("WP5008", `cannot read the decision log \`${file}\`: ${code === "ENOENT" ? "no such file" : (e as Error).message}`, "give the path of a decision log (JSON Lines)");
  }
  if (out.length === 0) {
    return fail("WP5008", `the decision log \`${file}\` has no entries${erased > 0 ? ` to replay (${erased} erased)` : ""}`, "give a log with decisions in it");
  }
  return ok({ entries: out, erased, verification });
}

const sameView = (a: DecisionView, b: DecisionView): boolean =>
  a.outcome === b.outcome && a.node === b.node && a.channel === b.channel && a.template === b.template && a.variant === b.variant && a.send_at === b.send_at &&
  // Canonically: a log line stores its decision with sorted keys, the engine answers in output order.
  canonicalJson(a.reasons) === canonicalJson(b.reasons);

export function replay(log: string, entries: readonly LoggedDecision[], candidate: Side, baseline: Side | null): ReplayReport {
  const before = new Map<JsonValue, DecisionView>();
  const samples: Sample[] = [];
  let exact = 0;
  let approximate = 0;
  let againstLog = 0;
  const revisions: Record<string, number> = {};
  for (const e of entries) {
    revisions[e.revision] = (revisions[e.revision] ?? 0) + 1;
    const base = baseline && baseline.info.revision === e.revision ? baseline : candidate.info.revision === e.revision ? candidate : null;
    let b: DecisionView;
    if (base === null) {
      againstLog++;
      b = e.decision;
    } else {
      b = base.decide(e.request);
      if (sameView(b, e.decision)) exact++;
      else approximate++;
    }
    before.set(e.request, b);
    samples.push({ request: e.request, origin: "log", label: `line ${e.line}` });
  }
  const impact = measureImpact(samples, (r) => before.get(r)!, candidate.decide, { shrink: false });
  return {
    log,
    candidate: candidate.info.revision,
    baseline: baseline?.info.revision ?? null,
    entries: entries.length,
    exact,
    approximate,
    against_log: againstLog,
    revisions,
    impact,
  };
}
