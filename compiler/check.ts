/**
 * Stage 4, check: the semantic rules a governance reviewer cares about. Each check is a named
 * function in CHECKS, run in order; each reports diagnostics with a stable code (see
 * compiler/codes.ts), a location and a hint. Checks never throw on user input.
 */
import { knownZone, tzdataVersion } from "./tz.js";
import { checkCondition, type ConditionEnv, type FieldInfo } from "./condition/index.js";
import { literalValue, type Cond } from "./condition/ast.js";
import { diag, didYouMean, type Diagnostic, type RelatedInfo, type Span } from "./diagnostics.js";
import { spanAt } from "./load.js";
import { CHANNELS, covers, type ConditionSite, type Field, type JourneyNode, type Origin, type Program } from "./program.js";
import { fieldMatches, nodeScopes, systemsFor, type ImpliedField, type NodeScope } from "./scope.js";
import { formatDuration } from "./units.js";

type Report = (d: Diagnostic) => void;
interface CheckContext {
  p: Program;
  report: Report;
  at: (o: Origin, extra?: (string | number)[], part?: "key" | "value") => Span;
}

interface Check {
  name: string;
  run(cx: CheckContext): void;
}

/** The checks, in order. Type-checking conditions comes first: later checks use what it reads. */
export const CHECKS: readonly Check[] = [
  { name: "CheckDocumentsPresent", run: checkDocumentsPresent },
  { name: "CheckDictionary", run: checkDictionary },
  { name: "CheckConditions", run: checkConditions }, // fills ConditionSite.reads for the checks below
  { name: "CheckReferences", run: checkReferences },
  { name: "CheckSuppressionKeys", run: checkSuppressionKeys },
  { name: "CheckMinimisation", run: checkMinimisation },
  { name: "CheckLawfulBasisAndConsent", run: checkLawfulBasisAndConsent },
  { name: "CheckReview", run: checkReview },
  { name: "CheckShares", run: checkShares },
  { name: "CheckActions", run: checkActions },
  { name: "CheckRetentionAndResidency", run: checkRetentionAndResidency },
  { name: "CheckArbitration", run: checkArbitration },
  { name: "CheckContactPolicy", run: checkContactPolicy },
];

export function check(p: Program): Diagnostic[] {
  const out: Diagnostic[] = [];
  const cx: CheckContext = {
    p,
    report: (d) => out.push(d),
    at: (o, extra = [], part = "value") => spanAt(o.doc, extra.length === 0 ? o.path : [...o.path, ...extra], part),
  };
  scopes = new WeakMap();
  systems = new WeakMap();
  try {
    for (const c of CHECKS) c.run(cx);
  } finally {
    scopes = new WeakMap();
    systems = new WeakMap();
  }
  return out;
}

// Several checks need each node's scope; the program does not change while it is checked, so
// each is computed once per run (and shared by nodes alike: nodeScopes), after CheckConditions
// has filled in the fields each condition reads.
let scopes = new WeakMap<Program, (n: JourneyNode) => NodeScope>();
function scopeOf(p: Program, n: JourneyNode): NodeScope {
  let of = scopes.get(p);
  if (of === undefined) {
    // Each node's scope, found by the node itself: nodeScopes finds a shared scope by a key
    // string built per call, and several checks ask for every node's.
    const shared = nodeScopes(p);
    const byNode = new Map<JourneyNode, NodeScope>();
    of = (node) => {
      let s = byNode.get(node);
      if (s === undefined) byNode.set(node, (s = shared(node)));
      return s;
    };
    scopes.set(p, of);
  }
  return of(n);
}

// The systems that may request a node depend on its id only when a system names the node, and
// otherwise on its purpose: found once per purpose per run (10,000 nodes, a handful of purposes).
// The arrays are shared: read them only.
let systems = new WeakMap<Program, (n: JourneyNode) => readonly string[]>();
function systemsOf(p: Program, n: JourneyNode): readonly string[] {
  let of = systems.get(p);
  if (of === undefined) {
    const named = new Set<string>();
    for (const s of p.access.systems.values()) for (const id of [...s.allow.nodes, ...s.deny.nodes]) named.add(id);
    const byPurpose = new Map<string, string[]>();
    of = (node) => {
      if (named.has(node.id)) return systemsFor(p, node);
      let r = byPurpose.get(node.purpose);
      if (r === undefined) byPurpose.set(node.purpose, (r = systemsFor(p, node)));
      return r;
    };
    systems.set(p, of);
  }
  return of(n);
}

const q = (s: string): string => `\`${s}\``;
const list = (xs: readonly string[]): string => xs.map(q).join(", ");

function checkDocumentsPresent({ p, report }: CheckContext): void {
  if (!p.dictionary) report(diag("WP3002", "error", "no `DataDictionary` document found", undefined, "add `policies/data-dictionary.yaml` with `kind: DataDictionary`: every field a decision reads must be declared"));
  if (p.purposes.size === 0) report(diag("WP3002", "error", "no `Purposes` document found", undefined, "add `policies/purposes.yaml` with `kind: Purposes`: every journey needs a purpose and lawful basis"));
}

