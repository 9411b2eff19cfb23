import { test } from "vitest";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import opa from "@open-policy-agent/opa-wasm";
import type { IR } from "../../compiler/ir/ir.js";

test("smoke", async () => {
  const ir = { plan: {}, conds: [{op:"cmp", cmp:"==", left:{op:"field",name:"a"}, right:{op:"const", value:"x"}}] } as unknown as IR;
  const t0 = performance.now();
  const bytes = await emitPolicyWasm(ir);
  console.log("emit ms", performance.now()-t0, bytes.length);
  const p = await opa.loadPolicy(bytes);
  console.log(p.entrypoints);
  console.log(JSON.stringify(p.evaluate({system:"x"})));
  p.setData({waypost:{plan:{systems:{x:[]}}, revision:"r1"}});
  console.log(JSON.stringify(p.evaluate({system:"x", event:"e", now:"2026-01-01T00:00:00Z", context:{}})));
  console.log(JSON.stringify(p.evaluate(null)));
  const ex = (p as any).wasmInstance.exports;
  const enc = new TextEncoder().encode('{"a":[1,2.50,"h\\u00e9\\ud83d\\ude00\\ud800",true,null],"a":{"k":-0.0e1}}');
  const addr = ex.opa_malloc(enc.length); new Uint8Array(p.mem.buffer).set(enc, addr);
  const v = ex.opa_json_parse(addr, enc.length);
  const d = ex.opa_json_dump(v); let e=d; const u8=new Uint8Array(p.mem.buffer); while(u8[e]) e++;
  console.log(new TextDecoder().decode(u8.subarray(d,e)));
});
