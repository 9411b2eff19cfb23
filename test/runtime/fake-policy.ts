/**
 * A hand-written module that follows the OPA Wasm ABI 1.2 just enough for the SDK, returning
 * fixed result sets: it lets the engine's plumbing (SDK calls, fail-closed paths, swaps) be
 * tested without the real emitter. `{}` (the engine's self-check probe) and falsy inputs get
 * `probe`; every other input gets `result`. `trap: true` makes non-probe evaluations trap.
 */
import wabtInit from "wabt";

export interface FakePolicyOptions {
  /** JSON text of the result set for real requests, e.g. `[{"result": {...}}]`. */
  result: string;
  /** JSON text of the result set for the probe `{}`; default: a well-formed deny. */
  probe?: string;
  trap?: boolean;
  entrypoints?: Record<string, number>;
  /** Call opa_abort with this message on real requests. */
  abort?: string;
}

export const denyDecision = (revision: string) => ({
  outcome: "deny",
  node: null,
  channel: null,
  template: null,
  offer: null,
  variant: null,
  send_at: null,
  reasons: [{ code: "invalid-request", policy: "engine", message: "the request is malformed", source: "runtime", detail: "system" }],
  explanation: null,
  revision,
});

const watString = (s: string): string =>
  '"' + [...new TextEncoder().encode(s + "\0")].map((b) => "\\" + b.toString(16).padStart(2, "0")).join("") + '"';

export async function fakePolicyWasm(o: FakePolicyOptions): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const eps = JSON.stringify(o.entrypoints ?? { "waypost/decide": 0, "waypost/suppressed": 1, "waypost/consent": 2 });
  const probe = o.probe ?? JSON.stringify([{ result: denyDecision("r") }]);
  const strings = { builtins: "{}", eps, probe, result: o.result, abort: o.abort ?? "" };
  let at = 1024;
  const addr: Record<string, number> = {};
  let data = "";
  for (const [k, v] of Object.entries(strings)) {
    addr[k] = at;
    data += `  (data (i32.const ${at}) ${watString(v)})\n`;
    at += new TextEncoder().encode(v).length + 1 + 8;
  }
  const real = o.trap
    ? "unreachable"
    : o.abort
      ? `(call $abort (i32.const ${addr.abort})) (i32.const 0)`
      : `(i32.const ${addr.result})`;
  const wat = `(module
  (import "env" "memory" (memory 2))
  (import "env" "opa_abort" (func $abort (param i32)))
  (global $heap (mut i32) (i32.const 131072))
  (global (export "opa_wasm_abi_version") i32 (i32.const 1))
  (global (export "opa_wasm_abi_minor_version") i32 (i32.const 2))
  (export "memory" (memory 0))
${data}
  (func (export "opa_malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "opa_free") (param i32))
  (func (export "opa_heap_ptr_get") (result i32) (global.get $heap))
  (func (export "opa_heap_ptr_set") (param i32) (global.set $heap (local.get 0)))
  (func (export "opa_json_parse") (param i32 i32) (result i32) (i32.const 8))
  (func (export "opa_json_dump") (param i32) (result i32) (local.get 0))
  (func (export "builtins") (result i32) (i32.const ${addr.builtins}))
  (func (export "entrypoints") (result i32) (i32.const ${addr.eps}))
  (func (export "opa_eval") (param i32 i32 i32 i32 i32 i32 i32) (result i32)
    (global.set $heap (local.get 5))
    (if (result i32) (i32.le_u (local.get 4) (i32.const 2))
      (then (i32.const ${addr.probe}))
      (else ${real})))
)`;
  const mod = wabt.parseWat("fake.wat", wat);
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** A well-formed `send` the fake policies answer with (the engine replaces `revision`). */
export const sendDecision = {
  outcome: "send",
  node: "renewal-90",
  channel: "email",
  template: "tpl-renewal-email",
  offer: null,
  variant: null,
  send_at: "2026-03-01T10:00:00Z",
  reasons: [{ code: "trigger-matched", policy: "node/renewal-90", message: "90 days to renewal", source: "journeys/renewal.yaml:5:5" }],
  explanation: null,
  revision: "ignored",
};

/** A request the fake policies decide (`customer.id` is its only context field). */
export const renewalRequest = { system: "crm", event: "policy.renewal_due", now: "2026-03-01T10:00:00Z", context: { "customer.id": "C-1" } };