function checkDictionary({ p, report, at }: CheckContext): void {
  const d = p.dictionary;
  if (!d) return;
  const want: Record<"customer" | "jurisdiction" | "utc_offset", string[]> = { customer: ["string"], jurisdiction: ["string"], utc_offset: ["integer", "number"] };
  for (const k of ["customer", "jurisdiction", "utc_offset"] as const) {
    const name = d.keys[k];
    const f = d.fields.get(name);
    if (!f) {
      const guess = didYouMean(name, d.fields.keys());
      report(diag("WP3012", "error", `the ${k} key names ${q(name)}, which is not in the data dictionary`, at(d.origin, ["keys", k]), guess ? `did you mean ${q(guess)}?` : `declare ${q(name)} under \`fields:\``));
    } else if (!want[k].includes(f.type)) {
      report(diag("WP3017", "error", `the ${k} key ${q(name)} must be of type ${want[k].join(" or ")}, not ${f.type}`, at(f.origin, ["type"]), `change its type to \`${want[k][0]}\``));
    } else if (f.optional) {
      report(diag("WP3017", "error", `the ${k} key ${q(name)} cannot be optional`, at(f.origin, ["optional"], "key"), "every request must carry it; remove `optional: true`"));
    }
  }
  if (d.keys.time_zone !== undefined) {
    const name = d.keys.time_zone;
    const f = d.fields.get(name);
    if (!f) {
      const guess = didYouMean(name, d.fields.keys());
      report(diag("WP3012", "error", `the time_zone key names ${q(name)}, which is not in the data dictionary`, at(d.origin, ["keys", "time_zone"]), guess ? `did you mean ${q(guess)}?` : `declare ${q(name)} under \`fields:\` with \`type: time_zone\``));
    } else if (f.type !== "time_zone") {
      report(diag("WP3017", "error", `the time_zone key ${q(name)} must be of type time_zone, not ${f.type}`, at(f.origin, ["type"]), "change its type to `time_zone` and list the allowed zones under `validation: { values: [...] }`"));
    }
  }
  for (const f of d.fields.values()) {
    if (f.type !== "time_zone") continue;
    // The plan embeds only the allowed zones' rules: the set must be declared, and every name
    // must be in the pinned database (a misspelt zone would silently fall back to the offset).
    if (f.values === undefined) {
      report(diag("WP3096", "error", `time-zone field ${q(f.name)} does not declare its allowed zones`, at(f.origin, [], "key"), "add `validation: { values: [Europe/London, America/New_York, ...] }`: only these zones' rules are embedded in the bundle"));
      continue;
    }
    f.values.forEach((z, i) => {
      if (!knownZone(z)) report(diag("WP3096", "error", `${q(z)} is not a zone of the time-zone database (tzdata ${tzdataVersion()})`, at(f.origin, ["validation", "values", i]), "use an IANA zone name such as `Europe/London` (case-sensitive)"));
    });
  }
  const jf = d.fields.get(d.keys.jurisdiction);
  if (jf && p.jurisdictions.size > 0) {
    const missing = [...p.jurisdictions.keys()].filter((j) => !(jf.values ?? []).includes(j));
    if (jf.values === undefined || missing.length > 0) {
      report(diag("WP3018", "error", `the jurisdiction field ${q(jf.name)} must list its allowed values${missing.length ? ` (missing ${list(missing)})` : ""}`, at(jf.origin, [], "key"), `add \`validation: { values: [${[...p.jurisdictions.keys()].join(", ")}] }\``));
    }
  }
  for (const f of d.fields.values()) {
    const validated = f.values !== undefined || f.min !== undefined || f.max !== undefined || f.format !== undefined;
    if (f.highRisk && !validated && (f.type === "string" || f.type === "number" || f.type === "integer")) {
      report(diag("WP3072", "warning", `high-risk field ${q(f.name)} has no validation rules`, at(f.origin, [], "key"), "add `validation:` with `values`, `min`/`max` or `format`, so bad values are refused before they drive a decision"));
    }
    if (f.values !== undefined && f.type !== "string" && f.type !== "string[]" && f.type !== "time_zone") {
      report(diag("WP3018", "error", `${q(f.name)} is a ${f.type} field and cannot have \`values\``, at(f.origin, ["validation", "values"]), "use `min`/`max` for numbers"));
    }
  }
}

/** The environment conditions are type-checked in: the dictionary and every named list. */
export function conditionEnv(p: Program): ConditionEnv {
  const fields = new Map<string, FieldInfo>();
  for (const f of p.dictionary?.fields.values() ?? []) {
    // A time zone is a string to conditions (`customer.time_zone == "Europe/London"`).
    const info: FieldInfo = { type: f.type === "time_zone" ? "string" : f.type, nullable: f.nullable || f.optional };
    if (f.values) info.values = f.values;
    fields.set(f.name, info);
  }
  const lists = new Map<string, { kind: "suppression" | "values" }>();
  for (const id of p.lists.keys()) lists.set(id, { kind: "suppression" });
  for (const id of p.access.valueLists.keys()) lists.set(id, { kind: "values" });
  return { fields, lists };
}

function checkConditions({ p, report }: CheckContext): void {
  if (!p.dictionary) return;
  const env = conditionEnv(p);
  // Sites share the parse of equal condition texts (compiler/condition/parse.ts), and checking is
  // a function of the tree and the environment: once per tree (10,000 nodes, ~100 distinct).
  const checked = new Map<Cond, ReturnType<typeof checkCondition>>();
  for (const site of p.conditions) {
    if (!site.ast) continue;
    let r = checked.get(site.ast);
    if (r === undefined) checked.set(site.ast, (r = checkCondition(site.ast, env)));
    const file = site.span.file;
    const span = (s: number, e: number): Span => ({ file, start: site.offsetOf(s), end: site.offsetOf(e) });
    for (const d of r.diagnostics) report(diag(d.code, d.severity, d.message, span(d.start, d.end), d.help));
    site.reads = r.fieldsRead.map((f) => ({ name: f.name, span: span(f.start, f.end) }));
    site.lists = r.listsRead.map((f) => ({ name: f.name, span: span(f.start, f.end) }));
  }
}

