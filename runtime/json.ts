/**
 * JSON helpers shared by the bundle reader, the engine and the decision log.
 *
 * - `canonicalJson`: RFC 8785 (JCS) text. Used wherever bytes or a hash must not depend on key
 *   order (decision ids, log entry hashes, the bundle files the compiler writes).
 * - `opaStructuredHash`: the digest OPA computes for structured bundle files (`.manifest`,
 *   `data.json`) in `.signatures.json`, so bundles we sign verify under `opa run` too.
 */
import { isUtf8 } from "node:buffer";
import * as crypto from "node:crypto";
import { createHash } from "node:crypto";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const isJsonObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

// Past this depth the walk also tracks the open objects, to tell a cycle from deep nesting (a
// cycle recurses forever; real requests are a few levels deep, and pay nothing for it).
const FAST_DEPTH = 64;

/** Own enumerable keys in UTF-16 code unit order, as `Array.prototype.sort()` orders strings. */
export function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  // Most objects arrive sorted or nearly so, with a handful of keys: an insertion sort (string
  // `<` compares code units, as sort() does) beats sort()'s generic comparator there.
  const n = keys.length;
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    if (keys[i - 1]! <= k) continue;
    if (n > 32) return keys.sort();
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

/** JSON.stringify(s) for a string, skipping the native call for strings with nothing to escape. */
export function quote(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

function canon(v: unknown, depth: number, open: Set<object> | null): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "string":
      return quote(v);
    case "number":
      if (!Number.isFinite(v)) throw new TypeError("non-finite number is not JSON");
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (depth > FAST_DEPTH) {
        open ??= new Set();
        if (open.has(v)) throw new TypeError("cyclic value is not JSON");
        open.add(v);
      }
      let out: string;
      if (Array.isArray(v)) {
        out = "[";
        for (let i = 0; i < v.length; i++) out += (i === 0 ? "" : ",") + canon(v[i], depth + 1, open);
        out += "]";
      } else {
        // Own enumerable keys whatever the prototype: no toJSON, a Date is `{}`.
        const obj = v as Record<string, unknown>;
        const keys = sortedKeys(obj);
        out = "{";
        for (let i = 0; i < keys.length; i++) {
          const item = obj[keys[i]!];
          if (item === undefined) continue; // as JSON.stringify: an undefined property is absent
          out += (out.length === 1 ? "" : ",") + quote(keys[i]!) + ":" + canon(item, depth + 1, open);
        }
        out += "}";
      }
      open?.delete(v);
      return out;
    }
    default:
      throw new TypeError(`${typeof v} is not JSON`);
  }
}

/**
 * Canonical JSON text (RFC 8785, JCS): object keys sorted by UTF-16 code units at every level,
 * no whitespace, ECMAScript number serialisation, JSON.stringify's minimal string escapes (a
 * lone surrogate, which JCS refuses, is escaped as `\uXXXX`). Throws TypeError for values JSON
 * cannot represent faithfully (undefined, functions, bigint, non-finite numbers, cycles)
 * rather than dropping them as JSON.stringify does. The one canonical form: decision ids, log
 * hashes and MACs, and the bundle's data.json and .manifest.
 */
export function canonicalJson(value: unknown): string {
  // The native JSON.stringify writes the same text for a value whose objects all have their
  // keys in canonical order: give it such a value (objects re-keyed only where needed), and
  // fall back to the walk above for whatever it would write differently.
  let ready: unknown;
  try {
    ready = inOrder(value, 0);
  } catch (e) {
    if (e === NOT_PLAIN) return canon(value, 0, null);
    throw e;
  }
  return JSON.stringify(ready);
}

const NOT_PLAIN: unique symbol = Symbol("not plain");
const OBJECT_PROTO = Object.prototype;
// An own key V8 lists before the others (an array index), or that a plain assignment would not create.
const specialKey = (k: string): boolean => {
  const c = k.charCodeAt(0);
  return (c >= 48 && c <= 57 && /^(?:0|[1-9]\d*)$/.test(k) && Number(k) < 4294967295) || k === "__proto__";
};

