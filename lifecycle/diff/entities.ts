/**
 * The semantic diff by entity: what a reviewer needs to read instead of a YAML text diff.
 *
 * Two extractors produce the same shape, so either side of a diff may be a Git revision or a
 * bundle file:
 *  - from sources (`entitiesFromSources`): each policy element (a journey node, a suppression
 *    list, a consent rule, a system's allow-list, a cap...) with its document and path, so every
 *    changed value points at its `file:line`;
 *  - from a bundle (`entitiesFromPlan`): the compiled plan, whose reasons carry `file:line:col`
 *    of the rule they come from. Conditions are compiled into policy.wasm, so this view shows
 *    which gates and conditions a node has, not their text.
 * When either side is a bundle both sides use the plan view, so like is compared with like.
 */
import type { BundleData, JsonValue, Plan } from "../../compiler/ir/ir.js";
import { isCompactList, keyDigest, listEntries } from "../../compiler/ir/compact-list.js";
import { spanAt, type DocPath, type LoadedDocument } from "../../compiler/load.js";
import type { Program } from "../../compiler/program.js";
import type { ValidDocument } from "../../compiler/validate.js";

export type EntityKind =
  | "node"
  | "suppression-list"
  | "suppression-rule"
  | "purpose"
  | "consent"
  | "jurisdiction"
  | "system"
  | "field-access"
  | "channels"
  | "offers"
  | "template"
  | "value-list"
  | "cap"
  | "quiet-hours"
  | "cool-down"
  | "send-offsets"
  | "channel-rules"
  | "field"
  | "dictionary-keys";

export interface Entity {
  kind: EntityKind;
  id: string;
  /** Compared as canonical JSON; list entries are compared separately. */
  value: JsonValue;
  /** `file:line` of the entity. */
  ref: string;
  /** `file:line` of a property path inside the entity (falls back to the entity). */
  refOf(path: readonly (string | number)[]): string;
  /** Suppression lists: key -> expiry or null. */
  entries?: ReadonlyMap<string, string | null>;
  /** `entries` are a compact list's digests (compiler/ir/compact-list.ts), not its keys. */
  digests?: boolean;
  /** For risk call-outs. */
  risk?: "low" | "medium" | "high";
}

export interface PropertyChange {
  path: string;
  before?: string;
  after?: string;
  ref: string;
}

export interface EntityChange {
  kind: EntityKind;
  id: string;
  change: "added" | "removed" | "modified";
  ref: string;
  properties: PropertyChange[];
  /** Suppression lists: entries added / removed / with a changed expiry (counted, not listed). */
  entries?: { added: number; removed: number; expiry_changed: number };
}

const lineRef = (d: LoadedDocument, path: DocPath): string => {
  const span = spanAt(d, path, "key");
  const p = d.file.position(span.start);
  return `${d.file.path}:${p.line}`;
};

const obj = (v: unknown): Record<string, unknown> => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const json = (v: unknown): JsonValue => (v === undefined ? null : (JSON.parse(JSON.stringify(v)) as JsonValue));