function checkReferences({ p, report, at }: CheckContext): void {
  const dict = p.dictionary;
  const purposeIds = [...p.purposes.keys()];
  const nodeIds = p.nodes.map((n) => n.id);
  const unknownPurpose = (id: string, span: Span): void => {
    if (p.purposes.has(id) || p.purposes.size === 0) return;
    const g = didYouMean(id, purposeIds);
    report(diag("WP3010", "error", `unknown purpose ${q(id)}`, span, g ? `did you mean ${q(g)}?` : `declared purposes: ${list(purposeIds)}`));
  };
  const unknownNode = (id: string, span: Span): void => {
    if (nodeIds.includes(id)) return;
    const g = didYouMean(id, nodeIds);
    report(diag("WP3011", "error", `unknown journey node ${q(id)}`, span, g ? `did you mean ${q(g)}?` : `journey nodes: ${list(nodeIds)}`));
  };
  const unknownField = (name: string, span: Span, what: string): boolean => {
    if (!dict || dict.fields.has(name)) return false;
    const g = didYouMean(name, dict.fields.keys());
    report(diag("WP3012", "error", `${what} ${q(name)} is not in the data dictionary`, span, g ? `did you mean ${q(g)}?` : `declare ${q(name)} in the data dictionary, with its type, category, sensitivity, source and residency`));
    return true;
  };
  const unknownJurisdiction = (j: string, span: Span): void => {
    if (p.jurisdictions.has(j) || p.jurisdictions.size === 0) return;
    report(diag("WP3014", "error", `unknown jurisdiction ${q(j)}`, span, `declare it under \`jurisdictions:\` in the Purposes document (known: ${list([...p.jurisdictions.keys()])})`));
  };

  for (const n of p.nodes) {
    // The cheap test first: a span is found only for a reference that is reported.
    if (!p.purposes.has(n.purpose)) unknownPurpose(n.purpose, at(n.origin, ["purpose"]));
    n.context.forEach((f, i) => {
      if (dict && !dict.fields.has(f)) unknownField(f, at(n.origin, ["context", i]), "context field");
    });
    for (const [ch, t] of n.templates) {
      if (!p.access.templates.has(t)) {
        const g = didYouMean(t, p.access.templates.keys());
        report(diag("WP3013", "error", `unknown template ${q(t)}`, at(n.origin, ["action", "templates", ch]), g ? `did you mean ${q(g)}?` : "declare it under `templates:` in the AccessPolicy"));
      }
    }
  }
  for (const s of p.access.systems.values()) {
    for (const which of ["allow", "deny"] as const) {
      s[which].purposes.forEach((id, i) => unknownPurpose(id, at(s.origin, [which, "purposes", i])));
      s[which].nodes.forEach((id, i) => unknownNode(id, at(s.origin, [which, "nodes", i])));
    }
    unknownJurisdiction(s.region, at(s.origin, ["region"]));
  }
  for (const m of [p.access.fieldsAllow, p.access.fieldsDeny]) {
    for (const [purpose, e] of m) {
      unknownPurpose(purpose, at(e.origin, [], "key"));
      e.patterns.forEach((pat, i) => {
        if (dict && ![...dict.fields.keys()].some((f) => fieldMatches(pat, f))) {
          report(diag("WP3012", "error", `${q(pat)} matches no field in the data dictionary`, at(e.origin, [i]), "check the spelling; a prefix such as `customer.*` matches every field under it"));
        }
      });
    }
  }
  for (const l of p.lists.values()) {
    if (!unknownField(l.match, at(l.origin, ["match"]), "match field")) {
      const f = dict?.fields.get(l.match);
      if (f && f.type !== "string") report(diag("WP3017", "error", `suppression list ${q(l.id)} matches on ${q(l.match)}, a ${f.type} field`, at(l.origin, ["match"]), "match on a string key such as a customer id or a hashed email"));
    }
    if (l.scope.purposes !== "all") l.scope.purposes.forEach((id, i) => unknownPurpose(id, at(l.origin, ["scope", "purposes", i])));
  }
  for (const r of p.rules) if (r.scope.purposes !== "all") r.scope.purposes.forEach((id, i) => unknownPurpose(id, at(r.origin, ["scope", "purposes", i])));
  for (const c of p.contact.caps) {
    if (c.purpose) unknownPurpose(c.purpose, at(c.origin, ["purpose"]));
    if (c.node) unknownNode(c.node, at(c.origin, ["node"]));
  }
  for (const c of p.contact.cooldowns) {
    if (!unknownField(c.after, at(c.origin, ["after"]), "cool-down field")) {
      const f = dict?.fields.get(c.after);
      if (f && f.type !== "timestamp" && f.type !== "date") report(diag("WP3017", "error", `cool-down ${q(c.id)} starts from ${q(c.after)}, which is not a timestamp`, at(c.origin, ["after"]), "name a timestamp field such as `customer.last_negative_interaction_at`"));
    }
    if (c.purposes !== "all") c.purposes.forEach((id, i) => unknownPurpose(id, at(c.origin, ["purposes", i])));
  }
  for (const u of p.purposes.values()) {
    for (const j of u.lawfulBasis.keys()) unknownJurisdiction(j, at(u.origin, ["lawful_basis", j], "key"));
    if (u.consent && u.consent.jurisdictions !== "all") u.consent.jurisdictions.forEach((j, i) => unknownJurisdiction(j, at(u.consent!.origin, ["jurisdictions", i])));
  }
  // Consent fields must exist (and be timestamps) for every channel a node of the purpose uses.
  for (const n of p.nodes) {
    for (const c of scopeOf(p, n).consent) {
      const f = dict?.fields.get(c.field);
      const u = p.purposes.get(n.purpose)!;
      if (!dict) continue;
      if (!f) {
        report(diag("WP3019", "error", `purpose ${q(n.purpose)} needs consent for ${q(c.channel)}, but the data dictionary has no field ${q(c.field)}`, at(n.origin, ["action", "channels", n.channels.indexOf(c.channel)]),
          `declare ${q(c.field)} (type \`timestamp\`, optional) so requests can carry the consent, or remove ${q(c.channel)} from this node`,
          [{ message: "the consent requirement is here", span: at(u.consent!.origin) }]));
      } else if (f.type !== "timestamp" && f.type !== "date") {
        report(diag("WP3017", "error", `consent field ${q(c.field)} must be a timestamp (when consent was given), not ${f.type}`, at(f.origin, ["type"]), "change its type to `timestamp`"));
      }
    }
  }
  checkConsentStates(p, report, at);
}

