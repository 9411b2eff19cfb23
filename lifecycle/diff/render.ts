/**
 * Renders a diff report: markdown for a pull-request comment, plain text for a terminal, JSON
 * for machines (the report itself), HTML for reviewers (the report's views of the head, marked). Widening changes and risk call-outs come first: they are
 * what a reviewer must not miss.
 */
import type { JsonValue } from "../../compiler/ir/ir.js";
import type { DiffReport, SideInfo } from "./index.js";
import type { FlipGroup, ImpactReport } from "./impact.js";
import { compareViews, viewsModel, type Views } from "../report/compare.js";
import { esc, Html, page, views as reportViews } from "../report/html.js";
import type { LinkBase } from "../report/links.js";

const short = (s: SideInfo): string =>
  s.kind === "git" ? `\`${s.spec}\` (${s.revision.slice(0, 12)}${s.commit ? `, ${s.commit.subject}` : ""})` : `\`${s.spec}\` (bundle, revision \`${s.revision}\`)`;

const entryText = (e: { added: number; removed: number; expiry_changed: number }): string =>
  [e.added ? `+${e.added} entr${e.added === 1 ? "y" : "ies"}` : "", e.removed ? `−${e.removed} entr${e.removed === 1 ? "y" : "ies"}` : "", e.expiry_changed ? `${e.expiry_changed} expir${e.expiry_changed === 1 ? "y" : "ies"} changed` : ""]
    .filter(Boolean)
    .join(", ");

const groupTitle = (g: FlipGroup): string => `${g.from} → ${g.to} · node \`${g.node ?? "none"}\` · channel \`${g.channel ?? "none"}\``;

const origins = (o: Partial<Record<string, number>>): string =>
  Object.entries(o)
    .map(([k, n]) => `${n} ${k === "generated" ? "generated" : k === "log" ? "logged" : k + (n === 1 ? "" : "s")}`)
    .join(", ");

const compact = (v: JsonValue): string => JSON.stringify(v);

export function impactSummary(i: ImpactReport): string {
  const total = Object.values(i.evaluated).reduce((a, b) => a + (b ?? 0), 0);
  return `${total} requests evaluated (${origins(i.evaluated) || "none"}): ${i.flipped} flipped (${i.widening} widening), ${i.minor} minor changes, ${i.unchanged} unchanged`;
}

/** What `--prove` established, per direction. */
function proofSummary(p: NonNullable<DiffReport["proof"]>): string {
  const dir = (d: "none" | "found" | "unknown", what: string): string => (d === "none" ? `no request ${what} (proved)` : d === "found" ? `requests ${what}: the solver's witnesses are among the flips above (origin \`proof\`)` : `not settled whether any request ${what}`);
  const unknown = p.unknown.length ? `; unknown: ${p.unknown.join("; ")}` : "";
  return `${dir(p.widening, "newly sends")}; ${dir(p.narrowing, "no longer sends")}; ${p.witnesses} witness request(s), ${(p.ms / 1000).toFixed(1)} s${unknown}`;
}

