/**
 * Runs example cases: each case's request (defaults, then its overrides, then its table row)
 * goes through the real bundle, and every expectation is compared with the decision. A failed
 * expectation points at the line that states it.
 */
import type { Decision, Reason } from "../../runtime/types.js";
import type { Span } from "../../compiler/diagnostics.js";
import type { Invariant } from "./invariants.js";
import type { DecideFn } from "./property.js";
import { EXPECT_FIELDS, mergeRequest, spanOf, type TestCase, type TestRequest } from "./suite.js";

export interface CaseFailure {
  message: string;
  span: Span;
}

export interface CaseResult {
  name: string;
  file: string;
  span: Span;
  ok: boolean;
  failures: CaseFailure[];
  request: TestRequest;
  decision: Decision;
  ms: number;
}

const show = (v: string | null | undefined): string => (v === null || v === undefined ? "`null`" : `\`${v}\``);
const matches = (r: Reason, want: string): boolean => r.code === want || r.policy === want;

/** The complete request of a case (the checker has made sure system, event and now are given). */
export function caseRequest(c: TestCase): TestRequest {
  const m = mergeRequest(c.parts);
  const req: TestRequest = { system: m.system ?? "", event: m.event ?? "", now: m.now ?? "", context: m.context ?? {} };
  if (m.node !== undefined) req.node = m.node;
  if (m.history !== undefined) req.history = m.history;
  return req;
}

export function runCase(c: TestCase, decide: DecideFn, invariants: ReadonlyMap<string, Invariant>): CaseResult {
  const t0 = performance.now();
  const request = caseRequest(c);
  const d = decide(request);
  const failures: CaseFailure[] = [];
  const x = c.expect;
  const caseSpan = spanOf(c.where, "value");
  for (const k of EXPECT_FIELDS) {
    if (!(k in x.fields)) continue;
    const want = x.fields[k] ?? null;
    const got = d[k] ?? null;
    if (want !== got) failures.push({ message: `expected ${k} ${show(want)}, got ${show(got)}`, span: spanOf(x.where[k]!) });
  }
  for (const r of x.reasons) {
    if (!d.reasons.some((y) => matches(y, r))) failures.push({ message: `expected the reason \`${r}\`, but the decision does not give it`, span: spanOf(x.where.reasons!) });
  }
  for (const r of x.notReasons) {
    const hit = d.reasons.find((y) => matches(y, r));
    if (hit) failures.push({ message: `the decision gives the reason \`${r}\` (${hit.message}), which it must not`, span: spanOf(x.where.not_reasons!) });
  }
  for (const id of x.invariants) {
    const why = invariants.get(id)?.check(request, d);
    if (why) failures.push({ message: `invariant \`${id}\` does not hold: ${why}`, span: spanOf(x.where.invariants!) });
  }
  return { name: c.name, file: c.file, span: caseSpan, ok: failures.length === 0, failures, request, decision: d, ms: performance.now() - t0 };
}
