/**
 * A fast reader for the plain subset of YAML that policy files are written in: block mappings
 * and sequences, one-line plain and quoted scalars, one-line flow sequences of scalars, and
 * comments. The `yaml` package composes a full document (lexer, CST, nodes) at about 0.4 ms
 * for a 1 KB file, which made reading 10,000 journey files most of `waypost check`.
 *
 * It returns exactly what the `yaml` package would (the value, and every node's range, with the
 * options compiler/load.ts uses), or `null` for anything outside the subset or anything the
 * `yaml` package would report (a warning, an error, a duplicate or reserved key): the loader
 * then parses that file with the `yaml` package, so diagnostics come from one place.
 * test/compiler/source-yaml.test.ts compares the two on generated documents.
 *
 * The nodes are kept as one Int32Array per document (`SpanTree`), not as an object per node:
 * the loader keeps every document for the whole compile, and 10,000 journey files hold a third
 * of a million nodes; as objects they were 5 KB a file and most of the garbage collector's work.
 */

/**
 * A document's nodes in document order (a node, then its children), `REC` numbers each, at
 * offsets 0, REC, 2·REC…: `HEAD` (the subtree's record count × 8 + the node's tag), then the
 * `yaml` package's range as `START`, `END` (of the value) and `AFTER` (past its trailing comment
 * and line break, where the parent's range ends), then the range of its key when the node is a
 * mapping's value (`KEY_START`, `KEY_END`; -1 otherwise). Keys of the subset are plain strings
 * whose value is their source text.
 */
export type SpanTree = Int32Array;
export const REC = 6;
const HEAD = 0;
const START = 1;
const END = 2;
const AFTER = 3;
const KEY_START = 4;
const KEY_END = 5;
const TAGS = ["PLAIN", "QUOTE_DOUBLE", "QUOTE_SINGLE", "map", "seq"] as const;
const T_PLAIN = 0;
const T_DOUBLE = 1;
const T_SINGLE = 2;
const T_MAP = 3;
const T_SEQ = 4;

export type ScalarType = "PLAIN" | "QUOTE_DOUBLE" | "QUOTE_SINGLE";

/** One node of a SpanTree, as an object (for walking it; the tree itself holds none). */
export interface FastNode {
  kind: "scalar" | "map" | "seq";
  /** A scalar's quoting. */
  type?: ScalarType;
  start: number;
  end: number;
  after: number;
  /** The key's range when the node is a mapping's value. */
  key?: { start: number; end: number };
}

export interface FastDocument {
  tree: SpanTree;
  /** The document's range: its first node's start and end, and the end of the text. */
  range: [number, number, number];
  value: unknown;
}

