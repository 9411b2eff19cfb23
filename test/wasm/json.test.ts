/**
 * opa_json_parse / opa_json_dump conformance: JSONTestSuite (y_ accepted and round-tripped,
 * n_ rejected with 0, i_ either way, never a trap) and a fast-check round trip.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { EMPTY_IR, dumpRaw, load, parseRaw, type Loaded } from "./helpers.js";

const SUITE = "/work/shared/conformance/json-test-suite/test_parsing";

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
