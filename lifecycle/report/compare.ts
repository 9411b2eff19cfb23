/**
 * The report's views of both sides of a diff, compared entity by entity, so the diff's HTML
 * can show the head's views with what was added, removed or changed marked (html.ts Marks).
 * `file:line` is left out of the comparison: an edit above an entity moves its lines without
 * changing it.
 */
import { compile } from "../../compiler/pipeline.js";
import type { SourceHost } from "../../compiler/source.js";
import type { Mark, Marks } from "./html.js";
import { policyViews, type ReportModel } from "./model.js";

export type Views = ReturnType<typeof policyViews>;

/** The views of a source tree (null when it does not parse). */
export async function viewsOf(host: SourceHost): Promise<Views | null> {
  const s = await compile(host, { until: "Check" });
  return s.program ? policyViews(s.program) : null;
}

const withoutRefs = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(withoutRefs)
    : typeof v === "object" && v !== null
      ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== "ref").map(([k, x]) => [k, withoutRefs(x)]))
      : v;

const keyed = (v: Views): Map<string, unknown> => {
  const m = new Map<string, unknown>();
  for (const e of v.events) for (const n of e.nodes) m.set(`node:${n.id}`, { ...n, event: e.event });
  for (const c of v.consent) m.set(`consent:${c.purpose}/${c.channel}/${c.jurisdiction}`, c);
  for (const l of v.suppression.lists) m.set(`list:${l.id}`, l);
  for (const r of v.suppression.rules) m.set(`rule:${r.id}`, r);
  for (const c of v.suppression.matrix) m.set(`suppress:${c.purpose}/${c.channel}`, c);
  for (const s of v.access.systems) m.set(`system:${s.id}`, s);
  for (const f of v.access.fields) m.set(`field:${f.name}`, f);
  return m;
};

/** Marks for the head's views, and what only the base has (shown struck through). */
export function compareViews(base: Views, head: Views): Marks {
  const b = keyed(base);
  const h = keyed(head);
  const of = new Map<string, Mark>();
  for (const [k, v] of h) {
    const old = b.get(k);
    if (old === undefined) of.set(k, "added");
    else if (JSON.stringify(withoutRefs(old)) !== JSON.stringify(withoutRefs(v))) of.set(k, "changed");
  }
  const gone = (k: string): boolean => !h.has(k);
  const removed: Marks["removed"] = {
    events: base.events.map((e) => ({ event: e.event, nodes: e.nodes.filter((n) => gone(`node:${n.id}`)) })).filter((e) => e.nodes.length > 0),
    consent: base.consent.filter((c) => gone(`consent:${c.purpose}/${c.channel}/${c.jurisdiction}`)),
    suppression: {
      lists: base.suppression.lists.filter((l) => gone(`list:${l.id}`)),
      rules: base.suppression.rules.filter((r) => gone(`rule:${r.id}`)),
      matrix: [],
    },
    access: { systems: base.access.systems.filter((s) => gone(`system:${s.id}`)), fields: base.access.fields.filter((f) => gone(`field:${f.name}`)) },
  };
  return { of, removed };
}

/** A model with the views of `v` and no quality section (the diff shows impact instead). */
export const viewsModel = (v: Views, title: string): ReportModel => ({
  title,
  revision: null,
  ok: true,
  ...v,
  quality: { diagnostics: [], cases: [], invariants: [], coverage: null, seed: 0, runs: 0, prove: null },
});
