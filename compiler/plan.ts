/**
 * Stage 5, plan: lower the checked Program to the IR (compiler/ir/ir.ts): the decision plan
 * the engine walks, the condition expressions it indexes, and the list data. Every reason in
 * the plan carries the policy id and the `file:line:col` it came from.
 */
import { TZ_DEFAULT_HORIZON, compileZone, tzdataVersion } from "./tz.js";
import { lowerCondition, type ConditionEnv } from "./condition/index.js";
import { conditionEnv } from "./check.js";
import type { Arbitration, BundleData, CandidateReasons, Experiment, PlanHoldout, Expr, FieldSpec, Gate, JsonValue, IR, NodeCondition, Plan, PlanList, PlanNode, Reason } from "./ir/ir.js";
import { spanAt } from "./load.js";
import { ENGINE_REASONS, type EngineReasonCode, type EngineReasonSource } from "../runtime/contract.js";
import { CHANNELS, covers, type ConditionSite, type JourneyNode, type Origin, type Program } from "./program.js";
import { consentField, nodeScopes, type NodeScope } from "./scope.js";
import { formatDuration } from "./units.js";

export interface PlanResult {
  ir: IR;
  /** `data.json` content under `waypost`, minus the revision (the bundle stage adds it). */
  lists: BundleData["lists"];
}

// A shared policy (a list, a rule, a purpose's consent, a cap...) is a reason's source once per
// node it applies to: each place is found once.
const sources = new WeakMap<Origin, Map<string, string>>();
const source = (o: Origin, extra: (string | number)[] = []): string => {
  let known = sources.get(o);
  if (known === undefined) sources.set(o, (known = new Map()));
  const key = extra.length === 0 ? "" : extra.map((x) => (typeof x === "number" ? `#${x}` : `.${x}`)).join("\0");
  let ref = known.get(key);
  if (ref === undefined) {
    const s = spanAt(o.doc, [...o.path, ...extra]);
    known.set(key, (ref = o.doc.file.ref(s.start)));
  }
  return ref;
};

/** An object with sorted keys, so key order never depends on file order. */
const sortedObject = <T>(entries: Iterable<[string, T]>): Record<string, T> => {
  const map = entries instanceof Map ? (entries as Map<string, T>) : new Map(entries);
  // The default sort (UTF-16 order, like `<`) is several times faster than a comparator on
  // million-entry suppression lists.
  const keys = [...map.keys()].sort();
  // No prototype: V8 builds large dictionary objects several times faster, and user keys such
  // as `__proto__` stay plain data.
  const out = Object.create(null) as Record<string, T>;
  for (const k of keys) out[k] = map.get(k)!;
  return out;
};

const reason = (code: string, policy: string, message: string, src: string, channel?: string): Reason =>
  channel === undefined ? { code, policy, message, source: src } : { code, policy, message, source: src, channel };

/** The contract's engine reasons, each pointing at the file whose rule it enforces. */
function engineReasons(src: Record<EngineReasonSource, string>): Record<EngineReasonCode, Reason> {
  const out = {} as Record<EngineReasonCode, Reason>;
  for (const [code, r] of Object.entries(ENGINE_REASONS) as [EngineReasonCode, (typeof ENGINE_REASONS)[EngineReasonCode]][]) {
    out[code] = reason(code, r.policy, r.message, src[r.source]);
  }
  return out;
}

const AT_SEND_STEPS: ReadonlySet<Gate["step"]> = new Set(["suppression", "restriction", "consent"]);
const NOW_BUILTINS: ReadonlySet<string> = new Set(["days_since", "days_until", "hours_since", "minutes_since", "since", "until"]);

/** The expression's value may depend on `now`: it reads `now`, a now-relative builtin, a list's expiry or the history window. */
export function readsTime(e: Expr | undefined): boolean {
  if (e === undefined) return false;
  switch (e.op) {
    case "now":
    case "in_list":
    case "history_count":
      return true;
    case "const":
    case "field":
      return false;
    case "not":
      return readsTime(e.arg);
    case "and":
    case "or":
      return e.args.some(readsTime);
    case "cmp":
      return readsTime(e.left) || readsTime(e.right);
    case "in":
      return readsTime(e.item) || readsTime(e.set);
    case "call":
      return NOW_BUILTINS.has(e.fn) || e.args.some(readsTime);
    case "add_ms":
      return readsTime(e.time);
  }
}

