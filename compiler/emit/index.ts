/**
 * The Wasm backend: compiles an IR to an OPA Wasm ABI 1.2 module (`policy.wasm`) that the
 * official SDK (@open-policy-agent/opa-wasm) loads unchanged. The generic decision engine and
 * the ABI live in the runtime library template (wasmlib, assembled once at build time); per
 * policy we only generate the condition functions and their constants and splice them in, in
 * binary: assembling the library's text on every build cost more than the rest of a build.
 *
 * Stages, in order:
 *   1. loadTemplate   the library module's section bounds and indices (cached)
 *   2. lowerConds     every Expr of ir.conds to a function, constants into one data segment
 *   3. splice         the stubs' bodies replaced (dispatcher, heap base), the condition
 *                     functions and the data segment appended, the build-time exports dropped
 *                     (deterministic: same IR, same bytes)
 */
import type { IR } from "../ir/ir.js";
import { ByteWriter, encodeFunc, w, type Func } from "./code.js";
import { CondLowering } from "./conds.js";
import { ConstData } from "./layout.js";
import { ByteReader, STUB_EXPORTS, funcIndex, i32FuncKey, loadTemplate, type Template } from "./template.js";

export { loadTemplate } from "./template.js";

/** Name of the generated eval_cond root (children are named after it). */
const EVAL_COND = "$waypost/eval_cond";
const HEAP_BASE = "$waypost/heap_base";

/** What is generated for one policy: functions and the constants' bytes. */
interface Generated {
  /** Bodies of the template's stubs, by stub export name. */
  stubs: Map<string, Func>;
  /** New functions, appended after the library's in this order. */
  appended: Func[];
  data: Uint8Array;
}

/** Stage 2: the functions and data for `ir`. */
function generate(ir: IR, t: Template): Generated {
  const base = (t.staticEnd + 15) & ~15;
  const data = new ConstData(base);
  const lowering = new CondLowering(data);
  const appended = ir.conds.map((e, i) => lowering.condFunc(i, e));
  const stubs = new Map<string, Func>();
  for (const d of lowering.dispatchers(EVAL_COND, ir.conds.length)) {
    if (d.name === EVAL_COND) stubs.set(STUB_EXPORTS.evalCond, d);
    else appended.push(d);
  }
  const heapBase = data.end();
  const bytes = data.contents();
  // The constants are a passive segment copied in by the heap_base function, which the library
  // calls once from its start function: unlike an active segment it may lie beyond the 5 pages
  // the SDK's memory starts with (memory is grown first).
  const seg = t.dataSegments;
  const pages = Math.ceil(heapBase / 65536);
  stubs.set(STUB_EXPORTS.heapBase, {
    name: HEAP_BASE,
    params: [],
    body: [
      w.if(w.ltU(w.memorySize(), w.i32(pages)), [w.drop(w.memoryGrow(w.sub(w.i32(pages), w.memorySize())))]),
      w.memoryInit(seg, w.i32(base), w.i32(0), w.i32(bytes.length)),
      w.dataDrop(seg),
      w.i32(heapBase),
    ],
  });
  return { stubs, appended, data: bytes };
}

function section(out: ByteWriter, id: number, payload: ByteWriter): void {
  out.byte(id);
  out.vec(payload.written());
}

/** Stage 3: the template with `g` spliced in. */
function splice(t: Template, g: Generated): Uint8Array<ArrayBuffer> {
  const b = t.bytes;
  const firstNew = t.importedFuncs + t.definedFuncs;
  const index = new Map<string, number>();
  g.appended.forEach((f, i) => index.set(f.name, firstNew + i));
  for (const [stub, f] of g.stubs) index.set(f.name, funcIndex(t, stub));
  const resolve = (name: string): number => index.get(name) ?? funcIndex(t, name);
  const typeOf = (f: Func): number => {
    const ti = t.types.get(i32FuncKey(f.params));
    if (ti === undefined) throw new Error(`waypost: the Wasm runtime template lacks the type of ${f.name}`);
    return ti;
  };
  const stubAt = new Map<number, Func>();
  for (const [stub, f] of g.stubs) stubAt.set(funcIndex(t, stub) - t.importedFuncs, f);

  const out = new ByteWriter();
  const payload = new ByteWriter();
  const scratch = new ByteWriter();
  out.bytes(b.subarray(0, 8)); // magic and version
  const hasDataCount = t.sections.some((s) => s.id === 12);
  // The template always has static data (its strings); the constants' segment is appended to it.
  if (!t.sections.some((s) => s.id === 11)) throw new Error("waypost: the Wasm runtime template has no data section");
  for (const s of t.sections) {
    payload.reset();
    const body = b.subarray(s.start, s.end);
    switch (s.id) {
      case 3: { // function: the appended functions' types
        payload.u32(t.definedFuncs + g.appended.length);
        payload.bytes(b.subarray(afterCount(b, s.start), s.end));
        for (const f of g.appended) payload.u32(typeOf(f));
        break;
      }
      case 7: // export: without the build-time exports
        payload.u32(t.keptExports.length);
        for (const [from, to] of t.keptExports) payload.bytes(b.subarray(from, to));
        break;
      case 12: // data count: one more segment
        payload.u32(t.dataSegments + 1);
        break;
      case 10: { // code: stub bodies replaced, generated bodies appended
        if (!hasDataCount) {
          // memory.init and data.drop need the data count section, right before the code.
          const dc = new ByteWriter();
          dc.u32(t.dataSegments + 1);
          section(out, 12, dc);
        }
        const r = new ByteReader(b, s.start);
        r.u32();
        payload.u32(t.definedFuncs + g.appended.length);
        for (let i = 0; i < t.definedFuncs; i++) {
          const at = r.pos;
          r.vec();
          const f = stubAt.get(i);
          if (f === undefined) payload.bytes(b.subarray(at, r.pos));
          else encodeFunc(f, resolve, payload, scratch);
        }
        for (const f of g.appended) encodeFunc(f, resolve, payload, scratch);
        break;
      }
      case 11: // data: the constants as one more (passive) segment
        payload.u32(t.dataSegments + 1);
        payload.bytes(b.subarray(afterCount(b, s.start), s.end));
        payload.byte(0x01);
        payload.vec(g.data);
        break;
      default:
        payload.bytes(body);
    }
    section(out, s.id, payload);
  }
  return out.written().slice();
}

/** The position after a section's leading count. */
function afterCount(b: Uint8Array, at: number): number {
  const r = new ByteReader(b, at);
  r.u32();
  return r.pos;
}

/** Compiles an IR to the bytes of an OPA-compatible `policy.wasm`. */
export async function emitPolicyWasm(ir: IR): Promise<Uint8Array> {
  const t = loadTemplate();
  const bytes = splice(t, generate(ir, t));
  // Validated here, as the assembler did: a build never writes a module that every runtime
  // would refuse (a few ms; the library's code was validated when the template was built).
  if (!WebAssembly.validate(bytes)) throw new Error("waypost: internal error: the generated policy.wasm is not a valid module");
  return bytes;
}
