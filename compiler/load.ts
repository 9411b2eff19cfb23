/**
 * Stage 1, load: read the policy repository through a SourceHost and parse every YAML file
 * into documents that keep their source positions. Hostile input (binary files, huge files,
 * alias bombs, duplicate keys, prototype-polluting keys) becomes diagnostics, never a crash.
 */
import { isAscii } from "node:buffer";
import * as YAML from "yaml";
import { diag, type Diagnostic, type Span } from "./diagnostics.js";
import { SourceFile } from "./source-file.js";
import { scanHost, SourceRefusal, type RefusedEntry, type SourceHost } from "./source.js";
import { childByIndex, childByKey, fastParseYaml, isMapNode, isSeqNode, nodeOf, scalarValue, type FastDocument, type SpanTree } from "./source-yaml.js";

export const MAX_YAML_BYTES = 5 * 1024 * 1024;
export const MAX_ALIASES = 100;
const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/** The folders of a policy repository the compiler reads, in this order. */
export const POLICY_DIRS = ["policies", "journeys"] as const;

export interface LoadedDocument {
  file: SourceFile;
  /** Index of the document inside a multi-document file. */
  index: number;
  doc: YAML.Document.Parsed;
  /**
   * The nodes' ranges as the fast reader read them (compiler/source-yaml.ts), when it did: then
   * `doc` is composed by the yaml package only when something asks for it.
   */
  tree?: SpanTree;
  /** The plain value (null for an empty document). */
  value: unknown;
  /** Span of the whole document, for diagnostics about it as a whole. */
  span: Span;
}

export interface LoadResult {
  host: SourceHost;
  files: Map<string, SourceFile>;
  documents: LoadedDocument[];
  diagnostics: Diagnostic[];
}

const isYaml = (p: string): boolean => /\.ya?ml$/i.test(p);

export async function load(host: SourceHost, dirs: readonly string[] = POLICY_DIRS): Promise<LoadResult> {
  const result: LoadResult = { host, files: new Map(), documents: [], diagnostics: [] };
  let all: string[];
  try {
    const listing = await scanHost(host);
    all = listing.files;
    for (const r of listing.refused) {
      if (dirs.some((d) => r.path === d || r.path.startsWith(`${d}/`))) result.diagnostics.push(refusal(r, r.folder || isYaml(r.path) ? "error" : "warning"));
    }
  } catch (e) {
    result.diagnostics.push(
      diag("WP0001", "error", `cannot read the policy directory \`${host.description}\``, undefined, ioHelp(e)),
    );
    return result;
  }
  const wanted = all.filter((p) => isYaml(p) && dirs.some((d) => p.startsWith(`${d}/`)));
  if (wanted.length === 0 && !result.diagnostics.some((d) => d.severity === "error")) {
    result.diagnostics.push(
      diag(
        "WP0005",
        "error",
        `no policy files found in \`${host.description}\``,
        undefined,
        `put YAML files under ${dirs.map((d) => `\`${d}/\``).join(" or ")} (each with \`apiVersion: waypost/v1\` and a \`kind\`)`,
      ),
    );
    return result;
  }
  // Every file is read first and then decoded together (decodeTexts), then each is parsed in order.
  const read: Read[] = [];
  for (const p of wanted) {
    try {
      const bytes = await host.readFile(p);
      // A file over the limit is only reported: its bytes are not kept while the others are read.
      read.push(bytes !== null && bytes.length > MAX_YAML_BYTES ? { tooLarge: bytes.length } : bytes);
    } catch (e) {
      read.push({ error: e });
    }
  }
  const texts = decodeTexts(read.map((r) => (r instanceof Uint8Array ? r : null)));
  wanted.forEach((p, i) => loadFile(p, read[i]!, texts[i] ?? null, result));
  return result;
}

/** A policy file as read: its bytes, null when it disappeared, the error reading it, or the size of one over the limit. */
type Read = Uint8Array | null | { error: unknown } | { tooLarge: number };