/**
 * A purpose's consent withdrawal and channel-set fields (docs/ir.md "Consent states"): each
 * expanded field must exist with its type (a time; a `string[]`), reported once per field.
 */
function checkConsentStates(p: Program, report: CheckContext["report"], at: CheckContext["at"]): void {
  const dict = p.dictionary;
  if (!dict) return;
  const seen = new Set<string>();
  const seenScopes = new Set<NodeScope>();
  for (const n of p.nodes) {
    const u = p.purposes.get(n.purpose);
    if (!u?.consent) continue;
    const origin = u.consent.origin;
    if (u.consent.channelsField?.includes("{channel}") && !seen.has(`${u.id}\0{channel}`)) {
      seen.add(`${u.id}\0{channel}`);
      report(diag("WP3097", "error", `consent of ${q(u.id)}: \`channels_field\` ${q(u.consent.channelsField)} depends on \`{channel}\`, but it lists the channels of one consent`, at(origin, ["channels_field"]),
        `name one field per purpose, e.g. \`consent.{purpose}.channels\` (type \`string[]\`)`));
    }
    // The consents come from the scope, which nodes alike share: each scope is read once.
    const scope = scopeOf(p, n);
    if (seenScopes.has(scope)) continue;
    seenScopes.add(scope);
    for (const c of scope.consent) {
      const checks: [string | undefined, "withdrawn_field" | "channels_field"][] = [[c.withdrawn, "withdrawn_field"], [c.channels, "channels_field"]];
      for (const [name, key] of checks) {
        if (name === undefined || seen.has(`${key}\0${name}`)) continue;
        seen.add(`${key}\0${name}`);
        const f = dict.fields.get(name);
        const what = key === "withdrawn_field" ? "withdrawal time" : "consented channel set";
        const type = key === "withdrawn_field" ? "timestamp" : "string[]";
        if (!f) {
          report(diag("WP3019", "error", `consent of ${q(u.id)} reads its ${what} from ${q(name)}, which the data dictionary does not declare`, at(origin, [key]),
            `declare ${q(name)} (type \`${type}\`, optional), or fix \`${key}\``));
        } else if (key === "withdrawn_field" ? f.type !== "timestamp" && f.type !== "date" : f.type !== "string[]") {
          report(diag("WP3017", "error", `${what} field ${q(name)} must be a ${type}, not ${f.type}`, at(f.origin, ["type"]), `change its type to \`${type}\``,
            [{ message: `named by the consent of ${q(u.id)} here`, span: at(origin, [key]) }]));
        }
      }
    }
  }
}

/**
 * Suppression never fails open (docs/ir.md, "Suppression lists and rules"): a list matching
 * on a field, or a rule reading a field, that a request may lack (optional) or carry as null
 * (nullable) must say what a missing key means. Otherwise that customer would simply not be
 * found on the list, and be contacted.
 */
function checkSuppressionKeys({ p, report, at }: CheckContext): void {
  const dict = p.dictionary;
  if (!dict) return;
  const mayLack = (name: string): Field | undefined => {
    const f = dict.fields.get(name);
    return f && (f.optional || f.nullable) ? f : undefined;
  };
  const how = (f: Field): string => (f.optional && f.nullable ? "optional and nullable" : f.optional ? "optional" : "nullable");
  const declared = (f: Field): RelatedInfo => ({ message: `${q(f.name)} is ${how(f)} in the data dictionary`, span: at(f.origin, [f.optional ? "optional" : "nullable"], "key") });
  for (const l of p.lists.values()) {
    const f = l.missing === undefined ? mayLack(l.match) : undefined;
    if (!f) continue;
    report(diag("WP3080", "error", `suppression list ${q(l.id)} matches on ${q(l.match)}, which is ${how(f)}, but does not say what a missing key means`, at(l.origin, ["match"]),
      `add \`missing: suppress\` (treat a customer without ${q(l.match)} as suppressed) or \`missing: allow\` (a customer without ${q(l.match)} is not suppressed by ${q(l.id)})`, [declared(f)]));
  }
  for (const r of p.rules) {
    if (r.missing !== undefined) continue;
    const seen = new Set<string>();
    const lacking: { f: Field; span: Span }[] = [];
    for (const read of r.when.reads ?? []) {
      const f = mayLack(read.name);
      if (f && !seen.has(f.name)) {
        seen.add(f.name);
        lacking.push({ f, span: read.span });
      }
    }
    if (lacking.length === 0) continue;
    const names = list(lacking.map((x) => x.f.name));
    report(diag("WP3080", "error", `suppression rule ${q(r.id)} reads ${names}, which a request may lack, but does not say what a missing field means`, lacking[0]!.span,
      `add \`missing: suppress\` (treat a customer without ${names} as suppressed) or \`missing: allow\` (\`when\` is evaluated as written: a missing field makes a comparison undefined, so the rule does not suppress)`,
      lacking.map((x) => declared(x.f))));
  }
}