const f = (name: string): Expr => ({ op: "field", name });
const c = (value: JsonValue): Expr => ({ op: "const", value });

export function plan(p: Program): PlanResult {
  const dict = p.dictionary!;
  const env: ConditionEnv = conditionEnv(p);
  const conds: Expr[] = [];
  const intern = new Map<string, number>();
  // Identical expressions share one compiled function.
  const add = (e: Expr): number => {
    const key = JSON.stringify(e);
    const hit = intern.get(key);
    if (hit !== undefined) return hit;
    conds.push(e);
    intern.set(key, conds.length - 1);
    return conds.length - 1;
  };
  // The gates of shared policies (lists, consent, caps...) repeat their expressions on every node
  // in scope: built and interned once per key, a string that determines the expression.
  const known = new Map<string, number>();
  const addAs = (key: string, make: () => Expr): number => {
    let i = known.get(key);
    if (i === undefined) known.set(key, (i = add(make())));
    return i;
  };
  // A rule's or a restriction's condition is lowered once, not once per node in its scope; and
  // conditions of one text (nodes of one template) once: the lowering is a function of the
  // parsed text and the program-wide environment.
  const lowered = new WeakMap<ConditionSite, number>();
  const loweredText = new Map<string, number>();
  const lower = (site: ConditionSite): number => {
    let i = lowered.get(site);
    if (i !== undefined) return i;
    if (site.ast === null) i = add(c(false));
    else {
      i = loweredText.get(site.text);
      if (i === undefined) loweredText.set(site.text, (i = add(lowerCondition(site.ast, env))));
    }
    lowered.set(site, i);
    return i;
  };

  const nodes = [...p.nodes].sort((a, b) => (a.id < b.id ? -1 : 1));
  const scopeOf = nodeScopes(p);
  const scopes = nodes.map(scopeOf);
  // Nodes alike share one scope (compiler/scope.ts), and so their gates: built once per scope.
  const gatesOf = new WeakMap<NodeScope, ScopeGates>();
  const planNodes: PlanNode[] = nodes.map((n, i) => {
    const scope = scopes[i]!;
    // Called after the node's own conditions are lowered: the conditions keep the numbering
    // they had when every node built its gates.
    const gatesFor = (): ScopeGates => {
      let gates = gatesOf.get(scope);
      if (gates === undefined) {
        gatesOf.set(scope, (gates = scopeGates(p, n.purpose, n.lawfulBasis, scope, addAs, lower)));
        // Gates re-checked at the send time (docs/ir.md step 10): the ones that can start to
        // block as time passes. Contact-policy conditions (caps, cool-downs) only stop holding
        // as time passes, and a condition that reads no time has the same value at the send time.
        for (const g of [...gates.before, ...gates.after]) if (AT_SEND_STEPS.has(g.step) && readsTime(conds[g.cond])) g.at_send = true;
      }
      return gates;
    };
    return planNode(p, n, scope, gatesFor, lower);
  });
  const events = new Map<string, number[]>();
  const eventFields = new Map<string, Set<string>>();
  nodes.forEach((n, i) => {
    const idx = events.get(n.event);
    if (idx === undefined) events.set(n.event, [i]);
    else idx.push(i);
    let fs = eventFields.get(n.event);
    if (fs === undefined) eventFields.set(n.event, (fs = new Set<string>()));
    for (const x of n.context) fs.add(x);
    for (const x of scopes[i]!.implied.keys()) fs.add(x);
  });
  for (const idx of events.values()) {
    idx.sort((a, b) => planNodes[b]!.priority - planNodes[a]!.priority || (planNodes[a]!.id < planNodes[b]!.id ? -1 : 1));
  }
  const systems = new Map<string, string[]>();
  for (const s of p.access.systems.values()) {
    const ids = nodes
      .filter((n) => (s.allow.purposes.includes(n.purpose) || s.allow.nodes.includes(n.id)) && !(s.deny.purposes.includes(n.purpose) || s.deny.nodes.includes(n.id)))
      .map((n) => n.id);
    systems.set(s.id, ids);
  }
  // Consent times: every field a purpose's consent requirement names (its template expanded for
  // each channel it covers). The engine refuses such a time later than `now`.
  const consentFields = new Set<string>();
  for (const u of p.purposes.values()) {
    if (!u.consent) continue;
    for (const ch of CHANNELS) if (covers(u.consent.channels, ch)) consentFields.add(consentField(u.consent.field, ch, u.id));
  }
  const fields = new Map<string, FieldSpec>();
  for (const fd of dict.fields.values()) {
    // A time zone reaches the engine as a string out of the allowed zones (`values`).
    const spec: FieldSpec = { type: fd.type === "time_zone" ? "string" : fd.type, nullable: fd.nullable, mask: fd.mask };
    if (fd.values) spec.values = fd.values;
    if (fd.min !== undefined) spec.min = fd.min;
    if (fd.max !== undefined) spec.max = fd.max;
    if (fd.format !== undefined) spec.format = fd.format as FieldSpec["format"];
    if (consentFields.has(fd.name)) spec.consent = true;
    fields.set(fd.name, spec);
  }
  const lists = new Map<string, PlanList>();
  const listData = new Map<string, Record<string, string | null>>();
  for (const l of p.lists.values()) {
    lists.set(l.id, { kind: "suppression", match: l.match, reason: reason("suppressed", `suppression/${l.id}`, l.reason, source(l.origin)), missing: l.missing ?? "suppress" });
    listData.set(l.id, l.compact ?? sortedObject(l.entries));
  }
  for (const [id, v] of p.access.valueLists) {
    lists.set(id, { kind: "values", match: null, reason: reason("listed", `list/${id}`, `value list \`${id}\``, source(v.origin)) });
    listData.set(id, sortedObject(v.values.map((x) => [x, null] as [string, null])));
  }
  const dictSrc = source(dict.origin);
  const accessSrc = p.access.systems.size > 0 ? source([...p.access.systems.values()][0]!.origin, []) : dictSrc;
  const plan: Plan = {
    version: 1,
    lists: sortedObject(lists),
    systems: sortedObject(systems),
    events: sortedObject(events),
    event_fields: sortedObject([...eventFields].map(([e, s]) => [e, sortedObject([...s].map((x) => [x, true as const]))])),
    nodes: planNodes,
    fields: sortedObject(fields),
    channels: [...CHANNELS].sort(),
    purposes: [...p.purposes.keys()].sort(),
    offsets_ms: sortedObject(p.contact.offsetsMs),
    quiet_hours: p.contact.quietHours.map((qh) => ({
      start_min: qh.fromMin,
      end_min: qh.toMin,
      channels: qh.channels === "all" ? [...CHANNELS] : qh.channels,
      reason: reason("quiet-hours", `contact/quiet-hours/${qh.id}`, qh.reason, source(qh.origin)),
    })),
    ...(p.holdouts.length > 0 ? { holdouts: p.holdouts.map(planHoldout) } : {}),
    ...planArbitration(p),
    keys: dict.keys,
    ...planZones(dict),
    reasons: engineReasons({ waypost: "waypost", access: accessSrc, dictionary: dictSrc }),
  };
  return { ir: { plan, conds }, lists: sortedObject(listData) };
}

