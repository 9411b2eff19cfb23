/**
 * `waypost prove`: the built-in guarantees, proved for every request with an SMT solver over the
 * symbolic decision (./encode.ts, docs/prove.md). A guarantee is
 *  - proved: the solver finds no request that violates it (unsat), with no under-approximation;
 *  - refuted: the solver's model, made a concrete request over the bundle's own lists, violates
 *    it on the real Wasm bundle AND on the reference interpreter (checked by the same invariant
 *    `waypost test` runs), and is printed as a ready-to-paste test case;
 *  - unknown: anything else (time-out, a model that does not replay, a model that needs list
 *    content or history the concretiser does not build), with the reason. Never proved by default.
 */
import { createHash } from "node:crypto";
import { stringify } from "yaml";
import { build } from "../../compiler/build.js";
import { conditionEnv } from "../../compiler/check.js";
import { lowerCondition } from "../../compiler/condition/index.js";
import { hasErrors, type Diagnostic, type Span } from "../../compiler/diagnostics.js";
import { spanAt } from "../../compiler/load.js";
import { diag } from "../../compiler/diagnostics.js";
import { bucket, decide as interpret } from "../../compiler/ir/interpret.js";
import type { BundleData, Expr, IR, JsonValue } from "../../compiler/ir/ir.js";
import { formatTime, parseTime } from "../../compiler/ir/time.js";
import { covers, type Channel, type Program } from "../../compiler/program.js";
import type { SourceHost } from "../../compiler/source.js";
import type { SourceFile } from "../../compiler/source-file.js";
import type { Decision } from "../../runtime/contract.js";
import { loadBundle, type Engine } from "../../runtime/engine.js";
import { builtinInvariants, SENDING, type Invariant } from "../testing/invariants.js";
import { checkSuites } from "../testing/check.js";
import { loadSuites } from "../testing/suite.js";
import { sortDiagnostics } from "../../compiler/diagnostics.js";
import { DEFAULT_REF_NOW } from "../testing/generators.js";
import type { TestRequest } from "../testing/suite.js";
import { context, shutdownSolver } from "./solver.js";
export { shutdownSolver };
import { Abstractions, encodeEvent, listWitnesses, NO_EXPIRY, World, type EventEncoding, type Z3 } from "./encode.js";

export type ProofStatus = "proved" | "refuted" | "unknown";

export interface Counterexample {
  request: TestRequest;
  /** The Wasm bundle's decision on it (the interpreter's agrees). */
  decision: Decision;
  /** Why the decision violates the guarantee (the invariant's message). */
  violation: string;
  /** A `kind: PolicyTests` document holding the case, for tests/. */
  yaml: string;
  /** The case expects `waypost test`'s invariant, so it fails until the bug is fixed (else it pins the decision). */
  failsTest: boolean;
}

export interface GuaranteeResult {
  id: string;
  /** The built-in invariant of `waypost test` that checks the same promise on one decision. */
  invariant: string;
  description: string;
  status: ProofStatus;
  reason?: string;
  counterexample?: Counterexample;
  /** Over-approximations in the encoding (sound for proofs; a model may then be spurious). */
  abstractions: string[];
  ms: number;
  /** Solver queries (one per event and guarantee). */
  queries: number;
  /** Where it is written (an author invariant) or the node whose decision broke it (a refuted built-in). */
  span?: Span;
}

/** A frequency cap against every journey in its scope (issue 11, cadence feasibility). */
export interface CadenceWindow {
  cap: string;
  /** What it counts: a channel, a purpose, a node, or everything. */
  scope: string;
  window: string;
  max: number;
  /** The most messages in scope one customer can be sent in any window: `max` when every sender is capped, else null (unbounded). */
  most: number | null;
  /** Nodes (and channels) that can deliver in its scope. */
  nodes: string[];
  /** Senders in scope that deliver with the cap already reached (replayed on the bundle). */
  leaks: { node: string; channel: string; request: TestRequest }[];
  /** Leaks the solver found that did not replay or timed out (so `most` is not claimed). */
  unknown: string[];
}

export interface Cadence {
  windows: CadenceWindow[];
  /** Node and channel pairs no request can make deliver (dead triggers, contradictory eligibility). */
  dead: Reach[];
  /** WP4103 (dead) and WP4104 (a sender escapes a cap) diagnostics, located at the node. */
  findings: Diagnostic[];
}

export interface ProveReport {
  results: GuaranteeResult[];
  cadence?: Cadence;
  diagnostics: Diagnostic[];
  /** The source files the diagnostics point into (for rendering them). */
  files: Map<string, SourceFile>;
  ms: number;
}

export interface ProveOptions {
  /** Solver time-out per query, in ms. */
  timeoutMs?: number;
  /** Also run the cadence analysis, on the guarantees' solvers (prove: default false; proveRepository: default true). */
  cadence?: boolean;
  /** Only these guarantees or author invariants (by id). */
  only?: readonly string[];
}

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Time an incremental query gets before it is asked again standalone (EventQueries). */
const INCREMENTAL_BUDGET_MS = 3_000;
/** The most history entries of one kind a counterexample carries. */
const MAX_HISTORY = 50;

/** What the prover needs: the checked program, the IR, the bundle it built and its data. */
export interface ProveInput {
  program: Program;
  ir: IR;
  data: BundleData;
  bundle: Uint8Array;
  /** Author invariants from tests/*.yaml (checked; built-in ones are always proved). */
  invariants?: readonly Invariant[];
}

/** Exit status: 0 all proved, 1 any refuted, 3 otherwise (some unknown). */
export function proveExit(report: ProveReport): number {
  if (hasErrors(report.diagnostics)) return 1;
  if (report.results.some((r) => r.status === "refuted")) return 1;
  return report.results.every((r) => r.status === "proved") ? 0 : 3;
}