function checkMinimisation({ p, report, at }: CheckContext): void {
  const dict = p.dictionary;
  if (!dict) return;
  // Whether a purpose may read a field depends on the two only, and 10,000 nodes read the same
  // few fields: judged once each. The deny pattern that refuses it, or whether it is allowed.
  const verdicts = new Map<string, Map<string, string | boolean>>();
  const verdictOf = (purpose: string, name: string): string | boolean => {
    let byName = verdicts.get(purpose);
    if (byName === undefined) verdicts.set(purpose, (byName = new Map()));
    let v = byName.get(name);
    if (v === undefined) {
      const denied = p.access.fieldsDeny.get(purpose)?.patterns.find((pat) => fieldMatches(pat, name));
      v = denied ? denied : p.access.fieldsAllow.get(purpose)?.patterns.some((pat) => fieldMatches(pat, name)) === true;
      byName.set(name, v);
    }
    return v;
  };
  // A scope's implied fields that can be reported (declared, unknown and allowed ones cannot), per
  // scope: nodes alike share one.
  const refusedImplied = new Map<NodeScope, ImpliedField[]>();
  for (const n of p.nodes) {
    if (!p.purposes.has(n.purpose)) continue; // reported as WP3010; every field would be "not allowed"
    const declared = new Set(n.context);
    const scope = scopeOf(p, n);
    const sites: ConditionSite[] = [...(n.trigger ? [n.trigger] : []), ...n.eligibility.map((e) => e.when)];
    for (const s of sites) {
      for (const r of s.reads ?? []) {
        if (declared.has(r.name) || scope.implied.has(r.name)) continue;
        if (!dict.fields.has(r.name)) continue; // already reported as unknown
        report(diag("WP3020", "error", `node ${q(n.id)} reads ${q(r.name)} but does not declare it in \`context\``, r.span,
          `add ${q(r.name)} to \`context:\` so reviewers see every field this journey uses`));
      }
    }
    const allow = p.access.fieldsAllow.get(n.purpose);
    const deny = p.access.fieldsDeny.get(n.purpose);
    // `span` is called only for a field that is reported.
    const check = (name: string, span: () => Span, why?: string): void => {
      const denied = verdictOf(n.purpose, name);
      if (denied === true) return;
      if (denied) {
        report(diag("WP3021", "error", `purpose ${q(n.purpose)} may not read ${q(name)}${why ? ` (needed by ${why})` : ""}`, span(),
          `${q(denied)} is on the purpose's deny-list; deny beats allow. Remove the field from this node`, [{ message: "denied here", span: at(deny!.origin) }]));
        return;
      }
      report(diag("WP3021", "error", `purpose ${q(n.purpose)} is not allowed to read ${q(name)}${why ? ` (needed by ${why})` : ""}`, span(),
        allow ? `add ${q(name)} to \`fields.allow.${n.purpose}\` in the AccessPolicy if this purpose really needs it` : `add \`fields.allow.${n.purpose}\` to the AccessPolicy listing the fields this purpose may read`,
        allow ? [{ message: "the purpose's field allow-list", span: at(allow.origin) }] : undefined));
    };
    n.context.forEach((f, i) => {
      if (dict.fields.has(f)) check(f, () => at(n.origin, ["context", i]));
    });
    let refused = refusedImplied.get(scope);
    if (refused === undefined) {
      refused = [...scope.implied.values()].filter((imp) => dict.fields.has(imp.name) && verdictOf(n.purpose, imp.name) !== true);
      refusedImplied.set(scope, refused);
    }
    for (const imp of refused) {
      if (declared.has(imp.name)) continue;
      check(imp.name, () => at(n.origin, ["purpose"]), imp.why);
    }
  }
}

function checkLawfulBasisAndConsent({ p, report, at }: CheckContext): void {
  for (const n of p.nodes) {
    const u = p.purposes.get(n.purpose);
    if (!u) continue;
    const ok = scopeOf(p, n).basisJurisdictions;
    if (ok.length === 0) {
      const bases = [...new Set([...u.lawfulBasis.values()].flat())];
      report(diag("WP3030", "error", `purpose ${q(u.id)} does not permit the lawful basis ${q(n.lawfulBasis)} in any jurisdiction`, at(n.origin, ["lawful_basis"]),
        `use one of ${list(bases)}, or change the purpose's \`lawful_basis\``, [{ message: "the purpose's lawful bases", span: at(u.origin, ["lawful_basis"]) }]));
    } else {
      const not = [...p.jurisdictions.keys()].filter((j) => !ok.includes(j));
      if (not.length > 0) {
        report(diag("WP3031", "warning", `lawful basis ${q(n.lawfulBasis)} is not permitted for ${q(u.id)} in ${list(not)}: customers there will be denied`, at(n.origin, ["lawful_basis"]),
          `if that is intended, nothing to do; otherwise pick a basis allowed in every jurisdiction`));
      }
    }
  }
  for (const u of p.purposes.values()) {
    const uncovered = [...p.jurisdictions.values()].filter(
      (j) => u.category === "marketing" && j.marketingRequiresConsent && !(u.consent !== undefined && covers(u.consent.jurisdictions, j.id) && u.consent.channels === "all"),
    );
    if (uncovered.length > 0) {
      report(diag("WP3032", "error", `marketing purpose ${q(u.id)} does not require consent on every channel in ${list(uncovered.map((j) => j.id))}, where marketing requires consent`,
        u.consent ? at(u.consent.origin) : at(u.origin, [], "key"),
        `add \`consent: { channels: all, jurisdictions: all }\` to ${q(u.id)}`,
        uncovered.map((j) => ({ message: `${q(j.id)} requires consent for marketing`, span: at(j.origin, ["marketing_requires_consent"]) }))));
    }
    for (const j of p.jurisdictions.values()) {
      const bases = u.lawfulBasis.get(j.id) ?? [];
      if (bases.includes("consent") && !(u.consent && covers(u.consent.jurisdictions, j.id))) {
        report(diag("WP3033", "error", `purpose ${q(u.id)} relies on consent in ${q(j.id)} but never checks it`, at(u.origin, ["lawful_basis", j.id]),
          `add a \`consent:\` block covering ${q(j.id)}, so a customer without consent is never contacted`));
      }
    }
    if (u.category === "marketing") {
      const ages = [...p.jurisdictions.values()].filter((j) => j.minimumMarketingAge !== undefined);
      if (ages.length > 0 && u.restrictions.length === 0) {
        report(diag("WP3034", "error", `marketing purpose ${q(u.id)} has no restriction protecting minors`, at(u.origin, [], "key"),
          `${list(ages.map((j) => j.id))} set a minimum marketing age; add a restriction such as \`when: customer.age < 18\``));
      }
    }
  }
}

