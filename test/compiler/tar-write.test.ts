import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash, randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { writeBundle } from "../../compiler/bundle.js";
import { build } from "../../compiler/build.js";
import { MemoryHost } from "../../compiler/source.js";
import { HEX_RUN_MIN, gzipDeterministic, hexRuns, huffmanBlocks, huffmanLengths, writeTar, writeTarGz } from "../../compiler/tar-write.js";
import { inflateRawSync } from "node:zlib";
import { gunzipSync as fflateGunzip } from "fflate";
import { CompactListBuilder } from "../../compiler/ir/compact-list.js";
import { canonicalJsonBytes } from "../../runtime/json.js";
import { readTar, readTarGz } from "../../runtime/tar.js";
import { exampleFiles } from "../support/repo.js";

const enc = new TextEncoder();
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const files = (o: Record<string, string | Uint8Array>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? enc.encode(v) : v]));

// Golden bytes: any machine, any Node version must produce exactly these. A change here is a
// format change (every bundle's bytes change): update deliberately, never to make a test pass.
const PINNED_TAR_GZ = "be1e3227bed7d7b24402228dec0425f272f1ad4a3d4e5298f7fa1c6b131463c3";
const PINNED_LARGE = "a0fbb4f9e4016e96e9f3aaa0cb1fa21e0afa0ec2390fd6fe52104b5cfd82e667";
const PINNED_BUNDLE = "17049dc8a66282420784871c5045c8f3ba0a3ead1678cb2ac9742021aec768dd";
const PINNED_HEX_RUNS = "6754924b128ed69244311ef1e8b918bebc91cd671daf4a82bb49faed19b7a221";

/** ~300 KB of deterministic pseudo-random JSON: ids, dates, numbers and repeated structure. */
function largeJson(): Uint8Array {
  let x = 42;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0);
  const ids = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`sha256:${sha256(enc.encode(String(i)))}`, rnd() % 3 === 0 ? null : `2026-0${(rnd() % 9) + 1}-01T00:00:00Z`]));
  return enc.encode(JSON.stringify({ waypost: { lists: { "opt-out": ids }, n: Array.from({ length: 2000 }, rnd) } }));
}

/** A fixed bundle: every byte of its inputs is written here, so only the writer can move its digest. */
const fixedBundle = () =>
  writeBundle({
    wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
    data: { waypost: { plan: { version: 1, zeta: 1, alpha: [1.5, "x\u2028", "é"] }, lists: { "opt-out": { "C-1": null, "C-2": "2027-01-01" } }, revision: "r1" } },
    manifest: {
      revision: "r1",
      roots: ["waypost"],
      wasm: [
        { entrypoint: "waypost/decide", module: "/policy.wasm" },
        { entrypoint: "waypost/suppressed", module: "/policy.wasm" },
      ],
      metadata: { compiler: "waypost 0.1.0", source_digest: `sha256:${"ab".repeat(32)}` },
    },
  });

describe("gzip (fflate, fixed header)", () => {
  it("pins its output bytes (golden)", () => {
    expect(sha256(writeTarGz(files({ "/data.json": "{}", "/.manifest": '{"revision":"r"}', "/policy.wasm": new Uint8Array([0, 97, 115, 109]) })))).toBe(PINNED_TAR_GZ);
    expect(sha256(gzipDeterministic(largeJson()))).toBe(PINNED_LARGE);
  });

  it("writes a fixed header: no mtime, no name", () => {
    const gz = gzipDeterministic(enc.encode("x"));
    expect([...gz.subarray(0, 8)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
  });

  it("round-trips through zlib's gunzip (property, and edge inputs)", () => {
    for (const s of [new Uint8Array(0), enc.encode("a"), randomBytes(100_000), new Uint8Array(200_000).fill(7), largeJson()]) {
      expect(Buffer.from(gunzipSync(gzipDeterministic(s))).equals(Buffer.from(s))).toBe(true);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 0, max: 3 }), (bytes, reps) => {
        const input = Buffer.concat(Array.from({ length: reps + 1 }, () => bytes));
        expect(Buffer.from(gunzipSync(gzipDeterministic(input))).equals(input)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("compresses JSON and hex lists close to zlib", () => {
    // Measured: random hex 58% (zlib -6: 54%), this JSON list under 20%.
    const json = enc.encode(JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ id: `sha256:${i.toString(16).padStart(8, "0")}`, exp: null }))));
    expect(gzipDeterministic(json).length).toBeLessThan(json.length * 0.25);
    const hex = Buffer.from(randomBytes(200_000).toString("hex"));
    expect(gzipDeterministic(hex).length).toBeLessThan(hex.length * 0.6);
  });
});

/** Deterministic pseudo-random lowercase hex digits (a compact list's keys look like this). */
function hexDigits(n: number, seed: number): Uint8Array {
  let x = seed;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = "0123456789abcdef".charCodeAt(x >>> 28);
  }
  return out;
}

/** JSON text around hex runs: `{"a":"<hex>","b":[1,2,...],"c":"<hex>"}` and variations. */
const withRuns = (...parts: (string | number)[]): Uint8Array =>
  Buffer.concat(parts.map((p, i) => (typeof p === "number" ? hexDigits(p, i + 1) : enc.encode(p))));

