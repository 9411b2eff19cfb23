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
 */

// Each node has the `yaml` package's range as three numbers (not an array: one allocation less
// per node, and 10,000 files hold half a million nodes): `start`, `end` (of the value) and
// `after` (past its trailing comment and line break, where the parent's range ends).
export interface FastScalar {
  kind: "scalar";
  value: string | number | boolean | null;
  type: "PLAIN" | "QUOTE_DOUBLE" | "QUOTE_SINGLE";
  start: number;
  end: number;
  after: number;
}
/** A mapping's entry: keys of the subset are plain strings (the key's range is `keyStart`..`keyEnd`). */
export interface FastPair {
  key: string;
  keyStart: number;
  keyEnd: number;
  value: FastNode;
}
export interface FastMap {
  kind: "map";
  items: FastPair[];
  start: number;
  end: number;
  after: number;
}
export interface FastSeq {
  kind: "seq";
  items: FastNode[];
  start: number;
  end: number;
  after: number;
}
export type FastNode = FastScalar | FastMap | FastSeq;

export interface FastDocument {
  contents: FastNode;
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
const DIGIT_START = /^[0-9]/;
const NOT_NUMERIC = /[^0-9A-Za-z.+\-_]/;

interface Line {
  /** Offset of the line's first character. */
  start: number;
  /** Offset of the line break (or the text's end). */
  end: number;
  indent: number;
}

export function fastParseYaml(text: string): FastDocument | null {
  try {
    return new Reader(text).document();
  } catch (e) {
    if (e instanceof Unsupported) return null;
    throw e;
  }
}

class Reader {
  /** Content lines only: blank lines and comment lines at column 0 are skipped. */
  private readonly lines: Line[] = [];
  private i = 0;

  constructor(private readonly text: string) {
    for (let k = 0; k < text.length; k++) {
      const c = text.charCodeAt(k);
      // Tabs, carriage returns, control and special line-break characters: left to the yaml package.
      if ((c < 0x20 && c !== 10) || c === 0x7f || c === 0x85 || c === 0x2028 || c === 0x2029 || c === 0xfeff || (c >= 0xd800 && c <= 0xdfff)) no();
    }
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      let indent = 0;
      while (start + indent < end && text.charCodeAt(start + indent) === 32) indent++;
      if (start + indent < end) {
        const first = text[start + indent]!;
        if (first === "#") {
          // A comment line inside a block becomes part of the range before it: not in the subset.
          if (indent > 0) no();
        } else {
          if (indent === 0 && (first === "%" || text.startsWith("---", start) || text.startsWith("...", start))) no();
          this.lines.push({ start, end, indent });
        }
      }
      start = end + 1;
    }
  }

  document(): FastDocument {
    const first = this.lines[0];
    if (first === undefined || first.indent !== 0) no();
    const contents = this.block(0, first!.start, 0);
    if (this.i !== this.lines.length) no();
    const value = toJS(contents);
    return { contents, range: [contents.start, contents.end, this.text.length], value };
  }

  /** After the content of line `l` ends at `pos`: spaces, an optional comment, then the line's end. */
  private lineRest(l: Line, pos: number): number {
    let p = pos;
    while (p < l.end && this.text.charCodeAt(p) === 32) p++;
    if (p < l.end) {
      if (this.text[p] !== "#" || p === pos) no();
    }
    return l.end < this.text.length ? l.end + 1 : l.end;
  }

  /** The block node whose first line is line `this.i`, starting at `col` of it (offset `at`). */
  private block(col: number, at: number, _depth: number): FastMap | FastSeq {
    if (_depth > 100) no();
    const t = this.text;
    if (t[at] === "-" && (at + 1 === this.lines[this.i]!.end || t[at + 1] === " ")) return this.seq(col, at, _depth);
    return this.map(col, at, _depth);
  }

  private seq(col: number, at: number, depth: number): FastSeq {
    const items: FastNode[] = [];
    const start = at;
    let end = at;
    let pos = at;
    for (;;) {
      const l = this.lines[this.i]!;
      // `pos` is the dash: its item starts after the spaces that follow it.
      let p = pos + 1;
      while (p < l.end && this.text.charCodeAt(p) === 32) p++;
      if (p === l.end) no(); // an empty item or an item on the next line
      if (p - pos < 2) no();
      const c = this.text[p]!;
      let item: FastNode;
      if (c === "-") no();
      if (this.startsMapEntry(l, p)) {
        item = this.map(p - l.start, p, depth + 1);
      } else {
        item = this.inline(l, p);
        this.i++;
      }
      items.push(item);
      end = item.after;
      const next = this.lines[this.i];
      if (next === undefined || next.indent < col) break;
      if (next.indent > col) no();
      pos = next.start + col;
      if (this.text[pos] !== "-" || (pos + 1 < next.end && this.text[pos + 1] !== " ")) break;
    }
    return { kind: "seq", items, start, end, after: end };
  }

  /** Whether line `l` has `key:` at `p` (a key of the subset followed by `: ` or the line's end). */
  private startsMapEntry(l: Line, p: number): boolean {
    const colon = this.keyEnd(l, p);
    return colon >= 0;
  }

  private keyEnd(l: Line, p: number): number {
    const t = this.text;
    let k = p;
    while (k < l.end && t[k] !== ":" && t[k] !== " " && t[k] !== "#") k++;
    if (k === l.end || t[k] !== ":") return -1;
    if (k + 1 < l.end && t[k + 1] !== " ") return -1;
    return k;
  }

