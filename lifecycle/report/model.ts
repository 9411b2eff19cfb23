/**
 * The report's model: what `waypost report` shows, as plain data built from the compiled
 * Program, the check diagnostics, `waypost test`'s results and `waypost prove`'s when given.
 * Everything is sorted and nothing depends on the clock or the machine, so the same sources
 * give the same model (and the same HTML bytes). Every entity carries `file:line`; the
 * renderer turns it into a link (lifecycle/report/links.ts).
 */
import { hasErrors, type Diagnostic } from "../../compiler/diagnostics.js";
import { spanAt, type DocPath } from "../../compiler/load.js";
import { compile } from "../../compiler/pipeline.js";
import { CHANNELS, covers, type AllOr, type Origin, type Program } from "../../compiler/program.js";
import { fieldMatches, nodeScope } from "../../compiler/scope.js";
import type { SourceFile } from "../../compiler/source-file.js";
import type { SourceHost } from "../../compiler/source.js";
import { formatDuration } from "../../compiler/units.js";
import { listSize } from "../../compiler/ir/compact-list.js";
import { runPolicyTests, type TestReport } from "../testing/index.js";

/** `file:line`, relative to the policy repository root. */
export type Ref = string;

export interface CondView {
  id?: string;
  /** The condition as written. */
  code: string;
  /** The same, read aloud (operators in words, lists named). */
  plain: string;
  description?: string;
  ref: Ref;
}

export interface ChannelView {
  channel: string;
  offsetMs: number;
  offset: string;
  template: string | null;
  /** Quiet hours that hold this channel back, as minutes of the local day. */
  quiet: { id: string; fromMin: number; toMin: number; ref: Ref }[];
}

export interface NodeView {
  id: string;
  title: string;
  owner: string;
  purpose: string;
  lawfulBasis: string;
  risk: string;
  priority: number;
  /** 1-based place in its event's arbitration order. */
  rank: number;
  trigger: CondView | null;
  eligibility: CondView[];
  channels: ChannelView[];
  caps: { id: string; text: string; ref: Ref }[];
  cooldowns: { id: string; text: string; ref: Ref }[];
  suppressedBy: { kind: "list" | "rule"; id: string; channels: string; ref: Ref }[];
  consent: { channel: string; field: string }[];
  experiment: { holdout: string; variants: { id: string; share: string }[]; salt: string; ref: Ref } | null;
  /** The universal holdouts of the node's purpose (docs/ir.md "Holdouts"). */
  holdouts: { id: string; share: string; salt: string; ref: Ref }[];
  /** The event's declared fallback (docs/ir.md "Arbitration"), or null: the first eligible node decides. */
  fallback: { on: string[]; ref: Ref } | null;
  rollout: string;
  valid: string | null;
  review: string | null;
  offer: string | null;
  explanation: string;
  ref: Ref;
}

export interface EventView {
  event: string;
  nodes: NodeView[];
}

export interface ConsentCell {
  purpose: string;
  channel: string;
  jurisdiction: string;
  basis: string[];
  /** Consent needed before this purpose may use this channel in this jurisdiction. */
  consent: boolean;
  maxAge: string | null;
  ref: Ref;
}

export interface ReportModel {
  title: string;
  revision: string | null;
  ok: boolean;
  channels: string[];
  jurisdictions: { id: string; marketingRequiresConsent: boolean; minimumAge: number | null; ref: Ref }[];
  purposes: { id: string; title: string; category: string; ref: Ref }[];
  events: EventView[];
  consent: ConsentCell[];
  suppression: {
    lists: { id: string; title: string; reason: string; match: string; channels: string; purposes: string; entries: number; ref: Ref }[];
    rules: { id: string; when: CondView; reason: string; channels: string; purposes: string; ref: Ref }[];
    /** purpose × channel → the lists and rules that can suppress it. */
    matrix: { purpose: string; channel: string; by: string[] }[];
  };
  access: {
    systems: { id: string; region: string; nodes: string[]; ref: Ref }[];
    fields: {
      name: string;
      category: string;
      sensitivity: string;
      residency: string[];
      retention: string | null;
      highRisk: boolean;
      ref: Ref;
      /** purpose → allowed, denied (deny wins) or absent. */
      purposes: { purpose: string; access: "allow" | "deny" | "none"; ref: Ref | null }[];
    }[];
  };
  quality: {
    diagnostics: { code: string; severity: string; message: string; ref: Ref | null }[];
    cases: { name: string; file: string; ok: boolean; outcome: string; node: string | null; channel: string | null; failures: string[]; ref: Ref }[];
    invariants: { id: string; ok: boolean; runs: number; applied: number; description: string; ref: Ref | null }[];
    coverage: { percent: number; covered: number; total: number; uncovered: { what: string; ref: Ref }[] } | null;
    seed: number;
    runs: number;
    prove: ProveResult[] | null;
  };
}

