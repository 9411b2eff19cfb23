/**
 * The `PolicyTests` document kind (`tests/*.yaml`): loading, shape validation against
 * `schemas/test-suite.schema.json`, and the typed model the checker and runner read.
 *
 * A suite has a base request (`defaults`), cases (a request written as overrides of the base,
 * or a table whose rows vary a few columns) and invariants (`when` → `then` conditions). Every
 * element keeps its document and path, so diagnostics and failures point at file:line.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import * as YAML from "yaml";
import { diag, didYouMean, type Diagnostic, type Span } from "../../compiler/diagnostics.js";
import { load, spanAt, type DocPath, type LoadedDocument } from "../../compiler/load.js";
import { packageRoot } from "../../compiler/package-root.js";
import type { SourceFile } from "../../compiler/source-file.js";
import type { SourceHost } from "../../compiler/source.js";
import type { Request } from "../../runtime/types.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The folder of a policy repository that holds test suites. */
export const TEST_DIR = "tests";

/** Where something is written: the document and the path inside it. */
export interface Where {
  doc: LoadedDocument;
  path: DocPath;
}

export const spanOf = (w: Where, part: "key" | "value" = "value"): Span => spanAt(w.doc, w.path, part);

/** A request as written in a test file: every part optional, merged over the suite's defaults. */
export interface RequestPart {
  system?: string;
  event?: string;
  node?: string;
  now?: string;
  context: Record<string, JsonValue>;
  without: string[];
  history?: JsonValue[];
  where: Where;
  /** A table row: its context keys are the table's columns (checked once, on `given`). */
  row?: boolean;
}

/** A decision request (docs/ir.md), as the runner sends it: history entries as written, unchecked. */
export type TestRequest = Omit<Request, "history"> & { history?: JsonValue[] };

export const EXPECT_FIELDS = ["outcome", "node", "channel", "template", "offer", "variant", "send_at", "explanation"] as const;
export type ExpectField = (typeof EXPECT_FIELDS)[number];

export interface Expectation {
  fields: Partial<Record<ExpectField, string | null>>;
  reasons: string[];
  notReasons: string[];
  invariants: string[];
  /** Where each expectation is written, for located failures. */
  where: Partial<Record<ExpectField | "reasons" | "not_reasons" | "invariants", Where>>;
}

export interface TestCase {
  /** Unique within its file; table rows are `name [row N]`. */
  name: string;
  file: string;
  /** The request parts to merge, base first. */
  parts: RequestPart[];
  expect: Expectation;
  where: Where;
}

export interface InvariantSpec {
  id: string;
  description?: string;
  when?: { text: string; where: Where };
  then: { text: string; where: Where };
  nodes?: { ids: string[]; where: Where };
  where: Where;
}

export interface Suite {
  file: SourceFile;
  doc: LoadedDocument;
  description?: string;
  defaults?: RequestPart;
  cases: TestCase[];
  invariants: InvariantSpec[];
}

export interface LoadSuitesResult {
  suites: Suite[];
  files: Map<string, SourceFile>;
  diagnostics: Diagnostic[];
}

let validator: ValidateFunction | undefined;
function getValidator(): ValidateFunction {
  if (validator) return validator;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  const schema = JSON.parse(readFileSync(path.join(packageRoot(), "schemas", "test-suite.schema.json"), "utf8")) as object;
  validator = ajv.compile(schema);
  return validator;
}

const isYaml = (p: string): boolean => /\.ya?ml$/i.test(p);