const pct = (bp: number): string => `${bp / 100}%`;

/** A universal holdout, with the reasons of its two groups (docs/ir.md step 6). */
function planHoldout(h: Program["holdouts"][number]): PlanHoldout {
  const policy = `holdout/${h.id}`;
  const src = source(h.origin, ["share"]);
  const why = h.reason ? `: ${h.reason}` : "";
  return {
    id: h.id,
    salt: h.salt,
    holdout_bp: h.shareBp,
    control_reason: reason("holdout-control", policy, `held out by universal holdout \`${h.id}\` (${pct(h.shareBp)} of customers, purposes ${h.purposes.join(", ")}): no treatment, logged for comparison${why}`, src),
    treatment_reason: reason("holdout-treatment", policy, `in the treatment group of universal holdout \`${h.id}\` (${pct(10000 - h.shareBp)})`, src),
  };
}

/** The universal holdouts that apply to a node: those naming its purpose, in declared order. */
function nodeHoldouts(p: Program, n: JourneyNode): Pick<PlanNode, "holdouts"> {
  const idx: number[] = [];
  p.holdouts.forEach((h, i) => {
    if (h.purposes.includes(n.purpose)) idx.push(i);
  });
  return idx.length > 0 ? { holdouts: idx } : {};
}

/** Events whose arbitration falls back (docs/ir.md step 5); `fallback: none` is the default. */
function planArbitration(p: Program): Pick<Plan, "arbitration"> {
  const out = new Map<string, Arbitration>();
  for (const a of p.contact.arbitration.values()) {
    if (a.fallback !== "next" || a.on.length === 0) continue;
    out.set(a.event, {
      fallback: "next",
      on: [...a.on],
      exhausted_reason: reason("fallback-exhausted", `arbitration/${a.event}`,
        `no candidate after the blocked node could be used: the first blocked node's outcome stands`, source(a.origin)),
    });
  }
  return out.size > 0 ? { arbitration: sortedObject(out) } : {};
}