/** What `waypost prove` reports per guarantee (read from its JSON output when given). */
export interface ProveResult {
  id: string;
  status: "proved" | "refuted" | "unknown";
  statement: string;
  ref: Ref | null;
}

const sortBy = <T>(xs: T[], key: (x: T) => string): T[] => xs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** `file:line` of an origin (the key of the element, as diff does). */
export const refOf = (o: Origin, sub: DocPath = []): Ref => {
  const span = spanAt(o.doc, [...o.path, ...sub], "key");
  return `${o.doc.file.path}:${o.doc.file.position(span.start).line}`;
};

const spanRef = (files: ReadonlyMap<string, SourceFile>, span: { file: string; start: number } | undefined): Ref | null => {
  if (!span) return null;
  const f = files.get(span.file);
  return f ? `${span.file}:${f.position(span.start).line}` : span.file;
};

const scopeText = (a: AllOr | "all"): string => (a === "all" ? "all" : [...a].sort().join(", "));
const bp = (n: number): string => `${(n / 100).toFixed(n % 100 === 0 ? 0 : 2)}%`;

/** Conditions read aloud: the operators and built-ins a reviewer may not know. */
export function plainCondition(text: string): string {
  return text
    .replace(/\blist\("([^"]+)"\)/g, "the list “$1”")
    .replace(/\bdays_until\(([^)]+)\)/g, "days until $1")
    .replace(/\bdays_since\(([^)]+)\)/g, "days since $1")
    .replace(/\bsince\(([^)]+)\)/g, "time since $1")
    .replace(/\bexists\(([^)]+)\)/g, "$1 is present")
    .replace(/\s*==\s*/g, " is ")
    .replace(/\s*!=\s*/g, " is not ")
    .replace(/\s*>=\s*/g, " is at least ")
    .replace(/\s*<=\s*/g, " is at most ")
    .replace(/\s*>\s*/g, " is more than ")
    .replace(/\s*<\s*/g, " is less than ")
    .replace(/\bnot in\b/g, "is not in")
    .replace(/\s+/g, " ")
    .trim();
}

const cond = (site: { text: string; origin: Origin }, extra: { id?: string; description?: string } = {}): CondView => ({
  ...(extra.id !== undefined ? { id: extra.id } : {}),
  code: site.text,
  plain: plainCondition(site.text),
  ...(extra.description !== undefined ? { description: extra.description } : {}),
  ref: refOf(site.origin),
});

const rawAt = (o: Origin): Record<string, unknown> => {
  let v: unknown = o.doc.value;
  for (const seg of o.path) v = typeof v === "object" && v !== null ? (v as Record<string | number, unknown>)[seg] : undefined;
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
};

