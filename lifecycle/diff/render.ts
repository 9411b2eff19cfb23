/**
 * Renders a diff report: markdown for a pull-request comment, plain text for a terminal, JSON
 * for machines (the report itself). Widening changes and risk call-outs come first: they are
 * what a reviewer must not miss.
 */
import type { JsonValue } from "../../compiler/ir/ir.js";
import type { DiffReport, SideInfo } from "./index.js";
import type { FlipGroup, ImpactReport } from "./impact.js";

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