/**
 * `v` itself, or a copy with every object's keys in canonical order, such that
 * JSON.stringify(result) === canon(v); throws canon's TypeError for what is not JSON, and
 * NOT_PLAIN for what JSON.stringify would write otherwise (toJSON, boxed values, class
 * instances, index-like keys, deep nesting).
 */
function inOrder(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (!Number.isFinite(v)) throw new TypeError("non-finite number is not JSON");
      return v;
    case "object": {
      if (v === null) return v;
      if (depth > FAST_DEPTH) throw NOT_PLAIN;
      if (Array.isArray(v)) {
        let out: unknown[] | null = null;
        for (let i = 0; i < v.length; i++) {
          const item: unknown = v[i];
          if (item === undefined) throw new TypeError("undefined is not JSON");
          const r = inOrder(item, depth + 1);
          if (r !== item) (out ??= v.slice())[i] = r;
        }
        return out ?? v;
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== OBJECT_PROTO && proto !== null) throw NOT_PLAIN;
      const obj = v as Record<string, unknown>;
      const keys = Object.keys(obj);
      let sorted = true;
      let vals: unknown[] | null = null; // the values, once one of them changed
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (specialKey(k)) throw NOT_PLAIN;
        if (i > 0 && keys[i - 1]! > k) sorted = false;
        const item = obj[k];
        const r = item === undefined ? item : inOrder(item, depth + 1);
        if (vals !== null) vals.push(r);
        else if (r !== item) {
          vals = [];
          for (let j = 0; j < i; j++) vals.push(obj[keys[j]!]);
          vals.push(r);
        }
      }
      if (sorted && vals === null) return v;
      const out: Record<string, unknown> = {};
      if (sorted) {
        for (let i = 0; i < keys.length; i++) if (vals![i] !== undefined) out[keys[i]!] = vals![i];
        return out;
      }
      // Sort the key indexes: values stay with their keys.
      const idx = keys.map((_, i) => i);
      for (let i = 1; i < idx.length; i++) {
        const x = idx[i]!;
        let j = i - 1;
        while (j >= 0 && keys[idx[j]!]! > keys[x]!) {
          idx[j + 1] = idx[j]!;
          j--;
        }
        idx[j + 1] = x;
      }
      for (const i of idx) {
        const item = vals !== null ? vals[i] : obj[keys[i]!];
        if (item !== undefined) out[keys[i]!] = item;
      }
      return out;
    }
    default:
      throw new TypeError(`${typeof v} is not JSON`);
  }
}

// Pieces of text are turned into bytes once this much has accumulated.
const BYTES_CHUNK = 1 << 16;
// Not a character JSON escapes, nor beyond ASCII: the string's Latin-1 bytes are its UTF-8.
const PLAIN_TEXT = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * `canonicalJson(value)` as UTF-8 bytes (the same bytes, the same errors), written in pieces:
 * never one string, so a data.json of any size (a suppression list of millions of ids) stays
 * under V8's string limit (about 2^29 characters) and is not held as text and bytes at once.
 * Pieces end on whole tokens, so a surrogate pair is never split between two.
 */
