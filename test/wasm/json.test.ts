/**
 * opa_json_parse / opa_json_dump conformance: JSONTestSuite (y_ accepted and round-tripped,
 * n_ rejected with 0, i_ either way, never a trap) and a fast-check round trip.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { EMPTY_IR, dumpRaw, load, parseRaw, type Loaded } from "./helpers.js";

// Vendored (MIT, see its LICENSE) so the suite runs from any clone with nothing outside it.
const SUITE = fileURLToPath(new URL("../fixtures/json-test-suite/test_parsing", import.meta.url));

let l: Loaded;
let base = 0;
beforeAll(async () => {
  l = await load(EMPTY_IR);
  base = l.abi.opa_heap_ptr_get();
});

/** Parse then dump in a fresh arena; null when rejected. */
function roundTrip(bytes: Uint8Array): string | null {
  l.abi.opa_heap_ptr_set(base);
  const v = parseRaw(l, bytes);
  return v === 0 ? null : dumpRaw(l, v);
}

const files = readdirSync(SUITE).filter((f) => f.endsWith(".json")).sort();

describe("JSONTestSuite", () => {
  it("has the expected files", () => {
    expect(files.filter((f) => f.startsWith("y_")).length).toBeGreaterThan(90);
    expect(files.filter((f) => f.startsWith("n_")).length).toBeGreaterThan(180);
  });

  for (const f of files.filter((x) => x.startsWith("y_"))) {
    it(`accepts ${f}`, () => {
      const bytes = readFileSync(path.join(SUITE, f));
      const dumped = roundTrip(bytes);
      expect(dumped).not.toBeNull();
      // Semantic equality: numbers compare as the values JSON.parse gives them.
      expect(JSON.parse(dumped as string)).toStrictEqual(JSON.parse(new TextDecoder().decode(bytes)));
    });
  }

  for (const f of files.filter((x) => x.startsWith("n_"))) {
    it(`rejects ${f}`, () => {
      expect(roundTrip(readFileSync(path.join(SUITE, f)))).toBeNull();
    });
  }

  for (const f of files.filter((x) => x.startsWith("i_"))) {
    it(`survives ${f}`, () => {
      const dumped = roundTrip(readFileSync(path.join(SUITE, f)));
      // Either way, but an accepted text must dump as valid JSON.
      if (dumped !== null) expect(() => JSON.parse(dumped)).not.toThrow();
    });
  }
});

describe("parser edge cases", () => {
  const enc = (s: string) => new TextEncoder().encode(s);

  it("rejects deep nesting with 0 instead of overflowing the stack", () => {
    expect(roundTrip(enc("[".repeat(100000)))).toBeNull();
    expect(roundTrip(enc("[".repeat(100000) + "]".repeat(100000)))).toBeNull();
    expect(roundTrip(enc('{"a":'.repeat(5000) + "1" + "}".repeat(5000)))).toBeNull();
    expect(roundTrip(enc("[".repeat(500) + "]".repeat(500)))).toBe("[".repeat(500) + "]".repeat(500));
  });

  it("keeps number texts exactly", () => {
    expect(roundTrip(enc("[1.0, -0, 1E+2, 0.1e-2, 12345678901234567890123]"))).toBe(
      "[1.0,-0,1E+2,0.1e-2,12345678901234567890123]",
    );
  });

  it("duplicate keys: last value wins at the first key's position (JSON.parse)", () => {
    expect(roundTrip(enc('{"a":1,"b":2,"a":3}'))).toBe('{"a":3,"b":2}');
    // Same through the hash-indexed path (more than 8 keys).
    const keys = Array.from({ length: 20 }, (_, i) => `"k${i}":${i}`).join(",");
    const got = roundTrip(enc(`{${keys},"k3":"x","k19":null}`));
    expect(got).toBe(JSON.stringify(JSON.parse(`{${keys},"k3":"x","k19":null}`)));
  });

  it("escapes control characters and keeps UTF-8 and lone surrogates", () => {
    const s = '"\\u0000\\u001f\\"\\\\\\/\\b\\f\\n\\r\\t é 😀 \\ud800 \\udfff x"';
    expect(JSON.parse(roundTrip(enc(s)) as string)).toBe(JSON.parse(s));
    expect(roundTrip(enc('"\u2028\u2029"'))).toBe('"\u2028\u2029"');
  });

  it("rejects invalid UTF-8, surrogates encoded raw and overlong forms", () => {
    for (const bad of [[0x22, 0xc0, 0xaf, 0x22], [0x22, 0xed, 0xa0, 0x80, 0x22], [0x22, 0xf5, 0x80, 0x80, 0x80, 0x22], [0x22, 0xe2, 0x82, 0x22]]) {
      expect(roundTrip(new Uint8Array(bad))).toBeNull();
    }
  });
});

