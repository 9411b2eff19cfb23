import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { gunzipSync, gzipSync } from "node:zlib";
import { createHash, randomBytes } from "node:crypto";
import {
  crc32,
  crc32Js,
  deflateRawDeterministic,
  FAST_ABOVE,
  gzipDeterministic,
  readTar,
  readTarGz,
  writeTar,
  writeTarGz,
} from "../../runtime/tar.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { inflateRawSync } from "node:zlib";

const enc = new TextEncoder();
const PINNED = "1793057671eb9d1f1ef443b0cb83e975d0eb4d623a465be1773e4809b84439fa";
const PINNED_LARGE = "991d31c63db1476ac158bb74f099afc205ef67171f2c7d32b00bd36bff08e90c";
// The fast match finder (inputs above FAST_ABOVE), pinned like the others: a change is a
// format change for big bundles.
const PINNED_FAST = "a805670272450ca29748a62b3b5da7eaf637a9985fd65e254c6178cdcf8669ae";

/** ~1.6 MB of suppression-list JSON (hashed ids, some dates), deterministic: the fast encoder's input. */
function bigList(): Uint8Array {
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0);
  const ids = Object.fromEntries(Array.from({ length: 22_000 }, (_, i) => [createHash("sha256").update(`customer-${i}`).digest("hex"), rnd() % 5 === 0 ? `2027-0${(rnd() % 9) + 1}-01` : null]));
  return enc.encode(JSON.stringify({ waypost: { plan: { version: 1 }, lists: { "email-opt-out": ids }, revision: "r" } }));
}
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

describe("deflate", () => {
  it("round-trips through zlib inflate", () => {
    const samples = [
      new Uint8Array(0),
      enc.encode("a"),
      enc.encode("abcabcabcabcabcabcabc"),
      enc.encode(JSON.stringify({ lists: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`C-${i}`, null])) })),
      randomBytes(100_000),
      new Uint8Array(200_000).fill(7),
    ];
    for (const s of samples) expect(Buffer.from(inflateRawSync(deflateRawDeterministic(s))).equals(Buffer.from(s))).toBe(true);
  });

  it("round-trips arbitrary bytes (property)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.integer({ min: 0, max: 3 }), (bytes, reps) => {
        const input = Buffer.concat(Array.from({ length: reps + 1 }, () => bytes));
        expect(Buffer.from(gunzipSync(gzipDeterministic(input))).equals(input)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("round-trips skewed data that needs length-limited codes (Fibonacci frequencies)", () => {
    const parts: number[] = [];
    let [a, b] = [1, 1];
    for (let sym = 0; sym < 26; sym++) {
      for (let k = 0; k < a; k++) parts.push(sym * 9 + 7); // spread symbols so LZ77 finds few matches
      [a, b] = [b, a + b];
    }
    // Shuffle deterministically so runs do not collapse into matches.
    let x = 12345;
    for (let i = parts.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) >>> 0;
      const j = x % (i + 1);
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
    }
    const input = Uint8Array.from(parts);
    expect(Buffer.from(inflateRawSync(deflateRawDeterministic(input))).equals(Buffer.from(input))).toBe(true);
  });

  it("spans many blocks", () => {
    const input = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.concat([randomBytes(5000), Buffer.from(`{"k${i}":"${"ab".repeat(i * 50)}"}`)])));
    expect(Buffer.from(inflateRawSync(deflateRawDeterministic(input))).equals(input)).toBe(true);
  });

  it("round-trips inputs above FAST_ABOVE (the fast match finder), every tail length", () => {
    const base = Buffer.concat([Buffer.from(bigList()).subarray(0, FAST_ABOVE - 3000), randomBytes(1000), Buffer.alloc(1500, 0x61), Buffer.from("ab".repeat(600))]);
    for (const extra of [1, 2, 3, 4, 5, 6, 7, 300, 70_000]) {
      const input = Buffer.concat([base, Buffer.from("xyzxyzxyz0123456789".repeat(4000)).subarray(0, extra)]);
      expect(input.length).toBeGreaterThan(FAST_ABOVE);
      expect(Buffer.from(inflateRawSync(deflateRawDeterministic(input))).equals(input)).toBe(true);
    }
    const bytes = randomBytes(FAST_ABOVE + 10);
    expect(Buffer.from(inflateRawSync(deflateRawDeterministic(bytes))).equals(bytes)).toBe(true);
  });

  it("compresses a big hex list about as well as zlib -6", () => {
    // Measured: fast finder 50.3%, thorough finder 48.9%, zlib -6 50.1%, zlib -1 51.2%.
    const list = bigList();
    expect(deflateRawDeterministic(list).length).toBeLessThan(list.length * 0.51);
  });

  it("compresses hex-heavy data with dynamic codes", () => {
    const hex = Buffer.from(randomBytes(200_000).toString("hex"));
    expect(deflateRawDeterministic(hex).length).toBeLessThan(hex.length * 0.55);
  });

  it("compresses JSON reasonably", () => {
    const json = enc.encode(JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ id: `sha256:${i.toString(16).padStart(8, "0")}`, exp: null }))));
    expect(gzipDeterministic(json).length).toBeLessThan(json.length * 0.25);
  });

  it("crc32 matches zlib's", () => {
    const b = randomBytes(1000);
    const z = gzipSync(b);
    expect(crc32(b)).toBe(z.readUInt32LE(z.length - 8));
    expect(crc32Js(b)).toBe(z.readUInt32LE(z.length - 8));
    expect(crc32Js(new Uint8Array(0))).toBe(crc32(new Uint8Array(0)));
  });

  it("writes a fixed gzip header", () => {
    const gz = gzipDeterministic(enc.encode("x"));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  });
});

