import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { canonicalJson, canonicalJsonBytes, opaStructuredDigest, opaStructuredText } from "../../runtime/json.js";
import { createPseudonymiser, maskedAndInputJson, maskedCanonicalJson, maskRequest, type FieldMasks } from "../../runtime/log.js";

/** The definition, written the slow obvious way. */
function reference(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new TypeError("non-finite");
    return JSON.stringify(v);
  }
  if (typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(reference).join(",") + "]";
  if (typeof v === "object") {
    const o = v as Record<string, unknown>;
    return "{" + Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => JSON.stringify(k) + ":" + reference(o[k])).join(",") + "}";
  }
  throw new TypeError(typeof v);
}

/** JSON values with strings from `text`, keys from `key`, and finite numbers. */
const jsonOf = (text: fc.Arbitrary<string>, key: fc.Arbitrary<string>, numbers: fc.Arbitrary<number>[] = []) =>
  fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      ...numbers,
      text,
      fc.array(tie("v"), { maxLength: 5 }),
      fc.dictionary(key, tie("v"), { maxKeys: 6 }),
    ),
  })).v;

const anyKey = fc.oneof(fc.string(), fc.constantFrom("0", "1", "10", "2", "a", "B", "é", "\u2028", "\ud800", "__proto__x"));
const value = jsonOf(fc.string({ unit: "binary" }), anyKey);

describe("canonicalJson", () => {
  it("equals the reference definition (property)", () => {
    fc.assert(fc.property(value, (v) => {
      expect(canonicalJson(v)).toBe(reference(v));
    }), { numRuns: 500 });
  });

  it("is RFC 8785 (JCS): the same text as the `canonicalize` package on any JSON value (differential property)", () => {
    // Well-formed strings only: JCS refuses a lone surrogate, canonicalJson escapes it (below).
    const text = fc.string({ unit: "grapheme" });
    const key = fc.oneof(text, fc.constantFrom("0", "1", "10", "2", "a", "B", "é", "\u2028", "\ud83d\ude00", "\uff21", "__proto__"));
    const json = jsonOf(text, key, [fc.integer(), fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, 0.1 + 0.2, -1.5e300)]);
    fc.assert(fc.property(json, (v) => {
      expect(canonicalJson(v)).toBe(canonicalize(v));
      // And from parsed text, as requests arrive (JSON.parse may make "__proto__" an own key).
      const parsed: unknown = JSON.parse(JSON.stringify(v));
      expect(canonicalJson(parsed)).toBe(canonicalize(parsed));
    }), { numRuns: 1000 });
  });

  it("escapes a lone surrogate where JCS refuses it", () => {
    expect(canonicalJson({ k: "a\ud800" })).toBe('{"k":"a\\ud800"}');
    expect(() => canonicalize({ k: "a\ud800" })).toThrow();
  });

  it("sorts integer-like keys as strings and drops undefined properties", () => {
    expect(canonicalJson({ 10: 1, 2: 2, b: undefined, a: [1, "x"] })).toBe('{"10":1,"2":2,"a":[1,"x"]}');
    expect(canonicalJson(Object.assign(Object.create(null), { b: 1, a: 2 }))).toBe('{"a":2,"b":1}');
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"y":1,"x":2},"a":3}'))).toBe('{"__proto__":{"x":2,"y":1},"a":3,"b":1}');
    expect(canonicalJson([{ b: 1, a: 2 }, { 10: 1, 9: 2, x: [{ d: 1, c: 2 }] }])).toBe('[{"a":2,"b":1},{"10":1,"9":2,"x":[{"c":2,"d":1}]}]');
  });

  it("follows the reference rules for non-plain objects (no toJSON, boxed primitives as objects)", () => {
    expect(canonicalJson({ d: new Date(0) })).toBe('{"d":{}}');
    expect(canonicalJson([new String("ab")])).toBe('[{"0":"a","1":"b"}]');
  });

  it("handles deep nesting and refuses cycles and non-JSON values", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = i % 2 ? [deep] : { k: deep };
    expect(canonicalJson(deep)).toBe(reference(deep));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { inner: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
    for (const bad of [{ a: 1n }, { a: NaN }, [undefined], { f: () => 1 }, undefined]) expect(() => canonicalJson(bad)).toThrow(TypeError);
  });
});

