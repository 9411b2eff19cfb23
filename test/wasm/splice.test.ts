/**
 * The binary splice (compiler/emit/index.ts): a policy module is the prebuilt library template
 * with the generated code written in, by the encoder of compiler/emit/code.ts.
 */
import { describe, expect, it } from "vitest";
import { ByteWriter } from "../../compiler/emit/code.js";
import { emitPolicyWasm, loadTemplate } from "../../compiler/emit/index.js";
import { fixture } from "./fixture.js";

const bytesOf = (write: (w: ByteWriter) => void): number[] => {
  const w = new ByteWriter();
  write(w);
  return [...w.written()];
};

describe("binary encoder", () => {
  it("writes signed LEB128 at the sign-bit boundaries", () => {
    const cases: [number, number[]][] = [
      [0, [0x00]], [-1, [0x7f]], [63, [0x3f]], [64, [0xc0, 0x00]], [-64, [0x40]], [-65, [0xbf, 0x7f]],
      [2 ** 31 - 1, [0xff, 0xff, 0xff, 0xff, 0x07]], [-(2 ** 31), [0x80, 0x80, 0x80, 0x80, 0x78]],
    ];
    for (const [n, want] of cases) expect(bytesOf((w) => w.s32(n)), String(n)).toEqual(want);
  });
  it("writes unsigned LEB128 up to 2^32 - 1", () => {
    expect(bytesOf((w) => w.u32(127))).toEqual([0x7f]);
    expect(bytesOf((w) => w.u32(128))).toEqual([0x80, 0x01]);
    expect(bytesOf((w) => w.u32(2 ** 32 - 1))).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
  });
  it("grows past its initial buffer", () => {
    const big = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const w = new ByteWriter();
    w.vec(big);
    expect([...w.written().subarray(0, 2)]).toEqual([0x90, 0x4e]);
    expect(Buffer.from(w.written().subarray(2)).equals(Buffer.from(big))).toBe(true);
  });
});

describe("policy module", () => {
  it("keeps the library's ABI exports and drops the build-time ones", async () => {
    const mod = new WebAssembly.Module(new Uint8Array(await emitPolicyWasm(fixture().ir)));
    const exports = WebAssembly.Module.exports(mod).map((e) => e.name);
    expect(exports).toEqual(expect.arrayContaining(["opa_eval", "opa_malloc", "opa_heap_ptr_get", "entrypoints"]));
    expect(exports.filter((n) => n.startsWith("wp_") || n.startsWith("waypost:"))).toEqual([]);
    // The template still has them (the splice reads the helpers' indices there).
    expect(loadTemplate().funcExports.has("wp_field")).toBe(true);
    expect(WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`)).not.toContain("waypost.eval_cond");
  });
});