describe("gzip of long hex runs (Huffman-only blocks)", () => {
  it("finds exactly the maximal runs of HEX_RUN_MIN lowercase hex digits or more", () => {
    const min = HEX_RUN_MIN;
    expect(hexRuns(withRuns('{"k":"', min - 1, '"}'))).toEqual([]);
    expect(hexRuns(withRuns('{"k":"', min, '"}'))).toEqual([6, 6 + min]);
    expect(hexRuns(withRuns(min + 3))).toEqual([0, min + 3]);
    // Upper case and other letters end a run; a run may touch the end of the input.
    const d = withRuns("x", 3 * min, "G", 2 * min + 5);
    expect(hexRuns(d)).toEqual([1, 1 + 3 * min, 2 + 3 * min, d.length]);
    // The same bytes at an odd offset in their buffer.
    const shifted = new Uint8Array(d.length + 3);
    shifted.set(d, 3);
    expect(hexRuns(shifted.subarray(3))).toEqual(hexRuns(d));
    // A probe on the last byte, and a one-byte piece between two runs, at every alignment.
    for (let k = 0; k < 4; k++) {
      const tail = new Uint8Array(40_000).fill(0x78);
      tail[k + 32767] = 0x61;
      expect(hexRuns(tail.subarray(k, k + 32768))).toEqual([]);
      const gap = new Uint8Array(3 * HEX_RUN_MIN).fill(0x61);
      gap[k + HEX_RUN_MIN + 1] = 0x78;
      const v = gap.subarray(k);
      expect(hexRuns(v)).toEqual([0, HEX_RUN_MIN + 1, HEX_RUN_MIN + 2, v.length]);
      expect(Buffer.from(gunzipSync(gzipDeterministic(v))).equals(Buffer.from(v))).toBe(true);
    }
    // Runs that end the input at every alignment, probes on the last bytes.
    for (let k = 0; k < 8; k++) {
      const buf = new Uint8Array(4 * HEX_RUN_MIN + 8);
      buf.set(hexDigits(buf.length, 9));
      for (const len of [HEX_RUN_MIN, HEX_RUN_MIN + 1, 2 * HEX_RUN_MIN - 1, 2 * HEX_RUN_MIN, 2 * HEX_RUN_MIN + 2]) {
        const v = buf.subarray(k, k + len);
        expect(hexRuns(v)).toEqual([0, len]);
        expect(Buffer.from(gunzipSync(gzipDeterministic(v))).equals(Buffer.from(v))).toBe(true);
      }
    }
    // Many short runs (64-digit ids in JSON) are no run.
    expect(hexRuns(largeJson())).toEqual([]);
  });

  it("round-trips through zlib's and fflate's gunzip, runs anywhere", () => {
    const min = HEX_RUN_MIN;
    const cases = [
      withRuns(min),
      withRuns('{"waypost":{"lists":{"a":{"format":"murmur3-64","keys":"', 5 * min + 7, '"}},"plan":{"x":[1,2,3]}}'),
      withRuns("[", min, '","', 2 * min, '","', min + 1, "]"),
      withRuns(min, "tail that is not hex: xyz".repeat(50)),
      withRuns("head ".repeat(20000), min * 3),
      Buffer.concat([withRuns(2 * min), new Uint8Array(min).fill(0x30), enc.encode("g"), new Uint8Array(70_000).fill(0x61)]),
    ];
    for (const c of cases) {
      expect(hexRuns(c).length).toBeGreaterThan(0);
      const gz = gzipDeterministic(c);
      expect(Buffer.from(gunzipSync(gz)).equals(Buffer.from(c))).toBe(true);
      expect(Buffer.from(fflateGunzip(gz)).equals(Buffer.from(c))).toBe(true);
      expect(Buffer.from(gzipDeterministic(c)).equals(Buffer.from(gz))).toBe(true);
      expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
    }
    // Huffman-only blocks alone, ending the stream or not (then byte-aligned: a stream may follow).
    for (const bytes of [hexDigits(10, 3), hexDigits(3 << 20, 4), randomBytes(200_000), new Uint8Array(5000).fill(7)]) {
      expect(Buffer.from(inflateRawSync(huffmanBlocks(bytes, true))).equals(Buffer.from(bytes))).toBe(true);
      const open = huffmanBlocks(bytes, false);
      const rest = Buffer.from([0x03, 0x00]); // an empty fixed-code block that ends the stream
      expect(Buffer.from(inflateRawSync(Buffer.concat([open, rest]))).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it("pins its output bytes (golden) and compresses hex digits to half", () => {
    const input = withRuns('{"k":"', 3 * HEX_RUN_MIN, '","plan":', JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ i, s: `n${i % 7}` }))), "}");
    const gz = gzipDeterministic(input);
    expect(sha256(gz)).toBe(PINNED_HEX_RUNS);
    expect(gz.length).toBeLessThan(input.length * 0.52);
  });

  it("code lengths stay within the limit and form a complete code", () => {
    const kraft = (l: Uint8Array) => [...l].reduce((a, x) => a + (x > 0 ? 2 ** -x : 0), 0);
    const fib = [1, 1];
    while (fib.length < 40) fib.push(fib.at(-1)! + fib.at(-2)!);
    for (const [freq, limit] of [[fib, 15], [fib.slice(0, 19), 7], [[5, 0, 0, 9], 15], [Array(257).fill(1), 15], [[0, 3], 7]] as [number[], number][]) {
      const l = huffmanLengths(freq, limit);
      expect(Math.max(...l)).toBeLessThanOrEqual(limit);
      freq.forEach((f, i) => expect(l[i]! > 0).toBe(f > 0));
      if (freq.filter((f) => f > 0).length > 1) expect(kraft(l)).toBe(1);
    }
  });

  it("a bundle with a compact list reads back as written, twice the same bytes", async () => {
    const b = new CompactListBuilder();
    const keys = enc.encode(Array.from({ length: 60_000 }, (_, i) => `C-${i}`).join("\n"));
    for (let s = 0; s < keys.length; ) {
      let e = keys.indexOf(10, s);
      if (e < 0) e = keys.length;
      b.add(keys, s, e, null);
      s = e + 1;
    }
    const data = { waypost: { plan: { version: 1 }, lists: { "opt-out": b.finish() }, revision: "r1" } };
    const input = {
      wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]),
      data,
      manifest: { revision: "r1", roots: ["waypost"], wasm: [{ entrypoint: "waypost/decide", module: "/policy.wasm" }], metadata: {} },
    };
    const [x, y] = [await writeBundle(input), await writeBundle(input)];
    expect(Buffer.from(x).equals(Buffer.from(y))).toBe(true);
    expect(Buffer.from(readTarGz(x, { rooted: true }).get("data.json")!).equals(canonicalJsonBytes(data))).toBe(true);
    expect(x.length).toBeLessThan(60_000 * 16 * 0.55);
  });
});

