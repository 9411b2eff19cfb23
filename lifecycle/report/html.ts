/**
 * The report as one self-contained HTML file: inline CSS, a few lines of inline JS (a filter
 * box), SVG drawn here; no font, script or image is fetched, so it opens from a file, an
 * e-mail attachment or a CI artifact. The journey map's boxes are placed by dagre (a
 * deterministic layered layout, pure JS, synchronous); we draw the SVG ourselves with rounded
 * coordinates, so the same model always gives the same bytes.
 *
 * The same views serve `waypost diff --format html`: each entity may carry a change mark
 * (added, removed, changed), shown as a coloured edge and a text badge (never by colour alone).
 */
import dagre from "@dagrejs/dagre";
import { hrefOf, type LinkBase } from "./links.js";
import type { ChannelView, ConsentCell, NodeView, ReportModel } from "./model.js";

export type Mark = "added" | "removed" | "changed";

/** Change marks by entity key (`node:ID`, `consent:P/C/J`, `list:ID`...), and entities only the base has. */
export interface Marks {
  of: ReadonlyMap<string, Mark>;
  removed: Pick<ReportModel, "events" | "consent" | "suppression" | "access">;
}

export const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const n1 = (x: number): string => (Math.round(x * 10) / 10).toString();
const slug = (s: string): string => s.replace(/[^A-Za-z0-9_-]+/g, "-");

export class Html {
  constructor(
    readonly links: LinkBase,
    readonly marks: Marks | null = null,
    /** Where entities only the base has link to (its own commit). */
    readonly baseLinks: LinkBase = links,
  ) {}

  /** The renderer for an entity with mark `m`: a removed one links into the base. */
  at(m: Mark | null): Html {
    return m === "removed" && this.baseLinks !== this.links ? new Html(this.baseLinks, this.marks) : this;
  }

  src(ref: string | null): string {
    if (ref === null) return "";
    return `<a class="src" href="${esc(hrefOf(this.links, ref))}">${esc(ref)}</a>`;
  }

  mark(key: string): Mark | null {
    return this.marks?.of.get(key) ?? null;
  }

  badge(m: Mark | null): string {
    return m ? ` <span class="badge ${m}">${m}</span>` : "";
  }

  cls(m: Mark | null, base = ""): string {
    const c = [base, m ? `mark-${m}` : ""].filter(Boolean).join(" ");
    return c ? ` class="${c}"` : "";
  }
}

// ---------------------------------------------------------------------------------------------
// Journey map

const BOX_W = 200;
const BOX_H = 46;