/** Thrown inside the reader for anything outside the subset; `fastParseYaml` returns null. */
class Unsupported extends Error {}
const no = (): never => {
  throw new Unsupported();
};

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
// Keys: the names policy files use. Anything else (quoted, numeric, `<<`) goes to the yaml package.
const KEY = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
// A plain scalar that resolves to a string in the YAML 1.2 core schema: it does not start with
// an indicator, a digit or a sign, and is not one of the null or boolean words.
const PLAIN_START = /^[A-Za-z_/(\u00a0-\uffff]/;
const NULLS = new Set(["null", "Null", "NULL"]);
const BOOLS = new Map([["true", true], ["True", true], ["TRUE", true], ["false", false], ["False", false], ["FALSE", false]]);
const INT = /^(?:0|[1-9][0-9]{0,14})$/;
// The numbers of the core schema that start with a digit (the yaml package's int, octal, hex
// and float forms): anything else that starts with a digit is a string (`2026-01-01`, `30d`).
const DIGIT_NUMBER = /^(?:0o[0-7]+|0x[0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)$/;

// Scratch space shared by every read (the reader is synchronous and not re-entered): node
// records, and the content lines as (start, end of line, indent) triples. Only the finished
// document's records are copied out.
let recs = new Int32Array(REC * 256);
let used = 0;
let lines = new Int32Array(3 * 256);
let lineCount = 0;
// Sequence items being read, for every open sequence: each takes an exact-size copy of its own
// when it ends (an array grown by push keeps up to 16 spare slots, for as long as the document).
const pending: unknown[] = [];

/** Reserves the next node record; its fields are written when the node is complete. */
function record(): number {
  if (used + REC > recs.length) {
    const grown = new Int32Array(recs.length * 2);
    grown.set(recs);
    recs = grown;
  }
  const at = used;
  used += REC;
  recs[at + KEY_START] = -1;
  recs[at + KEY_END] = -1;
  return at;
}

function finish(at: number, tag: number, start: number, end: number, after: number): void {
  recs[at + HEAD] = ((used - at) / REC) * 8 + tag;
  recs[at + START] = start;
  recs[at + END] = end;
  recs[at + AFTER] = after;
}

export function fastParseYaml(text: string): FastDocument | null {
  used = 0;
  lineCount = 0;
  pending.length = 0;
  try {
    return new Reader(text).document();
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}

// Characters the reader leaves to the yaml package (one regular expression: faster than a loop
// over the characters, which runs mostly before the JIT compiles it, once per file).
const SPECIAL = /[\x00-\x09\x0b-\x1f\x7f\x85\u2028\u2029\ufeff\ud800-\udfff]/;

// Keys and plain values repeat from file to file (`apiVersion`, `kind`, `claims`, `sms`...):
// each distinct short text is checked once and then found by a hash of its characters, without
// cutting a new string from the text (10,000 journey files would keep 100,000 copies), and a
// found key is already V8's interned property name. At most SEEN_MAX texts of at most
// SEEN_LENGTH characters are kept in each table, so hostile input cannot grow them.
const keys = new Map<number, string>();
const values = new Map<number, string>();
const SEEN_MAX = 4096;
const SEEN_LENGTH = 64;

/** The string `t[p..end)` when `seen` holds it, else undefined (also for one too long to be kept). */
function seenText(seen: Map<number, string>, t: string, p: number, end: number): string | undefined {
  let h = end - p;
  for (let k = p; k < end; k++) h = (Math.imul(h, 31) + t.charCodeAt(k)) | 0;
  const known = seen.get(h);
  return known !== undefined && known.length === end - p && t.startsWith(known, p) ? known : undefined;
}

function remember(seen: Map<number, string>, s: string): void {
  if (seen.size >= SEEN_MAX) return;
  let h = s.length;
  for (let k = 0; k < s.length; k++) h = (Math.imul(h, 31) + s.charCodeAt(k)) | 0;
  seen.set(h, s);
}

/** The key `text[p..end)`, or unsupported: a key of the subset starts with a letter, and only the null and boolean words are not strings. */
function keyName(t: string, p: number, end: number): string {
  const short = end - p <= SEEN_LENGTH;
  const known = short ? seenText(keys, t, p, end) : undefined;
  if (known !== undefined) return known;
  const name = t.slice(p, end);
  if (!KEY.test(name) || FORBIDDEN_KEYS.has(name) || NULLS.has(name) || BOOLS.has(name)) no();
  if (short) remember(keys, name);
  return name;
}

/** The plain scalar `text[p..end)`: plainValue of it, a string seen before found without re-checking it. */
function plainScalar(t: string, p: number, end: number): string | number | boolean | null {
  const short = end - p <= SEEN_LENGTH;
  const known = short ? seenText(values, t, p, end) : undefined;
  if (known !== undefined) return known;
  const value = plainValue(t.slice(p, end));
  if (short && typeof value === "string") remember(values, value);
  return value;
}

function takeItems(mark: number): unknown[] {
  const items = pending.slice(mark);
  pending.length = mark;
  return items;
}

// Character codes the reader compares with.
const SP = 32;
const HASH = 35;
const DASH = 45;
const COLON = 58;
const COMMA = 44;
const OPEN = 91;
const CLOSE = 93;
const DQ = 34;
const SQ = 39;

class Reader {
  /** The line being read (an index into the content lines). */
  private i = 0;

  constructor(private readonly text: string) {
    // Tabs, carriage returns, control and special line-break characters: left to the yaml package.
    if (SPECIAL.test(text)) no();
    // Content lines only: blank lines and comment lines at column 0 are skipped.
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      let indent = 0;
      while (start + indent < end && text.charCodeAt(start + indent) === SP) indent++;
      if (start + indent < end) {
        const first = text.charCodeAt(start + indent);
        if (first === HASH) {
          // A comment line inside a block becomes part of the range before it: not in the subset.
          if (indent > 0) no();
        } else {
          if (indent === 0 && (first === 37 /* % */ || text.startsWith("---", start) || text.startsWith("...", start))) no();
          if (3 * lineCount + 3 > lines.length) {
            const grown = new Int32Array(lines.length * 2);
            grown.set(lines);
            lines = grown;
          }
          lines[3 * lineCount] = start;
          lines[3 * lineCount + 1] = end;
          lines[3 * lineCount + 2] = indent;
          lineCount++;
        }
      }
      start = end + 1;
    }
  }

  private lineStart(l: number): number {
    return lines[3 * l]!;
  }
  private lineEnd(l: number): number {
    return lines[3 * l + 1]!;
  }
  private indent(l: number): number {
    return lines[3 * l + 2]!;
  }

  document(): FastDocument {
    if (lineCount === 0 || this.indent(0) !== 0) no();
    const value = this.block(0, this.lineStart(0), 0);
    if (this.i !== lineCount) no();
    return { tree: recs.slice(0, used), range: [recs[START]!, recs[END]!, this.text.length], value };
  }

  /** After the content of line `l` ends at `pos`: spaces, an optional comment, then the line's end. */
  private lineRest(l: number, pos: number): number {
    const end = this.lineEnd(l);
    let p = pos;
    while (p < end && this.text.charCodeAt(p) === SP) p++;
    if (p < end) {
      if (this.text.charCodeAt(p) !== HASH || p === pos) no();
    }
    return end < this.text.length ? end + 1 : end;
  }

  /** Whether `p` is a sequence's dash: `-` then a space or the end of line `l`. */
  private dash(l: number, p: number): boolean {
    return this.text.charCodeAt(p) === DASH && (p + 1 === this.lineEnd(l) || this.text.charCodeAt(p + 1) === SP);
  }

  /** The block node whose first line is line `this.i`, starting at `col` of it (offset `at`). */
  private block(col: number, at: number, depth: number): unknown {
    if (depth > 100) no();
    if (this.dash(this.i, at)) return this.seq(col, at, depth);
    return this.map(col, at, depth);
  }

  private seq(col: number, at: number, depth: number): unknown[] {
    const t = this.text;
    const rec = record();
    const mark = pending.length;
    let end = at;
    let pos = at;
    for (;;) {
      const l = this.i;
      const lEnd = this.lineEnd(l);
      // `pos` is the dash: its item starts after the spaces that follow it.
      let p = pos + 1;
      while (p < lEnd && t.charCodeAt(p) === SP) p++;
      if (p === lEnd) no(); // an empty item or an item on the next line
      if (p - pos < 2) no();
      if (t.charCodeAt(p) === DASH) no();
      const item = used;
      if (this.keyEnd(l, p) >= 0) {
        pending.push(this.map(p - this.lineStart(l), p, depth + 1));
      } else {
        pending.push(this.inline(l, p));
        this.i++;
      }
      end = recs[item + AFTER]!;
      if (this.i >= lineCount || this.indent(this.i) < col) break;
      if (this.indent(this.i) > col) no();
      pos = this.lineStart(this.i) + col;
      if (!this.dash(this.i, pos)) break;
    }
    finish(rec, T_SEQ, at, end, end);
    return takeItems(mark);
  }

  /** Where the key of the subset at `p` on line `l` ends (its `:`, followed by a space or the line's end), or -1. */
  private keyEnd(l: number, p: number): number {
    const t = this.text;
    const lEnd = this.lineEnd(l);
    let k = p;
    for (; k < lEnd; k++) {
      const c = t.charCodeAt(k);
      if (c === COLON || c === SP || c === HASH) break;
    }
    if (k === lEnd || t.charCodeAt(k) !== COLON) return -1;
    if (k + 1 < lEnd && t.charCodeAt(k + 1) !== SP) return -1;
    return k;
  }

  private map(col: number, at: number, depth: number): Record<string, unknown> {
    const t = this.text;
    const rec = record();
    const o: Record<string, unknown> = {};
    let entries = 0;
    let p = at;
    let end = at;
    for (;;) {
      const l = this.i;
      const lEnd = this.lineEnd(l);
      const colon = this.keyEnd(l, p);
      if (colon < 0) no();
      const name = keyName(t, p, colon);
      let v = colon + 1;
      while (v < lEnd && t.charCodeAt(v) === SP) v++;
      const node = used;
      if (v === lEnd || t.charCodeAt(v) === HASH) {
        if (v < lEnd && v === colon + 1) no();
        // The value is the block on the following lines (more indented, or a sequence at this indent).
        if (l + 1 >= lineCount) no();
        const nextIndent = this.indent(l + 1);
        const nextStart = this.lineStart(l + 1) + nextIndent;
        if (!(nextIndent > col || (nextIndent === col && this.dash(l + 1, nextStart)))) no(); // an empty value: null
        if (v < lEnd) this.lineRest(l, v);
        this.i++;
        o[name] = this.block(nextIndent, nextStart, depth + 1);
        if ((recs[node + HEAD]! & 7) === T_MAP && nextIndent === col) no();
      } else {
        o[name] = this.inline(l, v);
        this.i++;
      }
      entries++;
      recs[node + KEY_START] = p;
      recs[node + KEY_END] = colon;
      end = recs[node + AFTER]!;
      if (this.i >= lineCount || this.indent(this.i) < col) break;
      if (this.indent(this.i) > col) no(); // a continuation line of a plain scalar, or bad indentation
      p = this.lineStart(this.i) + col;
      // A sequence at the indentation of its parent key ends here (the caller continues).
      if (t.charCodeAt(p) === DASH) break;
    }
    // A duplicate key replaced an earlier value: fewer properties than entries. (Counting them
    // once costs less than a lookup per key: the keys are not yet V8's interned strings.)
    if (Object.keys(o).length !== entries) no();
    finish(rec, T_MAP, at, end, end);
    return o;
  }

  /** A value that fits on line `l` from `p`: a scalar or a flow sequence, then an optional comment. */
  private inline(l: number, p: number): unknown {
    const t = this.text;
    const lEnd = this.lineEnd(l);
    if (t.charCodeAt(p) === OPEN) {
      const rec = record();
      const mark = pending.length;
      let q = p + 1;
      while (q < lEnd && t.charCodeAt(q) === SP) q++;
      if (t.charCodeAt(q) === CLOSE) {
        q++;
      } else {
        for (;;) {
          const item = used;
          pending.push(this.scalar(l, q, true));
          q = recs[item + END]!;
          while (q < lEnd && t.charCodeAt(q) === SP) q++;
          // The item's range ends where the comma or bracket is (spaces before it included).
          recs[item + AFTER] = q;
          if (q < lEnd && t.charCodeAt(q) === COMMA) {
            q++;
            while (q < lEnd && t.charCodeAt(q) === SP) q++;
            if (t.charCodeAt(q) === CLOSE) no(); // a trailing comma
            continue;
          }
          if (t.charCodeAt(q) !== CLOSE) no();
          q++;
          break;
        }
      }
      finish(rec, T_SEQ, p, q, this.lineRest(l, q));
      return takeItems(mark);
    }
    const s = used;
    const value = this.scalar(l, p, false);
    recs[s + AFTER] = this.lineRest(l, recs[s + END]!);
    return value;
  }

  /** A one-line scalar at `p`; in a flow sequence it also ends at `,` and `]`. */
  private scalar(l: number, p: number, flow: boolean): string | number | boolean | null {
    const t = this.text;
    const lEnd = this.lineEnd(l);
    const rec = record();
    const c = t.charCodeAt(p);
    if (c === DQ || c === SQ) {
      const close = t.indexOf(c === DQ ? '"' : "'", p + 1);
      if (close < 0 || close >= lEnd) no();
      let value: string;
      let q: number;
      if (c === DQ) {
        value = t.slice(p + 1, close);
        if (value.includes("\\")) no();
        q = close + 1;
      } else {
        // '' is a quote inside a single-quoted scalar.
        let parts = "";
        let from = p + 1;
        let k = close;
        while (t.charCodeAt(k + 1) === SQ) {
          parts += t.slice(from, k + 1);
          from = k + 2;
          k = t.indexOf("'", from);
          if (k < 0 || k >= lEnd) no();
        }
        value = parts + t.slice(from, k);
        q = k + 1;
      }
      // After the closing quote: spaces, then the end (or `,`/`]` in a flow sequence, or a comment).
      if (q < lEnd) {
        const n = t.charCodeAt(q);
        if (!(n === SP || (flow && (n === COMMA || n === CLOSE)))) no();
      }
      finish(rec, c === DQ ? T_DOUBLE : T_SINGLE, p, q, q);
      return value;
    }
    let q = p;
    for (; q < lEnd; q++) {
      const ch = t.charCodeAt(q);
      if (ch === COLON && (q + 1 === lEnd || t.charCodeAt(q + 1) === SP || flow)) no(); // a mapping inside a value
      if (ch === HASH && t.charCodeAt(q - 1) === SP) break;
      if (flow && (ch === COMMA || ch === CLOSE || ch === OPEN || ch === 123 /* { */ || ch === 125 /* } */)) break;
    }
    let e = q;
    while (e > p && t.charCodeAt(e - 1) === SP) e--;
    if (e === p) no();
    const value = plainScalar(t, p, e);
    finish(rec, T_PLAIN, p, e, e);
    return value;
  }
}

/** A plain scalar's value in the YAML 1.2 core schema, for the forms of the subset. */
function plainValue(raw: string): string | number | boolean | null {
  const c = raw.charCodeAt(0);
  // n, N, t, T, f, F: the first letters of the null and boolean words.
  if (c === 110 || c === 78 || c === 116 || c === 84 || c === 102 || c === 70) {
    if (NULLS.has(raw)) return null;
    const b = BOOLS.get(raw);
    if (b !== undefined) return b;
  }
  if (c >= 48 && c <= 57) {
    if (INT.test(raw)) return Number(raw);
    // Other numbers (`007`, `1.5`, `1e3`, `0x1f`) are left to the yaml package.
    if (DIGIT_NUMBER.test(raw)) no();
  } else if (!PLAIN_START.test(raw)) no();
  // Indicators inside a plain scalar that the yaml package reads differently on one line.
  if (raw.includes(" #") || raw.includes(": ")) no();
  return raw;
}

// ---- reading a SpanTree ----

/** The node at record offset `at` (0 is the document's root). */
export function nodeOf(tree: SpanTree, at: number): FastNode {
  const tag = tree[at + HEAD]! & 7;
  const n: FastNode = { kind: tag === T_MAP ? "map" : tag === T_SEQ ? "seq" : "scalar", start: tree[at + START]!, end: tree[at + END]!, after: tree[at + AFTER]! };
  if (n.kind === "scalar") n.type = TAGS[tag] as ScalarType;
  if (tree[at + KEY_START]! >= 0) n.key = { start: tree[at + KEY_START]!, end: tree[at + KEY_END]! };
  return n;
}

/** The record offsets of the children of the node at `at` (a mapping's values, in order, or a sequence's items). */
export function childrenOf(tree: SpanTree, at: number): number[] {
  const out: number[] = [];
  const end = at + (tree[at + HEAD]! >> 3) * REC;
  for (let c = at + REC; c < end; c += (tree[c + HEAD]! >> 3) * REC) out.push(c);
  return out;
}

export const isMapNode = (tree: SpanTree, at: number): boolean => (tree[at + HEAD]! & 7) === T_MAP;
export const isSeqNode = (tree: SpanTree, at: number): boolean => (tree[at + HEAD]! & 7) === T_SEQ;

/** The mapping value under the key `name`, or -1 (also when the node is not a mapping). */
export function childByKey(tree: SpanTree, text: string, at: number, name: string): number {
  if ((tree[at + HEAD]! & 7) !== T_MAP) return -1;
  const end = at + (tree[at + HEAD]! >> 3) * REC;
  for (let c = at + REC; c < end; c += (tree[c + HEAD]! >> 3) * REC) {
    const ks = tree[c + KEY_START]!;
    if (tree[c + KEY_END]! - ks === name.length && text.startsWith(name, ks)) return c;
  }
  return -1;
}

/** The sequence's item `index`, or -1 (also when the node is not a sequence). */
export function childByIndex(tree: SpanTree, at: number, index: number): number {
  if ((tree[at + HEAD]! & 7) !== T_SEQ || !Number.isInteger(index) || index < 0) return -1;
  const end = at + (tree[at + HEAD]! >> 3) * REC;
  let c = at + REC;
  for (let k = 0; k < index && c < end; k++) c += (tree[c + HEAD]! >> 3) * REC;
  return c < end ? c : -1;
}

/** A scalar node's value, read again from its source (the subset's scalars are one line, without escapes). */
export function scalarValue(tree: SpanTree, text: string, at: number): string | number | boolean | null {
  const tag = tree[at + HEAD]! & 7;
  const raw = text.slice(tree[at + START]!, tree[at + END]!);
  if (tag === T_DOUBLE) return raw.slice(1, -1);
  if (tag === T_SINGLE) return raw.slice(1, -1).replaceAll("''", "'");
  return plainValue(raw);
}