describe("bundle bytes", () => {
  it("pins a whole fixed bundle (golden)", async () => {
    expect(sha256(await fixedBundle())).toBe(PINNED_BUNDLE);
  });

  it("the example repository builds to the same bytes twice", async () => {
    const a = await build(new MemoryHost(exampleFiles()));
    const b = await build(new MemoryHost(exampleFiles()));
    expect(a.bundle).toBeDefined();
    expect(Buffer.from(a.bundle!).equals(Buffer.from(b.bundle!))).toBe(true);
  });
});

describe("tar writer", () => {
  it("is deterministic: same files, any insertion order, same bytes", () => {
    const a = writeTarGz(files({ "/data.json": "{}", "/.manifest": '{"revision":"r"}', "/policy.wasm": new Uint8Array([0, 97, 115, 109]) }));
    const b = writeTarGz(files({ "/policy.wasm": new Uint8Array([0, 97, 115, 109]), "/.manifest": '{"revision":"r"}', "/data.json": "{}" }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it("writes sorted ustar entries with zeroed metadata", () => {
    const tar = writeTar(files({ b: "2", a: "1" }));
    const name = (off: number) => Buffer.from(tar.subarray(off, off + 100)).toString("latin1").replace(/\0+$/, "");
    expect(name(0)).toBe("a");
    expect(name(1024)).toBe("b");
    const field = (off: number, start: number, len: number) => Buffer.from(tar.subarray(off + start, off + start + len)).toString("latin1");
    expect(field(0, 100, 8)).toBe("0000644\0");
    expect(field(0, 108, 8)).toBe("0000000\0");
    expect(field(0, 136, 12)).toBe("00000000000\0");
    expect(field(0, 257, 8)).toBe("ustar\u000000");
    expect(field(0, 265, 64)).toBe("\0".repeat(64));
    expect(tar.length).toBe(512 * 4 + 1024);
  });

  it("round-trips, including long and non-ASCII names (PAX only when needed)", () => {
    const long = "dir/".repeat(40) + "file.json";
    const input = files({ "/.manifest": "m", "/data.json": "d", [long]: "long", "données/é.json": "utf8", ["x".repeat(100)]: "100" });
    const out = readTar(writeTar(input), { rooted: true });
    expect([...out.keys()].sort()).toEqual([...input.keys()].map((k) => k.replace(/^\//, "")).sort());
    expect(new TextDecoder().decode(out.get(long))).toBe("long");
    expect(new TextDecoder().decode(out.get("données/é.json"))).toBe("utf8");
    expect(writeTar(files({ a: "1" }))[156]).toBe(0x30); // plain names use no PAX header
  });

  it("round-trips arbitrary contents (property)", () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.stringMatching(/^[a-z0-9_.-]{1,20}(\/[a-z0-9_-]{1,20}){0,3}$/).filter((s) => !s.split("/").some((p) => p === "." || p === "..")), fc.uint8Array({ maxLength: 2000 }), { maxKeys: 8 }),
        (dict) => {
          const m = new Map(Object.entries(dict));
          const out = readTarGz(writeTarGz(m));
          expect(out.size).toBe(m.size);
          for (const [k, v] of m) expect(Buffer.from(out.get(k)!).equals(Buffer.from(v))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});