function loadFile(p: string, bytes: Read, text: string | null, out: LoadResult): void {
  if (bytes !== null && "tooLarge" in bytes) {
    out.diagnostics.push(
      diag("WP0004", "error", `\`${p}\` is too large (${bytes.tooLarge} bytes; the limit is ${MAX_YAML_BYTES})`, { file: p, start: 0, end: 0 },
        "split it into several files, or move long lists into an `entries_file`"),
    );
    return;
  }
  if (bytes !== null && "error" in bytes) {
    const e = bytes.error;
    out.diagnostics.push(e instanceof SourceRefusal ? refusal(e.entry, "error") : diag("WP0002", "error", `cannot read \`${p}\``, { file: p, start: 0, end: 0 }, ioHelp(e)));
    return;
  }
  if (bytes === null) {
    out.diagnostics.push(diag("WP0002", "error", `cannot read \`${p}\``, { file: p, start: 0, end: 0 }, "the file disappeared while it was being read"));
    return;
  }
  if (text === null) {
    out.diagnostics.push(
      diag("WP0003", "error", `\`${p}\` is not a UTF-8 text file`, { file: p, start: 0, end: 0 }, "policy files must be YAML text; remove binary files from `policies/` and `journeys/`"),
    );
    return;
  }
  const file = new SourceFile(p, text);
  out.files.set(p, file);
  const fast = fastParseYaml(text);
  if (fast !== null) {
    out.documents.push(fastDocument(file, fast));
    return;
  }
  const docs = YAML.parseAllDocuments(text, YAML_OPTIONS);
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, index) => {
    const span: Span = { file: p, start: doc.range?.[0] ?? 0, end: doc.range?.[1] ?? 0 };
    let bad = false;
    let syntax = false;
    for (const e of doc.errors) {
      bad = true;
      const d = yamlError(p, e);
      // One syntax error cascades into several; the first is the one to fix.
      if (d.code === "WP0010") {
        if (syntax) continue;
        syntax = true;
      }
      out.diagnostics.push(d);
    }
    for (const w of doc.warnings) {
      out.diagnostics.push(diag("WP0014", "warning", lowerFirst(w.message.split("\n")[0] ?? ""), { file: p, start: w.pos[0], end: w.pos[1] }));
    }
    if (bad) return;
    const forbidden = findForbiddenKeys(doc.contents);
    for (const node of forbidden) {
      bad = true;
      const r = node.range ?? [0, 0];
      out.diagnostics.push(
        diag("WP0013", "error", `the key \`${String(node.value)}\` is not allowed`, { file: p, start: r[0], end: r[1] },
          "`__proto__`, `constructor` and `prototype` are reserved; rename the key"),
      );
    }
    if (bad) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (e) {
      out.diagnostics.push(
        diag("WP0012", "error", "too many alias expansions in this document", span,
          `YAML aliases (\`*name\`) may expand at most ${MAX_ALIASES} times per document; write the values out instead (this limit stops \"billion laughs\" files)`),
      );
      void e;
      return;
    }
    if (value === null || value === undefined) return; // empty document (e.g. a trailing `---`)
    out.documents.push({ file, index, doc, value, span });
  });
}

const YAML_OPTIONS = { uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false } as const;

/**
 * A document the fast reader read: the same value and spans as the yaml package's, with the
 * yaml package's Document composed on first use of `doc` (an own, enumerable getter, so a copy
 * made with property descriptors shares it; see `copyDocument`).
 */
function fastDocument(file: SourceFile, fast: FastDocument): LoadedDocument {
  const d = { file, index: 0, tree: fast.tree, value: fast.value, span: { file: file.path, start: fast.range[0], end: fast.range[1] } };
  return Object.defineProperty(d, "doc", { enumerable: true, get: composedDoc }) as LoadedDocument;
}

/** The yaml package's documents for fast-read files, composed when first asked for. */
const composed = new WeakMap<SourceFile, YAML.Document.Parsed>();

/**
 * The getter of a fast reader's document's `doc`. One function for all of them: a getter made
 * per document (a closure) gives every document an object shape of its own, which V8 keeps as
 * a dictionary (10,000 journey files: 10,000 of them, for the whole compile).
 */
function composedDoc(this: LoadedDocument): YAML.Document.Parsed {
  let doc = composed.get(this.file);
  if (doc === undefined) {
    doc = (YAML.parseAllDocuments(this.file.text, YAML_OPTIONS) as YAML.Document.Parsed[])[0]!;
    composed.set(this.file, doc);
  }
  return doc;
}

/** `d` with `extra` added, keeping a lazily composed `doc` lazy (a spread would compose it). */
export function copyDocument<T extends object>(d: LoadedDocument, extra: T): LoadedDocument & T {
  const lazy = d.tree !== undefined ? Object.getOwnPropertyDescriptor(d, "doc") : undefined;
  if (lazy?.get === undefined) return Object.defineProperties(Object.assign({}, extra), Object.getOwnPropertyDescriptors(d)) as LoadedDocument & T;
  // A fast reader's document (fastDocument's shape, in its key order): one descriptor to copy,
  // not six (10,000 journey files: a tenth of the Validate stage).
  const out = Object.assign({}, extra, { file: d.file, index: d.index, tree: d.tree, value: d.value, span: d.span });
  return Object.defineProperty(out, "doc", lazy) as unknown as LoadedDocument & T;
}