/** Builds the repository, then proves the guarantees on what it built. */
export async function proveRepository(host: SourceHost, opts: ProveOptions = {}): Promise<ProveReport> {
  const t0 = performance.now();
  const built = await build(host);
  const diagnostics = built.state.diagnostics;
  if (built.bundle === undefined || built.data === undefined || built.state.ir === undefined || built.state.program === undefined) {
    return { results: [], diagnostics, files: built.state.files, ms: performance.now() - t0 };
  }
  // Author invariants: the test files are loaded and checked as `waypost test` does.
  const loaded = await loadSuites(host);
  const files = new Map(built.state.files);
  for (const [k, v] of loaded.files) files.set(k, v);
  const checked = checkSuites(loaded.suites, { program: built.state.program, ir: built.state.ir, lists: built.data.waypost.lists });
  const all = [...diagnostics, ...loaded.diagnostics, ...checked.diagnostics];
  sortDiagnostics(all);
  if (hasErrors(all)) return { results: [], diagnostics: all, files, ms: performance.now() - t0 };
  const input: ProveInput = { program: built.state.program, ir: built.state.ir, data: built.data.waypost, bundle: built.bundle, invariants: checked.invariants.filter((i) => !i.builtin) };
  const r = await prove(input, { ...opts, cadence: opts.cadence !== false });
  return { ...r, diagnostics: [...all, ...r.diagnostics], files, ms: performance.now() - t0 };
}

interface Spec {
  id: string;
  invariant: string;
  description: string;
  /** The concrete check on one decision (default: the built-in invariant `invariant`). */
  check?: (req: TestRequest, d: Decision) => string | null;
  /**
   * The violation over one event's request (false when the event cannot violate it); a list is
   * its disjuncts (one per node and channel), each queried on its own: many small queries are
   * far cheaper for z3 than their disjunction.
   */
  violation(enc: EventEncoding, w: World): ReturnType<Z3["Bool"]["val"]> | ReturnType<Z3["Bool"]["val"]>[];
  /** Conditions whose string constants the encoding must know (author invariants). */
  exprs?: Expr[];
  /** Only requests for these events (an author invariant's `nodes`). */
  events?: string[];
  /** Query each zone case on its own (local-time guarantees: smaller queries). */
  split?: boolean;
  span?: Span;
}

function specs(p: Program, ir: IR): Spec[] {
  const plan = ir.plan;
  const envC = conditionEnv(p);
  const ruleExprs = new Map(p.rules.map((r) => [r.id, r.when.ast ? lowerCondition(r.when.ast, envC) : null]));
  return [
    {
      id: "suppression",
      invariant: "suppression-respected",
      description: "a customer on a suppression list (or caught by a suppression rule) gets nothing in its scope",
      violation(enc, w) {
        const z = w.z;
        const bad = [];
        for (const i of plan.events[enc.event] ?? []) {
          const n = plan.nodes[i];
          if (!n) continue;
          for (const ch of n.channels) {
            const hits = [];
            for (const l of p.lists.values()) {
              if (!covers(l.scope.purposes, n.purpose) || !covers(l.scope.channels, ch as Channel)) continue;
              const key = enc.expr({ op: "field", name: l.match });
              // A missing key (absent, null or "") suppresses unless the list says `missing: allow`.
              const lacking = z.Or(z.Not(key.def), key.nul, key.kind === "str" ? key.s!.eq(w.id("") ?? -1) : z.Bool.val(false));
              if (l.missing !== "allow") hits.push(lacking);
              if (key.kind !== "str") continue; // a key that is never a string is never on a list
              hits.push(z.And(key.def, z.Not(key.nul), w.inList(l.id, key.s!, enc.now)));
            }
            for (const r of p.rules) {
              if (!covers(r.scope.purposes, n.purpose) || !covers(r.scope.channels, ch as Channel)) continue;
              const e = ruleExprs.get(r.id);
              if (!e) {
                w.incomplete.add(`suppression rule \`${r.id}\` has no condition to encode`);
                continue;
              }
              const v = enc.expr(e);
              if (v.kind === "bool") hits.push(z.And(v.def, z.Not(v.nul), v.b!));
              else w.incomplete.add(`suppression rule \`${r.id}\` is not a boolean condition`);
              if (r.missing === "suppress") {
                for (const f of r.when.reads ?? []) {
                  const x = enc.expr({ op: "field", name: f.name });
                  hits.push(z.Or(z.Not(x.def), x.nul));
                }
              }
            }
            if (hits.length > 0) bad.push(z.And(enc.delivers(i, ch), z.Or(...hits)));
          }
        }
        return bad;
      },
    },
    {
      id: "consent",
      invariant: "consent-respected",
      description: "nothing is sent without consent for its channel and purpose that is still valid at the send time",
      check: (req, d) => consentAtSend(p, ir, req, d),
      violation(enc, w) {
        const z = w.z;
        const bad = [];
        const jur = enc.expr({ op: "field", name: plan.keys.jurisdiction });
        const jurIn = (js: string[]) => (jur.kind === "str" ? z.And(jur.def, z.Not(jur.nul), z.Or(z.Bool.val(false), ...js.map((j) => jur.s!.eq(w.id(j) ?? -1)))) : z.Bool.val(false));
        for (const i of plan.events[enc.event] ?? []) {
          const n = plan.nodes[i];
          const purpose = n ? p.purposes.get(n.purpose) : undefined;
          if (!n || !purpose) continue;
          for (const ch of n.channels) {
            const c = purpose.consent;
            if (!c) {
              if (purpose.category !== "marketing") continue;
              const needs = [...p.jurisdictions.values()].filter((j) => j.marketingRequiresConsent).map((j) => j.id);
              if (needs.length > 0) bad.push(z.And(enc.delivers(i, ch), jurIn(needs)));
              continue;
            }
            if (!covers(c.channels, ch as Channel)) continue;
            const applies = c.jurisdictions === "all" ? z.Bool.val(true) : jurIn(c.jurisdictions);
            const field = c.field.replace(/\{channel\}/g, ch).replace(/\{purpose\}/g, purpose.id);
            const v = enc.expr({ op: "field", name: field });
            if (v.kind !== "time" || v.isDate === true) {
              w.incomplete.add(`consent field \`${field}\` is not a timestamp`);
              continue;
            }
            const at = v.n!;
            const send = enc.sendAt(i, ch);
            const invalid = [z.Not(v.def), v.nul, at.gt(send), ...(c.maxAgeMs !== undefined ? [send.sub(at).gt(c.maxAgeMs)] : [])];
            // Consent states: withdrawn by the send time (and not before the grant), or not for the channel.
            if (c.withdrawnField !== undefined) {
              const wf = enc.expr({ op: "field", name: c.withdrawnField.replace(/\{channel\}/g, ch).replace(/\{purpose\}/g, purpose.id) });
              if (wf.kind === "time") invalid.push(z.And(wf.def, z.Not(wf.nul), wf.n!.le(send), wf.n!.ge(at)));
              else w.incomplete.add(`withdrawal field of \`${purpose.id}\` is not a time`);
            }
            if (c.channelsField !== undefined) {
              const cf = enc.expr({ op: "field", name: c.channelsField.replace(/\{purpose\}/g, purpose.id) });
              const chv = enc.expr({ op: "const", value: ch });
              invalid.push(cf.kind === "arr" ? z.Or(z.Not(cf.def), cf.nul, z.Not(cf.has!(chv))) : z.Bool.val(true));
            }
            const d = enc.delivers(i, ch);
            for (const why of invalid) bad.push(z.And(d, applies, why));
          }
        }
        return bad;
      },
    },
    {
      id: "quiet-hours",
      invariant: "quiet-hours-respected",
      description: "no send time falls in quiet hours, in the customer's local time (their IANA zone's table, else the fixed offset)",
      violation(enc, w) {
        const z = w.z;
        const bad = [];
        for (const i of enc.candidates) {
          const n = plan.nodes[i]!;
          for (const ch of n.channels) {
            const qs = p.contact.quietHours.filter((q) => covers(q.channels, ch as Channel));
            if (qs.length === 0) continue;
            const m = enc.sendMinute(ch);
            const inside = qs.map((q) => (q.fromMin < q.toMin ? z.And(m.ge(q.fromMin), m.lt(q.toMin)) : z.Or(m.ge(q.fromMin), m.lt(q.toMin))));
            bad.push(z.And(enc.delivers(i, ch), z.Or(...inside)));
          }
        }
        return bad;
      },
    },
    {
      id: "holdout",
      invariant: "holdout-no-treatment",
      description: "a customer held out of a node's experiment gets no treatment from it (and only held-out customers get `holdout`)",
      violation(enc, w) {
        const z = w.z;
        const bad = [];
        for (const i of enc.candidates) {
          const n = p.nodes.find((x) => x.id === plan.nodes[i]!.id);
          if (!n) continue;
          const sends = z.Or(enc.outcomeBy(i, "send"), enc.outcomeBy(i, "defer"), enc.outcomeBy(i, "review"));
          const heldOut = enc.outcomeBy(i, "holdout");
          // Every control group of the node: the universal holdouts naming its purpose, then its experiment.
          const groups = [...p.holdouts.filter((h) => h.purposes.includes(n.purpose)).map((h) => ({ salt: h.salt, bp: h.shareBp })), ...(n.experiment ? [{ salt: n.experiment.salt, bp: n.experiment.holdoutBp }] : [])];
          if (groups.length === 0) {
            bad.push(heldOut);
            continue;
          }
          const held = z.Or(z.Bool.val(false), ...groups.map((g) => {
            const b = enc.bucketOf(g.salt, g.bp);
            return b === null ? z.Bool.val(false) : z.And(b.def, b.b.lt(g.bp));
          }));
          bad.push(z.And(held, sends), z.And(heldOut, z.Not(held)));
        }
        return bad;
      },
    },
    {
      id: "high-risk",
      invariant: "high-risk-reviewed",
      description: "a high-risk node only goes to human review (never sends or defers directly), and only high-risk nodes do",
      violation(enc, w) {
        const z = w.z;
        const bad = [];
        for (const i of enc.candidates) {
          const n = p.nodes.find((x) => x.id === plan.nodes[i]!.id);
          if (!n) continue;
          bad.push(n.risk === "high" ? z.Or(enc.outcomeBy(i, "send"), enc.outcomeBy(i, "defer")) : enc.outcomeBy(i, "review"));
        }
        return bad;
      },
    },
  ];
}