/** The decision flow of one event: event → candidates in arbitration order → their channels. */
function flowSvg(h: Html, event: string, nodes: readonly NodeView[], removed: ReadonlySet<string>): string {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 46, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  g.setNode("event", { width: BOX_W, height: BOX_H });
  let prev = "event";
  for (const n of nodes) {
    g.setNode(`n:${n.id}`, { width: BOX_W, height: BOX_H });
    g.setEdge(prev, `n:${n.id}`, { label: prev === "event" ? "first" : "else" });
    prev = `n:${n.id}`;
    for (const c of n.channels) {
      g.setNode(`c:${n.id}:${c.channel}`, { width: 120, height: 34 });
      g.setEdge(`n:${n.id}`, `c:${n.id}:${c.channel}`, {});
    }
  }
  dagre.layout(g);
  const graph = g.graph();
  const w = Math.ceil(graph.width ?? 0);
  const ht = Math.ceil(graph.height ?? 0);
  const out: string[] = [];
  out.push(`<svg class="flow" role="group" aria-labelledby="flow-${slug(event)}-t" viewBox="0 0 ${w} ${ht}" width="${w}" height="${ht}">`);
  out.push(`<title id="flow-${slug(event)}-t">Decision flow for ${esc(event)}: ${nodes.map((n) => `${n.rank}. ${esc(n.id)} (${n.channels.map((c) => c.channel).join(", ")})`).join("; ")}</title>`);
  for (const e of g.edges()) {
    const pts = g.edge(e).points ?? [];
    const d = pts.map((p: { x: number; y: number }, i: number) => `${i ? "L" : "M"}${n1(p.x)} ${n1(p.y)}`).join(" ");
    out.push(`<path class="edge" d="${d}"/>`);
  }
  for (const id of g.nodes()) {
    const v = g.node(id);
    const x = n1(v.x - v.width / 2);
    const y = n1(v.y - v.height / 2);
    if (id === "event") {
      out.push(`<g class="box event"><rect x="${x}" y="${y}" width="${v.width}" height="${v.height}" rx="23"/><text x="${n1(v.x)}" y="${n1(v.y + 5)}" text-anchor="middle">${esc(event)}</text></g>`);
    } else if (id.startsWith("n:")) {
      const n = nodes.find((x) => `n:${x.id}` === id)!;
      const m = removed.has(n.id) ? "removed" : h.mark(`node:${n.id}`);
      out.push(
        `<a href="#node-${slug(n.id)}"><g class="box node risk-${n.risk}${m ? ` mark-${m}` : ""}"><rect x="${x}" y="${y}" width="${v.width}" height="${v.height}" rx="6"/>` +
          `<text x="${n1(v.x - v.width / 2 + 10)}" y="${n1(v.y - 4)}">${n.rank}. ${esc(n.id)}</text>` +
          `<text class="sub" x="${n1(v.x - v.width / 2 + 10)}" y="${n1(v.y + 13)}">${esc(n.purpose)} · priority ${n.priority}${m ? ` · ${m}` : ""}</text></g></a>`,
      );
    } else {
      const [, nodeId, ch] = id.split(":") as [string, string, string];
      const c = nodes.find((x) => x.id === nodeId)!.channels.find((x) => x.channel === ch)!;
      out.push(
        `<g class="box channel"><rect x="${x}" y="${y}" width="${v.width}" height="${v.height}" rx="17"/>` +
          `<text x="${n1(v.x)}" y="${n1(v.y + 5)}" text-anchor="middle">${esc(ch)} ${esc(c.offset)}</text></g>`,
      );
    }
  }
  out.push(`</svg>`);
  return out.join("\n");
}

const hh = (min: number): string => `${String(Math.floor(min / 60)).padStart(2, "0")}:${String(min % 60).padStart(2, "0")}`;

