/**
 * `waypost fmt`: the canonical layout of a policy YAML file. Keys in the order their kind's JSON
 * Schema lists them (keys it does not list keep their order, after the known ones; maps keyed
 * by the user, such as `fields:`, keep the user's order), 2-space indentation, and every
 * condition as the condition printer writes it. The `yaml` Document API edits the parsed tree,
 * so comments and blank lines stay with the keys they belong to. A file that does not parse,
 * or whose kind is unknown, is left alone: formatting must never change what a file means.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { parseCondition, printCondition } from "../compiler/condition/index.js";
import { packageRoot } from "../compiler/package-root.js";

/** The schema of each kind (the file under schemas/). */
export const KIND_SCHEMAS: Readonly<Record<string, string>> = {
  DataDictionary: "data-dictionary.schema.json",
  Purposes: "purposes.schema.json",
  AccessPolicy: "access-policy.schema.json",
  ContactPolicy: "contact-policy.schema.json",
  Suppressions: "suppressions.schema.json",
  JourneyNode: "journey-node.schema.json",
  PolicyTests: "test-suite.schema.json",
};

type Schema = { [k: string]: unknown };
interface Located {
  schema: Schema;
  file: string;
}

const cache = new Map<string, Schema>();
function schemaFile(name: string): Schema {
  let s = cache.get(name);
  if (!s) {
    s = JSON.parse(readFileSync(path.join(packageRoot(), "schemas", name), "utf8")) as Schema;
    cache.set(name, s);
  }
  return s;
}

/** Follows `$ref`s (`#/$defs/x` or `other.schema.json#/$defs/x`); true when one names a condition. */
function resolve(at: Located): { at: Located; condition: boolean } {
  let cur = at;
  let condition = false;
  for (let i = 0; i < 16 && typeof cur.schema["$ref"] === "string"; i++) {
    const ref = cur.schema["$ref"] as string;
    const [file, pointer = ""] = ref.split("#");
    const target = file ? file : cur.file;
    if (pointer === "/$defs/condition") condition = true;
    let s: unknown = schemaFile(target);
    for (const part of pointer.split("/").filter(Boolean)) s = (s as Schema)?.[part];
    if (!s || typeof s !== "object") break;
    cur = { schema: s as Schema, file: target };
  }
  // The invariant's `when`/`then` in test files are conditions described, not referenced.
  if (typeof cur.schema["description"] === "string" && /^a condition\b/.test(cur.schema["description"])) condition = true;
  return { at: cur, condition };
}

/** The sub-schemas that may describe an object's properties: itself and its oneOf/anyOf/allOf branches. */
function branches(at: Located): Located[] {
  const out = [at];
  for (const k of ["oneOf", "anyOf", "allOf"]) {
    const list = at.schema[k];
    if (Array.isArray(list)) for (const b of list) if (b && typeof b === "object") out.push(resolve({ schema: b as Schema, file: at.file }).at);
  }
  return out;
}

function propertySchema(at: Located, key: string): Located | undefined {
  for (const b of branches(at)) {
    const props = b.schema["properties"] as Schema | undefined;
    if (props && typeof props[key] === "object") return { schema: props[key] as Schema, file: b.file };
  }
  for (const b of branches(at)) {
    const pats = b.schema["patternProperties"] as Schema | undefined;
    if (pats) for (const [p, s] of Object.entries(pats)) if (new RegExp(p, "u").test(key) && s && typeof s === "object") return { schema: s as Schema, file: b.file };
    const extra = b.schema["additionalProperties"];
    if (extra && typeof extra === "object") return { schema: extra as Schema, file: b.file };
  }
  return undefined;
}

function propertyOrder(at: Located): string[] {
  const order: string[] = [];
  for (const b of branches(at)) {
    const props = b.schema["properties"] as Schema | undefined;
    if (props) for (const k of Object.keys(props)) if (!order.includes(k)) order.push(k);
  }
  return order;
}

function itemSchema(at: Located): Located | undefined {
  for (const b of branches(at)) {
    const items = b.schema["items"];
    if (items && typeof items === "object" && !Array.isArray(items)) return { schema: items as Schema, file: b.file };
  }
  return undefined;
}

function walk(node: unknown, where: Located | undefined): void {
  if (!where) return;
  const { at, condition } = resolve(where);
  if (YAML.isScalar(node)) {
    if (condition && typeof node.value === "string") {
      const r = parseCondition(node.value);
      // Only a condition that parses is reprinted; a broken one is `check`'s to report.
      if (r.ast && r.diagnostics.length === 0) node.value = printCondition(r.ast);
    }
    return;
  }
  if (YAML.isMap(node)) {
    const order = propertyOrder(at);
    if (order.length) {
      const rank = (p: YAML.Pair): number => {
        const k = YAML.isScalar(p.key) ? String(p.key.value) : undefined;
        const i = k === undefined ? -1 : order.indexOf(k);
        return i < 0 ? order.length : i;
      };
      // A stable sort: keys the schema does not list keep their relative order, at the end.
      const sorted = node.items.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map((x) => x.p);
      // The comment and blank line above the first key belong to the map (a file's header
      // comment is parsed onto its first key): they stay first, whichever key that now is.
      const first = node.items[0]?.key;
      const next = sorted[0]?.key;
      if (sorted[0] !== node.items[0] && YAML.isNode(first) && YAML.isNode(next)) {
        const lead = first.commentBefore;
        next.commentBefore = lead && next.commentBefore ? `${lead}\n${next.commentBefore}` : (lead ?? next.commentBefore);
        first.commentBefore = undefined;
        next.spaceBefore = first.spaceBefore;
        first.spaceBefore = undefined;
      }
      node.items = sorted;
    }
    for (const p of node.items) {
      const k = YAML.isScalar(p.key) ? String(p.key.value) : undefined;
      if (k !== undefined) walk(p.value, propertySchema(at, k));
    }
    return;
  }
  if (YAML.isSeq(node)) {
    const item = itemSchema(at);
    for (const x of node.items) walk(x, item);
  }
}

