/**
 * Checks test suites against the compiled policies before anything runs: unknown nodes,
 * fields, systems, events, reasons and invariants, bad times, malformed table rows and
 * duplicate names become located diagnostics (WP40xx), and invariant conditions are parsed and
 * type-checked like policy conditions (their WP20xx/WP21xx codes, pointing into the test file).
 */
import { diag, didYouMean, type Diagnostic } from "../../compiler/diagnostics.js";
import type { IR } from "../../compiler/ir/ir.js";
import { parseDate, parseTimestamp } from "../../compiler/ir/time.js";
import type { DocPath } from "../../compiler/load.js";
import type { Program } from "../../compiler/program.js";
import { authorInvariant, builtinInvariants, compileInvariantCondition, invariantEnv, type Invariant, type InvariantWorld } from "./invariants.js";
import { conditionOffset, EXPECT_FIELDS, mergeRequest, REQUEST_COLUMNS, spanOf, type RequestPart, type Suite, type Where } from "./suite.js";

export interface CheckedSuites {
  diagnostics: Diagnostic[];
  /** Built-in invariants first, then the authors', in file order. */
  invariants: Invariant[];
}

const q = (s: string): string => `\`${s}\``;
const hint = (name: string, known: Iterable<string>, otherwise: string): string => {
  const g = didYouMean(name, known);
  return g ? `did you mean ${q(g)}?` : otherwise;
};
const at = (w: Where, extra: (string | number)[] = [], part: "key" | "value" = "value") => spanOf({ doc: w.doc, path: [...w.path, ...extra] as DocPath }, part);

/** Reason codes and policy ids a decision of these policies can carry. */
export function knownReasons(ir: IR): Set<string> {
  const out = new Set<string>();
  const add = (r: { code: string; policy: string } | null | undefined): void => {
    if (!r) return;
    out.add(r.code);
    out.add(r.policy);
  };
  for (const r of Object.values(ir.plan.reasons)) add(r);
  for (const l of Object.values(ir.plan.lists)) add(l.reason);
  for (const qh of ir.plan.quiet_hours) add(qh.reason);
  for (const n of ir.plan.nodes) {
    out.add(`node/${n.id}`);
    for (const c of n.conditions) (add(c.reason), add(c.fail));
    for (const g of n.gates) (add(g.reason), add(g.pass));
    add(n.review_reason);
    // Holdout membership, variants and why a candidate lost (docs/ir.md steps 5-7).
    if (n.experiment) {
      add(n.experiment.holdout_reason);
      add(n.experiment.treatment_reason);
      for (const v of n.experiment.variants) add(v.reason);
    }
    for (const r of Object.values(n.candidate ?? {})) add(r);
  }
  for (const h of ir.plan.holdouts ?? []) (add(h.control_reason), add(h.treatment_reason));
  for (const a of Object.values(ir.plan.arbitration ?? {})) add(a.exhausted_reason);
  return out;
}