export function renderMarkdown(r: DiffReport): string {
  const out: string[] = [];
  const widening = r.impact.groups.filter((g) => g.widening);
  out.push(`## Waypost policy diff`);
  out.push("");
  out.push(`${short(r.base)} → ${short(r.head)}`);
  out.push("");
  if (widening.length) out.push(`> [!WARNING]\n> **${widening.length} widening change${widening.length === 1 ? "" : "s"}**: some requests that did not send now send. Review them before merging.\n`);
  if (r.risks.length) {
    out.push(`### Needs extra approval`);
    for (const k of r.risks) out.push(`- **${k.kind}**: ${k.message}${k.ref ? ` (\`${k.ref}\`)` : ""}`);
    out.push("");
  }
  out.push(`### Decision impact`);
  out.push(impactSummary(r.impact) + `. Generated requests: seed ${r.generator.seed}, ${r.generator.runs} runs.`);
  out.push("");
  if (r.proof) out.push(`**Exact (every request, \`--prove\`):** ${proofSummary(r.proof)}`, "");
  if (r.impact.groups.length) {
    out.push(`| | change | node | channel | requests |`);
    out.push(`|---|---|---|---|---|`);
    for (const g of r.impact.groups) out.push(`| ${g.widening ? "⚠️ widening" : ""} | ${g.from} → ${g.to} | \`${g.node ?? "none"}\` | \`${g.channel ?? "none"}\` | ${g.count} (${origins(g.by_origin)}) |`);
    out.push("");
    for (const g of r.impact.groups) {
      out.push(`<details><summary>${g.widening ? "⚠️ " : ""}${groupTitle(g)}: example (${g.example.origin} ${g.example.label})</summary>\n`);
      out.push("```json\n" + JSON.stringify(g.example.request, null, 2) + "\n```");
      out.push(`before: \`${g.example.before.outcome}\` ${g.example.before.node ?? ""} ${g.example.before.channel ?? ""} · reasons ${g.example.before.reasons.map((x) => (x as { code?: string }).code).join(", ")}  `);
      out.push(`after: \`${g.example.after.outcome}\` ${g.example.after.node ?? ""} ${g.example.after.channel ?? ""} · reasons ${g.example.after.reasons.map((x) => (x as { code?: string }).code).join(", ")}`);
      out.push(`</details>\n`);
    }
  } else out.push("No evaluated decision flips.\n");
  out.push(`### Changes by entity${r.view === "bundle" ? " (compiled plans: condition text is inside policy.wasm)" : ""}`);
  if (!r.entities.length) out.push("No policy changes.");
  for (const c of r.entities) {
    out.push(`- **${c.kind} \`${c.id}\`** ${c.change} (\`${c.ref}\`)${c.entries ? `: ${entryText(c.entries)}` : ""}`);
    for (const p of c.properties) out.push(`  - \`${p.path}\`: ${p.before !== undefined ? `\`${p.before}\`` : "(none)"} → ${p.after !== undefined ? `\`${p.after}\`` : "(none)"} (\`${p.ref}\`)`);
  }
  return out.join("\n") + "\n";
}

export function renderText(r: DiffReport): string {
  const out: string[] = [];
  out.push(`diff ${short(r.base)} → ${short(r.head)}`.replace(/`/g, ""));
  const widening = r.impact.groups.filter((g) => g.widening);
  if (widening.length) out.push(`⚠ ${widening.length} widening change group${widening.length === 1 ? "" : "s"}: some requests that did not send now send`);
  if (r.risks.length) {
    out.push("", "needs extra approval:");
    for (const k of r.risks) out.push(`  ${k.kind}: ${k.message.replace(/`/g, "")}${k.ref ? `  ${k.ref}` : ""}`);
  }
  out.push("", `decision impact: ${impactSummary(r.impact)} (seed ${r.generator.seed}, ${r.generator.runs} generated)`);
  if (r.proof) out.push(`exact (every request, --prove): ${proofSummary(r.proof).replace(/`/g, "")}`);
  for (const g of r.impact.groups) {
    out.push(`  ${g.widening ? "⚠ " : "  "}${groupTitle(g).replace(/`/g, "")}: ${g.count} (${origins(g.by_origin)})`);
    out.push(`      e.g. ${g.example.label}: ${compact(g.example.request)}`);
  }
  out.push("", "changes by entity:");
  if (!r.entities.length) out.push("  none");
  for (const c of r.entities) {
    out.push(`  ${c.change.padEnd(8)} ${c.kind} ${c.id}  ${c.ref}${c.entries ? `  ${entryText(c.entries)}` : ""}`);
    for (const p of c.properties) out.push(`           ${p.path}: ${p.before ?? "(none)"} → ${p.after ?? "(none)"}  ${p.ref}`);
  }
  return out.join("\n") + "\n";
}

/** The JSON report: stable key order, no functions. */
export const renderJson = (r: DiffReport): string => JSON.stringify(r, null, 2) + "\n";

const reasonCodes = (v: { reasons: JsonValue[] }): string => v.reasons.map((x) => (x as { code?: string }).code ?? "").filter(Boolean).join(", ");

/**
 * The HTML diff: risks and widening flips first, each flip group with its example request,
 * the changes by entity, then the head's journey map, consent matrix and suppression and
 * access views with what changed marked (when both sides are source trees).
 */
export function renderHtml(r: DiffReport, sides: { base: Views; head: Views } | null, links: LinkBase, baseLinks: LinkBase = links): string {
  const marks = sides ? compareViews(sides.base, sides.head) : null;
  const h = new Html(links, marks, baseLinks);
  const out: string[] = [];
  const side = (s: SideInfo): string => `<code>${esc(s.spec)}</code> (${esc(s.kind === "git" ? s.revision.slice(0, 12) : `bundle ${s.revision}`)}${s.commit ? `, ${esc(s.commit.subject)}` : ""})`;
  out.push(`<section id="risks" aria-labelledby="risks-h"><h2 id="risks-h">What to review</h2>`);
  const widening = r.impact.groups.filter((g) => g.widening);
  if (widening.length) out.push(`<p class="warn"><b>${widening.length} widening change${widening.length === 1 ? "" : "s"}</b>: some requests that did not send now send. Review them before merging.</p>`);
  if (r.risks.length) {
    out.push(`<h3>Needs extra approval</h3><ul class="risks">`);
    for (const k of r.risks) out.push(`<li data-risk="${esc(k.kind)}"><b>${esc(k.kind)}</b>: ${esc(k.message)} ${h.src(k.ref)}</li>`);
    out.push(`</ul>`);
  } else out.push(`<p>Nothing needs extra approval.</p>`);
  out.push(`</section>`);

  out.push(`<section id="impact" aria-labelledby="impact-h"><h2 id="impact-h">Decision impact</h2><p>${esc(impactSummary(r.impact))}. Generated requests: seed ${r.generator.seed}, ${r.generator.runs} runs.</p>`);
  if (r.impact.groups.length) {
    out.push(`<table class="list"><caption class="sr">Flipped decision groups, widening first</caption><thead><tr><th scope="col">Change</th><th scope="col">Node</th><th scope="col">Channel</th><th scope="col">Requests</th><th scope="col">Example</th></tr></thead><tbody>`);
    for (const g of r.impact.groups) {
      const ex = g.example;
      out.push(
        `<tr data-flip="${esc(`${g.from}>${g.to}`)}"${h.cls(g.widening ? "added" : null, g.widening ? "widening" : "")}><th scope="row">${g.widening ? `<span class="badge removed">widening</span> ` : ""}${esc(g.from)} → ${esc(g.to)}</th><td>${esc(g.node ?? "none")}</td><td>${esc(g.channel ?? "none")}</td><td>${g.count} (${esc(origins(g.by_origin))})</td>` +
          `<td><details><summary>${esc(ex.origin)} ${esc(ex.label)}</summary><pre>${esc(JSON.stringify(ex.request, null, 2))}</pre>` +
          `<p>before: <b>${esc(ex.before.outcome)}</b> ${esc(ex.before.node ?? "")} ${esc(ex.before.channel ?? "")} · reasons ${esc(reasonCodes(ex.before))}<br>after: <b>${esc(ex.after.outcome)}</b> ${esc(ex.after.node ?? "")} ${esc(ex.after.channel ?? "")} · reasons ${esc(reasonCodes(ex.after))}</p></details></td></tr>`,
      );
    }
    out.push(`</tbody></table>`);
  } else out.push(`<p>No evaluated decision flips.</p>`);
  out.push(`</section>`);

  out.push(`<section id="changes" aria-labelledby="changes-h"><h2 id="changes-h">Changes by entity${r.view === "bundle" ? " (compiled plans)" : ""}</h2>`);
  if (r.entities.length) {
    out.push(`<table class="list"><caption class="sr">Changed entities</caption><thead><tr><th scope="col">Entity</th><th scope="col">Change</th><th scope="col">What</th></tr></thead><tbody>`);
    for (const c of r.entities) {
      const m = c.change === "modified" ? "changed" : c.change;
      const props = c.properties.map((p) => `<li><code>${esc(p.path)}</code>: ${p.before !== undefined ? `<code>${esc(p.before)}</code>` : "(none)"} → ${p.after !== undefined ? `<code>${esc(p.after)}</code>` : "(none)"} ${h.src(p.ref)}</li>`).join("");
      out.push(`<tr data-entity="${esc(`${c.kind}:${c.id}`)}"${h.cls(m)}><th scope="row">${esc(c.kind)} <code>${esc(c.id)}</code> ${h.at(m).src(c.ref)}</th><td>${h.badge(m)}</td><td>${c.entries ? esc(entryText(c.entries)) : ""}${props ? `<ul>${props}</ul>` : ""}</td></tr>`);
    }
    out.push(`</tbody></table>`);
  } else out.push(`<p>No policy changes.</p>`);
  out.push(`</section>`);

  const nav: [string, string][] = [["risks", "What to review"], ["impact", "Decision impact"], ["changes", "Changes by entity"]];
  if (sides) {
    out.push(reportViews(h, viewsModel(sides.head, ""), false));
    nav.push(["journeys", "Journey map"], ["consent", "Consent matrix"], ["suppression", "Suppression and access"]);
  } else out.push(`<p>The views of the policies need both sides as Git revisions (a bundle holds compiled plans only).</p>`);
  return page("Waypost policy diff", `${side(r.base)} → ${side(r.head)}`, nav, out.join("\n"));
}
