/**
 * Invariants: properties every decision must have. The built-in ones restate the policy model's
 * promises from the checked Program (not from the plan the engine runs), so a decision that
 * breaks a declared suppression, consent, quiet-hours, holdout or review rule is caught even
 * when the planner, the Wasm backend or an arbitration subtlety let it through. Author
 * invariants are `when` → `then` conditions in the condition language over the request and the
 * decision (`decision.*`, `request.*` and the context fields).
 */
import { OUTCOMES, type Decision, type Outcome } from "../../runtime/contract.js";
import { conditionEnv } from "../../compiler/check.js";
import { checkCondition, lowerCondition, parseCondition, type ConditionEnv, type FieldInfo, type LocalDiagnostic } from "../../compiler/condition/index.js";
import { bucket, evalExpr, type Env } from "../../compiler/ir/interpret.js";
import type { BundleData, Expr, IR } from "../../compiler/ir/ir.js";
import { compactHas, isCompactList } from "../../compiler/ir/compact-list.js";
import { floorMod, MS_PER_MINUTE, parseTime, toLocal, toTime } from "../../compiler/ir/time.js";
import { CHANNELS, covers, type Program } from "../../compiler/program.js";
import type { InvariantSpec, JsonValue, TestRequest, Where } from "./suite.js";

/** Outcomes that lead to a message (review: a person approves it, then it is sent). */
export const SENDING: ReadonlySet<string> = new Set<Outcome>(["send", "defer", "review"]);
export const sends = (d: Decision): boolean => SENDING.has(d.outcome);

export interface Invariant {
  id: string;
  builtin: boolean;
  description: string;
  where?: Where;
  /** Generate requests for these nodes only (all nodes when absent). */
  nodes?: string[];
  /** Conditions the generator should aim at (an author invariant's `when` and `then`). */
  focus?: Expr[];
  /** An author invariant's compiled conditions (what `waypost prove` encodes). */
  conditions?: { when: Expr | null; then: Expr };
  /** null when it holds; otherwise why not, in one line. */
  check(request: TestRequest, decision: Decision): string | null;
  /** Whether the invariant says anything about this decision (to report vacuous invariants). */
  applies(request: TestRequest, decision: Decision): boolean;
}

export interface InvariantWorld {
  program: Program;
  ir: IR;
  lists: BundleData["lists"];
}

const q = (s: string): string => `\`${s}\``;

function onList(lists: BundleData["lists"], list: string, key: unknown, now: number): boolean {
  if (typeof key !== "string") return false;
  const l = lists[list];
  if (isCompactList(l)) return compactHas(l, key, now);
  if (!l || !Object.prototype.hasOwnProperty.call(l, key)) return false;
  const until = l[key];
  if (until === null || until === undefined) return true;
  const t = parseTime(until);
  return t !== undefined && t > now;
}

/** The compiled table of the request's IANA zone, when the plan embeds it (docs/ir.md "Time zones"). */
function zoneTable(plan: IR["plan"], context: Record<string, unknown>): number[] | undefined {
  const name = plan.keys.time_zone !== undefined ? context[plan.keys.time_zone] : undefined;
  if (typeof name !== "string" || !plan.zones || !Object.prototype.hasOwnProperty.call(plan.zones, name)) return undefined;
  const z = plan.zones[name];
  return Array.isArray(z) && z.length % 2 === 1 && z.every((x) => typeof x === "number") ? z : undefined;
}

function envOf(w: InvariantWorld, req: TestRequest, context: Record<string, unknown>): Env {
  const off = req.context[w.ir.plan.keys.utc_offset];
  return {
    context,
    now: parseTime(req.now) ?? 0,
    lists: w.lists,
    history: req.history,
    utcOffsetMin: typeof off === "number" && Number.isFinite(off) ? off : 0,
    zone: zoneTable(w.ir.plan, req.context),
  };
}