/** An author invariant of tests/*.yaml as a guarantee: no request makes `when` hold and `then` fail. */
function authorSpec(p: Program, ir: IR, inv: Invariant): Spec | null {
  const c = inv.conditions;
  if (!c) return null;
  const byNode = new Map(p.nodes.map((n) => [n.id, n]));
  const events = inv.nodes ? [...new Set(inv.nodes.map((id) => byNode.get(id)?.event).filter((e): e is string => e !== undefined))] : undefined;
  const fieldsOf = new WeakMap<EventEncoding, ReturnType<EventEncoding["decisionFields"]>>();
  return {
    id: inv.id,
    invariant: inv.id,
    description: inv.description,
    check: (req, d) => inv.check(req, d),
    exprs: c.when ? [c.when, c.then] : [c.then],
    ...(inv.where ? { span: spanAt(inv.where.doc, inv.where.path, "key") } : {}),
    ...(events ? { events } : {}),
    violation(enc, w) {
      const z = w.z;
      let f = fieldsOf.get(enc);
      if (!f) {
        f = enc.decisionFields({ purpose: (id) => byNode.get(id)?.purpose, risk: (id) => byNode.get(id)?.risk });
        fieldsOf.set(enc, f);
      }
      const holds = (e: Expr): ReturnType<Z3["Bool"]["val"]> => {
        const v = enc.withDecision(f!, e);
        return v.kind === "bool" ? z.And(v.def, z.Not(v.nul), v.b!) : z.Bool.val(false);
      };
      void ir;
      return z.And(c.when ? holds(c.when) : z.Bool.val(true), z.Not(holds(c.then)));
    },
  };
}

/**
 * Guarantee (b) on one decision: a delivering decision needs the purpose's consent for its
 * channel, present, not later than the send time and, with a maximum age, no older than that
 * at the send time (a consent that lapses between the decision and the send is no consent).
 */
