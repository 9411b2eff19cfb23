import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { gzipSync } from "node:zlib";
import { writeTar, writeTarGz } from "../../compiler/tar-write.js";
import { readTar, readTarGz } from "../../runtime/tar.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";

const enc = new TextEncoder();
const files = (o: Record<string, string | Uint8Array>) =>
  new Map(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? enc.encode(v) : v]));

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return e.code;
    throw e;
  }
  throw new Error("expected a WaypostRuntimeError");
}

/** Re-writes the checksum of the header at `off` after editing it, so only the edit is wrong. */
function fixChecksum(tar: Uint8Array, off: number): void {
  tar.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += tar[off + i]!;
  const s = sum.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) tar[off + 148 + i] = s.charCodeAt(i);
  tar[off + 154] = 0;
}

describe("tar reader refuses", () => {
  const good = () => writeTar(files({ "a.json": "{}", "b.json": "[]" }));

  it("non-gzip input (WPR001)", () => {
    expect(code(() => readTarGz(enc.encode("not a bundle at all, really not")))).toBe("WPR001");
    expect(code(() => readTarGz(good()))).toBe("WPR001");
  });

  it("a truncated or corrupted gzip stream (WPR001)", () => {
    const gz = writeTarGz(files({ "a.json": "{}" }));
    expect(code(() => readTarGz(gz.subarray(0, gz.length - 10)))).toBe("WPR001");
    const flipped = Uint8Array.from(gz);
    flipped[flipped.length - 6]! ^= 0xff; // crc
    expect(code(() => readTarGz(flipped))).toBe("WPR001");
  });

  it("a header with a bad checksum (WPR002)", () => {
    const tar = good();
    tar[0] = "z".charCodeAt(0);
    expect(code(() => readTar(tar))).toBe("WPR002");
  });

  it("a tar cut at a block boundary or mid-entry (WPR002)", () => {
    const tar = good();
    expect(code(() => readTar(tar.subarray(0, 1024)))).toBe("WPR002");
    expect(code(() => readTar(tar.subarray(0, 700)))).toBe("WPR002");
    expect(code(() => readTar(tar.subarray(0, tar.length - 512)))).toBe("WPR002");
    expect(code(() => readTar(new Uint8Array(0)))).toBe("WPR002");
  });

  it("garbage after the end marker (WPR002)", () => {
    const tar = Buffer.concat([good(), Buffer.from("trailing")]);
    expect(code(() => readTar(tar))).toBe("WPR002");
  });

  it.each([
    ["../escape.json", "WPR003"],
    ["a/../../b", "WPR003"],
    ["/etc/passwd", "WPR003"],
    ["./a", "WPR003"],
    ["a//b", "WPR003"],
    ["a\\b", "WPR003"],
    ["C:/x", "WPR003"],
  ])("unsafe name %s (%s)", (name, want) => {
    const tar = good();
    const b = enc.encode(name);
    tar.fill(0, 0, 100);
    tar.set(b, 0);
    fixChecksum(tar, 0);
    expect(code(() => readTar(tar))).toBe(want);
  });

  it("accepts one leading slash only when rooted, never //", () => {
    const tar = writeTar(files({ "/policy.wasm": "w" }));
    expect([...readTar(tar, { rooted: true }).keys()]).toEqual(["policy.wasm"]);
    expect(code(() => readTar(tar))).toBe("WPR003");
    const tar2 = good();
    tar2.fill(0, 0, 100);
    tar2.set(enc.encode("//x"), 0);
    fixChecksum(tar2, 0);
    expect(code(() => readTar(tar2, { rooted: true }))).toBe("WPR003");
  });

  it("duplicate names, also after normalisation (WPR004)", () => {
    const tar = good();
    tar.fill(0, 1024, 1124);
    tar.set(enc.encode("a.json"), 1024);
    fixChecksum(tar, 1024);
    expect(code(() => readTar(tar))).toBe("WPR004");
    const t2 = Buffer.concat([writeTar(files({ "/a": "1" })).subarray(0, 1024), writeTar(files({ a: "2" }))]);
    expect(code(() => readTar(t2, { rooted: true }))).toBe("WPR004");
  });

  it.each([["2", "symlink"], ["1", "hard link"], ["5", "directory"], ["3", "device"], ["g", "global PAX"]])(
    "type %s (%s) entries (WPR005)",
    (flag) => {
      const tar = good();
      tar[156] = flag.charCodeAt(0);
      fixChecksum(tar, 0);
      expect(code(() => readTar(tar))).toBe("WPR005");
    },
  );

  it("entries over the size limits (WPR006)", () => {
    const tar = writeTar(files({ a: "x".repeat(2000), b: "y".repeat(2000) }));
    expect(code(() => readTar(tar, { maxEntryBytes: 1000 }))).toBe("WPR006");
    expect(code(() => readTar(tar, { maxTotalBytes: 3000 }))).toBe("WPR006");
    expect(code(() => readTar(tar, { maxEntries: 1 }))).toBe("WPR006");
  });

  it("a gzip bomb (WPR006)", () => {
    const bomb = gzipSync(new Uint8Array(50 * 1024 * 1024));
    expect(code(() => readTarGz(bomb, { maxTotalBytes: 1024 * 1024 }))).toBe("WPR006");
  });

  it("a big bundle reads the same whether its gzip trailer's size covers it all or only its last member (the size is only a hint)", () => {
    // Hex from a fixed LCG: compresses about 2x, well under the gzip-bomb ratio.
    let x = 1;
    const big = Array.from({ length: 3 * 1024 * 1024 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 16 & 15).toString(16)).join("");
    const want = files({ "data.json": `{"a":"${big}"}`, ".manifest": '{"revision":"r"}' });
    const tar = writeTar(want);
    const half = Math.floor(tar.length / 2);
    // One member: its ISIZE is the whole tar (one output chunk). Two members: the trailer's
    // ISIZE is the second half only, so the output comes in several chunks that are joined.
    for (const gz of [gzipSync(tar), Buffer.concat([gzipSync(tar.subarray(0, half)), gzipSync(tar.subarray(half))])]) {
      const got = readTarGz(gz);
      expect([...got.keys()].sort()).toEqual([".manifest", "data.json"]);
      expect(Buffer.from(got.get("data.json")!).equals(Buffer.from(want.get("data.json")!))).toBe(true);
    }
  });

  it("never throws anything but coded errors on random corruption (property)", () => {
    const base = writeTarGz(files({ "/.manifest": '{"revision":"r"}', "/data.json": '{"waypost":{}}' }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
        const b = Uint8Array.from(base);
        b[pos]! ^= x;
        try {
          readTarGz(b, { rooted: true });
        } catch (e) {
          expect(e).toBeInstanceOf(WaypostRuntimeError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