/**
 * A path the host will not read (compiler/source.ts). `at` is where a policy names it (an
 * `entries_file`); without one the diagnostic points at the path itself. Entries that are
 * neither YAML nor folders are warnings when listed (nothing reads them unless a policy names
 * them, and then that reference is an error), so nothing is skipped silently.
 */
export function refusal(r: RefusedEntry, severity: "error" | "warning", at?: Span): Diagnostic {
  const span = at ?? { file: r.path, start: 0, end: 0 };
  const what = `\`${r.path}\` is ${r.what}${severity === "warning" ? "; it is not read" : ""}`;
  switch (r.kind) {
    case "outside":
      return diag("WP0008", severity, what, span,
        "the compiler reads only files inside the policy repository: copy the file in, or point the link at a file inside the repository (links inside it are followed)");
    case "special":
      return diag("WP0009", severity, what, span, "policy and data files must be regular files (or links to them inside the repository); remove it");
    case "loop":
      return diag("WP0009", severity, what, span, "fix or remove the link: following it leads back to where it started");
    case "dangling":
      return diag("WP0009", severity, what, span, "fix the link's target, or remove the link");
  }
}

function yamlError(file: string, e: YAML.YAMLError): Diagnostic {
  const span: Span = { file, start: e.pos[0], end: Math.max(e.pos[1], e.pos[0]) };
  const first = lowerFirst((e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, ""));
  switch (e.code) {
    case "DUPLICATE_KEY":
      return diag("WP0011", "error", "this key appears twice in the same mapping", span, "remove or rename one of them: YAML keeps only one value per key");
    case "BAD_INDENT":
    case "MISSING_CHAR":
    case "UNEXPECTED_TOKEN":
    case "BLOCK_AS_IMPLICIT_KEY":
    case "MULTILINE_IMPLICIT_KEY":
    case "TAB_AS_INDENT":
      return diag("WP0010", "error", `YAML syntax error: ${first}`, span, yamlHelp(e.code));
    default:
      return diag("WP0010", "error", `YAML syntax error: ${first}`, span, yamlHelp(e.code));
  }
}

function yamlHelp(code: string): string {
  switch (code) {
    case "TAB_AS_INDENT":
      return "indent with spaces, not tabs";
    case "BAD_INDENT":
      return "check the indentation of this line against the lines above it";
    case "BLOCK_AS_IMPLICIT_KEY":
    case "MULTILINE_IMPLICIT_KEY":
      return "a key must fit on one line and end with `: `; quote values that contain `: `";
    default:
      return "check the line for a missing `:`, an unclosed quote or bracket, or wrong indentation";
  }
}

function findForbiddenKeys(node: unknown, out: YAML.Scalar[] = [], depth = 0): YAML.Scalar[] {
  if (depth > 200) return out;
  if (YAML.isMap(node)) {
    for (const pair of node.items) {
      if (YAML.isScalar(pair.key) && FORBIDDEN_KEYS.has(String(pair.key.value))) out.push(pair.key);
      findForbiddenKeys(pair.value, out, depth + 1);
    }
  } else if (YAML.isSeq(node)) {
    for (const item of node.items) findForbiddenKeys(item, out, depth + 1);
  }
  return out;
}

/** Characters of ASCII files decoded into one string (see decodeTexts). */
const TEXT_BATCH = 1 << 20;

/**
 * `decodeText` of each file (undefined for a null entry). The texts live as long as the compile,
 * and 10,000 journey files of about 800 bytes are 10,000 strings the garbage collector copies
 * twice each; so ASCII files (policy files almost always are) are decoded a megabyte at a time
 * into one string, which V8 allocates outside the young generation, and each file's text is a
 * slice of it (a small object pointing into it). Others are decoded one by one.
 */
export function decodeTexts(files: readonly (Uint8Array | null)[]): (string | null | undefined)[] {
  const out: (string | null | undefined)[] = new Array<string | null | undefined>(files.length).fill(undefined);
  let batch: number[] = [];
  let size = 0;
  const flush = (): void => {
    const joined = Buffer.concat(batch.map((i) => files[i]!), size).toString("latin1");
    let at = 0;
    for (const i of batch) {
      const n = files[i]!.length;
      out[i] = joined.slice(at, at + n);
      at += n;
    }
    batch = [];
    size = 0;
  };
  files.forEach((b, i) => {
    if (b === null) return;
    // ASCII without NUL: the same text decodeText gives (no BOM, nothing to validate).
    if (b.length > 0 && isAscii(b) && !b.includes(0)) {
      batch.push(i);
      size += b.length;
      if (size >= TEXT_BATCH) flush();
    } else out[i] = decodeText(b);
  });
  if (batch.length > 0) flush();
  return out;
}