export function consentAtSend(p: Program, ir: IR, req: TestRequest, d: Decision): string | null {
  if (!SENDING.has(d.outcome) || d.node === null || d.channel === null) return null;
  const n = p.nodes.find((x) => x.id === d.node);
  const purpose = n ? p.purposes.get(n.purpose) : undefined;
  if (!n || !purpose) return null;
  const jur = req.context[ir.plan.keys.jurisdiction];
  const c = purpose.consent;
  const sent = `${d.outcome} via \`${d.channel}\` by \`${d.node}\` at ${d.send_at ?? "?"}`;
  if (!c) {
    const j = typeof jur === "string" ? p.jurisdictions.get(jur) : undefined;
    return purpose.category === "marketing" && j?.marketingRequiresConsent ? `marketing purpose \`${purpose.id}\` has no consent requirement in \`${String(jur)}\`, yet the decision is ${sent}` : null;
  }
  if (!covers(c.channels, d.channel as Channel)) return null;
  if (c.jurisdictions !== "all" && !(typeof jur === "string" && c.jurisdictions.includes(jur))) return null;
  const field = c.field.replace(/\{channel\}/g, d.channel).replace(/\{purpose\}/g, purpose.id);
  const given = req.context[field];
  if (given === undefined || given === null) return `no \`${field}\` in the request, yet the decision is ${sent}`;
  const at = typeof given === "string" ? parseTime(given) : undefined;
  const send = d.send_at === null ? undefined : parseTime(d.send_at);
  if (at === undefined || send === undefined) return `consent \`${field}\` = \`${String(given)}\` or the send time is not a time, yet the decision is ${sent}`;
  if (at > send) return `consent \`${field}\` is given at ${String(given)}, after the send time, yet the decision is ${sent}`;
  if (c.maxAgeMs !== undefined && send - at > c.maxAgeMs) return `consent \`${field}\` = ${String(given)} is older than ${c.maxAgeMs} ms at the send time, yet the decision is ${sent}`;
  if (c.withdrawnField !== undefined) {
    const wf = c.withdrawnField.replace(/\{channel\}/g, d.channel).replace(/\{purpose\}/g, purpose.id);
    const wv = req.context[wf];
    const wt = typeof wv === "string" ? parseTime(wv) : undefined;
    if (wt !== undefined && wt <= send && wt >= at) return `consent \`${field}\` is withdrawn at ${String(wv)}, by the send time, yet the decision is ${sent}`;
  }
  if (c.channelsField !== undefined) {
    const cf = c.channelsField.replace(/\{purpose\}/g, purpose.id);
    const set = req.context[cf];
    if (!Array.isArray(set) || !set.includes(d.channel)) return `consent \`${cf}\` does not list \`${d.channel}\`, yet the decision is ${sent}`;
  }
  return null;
}

type B = ReturnType<Z3["Bool"]["val"]>;

/**
 * One incremental solver per event, shared by every question asked of it (guarantees, cadence,
 * reachability): the encoding's facts are asserted once, as they are built, and each goal is
 * pushed and popped. z3 keeps what it learnt about the decision between goals, so the first
 * query pays for the encoding and the next ones mostly do not.
 */
/** One world's encoding of an event and its bundle's data, for concretiseWith. */
export interface Concretised {
  w: World;
  enc: EventEncoding;
  data: BundleData;
}

export class EventQueries {
  private readonly s: InstanceType<Z3["Solver"]>;
  /** How much of each growing list of facts the incremental solver holds. */
  private readonly held: number[];
  private asked = 0;
  /** The goal a fresh solver last found satisfiable, and that solver (for its concretisation). */
  private fresh: { goal: B; s: InstanceType<Z3["Solver"]> } | undefined;
  /** Why the last query was unknown. */
  why = "";
  /**
   * `fixed`: what holds from the start (the encoding's validity); `growing`: lists of facts that
   * building terms appends to (send times, zone lookups, list applications), synced before
   * each query. `label` names the event in the debug trace.
   */
  constructor(private readonly z: Z3, private readonly label: string, private readonly fixed: B[], private readonly growing: B[][], private readonly timeoutMs: number) {
    this.s = new z.Solver();
    this.s.add(...fixed);
    this.held = growing.map(() => 0);
  }
  /** The solver of one event's encoding in one world. */
  static of(w: World, encoded: { enc: EventEncoding; facts: B[] }, timeoutMs: number): EventQueries {
    return new EventQueries(w.z, encoded.enc.event, [encoded.enc.valid], [encoded.facts, w.shared], timeoutMs);
  }
  private sync(): void {
    for (const [k, xs] of this.growing.entries()) {
      if (xs.length > this.held[k]!) this.s.add(...xs.slice(this.held[k]));
      this.held[k] = xs.length;
    }
  }
  /** A solver of its own holding the encoding and the goal (z3 preprocesses it as a whole). */
  private standalone(goal: B): InstanceType<Z3["Solver"]> {
    const s = new this.z.Solver();
    s.set("timeout", this.timeoutMs);
    s.add(...this.fixed, ...this.growing.flat(), goal);
    return s;
  }
  private dropFresh(): void {
    this.fresh?.s.release();
    this.fresh = undefined;
  }
  /**
   * Incrementally first. After the first query, with a short budget: z3's incremental mode
   * skips the preprocessing a standalone query gets, and a few goals (satisfiable ones, mostly)
   * are much harder for it; those go to a standalone solver with the whole time-out.
   */
  async check(goal: B, label: string): Promise<"sat" | "unsat" | "unknown"> {
    this.dropFresh();
    this.sync();
    const budget = this.asked++ === 0 ? this.timeoutMs : Math.min(this.timeoutMs, INCREMENTAL_BUDGET_MS);
    this.s.set("timeout", budget);
    this.s.push();
    const q0 = performance.now();
    let r: "sat" | "unsat" | "unknown";
    try {
      this.s.add(goal);
      r = await this.s.check();
      this.why = r === "unknown" ? this.s.reasonUnknown() || "time-out" : "";
    } finally {
      this.s.pop();
    }
    if (r === "unknown" && budget < this.timeoutMs) {
      const s = this.standalone(goal);
      r = await s.check();
      this.why = r === "unknown" ? s.reasonUnknown() || "time-out" : "";
      if (r === "sat") this.fresh = { goal, s };
      else s.release();
    }
    if (process.env["WAYPOST_PROVE_DEBUG"]) {
      const st = (this.fresh?.s ?? this.s).statistics();
      const rl = st.keys().includes("rlimit count") ? st.get("rlimit count") : -1;
      console.error(`${this.label} ${label}: ${r}${this.fresh ? " (standalone)" : ""} ${(performance.now() - q0).toFixed(0)} ms rlimit ${rl}`);
    }
    return r;
  }
  /**
   * A request that makes `goal` (the last satisfiable one) hold over `data`'s lists
   * (concretiseWith), in a scope of the solver that found it; `w` and `enc` say whose request
   * variables to read (either world of a diff: the request is shared).
   */
  async concretise(goal: B, w: World, enc: EventEncoding, data: BundleData, others: readonly Concretised[] = []): Promise<TestRequest | string> {
    const s = this.fresh?.goal === goal ? this.fresh.s : this.s;
    if (s === this.s) {
      this.sync();
      this.s.set("timeout", this.timeoutMs);
    }
    const level = s.numScopes();
    s.push();
    try {
      if (s === this.s) s.add(goal);
      return await concretiseWith(s, this.z, w, enc, data, others);
    } finally {
      s.pop(s.numScopes() - level);
      this.dropFresh();
    }
  }
  /** z3's memory is one Wasm heap: free the solvers now, not at GC. */
  release(): void {
    this.dropFresh();
    this.s.release();
  }
}