export function checkSuites(suites: readonly Suite[], world: InvariantWorld): CheckedSuites {
  const ds: Diagnostic[] = [];
  const p: Program = world.program;
  const plan = world.ir.plan;
  const nodeIds = p.nodes.map((n) => n.id);
  const systems = Object.keys(plan.systems);
  const events = Object.keys(plan.events);
  const fields = plan.fields;
  const reasons = knownReasons(world.ir);
  const builtins = builtinInvariants(world);
  const invariants: Invariant[] = [...builtins];
  const invariantIds = new Map<string, Where | null>(builtins.map((b) => [b.id, null]));
  const env = invariantEnv(world);

  const node = (id: string, w: Where): void => {
    if (!nodeIds.includes(id)) ds.push(diag("WP4002", "error", `unknown journey node ${q(id)}`, at(w), hint(id, nodeIds, `known nodes: ${nodeIds.map(q).join(", ")}`)));
  };
  const field = (name: string, w: Where, part: "key" | "value"): boolean => {
    if (name in fields) return true;
    ds.push(diag("WP4003", "error", `unknown field ${q(name)}`, at(w, [], part), hint(name, Object.keys(fields), "every context field must be declared in the data dictionary")));
    return false;
  };
  const time = (v: string, w: Where, what: string): void => {
    // The engine accepts only a timestamp with its zone here (docs/ir.md step 1).
    if (parseTimestamp(v) === undefined) ds.push(diag("WP4010", "error", `${what} ${q(v)} is not a valid time`, at(w), "write an RFC 3339 timestamp with its zone, such as `2026-11-25T10:00:00Z`"));
  };
  const value = (name: string, v: unknown, w: Where): void => {
    const spec = fields[name];
    if (!spec) return;
    const bad = (why: string): void => {
      ds.push(diag("WP4004", "warning", `${q(JSON.stringify(v))} is not a valid value of ${q(name)}: ${why}`, at(w),
        "the engine denies such a request (`invalid-field`); expect `outcome: deny` if that is what this case tests"));
    };
    if (v === null) return spec.nullable ? undefined : bad("it may not be null");
    switch (spec.type) {
      case "string":
        if (typeof v !== "string") return bad("it must be text");
        if (spec.values && !spec.values.includes(v)) return bad(`allowed values are ${spec.values.map(q).join(", ")}`);
        return;
      case "number":
      case "integer":
        if (typeof v !== "number") return bad("it must be a number");
        if (spec.type === "integer" && !Number.isInteger(v)) return bad("it must be a whole number");
        if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) return bad(`it must be between ${spec.min ?? "-∞"} and ${spec.max ?? "∞"}`);
        return;
      case "boolean":
        return typeof v === "boolean" ? undefined : bad("it must be `true` or `false`");
      // Each type accepts only its own form, as the engine does (docs/ir.md step 4).
      case "timestamp":
        return typeof v === "string" && parseTimestamp(v) !== undefined ? undefined : bad("it must be an RFC 3339 timestamp with its zone, such as `2026-11-25T10:00:00Z`");
      case "date":
        return typeof v === "string" && parseDate(v) !== undefined ? undefined : bad("it must be a date such as `2026-11-25`");
      case "string[]":
      case "number[]":
        return Array.isArray(v) && v.every((x) => typeof x === (spec.type === "string[]" ? "string" : "number")) ? undefined : bad(`it must be a list of ${spec.type === "string[]" ? "text" : "numbers"}`);
    }
  };
  // An unknown system or event may be what a case tests (the engine refuses it): then it
  // expects `deny` and nothing is reported; otherwise it is most likely a typo.
  const request = (r: RequestPart, expectsDeny = false): void => {
    const w = r.where;
    if (r.system !== undefined && !systems.includes(r.system) && !expectsDeny) ds.push(diag("WP4005", "warning", `unknown system ${q(r.system)}`, at(w, ["system"]), hint(r.system, systems, `known systems: ${systems.map(q).join(", ")}; if this case tests that the system is refused, expect \`outcome: deny\``)));
    if (r.event !== undefined && !events.includes(r.event) && !expectsDeny) ds.push(diag("WP4005", "warning", `no journey node is triggered by event ${q(r.event)}`, at(w, ["event"]), hint(r.event, events, `known events: ${events.map(q).join(", ")}; if this case tests that the event is refused, expect \`outcome: deny\``)));
    if (r.node !== undefined) node(r.node, { doc: w.doc, path: [...w.path, "node"] });
    if (r.now !== undefined) time(r.now, { doc: w.doc, path: [...w.path, "now"] }, "`now`");
    for (const [k, v] of Object.entries(r.context)) {
      const kw: Where = r.row ? w : { doc: w.doc, path: [...w.path, "context", k] };
      if (r.row ? k in fields : field(k, kw, "key")) value(k, v, kw);
    }
    r.without.forEach((k, i) => field(k, { doc: w.doc, path: [...w.path, "without", i] }, "value"));
    (r.history ?? []).forEach((h, i) => {
      const at_ = (h as { at?: unknown }).at;
      if (typeof at_ === "string") time(at_, { doc: w.doc, path: [...w.path, "history", i, "at"] }, "history time");
    });
  };

  for (const s of suites) {
    const raw = s.doc.value as { cases?: { name: string; table?: { given: string[]; expect: string[]; rows: unknown[][] } }[] };
    if (s.defaults) request(s.defaults);
    const names = new Map<string, number>();
    (raw.cases ?? []).forEach((c, i) => {
      const cw: Where = { doc: s.doc, path: ["cases", i] };
      const first = names.get(c.name);
      if (first !== undefined) {
        ds.push(diag("WP4007", "error", `duplicate case name ${q(c.name)}`, at(cw, ["name"]), "case names must be unique in a file, so a failure names one case",
          [{ message: `${q(c.name)} is first used here`, span: at({ doc: s.doc, path: ["cases", first] }, ["name"]) }]));
      } else names.set(c.name, i);
      const t = c.table;
      if (!t) return;
      const tw: Where = { doc: s.doc, path: ["cases", i, "table"] };
      t.given.forEach((col, k) => {
        if (!(REQUEST_COLUMNS as readonly string[]).includes(col)) field(col, { doc: s.doc, path: [...tw.path, "given", k] }, "value");
      });
      t.expect.forEach((col, k) => {
        if (!(EXPECT_FIELDS as readonly string[]).includes(col)) {
          ds.push(diag("WP4006", "error", `${q(col)} cannot be an expected column`, at(tw, ["expect", k]),
            `expected columns are ${EXPECT_FIELDS.map(q).join(", ")}; put reasons in the case's \`expect:\``));
        }
      });
      const width = t.given.length + t.expect.length;
      t.rows.forEach((row, r) => {
        if (row.length !== width) {
          ds.push(diag("WP4006", "error", `this row has ${row.length} cell${row.length === 1 ? "" : "s"}, but the table has ${width} columns`, at(tw, ["rows", r]),
            `write one value per column: ${[...t.given, ...t.expect].map(q).join(", ")}`));
        }
      });
    });
    for (const c of s.cases) {
      for (const part of c.parts.slice(s.defaults ? 1 : 0)) request(part, c.expect.fields.outcome === "deny");
      const merged = mergeRequest(c.parts);
      const missing = (["system", "event", "now"] as const).filter((k) => merged[k] === undefined);
      if (missing.length) {
        ds.push(diag("WP4012", "error", `the request of case ${q(c.name)} has no ${missing.map(q).join(", ")}`, at(c.where, [], "value"),
          `give ${missing.map(q).join(", ")} under the case's \`request:\`, or once for every case under \`defaults:\``));
      }
      const x = c.expect;
      if (x.fields.node) node(x.fields.node, x.where.node!);
      if (x.fields.send_at) time(x.fields.send_at, x.where.send_at!, "`send_at`");
      const reasonList = (list: string[], key: "reasons" | "not_reasons"): void =>
        list.forEach((r, i) => {
          if (!reasons.has(r)) ds.push(diag("WP4008", "error", `no decision of these policies can carry the reason ${q(r)}`, at(x.where[key]!, [i]), hint(r, reasons, "write a reason code such as `suppressed` or a policy id such as `suppression/global-opt-out`")));
        });
      reasonList(x.reasons, "reasons");
      reasonList(x.notReasons, "not_reasons");
    }
    for (const inv of s.invariants) {
      const prev = invariantIds.get(inv.id);
      if (prev !== undefined) {
        ds.push(diag("WP4007", "error", prev === null ? `${q(inv.id)} is the name of a built-in invariant` : `duplicate invariant ${q(inv.id)}`, at(inv.where, ["id"]),
          prev === null ? "built-in invariants are always checked; give yours another id" : "invariant ids must be unique across test files",
          prev ? [{ message: `${q(inv.id)} is first defined here`, span: at(prev, ["id"]) }] : undefined));
        continue;
      }
      invariantIds.set(inv.id, inv.where);
      for (const [i, id] of (inv.nodes?.ids ?? []).entries()) node(id, { doc: s.doc, path: [...inv.nodes!.where.path, i] });
      const compiled = [inv.when, inv.then].map((c) => {
        if (!c) return null;
        const r = compileInvariantCondition(c.text, env);
        const off = conditionOffset(c.where.doc, c.where.path);
        for (const d of r.diagnostics) ds.push(diag(d.code, d.severity, d.message, { file: c.where.doc.file.path, start: off(d.start), end: off(d.end) }, d.help));
        return r;
      });
      const [when, then] = compiled;
      if (then?.expr && (!inv.when || when?.expr)) invariants.push(authorInvariant(world, inv, when?.expr ?? null, then.expr));
    }
  }
  // `expect.invariants` may name any invariant of any file: check once all are known.
  for (const s of suites) {
    for (const c of s.cases) {
      c.expect.invariants.forEach((id, i) => {
        if (!invariantIds.has(id)) ds.push(diag("WP4009", "error", `unknown invariant ${q(id)}`, at(c.expect.where.invariants!, [i]), hint(id, invariantIds.keys(), `known invariants: ${[...invariantIds.keys()].map(q).join(", ")}`)));
      });
    }
  }
  // Table rows repeat their case's request parts; report each problem once.
  const seen = new Set<string>();
  const unique = ds.filter((d) => {
    const k = `${d.code}|${d.span?.file}|${d.span?.start}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return { diagnostics: unique, invariants };
}
