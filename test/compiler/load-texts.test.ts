// decodeTexts (compiler/load.ts) decodes ASCII files in batches and cuts each file's text from
// one string: every file must still get exactly what decodeText gives it alone.
import { describe, expect, it } from "vitest";
import { decodeText, decodeTexts } from "../../compiler/load.js";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("decodeTexts", () => {
  it("gives every file decodeText's text, across batches and for files it does not batch", () => {
    const big = "a: b\n".repeat(300_000); // 1.5 MB: a batch of its own, and ends the one before it
    const files: (Uint8Array | null)[] = [
      enc("apiVersion: waypost/v1\nkind: JourneyNode\n"),
      enc(""),
      enc("title: Café — naïve\n"), // UTF-8, not ASCII
      Uint8Array.from([0xef, 0xbb, 0xbf, ...enc("id: bom\n")]), // a BOM
      Uint8Array.from([0x61, 0x00, 0x62]), // NUL: not text
      Uint8Array.from([0x61, 0xff, 0x62]), // invalid UTF-8
      null,
      enc("x"),
      enc(big),
      enc("short\n"),
      enc("after the big one: a line long enough to be a slice\n"),
    ];
    const texts = decodeTexts(files);
    expect(texts).toHaveLength(files.length);
    files.forEach((b, i) => expect(texts[i], `file ${i}`).toBe(b === null ? undefined : decodeText(b)));
    expect(texts[2]).toBe("title: Café — naïve\n");
    expect(texts[3]).toBe("id: bom\n");
    expect(texts[4]).toBeNull();
    expect(texts[5]).toBeNull();
    expect(texts[8]).toBe(big);
  });
});
