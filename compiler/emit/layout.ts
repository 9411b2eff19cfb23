/**
 * Constant JSON values written into a data segment in the runtime library's value layout
 * (wasmlib/value.ts documents it; the tags are the contract's, runtime/contract.ts VALUE_TAGS).
 * Strings are interned so equal constants share bytes, and the layout is a pure function of the
 * insertion order, so the same IR always gives the same bytes.
 */
import { VALUE_TAGS } from "../../runtime/contract.js";
import type { JsonValue } from "../ir/ir.js";

const { null: T_NULL, bool: T_BOOL, num: T_NUM, str: T_STR, arr: T_ARR, obj: T_OBJ } = VALUE_TAGS;

/**
 * UTF-8, except that a lone surrogate is kept as its 3-byte WTF-8 form (ED A0..BF xx), the way
 * the runtime's JSON parser stores a `\udXXX` escape; TextEncoder would turn it into U+FFFD and
 * constants would stop matching input strings.
 */
export function wtf8(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

export class ConstData {
  private bytes = new Uint8Array(1024);
  private view = new DataView(this.bytes.buffer);
  private size = 0;
  private readonly strBytes = new Map<string, number>();
  private readonly strValues = new Map<string, number>();
  // Non-string constants interned by their JSON text (IRs repeat `true`, small numbers, ...).
  private readonly interned = new Map<string, number>();

  /** base: absolute address of the segment's first byte (8-aligned). */
  constructor(readonly base: number) {}

  private reserve(n: number, align: number): number {
    this.size = (this.size + align - 1) & ~(align - 1);
    const at = this.size;
    if (at + n > this.bytes.length) {
      let cap = this.bytes.length * 2;
      while (cap < at + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.bytes);
      this.bytes = next;
      this.view = new DataView(next.buffer);
    }
    this.size = at + n;
    return at;
  }

  private u32(at: number, x: number): void {
    this.view.setUint32(at, x >>> 0, true);
  }

  /** Address of the UTF-8 bytes of s (interned). */
  utf8(s: string): { ptr: number; len: number } {
    const b = wtf8(s);
    let off = this.strBytes.get(s);
    if (off === undefined) {
      off = this.reserve(b.length, 1);
      this.bytes.set(b, off);
      this.strBytes.set(s, off);
    }
    return { ptr: this.base + off, len: b.length };
  }

  /** Address of a constant JSON value (equal constants share one address). */
  value(v: JsonValue): number {
    if (typeof v === "string") return this.build(v);
    const key = JSON.stringify(v);
    let at = this.interned.get(key);
    if (at === undefined) {
      at = this.build(v);
      this.interned.set(key, at);
    }
    return at;
  }

  private build(v: JsonValue): number {
    if (v === null) {
      const at = this.reserve(8, 8);
      this.u32(at, T_NULL);
      return this.base + at;
    }
    if (typeof v === "boolean") {
      const at = this.reserve(8, 8);
      this.u32(at, T_BOOL);
      this.u32(at + 4, v ? 1 : 0);
      return this.base + at;
    }
    if (typeof v === "number") {
      // Keep a source text (what JSON.stringify writes) so a dump of the constant is exact.
      // (Interning by JSON text merges -0 into 0: they compare equal everywhere in the IR.)
      const text = Number.isFinite(v) ? this.utf8(JSON.stringify(v)) : { ptr: 0, len: 0 };
      const at = this.reserve(24, 8);
      this.u32(at, T_NUM);
      this.u32(at + 4, text.len);
      this.u32(at + 8, text.ptr);
      this.view.setFloat64(at + 16, v, true);
      return this.base + at;
    }
    if (typeof v === "string") {
      const known = this.strValues.get(v);
      if (known !== undefined) return known;
      const { ptr, len } = this.utf8(v);
      const at = this.reserve(12, 8);
      this.u32(at, T_STR);
      this.u32(at + 4, len);
      this.u32(at + 8, ptr);
      this.strValues.set(v, this.base + at);
      return this.base + at;
    }
    if (Array.isArray(v)) {
      const elems = v.map((x) => this.value(x));
      const at = this.reserve(12 + 4 * elems.length, 8);
      this.u32(at, T_ARR);
      this.u32(at + 4, elems.length);
      this.u32(at + 8, this.base + at + 12);
      elems.forEach((e, i) => this.u32(at + 12 + 4 * i, e));
      return this.base + at;
    }
    // Objects: entries without a hash table (lookups scan them; constants are small).
    const entries = Object.entries(v).map(([k, x]) => ({ key: this.utf8(k), val: this.value(x) }));
    const at = this.reserve(24 + 16 * entries.length, 8);
    this.u32(at, T_OBJ);
    this.u32(at + 4, entries.length);
    this.u32(at + 8, this.base + at + 24);
    this.u32(at + 12, 0);
    this.u32(at + 16, 0);
    entries.forEach((e, i) => {
      const p = at + 24 + 16 * i;
      this.u32(p, e.key.len);
      this.u32(p + 4, e.key.ptr);
      this.u32(p + 8, e.val);
      this.u32(p + 12, 0);
    });
    return this.base + at;
  }

  /** First free address after the segment (8-aligned): the policy's heap base. */
  end(): number {
    return (this.base + this.size + 7) & ~7;
  }

  contents(): Uint8Array {
    return this.bytes.slice(0, this.size);
  }
}