/** The five promises of the policy model, checked on every generated request. */
export function builtinInvariants(w: InvariantWorld): Invariant[] {
  const p = w.program;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const envC: ConditionEnv = conditionEnv(p);
  const ruleExprs = new Map(p.rules.map((r) => [r.id, r.when.ast ? lowerCondition(r.when.ast, envC) : null]));
  const keys = w.ir.plan.keys;
  const sent = (d: Decision): string => `${d.outcome} via ${q(d.channel ?? "?")} by ${q(d.node ?? "?")}`;
  const groupsOf = (purpose: string | undefined): { name: string; salt: string; bp: number }[] =>
    p.holdouts.filter((h) => purpose !== undefined && h.purposes.includes(purpose)).map((h) => ({ name: `universal holdout ${q(h.id)}`, salt: h.salt, bp: h.shareBp }));

  return [
    {
      id: "suppression-respected",
      builtin: true,
      description: "a customer on a suppression list (or caught by a suppression rule) is never sent anything in its scope",
      applies: (_r, d) => sends(d) && d.node !== null && d.channel !== null,
      check(req, d) {
        if (!sends(d) || d.node === null || d.channel === null) return null;
        const n = nodes.get(d.node);
        if (!n) return null;
        const now = parseTime(req.now) ?? 0;
        for (const l of p.lists.values()) {
          if (!covers(l.scope.purposes, n.purpose) || !covers(l.scope.channels, d.channel as (typeof CHANNELS)[number])) continue;
          const key = req.context[l.match];
          if (onList(w.lists, l.id, key, now)) return `${q(String(key))} is on suppression list ${q(l.id)}, yet the decision is ${sent(d)}`;
          // A missing key suppresses unless the list says `missing: allow` (docs/ir.md "Suppression lists and rules").
          if (l.missing !== "allow" && (key === undefined || key === null || key === "")) return `the request has no ${q(l.match)} for suppression list ${q(l.id)}, which treats a missing key as suppressed, yet the decision is ${sent(d)}`;
        }
        for (const r of p.rules) {
          if (!covers(r.scope.purposes, n.purpose) || !covers(r.scope.channels, d.channel as (typeof CHANNELS)[number])) continue;
          const e = ruleExprs.get(r.id);
          if (e && evalExpr(e, envOf(w, req, req.context)) === true) return `suppression rule ${q(r.id)} holds, yet the decision is ${sent(d)}`;
          const lacking = r.missing === "suppress" ? (r.when.reads ?? []).find((x) => req.context[x.name] === undefined || req.context[x.name] === null) : undefined;
          if (lacking) return `the request has no ${q(lacking.name)} for suppression rule ${q(r.id)}, which treats a missing field as suppressed, yet the decision is ${sent(d)}`;
        }
        return null;
      },
    },
    {
      id: "consent-respected",
      builtin: true,
      description: "no marketing (or other consent-based purpose) is sent on a channel without consent for it that is fresh, not withdrawn and covers the channel when the message leaves",
      applies: (_r, d) => sends(d) && d.node !== null && d.channel !== null,
      check(req, d) {
        if (!sends(d) || d.node === null || d.channel === null) return null;
        const n = nodes.get(d.node);
        const purpose = n ? p.purposes.get(n.purpose) : undefined;
        if (!n || !purpose) return null;
        const jur = req.context[keys.jurisdiction];
        const c = purpose.consent;
        if (!c) {
          const j = typeof jur === "string" ? p.jurisdictions.get(jur) : undefined;
          if (purpose.category === "marketing" && j?.marketingRequiresConsent) return `marketing purpose ${q(purpose.id)} has no consent requirement in ${q(String(jur))}, yet the decision is ${sent(d)}`;
          return null;
        }
        if (!covers(c.channels, d.channel as (typeof CHANNELS)[number])) return null;
        if (c.jurisdictions !== "all" && !(typeof jur === "string" && c.jurisdictions.includes(jur))) return null;
        const field = c.field.replace(/\{channel\}/g, d.channel).replace(/\{purpose\}/g, purpose.id);
        const given = req.context[field];
        if (given === undefined || given === null) return `no ${q(field)} in the request, yet the decision is ${sent(d)}`;
        const at = toTime(given);
        const now = parseTime(req.now) ?? 0;
        // Lawful when the message leaves, not only when it is decided (docs/ir.md step 10).
        const leaves = Math.max(now, (d.send_at !== null ? parseTime(d.send_at) : undefined) ?? now);
        const when = leaves > now ? ` at the send time ${d.send_at}` : "";
        if (c.maxAgeMs !== undefined && (at === undefined || leaves - at > c.maxAgeMs)) return `consent ${q(field)} = ${q(String(given))} is older than allowed${when}, yet the decision is ${sent(d)}`;
        // Consent states (docs/ir.md): a withdrawal not after the send time and not before the grant.
        if (c.withdrawnField !== undefined) {
          const wf = c.withdrawnField.replace(/\{channel\}/g, d.channel).replace(/\{purpose\}/g, purpose.id);
          const w = toTime(req.context[wf]);
          if (w !== undefined && at !== undefined && w <= leaves && w >= at) return `consent ${q(field)} was withdrawn (${q(wf)} = ${q(String(req.context[wf]))})${when}, yet the decision is ${sent(d)}`;
        }
        if (c.channelsField !== undefined) {
          const cf = c.channelsField.replace(/\{purpose\}/g, purpose.id);
          const set = req.context[cf];
          if (!Array.isArray(set) || !set.includes(d.channel)) return `the consent's channel set ${q(cf)} does not include ${q(d.channel)}, yet the decision is ${sent(d)}`;
        }
        return null;
      },
    },
    {
      id: "quiet-hours-respected",
      builtin: true,
      description: "nothing is scheduled inside quiet hours in the customer's local time",
      applies: (_r, d) => sends(d) && d.channel !== null && d.send_at !== null && p.contact.quietHours.some((qh) => covers(qh.channels, d.channel as (typeof CHANNELS)[number])),
      check(req, d) {
        if (!sends(d) || d.channel === null || d.send_at === null) return null;
        const t = parseTime(d.send_at);
        if (t === undefined) return `the decision sends at ${q(d.send_at)}, which is not a time`;
        const off = req.context[keys.utc_offset];
        const table = zoneTable(w.ir.plan, req.context);
        const zone = table !== undefined ? { table } : { fixed: typeof off === "number" ? off : 0 };
        const m = floorMod(Math.floor(toLocal(zone, t) / MS_PER_MINUTE), 1440);
        for (const qh of p.contact.quietHours) {
          if (!covers(qh.channels, d.channel as (typeof CHANNELS)[number])) continue;
          const inside = qh.fromMin < qh.toMin ? qh.fromMin <= m && m < qh.toMin : m >= qh.fromMin || m < qh.toMin;
          if (inside) {
            const hhmm = `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
            return `the decision sends ${q(d.channel)} at ${hhmm} local time (${d.send_at}), inside quiet hours ${q(qh.id)}`;
          }
        }
        return null;
      },
    },
    {
      id: "holdout-no-treatment",
      builtin: true,
      description: "customers held out of a node's experiment, or of a universal holdout of its purpose, receive no treatment from it",
      applies: (_r, d) => d.node !== null && (nodes.get(d.node)?.experiment !== undefined || groupsOf(nodes.get(d.node)?.purpose).length > 0),
      check(req, d) {
        if (d.node === null) return null;
        const n = nodes.get(d.node);
        const id = req.context[keys.customer];
        // Every control group of the node (docs/ir.md step 6): the universal holdouts naming its
        // purpose, then its experiment. Held by any of them → outcome holdout or a block.
        const groups = [...groupsOf(n?.purpose), ...(n?.experiment ? [{ name: `the holdout of ${q(n.id)}`, salt: n.experiment.salt, bp: n.experiment.holdoutBp }] : [])];
        if (groups.length === 0) return d.outcome === "holdout" ? `outcome ${q("holdout")} for ${q(d.node)}, which has no experiment or universal holdout` : null;
        const heldBy = typeof id === "string" ? groups.find((g) => bucket(g.salt, id) < g.bp) : undefined;
        if (heldBy && sends(d)) return `customer ${q(String(id))} is in ${heldBy.name}, yet the decision is ${sent(d)}`;
        if (d.outcome === "holdout" && !heldBy) return `customer ${q(String(id))} is in no control group of ${q(d.node)}, yet the outcome is ${q("holdout")}`;
        if (d.outcome === "holdout" && (d.variant !== null || d.send_at !== null)) return "a held-out decision carries a variant or a send time";
        return null;
      },
    },
    {
      id: "high-risk-reviewed",
      builtin: true,
      description: "a high-risk node never sends without human review (and only high-risk nodes go to review)",
      applies: (_r, d) => d.node !== null,
      check(_req, d) {
        if (d.node === null) return null;
        const n = nodes.get(d.node);
        if (!n) return null;
        if (n.risk === "high" && (d.outcome === "send" || d.outcome === "defer")) return `high-risk node ${q(n.id)} decided ${q(d.outcome)} without review`;
        if (n.risk !== "high" && d.outcome === "review") return `${n.risk}-risk node ${q(n.id)} went to review`;
        return null;
      },
    },
  ];
}

/** Fields an author invariant may read besides the data dictionary. */
export function invariantEnv(w: Pick<InvariantWorld, "program">): ConditionEnv {
  const base = conditionEnv(w.program);
  const fields = new Map<string, FieldInfo>(base.fields);
  const ids = w.program.nodes.map((n) => n.id).sort();
  const str = (values?: string[], nullable = true): FieldInfo => (values ? { type: "string", values, nullable } : { type: "string", nullable });
  fields.set("request.system", str([...w.program.access.systems.keys()].sort(), false));
  fields.set("request.event", str([...new Set(w.program.nodes.map((n) => n.event))].sort(), false));
  fields.set("request.node", str(ids));
  fields.set("decision.outcome", str([...OUTCOMES], false));
  fields.set("decision.node", str(ids));
  fields.set("decision.channel", str([...CHANNELS]));
  fields.set("decision.template", str());
  fields.set("decision.offer", str());
  fields.set("decision.variant", str());
  fields.set("decision.purpose", str([...w.program.purposes.keys()].sort()));
  fields.set("decision.risk", str(["low", "medium", "high"]));
  fields.set("decision.send_at", { type: "timestamp", nullable: true });
  fields.set("decision.sends", { type: "boolean", nullable: false });
  fields.set("decision.reasons", { type: "string[]", nullable: false });
  fields.set("decision.policies", { type: "string[]", nullable: false });
  return { fields, lists: base.lists };
}

/** The context an author invariant is evaluated over: request context + request/decision fields. */
export function invariantContext(w: Pick<InvariantWorld, "program">, req: TestRequest, d: Decision): Record<string, unknown> {
  const n = d.node === null ? undefined : w.program.nodes.find((x) => x.id === d.node);
  const ctx: Record<string, unknown> = { ...req.context };
  const set = (k: string, v: JsonValue | undefined): void => {
    if (v !== undefined) ctx[k] = v;
  };
  set("request.system", req.system);
  set("request.event", req.event);
  set("request.node", req.node ?? null);
  set("decision.outcome", d.outcome);
  set("decision.node", d.node);
  set("decision.channel", d.channel);
  set("decision.template", d.template);
  set("decision.offer", d.offer);
  set("decision.variant", d.variant);
  set("decision.purpose", n?.purpose ?? null);
  set("decision.risk", n?.risk ?? null);
  set("decision.send_at", d.send_at);
  set("decision.sends", sends(d));
  set("decision.reasons", d.reasons.map((r) => r.code));
  set("decision.policies", d.reasons.map((r) => r.policy));
  return ctx;
}

export interface CompiledCondition {
  expr: Expr | null;
  diagnostics: LocalDiagnostic[];
  /** Fields read, for generation hints. */
  reads: string[];
}

/** parse → check → lower one invariant condition; diagnostics keep the condition's own codes. */
export function compileInvariantCondition(text: string, env: ConditionEnv): CompiledCondition {
  const parsed = parseCondition(text);
  if (!parsed.ast) return { expr: null, diagnostics: parsed.diagnostics, reads: [] };
  const checked = checkCondition(parsed.ast, env);
  const diagnostics = [...parsed.diagnostics, ...checked.diagnostics];
  const ok = !diagnostics.some((x) => x.severity === "error");
  return { expr: ok ? lowerCondition(parsed.ast, env) : null, diagnostics, reads: checked.fieldsRead.map((f) => f.name) };
}

/** An author invariant whose conditions compiled. */
export function authorInvariant(w: InvariantWorld, spec: InvariantSpec, when: Expr | null, then: Expr): Invariant {
  const inv: Invariant = {
    id: spec.id,
    builtin: false,
    description: spec.description ?? (spec.when ? `when ${spec.when.text}, then ${spec.then.text}` : spec.then.text),
    where: spec.where,
    applies(req, d) {
      return !when || evalExpr(when, envOf(w, req, invariantContext(w, req, d))) === true;
    },
    check(req, d) {
      const env = envOf(w, req, invariantContext(w, req, d));
      if (when && evalExpr(when, env) !== true) return null;
      if (evalExpr(then, env) === true) return null;
      return `${spec.when ? `\`${spec.when.text}\` holds but ` : ""}\`${spec.then.text}\` does not (decision: ${d.outcome}${d.node ? ` by \`${d.node}\`` : ""}${d.channel ? ` via \`${d.channel}\`` : ""}${d.send_at ? ` at ${d.send_at}` : ""})`;
    },
  };
  if (spec.nodes) inv.nodes = spec.nodes.ids;
  inv.focus = when ? [when, then] : [then];
  inv.conditions = { when, then };
  return inv;
}