describe("canonicalJson's JSON.stringify path", () => {
  it("writes what the key-by-key walk writes, or throws where it throws, on any value (property)", () => {
    // canonicalJsonBytes never takes the JSON.stringify path: it is the walk, piece by piece.
    const walk = (v: unknown): string | Error => {
      try {
        return canonicalJsonBytes(v).toString("utf8");
      } catch (e) {
        return e as Error;
      }
    };
    const odd = fc.constantFrom<unknown>(new Date(0), new String("ab"), new Number(3), { toJSON: () => "x" }, { toJSON: 1 }, Object.assign(Object.create(null), { b: 1, a: 2 }), new Map([[1, 2]]), [1, , 2], { 4294967295: 1, 4294967294: 2, "01": 3 });
    fc.assert(fc.property(fc.oneof(fc.anything({ withNullPrototype: true, withBoxedValues: true, withSparseArray: true }), fc.array(odd), fc.dictionary(fc.string(), odd)), (v) => {
      const expected = walk(v);
      if (expected instanceof Error) expect(() => canonicalJson(v)).toThrow(TypeError);
      else expect(canonicalJson(v)).toBe(expected);
    }), { numRuns: 1000 });
  });
});

describe("canonicalJsonBytes", () => {
  it("is canonicalJson's text as UTF-8 (property), and throws where it throws", () => {
    fc.assert(fc.property(value, (v) => {
      expect(Buffer.compare(canonicalJsonBytes(v), Buffer.from(canonicalJson(v), "utf8"))).toBe(0);
    }), { numRuns: 500 });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { inner: cyclic };
    for (const bad of [cyclic, { a: 1n }, { a: NaN }, [undefined], { f: () => 1 }, undefined]) expect(() => canonicalJsonBytes(bad)).toThrow(TypeError);
  });

  it("writes values larger than one piece, with multi-byte characters across piece ends", () => {
    const lists: Record<string, null | string> = {};
    for (let i = 0; i < 40_000; i++) lists[`k${String(i).padStart(6, "0")}-é😀`] = i % 3 ? null : "2027-01-01T00:00:00Z";
    const v = { waypost: { lists: { big: lists }, plan: { deep: [[["x\ud800"]]] }, revision: "r" } };
    const bytes = canonicalJsonBytes(v);
    expect(bytes.length).toBeGreaterThan(1 << 20);
    expect(Buffer.compare(bytes, Buffer.from(canonicalJson(v), "utf8"))).toBe(0);
  });

  it("writes long strings (a compact list's keys) as they are, or escaped where they must be", () => {
    const long = (c: string) => "0123456789abcdef".repeat(5000) + c + "f".repeat(1 << 16);
    for (const tail of ["", '"', "\\", "\n", "\u007f", "é", "😀", "\ud800", "~ !#[]"]) {
      const v = { lists: { a: { format: "murmur3-64", keys: long(tail) }, b: [long(tail), "x"] }, z: long(tail).slice(0, 1 << 16) };
      expect(Buffer.compare(canonicalJsonBytes(v), Buffer.from(canonicalJson(v), "utf8")), JSON.stringify(tail)).toBe(0);
    }
  });
});