describe("tar writer", () => {
  it("is deterministic: same files, any insertion order, same bytes", () => {
    const a = writeTarGz(files({ "/data.json": "{}", "/.manifest": '{"revision":"r"}', "/policy.wasm": new Uint8Array([0, 97, 115, 109]) }));
    const b = writeTarGz(files({ "/policy.wasm": new Uint8Array([0, 97, 115, 109]), "/.manifest": '{"revision":"r"}', "/data.json": "{}" }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    // Pinned digest: any machine, any Node version must produce exactly these bytes. A change
    // here is a format change (update deliberately, it changes every bundle's bytes).
    expect(createHash("sha256").update(a).digest("hex")).toBe(PINNED);
  });

  it("pins the encoder's output on a larger input (any machine, any Node version)", () => {
    // Deterministic pseudo-random JSON: ids, numbers and repeated structure, ~300 KB.
    let x = 42;
    const rnd = () => (x = (x * 1103515245 + 12345) >>> 0);
    const ids = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`sha256:${createHash("sha256").update(String(i)).digest("hex")}`, rnd() % 3 === 0 ? null : `2026-0${(rnd() % 9) + 1}-01T00:00:00Z`]));
    const gz = gzipDeterministic(enc.encode(JSON.stringify({ waypost: { lists: { "opt-out": ids }, n: Array.from({ length: 2000 }, rnd) } })));
    expect(createHash("sha256").update(gz).digest("hex")).toBe(PINNED_LARGE);
  });

  it("pins the fast encoder's output too (inputs above FAST_ABOVE)", () => {
    const list = bigList();
    expect(list.length).toBeGreaterThan(FAST_ABOVE);
    expect(createHash("sha256").update(gzipDeterministic(list)).digest("hex")).toBe(PINNED_FAST);
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
    const tar = writeTar(input);
    const out = readTar(tar, { rooted: true });
    expect([...out.keys()].sort()).toEqual([...input.keys()].map((k) => k.replace(/^\//, "")).sort());
    expect(new TextDecoder().decode(out.get(long))).toBe("long");
    expect(new TextDecoder().decode(out.get("données/é.json"))).toBe("utf8");
    // Plain names use no PAX header.
    const plain = writeTar(files({ a: "1" }));
    expect(plain[156]).toBe(0x30);
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
