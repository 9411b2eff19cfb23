/**
 * The one code builder for generated functions: instruction trees (`w`), encoded straight to the
 * Wasm binary format (no text, no assembler at compile time). Generated code never writes
 * opcodes by hand; every instruction goes through here. Functions and labels are named, and
 * resolved when a function is encoded.
 */

/** An instruction and, first, the instructions that compute its operands (folded form). */
export type Node =
  | { readonly k: "op"; readonly code: readonly number[]; readonly imm: readonly Imm[]; readonly args: readonly Node[] }
  | { readonly k: "call"; readonly fn: string; readonly args: readonly Node[] }
  | { readonly k: "block"; readonly label: string; readonly result: boolean; readonly body: readonly Node[] }
  | { readonly k: "if"; readonly cond: Node; readonly then: readonly Node[] }
  | { readonly k: "br_if"; readonly label: string; readonly args: readonly Node[] }
  | { readonly k: "br_table"; readonly labels: readonly string[]; readonly index: Node };

/** Immediates after an opcode: unsigned LEB128 (`u`), signed 32-bit LEB128 (`s`), f64 (`f`). */
type Imm = { readonly u: number } | { readonly s: number } | { readonly f: number };

const op = (code: number[], imm: Imm[], ...args: Node[]): Node => ({ k: "op", code, imm, args });

export const w = {
  i32: (n: number): Node => op([0x41], [{ s: n | 0 }]),
  f64: (x: number): Node => op([0x44], [{ f: x }]),
  call: (fn: string, ...args: Node[]): Node => ({ k: "call", fn, args }),
  eqz: (a: Node): Node => op([0x45], [], a),
  /** Locals are the function's parameters, by index. */
  localGet: (index: number): Node => op([0x20], [{ u: index }]),
  ret: (a: Node): Node => op([0x0f], [], a),
  drop: (a: Node): Node => op([0x1a], [], a),
  sub: (a: Node, b: Node): Node => op([0x6b], [], a, b),
  divU: (a: Node, b: Node): Node => op([0x6e], [], a, b),
  ltU: (a: Node, b: Node): Node => op([0x49], [], a, b),
  memorySize: (): Node => op([0x3f], [{ u: 0 }]),
  memoryGrow: (pages: Node): Node => op([0x40], [{ u: 0 }], pages),
  /** memory.init of passive segment `seg` into memory 0. */
  memoryInit: (seg: number, dest: Node, offset: Node, len: Node): Node => op([0xfc, 8], [{ u: seg }, { u: 0 }], dest, offset, len),
  dataDrop: (seg: number): Node => op([0xfc, 9], [{ u: seg }]),
  /** `if` without a result. */
  if: (cond: Node, then: Node[]): Node => ({ k: "if", cond, then }),
  block: (label: string, body: Node[]): Node => ({ k: "block", label, result: false, body }),
  blockI32: (label: string, body: Node[]): Node => ({ k: "block", label, result: true, body }),
  /** `br_if` carrying an i32 value; the value stays on the stack when not taken (drop it). */
  brIfValue: (label: string, value: Node, cond: Node): Node => ({ k: "br_if", label, args: [value, cond] }),
  /** `br_table`: the last label is the default. */
  brTable: (labels: string[], index: Node): Node => ({ k: "br_table", labels, index }),
};

/** A function `(func name (param ...) (result i32) body...)`. */
export interface Func {
  name: string;
  params: readonly ("i32" | "f64")[];
  body: readonly Node[];
}

/** A growable byte buffer with the Wasm binary format's number encodings. */
export class ByteWriter {
  private buf: Uint8Array<ArrayBuffer> = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  u32(x: number): void {
    this.room(5);
    let v = x >>> 0;
    do {
      const b = v & 0x7f;
      v >>>= 7;
      this.buf[this.length++] = v === 0 ? b : b | 0x80;
    } while (v !== 0);
  }

  s32(x: number): void {
    this.room(5);
    let v = x | 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.buf[this.length++] = done ? b : b | 0x80;
      if (done) return;
    }
  }

  f64(x: number): void {
    this.room(8);
    this.view.setFloat64(this.length, x, true);
    this.length += 8;
  }

  /** A vector of bytes: length, then the bytes. */
  vec(b: Uint8Array): void {
    this.u32(b.length);
    this.bytes(b);
  }

  /** The bytes written so far (a view: copy before writing more). */
  written(): Uint8Array<ArrayBuffer> {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
  }
}

/** Value type bytes. */
export const VALTYPE = { i32: 0x7f, f64: 0x7c } as const;

/**
 * Writes `f`'s body (locals, instructions, end) to `out`, prefixed by its size, as an entry of
 * the code section. `fn` resolves function names to indices; `scratch` is reused between calls.
 */
export function encodeFunc(f: Func, fn: (name: string) => number, out: ByteWriter, scratch: ByteWriter): void {
  scratch.reset();
  scratch.u32(0); // no locals besides the parameters
  const labels: string[] = [];
  const depth = (label: string): number => {
    const i = labels.lastIndexOf(label);
    if (i < 0) throw new Error(`waypost: generated code branches to unknown label ${label}`);
    return labels.length - 1 - i;
  };
  const emit = (n: Node): void => {
    switch (n.k) {
      case "op":
        for (const a of n.args) emit(a);
        for (const c of n.code) scratch.byte(c);
        for (const x of n.imm) {
          if ("u" in x) scratch.u32(x.u);
          else if ("s" in x) scratch.s32(x.s);
          else scratch.f64(x.f);
        }
        return;
      case "call":
        for (const a of n.args) emit(a);
        scratch.byte(0x10);
        scratch.u32(fn(n.fn));
        return;
      case "block":
        scratch.byte(0x02);
        scratch.byte(n.result ? VALTYPE.i32 : 0x40);
        labels.push(n.label);
        for (const b of n.body) emit(b);
        labels.pop();
        scratch.byte(0x0b);
        return;
      case "if":
        emit(n.cond);
        scratch.byte(0x04);
        scratch.byte(0x40);
        labels.push("");
        for (const b of n.then) emit(b);
        labels.pop();
        scratch.byte(0x0b);
        return;
      case "br_if":
        for (const a of n.args) emit(a);
        scratch.byte(0x0d);
        scratch.u32(depth(n.label));
        return;
      case "br_table":
        emit(n.index);
        scratch.byte(0x0e);
        scratch.u32(n.labels.length - 1);
        for (const l of n.labels) scratch.u32(depth(l));
        return;
    }
  };
  for (const n of f.body) emit(n);
  scratch.byte(0x0b);
  out.vec(scratch.written());
}