/** Reads every `tests/**.yaml`; an absent `tests/` is a warning (invariants still run). */
export async function loadSuites(host: SourceHost): Promise<LoadSuitesResult> {
  const out: LoadSuitesResult = { suites: [], files: new Map(), diagnostics: [] };
  let all: string[] = [];
  try {
    all = await host.listFiles();
  } catch {
    return out; // the compile stage already reported an unreadable directory
  }
  if (!all.some((p) => p.startsWith(`${TEST_DIR}/`) && isYaml(p))) {
    out.diagnostics.push(diag("WP4011", "warning", "no test files found", undefined,
      "add YAML files under `tests/` with `kind: PolicyTests` (cases and invariants); only the built-in invariants were checked"));
    return out;
  }
  const loaded = await load(host, [TEST_DIR]);
  out.files = loaded.files;
  out.diagnostics.push(...loaded.diagnostics);
  const v = getValidator();
  for (const d of loaded.documents) {
    if (!v(d.value)) {
      out.diagnostics.push(...explain(d, v.errors ?? []));
      continue;
    }
    out.suites.push(toSuite(d));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Shape errors: ajv's errors in the words `waypost check` uses, all under WP4001.

const segs = (pointer: string): (string | number)[] =>
  pointer === "" ? [] : pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~")).map((s) => (/^\d+$/.test(s) ? Number(s) : s));

function describe(p: (string | number)[]): string {
  if (p.length === 0) return "the document";
  let s = "";
  for (const x of p) s += typeof x === "number" ? `[${x}]` : s === "" ? x : `.${x}`;
  return `\`${s}\``;
}

function valueAt(root: unknown, p: (string | number)[]): unknown {
  let cur = root;
  for (const x of p) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[x];
  }
  return cur;
}

function typeName(v: unknown): string {
  if (v === null) return "nothing (null)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the text \`${v.length > 40 ? v.slice(0, 40) + "…" : v}\``;
  return `the value \`${String(v)}\``;
}

/** Properties allowed at each object of the schema, for "did you mean" on unknown keys. */
const ALLOWED: Record<string, string[]> = {
  suite: ["apiVersion", "kind", "description", "defaults", "cases", "invariants"],
  request: ["system", "event", "node", "now", "context", "without", "history"],
  expect: ["outcome", "node", "channel", "template", "offer", "variant", "send_at", "explanation", "reasons", "not_reasons", "invariants"],
  case: ["name", "description", "request", "expect", "table"],
  table: ["given", "expect", "rows"],
  invariant: ["id", "description", "when", "then", "nodes"],
  history: ["at", "channel", "purpose", "node"],
};

/** The kind of object at an instance path (ajv inlines `$ref`s, so its schema paths do not say). */
function allowedAt(p: (string | number)[]): string[] {
  const last = p[p.length - 1];
  const prev = p[p.length - 2];
  if (p.length === 0) return ALLOWED["suite"]!;
  if (typeof last === "number") return prev === "cases" ? ALLOWED["case"]! : prev === "invariants" ? ALLOWED["invariant"]! : prev === "history" ? ALLOWED["history"]! : [];
  if (last === "defaults" || last === "request") return ALLOWED["request"]!;
  return ALLOWED[String(last)] ?? [];
}

function explain(d: LoadedDocument, errors: ErrorObject[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  // `anyOf` (expect or table) reports each branch's `required`; keep one message for it.
  const anyOfAt = new Set(errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath));
  for (const e of errors) {
    const p = segs(e.instancePath);
    const what = describe(p);
    let dg: Diagnostic | undefined;
    const at = (extra: (string | number)[] = [], part: "key" | "value" = "value"): Span => spanAt(d, [...p, ...extra], part);
    switch (e.keyword) {
      case "required": {
        if (anyOfAt.has(e.instancePath) && /anyOf/.test(e.schemaPath)) continue;
        const missing = String((e.params as { missingProperty: string }).missingProperty);
        dg = diag("WP4001", "error", `missing \`${missing}\`${p.length ? ` in ${what}` : ""}`, at([], "key"), `add \`${missing}:\` here`);
        break;
      }
      case "anyOf":
        const name = (valueAt(d.value, p) as { name?: unknown } | undefined)?.name;
        dg = diag("WP4001", "error", `the case ${typeof name === "string" ? `\`${name}\`` : what} has neither \`expect\` nor \`table\``, at([], "key"),
          "add `expect:` with the decision you expect (such as `outcome: send`), or a `table:` of rows");
        break;
      case "additionalProperties": {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        const props = allowedAt(p);
        const guess = didYouMean(extra, props);
        dg = diag("WP4001", "error", `unknown property \`${extra}\`${p.length ? ` in ${what}` : ""}`, at([extra], "key"),
          guess ? `did you mean \`${guess}\`?` : props.length ? `allowed here: ${props.map((x) => `\`${x}\``).join(", ")}` : undefined);
        break;
      }
      case "type": {
        const want = String((e.params as { type: string | string[] }).type).replace(/,/g, " or ");
        const words = want === "object" ? "a mapping" : want === "array" ? "a list" : want === "string or null" ? "text or `null`" : `a ${want}`;
        dg = diag("WP4001", "error", `${what} should be ${words}, found ${typeName(valueAt(d.value, p))}`, at());
        break;
      }
      case "enum":
      case "const": {
        const allowed = e.keyword === "enum" ? (e.params as { allowedValues: unknown[] }).allowedValues : [(e.params as { allowedValue: unknown }).allowedValue];
        const actual = valueAt(d.value, p);
        const guess = typeof actual === "string" ? didYouMean(actual, allowed.map(String)) : undefined;
        dg = diag("WP4001", "error", `${what} cannot be ${typeName(actual)}`, at(), guess ? `did you mean \`${guess}\`?` : `write ${allowed.map((a) => `\`${String(a)}\``).join(", ")}`);
        break;
      }
      case "minItems":
      case "minLength":
        dg = diag("WP4001", "error", `${what} must not be empty`, at());
        break;
      default:
        dg = diag("WP4001", "error", `${what} ${e.message ?? "is not valid"}`, at());
    }
    const key = `${dg.span?.start}|${dg.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(dg);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The typed model (only for documents the schema accepted).

type Obj = Record<string, unknown>;

function requestPart(doc: LoadedDocument, p: DocPath, v: Obj | undefined): RequestPart {
  const r: RequestPart = { context: {}, without: [], where: { doc, path: p } };
  if (!v) return r;
  for (const k of ["system", "event", "node", "now"] as const) if (typeof v[k] === "string") r[k] = v[k] as string;
  if (v["context"] && typeof v["context"] === "object") r.context = { ...(v["context"] as Record<string, JsonValue>) };
  if (Array.isArray(v["without"])) r.without = v["without"] as string[];
  if (Array.isArray(v["history"])) r.history = v["history"] as JsonValue[];
  return r;
}

function expectation(doc: LoadedDocument, p: DocPath, v: Obj | undefined): Expectation {
  const x: Expectation = { fields: {}, reasons: [], notReasons: [], invariants: [], where: {} };
  if (!v) return x;
  for (const k of EXPECT_FIELDS) {
    if (k in v) {
      x.fields[k] = v[k] as string | null;
      x.where[k] = { doc, path: [...p, k] };
    }
  }
  if (Array.isArray(v["reasons"])) (x.reasons = v["reasons"] as string[]), (x.where.reasons = { doc, path: [...p, "reasons"] });
  if (Array.isArray(v["not_reasons"])) (x.notReasons = v["not_reasons"] as string[]), (x.where.not_reasons = { doc, path: [...p, "not_reasons"] });
  if (Array.isArray(v["invariants"])) (x.invariants = v["invariants"] as string[]), (x.where.invariants = { doc, path: [...p, "invariants"] });
  return x;
}

/** Request columns of a table that are not context fields. */
export const REQUEST_COLUMNS = ["now", "system", "event", "node"] as const;

function toSuite(doc: LoadedDocument): Suite {
  const v = doc.value as Obj;
  const suite: Suite = { file: doc.file, doc, cases: [], invariants: [] };
  if (typeof v["description"] === "string") suite.description = v["description"];
  if (v["defaults"]) suite.defaults = requestPart(doc, ["defaults"], v["defaults"] as Obj);
  const cases = (v["cases"] as Obj[] | undefined) ?? [];
  cases.forEach((c, i) => {
    const base = ["cases", i] as DocPath;
    const name = String(c["name"]);
    const parts = [...(suite.defaults ? [suite.defaults] : []), requestPart(doc, [...base, "request"], c["request"] as Obj | undefined)];
    const expect = expectation(doc, [...base, "expect"], c["expect"] as Obj | undefined);
    const table = c["table"] as { given: string[]; expect: string[]; rows: unknown[][] } | undefined;
    if (!table) {
      suite.cases.push({ name, file: doc.file.path, parts, expect, where: { doc, path: base } });
      return;
    }
    table.rows.forEach((row, r) => {
      const rowPath: DocPath = [...base, "table", "rows", r];
      const rowPart: RequestPart = { context: {}, without: [], where: { doc, path: rowPath }, row: true };
      const rowExpect: Expectation = { ...expect, fields: { ...expect.fields }, where: { ...expect.where } };
      table.given.forEach((col, k) => {
        if (k >= row.length) return;
        const cell = row[k] as JsonValue;
        if ((REQUEST_COLUMNS as readonly string[]).includes(col)) {
          if (typeof cell === "string") rowPart[col as (typeof REQUEST_COLUMNS)[number]] = cell;
        } else if (cell === undefined) rowPart.without.push(col);
        else rowPart.context[col] = cell;
      });
      table.expect.forEach((col, k) => {
        const cell = row[table.given.length + k];
        if (cell === undefined || !(EXPECT_FIELDS as readonly string[]).includes(col)) return;
        rowExpect.fields[col as ExpectField] = cell === null ? null : String(cell);
        rowExpect.where[col as ExpectField] = { doc, path: [...rowPath, table.given.length + k] };
      });
      suite.cases.push({ name: `${name} [row ${r + 1}]`, file: doc.file.path, parts: [...parts, rowPart], expect: rowExpect, where: { doc, path: rowPath } });
    });
  });
  const invs = (v["invariants"] as Obj[] | undefined) ?? [];
  invs.forEach((x, i) => {
    const base = ["invariants", i] as DocPath;
    const spec: InvariantSpec = {
      id: String(x["id"]),
      then: { text: String(x["then"]), where: { doc, path: [...base, "then"] } },
      where: { doc, path: base },
    };
    if (typeof x["description"] === "string") spec.description = x["description"];
    if (typeof x["when"] === "string") spec.when = { text: x["when"], where: { doc, path: [...base, "when"] } };
    if (Array.isArray(x["nodes"])) spec.nodes = { ids: x["nodes"] as string[], where: { doc, path: [...base, "nodes"] } };
    suite.invariants.push(spec);
  });
  return suite;
}

/** Merges request parts (base first): later parts override, `without` removes context keys. */
export function mergeRequest(parts: readonly RequestPart[]): Partial<TestRequest> {
  const r: Partial<TestRequest> & { context: Record<string, JsonValue> } = { context: {} };
  for (const p of parts) {
    if (p.system !== undefined) r.system = p.system;
    if (p.event !== undefined) r.event = p.event;
    if (p.node !== undefined) r.node = p.node;
    if (p.now !== undefined) r.now = p.now;
    for (const k of p.without) delete r.context[k];
    Object.assign(r.context, p.context);
    if (p.history !== undefined) r.history = p.history;
  }
  return r;
}

/** File offset of character `i` of a condition scalar (plain or one-line quoted). */
export function conditionOffset(doc: LoadedDocument, p: DocPath): (i: number) => number {
  const n = doc.doc.getIn(p, true);
  if (!YAML.isScalar(n) || !n.range) {
    const s = spanAt(doc, p);
    return () => s.start;
  }
  const start = n.range[0];
  const quoted = n.type === "QUOTE_DOUBLE" || n.type === "QUOTE_SINGLE";
  const len = String(n.value).length;
  return (i) => start + (quoted ? 1 : 0) + Math.max(0, Math.min(i, len));
}
