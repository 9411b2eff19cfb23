/**
 * Stage 2, validate: every document against the JSON Schema of its kind (ajv, draft 2020-12).
 * The same schemas ship in `schemas/` for editors (yaml-language-server `$schema` comments).
 * ajv errors are translated into located diagnostics a non-programmer can act on.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { Ajv2020 as Ajv, ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import { diag, didYouMean, type Diagnostic } from "./diagnostics.js";
import { copyDocument, spanAt, type LoadedDocument } from "./load.js";
import { packageRoot } from "./package-root.js";

/** Each kind and the schema file that defines it. */
export const KINDS = {
  DataDictionary: "data-dictionary.schema.json",
  Purposes: "purposes.schema.json",
  Suppressions: "suppressions.schema.json",
  AccessPolicy: "access-policy.schema.json",
  ContactPolicy: "contact-policy.schema.json",
  JourneyNode: "journey-node.schema.json",
} as const;
export type Kind = keyof typeof KINDS;

export interface ValidDocument extends LoadedDocument {
  kind: Kind;
}

type SchemaObject = Record<string, unknown>;
let validators: Map<Kind, ValidateFunction> | undefined;
const schemaById = new Map<string, SchemaObject>();

/** The validators' ajv options; `ajvCode` adds standalone code generation to them. */
const AJV_OPTIONS = { allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, validateSchema: false } as const;

/** The precompiled validators (scripts/build-validators.mjs), next to this file in dist/. */
export const PRECOMPILED_VALIDATORS = "schema-validators.cjs";

/** Every schema file's text, common first, and a digest of them all (the precompiled module records it). */
export function schemaTexts(): { texts: Map<string, string>; digest: string } {
  const dir = path.join(packageRoot(), "schemas");
  const texts = new Map<string, string>();
  const h = createHash("sha256");
  for (const file of ["common.schema.json", ...Object.values(KINDS)]) {
    const text = readFileSync(path.join(dir, file), "utf8");
    texts.set(file, text);
    h.update(`${file}\0${text.length}\0${text}`);
  }
  return { texts, digest: h.digest("hex") };
}

// ajv and the precompiled module are CommonJS: loaded synchronously, and ajv only when the
// precompiled module is missing or stale.
const requireHere = createRequire(import.meta.url);

/** An ajv instance holding every schema (`code`: for scripts/build-validators.mjs). */
export function schemaAjv(texts: ReadonlyMap<string, string>, code?: { source: true }): Ajv {
  const { Ajv2020 } = requireHere("ajv/dist/2020.js") as typeof import("ajv/dist/2020.js");
  const ajv = new Ajv2020(code ? { ...AJV_OPTIONS, code } : AJV_OPTIONS);
  for (const [, text] of texts) ajv.addSchema(JSON.parse(text) as SchemaObject);
  return ajv;
}

function getValidators(): Map<Kind, ValidateFunction> {
  if (validators) return validators;
  // The schemas ship with the compiler, so checking them against the draft 2020-12 meta-schema
  // on every run only repeats test/compiler/schemas.test.ts. The build compiles them once to
  // standalone code (ajv's compile was most of this stage's time on a small repository); it is
  // used when it was made from these very schema files, otherwise ajv compiles them here.
  const { texts, digest } = schemaTexts();
  for (const [file, text] of texts) schemaById.set(file, JSON.parse(text) as SchemaObject);
  let pre: (Record<Kind, ValidateFunction> & { SCHEMA_DIGEST?: string }) | undefined;
  try {
    pre = requireHere(`./${PRECOMPILED_VALIDATORS}`) as typeof pre;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
  }
  validators = new Map();
  if (pre !== undefined && pre.SCHEMA_DIGEST === digest) {
    for (const kind of Object.keys(KINDS) as Kind[]) validators.set(kind, pre[kind]);
    return validators;
  }
  const ajv = schemaAjv(texts);
  for (const [kind, file] of Object.entries(KINDS) as [Kind, string][]) {
    validators.set(kind, ajv.getSchema(String(schemaById.get(file)!["$id"]))!);
  }
  return validators;
}

