/**
 * Checks one invariant with fast-check over generated requests, each decided by the real
 * bundle. A failure is shrunk (fewer context fields, smaller offsets, `now` nearer the
 * reference) and printed as a YAML case a policy author can paste under `cases:` to keep it
 * as a regression test.
 */
import fc from "fast-check";
import * as YAML from "yaml";
import type { Decision } from "../../runtime/types.js";
import { fnv1a32 } from "../../compiler/ir/interpret.js";
import { requestArbitrary, type GenWorld } from "./generators.js";
import type { Invariant } from "./invariants.js";
import type { TestRequest } from "./suite.js";

export type DecideFn = (request: TestRequest) => Decision;

export interface Counterexample {
  request: TestRequest;
  decision: Decision;
  message: string;
  shrinks: number;
  /** A ready-to-paste case (a YAML list item), with comments saying how it was found. */
  yaml: string;
}

export interface InvariantResult {
  id: string;
  builtin: boolean;
  description: string;
  ok: boolean;
  runs: number;
  /** How many generated decisions the invariant said something about (0: it was vacuous). */
  applied: number;
  /** The seed of this invariant's run (derived from the run's seed and the invariant's id). */
  seed: number;
  counterexample?: Counterexample;
  /** An exception from the engine or the generator (a bug in waypost, not in the policies). */
  error?: string;
  file?: string;
  offset?: number;
  ms: number;
}

/** Each invariant's own seed, so adding an invariant does not change the others' runs. */
export const invariantSeed = (seed: number, id: string): number => (seed ^ fnv1a32(id)) | 0;

export function checkInvariant(inv: Invariant, world: GenWorld, decide: DecideFn, opts: { seed: number; runs: number }): InvariantResult {
  const t0 = performance.now();
  const seed = invariantSeed(opts.seed, inv.id);
  const base: InvariantResult = { id: inv.id, builtin: inv.builtin, description: inv.description, ok: true, runs: 0, applied: 0, seed, ms: 0 };
  if (inv.where) {
    base.file = inv.where.doc.file.path;
    base.offset = (inv.where.doc.doc.getIn(inv.where.path, true) as { range?: number[] } | undefined)?.range?.[0] ?? inv.where.doc.span.start;
  }
  const arb = requestArbitrary(world, inv.nodes, inv.focus);
  let applied = 0;
  let shrinking = false;
  const r = fc.check(
    fc.property(arb, (req) => {
      const d = decide(req);
      const why = inv.check(req, d);
      if (!shrinking && inv.applies(req, d)) applied++;
      if (why !== null) shrinking = true;
      return why === null;
    }),
    { seed, numRuns: opts.runs },
  );
  base.runs = r.numRuns;
  base.applied = applied;
  base.ms = performance.now() - t0;
  if (!r.failed) return base;
  base.ok = false;
  const ce = r.counterexample?.[0];
  if (!ce) {
    base.error = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance ?? "unknown failure");
    return base;
  }
  const decision = decide(ce);
  const message = inv.check(ce, decision) ?? (r.errorInstance instanceof Error ? `the check threw: ${r.errorInstance.message}` : "the check failed");
  base.counterexample = { request: ce, decision, message, shrinks: r.numShrinks, yaml: counterexampleYaml(inv, ce, decision, message, opts) };
  return base;
}

export function counterexampleYaml(inv: Invariant, req: TestRequest, d: Decision, why: string, opts: { seed: number; runs: number }): string {
  const request: Record<string, unknown> = { system: req.system, event: req.event };
  if (req.node !== undefined) request["node"] = req.node;
  request["now"] = req.now;
  request["context"] = req.context;
  if (req.history) request["history"] = req.history;
  const item = [{ name: `${inv.id} counterexample (seed ${opts.seed})`, request, expect: { invariants: [inv.id] } }];
  const body = YAML.stringify(item, { lineWidth: 0, flowCollectionPadding: false });
  const got = [`outcome ${d.outcome}`, d.node && `node ${d.node}`, d.channel && `channel ${d.channel}`, d.send_at && `send_at ${d.send_at}`].filter(Boolean).join(", ");
  const comment = [
    `# invariant \`${inv.id}\` does not hold: ${why}`,
    `# got: ${got}; reasons: ${d.reasons.map((r) => r.code).join(", ") || "none"}`,
    `# replay: waypost test --seed ${opts.seed} --runs ${opts.runs}`,
  ];
  return `${comment.join("\n")}\n${body}`;
}
