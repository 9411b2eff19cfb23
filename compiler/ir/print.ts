/**
 * A readable, deterministic text form of the IR (like OPA's IR pretty printer), for
 * `waypost build --print-ir` and debugging. Conditions are printed in the Waypost condition
 * style, e.g. `days_since(field("claim.opened_at")) == 3`, and referenced by index (`c0`).
 *
 * Deterministic: object keys that have no meaningful order (systems, events, fields, lists,
 * offsets, reasons) are printed sorted; everything ordered in the plan keeps its order.
 */
import type { Expr, Gate, IR, JsonValue, Plan, PlanNode, Reason } from "./ir.js";
import { formatTime } from "./time.js";

/** Binding strength of a printed expression, for minimal but unambiguous parentheses. */
const PREC = { or: 1, and: 2, not: 3, cmp: 4, atom: 5 } as const;

/** JSON text with object keys in insertion order; strings JSON-escaped (so quotes are unambiguous). */
function lit(v: JsonValue): string {
  return JSON.stringify(v);
}

function sortedKeys(o: object): string[] {
  return Object.keys(o).sort();
}

/** One expression in condition syntax. */
export function printExpr(e: Expr): string {
  return expr(e).text;
}

function expr(e: Expr): { text: string; prec: number } {
  const atom = (text: string) => ({ text, prec: PREC.atom });
  const wrap = (x: { text: string; prec: number }, min: number): string => (x.prec < min ? `(${x.text})` : x.text);
  switch (e.op) {
    case "const":
      return atom(lit(e.value));
    case "field":
      return atom(`field(${lit(e.name)})`);
    case "now":
      return atom("now");
    case "not":
      // Parenthesise any non-atomic operand: `not (a == b)` reads unambiguously to everyone.
      return { text: `not ${wrap(expr(e.arg), PREC.atom)}`, prec: PREC.not };
    case "and":
      if (e.args.length === 0) return atom("true /* and() */");
      return { text: e.args.map((a) => wrap(expr(a), PREC.and + 1)).join(" and "), prec: PREC.and };
    case "or":
      if (e.args.length === 0) return atom("false /* or() */");
      return { text: e.args.map((a) => wrap(expr(a), PREC.or + 1)).join(" or "), prec: PREC.or };
    case "cmp":
      return { text: `${wrap(expr(e.left), PREC.atom)} ${e.cmp} ${wrap(expr(e.right), PREC.atom)}`, prec: PREC.cmp };
    case "in":
      return { text: `${wrap(expr(e.item), PREC.atom)} in ${wrap(expr(e.set), PREC.atom)}`, prec: PREC.cmp };
    case "in_list":
      return { text: `${wrap(expr(e.item), PREC.atom)} in list(${lit(e.list)})`, prec: PREC.cmp };
    case "call":
      return atom(`${e.fn}(${e.args.map((a) => expr(a).text).join(", ")})`);
    case "history_count": {
      const args = [`window: ${duration(e.window_ms)}`];
      if (e.channel !== undefined) args.push(`channel: ${lit(e.channel)}`);
      if (e.purpose !== undefined) args.push(`purpose: ${lit(e.purpose)}`);
      if (e.node !== undefined) args.push(`node: ${lit(e.node)}`);
      return atom(`history_count(${args.join(", ")})`);
    }
    case "add_ms":
      return atom(`add_ms(${expr(e.time).text}, ${duration(e.ms)})`);
    default:
      return atom(`<invalid ${lit(e as unknown as JsonValue)}>`);
  }
}

/** Milliseconds as the largest exact unit (`7d`, `90m`, `1500ms`); negative values keep the sign. */
export function duration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1000, "s"],
  ];
  if (ms === 0) return "0ms";
  for (const [size, unit] of units) if (Number.isInteger(ms / size)) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

function time(ms: number | null): string {
  return ms === null ? "-" : (formatTime(ms) ?? String(ms));
}

function hhmm(min: number): string {
  return `${String(Math.floor(min / 60)).padStart(2, "0")}:${String(min % 60).padStart(2, "0")}`;
}

function reason(r: Reason): string {
  const ch = r.channel === undefined ? "" : ` channel=${r.channel}`;
  return `${r.code} [${r.policy}${ch}] ${lit(r.message)} @ ${r.source}`;
}

function gate(g: Gate, ir: IR): string[] {
  const scope = g.channel === undefined ? "node" : `channel ${g.channel}`;
  const until = g.until === undefined ? "" : ` until c${g.until}`;
  const kind = g.kind === undefined ? "" : ` kind ${g.kind}`;
  const lines = [`gate ${g.step}${kind} (${scope}) ${g.outcome}${until} when c${g.cond}: ${condText(ir, g.cond)}`];
  lines.push(`  blocks: ${reason(g.reason)}`);
  if (g.pass) lines.push(`  passes: ${reason(g.pass)}`);
  return lines;
}

