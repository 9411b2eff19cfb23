/**
 * The Wasm backend: compiles an IR to an OPA Wasm ABI 1.2 module (`policy.wasm`) that the
 * official SDK (@open-policy-agent/opa-wasm) loads unchanged. The generic decision engine and
 * the ABI live in the runtime library template (wasmlib, built once); per policy we
 * only generate the condition functions and their constants and splice them in.
 *
 * Stages, in order:
 *   1. loadTemplate   the library WAT and its metadata (cached)
 *   2. lowerConds     every Expr of ir.conds to a function, constants into one data segment
 *   3. splice         dispatcher + heap base + data segment into the template text
 *   4. assemble       wabt parse / validate / binary (deterministic: same IR, same bytes)
 */
import type { IR } from "../ir/ir.js";
import { CondLowering } from "./conds.js";
import { ConstData } from "./layout.js";
import { loadTemplate, type Template } from "./template.js";
import { bytesLiteral, renderFunc, w } from "./wat.js";

export { loadTemplate } from "./template.js";

type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
let wabtPromise: Promise<Wabt> | undefined;

/** wabt's Emscripten module, instantiated once per process (the first call costs ~50 ms). */
function wabt(): Promise<Wabt> {
  wabtPromise ??= import("wabt").then((m) => m.default());
  return wabtPromise;
}

/** Stage 2+3: the complete module text for `ir`. */
export function policyWat(ir: IR, t: Template = loadTemplate()): string {
  const base = (t.meta.staticEnd + 15) & ~15;
  const data = new ConstData(base);
  const lowering = new CondLowering(t, data);
  const funcs = ir.conds.map((e, i) => renderFunc(lowering.condFunc(i, e)));
  for (const d of lowering.dispatchers(t.meta.evalCond, ir.conds.length)) funcs.push(renderFunc(d));
  const heapBase = data.end();
  const bytes = data.contents();
  // The constants are a passive segment copied in by the spliced heap_base function, which the
  // library calls once from its start function: unlike an active segment it may lie beyond the
  // 5 pages the SDK's memory starts with (memory is grown first).
  const seg = "$waypost/consts";
  const pages = Math.ceil(heapBase / 65536);
  const size = w.instr("memory.size", []);
  funcs.push(
    renderFunc({
      name: t.meta.heapBase,
      params: [],
      body: [
        w.instr("if", [], w.instr("i32.lt_u", [], size, w.i32(pages)),
          w.instr("then", [], w.drop(w.instr("memory.grow", [], w.sub(w.i32(pages), size))))),
        w.instr("memory.init", [seg], w.i32(base), w.i32(0), w.i32(bytes.length)),
        w.instr("data.drop", [seg]),
        w.i32(heapBase),
      ],
    }),
  );
  const segment = ` (data ${seg} ${bytesLiteral(bytes)})`;
  return `${t.head}\n${funcs.join("\n")}\n${segment}\n)\n`;
}

/** Compiles an IR to the bytes of an OPA-compatible `policy.wasm`. */
export async function emitPolicyWasm(ir: IR): Promise<Uint8Array> {
  const text = policyWat(ir);
  const wb = await wabt();
  const mod = wb.parseWat("policy.wat", text, {
    mutable_globals: true,
    sat_float_to_int: true,
    sign_extension: true,
    bulk_memory: true,
    multi_value: true,
  });
  try {
    mod.resolveNames();
    mod.validate();
    return mod.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    mod.destroy();
  }
}