function checkReview({ p, report, at }: CheckContext): void {
  for (const n of p.nodes) {
    if (n.risk === "high" && !n.review) {
      report(diag("WP3040", "error", `high-risk node ${q(n.id)} has no human review`, at(n.origin, ["risk"]), "add `review: { team: ..., reason: ... }`: high-risk actions go to a person before they are sent"));
    }
    if (n.risk !== "high" && n.review) {
      report(diag("WP3041", "warning", `node ${q(n.id)} has a \`review\` block but risk ${q(n.risk)}: only high-risk nodes are reviewed`, at(n.origin, ["review"], "key"), "set `risk: high` or remove `review`"));
    }
  }
}

function checkShares({ p, report, at }: CheckContext): void {
  for (const n of p.nodes) {
    if (n.rolloutBp > 10000) report(diag("WP3050", "error", `rollout ${n.rolloutBp / 100}% is more than 100%`, at(n.origin, ["rollout"]), "use a share from `0%` to `100%`"));
    if (n.rolloutBp === 0) report(diag("WP3052", "warning", `node ${q(n.id)} is rolled out to 0% of customers and never fires`, at(n.origin, ["rollout"]), "raise the rollout, or remove the node"));
    const x = n.experiment;
    if (!x) continue;
    if (x.holdoutBp > 10000) report(diag("WP3050", "error", `holdout ${x.holdoutBp / 100}% is more than 100%`, at(x.origin, ["holdout"]), "use a share from `0%` to `100%`"));
    else if (x.holdoutBp === 10000) report(diag("WP3052", "warning", `holdout 100% means nobody receives ${q(n.id)}`, at(x.origin, ["holdout"]), "lower the holdout"));
    for (const v of x.variants) if (v.weightBp > 10000) report(diag("WP3050", "error", `variant ${q(v.id)} has a weight over 100%`, at(x.origin, ["variants", v.id]), "use a share from `0%` to `100%`"));
    const sum = x.variants.reduce((a, v) => a + v.weightBp, 0);
    if (x.variants.length > 0 && sum !== 10000) {
      report(diag("WP3051", "error", `variant weights add up to ${sum / 100}%, not 100%`, at(x.origin, ["variants"]), "variant weights share out the treated customers; make them add up to exactly 100%"));
    }
  }
  // Universal holdouts (docs/ir.md "Holdouts"): a share, purposes that exist, and a salt of
  // their own: two groups with one salt hold out exactly the same customers.
  const salts = new Map<string, { what: string; span: Span }>();
  for (const n of p.nodes) if (n.experiment) salts.set(n.experiment.salt, { what: `the experiment of ${q(n.id)}`, span: at(n.experiment.origin, ["salt"]) });
  for (const h of p.holdouts) {
    if (h.shareBp > 10000) report(diag("WP3050", "error", `holdout ${q(h.id)} holds out ${h.shareBp / 100}%, more than 100%`, at(h.origin, ["share"]), "use a share from `0%` to `100%`"));
    else if (h.shareBp === 10000) report(diag("WP3052", "warning", `holdout ${q(h.id)} holds out 100%: nobody receives ${list(h.purposes)} messages`, at(h.origin, ["share"]), "lower the share"));
    h.purposes.forEach((u, i) => {
      if (p.purposes.has(u)) return;
      const guess = didYouMean(u, p.purposes.keys());
      report(diag("WP3010", "error", `holdout ${q(h.id)} names unknown purpose ${q(u)}`, at(h.origin, ["purposes", i]), guess ? `did you mean ${q(guess)}?` : "declare it under `purposes:`"));
    });
    const other = salts.get(h.salt);
    if (other) {
      report(diag("WP3093", "warning", `holdout ${q(h.id)} has the salt ${q(h.salt)} of ${other.what}: their control groups are the same customers`, at(h.origin, ["salt"]),
        "give each holdout and experiment its own salt", [{ message: "the same salt", span: other.span }]));
    } else salts.set(h.salt, { what: `holdout ${q(h.id)}`, span: at(h.origin, ["salt"]) });
  }
}

