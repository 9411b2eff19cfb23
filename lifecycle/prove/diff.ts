/**
 * `waypost diff --prove`: the exact semantic diff. For every node and channel, is there any
 * request that one version makes send (outcome `send` or `defer`) on it and the other does not?
 * Both decisions are encoded over ONE symbolic request (the two worlds share the request's
 * variables by name: context fields, `now`, history counts, list and bucket functions), so a
 * satisfying model is a request that flips. Each model is made concrete and returned as a
 * witness; `waypost diff` then replays it on both sides like any other request, so a witness
 * that does not flip simply does not show (and is counted as unconfirmed here).
 *
 * Covered: requests from a system either version knows (one that only one side knows is denied
 * by the other), whose fields both versions' dictionaries accept, and list contents that are the
 * same on both sides (a proof is for every content). An event whose fields are read differently,
 * or a list whose entries changed, leaves both directions not proved (named in `unknown`); the
 * entity diff shows those changes.
 */
import type { BundleData, IR } from "../../compiler/ir/ir.js";
import type { TestRequest } from "../testing/suite.js";
import { encodeEvent, World, type EventEncoding, type Z3 } from "./encode.js";
import { DEFAULT_TIMEOUT_MS, EventQueries } from "./index.js";
import { context } from "./solver.js";

type B = ReturnType<Z3["Bool"]["val"]>;

export interface ProveDiffSide {
  ir: IR;
  data: BundleData;
}

export interface FlipWitness {
  /** `widening`: head sends on (node, channel) where base does not; `narrowing`: the reverse. */
  kind: "widening" | "narrowing";
  event: string;
  node: string;
  channel: string;
  request: TestRequest;
}

export interface ProveDiffResult {
  witnesses: FlipWitness[];
  /** Per direction: no request flips that way (every query unsat, nothing left unknown). */
  proved: { widening: boolean; narrowing: boolean };
  /** Queries neither proved nor made concrete, with the reason. */
  unknown: string[];
  queries: number;
  ms: number;
}

/** Sends (not review, which waits for a person) on this node and channel, in this encoding. */
function sendsOn(z: Z3, enc: EventEncoding, ir: IR, node: string, ch: string): B {
  const i = ir.plan.nodes.findIndex((n) => n.id === node);
  const n = ir.plan.nodes[i];
  if (i < 0 || !n || n.risk === "high" || !(ir.plan.events[enc.event] ?? []).includes(i) || !n.channels.includes(ch)) return z.Bool.val(false);
  return enc.delivers(i, ch);
}

// What a decision's outcome, node and channel cannot depend on: the texts of reasons and explanations.
const TEXT = new Set(["reason", "pass", "fail", "review_reason", "explanation", "source", "holdout_reason", "treatment_reason", "control_reason", "exhausted_reason", "reasons", "title", "message"]);

function behaviourOf(v: unknown, conds: readonly unknown[]): unknown {
  if (Array.isArray(v)) return v.map((x) => behaviourOf(x, conds));
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) {
    if (TEXT.has(k)) continue;
    const x = (v as Record<string, unknown>)[k];
    // Condition indexes differ between builds: compare the conditions themselves.
    out[k] = (k === "cond" || k === "until") && typeof x === "number" ? behaviourOf(conds[x], conds) : behaviourOf(x, conds);
  }
  return out;
}

/**
 * Everything one event's decisions read (the plan's shared parts, the event's candidates in
 * order with their conditions, the systems allowed any of them), without the texts: two plans
 * with the same behaviour for an event send alike for every request of that event (on the same
 * list contents), so no query is needed to prove it.
 */
export function eventBehaviour(ir: IR, event: string): string {
  const plan = ir.plan;
  const nodes = (plan.events[event] ?? []).map((i) => plan.nodes[i]);
  const ids = new Set(nodes.map((n) => n?.id));
  const { events: _e, nodes: _n, event_fields: _f, systems, arbitration, ...shared } = plan;
  void _e;
  void _n;
  void _f;
  return JSON.stringify(behaviourOf({
    ...shared,
    event_fields: plan.event_fields[event] ?? null,
    arbitration: arbitration?.[event] ?? null,
    // A system allowed none of the event's nodes sends nothing in it, like one the plan does not know.
    systems: Object.fromEntries(Object.entries(systems).flatMap(([s, xs]) => {
      const here = xs.filter((id) => ids.has(id));
      return here.length > 0 ? [[s, here] as const] : [];
    })),
    nodes,
  }, ir.conds));
}

/**
 * The same entries (values are strings or null, in the compact form too), compared in place:
 * serialising both, as before, copied a 10M-id list's 160 MB of keys twice.
 */
function sameEntries(a: Record<string, string | null> | undefined, b: Record<string, string | null> | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k]);
}