/** The policy views from a Program (no tests): journeys, consent, suppression, access. */
export function policyViews(p: Program): Omit<ReportModel, "title" | "revision" | "ok" | "quality"> {
  const channels = [...CHANNELS].sort();
  const jurisdictions = sortBy(
    [...p.jurisdictions.values()].map((j) => ({ id: j.id, marketingRequiresConsent: j.marketingRequiresConsent, minimumAge: j.minimumMarketingAge ?? null, ref: refOf(j.origin) })),
    (j) => j.id,
  );
  const purposes = sortBy([...p.purposes.values()].map((u) => ({ id: u.id, title: u.title, category: u.category, ref: refOf(u.origin) })), (u) => u.id);

  const byEvent = new Map<string, NodeView[]>();
  for (const n of p.nodes) {
    const s = nodeScope(p, n);
    const view: NodeView = {
      id: n.id,
      title: n.title,
      owner: n.owner,
      purpose: n.purpose,
      lawfulBasis: n.lawfulBasis,
      risk: n.risk,
      priority: n.priority,
      rank: 0,
      trigger: n.trigger ? cond(n.trigger) : null,
      eligibility: n.eligibility.map((e) => cond(e.when, { id: e.id, ...(e.description !== undefined ? { description: e.description } : {}) })),
      channels: n.channels.map((ch) => {
        const offsetMs = p.contact.offsetsMs.get(ch) ?? 0;
        return {
          channel: ch,
          offsetMs,
          offset: offsetMs === 0 ? "at once" : `+${formatDuration(offsetMs)}`,
          template: n.templates.get(ch) ?? null,
          quiet: s.quietHours.filter((q) => covers(q.channels, ch)).map((q) => ({ id: q.id, fromMin: q.fromMin, toMin: q.toMin, ref: refOf(q.origin) })),
        };
      }),
      caps: s.caps.map(({ cap }) => ({
        id: cap.id,
        text: `at most ${cap.max} per ${formatDuration(cap.perMs)}${cap.channel ? ` on ${cap.channel}` : ""}${cap.purpose ? ` for ${cap.purpose}` : ""}${cap.node ? ` from this node` : ""}`,
        ref: refOf(cap.origin),
      })),
      cooldowns: s.cooldowns.map((c) => ({ id: c.id, text: `none for ${formatDuration(c.forMs)} after ${c.after}`, ref: refOf(c.origin) })),
      suppressedBy: [
        ...s.lists.map((l) => ({ kind: "list" as const, id: l.list.id, channels: scopeText(l.channels), ref: refOf(l.list.origin) })),
        ...s.rules.map((r) => ({ kind: "rule" as const, id: r.rule.id, channels: scopeText(r.channels), ref: refOf(r.rule.origin) })),
      ],
      consent: s.consent.map((c) => ({ channel: c.channel, field: c.field })),
      experiment: n.experiment
        ? {
            holdout: bp(n.experiment.holdoutBp),
            variants: n.experiment.variants.map((v) => ({ id: v.id, share: bp(v.weightBp) })),
            salt: n.experiment.salt,
            ref: refOf(n.experiment.origin),
          }
        : null,
      holdouts: p.holdouts.filter((h) => h.purposes.includes(n.purpose)).map((h) => ({ id: h.id, share: bp(h.shareBp), salt: h.salt, ref: refOf(h.origin) })),
      fallback: ((a) => (a && a.fallback === "next" && a.on.length > 0 ? { on: [...a.on], ref: refOf(a.origin) } : null))(p.contact.arbitration.get(n.event)),
      rollout: bp(n.rolloutBp),
      valid:
        n.validFrom !== undefined || n.validUntil !== undefined
          ? `${n.validFrom !== undefined ? `from ${new Date(n.validFrom).toISOString()}` : ""}${n.validFrom !== undefined && n.validUntil !== undefined ? " " : ""}${n.validUntil !== undefined ? `until ${new Date(n.validUntil).toISOString()}` : ""}`
          : null,
      review: n.review ? `${n.review.team}: ${n.review.reason}` : null,
      offer: n.offer ?? null,
      explanation: n.explanation,
      ref: refOf(n.origin),
    };
    const list = byEvent.get(n.event) ?? [];
    list.push(view);
    byEvent.set(n.event, list);
  }
  // Arbitration order, as compiler/plan.ts orders candidates: priority first, then id.
  const events: EventView[] = [...byEvent.keys()].sort().map((event) => {
    const nodes = byEvent.get(event)!.sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : 1));
    nodes.forEach((n, i) => (n.rank = i + 1));
    return { event, nodes };
  });

  const consent: ConsentCell[] = [];
  for (const u of purposes) {
    const purpose = p.purposes.get(u.id)!;
    for (const j of jurisdictions) {
      for (const ch of channels) {
        const c = purpose.consent;
        const needed = c !== undefined && covers(c.channels, ch as never) && covers(c.jurisdictions, j.id);
        consent.push({
          purpose: u.id,
          channel: ch,
          jurisdiction: j.id,
          basis: [...(purpose.lawfulBasis.get(j.id) ?? [])].sort(),
          consent: needed,
          maxAge: needed && c!.maxAgeMs !== undefined ? formatDuration(c!.maxAgeMs) : null,
          ref: needed ? refOf(c!.origin) : refOf(purpose.origin, ["lawful_basis"]),
        });
      }
    }
  }

  const lists = sortBy(
    [...p.lists.values()].map((l) => ({
      id: l.id,
      title: l.title ?? "",
      reason: l.reason,
      match: l.match,
      channels: scopeText(l.scope.channels),
      purposes: scopeText(l.scope.purposes),
      entries: l.compact ? listSize(l.compact) : l.entries.size,
      ref: refOf(l.origin),
    })),
    (l) => l.id,
  );
  const rules = sortBy(
    p.rules.map((r) => ({ id: r.id, when: cond(r.when), reason: r.reason, channels: scopeText(r.scope.channels), purposes: scopeText(r.scope.purposes), ref: refOf(r.origin) })),
    (r) => r.id,
  );
  const matrix: ReportModel["suppression"]["matrix"] = [];
  for (const u of purposes) {
    for (const ch of channels) {
      const by = [
        ...[...p.lists.values()].filter((l) => covers(l.scope.purposes, u.id) && covers(l.scope.channels, ch as never)).map((l) => `list ${l.id}`),
        ...p.rules.filter((r) => covers(r.scope.purposes, u.id) && covers(r.scope.channels, ch as never)).map((r) => `rule ${r.id}`),
      ].sort();
      matrix.push({ purpose: u.id, channel: ch, by });
    }
  }

  const systems = sortBy(
    [...p.access.systems.values()].map((s) => ({
      id: s.id,
      region: s.region,
      // As compiler/plan.ts: allowed by purpose or node, unless denied by either (deny wins).
      nodes: p.nodes
        .filter((n) => (s.allow.purposes.includes(n.purpose) || s.allow.nodes.includes(n.id)) && !(s.deny.purposes.includes(n.purpose) || s.deny.nodes.includes(n.id)))
        .map((n) => n.id)
        .sort(),
      ref: refOf(s.origin),
    })),
    (s) => s.id,
  );
  const fields = sortBy(
    [...(p.dictionary?.fields.values() ?? [])].map((f) => {
      const raw = rawAt(f.origin);
      return {
        name: f.name,
        category: typeof raw["category"] === "string" ? raw["category"] : "",
        sensitivity: typeof raw["sensitivity"] === "string" ? raw["sensitivity"] : "",
        residency: [...f.residency].sort(),
        retention: f.retentionMs !== undefined ? formatDuration(f.retentionMs) : null,
        highRisk: f.highRisk,
        ref: refOf(f.origin),
        purposes: purposes.map((u) => {
          const deny = p.access.fieldsDeny.get(u.id);
          const allow = p.access.fieldsAllow.get(u.id);
          if (deny && deny.patterns.some((pat) => fieldMatches(pat, f.name))) return { purpose: u.id, access: "deny" as const, ref: refOf(deny.origin) };
          if (allow && allow.patterns.some((pat) => fieldMatches(pat, f.name))) return { purpose: u.id, access: "allow" as const, ref: refOf(allow.origin) };
          return { purpose: u.id, access: "none" as const, ref: null };
        }),
      };
    }),
    (f) => f.name,
  );
  return { channels, jurisdictions, purposes, events, consent, suppression: { lists, rules, matrix }, access: { systems, fields } };
}