function checkActions({ p, report, at }: CheckContext): void {
  const a = p.access;
  for (const n of p.nodes) {
    const u = p.purposes.get(n.purpose);
    n.channels.forEach((ch, i) => {
      // Spans are found only for what is reported.
      const span = (): Span => at(n.origin, ["action", "channels", i]);
      if (a.channels.deny.includes(ch)) report(diag("WP3060", "error", `channel ${q(ch)} is on the deny-list`, span(), "pick another channel; deny beats allow", a.channels.origin ? [{ message: "denied here", span: at(a.channels.origin, ["deny"]) }] : undefined));
      else if (a.channels.allow && !a.channels.allow.includes(ch)) report(diag("WP3060", "error", `channel ${q(ch)} is not on the allow-list`, span(), `allowed channels: ${list(a.channels.allow)}`));
      const tid = n.templates.get(ch);
      if (tid === undefined) {
        report(diag("WP3063", "error", `node ${q(n.id)} sends on ${q(ch)} but names no template for it`, span(), `add \`${ch}: <template id>\` under \`action.templates\``));
        return;
      }
      const t = a.templates.get(tid);
      if (!t) return; // WP3013 already
      const tspan = (): Span => at(n.origin, ["action", "templates", ch]);
      if (t.denied) report(diag("WP3061", "error", `template ${q(tid)} is withdrawn (denied)`, tspan(), "use a current template", [{ message: "withdrawn here", span: at(t.origin, ["denied"]) }]));
      if (t.channel !== ch) report(diag("WP3061", "error", `template ${q(tid)} is a ${t.channel} template, used here for ${q(ch)}`, tspan(), `use a ${ch} template`));
      const rules = p.contact.channels.get(ch);
      if (rules?.maxLength !== undefined && t.length !== undefined && t.length > rules.maxLength) {
        report(diag("WP3064", "error", `template ${q(tid)} is up to ${t.length} characters; ${ch} allows ${rules.maxLength}`, tspan(), "shorten the template and update its `length`", [{ message: "the channel limit", span: at(rules.origin, ["max_length"]) }]));
      }
      const footer = rules?.optOutFooter;
      if ((footer === "required" || (footer === "marketing" && u?.category === "marketing")) && !t.optOutFooter) {
        report(diag("WP3065", "error", `template ${q(tid)} has no opt-out footer, which ${ch} ${footer === "marketing" ? "marketing " : ""}messages require`, tspan(), "add an unsubscribe footer to the template and set `opt_out_footer: true`"));
      }
    });
    for (const ch of n.templates.keys()) {
      if (!n.channels.includes(ch as (typeof CHANNELS)[number])) report(diag("WP3066", "warning", `template for ${q(ch)} is never used: ${q(ch)} is not in \`channels\``, at(n.origin, ["action", "templates", ch], "key"), `add ${q(ch)} to \`channels\` or remove the template`));
    }
    if (n.offer !== undefined) {
      const span = at(n.origin, ["action", "offer"]);
      if (a.offers.deny.includes(n.offer)) report(diag("WP3062", "error", `offer ${q(n.offer)} is on the deny-list`, span, "pick another offer"));
      else if (!a.offers.allow?.includes(n.offer)) report(diag("WP3062", "error", `offer ${q(n.offer)} is not on the allow-list`, span, a.offers.allow ? `allowed offers: ${list(a.offers.allow)}` : "add `offers: { allow: [...] }` to the AccessPolicy"));
    }
  }
}

/** The comparisons `fn(field) OP literal` where fn looks back in time, with the span looked back. */
function lookbacks(ast: Cond): { field: string; ms: number }[] {
  const out: { field: string; ms: number }[] = [];
  const perUnit: Record<string, number> = { days_since: 86_400_000, hours_since: 3_600_000, minutes_since: 60_000 };
  const walk = (e: Cond): void => {
    switch (e.kind) {
      case "and": case "or": e.args.forEach(walk); break;
      case "not": walk(e.arg); break;
      case "cmp": {
        for (const [call, lit] of [[e.left, e.right], [e.right, e.left]] as const) {
          if (call.kind !== "call" || call.args.length !== 1 || call.args[0]!.kind !== "field") continue;
          const field = (call.args[0] as { name: string }).name;
          if (call.name in perUnit && lit.kind === "number") out.push({ field, ms: Math.abs(lit.value) * perUnit[call.name]! });
          if (call.name === "since" && lit.kind === "duration") out.push({ field, ms: Math.abs(literalValue(lit) as number) });
        }
        break;
      }
      default: break;
    }
  };
  walk(ast);
  return out;
}

function checkRetentionAndResidency({ p, report, at }: CheckContext): void {
  const dict = p.dictionary;
  if (!dict) return;
  const memo = new Map<Cond, { field: string; ms: number }[]>();
  for (const site of p.conditions) {
    if (!site.ast) continue;
    let lbs = memo.get(site.ast);
    if (lbs === undefined) memo.set(site.ast, (lbs = lookbacks(site.ast)));
    for (const lb of lbs) {
      const f = dict.fields.get(lb.field);
      if (f?.retentionMs !== undefined && lb.ms > f.retentionMs) {
        report(diag("WP3070", "error", `this condition looks back ${formatDuration(lb.ms)} on ${q(f.name)}, past its retention of ${formatDuration(f.retentionMs)}`, site.span,
          `values older than ${formatDuration(f.retentionMs)} must not be used; compare with at most ${formatDuration(f.retentionMs)}`, [{ message: "retention is set here", span: at(f.origin, ["retention"]) }]));
      }
    }
  }
  // A node's systems are shared by the nodes of its purpose (systemsOf), and its implied fields
  // by the nodes of its scope: the implied fields some system may not process are found once per
  // scope and set of systems (10,000 nodes: a handful), and only they are judged per node.
  type System = ReturnType<typeof p.access.systems.get> & object;
  const inKnownRegions = new Map<readonly string[], System[]>();
  const misplaced = new Map<NodeScope, Map<System[], string[]>>();
  const outside = (name: string, systems: System[]): boolean => {
    const f = dict.fields.get(name);
    return f !== undefined && systems.some((s) => !f.residency.includes(s.region));
  };
  for (const n of p.nodes) {
    // Systems in an unknown region are reported as WP3014; judging residency against them only adds noise.
    const ids = systemsOf(p, n);
    let systems = inKnownRegions.get(ids);
    if (systems === undefined) inKnownRegions.set(ids, (systems = ids.map((id) => p.access.systems.get(id)!).filter((s) => p.jurisdictions.has(s.region))));
    if (systems.length === 0) continue;
    const scope = scopeOf(p, n);
    let byScope = misplaced.get(scope);
    if (byScope === undefined) misplaced.set(scope, (byScope = new Map()));
    let implied = byScope.get(systems);
    if (implied === undefined) byScope.set(systems, (implied = [...scope.implied.keys()].filter((name) => outside(name, systems!))));
    // The context (unique: the schema says so), then the implied fields it does not name.
    const fields = implied.length === 0 ? n.context : [...n.context, ...implied.filter((name) => !n.context.includes(name))];
    for (const name of fields) {
      const f = dict.fields.get(name);
      if (!f) continue;
      for (const s of systems) {
        if (f.residency.includes(s.region)) continue;
        const i = n.context.indexOf(name);
        const related: RelatedInfo[] = [{ message: `${q(s.id)} processes data in ${q(s.region)}`, span: at(s.origin, ["region"]) }, { message: "the field's residency", span: at(f.origin, ["residency"]) }];
        report(diag("WP3071", "error", `system ${q(s.id)} (${s.region}) may request ${q(n.id)}, which reads ${q(name)}, but that field may only be processed in ${list(f.residency)}`,
          i >= 0 ? at(n.origin, ["context", i]) : at(n.origin, ["purpose"]), `deny ${q(s.id)} this node, or stop reading ${q(name)}`, related));
      }
    }
  }
}