  private map(col: number, at: number, depth: number): FastMap {
    const items: FastPair[] = [];
    let p = at;
    let end = at;
    for (;;) {
      const l = this.lines[this.i]!;
      const colon = this.keyEnd(l, p);
      if (colon < 0) no();
      const name = this.text.slice(p, colon);
      if (!KEY.test(name) || FORBIDDEN_KEYS.has(name) || typeof plainValue(name) !== "string") no();
      for (const it of items) if (it.key === name) no(); // a duplicate key
      let v = colon + 1;
      while (v < l.end && this.text.charCodeAt(v) === 32) v++;
      let value: FastNode;
      if (v === l.end || this.text[v] === "#") {
        if (v < l.end && v === colon + 1) no();
        // The value is the block on the following lines (more indented, or a sequence at this indent).
        const next = this.lines[this.i + 1];
        if (next === undefined) no();
        const nextStart = next!.start + next!.indent;
        const dash = this.text[nextStart] === "-" && (nextStart + 1 === next!.end || this.text[nextStart + 1] === " ");
        if (!(next!.indent > col || (next!.indent === col && dash))) no(); // an empty value: null
        if (v < l.end) this.lineRest(l, v);
        this.i++;
        value = this.block(next!.indent, nextStart, depth + 1);
        if (value.kind === "map" && next!.indent === col) no();
      } else {
        value = this.inline(l, v);
        this.i++;
      }
      items.push({ key: name, keyStart: p, keyEnd: colon, value });
      end = value.after;
      const next = this.lines[this.i];
      if (next === undefined || next.indent < col) break;
      if (next.indent > col) no(); // a continuation line of a plain scalar, or bad indentation
      p = next.start + col;
      if (this.text[p] === "-") {
        // A sequence at the indentation of its parent key ends here (the caller continues).
        break;
      }
    }
    return { kind: "map", items, start: at, end, after: end };
  }

  /** A value that fits on line `l` from `p`: a scalar or a flow sequence, then an optional comment. */
  private inline(l: Line, p: number): FastScalar | FastSeq {
    const t = this.text;
    if (t[p] === "[") {
      const items: FastScalar[] = [];
      let q = p + 1;
      const skip = (): void => {
        while (q < l.end && t.charCodeAt(q) === 32) q++;
      };
      skip();
      if (t[q] === "]") {
        q++;
      } else {
        for (;;) {
          const s = this.scalar(l, q, true);
          items.push(s);
          q = s.end;
          skip();
          if (q < l.end && (t[q] === ",")) {
            // The item's range ends where the comma is (spaces before it included).
            s.after = q;
            q++;
            skip();
            if (t[q] === "]") no(); // a trailing comma
            continue;
          }
          if (t[q] !== "]") no();
          s.after = q;
          q++;
          break;
        }
      }
      const after = this.lineRest(l, q);
      return { kind: "seq", items, start: p, end: q, after };
    }
    const s = this.scalar(l, p, false);
    s.after = this.lineRest(l, s.end);
    return s;
  }

  /** A one-line scalar at `p`; in a flow sequence it also ends at `,` and `]`. */
  private scalar(l: Line, p: number, flow: boolean): FastScalar {
    const t = this.text;
    const c = t[p];
    if (c === '"' || c === "'") {
      const close = t.indexOf(c, p + 1);
      if (close < 0 || close >= l.end) no();
      let value: string;
      let q: number;
      if (c === '"') {
        value = t.slice(p + 1, close);
        if (value.includes("\\")) no();
        q = close + 1;
      } else {
        // '' is a quote inside a single-quoted scalar.
        let parts = "";
        let from = p + 1;
        let k = close;
        while (t[k + 1] === "'") {
          parts += t.slice(from, k + 1);
          from = k + 2;
          k = t.indexOf("'", from);
          if (k < 0 || k >= l.end) no();
        }
        value = parts + t.slice(from, k);
        q = k + 1;
      }
      // After the closing quote: spaces, then the end (or `,`/`]` in a flow sequence, or a comment).
      if (q < l.end) {
        const n = t[q];
        if (!(n === " " || (flow && (n === "," || n === "]")))) no();
      }
      return { kind: "scalar", value, type: c === '"' ? "QUOTE_DOUBLE" : "QUOTE_SINGLE", start: p, end: q, after: q };
    }
    let q = p;
    while (q < l.end) {
      const ch = t[q]!;
      if (ch === ":" && (q + 1 === l.end || t[q + 1] === " " || flow)) no(); // a mapping inside a value
      if (ch === "#" && t[q - 1] === " ") break;
      if (flow && (ch === "," || ch === "]" || ch === "[" || ch === "{" || ch === "}")) break;
      q++;
    }
    let e = q;
    while (e > p && t.charCodeAt(e - 1) === 32) e--;
    const raw = t.slice(p, e);
    if (raw.length === 0) no();
    const value = plainValue(raw);
    return { kind: "scalar", value, type: "PLAIN", start: p, end: e, after: e };
  }
}

/** A plain scalar's value in the YAML 1.2 core schema, for the forms of the subset. */
function plainValue(raw: string): string | number | boolean | null {
  if (NULLS.has(raw)) return null;
  const b = BOOLS.get(raw);
  if (b !== undefined) return b;
  if (INT.test(raw)) return Number(raw);
  // A digit first: a string only with a character no number of the core schema has (`20%`).
  if (!PLAIN_START.test(raw) && !(DIGIT_START.test(raw) && NOT_NUMERIC.test(raw))) no();
  // Indicators inside a plain scalar that the yaml package reads differently on one line.
  if (raw.includes(" #") || raw.includes(": ")) no();
  return raw;
}

function toJS(n: FastNode): unknown {
  switch (n.kind) {
    case "scalar":
      return n.value;
    case "seq":
      return n.items.map(toJS);
    case "map": {
      const o: Record<string, unknown> = {};
      for (const { key, value } of n.items) o[key] = toJS(value);
      return o;
    }
  }
}