/** One decoder for every file: a whole-input decode keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Strict UTF-8 decoding; null for binary content (NUL bytes or invalid UTF-8). */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    const text = UTF8.decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    return null;
  }
}

function ioHelp(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return "check the path: it does not exist";
  if (code === "EACCES" || code === "EPERM") return "check the permissions: the file or folder is not readable";
  if (code === "ENOTDIR") return "give the repository folder, not a file";
  return `the system reported: ${(e as Error | undefined)?.message ?? String(e)}`;
}

const lowerFirst = (s: string): string => (s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s);

/** Path segments inside a document, as ajv and the checker address values. */
export type DocPath = readonly (string | number)[];

/**
 * The span of the value (or key) at `path`, falling back to the nearest existing ancestor, so
 * every diagnostic about a document points somewhere useful.
 */
export function spanAt(d: LoadedDocument, path: DocPath, part: "key" | "value" = "value"): Span {
  if (d.tree !== undefined) return fastSpanAt(d, d.tree, path, part);
  let node: unknown = d.doc.contents;
  let keyNode: unknown = null;
  for (const seg of path) {
    if (YAML.isMap(node)) {
      const pair = node.items.find((it) => YAML.isScalar(it.key) && String(it.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key;
      node = pair.value;
    } else if (YAML.isSeq(node) && typeof seg === "number") {
      const item = node.items[seg];
      if (item === undefined) break;
      keyNode = null;
      node = item;
    } else break;
  }
  const target = part === "key" && keyNode ? keyNode : node;
  const range = (target as { range?: [number, number, number] } | null)?.range;
  if (!range) return d.span;
  return { file: d.file.path, start: range[0], end: range[1] };
}

/** `spanAt` on the fast reader's nodes: the same walk, the same ranges. */
function fastSpanAt(d: LoadedDocument, tree: SpanTree, path: DocPath, part: "key" | "value"): Span {
  const text = d.file.text;
  let node = 0;
  // The last node reached through a mapping's key (none once a sequence is entered).
  let keyed = -1;
  for (const seg of path) {
    let next: number;
    if (isMapNode(tree, node)) {
      next = childByKey(tree, text, node, String(seg));
      keyed = next < 0 ? keyed : next;
    } else if (isSeqNode(tree, node) && typeof seg === "number") {
      next = childByIndex(tree, node, seg);
      keyed = next < 0 ? keyed : -1;
    } else break;
    if (next < 0) break;
    node = next;
  }
  const key = part === "key" && keyed >= 0 ? nodeOf(tree, keyed).key : undefined;
  if (key) return { file: d.file.path, start: key.start, end: key.end };
  const n = nodeOf(tree, node);
  return { file: d.file.path, start: n.start, end: n.end };
}

/** What a scalar node tells about its source: its value, its range, its quoting (a yaml package `Scalar` has them). */
export interface SourceScalar {
  value: unknown;
  range?: [number, number, number] | null;
  type?: YAML.Scalar.Type | null;
}

/** The YAML scalar node at `path`, when it is one (conditions need their exact source). */
export function scalarAt(d: LoadedDocument, path: DocPath): SourceScalar | null {
  if (d.tree !== undefined) {
    // As the yaml package's `getIn`: keys match by strict equality, sequence indexes as integers.
    const tree = d.tree;
    let node = 0;
    for (const seg of path) {
      if (isMapNode(tree, node)) node = typeof seg === "string" ? childByKey(tree, d.file.text, node, seg) : -1;
      else if (isSeqNode(tree, node)) {
        const idx: unknown = typeof seg === "string" && seg !== "" ? Number(seg) : seg;
        node = typeof idx === "number" ? childByIndex(tree, node, idx) : -1;
      } else return null;
      if (node < 0) return null;
    }
    const n = nodeOf(tree, node);
    // What a parsed Scalar has (not a Scalar: making one costs more than finding it, once per condition).
    return n.kind === "scalar" ? { value: scalarValue(tree, d.file.text, node), range: [n.start, n.end, n.after], type: n.type ?? null } : null;
  }
  const n = d.doc.getIn(path, true);
  return YAML.isScalar(n) ? n : null;
}