function checkArbitration({ p, report, at }: CheckContext): void {
  const seen = new Map<string, JourneyNode>();
  for (const n of [...p.nodes].sort((a, b) => (a.origin.doc.file.path < b.origin.doc.file.path ? -1 : 1))) {
    const key = `${n.event}\u0000${n.priority}`;
    const other = seen.get(key);
    if (other) {
      report(diag("WP3090", "warning", `${q(n.id)} and ${q(other.id)} both fire on ${q(n.event)} with priority ${n.priority}`, at(n.origin, ["priority"]),
        "give one of them a different priority so the winner is intended, not alphabetical", [{ message: `${q(other.id)}'s priority`, span: at(other.origin, ["priority"]) }]));
    } else seen.set(key, n);
    if (n.validFrom !== undefined && n.validUntil !== undefined && n.validFrom >= n.validUntil) {
      report(diag("WP3091", "error", `node ${q(n.id)} is valid from a date that is not before its end date`, at(n.origin, ["valid"]), "`valid.from` must be earlier than `valid.until`"));
    }
    if (p.access.systems.size > 0 && p.purposes.has(n.purpose) && systemsOf(p, n).length === 0) {
      report(diag("WP3092", "warning", `no system may request ${q(n.id)}, so it never fires`, at(n.origin, ["id"]), `allow its purpose ${q(n.purpose)} or the node for a system in the AccessPolicy`));
    }
  }
  // Declared arbitration (docs/ir.md "Arbitration"): an event a node fires on, and an effect.
  const byEvent = new Map<string, number>();
  for (const n of p.nodes) byEvent.set(n.event, (byEvent.get(n.event) ?? 0) + 1);
  for (const a of p.contact.arbitration.values()) {
    const count = byEvent.get(a.event);
    if (count === undefined) {
      const guess = didYouMean(a.event, byEvent.keys());
      report(diag("WP3098", "error", `arbitration for ${q(a.event)}, which no journey node fires on`, at(a.origin, [], "key"), guess ? `did you mean ${q(guess)}?` : "use the `trigger.event` of a journey node, or remove the entry"));
    } else if (a.fallback === "none" && a.on.length > 0) {
      report(diag("WP3099", "warning", `\`on\` has no effect with \`fallback: none\` for ${q(a.event)}`, at(a.origin, ["on"]), "set `fallback: next` to let the next node be tried after these blocks, or remove `on`"));
    } else if (a.fallback === "next" && a.on.length === 0) {
      report(diag("WP3099", "warning", `\`fallback: next\` for ${q(a.event)} names no block in \`on\`, so it never falls back`, at(a.origin, ["fallback"]), "list the blocks that may let the next node be tried, e.g. `on: [cap, consent, quiet-hours]`"));
    } else if (a.fallback === "next" && count === 1) {
      report(diag("WP3099", "warning", `only one journey node fires on ${q(a.event)}: there is no next node to fall back to`, at(a.origin, ["fallback"]), "remove the entry, or add the node that should take over"));
    }
  }
}

function checkContactPolicy({ p, report, at }: CheckContext): void {
  const c = p.contact;
  const dupIds = (items: { id: string; origin: Origin }[], what: string): void => {
    const seen = new Map<string, Origin>();
    for (const it of items) {
      const first = seen.get(it.id);
      if (first) report(diag("WP3001", "error", `duplicate ${what} \`${it.id}\``, at(it.origin, ["id"]), `${what} ids must be unique`, [{ message: "first defined here", span: at(first, ["id"]) }]));
      else seen.set(it.id, it.origin);
    }
  };
  dupIds(c.quietHours, "quiet-hours rule");
  dupIds(c.caps, "cap");
  dupIds(c.cooldowns, "cool-down");
  for (const qh of c.quietHours) {
    if (qh.fromMin === qh.toMin) report(diag("WP3094", "error", `quiet hours ${q(qh.id)} start and end at the same time`, at(qh.origin, ["to"]), "an empty window does nothing; fix `from` or `to`"));
  }
  for (const cap of c.caps) {
    if (cap.max === 0) report(diag("WP3095", "warning", `cap ${q(cap.id)} allows 0 messages: everything in its scope is suppressed`, at(cap.origin, ["max"]), "if you mean to stop a channel, deny it in the AccessPolicy instead"));
  }
}