describe("maskedCanonicalJson", () => {
  const fields: FieldMasks = { "customer.id": { mask: "hash" }, "customer.region": { mask: "none" }, "customer.email": { mask: "redact" }, "customer.tags": { mask: "hash" } };
  const ctxKey = fc.constantFrom("customer.id", "customer.region", "customer.email", "customer.tags", "unknown.field");
  const request = fc.oneof(
    fc.record(
      {
        system: value,
        event: value,
        now: value,
        node: value,
        history: value,
        context: fc.oneof(fc.dictionary(ctxKey, value, { maxKeys: 5 }), value),
        extra: value,
      },
      { requiredKeys: [] },
    ),
    value,
  );

  const pseudonyms = createPseudonymiser(new Uint8Array(32).fill(7));

  it("is canonicalJson(maskRequest(...)) (property), with and without a pseudonymisation key", () => {
    fc.assert(fc.property(request, (r) => {
      expect(maskedCanonicalJson(r, fields, pseudonyms)).toBe(canonicalJson(maskRequest(r, fields, pseudonyms)));
      expect(maskedCanonicalJson(r, fields)).toBe(canonicalJson(maskRequest(r, fields)));
    }), { numRuns: 500 });
  });

  it("is the same text with frozen masks (whose fields it keeps once read) and on objects of one shape after another (property)", () => {
    const frozen: FieldMasks = Object.freeze(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, Object.freeze({ ...v })])));
    const entry = fc.record({ at: value, channel: value, purpose: value, node: value }, { requiredKeys: [] });
    const shaped = fc.record({ now: value, history: fc.array(fc.oneof(entry, value), { maxLength: 4 }), context: fc.dictionary(ctxKey, value, { maxKeys: 5 }) }, { requiredKeys: [] });
    fc.assert(fc.property(fc.array(fc.oneof(shaped, request), { minLength: 1, maxLength: 4 }), (rs) => {
      for (const r of rs) {
        let expected: string | Error;
        try {
          expected = canonicalJson(maskRequest(r, frozen, pseudonyms));
        } catch (e) {
          expected = e as Error;
        }
        if (expected instanceof Error) expect(() => maskedCanonicalJson(r, frozen, pseudonyms)).toThrow(TypeError);
        else expect(maskedCanonicalJson(r, frozen, pseudonyms)).toBe(expected);
      }
    }), { numRuns: 500 });
  });

  it("drops a `__proto__` key as maskRequest does, at the top and in the context", () => {
    const withProto = JSON.parse('{"__proto__":{"a":1},"now":"2026-01-01T00:00:00Z","context":{"__proto__":{"x":1},"customer.id":"C-1","customer.region":{"__proto__":2,"b":[1,{"__proto__":3}]}}}') as unknown;
    const masks: FieldMasks = { ...fields, ["__proto__"]: { mask: "none" } };
    Object.defineProperty(masks, "__proto__", { value: { mask: "none" }, enumerable: true });
    for (const f of [fields, masks]) {
      expect(maskedCanonicalJson(withProto, f, pseudonyms)).toBe(canonicalJson(maskRequest(withProto, f, pseudonyms)));
      expect(maskedCanonicalJson(withProto, f)).toBe(canonicalJson(maskRequest(withProto, f)));
    }
    expect(maskedCanonicalJson(withProto, fields, pseudonyms)).not.toContain('"x"');
  });

  it("keeps the last context's fields per masks: the same keys under other masks are masked by those", () => {
    const freeze = (m: Record<string, string>): FieldMasks => Object.freeze(Object.fromEntries(Object.entries(m).map(([k, mask]) => [k, Object.freeze({ mask })])));
    const a = freeze({ "customer.id": "none", "customer.region": "hash" });
    const b = freeze({ "customer.id": "hash", "customer.region": "none" });
    const r = { context: { "customer.region": "EU", "customer.id": "C-1" } };
    for (let i = 0; i < 3; i++) {
      for (const f of [a, b, a, a, b]) expect(maskedCanonicalJson(r, f, pseudonyms)).toBe(canonicalJson(maskRequest(r, f, pseudonyms)));
    }
    expect(maskedCanonicalJson(r, a, pseudonyms)).toContain('"customer.id":"C-1"');
    expect(maskedCanonicalJson(r, b, pseudonyms)).toContain('"customer.region":"EU"');
  });

  it("throws where maskRequest + canonicalJson throw", () => {
    for (const bad of [{ context: { "customer.id": 1n } }, { history: [1n] }, { now: NaN }]) {
      expect(() => canonicalJson(maskRequest(bad, fields, pseudonyms))).toThrow(TypeError);
      expect(() => maskedCanonicalJson(bad, fields, pseudonyms)).toThrow(TypeError);
    }
    expect(maskedCanonicalJson({ context: { "customer.email": 1n } }, fields, pseudonyms)).toBe(canonicalJson(maskRequest({ context: { "customer.email": 1n } }, fields, pseudonyms)));
  });
});

