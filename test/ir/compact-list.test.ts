// Compact suppression lists (compiler/ir/compact-list.ts, docs/ir.md "Bundle data"): the digest
// is MurmurHash3_x86_128 (seed 0) truncated to h1, h2; the builder sorts, merges duplicates and
// keeps expiries; the binary search finds exactly the listed keys.
import { describe, expect, it } from "vitest";
import { COMPACT_FORMAT, CompactListBuilder, compactHas, compactIndex, isCompactList, keyDigest, listEntries, listSize, sortByDigest } from "../../compiler/ir/compact-list.js";

const enc = new TextEncoder();
function build(lines: [string, string | null][]) {
  const b = new CompactListBuilder();
  const text = lines.map(([k]) => k).join("\n");
  const bytes = enc.encode(text);
  let at = 0;
  for (const [k, u] of lines) {
    const n = enc.encode(k).length;
    b.add(bytes, at, at + n, u);
    at += n + 1;
  }
  return b.finish();
}

describe("compact lists", () => {
  it("digests keys as the reference MurmurHash3_x86_128 (seed 0, h1 h2) does, on every tail length", () => {
    // Reference values: Python mmh3.hash_bytes(key, 0, x64arch=False), first 8 bytes as two
    // little-endian words.
    const want: Record<string, string> = {
      "": "0000000000000000", a: "a794933c5556b01b", hello: "2b2444a0db91def7", "C-FRAUD": "d18b4a452194b84e",
      abcdefghijklmnop: "9fd2762790b91256", abcdefghijklmnopq: "0445a4d364515c6f", ["x".repeat(31)]: "6f01597a40788fe2",
      "héllo wörld 123456": "3c23f212973ac19d",
    };
    for (const [k, d] of Object.entries(want)) expect(keyDigest(k), JSON.stringify(k)).toBe(d);
  });

  it("sorts digests, finds every listed key and no other", () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `C-${i}`);
    const l = build(keys.map((k) => [k, null]));
    expect(isCompactList(l)).toBe(true);
    expect(l.format).toBe(COMPACT_FORMAT);
    expect(listSize(l)).toBe(5000);
    const ds = [...listEntries(l).keys()];
    expect(ds).toEqual([...ds].sort());
    for (const k of keys) expect(compactHas(l, k, 0), k).toBe(true);
    for (let i = 5000; i < 10_000; i++) expect(compactHas(l, `C-${i}`, 0)).toBe(false);
    expect(compactIndex(l.keys + "0", keyDigest("C-1"))).toBe(-1); // not a multiple of 16: lists nothing
  });

  it("keeps expiries by digest (strictly after now); for a repeated key the last line wins", () => {
    const l = build([["A", "2026-01-01T00:00:00Z"], ["B", null], ["A", "2027-01-01T00:00:00Z"], ["C", "2026-06-01T00:00:00Z"], ["C", null], ["D", "not a time"]]);
    expect(listSize(l)).toBe(4);
    expect(l[keyDigest("A")]).toBe("2027-01-01T00:00:00Z");
    expect(l[keyDigest("B")]).toBeUndefined();
    expect(l[keyDigest("C")]).toBeUndefined(); // the last line has no expiry
    const now = Date.parse("2026-12-01T00:00:00Z");
    expect(compactHas(l, "A", now)).toBe(true);
    expect(compactHas(l, "A", Date.parse("2027-01-01T00:00:00Z"))).toBe(false);
    expect(compactHas(l, "B", now)).toBe(true);
    expect(compactHas(l, "D", now)).toBe(false); // malformed expiry: not listed, as for plain lists
  });

  it("sorts crowded buckets and repeated digests stably, as a comparison sort does", () => {
    // Digests sharing their top bits (as crafted keys could) and repeated digests.
    const n = 3000;
    const d = new Uint32Array(2 * n);
    for (let i = 0; i < n; i++) {
      d[2 * i] = i % 3 === 0 ? 0x12345678 : ((i * 2654435761) >>> 0) & 0x0000ffff;
      d[2 * i + 1] = (i * 40503) % 7;
    }
    const want = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[2 * x]! - d[2 * y]! || d[2 * x + 1]! - d[2 * y + 1]! || x - y);
    const got = sortByDigest(d, n);
    expect([...got.order]).toEqual(want);
    expect([...got.h1s]).toEqual(want.map((i) => d[2 * i]));
    expect([...got.h2s]).toEqual(want.map((i) => d[2 * i + 1]));
  });

  it("without expiries: the sorted distinct digests, as with expiries; a builder finishes once", () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `K-${(i * 7919) % 15_000}`); // repeats
    const plain = build(keys.map((k) => [k, null]));
    const want = [...new Set(keys.map(keyDigest))].sort();
    expect(plain.keys).toBe(want.join(""));
    expect(Object.keys(plain).sort()).toEqual(["format", "keys"]);
    // One entry with an expiry takes the other path; the keys are the same.
    const mixed = build([...keys.map((k): [string, string | null] => [k, null]), ["K-1", "2027-01-01T00:00:00Z"]]);
    expect(mixed.keys).toBe(plain.keys);
    const b = new CompactListBuilder();
    b.add(enc.encode("A"), 0, 1, null);
    b.finish();
    expect(() => b.finish()).toThrow();
    expect(() => b.add(enc.encode("B"), 0, 1, null)).toThrow();
  });

  it("a plain list is not compact, whatever its keys", () => {
    expect(isCompactList({ format: null, keys: null })).toBe(false);
    expect(isCompactList({ "C-1": null })).toBe(false);
    expect(listSize({ a: null, b: "2026-01-01T00:00:00Z" })).toBe(2);
  });
});

describe("the shared fixture's compact list", () => {
  it("holds the digests of fraud-suspected's keys and C-0..C-10, with their expiries", async () => {
    const { readFileSync } = await import("node:fs");
    const YAML = await import("yaml");
    const f = YAML.parse(readFileSync(new URL("../cases/fixtures/claims.yaml", import.meta.url), "utf8"));
    const plain = f.lists["fraud-suspected"] as Record<string, string | null>;
    const keys = [...Object.keys(plain), ...Array.from({ length: 11 }, (_, i) => `C-${i}`)];
    const l = build(keys.map((k) => [k, plain[k] ?? null]));
    expect(f.lists["fraud-compact"]).toEqual({ ...l });
  });
});