/** Send offsets on a timeline from the trigger, and each channel's quiet hours on a 24-hour clock. */
function timelineSvg(n: NodeView): string {
  const W = 560;
  const left = 70;
  const maxMs = Math.max(24 * 3600_000, ...n.channels.map((c) => c.offsetMs));
  const x = (ms: number): number => left + ((W - left - 20) * Math.sqrt(ms / maxMs));
  const rows = n.channels.length;
  const H = 34 + rows * 26;
  const out: string[] = [];
  out.push(`<svg class="timeline" role="img" aria-labelledby="tl-${slug(n.id)}-t" viewBox="0 0 ${W * 2} ${H}" width="${W * 2}" height="${H}">`);
  out.push(`<title id="tl-${slug(n.id)}-t">Send offsets after the trigger: ${n.channels.map((c) => `${c.channel} ${c.offset}`).join(", ")}; quiet hours: ${n.channels.flatMap((c) => c.quiet.map((q) => `${c.channel} ${hh(q.fromMin)}–${hh(q.toMin)}`)).join(", ") || "none"}</title>`);
  out.push(`<text class="axis" x="${left}" y="14">trigger</text><text class="axis" x="${W * 2 - 300}" y="14">local time of day (quiet hours shaded)</text>`);
  n.channels.forEach((c: ChannelView, i) => {
    const y = 30 + i * 26;
    out.push(`<text x="4" y="${y + 12}">${esc(c.channel)}</text>`);
    out.push(`<line class="track" x1="${left}" y1="${y + 8}" x2="${W - 20}" y2="${y + 8}"/>`);
    out.push(`<circle class="dot" cx="${n1(x(c.offsetMs))}" cy="${y + 8}" r="6"/><text class="axis" x="${n1(x(c.offsetMs) + 10)}" y="${y + 12}">${esc(c.offset)}</text>`);
    // 24-hour clock bar
    const cx0 = W + 40;
    const cw = W - 80;
    const cxAt = (min: number): number => cx0 + (cw * min) / 1440;
    out.push(`<rect class="day" x="${cx0}" y="${y}" width="${cw}" height="16"/>`);
    for (const q of c.quiet) {
      const spans = q.fromMin <= q.toMin ? [[q.fromMin, q.toMin]] : [[q.fromMin, 1440], [0, q.toMin]];
      for (const [a, b] of spans) out.push(`<rect class="quiet" x="${n1(cxAt(a!))}" y="${y}" width="${n1(cxAt(b!) - cxAt(a!))}" height="16"/>`);
    }
    for (const t of [0, 360, 720, 1080, 1440]) out.push(`<line class="tick" x1="${n1(cxAt(t))}" y1="${y + 16}" x2="${n1(cxAt(t))}" y2="${y + 20}"/>`);
    if (i === rows - 1) for (const t of [0, 360, 720, 1080, 1440]) out.push(`<text class="axis" x="${n1(cxAt(t) - 14)}" y="${y + 32}">${t === 1440 ? "24:00" : hh(t)}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n");
}

function nodeCard(h: Html, n: NodeView, forced: Mark | null = null): string {
  const m = forced ?? h.mark(`node:${n.id}`);
  const rows: string[] = [];
  const row = (k: string, v: string): void => void rows.push(`<tr><th scope="row">${k}</th><td>${v}</td></tr>`);
  row("Purpose", `${esc(n.purpose)} (lawful basis: ${esc(n.lawfulBasis)})`);
  row("Owner", esc(n.owner));
  row("Risk", esc(n.risk) + (n.review ? ` · review by ${esc(n.review)}` : ""));
  row("Arbitration", `${n.rank}. in order (priority ${n.priority})` + (n.fallback ? `; when blocked by ${esc(n.fallback.on.join(", "))}, the next node is tried ${h.src(n.fallback.ref)}` : ""));
  row("Trigger", n.trigger ? `<span class="plain">${esc(n.trigger.plain)}</span> <code>${esc(n.trigger.code)}</code> ${h.src(n.trigger.ref)}` : "every event of this kind");
  row(
    "Eligible when",
    n.eligibility.length
      ? `<ul>${n.eligibility.map((e) => `<li><b>${esc(e.id ?? "")}</b>: <span class="plain">${esc(e.description ?? e.plain)}</span> <code>${esc(e.code)}</code> ${h.src(e.ref)}</li>`).join("")}</ul>`
      : "always",
  );
  row("Channels", n.channels.map((c) => `${esc(c.channel)} ${esc(c.offset)}${c.template ? ` (template <code>${esc(c.template)}</code>)` : ""}`).join("; "));
  row("Consent needed", n.consent.length ? n.consent.map((c) => `${esc(c.channel)}: <code>${esc(c.field)}</code>`).join("; ") : "none");
  row("Caps", n.caps.length ? `<ul>${n.caps.map((c) => `<li><b>${esc(c.id)}</b>: ${esc(c.text)} ${h.src(c.ref)}</li>`).join("")}</ul>` : "none");
  row("Cool-downs", n.cooldowns.length ? `<ul>${n.cooldowns.map((c) => `<li><b>${esc(c.id)}</b>: ${esc(c.text)} ${h.src(c.ref)}</li>`).join("")}</ul>` : "none");
  row("Suppressed by", n.suppressedBy.length ? `<ul>${n.suppressedBy.map((s) => `<li>${s.kind} <b>${esc(s.id)}</b> (channels: ${esc(s.channels)}) ${h.src(s.ref)}</li>`).join("")}</ul>` : "nothing");
  row(
    "Experiment",
    n.experiment
      ? `holdout ${esc(n.experiment.holdout)}; ${n.experiment.variants.map((v) => `${esc(v.id)} ${esc(v.share)}`).join(", ") || "no variants"} (salt <code>${esc(n.experiment.salt)}</code>) ${h.src(n.experiment.ref)}`
      : "none",
  );
  if (n.holdouts.length) {
    row("Universal holdouts", n.holdouts.map((u) => `<b>${esc(u.id)}</b> ${esc(u.share)} (salt <code>${esc(u.salt)}</code>) ${h.src(u.ref)}`).join("; "));
  }
  row("Rollout", esc(n.rollout));
  if (n.valid) row("Valid", esc(n.valid));
  if (n.offer) row("Offer", `<code>${esc(n.offer)}</code>`);
  row("Explanation", esc(n.explanation));
  return `<article id="node-${slug(n.id)}" data-node="${esc(n.id)}"${h.cls(m, "node-card")}>
<h4>${n.rank}. ${esc(n.id)}: ${esc(n.title)}${h.badge(m)} ${h.src(n.ref)}</h4>
<table class="kv"><caption class="sr">Journey node ${esc(n.id)}</caption><tbody>${rows.join("")}</tbody></table>
<div class="scroll">${timelineSvg(n)}</div>
</article>`;
}

function journeyView(h: Html, m: ReportModel): string {
  const removedNodes = h.marks?.removed.events ?? [];
  const events = [...new Set([...m.events.map((e) => e.event), ...removedNodes.map((e) => e.event)])].sort();
  const out: string[] = [`<section id="journeys" aria-labelledby="journeys-h"><h2 id="journeys-h">Journey map</h2>`];
  out.push(`<p>Per triggering event, the candidate nodes in arbitration order (the first eligible one decides), with their channels and send offsets. Quiet hours are shaded on each channel's 24-hour clock.</p>`);
  for (const ev of events) {
    const nodes = m.events.find((e) => e.event === ev)?.nodes ?? [];
    const gone = removedNodes.find((e) => e.event === ev)?.nodes ?? [];
    const all = [...nodes, ...gone];
    out.push(`<section class="event-group" data-event="${esc(ev)}" aria-labelledby="ev-${slug(ev)}"><h3 id="ev-${slug(ev)}">Event <code>${esc(ev)}</code></h3>`);
    out.push(`<div class="scroll">${flowSvg(h, ev, all, new Set(gone.map((n) => n.id)))}</div>`);
    for (const n of nodes) out.push(nodeCard(h, n));
    for (const n of gone) out.push(nodeCard(h.at("removed"), n, "removed"));
    out.push(`</section>`);
  }
  if (!events.length) out.push(`<p>No journey nodes.</p>`);
  out.push(`</section>`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Consent matrix

function consentView(h: Html, m: ReportModel): string {
  const out: string[] = [`<section id="consent" aria-labelledby="consent-h"><h2 id="consent-h">Consent matrix</h2>`];
  out.push(`<p>Purpose × channel × jurisdiction: the permitted lawful bases, whether consent is needed before contact and its maximum age.</p>`);
  out.push(`<ul class="legend">${m.jurisdictions.map((j) => `<li><b>${esc(j.id)}</b>: marketing ${j.marketingRequiresConsent ? "requires" : "does not require"} consent${j.minimumAge !== null ? `, minimum age ${j.minimumAge}` : ""} ${h.src(j.ref)}</li>`).join("")}</ul>`);
  const cellsOf = (cells: readonly ConsentCell[]): Map<string, ConsentCell> => new Map(cells.map((c) => [`${c.purpose}/${c.channel}/${c.jurisdiction}`, c]));
  const cells = cellsOf(m.consent);
  const removed = cellsOf(h.marks?.removed.consent ?? []);
  const purposes = [...new Set([...m.purposes.map((p) => p.id), ...[...removed.values()].map((c) => c.purpose)])].sort();
  const jur = [...new Set([...m.jurisdictions.map((j) => j.id), ...[...removed.values()].map((c) => c.jurisdiction)])].sort();
  out.push(`<table class="matrix consent"><caption>Consent by purpose, channel and jurisdiction</caption><thead><tr><th scope="col">Purpose</th><th scope="col">Channel</th>${jur.map((j) => `<th scope="col">${esc(j)}</th>`).join("")}</tr></thead><tbody>`);
  for (const p of purposes) {
    const pm = m.purposes.find((x) => x.id === p);
    m.channels.forEach((ch, i) => {
      const tds = jur.map((j) => {
        const key = `${p}/${ch}/${j}`;
        const c = cells.get(key) ?? removed.get(key);
        if (!c) return `<td data-cell="${esc(key)}">—</td>`;
        const mk = cells.has(key) ? h.mark(`consent:${key}`) : "removed";
        const text = `${c.basis.length ? esc(c.basis.join(", ")) : "no basis"}<br>${c.consent ? `<b>consent needed</b>${c.maxAge ? ` (max age ${esc(c.maxAge)})` : ""}` : "no consent needed"}`;
        return `<td data-cell="${esc(key)}"${h.cls(mk, c.consent ? "needs" : "")}>${text}${h.badge(mk)} ${h.at(mk).src(c.ref)}</td>`;
      });
      out.push(`<tr>${i === 0 ? `<th scope="rowgroup" rowspan="${m.channels.length}">${esc(p)}${pm ? `<br><span class="sub">${esc(pm.category)}</span> ${h.src(pm.ref)}` : ""}</th>` : ""}<th scope="row">${esc(ch)}</th>${tds.join("")}</tr>`);
    });
  }
  out.push(`</tbody></table></section>`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Suppression and access

function suppressionView(h: Html, m: ReportModel): string {
  const s = m.suppression;
  const gone = h.marks?.removed.suppression ?? { lists: [], rules: [], matrix: [] };
  const out: string[] = [`<section id="suppression" aria-labelledby="suppression-h"><h2 id="suppression-h">Suppression and access</h2>`];
  out.push(`<h3>Suppression lists</h3><table class="list"><caption class="sr">Suppression lists</caption><thead><tr><th scope="col">List</th><th scope="col">Matches</th><th scope="col">Purposes</th><th scope="col">Channels</th><th scope="col">Entries</th><th scope="col">Reason</th></tr></thead><tbody>`);
  for (const [l, mk] of [...s.lists.map((l) => [l, h.mark(`list:${l.id}`)] as const), ...gone.lists.map((l) => [l, "removed" as const] as const)]) {
    out.push(`<tr data-list="${esc(l.id)}"${h.cls(mk)}><th scope="row">${esc(l.id)}${h.badge(mk)} ${h.at(mk).src(l.ref)}</th><td><code>${esc(l.match)}</code></td><td>${esc(l.purposes)}</td><td>${esc(l.channels)}</td><td>${l.entries}</td><td>${esc(l.reason)}</td></tr>`);
  }
  out.push(`</tbody></table>`);
  out.push(`<h3>Suppression rules</h3><table class="list"><caption class="sr">Suppression rules</caption><thead><tr><th scope="col">Rule</th><th scope="col">When</th><th scope="col">Purposes</th><th scope="col">Channels</th><th scope="col">Reason</th></tr></thead><tbody>`);
  for (const [r, mk] of [...s.rules.map((r) => [r, h.mark(`rule:${r.id}`)] as const), ...gone.rules.map((r) => [r, "removed" as const] as const)]) {
    out.push(`<tr data-rule="${esc(r.id)}"${h.cls(mk)}><th scope="row">${esc(r.id)}${h.badge(mk)} ${h.at(mk).src(r.ref)}</th><td><span class="plain">${esc(r.when.plain)}</span> <code>${esc(r.when.code)}</code></td><td>${esc(r.purposes)}</td><td>${esc(r.channels)}</td><td>${esc(r.reason)}</td></tr>`);
  }
  out.push(`</tbody></table>`);
  out.push(`<h3>What suppresses each purpose and channel</h3><table class="matrix"><caption class="sr">Suppression by purpose and channel</caption><thead><tr><th scope="col">Purpose</th>${m.channels.map((c) => `<th scope="col">${esc(c)}</th>`).join("")}</tr></thead><tbody>`);
  for (const p of m.purposes) {
    const tds = m.channels.map((c) => {
      const cell = s.matrix.find((x) => x.purpose === p.id && x.channel === c);
      const mk = h.mark(`suppress:${p.id}/${c}`);
      return `<td data-suppress="${esc(`${p.id}/${c}`)}"${h.cls(mk)}>${cell && cell.by.length ? esc(cell.by.join(", ")) : "—"}${h.badge(mk)}</td>`;
    });
    out.push(`<tr><th scope="row">${esc(p.id)}</th>${tds.join("")}</tr>`);
  }
  out.push(`</tbody></table>`);

  const a = m.access;
  const goneA = h.marks?.removed.access ?? { systems: [], fields: [] };
  out.push(`<h3 id="access">Which systems may ask for which nodes</h3><table class="list"><caption class="sr">Systems</caption><thead><tr><th scope="col">System</th><th scope="col">Region</th><th scope="col">Nodes it may ask for</th></tr></thead><tbody>`);
  for (const [sy, mk] of [...a.systems.map((x) => [x, h.mark(`system:${x.id}`)] as const), ...goneA.systems.map((x) => [x, "removed" as const] as const)]) {
    out.push(`<tr data-system="${esc(sy.id)}"${h.cls(mk)}><th scope="row">${esc(sy.id)}${h.badge(mk)} ${h.at(mk).src(sy.ref)}</th><td>${esc(sy.region)}</td><td>${sy.nodes.length ? sy.nodes.map((n) => `<a href="#node-${slug(n)}">${esc(n)}</a>`).join(", ") : "none"}</td></tr>`);
  }
  out.push(`</tbody></table>`);
  out.push(`<h3>Which purposes may read which fields</h3><p>Deny wins over allow. Fields not allowed for a purpose are never sent to its journeys.</p>`);
  out.push(`<div class="scroll" tabindex="0" role="region" aria-label="Field access by purpose (scrolls sideways)"><table class="matrix fields"><caption class="sr">Field access by purpose</caption><thead><tr><th scope="col">Field</th><th scope="col">Privacy category</th><th scope="col">Sensitivity</th><th scope="col">Residency</th><th scope="col">Retention</th>${m.purposes.map((p) => `<th scope="col">${esc(p.id)}</th>`).join("")}</tr></thead><tbody>`);
  for (const [f, mk] of [...a.fields.map((x) => [x, h.mark(`field:${x.name}`)] as const), ...goneA.fields.map((x) => [x, "removed" as const] as const)]) {
    const tds = m.purposes.map((p) => {
      const acc = f.purposes.find((x) => x.purpose === p.id);
      const v = acc?.access ?? "none";
      return `<td class="acc-${v}">${v === "allow" ? "allowed" : v === "deny" ? "<b>denied</b>" : "—"}${acc?.ref ? ` ${h.at(mk).src(acc.ref)}` : ""}</td>`;
    });
    out.push(`<tr data-field="${esc(f.name)}"${h.cls(mk)}><th scope="row"><code>${esc(f.name)}</code>${f.highRisk ? ` <span class="badge risk">high risk</span>` : ""}${h.badge(mk)} ${h.at(mk).src(f.ref)}</th><td>${esc(f.category)}</td><td>${esc(f.sensitivity)}</td><td>${esc(f.residency.join(", "))}</td><td>${esc(f.retention ?? "—")}</td>${tds.join("")}</tr>`);
  }
  out.push(`</tbody></table></div></section>`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Quality

function qualityView(h: Html, m: ReportModel): string {
  const q = m.quality;
  const out: string[] = [`<section id="quality" aria-labelledby="quality-h"><h2 id="quality-h">Quality</h2>`];
  const failed = q.cases.filter((c) => !c.ok).length;
  out.push(`<p class="summary">${q.cases.length} test cases, ${failed} failed; ${q.invariants.length} invariants, ${q.invariants.filter((i) => !i.ok).length} failed (seed ${q.seed}, ${q.runs} generated requests each)${q.coverage ? `; coverage ${q.coverage.percent}% (${q.coverage.covered} of ${q.coverage.total})` : ""}; ${q.diagnostics.length} diagnostics.</p>`);
  out.push(`<h3>Diagnostics from check</h3>`);
  if (q.diagnostics.length) {
    out.push(`<table class="list"><caption class="sr">Diagnostics</caption><thead><tr><th scope="col">Code</th><th scope="col">Severity</th><th scope="col">Message</th><th scope="col">Where</th></tr></thead><tbody>`);
    for (const d of q.diagnostics) out.push(`<tr class="sev-${esc(d.severity)}"><td>${esc(d.code)}</td><td>${esc(d.severity)}</td><td>${esc(d.message)}</td><td>${h.src(d.ref)}</td></tr>`);
    out.push(`</tbody></table>`);
  } else out.push(`<p>No diagnostics.</p>`);
  out.push(`<h3>Guarantees from prove</h3>`);
  if (q.prove === null) out.push(`<p>No prove results were given (<code>waypost report --prove FILE</code>).</p>`);
  else {
    out.push(`<table class="list"><caption class="sr">Guarantees</caption><thead><tr><th scope="col">Guarantee</th><th scope="col">Status</th><th scope="col">Statement</th></tr></thead><tbody>`);
    for (const g of q.prove) out.push(`<tr class="st-${g.status}"><th scope="row">${esc(g.id)} ${h.src(g.ref)}</th><td>${g.status}</td><td>${esc(g.statement)}</td></tr>`);
    out.push(`</tbody></table>`);
  }
  out.push(`<h3>Test cases</h3>`);
  if (q.cases.length) {
    out.push(`<table class="list"><caption class="sr">Test cases</caption><thead><tr><th scope="col">Case</th><th scope="col">Result</th><th scope="col">Decision</th></tr></thead><tbody>`);
    for (const c of q.cases) {
      out.push(`<tr data-case="${esc(c.name)}" class="${c.ok ? "pass" : "fail"}"><th scope="row">${esc(c.name)} ${h.src(c.ref)}</th><td>${c.ok ? "passed" : `<b>failed</b>: ${esc(c.failures.join("; "))}`}</td><td>${esc(c.outcome)}${c.node ? ` · ${esc(c.node)}` : ""}${c.channel ? ` · ${esc(c.channel)}` : ""}</td></tr>`);
    }
    out.push(`</tbody></table>`);
  } else out.push(`<p>No test cases ran${m.ok ? "" : " (the policies have errors)"}.</p>`);
  out.push(`<h3>Invariants</h3>`);
  if (q.invariants.length) {
    out.push(`<table class="list"><caption class="sr">Invariants</caption><thead><tr><th scope="col">Invariant</th><th scope="col">Result</th><th scope="col">Description</th></tr></thead><tbody>`);
    for (const i of q.invariants) out.push(`<tr class="${i.ok ? "pass" : "fail"}"><th scope="row">${esc(i.id)} ${h.src(i.ref)}</th><td>${i.ok ? "held" : "<b>failed</b>"} (${i.applied} of ${i.runs} applied)</td><td>${esc(i.description)}</td></tr>`);
    out.push(`</tbody></table>`);
  }
  if (q.coverage && q.coverage.uncovered.length) {
    out.push(`<h3>Not covered by any test case</h3><ul>${q.coverage.uncovered.map((u) => `<li>${esc(u.what)} ${h.src(u.ref)}</li>`).join("")}</ul>`);
  }
  out.push(`</section>`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The page

const CSS = `
:root{--fg:#1b1f24;--muted:#4d5561;--line:#c9d1d9;--bg:#fff;--alt:#f5f7f9;--link:#0b57d0;--add:#e6f4ea;--add-e:#137333;--rem:#fce8e6;--rem-e:#a50e0e;--chg:#fef7e0;--chg-e:#7a5a00}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px;border-bottom:1px solid var(--line);background:var(--alt)}header h1{margin:0 0 4px;font-size:22px}
nav{position:sticky;top:0;z-index:2;background:var(--bg);border-bottom:1px solid var(--line);padding:8px 24px}nav ul{list-style:none;margin:0;padding:0;display:flex;gap:18px;flex-wrap:wrap}
main{padding:8px 24px 48px;max-width:1400px}a{color:var(--link)}h2{margin-top:32px;border-bottom:2px solid var(--line);padding-bottom:4px}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace;background:var(--alt);padding:1px 4px;border-radius:3px}
.src{font:12px ui-monospace,monospace;white-space:nowrap}.sub{color:var(--muted);font-size:12px}.plain{font-style:italic}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}thead th{background:var(--alt)}
table.kv th{width:150px;background:var(--alt)}table.kv ul{margin:0;padding-left:18px}
.matrix td{font-size:12.5px}.needs{background:#eef3fd}.acc-deny{background:#fce8e6}.acc-allow{background:#e6f4ea}
.node-card{border:1px solid var(--line);border-radius:6px;padding:4px 12px;margin:12px 0}.node-card h4{margin:8px 0}
.scroll{overflow-x:auto}svg text{font:12px system-ui,sans-serif;fill:var(--fg)}svg .sub{fill:var(--muted);font-size:11px}svg .axis{fill:var(--muted);font-size:11px}
.edge{fill:none;stroke:#6e7781;stroke-width:1.5}.box rect{fill:#fff;stroke:#57606a;stroke-width:1.5}.event rect{fill:#ddf4ff}.channel rect{fill:#f6f8fa}
.risk-high rect{stroke:#a50e0e;stroke-width:2.5}.risk-medium rect{stroke:#7a5a00;stroke-width:2}
.track{stroke:var(--line);stroke-width:2}.dot{fill:var(--link)}.day{fill:#fff8c5;stroke:var(--line)}.quiet{fill:#30363d;opacity:.55}.tick{stroke:var(--muted)}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:0 6px;border-radius:9px;border:1px solid currentColor;text-transform:uppercase}
.badge.added{color:var(--add-e)}.badge.removed{color:var(--rem-e)}.badge.changed{color:var(--chg-e)}.badge.risk{color:var(--rem-e)}
.mark-added{background:var(--add);box-shadow:inset 4px 0 var(--add-e)}.mark-removed{background:var(--rem);box-shadow:inset 4px 0 var(--rem-e)}.mark-changed{background:var(--chg);box-shadow:inset 4px 0 var(--chg-e)}
.mark-removed h4,tr.mark-removed th{text-decoration:line-through}g.mark-added rect{fill:var(--add);stroke:var(--add-e)}g.mark-removed rect{fill:var(--rem);stroke:var(--rem-e)}g.mark-changed rect{fill:var(--chg);stroke:var(--chg-e)}
tr.fail,tr.sev-error{background:var(--rem)}tr.sev-warning{background:var(--chg)}.summary{font-weight:600}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}.warn{border:2px solid var(--rem-e);background:var(--rem);padding:8px 12px;border-radius:6px}
#filter{margin-left:auto}label{font-size:13px}pre{background:var(--alt);padding:8px;overflow:auto;font-size:12px}
`;

/** Hides node cards, table rows and matrix rows whose text does not contain the filter. */
const JS = `
(function(){var f=document.getElementById('filter-input');if(!f)return;f.addEventListener('input',function(){var q=f.value.toLowerCase();
document.querySelectorAll('article.node-card, tbody tr').forEach(function(e){e.hidden=q!==''&&e.textContent.toLowerCase().indexOf(q)<0;});});})();
`;

export function page(title: string, subtitle: string, nav: [string, string][], body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1><p class="sub">${subtitle}</p></header>
<nav aria-label="Views"><ul>${nav.map(([id, t]) => `<li><a href="#${id}">${esc(t)}</a></li>`).join("")}<li id="filter"><label>Filter <input id="filter-input" type="search"></label></li></ul></nav>
<main>
${body}
</main>
<script>${JS}</script>
</body>
</html>
`;
}

export const VIEWS_NAV: [string, string][] = [
  ["journeys", "Journey map"],
  ["consent", "Consent matrix"],
  ["suppression", "Suppression and access"],
  ["quality", "Quality"],
];

/** The four views of a model (marked for a diff when `h` has marks). */
export function views(h: Html, m: ReportModel, quality = true): string {
  return [journeyView(h, m), consentView(h, m), suppressionView(h, m), quality ? qualityView(h, m) : ""].join("\n");
}

export function renderReportHtml(m: ReportModel, links: LinkBase): string {
  const h = new Html(links);
  const sub = `${m.revision ? `Revision <code>${esc(m.revision)}</code> · ` : ""}${m.events.reduce((a, e) => a + e.nodes.length, 0)} journey nodes, ${m.purposes.length} purposes, ${m.jurisdictions.length} jurisdictions · ${m.ok ? "all checks and tests pass" : "<b>checks or tests fail: see Quality</b>"}`;
  return page(m.title, sub, VIEWS_NAV, views(h, m));
}