export async function proveDiff(base: ProveDiffSide, head: ProveDiffSide, opts: { timeoutMs?: number } = {}): Promise<ProveDiffResult> {
  const t0 = performance.now();
  const z = await context();
  // One string table for both (the same string, the same id), each world's own symbols apart.
  const probe = new World(z, head.ir, head.data.lists);
  const wb = new World(z, base.ir, base.data.lists, probe.strings, [], "base:");
  const wh = new World(z, head.ir, head.data.lists, wb.strings, [], "head:");
  const out: ProveDiffResult = { witnesses: [], proved: { widening: true, narrowing: true }, unknown: [], queries: 0, ms: 0 };
  // The encoding gives a list the same (unknown) content on both sides, so it cannot see a
  // change of entries: neither direction is then proved, whatever the queries say.
  for (const list of [...new Set([...Object.keys(base.data.lists), ...Object.keys(head.data.lists)])].sort()) {
    if (sameEntries(base.data.lists[list], head.data.lists[list])) continue;
    out.proved = { widening: false, narrowing: false };
    out.unknown.push(`list \`${list}\`: its entries changed, which the solver does not compare (each side's content is left open alike); the entity diff counts the entries added and removed`);
  }
  const events = [...new Set([...Object.keys(base.ir.plan.events), ...Object.keys(head.ir.plan.events)])].sort();
  for (const event of events) {
    if (eventBehaviour(base.ir, event) === eventBehaviour(head.ir, event)) continue;
    // Only requests both dictionaries accept are asked about (each side's step 4 holds): when
    // the event's fields are read differently, a request only one side accepts could flip, so
    // neither direction is proved (witnesses found are still real flips).
    const fieldsOf = (ir: IR): string => JSON.stringify(Object.entries(ir.plan.event_fields[event] ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).map(([f, x]) => [f, x, ir.plan.fields[f] ?? null]));
    if (fieldsOf(base.ir) !== fieldsOf(head.ir)) {
      out.proved = { widening: false, narrowing: false };
      out.unknown.push(`event \`${event}\`: its fields are read differently (the data dictionary or the fields the event carries changed), and requests only one version accepts are not compared`);
    }
    const hb = encodeEvent(wb, event);
    const hh = encodeEvent(wh, event);
    const eb = hb.enc;
    const eh = hh.enc;
    // The same request on both sides: its system (by name), no node filter. A system only one
    // side knows is denied by the other at step 1 (`baseOff`/`headOff`: that side sends
    // nothing), so adding a system, or dropping one, is a flip like any other.
    const link: B[] = [eb.nodeFilter.eq(-1), eh.nodeFilter.eq(-1)];
    const baseOff = z.Bool.const(`${event}/diff:base-denies-system`);
    const headOff = z.Bool.const(`${event}/diff:head-denies-system`);
    const names = [...new Set([...eb.systems, ...eh.systems])].sort();
    link.push(z.Or(z.Bool.val(false), ...names.map((s) => {
      const ib = eb.systems.indexOf(s);
      const ih = eh.systems.indexOf(s);
      if (ib >= 0 && ih >= 0) return z.And(eb.system.eq(ib), eh.system.eq(ih), z.Not(baseOff), z.Not(headOff));
      return ib >= 0 ? z.And(eb.system.eq(ib), headOff, z.Not(baseOff)) : z.And(eh.system.eq(ih), baseOff, z.Not(headOff));
    })));
    const pairs = new Map<string, [string, string]>();
    for (const side of [base.ir, head.ir]) {
      for (const i of side.plan.events[event] ?? []) {
        const n = side.plan.nodes[i];
        if (n) for (const ch of n.channels) pairs.set(`${n.id}\0${ch}`, [n.id, ch]);
      }
    }
    // Both encodings and the link on one incremental solver (goals pushed and popped; one that
    // stalls is asked again standalone with the whole time-out), as `prove` asks its queries.
    const q = new EventQueries(z, event, [eb.valid, eh.valid, ...link], [hb.facts, hh.facts, wb.shared, wh.shared], opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      for (const [node, ch] of [...pairs.values()].sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1))) {
        const before = z.And(z.Not(baseOff), sendsOn(z, eb, base.ir, node, ch));
        const after = z.And(z.Not(headOff), sendsOn(z, eh, head.ir, node, ch));
        for (const [kind, goal] of [["widening", z.And(after, z.Not(before))], ["narrowing", z.And(before, z.Not(after))]] as const) {
          out.queries++;
          const r = await q.check(goal, `${kind} ${node}/${ch}`);
          if (r === "unsat") continue;
          out.proved[kind] = false;
          if (r === "unknown") {
            out.unknown.push(`${kind} on \`${node}\` via \`${ch}\` (event \`${event}\`): the solver gave up (${q.why}); raise --timeout`);
            continue;
          }
          // Read from the head's variables when it widens, the base's when it narrows; each
          // side's list applications are pinned to its own bundle's entries.
          const headSide = { w: wh, enc: eh, data: head.data };
          const baseSide = { w: wb, enc: eb, data: base.data };
          const [one, other] = kind === "widening" ? [headSide, baseSide] : [baseSide, headSide];
          const req = await q.concretise(goal, one.w, one.enc, one.data, [other]);
          if (typeof req === "string") out.unknown.push(`${kind} on \`${node}\` via \`${ch}\` (event \`${event}\`): ${req}`);
          else out.witnesses.push({ kind, event, node, channel: ch, request: req });
        }
      }
    } finally {
      q.release();
    }
  }
  out.ms = performance.now() - t0;
  return out;
}