export function validate(docs: readonly LoadedDocument[]): { documents: ValidDocument[]; diagnostics: Diagnostic[] } {
  const vs = getValidators();
  const documents: ValidDocument[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const d of docs) {
    const v = d.value;
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      diagnostics.push(diag("WP1001", "error", "a policy document must be a mapping with `apiVersion` and `kind`", d.span,
        "start the file with `apiVersion: waypost/v1` and `kind: JourneyNode` (or another kind)"));
      continue;
    }
    const rec = v as Record<string, unknown>;
    const kind = rec["kind"];
    if (typeof kind !== "string" || !(kind in KINDS)) {
      const known = Object.keys(KINDS);
      const guess = typeof kind === "string" ? didYouMean(kind, known) : undefined;
      diagnostics.push(
        diag("WP1001", "error", kind === undefined ? "this document has no `kind`" : `unknown kind \`${String(kind)}\``,
          kind === undefined ? d.span : spanAt(d, ["kind"]),
          guess ? `did you mean \`${guess}\`?` : `\`kind\` must be one of ${known.map((k) => `\`${k}\``).join(", ")}`),
      );
      continue;
    }
    const fn = vs.get(kind as Kind)!;
    if (fn(v)) {
      documents.push(copyDocument(d, { kind: kind as Kind }));
      continue;
    }
    diagnostics.push(...explain(d, fn.errors ?? [], KINDS[kind as Kind]));
  }
  return { documents, diagnostics };
}

const segs = (pointer: string): (string | number)[] =>
  pointer === ""
    ? []
    : pointer
        .slice(1)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

/** The human name of the value at a path: `trigger.event`, `eligibility[2].when`. */
function describe(path: (string | number)[]): string {
  if (path.length === 0) return "the document";
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return `\`${s}\``;
}

function typeName(v: unknown): string {
  if (v === null) return "nothing (null)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the text \`${v.length > 40 ? v.slice(0, 40) + "…" : v}\``;
  return `${typeof v === "number" ? "the number" : "the value"} \`${String(v)}\``;
}

function valueAt(root: unknown, path: (string | number)[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Follows an ajv schemaPath (`common.schema.json#/$defs/duration/pattern`) to the schema object. */
function schemaNode(errSchemaPath: string, file: string): SchemaObject | undefined {
  const [base, frag] = errSchemaPath.includes("#") ? errSchemaPath.split("#") : [file, errSchemaPath];
  const root = schemaById.get(base && base !== "" ? base : file);
  if (!root || frag === undefined) return undefined;
  const parts = segs(frag).slice(0, -1); // drop the keyword itself
  let cur: unknown = root;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur as SchemaObject | undefined;
}

function explain(d: LoadedDocument, errors: ErrorObject[], file: string): Diagnostic[] {
  // oneOf/anyOf report every branch's failure; keep the summary and drop the branch noise.
  const alternatives = errors.filter((e) => e.keyword === "oneOf" || e.keyword === "anyOf");
  const kept = errors.filter((e) => {
    if (e.keyword === "if") return false;
    // ajv reports a bad property name twice: the inner check (with `propertyName`) and `propertyNames`.
    if ((e as { propertyName?: string }).propertyName !== undefined) return false;
    if (e.keyword === "oneOf" || e.keyword === "anyOf") return true;
    return !alternatives.some((a) => e.instancePath.startsWith(a.instancePath) && e.schemaPath.startsWith(a.schemaPath.replace(/\/(oneOf|anyOf)$/, "")) && /\/(oneOf|anyOf)\/\d+/.test(e.schemaPath));
  });
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const path = segs(e.instancePath);
    const what = describe(path);
    const schema = schemaNode(e.schemaPath, file);
    const description = typeof schema?.["description"] === "string" ? (schema["description"] as string) : undefined;
    let dg: Diagnostic;
    switch (e.keyword) {
      case "required": {
        const missing = String((e.params as { missingProperty: string }).missingProperty);
        // At the top level, point at `kind:` (the document's name tag) rather than the whole file.
        dg = diag("WP1002", "error", `missing \`${missing}\`${path.length ? ` in ${what}` : ""}`, spanAt(d, path.length ? path : ["kind"], "key"), `add \`${missing}:\` ${path.length ? "here" : "to this document"}`);
        break;
      }
      case "additionalProperties": {
        const extra = String((e.params as { additionalProperty: string }).additionalProperty);
        const props = Object.keys((schema?.["properties"] as Record<string, unknown> | undefined) ?? {});
        const guess = didYouMean(extra, props);
        dg = diag("WP1003", "error", `unknown property \`${extra}\`${path.length ? ` in ${what}` : ""}`, spanAt(d, [...path, extra], "key"),
          guess ? `did you mean \`${guess}\`?` : props.length ? `allowed here: ${props.map((p) => `\`${p}\``).join(", ")}` : undefined);
        break;
      }
      case "type": {
        const want = String((e.params as { type: string }).type).replace(/,/g, " or ");
        const article = /^[aeiou]/.test(want) ? "an" : "a";
        dg = diag("WP1004", "error", `${what} should be ${want === "object" ? "a mapping" : want === "array" ? "a list" : `${article} ${want}`}, found ${typeName(valueAt(d.value, path))}`,
          spanAt(d, path), description);
        break;
      }
      case "enum":
      case "const": {
        const allowed = e.keyword === "enum" ? ((e.params as { allowedValues: unknown[] }).allowedValues ?? []) : [(e.params as { allowedValue: unknown }).allowedValue];
        const actual = valueAt(d.value, path);
        const guess = typeof actual === "string" ? didYouMean(actual, allowed.map(String)) : undefined;
        const code = path.length === 1 && path[0] === "apiVersion" ? "WP1009" : "WP1005";
        dg = diag(code, "error", `${what} cannot be ${typeName(actual)}`, spanAt(d, path),
          guess ? `did you mean \`${guess}\`?` : `write ${allowed.map((a) => `\`${String(a)}\``).join(", ")}`);
        break;
      }
      case "pattern":
      case "minLength":
      case "maxLength":
      case "minimum":
      case "maximum":
      case "minItems":
      case "minProperties":
      case "format": {
        const actual = valueAt(d.value, path);
        const msg =
          e.keyword === "pattern"
            ? `${what} is not valid: ${typeName(actual)}`
            : e.keyword === "minItems" || e.keyword === "minProperties"
              ? `${what} must not be empty`
              : `${what} ${e.message ?? "is out of range"}`;
        dg = diag("WP1006", "error", msg, spanAt(d, path), description ? `expected ${description}` : undefined);
        break;
      }
      case "uniqueItems": {
        const { i, j } = e.params as { i: number; j: number };
        dg = diag("WP1008", "error", `${what} lists the same value twice`, spanAt(d, [...path, i]), `remove the repeated entry (items ${j + 1} and ${i + 1} are equal)`);
        break;
      }
      case "propertyNames": {
        const name = String((e.params as { propertyName: string }).propertyName);
        const nameSchema = schema?.["propertyNames"] as SchemaObject | undefined;
        const ref = typeof nameSchema?.["$ref"] === "string" ? (nameSchema["$ref"] as string) : undefined;
        const refSchema = ref ? schemaNode(`${ref}/x`, file) : undefined;
        const desc = (refSchema?.["description"] as string | undefined) ?? (nameSchema?.["description"] as string | undefined);
        dg = diag("WP1010", "error", `\`${name}\` is not a valid name in ${what}`, spanAt(d, [...path, name], "key"), desc ? `expected ${desc}` : undefined);
        break;
      }
      case "oneOf":
      case "anyOf": {
        dg = diag("WP1007", "error", `${what} does not have an accepted form`, spanAt(d, path), description ? `expected ${description}` : alternativesHelp(schema, e.keyword));
        break;
      }
      default:
        dg = diag("WP1006", "error", `${what} ${e.message ?? "is invalid"}`, spanAt(d, path), description);
    }
    const key = `${dg.code}|${dg.span?.start}|${dg.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(dg);
  }
  return out;
}

function alternativesHelp(schema: SchemaObject | undefined, keyword: string): string | undefined {
  const alts = schema?.[keyword] as SchemaObject[] | undefined;
  if (!alts) return undefined;
  const forms = alts.map((a) => {
    if (Array.isArray(a["required"])) return `\`${(a["required"] as string[]).join("` and `")}\``;
    if ("const" in a) return `\`${String(a["const"])}\``;
    if (a["type"] === "array") return "a list";
    if (a["type"] === "object") return "a mapping";
    return String(a["type"] ?? "another form");
  });
  return keyword === "oneOf" ? `give exactly one of: ${forms.join(", ")}` : `give at least one of: ${forms.join(", ")}`;
}