/** Why the node did not win when another candidate of its event did (docs/ir.md step 5). */
function candidateReasons(p: Program, n: JourneyNode): CandidateReasons {
  const nid = `node/${n.id}`;
  const at = (key: string, present: boolean): string => source(n.origin, present ? [key] : ["id"]);
  const fmt = (ms: number | undefined): string => (ms === undefined ? "-" : new Date(ms).toISOString().slice(0, 10));
  const arb = p.contact.arbitration.get(n.event);
  const out: CandidateReasons = {
    not_for_system: reason("not-for-system", nid, `not a node the calling system may ask for (AccessPolicy \`systems\`)`, at("id", true)),
    not_requested: reason("not-requested", nid, "not the node the request names", at("id", true)),
    outside_validity_window: reason("outside-validity-window", nid, `outside its validity window [${fmt(n.validFrom)}, ${fmt(n.validUntil)})`,
      at("valid", n.validFrom !== undefined || n.validUntil !== undefined)),
    outside_rollout: reason("outside-rollout", nid, `the customer is outside its ${pct(n.rolloutBp)} rollout`, at("rollout", n.rolloutBp < 10000)),
    lower_priority: reason("lower-priority", nid, `not evaluated: a candidate ahead of it in priority order decided (this one has priority ${n.priority})`, at("priority", true)),
  };
  if (arb && arb.fallback === "next" && arb.on.length > 0) {
    const why = arb.reason ? `: ${arb.reason}` : "";
    out.fallback_next = reason("fallback-next", nid,
      `blocked; the arbitration of \`${n.event}\` falls back on ${arb.on.join(", ")}, so the next candidate is tried${why}`, source(arb.origin));
  }
  return out;
}

function planExperiment(nodeId: string, x: NonNullable<JourneyNode["experiment"]>): Experiment {
  const policy = `node/${nodeId}/experiment`;
  return {
    salt: x.salt,
    holdout_bp: x.holdoutBp,
    holdout_reason: reason("holdout-control", policy, `held out of experiment \`${x.salt}\` (${x.holdoutBp / 100}%): no treatment, logged for comparison`, source(x.origin, ["holdout"])),
    // Membership is recorded for both groups (docs/ir.md step 6); without a holdout there is none.
    ...(x.holdoutBp > 0
      ? { treatment_reason: reason("holdout-treatment", policy, `in the treatment group of experiment \`${x.salt}\` (${(10000 - x.holdoutBp) / 100}%)`, source(x.origin, ["holdout"])) }
      : {}),
    variants: x.variants.map((v) => ({
      id: v.id,
      weight_bp: v.weightBp,
      reason: reason("variant-assigned", policy, `assigned to variant \`${v.id}\` of experiment \`${x.salt}\``, source(x.origin, ["variants", v.id])),
    })),
  };
}

type AddAs = (key: string, make: () => Expr) => number;

/**
 * The gates of the nodes of one scope, in step order: those before the lawful-basis gate, its
 * condition and reason, and those after it. They depend on the node only through its scope
 * (its purpose, lawful basis and channels), so nodes of one scope share these objects; only the
 * lawful-basis gate, whose `pass` points at the node's own file, is made per node.
 */
interface ScopeGates {
  before: Gate[];
  basis: Pick<Gate, "cond" | "reason">;
  after: Gate[];
}

/**
 * The gates of `scope`'s nodes. Given only what the scope is keyed by (compiler/scope.ts
 * nodeScopes) besides the scope itself: the nodes' purpose and lawful basis.
 */