/**
 * The house style pads flow maps but not flow sequences (`{ channels: [sms, push] }`); the
 * `yaml` option is one switch for both, so each flow collection sets it for its own text.
 */
function housePadding(n: YAML.YAMLMap | YAML.YAMLSeq): void {
  if (!n.flow) return;
  const pad = YAML.isMap(n);
  const own = n.toString.bind(n);
  // The stringify context carries the option resolved to its text (" " or "").
  n.toString = ((ctx?: object, onComment?: () => void, onChompKeep?: () => void) =>
    own((ctx ? { ...ctx, flowCollectionPadding: pad ? " " : "" } : ctx) as never, onComment, onChompKeep)) as typeof n.toString;
}

export const FMT_OPTIONS: YAML.ToStringOptions = {
  indent: 2,
  indentSeq: true,
  // Never fold a long line (a condition, a reason): folding would change how it reads in a diff.
  lineWidth: 0,
  flowCollectionPadding: true,
};

export type FormatResult = { ok: true; text: string; changed: boolean } | { ok: false; error: string };

/** Formats one policy or test file. Unknown kinds are left as they are (`changed: false`). */
export function formatPolicyYaml(text: string): FormatResult {
  const docs = YAML.parseAllDocuments(text, { keepSourceTokens: false, uniqueKeys: true });
  if (!Array.isArray(docs)) return { ok: true, text, changed: false };
  for (const d of docs) {
    const e = d.errors[0];
    if (e) return { ok: false, error: `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}` };
  }
  let known = false;
  for (const d of docs) {
    const kind = YAML.isMap(d.contents) ? d.contents.get("kind") : undefined;
    const file = typeof kind === "string" ? KIND_SCHEMAS[kind] : undefined;
    if (!file) continue;
    known = true;
    walk(d.contents, { schema: schemaFile(file), file });
  }
  if (!known) return { ok: true, text, changed: false };
  for (const d of docs) YAML.visit(d, { Collection: (_k, n) => void housePadding(n) });
  const out = alignComments(docs.map((d) => d.toString(FMT_OPTIONS)).join(""));
  return { ok: true, text: out, changed: out !== text };
}

/** Where a line's trailing comment starts (its `#`), or -1: outside quotes, after a blank. */
function trailingComment(line: string): number {
  let quote = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === '"') {
      if (c === "\\") i++;
      else if (c === '"') quote = "";
    } else if (quote === "'") {
      if (c === "'") quote = "";
    } else if (c === '"' || c === "'") {
      // A quote opens a string only where a scalar can start (not inside a plain word like it's).
      if (i === 0 || /[\s\[{,:-]/.test(line[i - 1]!)) quote = c;
    } else if (c === "#" && i > 0 && /\s/.test(line[i - 1]!)) {
      return line.slice(0, i).trim() === "" ? -1 : i;
    }
  }
  return -1;
}

/**
 * The `yaml` printer puts one space before a trailing comment, which scatters the comments of
 * a table's rows. Consecutive lines with trailing comments (a block) have them aligned two
 * spaces after the longest line of the block. Lines inside block scalars are text, not YAML.
 */
export function alignComments(text: string): string {
  const lines = text.split("\n");
  const at: number[] = lines.map(() => -1);
  let scalarIndent = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const indent = line.length - line.trimStart().length;
    if (scalarIndent >= 0) {
      if (line.trim() === "" || indent > scalarIndent) continue;
      scalarIndent = -1;
    }
    at[i] = trailingComment(line);
    const code = at[i]! >= 0 ? line.slice(0, at[i]) : line;
    if (/(?:^|[\s:-])[|>][0-9+-]*\s*$/.test(code.trimEnd())) scalarIndent = indent;
  }
  for (let i = 0; i < lines.length; ) {
    if (at[i]! < 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < lines.length && at[j]! >= 0) j++;
    const width = Math.max(...lines.slice(i, j).map((l, k) => l.slice(0, at[i + k]).trimEnd().length));
    for (let k = i; k < j; k++) {
      const l = lines[k]!;
      const code = l.slice(0, at[k]).trimEnd();
      lines[k] = `${code.padEnd(width)}  ${l.slice(at[k])}`;
    }
    i = j;
  }
  return lines.join("\n");
}