/** Every entity of a compiled program, keyed `kind:id`. */
export function entitiesFromSources(documents: readonly ValidDocument[], program: Program): Map<string, Entity> {
  const out = new Map<string, Entity>();
  const add = (kind: EntityKind, id: string, doc: ValidDocument, path: DocPath, value: unknown, extra: Partial<Entity> = {}): void => {
    out.set(`${kind}:${id}`, {
      kind,
      id,
      value: json(value),
      ref: lineRef(doc, path),
      refOf: (sub) => lineRef(doc, [...path, ...sub]),
      ...extra,
    });
  };
  for (const d of documents) {
    const v = obj(d.value);
    switch (d.kind) {
      case "JourneyNode": {
        const { apiVersion: _a, kind: _k, ...rest } = v;
        add("node", String(v["id"]), d, [], rest, { risk: (v["risk"] as Entity["risk"]) ?? "low" });
        break;
      }
      case "Suppressions":
        arr(v["lists"]).forEach((l, i) => {
          const id = String(obj(l)["id"]);
          const { entries: _e, entries_file: _f, ...rest } = obj(l);
          const list = program.lists.get(id);
          add("suppression-list", id, d, ["lists", i], rest, list ? (list.compact ? { entries: listEntries(list.compact), digests: true } : { entries: list.entries }) : {});
        });
        arr(v["rules"]).forEach((r, i) => add("suppression-rule", String(obj(r)["id"]), d, ["rules", i], r));
        break;
      case "Purposes":
        for (const [id, p] of Object.entries(obj(v["purposes"]))) {
          const { consent, ...rest } = obj(p);
          add("purpose", id, d, ["purposes", id], rest);
          if (consent !== undefined) add("consent", id, d, ["purposes", id, "consent"], consent);
        }
        for (const [id, j] of Object.entries(obj(v["jurisdictions"]))) add("jurisdiction", id, d, ["jurisdictions", id], j);
        break;
      case "AccessPolicy":
        for (const [id, s] of Object.entries(obj(v["systems"]))) add("system", id, d, ["systems", id], s);
        for (const which of ["allow", "deny"]) {
          for (const [purpose, pats] of Object.entries(obj(obj(v["fields"])[which]))) add("field-access", `${which}:${purpose}`, d, ["fields", which, purpose], pats);
        }
        if (v["channels"] !== undefined) add("channels", "channels", d, ["channels"], v["channels"]);
        if (v["offers"] !== undefined) add("offers", "offers", d, ["offers"], v["offers"]);
        for (const [id, t] of Object.entries(obj(v["templates"]))) add("template", id, d, ["templates", id], t);
        for (const [id, l] of Object.entries(obj(v["lists"]))) add("value-list", id, d, ["lists", id], l);
        break;
      case "ContactPolicy":
        arr(v["caps"]).forEach((c, i) => add("cap", String(obj(c)["id"]), d, ["caps", i], c));
        arr(v["quiet_hours"]).forEach((q, i) => add("quiet-hours", String(obj(q)["id"]), d, ["quiet_hours", i], q));
        arr(v["cooldowns"]).forEach((c, i) => add("cool-down", String(obj(c)["id"]), d, ["cooldowns", i], c));
        if (v["offsets"] !== undefined) add("send-offsets", "offsets", d, ["offsets"], v["offsets"]);
        for (const [ch, c] of Object.entries(obj(v["channels"]))) add("channel-rules", ch, d, ["channels", ch], c);
        break;
      case "DataDictionary":
        for (const [name, f] of Object.entries(obj(v["fields"]))) add("field", name, d, ["fields", name], f);
        if (v["keys"] !== undefined) add("dictionary-keys", "keys", d, ["keys"], v["keys"]);
        break;
    }
  }
  return out;
}

/** `file:line` of a plan source reference (`file:line:col`). */
const planRef = (source: string): string => source.replace(/:\d+$/, "");