function scopeGates(p: Program, purposeId: string, lawfulBasis: string, scope: NodeScope, addAs: AddAs, lower: (s: ConditionSite) => number): ScopeGates {
  const dict = p.dictionary!;
  const purpose = p.purposes.get(purposeId)!;
  const gates: Gate[] = [];
  const perChannel = (channels: "all" | string[], make: (ch?: string) => Gate): void => {
    if (channels === "all") gates.push(make());
    else for (const ch of channels) gates.push(make(ch));
  };
  // Suppression never fails open (docs/ir.md "Suppression lists and rules"): with `missing:
  // suppress`, a gate before the list's or rule's own suppresses a request that lacks the key
  // (a required, non-nullable field is already refused by steps 4 and 5: no gate).
  const mayLack = (name: string): boolean => {
    const fd = dict.fields.get(name);
    return fd !== undefined && (fd.optional || fd.nullable);
  };
  const absent = (name: string): Expr => ({ op: "not", arg: { op: "call", fn: "exists", args: [f(name)] } });
  for (const { list, channels } of scope.lists) {
    // Also for a required key (undeclared `missing` means suppress): a present but empty key
    // passes steps 4-5 and would never match an entry, so without this gate `""` failed open.
    if ((list.missing ?? "suppress") === "suppress") {
      // No usable key: absent, null, or "" (no entry can be empty, so "" would never match).
      const missing = addAs(`no-key\0${list.match}`, () => ({ op: "or", args: [absent(list.match), { op: "cmp", cmp: "==", left: f(list.match), right: c("") }] }));
      const declared = list.missing === "suppress";
      perChannel(channels, (ch) => ({
        step: "suppression", cond: missing, outcome: "suppress", ...(ch ? { channel: ch } : {}),
        reason: reason("suppressed-missing-key", `suppression/${list.id}`,
          `no \`${list.match}\` to look up on suppression list \`${list.id}\`: treated as suppressed${declared ? " (\`missing: suppress\`)" : ""}`, source(list.origin, declared ? ["missing"] : ["match"]), ch),
      }));
    }
    const cond = addAs(`in-list\0${list.id}\0${list.match}`, () => ({ op: "in_list", list: list.id, item: f(list.match) }));
    perChannel(channels, (ch) => ({
      step: "suppression", cond, outcome: "suppress", ...(ch ? { channel: ch } : {}),
      reason: reason("suppressed", `suppression/${list.id}`, list.reason, source(list.origin), ch),
    }));
  }
  for (const { rule, channels } of scope.rules) {
    if (rule.missing === "suppress") {
      // One gate per field the rule reads that a request may lack (absent or null), in reading order.
      for (const name of new Set((rule.when.reads ?? []).map((r) => r.name))) {
        if (!mayLack(name)) continue;
        const missing = addAs(`absent\0${name}`, () => absent(name));
        perChannel(channels, (ch) => ({
          step: "suppression", cond: missing, outcome: "suppress", ...(ch ? { channel: ch } : {}),
          reason: reason("suppressed-missing-key", `suppression-rule/${rule.id}`,
            `no \`${name}\` to evaluate suppression rule \`${rule.id}\`: treated as suppressed (\`missing: suppress\`)`, source(rule.origin, ["missing"]), ch),
        }));
      }
    }
    const cond = lower(rule.when);
    perChannel(channels, (ch) => ({
      step: "suppression", cond, outcome: "suppress", ...(ch ? { channel: ch } : {}),
      reason: reason("suppressed-by-rule", `suppression-rule/${rule.id}`, rule.reason, source(rule.origin, ["when"]), ch),
    }));
  }
  const allJ = [...p.jurisdictions.keys()].sort();
  const basisOk = scope.basisJurisdictions;
  const basis: ScopeGates["basis"] = {
    cond: addAs(`basis\0${basisOk.length === allJ.length}\0${basisOk.join("\0")}`,
      () => (basisOk.length === allJ.length ? c(false) : { op: "not", arg: { op: "in", item: f(dict.keys.jurisdiction), set: c(basisOk) } })),
    reason: reason("lawful-basis-not-permitted", `purpose/${purpose.id}`, `lawful basis \`${lawfulBasis}\` is not permitted for \`${purpose.id}\` in this jurisdiction`, source(purpose.origin, ["lawful_basis"])),
  };
  const before = gates.splice(0);
  for (const r of scope.restrictions) {
    gates.push({
      step: "restriction", cond: lower(r.when), outcome: "deny",
      reason: reason("restricted", `purpose/${purpose.id}/restriction/${r.id}`, r.reason, source(r.origin, ["when"])),
    });
  }
  // The consent gates' expressions are determined by the purpose and the channel (addAs keys).
  for (const { channel, field, withdrawn, channels: covered } of scope.consent) {
    const missing = (): Expr => scope.consentMaxAgeMs === undefined
      ? { op: "not", arg: { op: "call", fn: "exists", args: [f(field)] } }
      : { op: "or", args: [{ op: "not", arg: { op: "call", fn: "exists", args: [f(field)] } }, { op: "cmp", cmp: ">", left: { op: "call", fn: "since", args: [f(field)] }, right: c(scope.consentMaxAgeMs) }] };
    const inScope = (e: Expr): Expr => scope.consentJurisdictions === "all" ? e : { op: "and", args: [{ op: "in", item: f(dict.keys.jurisdiction), set: c([...scope.consentJurisdictions].sort()) }, e] };
    const src = source(purpose.consent!.origin);
    const policy = `purpose/${purpose.id}/consent`;
    const age = scope.consentMaxAgeMs === undefined ? "" : ` within the last ${formatDuration(scope.consentMaxAgeMs)}`;
    // One gate per way consent can fail (docs/ir.md "Consent states"), each with its own reason;
    // the channel's `consent-granted` goes on the last, reported once all of them pass.
    const consentGates: Gate[] = [{
      step: "consent", cond: addAs(`consent-missing\0${purpose.id}\0${channel}`, () => inScope(missing())), channel, outcome: "deny",
      reason: reason("consent-missing", policy, `no ${channel} consent for \`${purpose.id}\`${age}`, src, channel),
    }];
    if (withdrawn !== undefined) {
      // Withdrawn when the withdrawal time is not after now (at send time: step 10) and not
      // before the grant; a withdrawal before the grant was superseded by a new grant.
      const cond = (): Expr => {
        const at: Expr = { op: "call", fn: "time", args: [f(withdrawn)] };
        return { op: "and", args: [{ op: "cmp", cmp: "<=", left: at, right: { op: "now" } }, { op: "cmp", cmp: ">=", left: at, right: { op: "call", fn: "time", args: [f(field)] } }] };
      };
      consentGates.push({
        step: "consent", cond: addAs(`consent-withdrawn\0${purpose.id}\0${channel}`, () => inScope(cond())), channel, outcome: "deny",
        reason: reason("consent-withdrawn", policy, `the customer withdrew ${channel} consent for \`${purpose.id}\``, source(purpose.consent!.origin, ["withdrawn_field"]), channel),
      });
    }
    if (covered !== undefined) {
      // The consent lists the channels it covers; absent or not a list covers none (fail closed).
      consentGates.push({
        step: "consent", cond: addAs(`consent-channels\0${purpose.id}\0${channel}`, () => inScope({ op: "not", arg: { op: "in", item: c(channel), set: f(covered) } })), channel, outcome: "deny",
        reason: reason("consent-not-for-channel", policy, `the customer's consent for \`${purpose.id}\` does not cover ${channel}`, source(purpose.consent!.origin, ["channels_field"]), channel),
      });
    }
    consentGates[consentGates.length - 1]!.pass = reason("consent-granted", policy, `the customer consented to ${channel} for \`${purpose.id}\`${age}`, src, channel);
    gates.push(...consentGates);
  }
  for (const cd of scope.cooldowns) {
    gates.push({
      step: "contact-policy", kind: "cool-down",
      cond: addAs(`cool-down\0${cd.after}\0${cd.forMs}`, () => ({ op: "cmp", cmp: "<", left: { op: "call", fn: "since", args: [f(cd.after)] }, right: c(cd.forMs) })),
      until: addAs(`cool-down-until\0${cd.after}\0${cd.forMs}`, () => ({ op: "add_ms", time: f(cd.after), ms: cd.forMs })),
      outcome: "defer",
      reason: reason("cool-down", `contact/cooldown/${cd.id}`, cd.reason, source(cd.origin)),
    });
  }
  for (const { cap, channel } of scope.caps) {
    const count = (): Expr => ({
      op: "history_count", window_ms: cap.perMs,
      ...(cap.channel ? { channel: cap.channel } : {}), ...(cap.purpose ? { purpose: cap.purpose } : {}), ...(cap.node ? { node: cap.node } : {}),
    });
    const key = `cap\0${cap.perMs}\0${cap.channel || ""}\0${cap.purpose || ""}\0${cap.node || ""}\0${cap.max}`;
    gates.push({
      step: "contact-policy", kind: "cap", cond: addAs(key, () => ({ op: "cmp", cmp: ">=", left: count(), right: c(cap.max) })), outcome: "suppress",
      ...(channel ? { channel } : {}),
      reason: reason("frequency-cap", `contact/cap/${cap.id}`, cap.reason, source(cap.origin), channel),
    });
  }
  return { before, basis, after: gates };
}