describe("maskedAndInputJson", () => {
  const fields: FieldMasks = Object.freeze({ "customer.id": Object.freeze({ mask: "hash" }), "customer.region": Object.freeze({ mask: "none" }), "customer.email": Object.freeze({ mask: "redact" }) });
  const ctxKey = fc.constantFrom("customer.id", "customer.region", "customer.email", "unknown.field");
  const request = fc.record(
    { system: value, event: value, now: value, history: value, context: fc.oneof(fc.dictionary(ctxKey, value, { maxKeys: 4 }), value), extra: value },
    { requiredKeys: [] },
  );
  const pseudonyms = createPseudonymiser(new Uint8Array(32).fill(7));

  it("is maskedCanonicalJson's text and the JSON value JSON.stringify writes (property)", () => {
    fc.assert(fc.property(request, (r) => {
      const t = maskedAndInputJson(r, fields, pseudonyms);
      expect(t).not.toBeNull(); // plain JSON: always written in one pass
      expect(t!.masked).toBe(maskedCanonicalJson(r, fields, pseudonyms));
      // The same value (its keys in canonical order): what the module decides on.
      expect(JSON.parse(t!.input)).toEqual(JSON.parse(JSON.stringify(r)));
      expect(t!.input).toBe(canonicalJson(r));
    }), { numRuns: 500 });
  });

  it("declines (null) where its input text could differ from JSON.stringify's, or where writing throws", () => {
    const base = { system: "s", event: "e", now: "2026-01-01T00:00:00Z" };
    const declined: unknown[] = [
      { ...base, context: { "customer.region": new Date(0) } }, // toJSON, kept field
      { ...base, context: { "customer.email": new Date(0) } }, // toJSON, masked field
      { ...base, history: [new String("x")] }, // a boxed value
      { ...base, context: new Map() }, // a class instance as the context
      { ...base, context: { "customer.region": NaN } }, // JSON.stringify writes null
      { ...base, context: { "customer.email": [1, , 2] } }, // a hole: JSON.stringify writes null
      { ...base, extra: 1n },
      JSON.parse('{"now":"x","__proto__":{"a":1}}') as unknown,
      JSON.parse('{"context":{"__proto__":1}}') as unknown,
      { ...base, history: JSON.parse("[".repeat(40) + "]".repeat(40)) as unknown },
      Object.assign(Object.create({ inherited: 1 }) as object, base),
      [base],
    ];
    for (const r of declined) expect(maskedAndInputJson(r, fields, pseudonyms), JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? "1n" : v))).toBeNull();
    // Left out of an object by JSON.stringify: left out of the input, redacted in the masked text.
    const fn = { ...base, context: { "customer.email": () => 1, "customer.id": undefined }, extra: Symbol("x") };
    const t = maskedAndInputJson(fn, fields, pseudonyms)!;
    expect(JSON.parse(t.input)).toEqual(JSON.parse(JSON.stringify(fn)));
    expect(t.masked).toBe(maskedCanonicalJson(fn, fields, pseudonyms));
    // An inherited toJSON on every object: declined.
    const proto = Object.prototype as { toJSON?: () => string };
    proto.toJSON = () => "x";
    try {
      expect(maskedAndInputJson(base, fields, pseudonyms)).toBeNull();
    } finally {
      delete proto.toJSON;
    }
    expect(maskedAndInputJson(base, fields, pseudonyms)).not.toBeNull();
  });
});

describe("opaStructuredText key order", () => {
  it("sorts keys by UTF-8 bytes, surrogate pairs included, sorted input or not (property)", () => {
    const key = fc.oneof(fc.string({ unit: "grapheme" }), fc.constantFrom("\ud83d\ude00", "\uffff", "\ue000", "\ud7ff", "a", "é", "ab", "a\ud83d\ude00"));
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 8 }), (keys) => {
        const text = "{" + keys.map((k, i) => `${JSON.stringify(k)}:${i}`).join(",") + "}";
        const out = JSON.parse(opaStructuredText(new TextEncoder().encode(text))) as Record<string, number>;
        const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        // Object.keys reorders integer-like keys, so compare the serialised order instead.
        const order = [...opaStructuredText(new TextEncoder().encode(text)).matchAll(/"((?:[^"\\]|\\.)*)":-?\d/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
        expect(order).toEqual(expected);
        expect(Object.keys(out).length).toBe(keys.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe("opaStructuredDigest (byte-level fast path)", () => {
  const slow = (bytes: Uint8Array, alg = "sha256") => createHash(alg).update(opaStructuredText(bytes)).digest("hex");
  const enc = new TextEncoder();
  const doc = fc.jsonValue({ maxDepth: 4 });
  const texts = fc.tuple(doc, fc.constantFrom(0, 1, 2, "\t"), fc.boolean()).map(([v, indent, canon]) =>
    canon ? canonicalJson(v) : JSON.stringify(v, null, indent === 0 ? undefined : indent),
  );

  it("gives the reference digest on any JSON text (property)", () => {
    fc.assert(
      fc.property(texts, (t) => {
        const b = enc.encode(t);
        expect(opaStructuredDigest(b, "sha256")).toBe(slow(b));
      }),
      { numRuns: 1000 },
    );
  });

  it("gives the reference digest (or the same refusal) on awkward texts", () => {
    const cases = [
      '{"b":1,"a":{"d":[1.0,1e2,-0,1E+2,12345678901234567890,0.1],"c":"x\\u2028y\\/z\\u00e9"}}',
      '{"a":"\u2028","\\u0061b":2,"aa":3}',
      ' {"z":null , "y" : [ true,false ] } \n',
      '{"a":1,"a":2}',
      '{"k\\u0000":1,"k":2}',
      '\ufeff{"a":1}',
      '{"a":1} x',
      '{"a":[1,]}',
      '[1e999]',
      '{"\ud83d\ude00":1,"\uffff":2,"\ue000":3}',
      '"\\ud800"',
      "",
    ];
    for (const t of cases) {
      const b = enc.encode(t);
      let expected: string;
      try {
        expected = slow(b);
      } catch {
        expect(() => opaStructuredDigest(b, "sha256"), t).toThrow();
        continue;
      }
      expect(opaStructuredDigest(b, "sha256"), t).toBe(expected);
      expect(opaStructuredDigest(b, "sha512"), t).toBe(slow(b, "sha512"));
    }
  });
});