export function canonicalJsonBytes(value: unknown): Buffer {
  const chunks: Buffer[] = [];
  let acc = "";
  const put = (s: string): void => {
    acc += s;
    if (acc.length >= BYTES_CHUNK) {
      chunks.push(Buffer.from(acc, "utf8"));
      acc = "";
    }
  };
  const walk = (v: unknown, depth: number, open: Set<object> | null): void => {
    if (typeof v === "string" && v.length >= BYTES_CHUNK && PLAIN_TEXT.test(v)) {
      // A long string with nothing to escape and only ASCII (a compact list's keys: 16 bytes
      // an id): its bytes straight from the string, not scanned and re-encoded piece by piece.
      chunks.push(Buffer.from(acc + '"', "utf8"), Buffer.from(v, "latin1"));
      acc = '"';
      return;
    }
    // Scalars and the cycle rule exactly as in canon.
    if (v === null || typeof v !== "object") {
      put(canon(v, depth, open));
      return;
    }
    if (depth > FAST_DEPTH) {
      open ??= new Set();
      if (open.has(v)) throw new TypeError("cyclic value is not JSON");
      open.add(v);
    }
    if (Array.isArray(v)) {
      put("[");
      for (let i = 0; i < v.length; i++) {
        if (i > 0) put(",");
        walk(v[i], depth + 1, open);
      }
      put("]");
    } else {
      const obj = v as Record<string, unknown>;
      const keys = sortedKeys(obj);
      let first = true;
      put("{");
      for (let i = 0; i < keys.length; i++) {
        const item = obj[keys[i]!];
        if (item === undefined) continue;
        put((first ? "" : ",") + quote(keys[i]!) + ":");
        first = false;
        walk(item, depth + 1, open);
      }
      put("}");
    }
    open?.delete(v);
  };
  walk(value, 0, null);
  chunks.push(Buffer.from(acc, "utf8"));
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

// One-shot `crypto.hash` (Node >= 20.12) skips the Hash object: about 3x faster on the short
// inputs of the decision path. Same digest either way.
const oneShot = (crypto as { hash?: (alg: string, data: string | Uint8Array, enc: "hex") => string }).hash;

export const sha256Hex = (data: string | Uint8Array): string =>
  oneShot !== undefined ? oneShot("sha256", data, "hex") : createHash("sha256").update(data).digest("hex");

// ---------------------------------------------------------------------------------------------
// OPA structured-file hashing (v1/bundle/hash.go): objects as `{` key `:` value `,` ... `}`
// with keys sorted by bytes, arrays as `[` ... `]`, primitives as Go's json.Encoder writes
// them (SetEscapeHTML(false)). OPA reads these files with util.Unmarshal, which goes through
// YAMLToJSON: integers within int64 keep their digits, other numbers become float64 and are
// printed in Go's shortest form (which matches JavaScript's Number#toString for finite values).
// ---------------------------------------------------------------------------------------------

type RawJson =
  | { t: "null" }
  | { t: "bool"; v: boolean }
  | { t: "num"; text: string }
  | { t: "str"; v: string }
  | { t: "arr"; items: RawJson[] }
  | { t: "obj"; entries: Map<string, RawJson> };

/** Parses JSON text keeping number literals; throws SyntaxError on invalid JSON. */
function parseRaw(text: string): RawJson {
  let i = 0;
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at offset ${i}`);
  };
  // After an element or member: true at `,` (another follows), false at `close`.
  const more = (close: string): boolean => {
    ws();
    if (text[i] === ",") {
      i++;
      return true;
    }
    if (text[i] !== close) fail(`expected ',' or '${close}'`);
    i++;
    return false;
  };
  const value = (depth: number): RawJson => {
    if (depth > 512) fail("nesting too deep");
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries = new Map<string, RawJson>();
      ws();
      if (text[i] === "}") {
        i++;
        return { t: "obj", entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected string key");
        const k = str();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        entries.delete(k); // last duplicate wins, as in Go maps; keep insertion order irrelevant
        entries.set(k, value(depth + 1));
        if (!more("}")) return { t: "obj", entries };
      }
    }
    if (c === "[") {
      i++;
      const items: RawJson[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return { t: "arr", items };
      }
      for (;;) {
        items.push(value(depth + 1));
        if (!more("]")) return { t: "arr", items };
      }
    }
    if (c === '"') return { t: "str", v: str() };
    if (text.startsWith("true", i)) {
      i += 4;
      return RAW_TRUE;
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return RAW_FALSE;
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return RAW_NULL;
    }
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (r === null || r[0].length === 0) fail("unexpected character");
    i += r![0].length;
    return { t: "num", text: r![0] };
  };
  const str = (): string => {
    const start = i;
    i++;
    let escaped = false;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail("control character in string");
      if (c === 0x5c) {
        escaped = true;
        i += 2;
      } else i++;
    }
    i++;
    // Without escapes the text between the quotes is the value (a signed 1M-entry list has
    // two million strings: JSON.parse per string was a large share of verification).
    return escaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail("trailing characters");
  return v;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function goNumber(text: string): string {
  if (/^-?\d+$/.test(text)) {
    const b = BigInt(text);
    if (b >= INT64_MIN && b <= INT64_MAX) return b.toString();
  }
  const n = Number(text);
  if (!Number.isFinite(n)) throw new SyntaxError(`number out of range: ${text}`);
  return String(n);
}

/** Go's encoding/json string encoding with HTML escaping off (Go >= 1.22: \b and \f short forms). */
function goString(s: string): string {
  // Fast path: nothing Go would escape or replace (the common case, and 72 MB of hex ids).
  let plain = true;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x2028 || c === 0x2029 || (c >= 0xd800 && c <= 0xdfff)) {
      plain = false;
      break;
    }
  }
  if (plain) return '"' + s + '"';
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c < 0x20) {
      if (c === 0x0a) out += "\\n";
      else if (c === 0x0d) out += "\\r";
      else if (c === 0x09) out += "\\t";
      else if (c === 0x08) out += "\\b";
      else if (c === 0x0c) out += "\\f";
      else out += "\\u00" + c.toString(16).padStart(2, "0");
    } else if (c === 0x2028) out += "\\u2028";
    else if (c === 0x2029) out += "\\u2029";
    else if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(k + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[k]! + s[k + 1]!;
        k++;
      } else out += "\ufffd"; // Go decodes a lone surrogate escape as U+FFFD
    } else if (c >= 0xdc00 && c <= 0xdfff) out += "\ufffd";
    else out += s[k]!;
  }
  return out + '"';
}

const byteOrderSlow = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

/**
 * UTF-8 byte order without encoding: outside surrogates, UTF-16 code unit order is code point
 * order, which is UTF-8 byte order. When the first difference involves a surrogate (pairs, or
 * lone ones that encode as U+FFFD) the strings are compared as encoded bytes.
 */
function byteOrder(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let k = 0; k < n; k++) {
    const x = a.charCodeAt(k);
    const y = b.charCodeAt(k);
    if (x === y) continue;
    if ((x >= 0xd800 && x <= 0xdfff) || (y >= 0xd800 && y <= 0xdfff)) return byteOrderSlow(a, b);
    return x - y;
  }
  if (a.length === b.length) return 0;
  // One is a prefix of the other; a lone high surrogate at the end of the prefix encodes
  // differently alone than in a pair: let the encoder decide.
  const last = n > 0 ? a.charCodeAt(n - 1) : 0;
  if (last >= 0xd800 && last <= 0xdbff) return byteOrderSlow(a, b);
  return a.length - b.length;
}

/** Keys in UTF-8 byte order; skips the sort when they already are (bundle lists are). */
function byteSorted(keys: string[]): string[] {
  for (let k = 1; k < keys.length; k++) if (byteOrder(keys[k - 1]!, keys[k]!) > 0) return keys.sort(byteOrder);
  return keys;
}

const RAW_NULL: RawJson = { t: "null" };
const RAW_TRUE: RawJson = { t: "bool", v: true };
const RAW_FALSE: RawJson = { t: "bool", v: false };

/**
 * Writes the canonical text in pieces to `sink`, which batches them: a 70 MB data.json would
 * otherwise become millions of array parts joined into one more 70 MB string.
 */
class TextSink {
  private buf = "";
  constructor(private readonly flushTo: (chunk: string) => void) {}
  w(s: string): void {
    this.buf += s;
    if (this.buf.length >= 1 << 16) this.flush();
  }
  flush(): void {
    if (this.buf.length > 0) this.flushTo(this.buf);
    this.buf = "";
  }
}

function opaWalk(v: RawJson, out: TextSink): void {
  switch (v.t) {
    case "null":
      out.w("null");
      return;
    case "bool":
      out.w(v.v ? "true" : "false");
      return;
    case "num":
      out.w(goNumber(v.text));
      return;
    case "str":
      out.w(goString(v.v));
      return;
    case "arr":
      out.w("[");
      for (let idx = 0; idx < v.items.length; idx++) {
        if (idx > 0) out.w(",");
        opaWalk(v.items[idx]!, out);
      }
      out.w("]");
      return;
    case "obj": {
      out.w("{");
      const keys = byteSorted([...v.entries.keys()]);
      for (let idx = 0; idx < keys.length; idx++) {
        const k = keys[idx]!;
        if (idx > 0) out.w(",");
        out.w(goString(k));
        out.w(":");
        opaWalk(v.entries.get(k)!, out);
      }
      out.w("}");
    }
  }
}

const parseStructured = (bytes: Uint8Array): RawJson => parseRaw(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));

/** The canonical text OPA hashes for a structured bundle file. Throws SyntaxError on bad JSON. */
export function opaStructuredText(bytes: Uint8Array): string {
  const parts: string[] = [];
  const sink = new TextSink((c) => parts.push(c));
  opaWalk(parseStructured(bytes), sink);
  sink.flush();
  return parts.join("");
}

// ---------------------------------------------------------------------------------------------
// Byte-level fast path for the structured digest. A compiler-written data.json is nearly
// canonical already: no whitespace, plain strings, and every list sorted (only the three
// `waypost` keys are out of order). So instead of parsing 70 MB into values and printing them
// again, the bytes are checked in place: a subtree that is already canonical is hashed as its
// own bytes (a view, no copy), and only the objects that are not (unsorted keys, whitespace,
// escapes, non-canonical numbers) are rebuilt around those views. Anything unusual (invalid
// JSON, duplicate keys, BOM, deep nesting) gives up and the reference path above decides,
// so its results and its errors are unchanged.
// ---------------------------------------------------------------------------------------------

type Chunk = Uint8Array | string;
class GiveUp {}
const GIVE_UP = new GiveUp();
const MORE = 1;
const SPACED = 2;
const NUMBER_RE = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Compares b[a0..a1) with b[c0..c1) as bytes. */
function compareRanges(b: Uint8Array, a0: number, a1: number, c0: number, c1: number): number {
  const n = a1 - a0 < c1 - c0 ? a1 - a0 : c1 - c0;
  for (let k = 0; k < n; k++) {
    const d = b[a0 + k]! - b[c0 + k]!;
    if (d !== 0) return d;
  }
  return a1 - a0 - (c1 - c0);
}

/** The canonical text of `b` as chunks, or null when the fast path gives up. */
function canonicalChunks(b: Uint8Array): Chunk[] | null {
  if (!isUtf8(b)) return null;
  const n = b.length;
  let pos = 0;
  // Member/item boundaries of the open containers: 4 ints each, popped when a container ends.
  let stack = new Int32Array(4096);
  let sp = 0;
  const push4 = (w: number, x: number, y: number, z: number): void => {
    if (sp + 4 > stack.length) {
      const next = new Int32Array(stack.length * 2);
      next.set(stack);
      stack = next;
    }
    stack[sp++] = w;
    stack[sp++] = x;
    stack[sp++] = y;
    stack[sp++] = z;
  };
  /** Skips whitespace; true when there was some (the container is then not verbatim). */
  const ws = (): boolean => {
    const p0 = pos;
    while (pos < n) {
      const c = b[pos];
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
    return pos !== p0;
  };
  // After an array element or object member: MORE when a `,` follows (the closing byte `close`
  // ends it), SPACED when white space was skipped around it; anything else gives up.
  const after = (close: number): number => {
    let spaced = ws();
    if (b[pos] === 0x2c) {
      pos++;
      if (ws()) spaced = true;
      return spaced ? MORE | SPACED : MORE;
    }
    if (b[pos] !== close) throw GIVE_UP;
    pos++;
    return spaced ? SPACED : 0;
  };
  // Each returns null when the bytes it consumed are canonical, else the canonical chunks.
  const string = (): Chunk[] | null => {
    const start = pos;
    let j = pos + 1;
    let rewrite = false;
    for (;;) {
      if (j >= n) throw GIVE_UP;
      const c = b[j]!;
      if (c === 0x22) break;
      if (c === 0x5c) {
        rewrite = true;
        j += 2;
      } else {
        if (c < 0x20) throw GIVE_UP;
        // U+2028 / U+2029 (E2 80 A8/A9): Go escapes them.
        if (c === 0xe2 && b[j + 1] === 0x80 && (b[j + 2] === 0xa8 || b[j + 2] === 0xa9)) rewrite = true;
        j++;
      }
    }
    pos = j + 1;
    if (!rewrite) return null;
    return [goString(JSON.parse(fatalUtf8.decode(b.subarray(start, pos))) as string)];
  };
  const literal = (word: string): null => {
    for (let k = 0; k < word.length; k++) if (b[pos + k] !== word.charCodeAt(k)) throw GIVE_UP;
    pos += word.length;
    return null;
  };
  const number = (): Chunk[] | null => {
    const start = pos;
    while (pos < n) {
      const c = b[pos]!;
      if ((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45) pos++;
      else break;
    }
    const text = Buffer.from(b.buffer, b.byteOffset + start, pos - start).toString("latin1");
    if (!NUMBER_RE.test(text)) throw GIVE_UP;
    const g = goNumber(text);
    return g === text ? null : [g];
  };
  const value = (depth: number): Chunk[] | null => {
    if (depth > 512) throw GIVE_UP;
    const c = b[pos];
    if (c === 0x22) return string();
    if (c === 0x7b) return object(depth);
    if (c === 0x5b) return array(depth);
    if (c === 0x74) return literal("true");
    if (c === 0x66) return literal("false");
    if (c === 0x6e) return literal("null");
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return number();
    throw GIVE_UP;
  };
  const array = (depth: number): Chunk[] | null => {
    pos++;
    const base = sp;
    let verbatim = !ws();
    let extra: Map<number, Chunk[]> | null = null;
    let m = 0;
    if (b[pos] === 0x5d) {
      pos++;
      return verbatim ? null : ["[]"];
    }
    for (;;) {
      const vs = pos;
      const vp = value(depth + 1);
      if (vp !== null) (extra ??= new Map()).set(m, vp);
      push4(vs, pos, 0, 0);
      m++;
      const next = after(0x5d);
      if (next & SPACED) verbatim = false;
      if ((next & MORE) === 0) break;
    }
    if (verbatim && extra === null) {
      sp = base;
      return null;
    }
    const parts: Chunk[] = ["["];
    for (let k = 0; k < m; k++) {
      if (k > 0) parts.push(",");
      const vp = extra?.get(k);
      if (vp !== undefined) for (const c of vp) parts.push(c);
      else parts.push(b.subarray(stack[base + 4 * k]!, stack[base + 4 * k + 1]!));
    }
    parts.push("]");
    sp = base;
    return parts;
  };
  const object = (depth: number): Chunk[] | null => {
    pos++;
    const base = sp;
    let verbatim = !ws();
    let sorted = true;
    let escapedKeys = false;
    let extra: Map<number, Chunk[]> | null = null; // 2m: key chunks, 2m + 1: value chunks
    let m = 0;
    if (b[pos] === 0x7d) {
      pos++;
      return verbatim ? null : ["{}"];
    }
    for (;;) {
      if (b[pos] !== 0x22) throw GIVE_UP;
      const ks = pos;
      const kp = string();
      const ke = pos;
      if (kp !== null) {
        escapedKeys = true;
        (extra ??= new Map()).set(2 * m, kp);
      } else if (m > 0 && sorted && !escapedKeys) {
        const c = compareRanges(b, stack[sp - 4]! + 1, stack[sp - 3]! - 1, ks + 1, ke - 1);
        if (c === 0) throw GIVE_UP; // duplicate key: the reference path keeps the last one
        if (c > 0) sorted = false;
      }
      if (ws()) verbatim = false;
      if (b[pos] !== 0x3a) throw GIVE_UP;
      pos++;
      if (ws()) verbatim = false;
      const vs = pos;
      const vp = value(depth + 1);
      if (vp !== null) (extra ??= new Map()).set(2 * m + 1, vp);
      push4(ks, ke, vs, pos);
      m++;
      const next = after(0x7d);
      if (next & SPACED) verbatim = false;
      if ((next & MORE) === 0) break;
    }
    if (verbatim && sorted && extra === null) {
      sp = base;
      return null;
    }
    const order = Array.from({ length: m }, (_, k) => k);
    const at = (k: number, f: number): number => stack[base + 4 * k + f]!;
    if (escapedKeys) {
      const names = order.map((k) => JSON.parse(fatalUtf8.decode(b.subarray(at(k, 0), at(k, 1)))) as string);
      order.sort((x, y) => byteOrder(names[x]!, names[y]!));
      for (let k = 1; k < m; k++) if (names[order[k - 1]!] === names[order[k]!]) throw GIVE_UP;
    } else if (!sorted) {
      order.sort((x, y) => compareRanges(b, at(x, 0) + 1, at(x, 1) - 1, at(y, 0) + 1, at(y, 1) - 1));
      for (let k = 1; k < m; k++) {
        const x = order[k - 1]!;
        const y = order[k]!;
        if (compareRanges(b, at(x, 0) + 1, at(x, 1) - 1, at(y, 0) + 1, at(y, 1) - 1) === 0) throw GIVE_UP;
      }
    }
    const parts: Chunk[] = ["{"];
    for (let i = 0; i < m; i++) {
      const k = order[i]!;
      if (i > 0) parts.push(",");
      const kp = extra?.get(2 * k);
      if (kp !== undefined) for (const c of kp) parts.push(c);
      else parts.push(b.subarray(at(k, 0), at(k, 1)));
      parts.push(":");
      const vp = extra?.get(2 * k + 1);
      if (vp !== undefined) for (const c of vp) parts.push(c);
      else parts.push(b.subarray(at(k, 2), at(k, 3)));
    }
    parts.push("}");
    sp = base;
    return parts;
  };
  try {
    if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return null; // BOM: the reference path strips it
    ws();
    const start = pos;
    const v = value(0);
    const end = pos;
    ws();
    if (pos !== n) return null;
    return v ?? [b.subarray(start, end)];
  } catch {
    // GIVE_UP, or anything the reference path will report in its own words.
    return null;
  }
}

/** Hex digest (`sha256`, `sha384`, `sha512`) of the canonical text, streamed into the hash. */
export function opaStructuredDigest(bytes: Uint8Array, algorithm: string): string {
  const h = createHash(algorithm);
  const chunks = canonicalChunks(bytes);
  if (chunks !== null) {
    for (const c of chunks) h.update(c);
    return h.digest("hex");
  }
  const sink = new TextSink((c) => h.update(c));
  opaWalk(parseStructured(bytes), sink);
  sink.flush();
  return h.digest("hex");
}

/** Files OPA hashes structurally rather than byte for byte (bundle.IsStructuredDoc). */
export const isStructuredBundleFile = (name: string): boolean => {
  const base = name.slice(name.lastIndexOf("/") + 1);
  // OPA also treats data.yaml as structured; we do not read YAML, so such a file hashes by bytes
  // here and a signature over it fails to verify (refused, never silently accepted).
  return base === "data.json" || base === ".manifest";
};

/** SHA-256 hex digest of a bundle file as OPA's signature payload records it. */
export function bundleFileDigest(name: string, bytes: Uint8Array): string {
  if (isStructuredBundleFile(name)) return opaStructuredDigest(bytes, "sha256");
  return sha256Hex(bytes);
}
