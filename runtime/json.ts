/**
 * JSON helpers shared by the bundle reader, the engine and the decision log.
 *
 * - `canonicalJson`: keys sorted by UTF-16 code units at every level, no whitespace. Used
 *   wherever a hash must not depend on key order (decision ids, log entry hashes).
 * - `opaStructuredHash`: the digest OPA computes for structured bundle files (`.manifest`,
 *   `data.json`) in `.signatures.json`, so bundles we sign verify under `opa run` too.
 */
import { createHash } from "node:crypto";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const isJsonObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Canonical JSON text: sorted object keys, JSON.stringify escaping for strings and numbers.
 * Throws TypeError for values JSON cannot represent faithfully (undefined, functions, bigint,
 * non-finite numbers, cycles), rather than silently dropping them as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  const stack = new Set<object>();
  const walk = (v: unknown): void => {
    if (v === null) {
      parts.push("null");
      return;
    }
    switch (typeof v) {
      case "boolean":
        parts.push(v ? "true" : "false");
        return;
      case "number":
        if (!Number.isFinite(v)) throw new TypeError("non-finite number is not JSON");
        parts.push(JSON.stringify(v));
        return;
      case "string":
        parts.push(JSON.stringify(v));
        return;
      case "object": {
        if (stack.has(v)) throw new TypeError("cyclic value is not JSON");
        stack.add(v);
        if (Array.isArray(v)) {
          parts.push("[");
          for (let i = 0; i < v.length; i++) {
            if (i > 0) parts.push(",");
            walk(v[i]);
          }
          parts.push("]");
        } else {
          const obj = v as Record<string, unknown>;
          const keys = Object.keys(obj).sort();
          parts.push("{");
          let first = true;
          for (const k of keys) {
            const item = obj[k];
            if (item === undefined) continue; // as JSON.stringify: an undefined property is absent
            if (!first) parts.push(",");
            first = false;
            parts.push(JSON.stringify(k), ":");
            walk(item);
          }
          parts.push("}");
        }
        stack.delete(v);
        return;
      }
      default:
        throw new TypeError(`${typeof v} is not JSON`);
    }
  };
  walk(value);
  return parts.join("");
}

export const sha256Hex = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

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
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return { t: "obj", entries };
        }
        fail("expected ',' or '}'");
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
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return { t: "arr", items };
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return { t: "str", v: str() };
    if (text.startsWith("true", i)) {
      i += 4;
      return { t: "bool", v: true };
    }
    if (text.startsWith("false", i)) {
      i += 5;
      return { t: "bool", v: false };
    }
    if (text.startsWith("null", i)) {
      i += 4;
      return { t: "null" };
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
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail("control character in string");
      if (c === 0x5c) i += 2;
      else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
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

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));

function opaWalk(v: RawJson, out: string[]): void {
  switch (v.t) {
    case "null":
      out.push("null");
      return;
    case "bool":
      out.push(v.v ? "true" : "false");
      return;
    case "num":
      out.push(goNumber(v.text));
      return;
    case "str":
      out.push(goString(v.v));
      return;
    case "arr":
      out.push("[");
      v.items.forEach((item, idx) => {
        if (idx > 0) out.push(",");
        opaWalk(item, out);
      });
      out.push("]");
      return;
    case "obj": {
      out.push("{");
      const keys = [...v.entries.keys()].sort(byteOrder);
      keys.forEach((k, idx) => {
        if (idx > 0) out.push(",");
        out.push(goString(k), ":");
        opaWalk(v.entries.get(k)!, out);
      });
      out.push("}");
    }
  }
}

/** The canonical text OPA hashes for a structured bundle file. Throws SyntaxError on bad JSON. */
export function opaStructuredText(bytes: Uint8Array): string {
  const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  const out: string[] = [];
  opaWalk(parseRaw(text), out);
  return out.join("");
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
  if (isStructuredBundleFile(name)) return sha256Hex(opaStructuredText(bytes));
  return sha256Hex(bytes);
}