const diagView = (files: ReadonlyMap<string, SourceFile>, d: Diagnostic): ReportModel["quality"]["diagnostics"][number] => ({
  code: d.code,
  severity: d.severity,
  message: d.message,
  ref: spanRef(files, d.span),
});

export interface ModelOptions {
  title?: string;
  /** Seed and runs of the invariant checks (fixed by default: the report must be reproducible). */
  seed?: number;
  runs?: number;
  /** Run `waypost test` (default true). */
  tests?: boolean;
  prove?: ProveResult[] | null;
}

/**
 * Builds the whole model of a policy repository. A repository with policy errors still gets
 * a report: the views it can show and the diagnostics that explain the rest.
 */
export async function buildReportModel(host: SourceHost, opts: ModelOptions = {}): Promise<ReportModel> {
  const state = await compile(host, { until: "Check" });
  const seed = opts.seed ?? 1;
  const runs = opts.runs ?? 200;
  const views = state.program ? policyViews(state.program) : policyViews(emptyProgram());
  let tests: TestReport | null = null;
  if (opts.tests !== false && !hasErrors(state.diagnostics)) tests = await runPolicyTests(host, { seed, runs });
  const files = new Map(state.files);
  for (const [k, v] of tests?.files ?? []) files.set(k, v);
  // Check diagnostics and test-file diagnostics, each once, in a stable order.
  const seen = new Set<string>();
  const diagnostics = [...state.diagnostics, ...(tests?.diagnostics ?? [])]
    .map((d) => diagView(files, d))
    .filter((d) => {
      const k = JSON.stringify(d);
      return seen.has(k) ? false : (seen.add(k), true);
    })
    .sort((a, b) => ((a.ref ?? "") < (b.ref ?? "") ? -1 : (a.ref ?? "") > (b.ref ?? "") ? 1 : a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  const cases = (tests?.cases ?? []).map((c) => ({
    name: c.name,
    file: c.file,
    ok: c.ok,
    outcome: c.decision.outcome,
    node: c.decision.node ?? null,
    channel: c.decision.channel ?? null,
    failures: c.failures.map((f) => f.message),
    ref: spanRef(files, c.span) ?? c.file,
  }));
  const invariants = sortBy(
    (tests?.invariants ?? []).map((i) => ({
      id: i.id,
      ok: i.ok,
      runs: i.runs,
      applied: i.applied,
      description: i.description,
      ref: i.file !== undefined ? spanRef(files, { file: i.file, start: i.offset ?? 0 }) : null,
    })),
    (i) => i.id,
  );
  const cov = tests?.coverage;
  const coverage = cov
    ? {
        percent: cov.percent,
        covered: cov.covered,
        total: cov.total,
        uncovered: [...cov.nodes.flatMap((n) => n.items), ...cov.outcomes]
          .filter((i) => !i.covered)
          .map((i) => ({ what: i.what, ref: i.source.replace(/:\d+$/, "") })),
      }
    : null;
  const okAll = !hasErrors(state.diagnostics) && (tests === null || (tests.cases.every((c) => c.ok) && tests.invariants.every((i) => i.ok) && !hasErrors(tests.diagnostics)));
  return {
    title: opts.title ?? "Waypost policy report",
    revision: tests?.revision ?? null,
    ok: okAll,
    ...views,
    quality: { diagnostics, cases, invariants, coverage, seed, runs, prove: opts.prove ?? null },
  };
}

function emptyProgram(): Program {
  return {
    jurisdictions: new Map(),
    purposes: new Map(),
    holdouts: [],
    lists: new Map(),
    rules: [],
    access: { systems: new Map(), fieldsAllow: new Map(), fieldsDeny: new Map(), channels: { deny: [] }, offers: { deny: [] }, templates: new Map(), valueLists: new Map() },
    contact: { arbitration: new Map(), offsetsMs: new Map(), quietHours: [], caps: [], cooldowns: [], channels: new Map() },
    nodes: [],
    conditions: [],
  };
}

/** Reads `waypost prove --format json` output: `{ guarantees: [{ id, status, statement, ref? }] }`. */
export function parseProveResults(text: string): ProveResult[] | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  const gs = (v as { guarantees?: unknown })?.guarantees;
  if (!Array.isArray(gs)) return "expected an object with a `guarantees` array";
  const out: ProveResult[] = [];
  for (const g of gs as Record<string, unknown>[]) {
    const status = g?.["status"];
    if (typeof g?.["id"] !== "string" || (status !== "proved" && status !== "refuted" && status !== "unknown")) return "each guarantee needs an `id` and a `status` of proved, refuted or unknown";
    out.push({ id: g["id"], status, statement: typeof g["statement"] === "string" ? g["statement"] : "", ref: typeof g["ref"] === "string" ? g["ref"] : null });
  }
  return sortBy(out, (g) => g.id);
}