describe("round trip (fast-check)", () => {
  it("JSON values survive parse + dump", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        const got = roundTrip(new TextEncoder().encode(text));
        expect(got).not.toBeNull();
        expect(JSON.parse(got as string)).toStrictEqual(JSON.parse(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("strings with escapes, astral characters and any code point survive", () => {
    const str = fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), fc.string({ unit: fc.constantFrom("\\", '"', "\n", "\u0000", "\u001f", "😀", "é", "\u2028", "/") }));
    fc.assert(
      fc.property(fc.dictionary(str, fc.array(str)), (v) => {
        const text = JSON.stringify(v);
        const got = roundTrip(new TextEncoder().encode(text));
        expect(got).not.toBeNull();
        // Compare with JSON.parse (not v): fc.dictionary may build null-prototype objects.
        expect(JSON.parse(got as string)).toStrictEqual(JSON.parse(text));
      }),
      { numRuns: 1000 },
    );
  });
});

describe("source spans (a compact parsed object dumps as one copy of its text)", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  /** srcLen of the parsed object (value layout: u32 at +20; 0 = dumped member by member). */
  function spanOf(text: string): number {
    l.abi.opa_heap_ptr_set(base);
    const v = parseRaw(l, enc(text));
    expect(v).not.toBe(0);
    return new DataView(l.mem.buffer).getUint32(v + 20, true);
  }

  it("records the span only when the text is exactly what the dumper writes", () => {
    const compact = '{"a":[1,{"b":"x\\"\\\\\\n\\t"}],"c":null,"d":-1.5e3}';
    expect(spanOf(compact)).toBe(enc(compact).length);
    expect(spanOf("{}")).toBe(2);
    for (const dirty of ['{"a": 1}', '{"a":[1, 2]}', '{"a":{"b":1 }}', '{"a":"\\/"}', '{"a":"\\u0041"}', '{"\\u0000":1}', '{"a":1,"a":2}']) {
      expect(spanOf(dirty), dirty).toBe(0);
    }
    // Duplicates through the hash-indexed path too.
    const keys = Array.from({ length: 12 }, (_, i) => `"k${i}":${i}`).join(",");
    expect(spanOf(`{${keys},"k3":0}`)).toBe(0);
  });

  it("a dirty parent does not dirty its clean members, and dumps normalise the dirty ones", () => {
    expect(roundTrip(enc('{ "a" : {"b":1}, "c":{"d":"\\/","e":{"f":[true]}}, "g":{"h":1,"h":2} }'))).toBe(
      '{"a":{"b":1},"c":{"d":"/","e":{"f":[true]}},"g":{"h":2}}',
    );
  });

  /** JSON text of v with random whitespace, \/ and \u escapes, and shadowed duplicate keys. */
  function messy(v: unknown, rnd: () => number): string {
    const ws = () => (rnd() < 0.2 ? [" ", "\n", "\t", "\r"][Math.floor(rnd() * 4)]! : "");
    const str = (s: string) => {
      const j = JSON.stringify(s);
      if (rnd() < 0.7) return j;
      // Re-escape some plain characters the long way (the parser must decode them).
      return j.replace(/[a-z\/]/g, (c) => (rnd() < 0.5 ? c : c === "/" ? "\\/" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
    };
    const go = (x: unknown): string => {
      if (Array.isArray(x)) return `[${ws()}${x.map((e) => go(e) + ws()).join("," + ws())}]`;
      if (x !== null && typeof x === "object") {
        const parts: string[] = [];
        for (const [k, e] of Object.entries(x)) {
          // A shadowed duplicate right before the real member keeps JSON.parse's key order.
          if (rnd() < 0.1) parts.push(`${str(k)}:${ws()}0`);
          parts.push(`${ws()}${str(k)}${ws()}:${ws()}${go(e)}${ws()}`);
        }
        return `{${parts.join(",")}}`;
      }
      return typeof x === "string" ? str(x) : JSON.stringify(x);
    };
    return go(v);
  }

  it("dump(parse(text)) is JSON.stringify(JSON.parse(text)), compact or messy (fast-check)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer(), (v, seed) => {
        const canon = JSON.stringify(JSON.parse(JSON.stringify(v)));
        expect(roundTrip(enc(canon))).toBe(canon);
        let s = seed >>> 0;
        const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
        expect(roundTrip(enc(messy(JSON.parse(canon), rnd)))).toBe(canon);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("number values (decimal -> double, correctly rounded)", () => {
  /** The f64 the parser stores for a number text (value layout: f64 at +16). */
  function f64Of(text: string): number {
    l.abi.opa_heap_ptr_set(base);
    const v = parseRaw(l, new TextEncoder().encode(text));
    expect(v).not.toBe(0);
    return new DataView(l.mem.buffer).getFloat64(v + 16, true);
  }

  it("matches JSON.parse on hard cases", () => {
    const texts = [
      "0", "-0", "1", "0.1", "0.3", "1e23", "8.98846567431158e307", "1.7976931348623157e308", "1.7976931348623159e308",
      "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9e-324", "5e-324", "2.4703282292062328e-324",
      "2.4703282292062327e-324", "1e-400", "1e400", "9007199254740993", "18446744073709551615", "1.6591163674638977e-296",
      "-6.685019477311591e-202", "123456789012345678e-10", "7.0e-10", "1e22", "1e-22", "4503599627370497.5",
    ];
    for (const t of texts) expect(Object.is(f64Of(t), JSON.parse(t)), t).toBe(true);
  });

  it("matches JSON.parse on any double's shortest text (fast-check)", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const t = JSON.stringify(x);
        expect(Object.is(f64Of(t), JSON.parse(t))).toBe(true);
      }),
      { numRuns: 20000 },
    );
  });
});
