/**
 * Hostile policy modules for the runaway tests: a module that follows the OPA Wasm ABI 1.2 just
 * enough for the SDK and the engine's activation self-check (like test/runtime/fake-policy.ts),
 * with one misbehaviour plugged in. Requests whose JSON is at most `SMALL_INPUT` bytes get a
 * well-formed `send`; longer ones run `evalBody`, so one engine shows both the stopped decision
 * and the correct decision after it. Bundles are written unsigned (load with skipVerify).
 */
import wabtInit from "wabt";
import { writeBundle } from "../../compiler/bundle.js";
import { denyDecision, sendDecision } from "../runtime/fake-policy.js";

export { sendDecision };

/** Inputs up to this many bytes (the self-check's `{}`, `smallRequest`) are answered normally. */
export const SMALL_INPUT = 120;


/** Decided normally (its JSON is shorter than SMALL_INPUT). */
export const smallRequest = { system: "crm", event: "e", now: "2026-03-01T10:00:00Z", context: {} };
/** Runs the hostile body. */
export const bigRequest = { ...smallRequest, context: { padding: "x".repeat(2 * SMALL_INPUT) } };

export interface RunawayOptions {
  /** WAT instructions run by opa_eval for long inputs; must leave an i32 (the result address). */
  evalBody?: string;
  /** WAT instructions run by opa_eval for every input before anything else (e.g. to loop on the self-check). */
  evalPrologue?: string;
  /** WAT instructions run by opa_json_parse for inputs longer than 2 bytes (data.json); must leave an i32. */
  parseBody?: string;
  /** Body of a start function (none when absent). */
  start?: string;
  /** More module fields (functions, globals). */
  fields?: string;
  /** JSON text of the `builtins()` table; default `{}`. */
  builtins?: string;
  /** Export names to add, each exporting the heap global. */
  extraGlobalExports?: string[];
  /** Memory import limits; default `2`. */
  memory?: string;
  /** `opa_wasm_abi_minor_version`; default 2 (1 and 0: the SDK's slow path, without `opa_eval`). */
  abiMinor?: number;
}

const watString = (s: string): string =>
  '"' + [...new TextEncoder().encode(s + "\0")].map((b) => "\\" + b.toString(16).padStart(2, "0")).join("") + '"';

let wabtModule: Awaited<ReturnType<typeof wabtInit>> | undefined;

/**
 * Assembles WAT with every feature wabt knows, so tests can also build what the meter refuses
 * (`validate: false` for what wabt's validator does not accept even with the feature on).
 */
export async function wat2wasm(text: string, validate = true): Promise<Uint8Array<ArrayBuffer>> {
  wabtModule ??= await wabtInit();
  const features = { exceptions: true, mutable_globals: true, sat_float_to_int: true, sign_extension: true, simd: true, threads: true, multi_value: true, tail_call: true, bulk_memory: true, reference_types: true, multi_memory: true, memory64: true };
  const mod = wabtModule.parseWat("t.wat", text, features);
  try {
    mod.resolveNames();
    if (validate) mod.validate();
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

export async function runawayWasm(o: RunawayOptions = {}): Promise<Uint8Array> {
  const eps = JSON.stringify({ "waypost/decide": 0, "waypost/suppressed": 1, "waypost/consent": 2 });
  const strings = {
    builtins: o.builtins ?? "{}",
    eps,
    probe: JSON.stringify([{ result: denyDecision("r") }]),
    result: JSON.stringify([{ result: sendDecision }]),
  };
  let at = 1024;
  const addr: Record<string, number> = {};
  let data = "";
  for (const [k, v] of Object.entries(strings)) {
    addr[k] = at;
    data += `  (data (i32.const ${at}) ${watString(v)})\n`;
    at += new TextEncoder().encode(v).length + 1 + 8;
  }
  const extra = (o.extraGlobalExports ?? []).map((n) => `  (export "${n}" (global $heap))\n`).join("");
  const text = `(module
  (import "env" "memory" (memory ${o.memory ?? "2"}))
  (import "env" "opa_abort" (func $abort (param i32)))
  (import "env" "opa_println" (func $println (param i32)))
  (global $heap (mut i32) (i32.const 131072))
  (global (export "opa_wasm_abi_version") i32 (i32.const 1))
  (global (export "opa_wasm_abi_minor_version") i32 (i32.const ${o.abiMinor ?? 2}))
  (export "memory" (memory 0))
${extra}${data}
  (func $malloc (export "opa_malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    ;; grow when the heap passes the end of memory
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 16)) (i32.const 1))))))
    (local.get $p))
  (func (export "opa_free") (param i32))
  (func (export "opa_heap_ptr_get") (result i32) (global.get $heap))
  (func (export "opa_heap_ptr_set") (param i32) (global.set $heap (local.get 0)))
  (func (export "opa_json_parse") (param $addr i32) (param $len i32) (result i32)
    (if (result i32) (i32.le_u (local.get $len) (i32.const 2))
      (then (i32.const 8))
      (else ${o.parseBody ?? "(i32.const 8)"})))
  (func (export "opa_json_dump") (param i32) (result i32) (local.get 0))
  (func (export "builtins") (result i32) (i32.const ${addr.builtins}))
  (func (export "entrypoints") (result i32) (i32.const ${addr.eps}))
  (func (export "opa_eval") (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    ${o.evalPrologue ?? ""}
    (global.set $heap (local.get 5))
    (if (result i32) (i32.le_u (local.get 4) (i32.const 2))
      (then (i32.const ${addr.probe}))
      (else
        (if (result i32) (i32.le_u (local.get 4) (i32.const ${SMALL_INPUT}))
          (then (i32.const ${addr.result}))
          (else ${o.evalBody ?? `(i32.const ${addr.result})`})))))
${o.start !== undefined ? `  (func $start ${o.start})\n  (start $start)\n` : ""}${o.fields ?? ""}
)`;
  return wat2wasm(text);
}

export async function bundleOf(wasm: Uint8Array, revision: string, data: unknown = { waypost: { plan: { version: 1, fields: {} }, lists: {}, revision } }): Promise<Uint8Array> {
  return writeBundle({
    wasm,
    data: data as never,
    manifest: {
      revision,
      roots: ["waypost"],
      wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: {},
    },
  });
}

export const runawayBundle = async (revision: string, o: RunawayOptions = {}): Promise<Uint8Array> => bundleOf(await runawayWasm(o), revision);
