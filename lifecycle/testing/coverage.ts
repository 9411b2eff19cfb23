/**
 * Coverage of the example cases: which journey nodes decided a case, which trigger and
 * eligibility conditions were seen both true and false, and which outcomes occurred. The
 * conditions are traced with the reference interpreter's expression evaluator, walking the
 * candidates exactly as step 5 of the decision procedure does (docs/ir.md), so a condition
 * counts as exercised only when the engine would have evaluated it.
 */
import { OUTCOMES, type Decision, type EngineReasonCode } from "../../runtime/contract.js";
import { bucket, evalExpr, type Env } from "../../compiler/ir/interpret.js";
import type { BundleData, IR, PlanNode } from "../../compiler/ir/ir.js";
import { parseTime } from "../../compiler/ir/time.js";
import type { TestRequest } from "./suite.js";

export interface CoverageItem {
  /** e.g. `node claim-update-day3`, `trigger true`, `eligibility claim-in-progress false`, `outcome holdout`. */
  what: string;
  covered: boolean;
  /** `file:line:col` of what it is about (the node id, the condition). */
  source: string;
}

export interface NodeCoverage {
  node: string;
  file: string;
  items: CoverageItem[];
  outcomes: string[];
}

export interface Coverage {
  nodes: NodeCoverage[];
  outcomes: CoverageItem[];
  covered: number;
  total: number;
  percent: number;
}

/** Engine reasons that end a decision before any node is looked at. */
const EARLY: ReadonlySet<string> = new Set<EngineReasonCode>(["invalid-request", "system-not-allowed", "unknown-event", "field-not-allowed", "invalid-field"]);

export function coverage(ir: IR, lists: BundleData["lists"], runs: readonly { request: TestRequest; decision: Decision }[]): Coverage {
  const plan = ir.plan;
  const seen = plan.nodes.map((n) => ({ selected: false, outcomes: new Set<string>(), conds: n.conditions.map(() => ({ t: false, f: false })) }));
  const outcomes = new Set<string>();
  const index = new Map(plan.nodes.map((n, i) => [n.id, i]));
  for (const { request: r, decision: d } of runs) {
    outcomes.add(d.outcome);
    if (d.node !== null) {
      const s = seen[index.get(d.node) ?? -1];
      if (s) (s.selected = true), s.outcomes.add(d.outcome);
    }
    if (d.reasons.some((x) => EARLY.has(x.code))) continue;
    const now = parseTime(r.now);
    if (now === undefined) continue;
    const off = r.context[plan.keys.utc_offset];
    const env: Env = { context: r.context, now, lists, history: r.history, utcOffsetMin: typeof off === "number" ? off : 0 };
    const allowed = new Set(plan.systems[r.system] ?? []);
    const id = r.context[plan.keys.customer];
    for (const i of plan.events[r.event] ?? []) {
      const n: PlanNode | undefined = plan.nodes[i];
      if (!n || !allowed.has(n.id) || (r.node !== undefined && r.node !== n.id)) continue;
      if ((n.valid_from !== null && now < n.valid_from) || (n.valid_until !== null && now >= n.valid_until)) continue;
      if (n.rollout_bp < 10000 && (typeof id !== "string" || bucket(n.rollout_salt, id) >= n.rollout_bp)) continue;
      if (n.required.some((f) => !(f in r.context))) break;
      let all = true;
      for (const [k, c] of n.conditions.entries()) {
        const ok = evalExpr(ir.conds[c.cond]!, env) === true;
        const s = seen[i]!.conds[k]!;
        if (ok) s.t = true;
        else s.f = true;
        if (!ok) {
          all = false;
          break;
        }
      }
      if (all) break;
    }
  }
  const nodes: NodeCoverage[] = plan.nodes.map((n, i) => {
    const s = seen[i]!;
    const items: CoverageItem[] = [{ what: `node \`${n.id}\` decides a case`, covered: s.selected, source: n.source }];
    n.conditions.forEach((c, k) => {
      const label = c.kind === "trigger" ? "trigger" : `eligibility \`${c.reason.policy.split("/").pop()}\``;
      items.push({ what: `${label} true`, covered: s.conds[k]!.t, source: c.reason.source });
      items.push({ what: `${label} false`, covered: s.conds[k]!.f, source: c.reason.source });
    });
    return { node: n.id, file: n.source.replace(/:\d+:\d+$/, ""), items, outcomes: OUTCOMES.filter((o) => s.outcomes.has(o)) };
  });
  const outcomeItems = OUTCOMES.map((o) => ({ what: `outcome \`${o}\``, covered: outcomes.has(o), source: "" }));
  const all = [...nodes.flatMap((n) => n.items), ...outcomeItems];
  const covered = all.filter((x) => x.covered).length;
  return { nodes, outcomes: outcomeItems, covered, total: all.length, percent: all.length ? (100 * covered) / all.length : 100 };
}
