/**
 * The runtime-library template, assembled once by scripts/build-wasmlib.mjs (dist/wasmlib/
 * template.wasm): the library with its `waypost.eval_cond` and `waypost.heap_base` imports turned
 * into stub functions, exported as `waypost:eval_cond` and `waypost:heap_base`, and the `wp_*`
 * helpers still exported (so -O3 kept them, and so their indices can be read here). The emitter
 * splices each policy into it in binary (compiler/emit/index.ts): the stubs' bodies replaced,
 * generated functions and a data segment appended, and those build-time exports removed.
 *
 * Here the template's sections are read once per process: only their bounds and the few
 * indices the splice needs, never the code.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { VALTYPE } from "./code.js";
import { TEMPLATE_META, TEMPLATE_WASM } from "./names.js";

/** Exports that exist only for the splice: removed from every policy module. */
export const STUB_EXPORTS = { evalCond: "waypost:eval_cond", heapBase: "waypost:heap_base" } as const;
const isBuildExport = (name: string): boolean => name.startsWith("wp_") || name.startsWith("waypost:");

/** A section: its id and the bounds of its payload in the template bytes. */
export interface Section {
  id: number;
  start: number;
  end: number;
}

export interface Template {
  bytes: Uint8Array;
  sections: Section[];
  /** First free address after the library's static data. */
  staticEnd: number;
  importedFuncs: number;
  definedFuncs: number;
  /** Function type index by signature key (`sigKey`). */
  types: Map<string, number>;
  /** Function exports by name, build-time ones included. */
  funcExports: Map<string, number>;
  /** The export section's entries to keep: byte ranges, in order. */
  keptExports: [number, number][];
  dataSegments: number;
}

/** A function signature's key: parameter and result value types. */
export const sigKey = (params: readonly number[], results: readonly number[]): string => `${params.join(",")}>${results.join(",")}`;
/** The key of a generated function's signature (it returns an i32). */
export const i32FuncKey = (params: readonly ("i32" | "f64")[]): string => sigKey(params.map((p) => VALTYPE[p]), [VALTYPE.i32]);

/** Reads the binary format's unsigned LEB128 numbers and vectors. */
export class ByteReader {
  constructor(
    readonly b: Uint8Array,
    public pos = 0,
  ) {}

  byte(): number {
    if (this.pos >= this.b.length) throw new Error("waypost: truncated Wasm runtime template");
    return this.b[this.pos++]!;
  }

  u32(): number {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      if (shift > 28) throw new Error("waypost: bad LEB128 in the Wasm runtime template");
    }
  }

  /** Skips a vector of bytes and returns its bounds. */
  vec(): [number, number] {
    const n = this.u32();
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }

  text(): string {
    const [s, e] = this.vec();
    return new TextDecoder().decode(this.b.subarray(s, e));
  }

  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

/** The package root: the nearest folder with a package.json above this file (src or dist). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error("waypost: cannot find the package root (package.json)");
    dir = up;
  }
}

/** Reads the sections of a template module (exported for tests). */
export function parseTemplate(bytes: Uint8Array, staticEnd: number): Template {
  const r = new ByteReader(bytes, 8);
  const t: Template = {
    bytes, sections: [], staticEnd, importedFuncs: 0, definedFuncs: 0, types: new Map(), funcExports: new Map(), keptExports: [], dataSegments: 0,
  };
  while (r.pos < bytes.length) {
    const id = r.byte();
    const [start, end] = r.vec();
    t.sections.push({ id, start, end });
    const s = new ByteReader(bytes, start);
    switch (id) {
      case 1: // type
        for (let i = 0, n = s.u32(); i < n; i++) {
          if (s.byte() !== 0x60) throw new Error("waypost: unexpected type in the Wasm runtime template");
          const [ps, pe] = s.vec();
          const [rs, re] = s.vec();
          const key = sigKey([...bytes.subarray(ps, pe)], [...bytes.subarray(rs, re)]);
          if (!t.types.has(key)) t.types.set(key, i);
        }
        break;
      case 2: // import
        for (let i = 0, n = s.u32(); i < n; i++) {
          s.vec();
          s.vec();
          const kind = s.byte();
          if (kind === 0) {
            s.u32();
            t.importedFuncs++;
          } else if (kind === 1) {
            s.byte();
            s.limits();
          } else if (kind === 2) s.limits();
          else if (kind === 3) s.pos += 2;
          else throw new Error("waypost: unexpected import in the Wasm runtime template");
        }
        break;
      case 3: // function
        t.definedFuncs = s.u32();
        break;
      case 7: // export
        for (let i = 0, n = s.u32(); i < n; i++) {
          const at = s.pos;
          const name = s.text();
          const kind = s.byte();
          const index = s.u32();
          if (kind === 0) t.funcExports.set(name, index);
          if (!isBuildExport(name)) t.keptExports.push([at, s.pos]);
        }
        break;
      case 11: // data
        t.dataSegments = s.u32();
        break;
    }
  }
  return t;
}

let cached: Template | undefined;

export function loadTemplate(): Template {
  if (cached) return cached;
  const root = packageRoot();
  const wasmFile = path.join(root, TEMPLATE_WASM);
  const metaFile = path.join(root, TEMPLATE_META);
  if (!existsSync(wasmFile) || !existsSync(metaFile)) {
    throw new Error(`waypost: the Wasm runtime template is missing (${TEMPLATE_WASM}); run \`npm run build\``);
  }
  const meta = JSON.parse(readFileSync(metaFile, "utf8")) as { staticEnd: number };
  cached = parseTemplate(new Uint8Array(readFileSync(wasmFile)), meta.staticEnd);
  return cached;
}

/** The index of a function the template exports (a `wp_*` helper or a stub). */
export function funcIndex(t: Template, exportName: string): number {
  const i = t.funcExports.get(exportName);
  if (i === undefined) throw new Error(`waypost: the Wasm runtime template lacks ${exportName}`);
  return i;
}