/** Proves every built-in guarantee on built artifacts (the tests call it on planted bugs). */
export async function prove(input: ProveInput, opts: ProveOptions = {}): Promise<ProveReport> {
  const t0 = performance.now();
  const z = await context();
  const { program, ir, data } = input;
  const engine = await loadBundle(input.bundle, { skipVerify: true }); // built just now, in this process
  const invariants = builtinInvariants({ program, ir, lists: data.lists });
  const all = [...specs(program, ir), ...(input.invariants ?? []).map((inv) => authorSpec(program, ir, inv)).filter((x): x is Spec => x !== null)].filter((x) => !opts.only || opts.only.includes(x.id));
  // One symbolic request per event, shared by every guarantee (each query is pushed and popped).
  const w = new World(z, ir, data.lists, program.jurisdictions.keys(), all.flatMap((x) => x.exprs ?? []));
  const cad = opts.cadence === true ? new CadenceQuestions(input, engine, w) : undefined;
  const state = all.map((spec) => ({
    spec,
    res: { id: spec.id, invariant: spec.invariant, description: spec.description, status: "proved", abstractions: [], ms: 0, queries: 0, ...(spec.span ? { span: spec.span } : {}) } as GuaranteeResult,
    unknowns: [] as string[],
    incomplete: new Set<string>(),
    abstractions: new Set<string>(),
    inv: invariants.find((x) => x.id === spec.invariant),
  }));
  try {
    for (const event of Object.keys(ir.plan.events).sort()) {
      let encoded: ReturnType<typeof encodeEvent> | undefined;
      let queries: EventQueries | undefined;
      try {
      for (const st of state) {
        const { spec, res } = st;
        if (res.status === "refuted" || (spec.events && !spec.events.includes(event))) continue;
        const g0 = performance.now();
        // One encoding and one solver per event, shared by the guarantees (z3's heap is fixed:
        // terms are not rebuilt per query).
        w.abstractions = new Abstractions();
        const { enc } = encoded ??= encodeEvent(w, event);
        const q = queries ??= EventQueries.of(w, encoded, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        const before = new Set(w.incomplete);
        const violation = spec.violation(enc, w);
        for (const r of w.incomplete) if (!before.has(r) || spec.id === state[0]!.spec.id) st.incomplete.add(r);
        const zones = spec.split ? enc.zoneCases() : [z.Bool.val(true)];
        const parts = Array.isArray(violation) ? violation : [violation];
        const cases = parts.flatMap((v) => zones.map((c) => z.And(v, c)));
        for (const a of w.abstractions.reasons) st.abstractions.add(a);
        let r: "sat" | "unsat" | "unknown" = "unsat";
        let hit = cases[0] ?? z.Bool.val(false);
        let why = "";
        for (const [k, c] of cases.entries()) {
          res.queries++;
          const rc = await q.check(c, `${spec.id} ${k + 1}/${cases.length}`);
          if (rc === "sat" || (rc === "unknown" && r === "unsat")) {
            r = rc;
            hit = c;
            why = q.why;
          }
          if (rc === "sat") break;
        }
        try {
          if (r === "unsat") continue;
          if (r === "unknown") {
            st.unknowns.push(`event \`${event}\`: the solver gave up (${why}); raise --timeout`);
            continue;
          }
          // sat: make it concrete over the bundle's own lists, then replay on both evaluators.
          const check = spec.check ?? ((req: TestRequest, d: Decision) => st.inv!.check(req, d));
          const cx = await q.concretise(hit, w, encoded.enc, data);
          if (typeof cx === "string") {
            st.unknowns.push(`event \`${event}\`: ${cx}`);
            continue;
          }
          const replay = replayed(cx, engine.decide(cx) as unknown as Decision, ir, data, check);
          if (typeof replay === "string") {
            if (process.env["WAYPOST_PROVE_DEBUG"]) console.error(JSON.stringify({ spec: spec.id, event, request: cx, decision: engine.decide(cx) }, null, 1));
            st.unknowns.push(`event \`${event}\`: encoding disagreement: ${replay}${w.abstractions.reasons.size > 0 ? ` (abstracted: ${[...w.abstractions.reasons].join("; ")})` : ""}`);
            continue;
          }
          res.status = "refuted";
          const failsTest = (st.inv ?? { check }).check(cx, replay.decision) !== null;
          res.counterexample = { request: cx, decision: replay.decision, violation: replay.violation, yaml: caseYaml(spec, cx, replay, failsTest), failsTest };
          const origin = program.nodes.find((n) => n.id === replay.decision.node)?.origin;
          if (!res.span && origin) res.span = spanAt(origin.doc, origin.path, "key");
        } finally {
          res.ms += performance.now() - g0;
        }
      }
      // Cadence on the same encoding and solver (proveRepository), after the guarantees.
      if (cad) {
        encoded ??= encodeEvent(w, event);
        queries ??= EventQueries.of(w, encoded, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        await cad.event(event, encoded, queries);
      }
      } finally {
        queries?.release();
      }
    }
  } finally {
    await engine.close();
  }
  // Every guarantee shares the encoding, so its abstractions and the incompleteness of the
  // request encoding (fields without a dictionary entry) concern each of them.
  const global = new Set([...w.incomplete].filter((r) => r.startsWith("context field")));
  const results: GuaranteeResult[] = [];
  for (const st of state) {
    const { res } = st;
    if (res.status !== "refuted") {
      const incomplete = [...new Set([...global, ...st.incomplete])];
      if (st.unknowns.length > 0) {
        res.status = "unknown";
        res.reason = st.unknowns.join("\n");
      } else if (incomplete.length > 0) {
        res.status = "unknown";
        res.reason = `not every request is covered: ${incomplete.join("; ")}`;
      }
    }
    res.abstractions = [...st.abstractions].sort();
    results.push(res);
  }
  return { results, ...(cad ? { cadence: cad.result() } : {}), diagnostics: [], files: new Map(), ms: performance.now() - t0 };
}

export interface Reach {
  node: string;
  channel: string;
  status: "reachable" | "unreachable" | "unknown";
  /** A request the Wasm bundle decides with this node and channel (reachable only). */
  request?: TestRequest;
  reason?: string;
}

/**
 * For every node and channel: can any request make the decision deliver on it? A witness is
 * replayed on the Wasm bundle before it counts. Also what keeps the proofs honest: a guarantee
 * proved over an encoding in which nothing could be sent would prove nothing.
 */
export async function reachability(input: ProveInput, opts: ProveOptions = {}): Promise<Reach[]> {
  const z = await context();
  const { ir, data } = input;
  const engine = await loadBundle(input.bundle, { skipVerify: true });
  const w = new World(z, ir, data.lists);
  const events = encodeEvents(w, opts);
  try {
    return await reachWith(w, events, engine, data);
  } finally {
    for (const { q } of events.values()) q.release();
    await engine.close();
  }
}

type EncodedEvents = Map<string, { enc: EventEncoding; facts: B[]; q: EventQueries }>;

/** Every event's encoding, in name order, each with its solver. */
function encodeEvents(w: World, opts: ProveOptions): EncodedEvents {
  return new Map(Object.keys(w.ir.plan.events).sort().map((e) => {
    const encoded = encodeEvent(w, e);
    return [e, { ...encoded, q: EventQueries.of(w, encoded, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) }];
  }));
}

async function reachWith(w: World, events: EncodedEvents, engine: Engine, data: BundleData): Promise<Reach[]> {
  const out: Reach[] = [];
  for (const [event, { enc, q }] of events) {
    for (const i of w.ir.plan.events[event] ?? []) {
      const n = w.ir.plan.nodes[i];
      if (!n) continue;
      for (const ch of n.channels) {
        const goal = enc.delivers(i, ch);
        const r = await q.check(goal, `reach ${n.id}/${ch}`);
        if (r !== "sat") {
          out.push(r === "unsat" && w.incomplete.size === 0 ? { node: n.id, channel: ch, status: "unreachable" } : { node: n.id, channel: ch, status: "unknown", reason: r === "unsat" ? [...w.incomplete].join("; ") : q.why });
          continue;
        }
        const req = await q.concretise(goal, w, enc, data);
        if (typeof req === "string") {
          out.push({ node: n.id, channel: ch, status: "unknown", reason: req });
          continue;
        }
        const d = engine.decide(req) as unknown as Decision;
        const ok = SENDING.has(d.outcome) && d.node === n.id && d.channel === ch;
        out.push(ok ? { node: n.id, channel: ch, status: "reachable", request: req } : { node: n.id, channel: ch, status: "unknown", reason: `encoding disagreement: the bundle decides ${d.outcome} via ${d.channel ?? "-"} by ${d.node ?? "-"}`, request: req });
      }
    }
  }
  return out;
}

/** Replays a request on the Wasm bundle and the interpreter; both must violate the invariant. */
function replayed(req: TestRequest, wasm: Decision, ir: IR, data: BundleData, check: (req: TestRequest, d: Decision) => string | null): { decision: Decision; violation: string } | string {
  const ref = interpret(ir, data, req) as unknown as Decision;
  const vw = check(req, wasm);
  const vi = check(req, ref);
  if (vw === null) return `the Wasm bundle decides ${wasm.outcome}${wasm.channel ? ` via ${wasm.channel}` : ""}, which keeps the promise`;
  if (vi === null) return `the interpreter decides ${ref.outcome}, which keeps the promise (the bundle does not: ${vw})`;
  return { decision: wasm, violation: vw };
}

/**
 * The counterexample as a test file. When `waypost test`'s built-in invariant also catches the
 * decision, the case expects it to hold (so the test fails until the bug is fixed); otherwise
 * (a promise at send time the per-decision invariant does not check) it pins the violating
 * decision, with the violation as a comment.
 */
function caseYaml(spec: Spec, req: TestRequest, replay: { decision: Decision; violation: string }, invariantCatches: boolean): string {
  const d = replay.decision;
  const expect: Record<string, JsonValue> = invariantCatches
    ? { invariants: [spec.invariant] }
    : { outcome: d.outcome, node: d.node, channel: d.channel, send_at: d.send_at };
  const doc = {
    apiVersion: "waypost/v1",
    kind: "PolicyTests",
    description: `Counterexample found by waypost prove (${spec.id})`,
    cases: [{ name: `prove: ${spec.id} counterexample`, request: req as unknown as JsonValue, expect }],
  };
  const note = invariantCatches ? "" : `# This case pins the violating decision: fix the policy, then change the expectation.\n`;
  return `# ${replay.violation}\n${note}${stringify(doc, { lineWidth: 0 })}`;
}

// ---------------------------------------------------------------------------------------------
// Concretisation: from a model to a request

type Model = ReturnType<InstanceType<Z3["Solver"]>["model"]>;


/** A real or integer value of the model, as a JS number (times in ms are exact as doubles). */
function num(ctx: Z3, m: Model, e: Parameters<Model["eval"]>[0]): number {
  const v = m.eval(e, true);
  if (ctx.isRealVal(v)) {
    const { numerator, denominator } = v.value();
    return Number(numerator) / Number(denominator);
  }
  if (ctx.isIntVal(v)) return Number(v.value());
  return Number.NaN;
}

/**
 * Asks again with the bundle's own list content (a witness entry per list application), no
 * history, and known strings where possible; turns the model into a request. A string when
 * the violation needs something the concretiser does not build.
 */
/**
 * Called in a scope of the event's solver that holds the goal; leaves pushed scopes to the
 * caller. The request is read from `w`'s encoding `enc`; `others` are the other worlds the
 * goal also encodes (`waypost diff --prove`: the other version, over the same request), whose
 * list applications, history and buckets are pinned to their own bundle's data too, so the
 * request decides on both bundles as it did in the model.
 */
export async function concretiseWith(s: InstanceType<Z3["Solver"]>, z: Z3, w: World, enc: EventEncoding, data: BundleData, others: readonly Concretised[] = []): Promise<TestRequest | string> {
  const sides: Concretised[] = [{ w, enc, data }, ...others];
  // The known strings' buckets (left out of the queries: World.bucketOf).
  for (const side of sides) s.add(...side.w.bucketFacts);
  // Only these encodings' list and bucket applications (a world outlives many encodings).
  for (const { w, enc, data } of sides) for (const { list, item } of w.listApps.slice(enc.listFrom)) {
    const entries = listWitnesses(data.lists[list]);
    // The list holds exactly its witness entries, each with its own expiry.
    const alts = [];
    const expiry = w.listExpiry(list).call(item) as ReturnType<Z3["Real"]["const"]>;
    for (const [key, until] of entries) {
      const id = w.id(key);
      if (id === undefined) continue;
      const t = until === null ? NO_EXPIRY : parseTime(until);
      if (t === undefined) continue;
      alts.push(item.eq(id));
      s.add(z.Implies(item.eq(id), expiry.eq(t)));
    }
    s.add(w.listPred(list).call(item).eq(z.Or(z.Bool.val(false), ...alts)));
  }
  // History: entries at now - 1 ms (inside every window), grouped by the filter values they
  // carry; each count is the number of entries whose values match its filters.
  const keys = sides.flatMap(({ w }) => [...w.history.entries()]).map(([k, v]) => ({ f: JSON.parse(k) as [number, string | null, string | null, string | null], v }));
  const groups = new Map<string, { channel: string | null; purpose: string | null; node: string | null; x: ReturnType<Z3["Real"]["const"]> }>();
  for (const { f } of keys) {
    const g = JSON.stringify(f.slice(1));
    if (!groups.has(g)) {
      const x = z.Real.const(`${enc.event}/history-group:${g}`);
      s.add(z.IsInt(x), x.ge(0), x.le(MAX_HISTORY));
      groups.set(g, { channel: f[1], purpose: f[2], node: f[3], x });
    }
  }
  for (const { f, v } of keys) {
    const parts = [...groups.values()].filter((g) => (f[1] === null || g.channel === f[1]) && (f[2] === null || g.purpose === f[2]) && (f[3] === null || g.node === f[3])).map((g) => g.x);
    s.add(v.eq(parts.length === 0 ? z.Real.val(0) : z.Sum(parts[0]!, ...parts.slice(1))));
  }
  // Readable first: a `now` near the test generator's reference time, times within ten years
  // of it; any request when that is impossible.
  s.push();
  const ref = DEFAULT_REF_NOW;
  const YEAR = 365 * 86_400_000;
  s.add(enc.now.ge(ref - YEAR), enc.now.le(ref + YEAR));
  for (const fv of enc.fields.values()) {
    if (fv.spec.type === "timestamp" || fv.spec.type === "date") s.add(z.Implies(fv.present, z.And(fv.value.ge(ref - 10 * YEAR), fv.value.le(ref + 10 * YEAR))));
  }
  // Without a named zone first (the simpler case to read), then with one.
  const tz = w.ir.plan.keys.time_zone === undefined ? undefined : enc.fields.get(w.ir.plan.keys.time_zone);
  let r: "sat" | "unsat" | "unknown" = "unknown";
  if (tz !== undefined) {
    s.push();
    s.add(z.Not(tz.present));
    r = await s.check();
    if (r !== "sat") s.pop();
  }
  if (r !== "sat") r = await s.check();
  if (r !== "sat") {
    s.pop();
    r = await s.check();
  }
  if (r !== "sat") {
    return r === "unsat"
      ? "a violation exists for some list content or history, but none over this bundle's list entries and a history the concretiser builds (not replayed, so not reported)"
      : `the solver gave up making the violation concrete (${s.reasonUnknown() || "time-out"})`;
  }
  const m = s.model();
  const plan = w.ir.plan;
  const used = new Map<number, string>();
  const fresh = (id: number, format: string | undefined): string => {
    const hit = used.get(id);
    if (hit !== undefined) return hit;
    let str: string;
    if (id < w.strings.length) str = w.strings[id]!;
    else if (format === "sha256") str = createHash("sha256").update(`waypost-prove-${id}`).digest("hex");
    else if (format === "email") str = `prove${id}@example.com`;
    else if (format === "iso-639-1") str = String.fromCharCode(97 + (id % 26), 97 + (Math.floor(id / 26) % 26));
    else str = `prove-${id}`;
    used.set(id, str);
    return str;
  };
  // Fresh customer ids must land in the buckets the model chose.
  const bucketApps = sides.flatMap(({ w, enc }) => w.bucketApps.slice(enc.bucketFrom).map((a) => ({ ...a, fn: w.buckets.get(a.salt)! })));
  for (const app of bucketApps) {
    const id = num(z, m, app.item);
    if (id < w.strings.length || used.has(id)) continue;
    const want = app.thresholds.map((t) => num(z, m, app.fn.call(app.item)) < t);
    const apps = bucketApps.filter((a) => num(z, m, a.item) === id);
    let found: string | undefined;
    for (let j = 0; j < 200_000 && found === undefined; j++) {
      const key = `prove-${id}-${j}`;
      if (w.id(key) !== undefined) continue;
      if (apps.every((a) => a.thresholds.every((t, k) => (bucket(a.salt, key) < t) === (a === app ? want[k] : num(z, m, a.fn.call(a.item)) < t)))) found = key;
    }
    if (found === undefined) return "no customer id found that lands in the buckets the model chose";
    used.set(id, found);
  }
  const context: Record<string, JsonValue> = {};
  for (const [name, fv] of enc.fields) {
    if (String(m.eval(fv.present, true)) !== "true") continue;
    if (String(m.eval(fv.isNull, true)) === "true") {
      context[name] = null;
      continue;
    }
    const v = num(z, m, fv.value);
    switch (fv.spec.type) {
      case "boolean":
        context[name] = v === 1;
        break;
      case "number":
      case "integer":
        context[name] = v;
        break;
      case "timestamp": {
        const t = formatTime(v);
        if (t === undefined) return `field \`${name}\` got an instant that cannot be written`;
        context[name] = t;
        break;
      }
      case "date": {
        const t = formatTime(v);
        if (t === undefined) return `field \`${name}\` got a day that cannot be written`;
        context[name] = t.slice(0, 10);
        break;
      }
      case "string":
        context[name] = fresh(v, fv.spec.format);
        break;
      default: {
        // Array fields: the known strings (or numbers 0..) the model puts in.
        const items: JsonValue[] = [];
        if (fv.spec.type === "string[]") {
          for (let i = 0; i < w.strings.length; i++) if (String(m.eval(fv.member!.call(z.Real.val(i)) as ReturnType<Z3["Bool"]["val"]>, true)) === "true") items.push(w.strings[i]!);
        }
        context[name] = items;
      }
    }
  }
  const sys = enc.systems[num(z, m, enc.system)];
  const nowT = formatTime(num(z, m, enc.now));
  if (sys === undefined || nowT === undefined) return "the model's system or time cannot be written";
  const req: TestRequest = { system: sys, event: enc.event, now: nowT, context };
  const history: JsonValue[] = [];
  const at = formatTime(num(z, m, enc.now) - 1);
  for (const g of groups.values()) {
    const n = num(z, m, g.x);
    for (let k = 0; k < n && at !== undefined; k++) {
      const e: Record<string, JsonValue> = { at };
      if (g.channel !== null) e["channel"] = g.channel;
      if (g.purpose !== null) e["purpose"] = g.purpose;
      if (g.node !== null) e["node"] = g.node;
      history.push(e);
    }
  }
  if (history.length > 0) req.history = history;
  const nf = num(z, m, enc.nodeFilter);
  if (nf >= 0 && plan.nodes[nf] !== undefined) req.node = plan.nodes[nf]!.id;
  return req;
}

/**
 * Cadence feasibility: for each frequency cap, can a journey in its scope still deliver when the
 * customer's history already holds `max` messages in the window? If no journey can (proved per
 * node and channel), one customer gets at most `max` such messages in any window from all
 * journeys together; if one can, the witness is replayed and reported (WP4104). Also every node
 * and channel no request can make deliver (WP4103).
 */
export async function cadence(input: ProveInput, opts: ProveOptions = {}): Promise<Cadence> {
  const z = await context();
  const engine = await loadBundle(input.bundle, { skipVerify: true });
  try {
    const w = new World(z, input.ir, input.data.lists);
    const c = new CadenceQuestions(input, engine, w);
    for (const event of Object.keys(input.ir.plan.events).sort()) {
      const encoded = encodeEvent(w, event);
      const q = EventQueries.of(w, encoded, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      try {
        await c.event(event, encoded, q);
      } finally {
        q.release();
      }
    }
    return c.result();
  } finally {
    await engine.close();
  }
}

/**
 * The cadence questions, asked one event at a time on that event's solver: `prove` asks them
 * after the guarantees on the same solver (the event is encoded once, and what z3 learnt about
 * it is reused), `cadence` on its own.
 */
class CadenceQuestions {
  private readonly windows: CadenceWindow[];
  private readonly leakFindings: Diagnostic[][];
  private readonly dead: Reach[] = [];
  constructor(private readonly input: ProveInput, private readonly engine: Engine, private readonly w: World) {
    this.windows = input.program.contact.caps.map((cap) => {
      const scope = [cap.channel && `channel \`${cap.channel}\``, cap.purpose && `purpose \`${cap.purpose}\``, cap.node && `node \`${cap.node}\``].filter(Boolean).join(", ") || "every message";
      return { cap: cap.id, scope, window: cap.per, max: cap.max, most: cap.max, nodes: [], leaks: [], unknown: [] };
    });
    this.leakFindings = this.windows.map(() => []);
  }
  private nodeSpan(id: string): Span | undefined {
    const o = this.input.program.nodes.find((n) => n.id === id)?.origin;
    return o ? spanAt(o.doc, o.path, "key") : undefined;
  }
  async event(event: string, { enc, facts }: { enc: EventEncoding; facts: B[] }, q: EventQueries): Promise<void> {
    const { z, ir: { plan } } = this.w;
    const { data } = this.input;
    for (const [k, cap] of this.input.program.contact.caps.entries()) {
      const win = this.windows[k]!;
      const count: Extract<Expr, { op: "history_count" }> = { op: "history_count", window_ms: cap.perMs, ...(cap.channel ? { channel: cap.channel } : {}), ...(cap.purpose ? { purpose: cap.purpose } : {}), ...(cap.node ? { node: cap.node } : {}) };
      for (const i of plan.events[event] ?? []) {
        const n = plan.nodes[i]!;
        if ((cap.purpose && n.purpose !== cap.purpose) || (cap.node && n.id !== cap.node)) continue;
        for (const ch of n.channels) {
          if (cap.channel && ch !== cap.channel) continue;
          win.nodes.push(`${n.id}/${ch}`);
          const goal = z.And(enc.delivers(i, ch), this.w.historyCount(count, facts).ge(cap.max));
          const r = await q.check(goal, `cap ${cap.id} ${n.id}/${ch}`);
          if (r === "unsat") continue;
          if (r === "unknown") {
            win.unknown.push(`${n.id}/${ch}: the solver gave up`);
            continue;
          }
          const req = await q.concretise(goal, this.w, enc, data);
          const d = typeof req === "string" ? undefined : (this.engine.decide(req) as unknown as Decision);
          if (typeof req === "string" || !d || !SENDING.has(d.outcome) || d.node !== n.id || d.channel !== ch) {
            win.unknown.push(`${n.id}/${ch}: ${typeof req === "string" ? req : "the witness does not replay"}`);
            continue;
          }
          win.leaks.push({ node: n.id, channel: ch, request: req });
          this.leakFindings[k]!.push(diag("WP4104", "warning", `\`${n.id}\` can send via \`${ch}\` when the customer already had ${cap.max} message(s) in cap \`${cap.id}\`'s ${win.window} window (${win.scope})`, this.nodeSpan(n.id), `witness request: ${JSON.stringify(req)}`));
        }
      }
    }
    // Dead senders, on the same solver.
    this.dead.push(...(await reachWith(this.w, new Map([[event, { enc, facts, q }]]), this.engine, data)).filter((r) => r.status === "unreachable"));
  }
  result(): Cadence {
    for (const win of this.windows) if (win.leaks.length > 0 || win.unknown.length > 0) win.most = null;
    const findings = this.leakFindings.flat();
    for (const d of this.dead) findings.push(diag("WP4103", "warning", `\`${d.node}\` can never deliver via \`${d.channel}\`: no request makes it (dead trigger, contradictory eligibility, or gates that always block)`, this.nodeSpan(d.node)));
    return { windows: this.windows, dead: this.dead, findings };
  }
}