function planNode(p: Program, n: JourneyNode, scope: NodeScope, gatesFor: () => ScopeGates, lower: (s: ConditionSite) => number): PlanNode {
  const dict = p.dictionary!;
  const nid = `node/${n.id}`;
  const conditions: NodeCondition[] = [];
  if (n.trigger) {
    const src = source(n.origin, ["trigger", "when"]);
    conditions.push({
      kind: "trigger", cond: lower(n.trigger),
      reason: reason("trigger-matched", nid, `trigger \`${n.event}\` matched: ${n.trigger.text}`, src),
      fail: reason("trigger-not-matched", nid, `trigger not matched: ${n.trigger.text}`, src),
    });
  }
  for (const e of n.eligibility) {
    const src = source(e.origin, ["when"]);
    conditions.push({
      kind: "eligibility", cond: lower(e.when),
      reason: reason("eligible", `${nid}/eligibility/${e.id}`, `${e.id}: ${e.when.text}`, src),
      fail: reason("not-eligible", `${nid}/eligibility/${e.id}`, `not eligible (${e.id}): ${e.when.text}`, src),
    });
  }
  const purpose = p.purposes.get(n.purpose)!;
  const shared = gatesFor();
  const gates: Gate[] = [
    ...shared.before,
    {
      step: "lawful-basis", cond: shared.basis.cond, outcome: "deny", reason: shared.basis.reason,
      pass: reason("lawful-basis", `purpose/${purpose.id}`, `processing for \`${purpose.id}\` on the basis of \`${n.lawfulBasis}\``, source(n.origin, ["lawful_basis"])),
    },
    ...shared.after,
  ];
  const required = new Set<string>();
  for (const x of n.context) if (!(dict.fields.get(x)?.optional ?? true)) required.add(x);
  for (const imp of scope.implied.values()) if (!imp.optional && !(dict.fields.get(imp.name)?.optional ?? true)) required.add(imp.name);
  return {
    id: n.id,
    title: n.title,
    purpose: n.purpose,
    lawful_basis: n.lawfulBasis,
    event: n.event,
    priority: n.priority,
    risk: n.risk,
    valid_from: n.validFrom ?? null,
    valid_until: n.validUntil ?? null,
    rollout_bp: n.rolloutBp,
    rollout_salt: `${n.id}#rollout`,
    required: [...required].sort(),
    conditions,
    gates,
    channels: [...n.channels],
    templates: sortedObject([...n.templates].filter(([ch]) => n.channels.includes(ch as (typeof CHANNELS)[number]))),
    offer: n.offer ?? null,
    experiment: n.experiment ? planExperiment(n.id, n.experiment) : null,
    ...nodeHoldouts(p, n),
    candidate: candidateReasons(p, n),
    explanation: n.explanation,
    review_reason: n.risk === "high" && n.review
      ? reason("human-review", nid, `reviewed by ${n.review.team}: ${n.review.reason}`, source(n.origin, ["review"]))
      : null,
    source: source(n.origin, ["id"]),
  };
}

/**
 * The allowed zones of the time-zone key, compiled from the pinned database up to the field's
 * horizon (docs/ir.md, "Time zones"), and the database version; nothing without a zone key.
 */
function planZones(dict: NonNullable<Program["dictionary"]>): Pick<Plan, "zones" | "tzdata"> {
  const f = dict.keys.time_zone !== undefined ? dict.fields.get(dict.keys.time_zone) : undefined;
  if (!f || f.type !== "time_zone") return {};
  const zones = new Map<string, number[]>();
  for (const z of [...(f.values ?? [])].sort()) {
    const table = compileZone(z, f.horizon ?? TZ_DEFAULT_HORIZON);
    if (table) zones.set(z, table);
  }
  return { zones: sortedObject(zones), tzdata: tzdataVersion() };
}
