/**
 * Who moves between control and treatment when a holdout's or an experiment's salt or share
 * changes (docs/ir.md "Holdouts"): `waypost diff` and `waypost check --against REF` warn with
 * these counts (WP5013), because a moved customer's earlier and later decisions no longer
 * belong to one group, which biases the comparison the holdout exists for.
 */
import { bucket } from "../../compiler/ir/interpret.js";
import type { Plan } from "../../compiler/ir/ir.js";

/** How many synthetic customers (`customer-0` … `customer-9999`) are bucketed on both sides. */
export const SHIFT_SAMPLE = 10_000;

/** A control group: a universal holdout (`holdout/<id>`) or a node's experiment (`node/<id>/experiment`). */
export interface ControlGroup {
  key: string;
  salt: string;
  /** Share in the control group, basis points. */
  bp: number;
}

export interface GroupShift {
  key: string;
  before: { salt: string; bp: number };
  after: { salt: string; bp: number };
  sampled: number;
  /** Sampled customers in control before and in treatment after, and the reverse. */
  toTreatment: number;
  toControl: number;
  /**
   * The expected fractions: with the same salt a customer's bucket is unchanged, so exactly the
   * buckets between the two shares move (`max(0, p - q)` and `max(0, q - p)`); with a new salt
   * the buckets are independent, so `p (1 - q)` and `(1 - p) q` (p, q the shares before and after).
   */
  expectedToTreatment: number;
  expectedToControl: number;
}

/** The plan's control groups, by key. */
export function controlGroups(plan: Plan): Map<string, ControlGroup> {
  const out = new Map<string, ControlGroup>();
  for (const h of plan.holdouts ?? []) out.set(`holdout/${h.id}`, { key: `holdout/${h.id}`, salt: h.salt, bp: h.holdout_bp });
  for (const n of plan.nodes) {
    if (n.experiment) out.set(`node/${n.id}/experiment`, { key: `node/${n.id}/experiment`, salt: n.experiment.salt, bp: n.experiment.holdout_bp });
  }
  return out;
}

/** Every group on both sides whose salt or share changed, with who moves (sorted by key). */
export function holdoutShifts(base: Plan, head: Plan, sample: number = SHIFT_SAMPLE): GroupShift[] {
  const before = controlGroups(base);
  const out: GroupShift[] = [];
  for (const [key, a] of [...controlGroups(head)].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    const b = before.get(key);
    if (!b || (b.salt === a.salt && b.bp === a.bp)) continue;
    let toTreatment = 0;
    let toControl = 0;
    for (let i = 0; i < sample; i++) {
      const id = `customer-${i}`;
      const was = bucket(b.salt, id) < b.bp;
      const is = bucket(a.salt, id) < a.bp;
      if (was && !is) toTreatment++;
      else if (!was && is) toControl++;
    }
    const p = b.bp / 10000;
    const q = a.bp / 10000;
    const same = b.salt === a.salt;
    out.push({
      key,
      before: { salt: b.salt, bp: b.bp },
      after: { salt: a.salt, bp: a.bp },
      sampled: sample,
      toTreatment,
      toControl,
      expectedToTreatment: same ? Math.max(0, p - q) : p * (1 - q),
      expectedToControl: same ? Math.max(0, q - p) : (1 - p) * q,
    });
  }
  return out;
}

const pct = (x: number): string => `${+(x * 100).toFixed(2)}%`;

/** One line for a reviewer: what changed and who moves. */
export function shiftMessage(s: GroupShift): string {
  const what = [
    s.before.salt !== s.after.salt ? `salt \`${s.before.salt}\` → \`${s.after.salt}\`` : "",
    s.before.bp !== s.after.bp ? `share ${s.before.bp / 100}% → ${s.after.bp / 100}%` : "",
  ].filter(Boolean).join(", ");
  return `\`${s.key}\`: ${what} moves ${s.toTreatment} of ${s.sampled} sampled customers from control to treatment and ${s.toControl} from treatment to control (expected ${pct(s.expectedToTreatment)} and ${pct(s.expectedToControl)})`;
}