function condText(ir: IR, i: number): string {
  const e = ir.conds[i];
  return e === undefined ? `<missing condition ${i}>` : printExpr(e);
}

function node(n: PlanNode, index: number, ir: IR): string[] {
  const out = [`node ${index} ${n.id} ${lit(n.title)} @ ${n.source}`];
  const add = (s: string) => out.push(`  ${s}`);
  add(`event ${n.event}, priority ${n.priority}, risk ${n.risk}, purpose ${n.purpose}, basis ${n.lawful_basis}`);
  add(`valid [${time(n.valid_from)}, ${time(n.valid_until)}), rollout ${n.rollout_bp}bp salt ${lit(n.rollout_salt)}`);
  add(`required [${n.required.join(", ")}]`);
  for (const c of n.conditions) {
    add(`${c.kind} c${c.cond}: ${condText(ir, c.cond)}`);
    add(`  met:  ${reason(c.reason)}`);
    add(`  fail: ${reason(c.fail)}`);
  }
  for (const g of n.gates) for (const l of gate(g, ir)) add(l);
  add(`channels [${n.channels.join(", ")}]`);
  for (const ch of sortedKeys(n.templates)) add(`template ${ch}: ${n.templates[ch]}`);
  add(`offer ${n.offer ?? "-"}`);
  if (n.experiment) {
    const x = n.experiment;
    const vs = x.variants.map((v) => `${v.id} ${v.weight_bp}bp`).join(", ");
    add(`experiment salt ${lit(x.salt)}, holdout ${x.holdout_bp}bp, variants [${vs}]`);
  }
  if (n.holdouts && n.holdouts.length > 0) {
    add(`universal holdouts [${n.holdouts.map((i) => ir.plan.holdouts?.[i]?.id ?? `<missing holdout ${i}>`).join(", ")}]`);
  }
  add(`explanation ${lit(n.explanation)}`);
  if (n.review_reason) add(`review: ${reason(n.review_reason)}`);
  return out;
}

/** The whole IR as text: header sections, then nodes, then the condition table. */
export function printIR(ir: IR): string {
  const p = ir.plan;
  const out: string[] = [`plan version ${p.version}`];
  out.push(`keys customer=${p.keys.customer} jurisdiction=${p.keys.jurisdiction} utc_offset=${p.keys.utc_offset}`);
  out.push("", "systems");
  for (const s of sortedKeys(p.systems)) out.push(`  ${s}: ${(p.systems[s] ?? []).join(", ")}`);
  out.push("", "events");
  for (const ev of sortedKeys(p.events)) {
    const ids = (p.events[ev] ?? []).map((i) => p.nodes[i]?.id ?? `<missing node ${i}>`);
    out.push(`  ${ev}: ${ids.join(", ")}`);
    out.push(`    fields: ${sortedKeys(p.event_fields[ev] ?? {}).join(", ")}`);
  }
  out.push("", "fields");
  for (const f of sortedKeys(p.fields)) {
    const s = p.fields[f]!;
    const extra = [
      s.nullable ? "nullable" : "",
      s.values ? `values ${lit(s.values)}` : "",
      s.min !== undefined ? `min ${s.min}` : "",
      s.max !== undefined ? `max ${s.max}` : "",
      s.mask !== "none" ? `mask ${s.mask}` : "",
    ].filter((x) => x !== "");
    out.push(`  ${f}: ${s.type}${extra.length > 0 ? " " + extra.join(" ") : ""}`);
  }
  out.push("", "lists");
  for (const l of sortedKeys(p.lists)) {
    const d = p.lists[l]!;
    out.push(`  ${l}: ${d.kind}${d.match === null ? "" : ` match ${d.match}`} -> ${reason(d.reason)}`);
  }
  out.push("", "contact");
  for (const ch of sortedKeys(p.offsets_ms)) out.push(`  offset ${ch}: ${duration(p.offsets_ms[ch]!)}`);
  for (const q of p.quiet_hours) {
    out.push(`  quiet ${hhmm(q.start_min)}-${hhmm(q.end_min)} [${q.channels.join(", ")}] -> ${reason(q.reason)}`);
  }
  for (const h of p.holdouts ?? []) out.push(`  holdout ${h.id}: salt ${lit(h.salt)}, ${h.holdout_bp}bp in control`);
  for (const ev of sortedKeys(p.arbitration ?? {})) {
    const a = p.arbitration![ev]!;
    out.push(`  arbitration ${ev}: fallback ${a.fallback} on [${a.on.join(", ")}] -> ${reason(a.exhausted_reason)}`);
  }
  out.push("", "engine reasons");
  for (const code of sortedKeys(p.reasons)) out.push(`  ${reason(p.reasons[code as keyof Plan["reasons"]]!)}`);
  p.nodes.forEach((n, i) => out.push("", ...node(n, i, ir)));
  out.push("", "conditions");
  ir.conds.forEach((e, i) => out.push(`  c${i}: ${printExpr(e)}`));
  return out.join("\n") + "\n";
}