/** Every entity visible in a bundle's data.json. */
export function entitiesFromPlan(data: BundleData): Map<string, Entity> {
  const out = new Map<string, Entity>();
  const plan: Plan = data.plan;
  const add = (kind: EntityKind, id: string, source: string, value: unknown, extra: Partial<Entity> = {}): void => {
    const ref = planRef(source);
    out.set(`${kind}:${id}`, { kind, id, value: json(value), ref, refOf: () => ref, ...extra });
  };
  const systemsOf = (node: string): string[] => Object.keys(plan.systems).filter((s) => plan.systems[s]!.includes(node)).sort();
  for (const n of plan.nodes) {
    add("node", n.id, n.source, {
      title: n.title,
      purpose: n.purpose,
      lawful_basis: n.lawful_basis,
      event: n.event,
      priority: n.priority,
      risk: n.risk,
      valid_from: n.valid_from,
      valid_until: n.valid_until,
      rollout_bp: n.rollout_bp,
      required: n.required,
      // Condition text lives in policy.wasm: compare which rules apply, not how they read.
      conditions: n.conditions.map((c) => `${c.kind} ${c.reason.policy}`),
      gates: n.gates.map((g) => `${g.step}${g.channel ? `[${g.channel}]` : ""} ${g.outcome} ${g.reason.policy}`),
      channels: n.channels,
      templates: n.templates,
      offer: n.offer,
      experiment: n.experiment,
      explanation: n.explanation,
      review: n.review_reason?.message ?? null,
      systems: systemsOf(n.id),
    }, { risk: n.risk });
  }
  for (const [id, l] of Object.entries(plan.lists)) {
    const entries = listEntries(data.lists[id]);
    add(l.kind === "suppression" ? "suppression-list" : "value-list", id, l.reason.source, { match: l.match, reason: l.reason.message, ...(l.missing ? { missing: l.missing } : {}) }, l.kind === "suppression" ? { entries, ...(isCompactList(data.lists[id]) ? { digests: true } : {}) } : {});
  }
  for (const q of plan.quiet_hours) add("quiet-hours", q.reason.policy.replace(/^.*\//, ""), q.reason.source, { start_min: q.start_min, end_min: q.end_min, channels: q.channels });
  add("send-offsets", "offsets", "data.json", plan.offsets_ms);
  for (const [name, f] of Object.entries(plan.fields)) add("field", name, "data.json", f);
  add("dictionary-keys", "keys", "data.json", plan.keys);
  return out;
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "object" && x !== null && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x,
  );

const show = (v: unknown): string => {
  const s = typeof v === "string" ? v : canonical(v);
  return s.length > 100 ? s.slice(0, 97) + "..." : s;
};

/** Leaf-level differences: objects by key, arrays as whole values (a reordered list is a change). */
function diffValues(a: unknown, b: unknown, path: (string | number)[], out: { path: (string | number)[]; before?: unknown; after?: unknown }[]): void {
  if (canonical(a) === canonical(b)) return;
  const oa = typeof a === "object" && a !== null && !Array.isArray(a);
  const ob = typeof b === "object" && b !== null && !Array.isArray(b);
  if (oa && ob) {
    const ka = a as Record<string, unknown>;
    const kb = b as Record<string, unknown>;
    for (const k of [...new Set([...Object.keys(ka), ...Object.keys(kb)])].sort()) diffValues(ka[k], kb[k], [...path, k], out);
    return;
  }
  out.push({ path, ...(a !== undefined ? { before: a } : {}), ...(b !== undefined ? { after: b } : {}) });
}

const KIND_ORDER: EntityKind[] = [
  "node", "suppression-list", "suppression-rule", "consent", "purpose", "system", "field-access", "channels", "offers",
  "cap", "quiet-hours", "cool-down", "send-offsets", "channel-rules", "template", "value-list", "jurisdiction", "field", "dictionary-keys",
];

/** The changes from `base` to `head`, by kind (nodes first), then id. */
export function diffEntities(base: ReadonlyMap<string, Entity>, head: ReadonlyMap<string, Entity>): EntityChange[] {
  const out: EntityChange[] = [];
  for (const key of [...new Set([...base.keys(), ...head.keys()])]) {
    const a = base.get(key);
    const b = head.get(key);
    if (a && !b) {
      out.push({ kind: a.kind, id: a.id, change: "removed", ref: a.ref, properties: [], ...(a.entries ? { entries: { added: 0, removed: a.entries.size, expiry_changed: 0 } } : {}) });
      continue;
    }
    if (!a && b) {
      out.push({ kind: b.kind, id: b.id, change: "added", ref: b.ref, properties: [], ...(b.entries ? { entries: { added: b.entries.size, removed: 0, expiry_changed: 0 } } : {}) });
      continue;
    }
    if (!a || !b) continue;
    const leaves: { path: (string | number)[]; before?: unknown; after?: unknown }[] = [];
    diffValues(a.value, b.value, [], leaves);
    const properties: PropertyChange[] = leaves.map((l) => ({
      path: l.path.join(".") || "(value)",
      ...(l.before !== undefined ? { before: show(l.before) } : {}),
      ...(l.after !== undefined ? { after: show(l.after) } : {}),
      // Removed properties exist only on the base side.
      ref: l.after === undefined ? a.refOf(l.path) : b.refOf(l.path),
    }));
    let entries: EntityChange["entries"];
    if (a.entries || b.entries) {
      // A compact list holds digests, not keys (docs/ir.md "Bundle data"): against a plain
      // one, compare the plain one's digests.
      const digested = (e: Entity, other: Entity): ReadonlyMap<string, string | null> =>
        e.entries && other.digests && !e.digests ? new Map([...e.entries].map(([k, v]) => [keyDigest(k), v])) : e.entries ?? new Map<string, string | null>();
      const ea = digested(a, b);
      const eb = digested(b, a);
      let added = 0;
      let removed = 0;
      let expiry = 0;
      for (const [k, v] of eb) {
        if (!ea.has(k)) added++;
        else if (ea.get(k) !== v) expiry++;
      }
      for (const k of ea.keys()) if (!eb.has(k)) removed++;
      if (added + removed + expiry > 0) entries = { added, removed, expiry_changed: expiry };
    }
    if (properties.length === 0 && !entries) continue;
    out.push({ kind: b.kind, id: b.id, change: "modified", ref: b.ref, properties, ...(entries ? { entries } : {}) });
  }
  return out.sort((x, y) => KIND_ORDER.indexOf(x.kind) - KIND_ORDER.indexOf(y.kind) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
}
