// One measurement of `npm run bench` in a process of its own, so its peak memory (maxRSS) and
// heap are its own; prints one JSON line.
//
//   node bench/child.mjs build DIR OUT.tar.gz      build time, peak RSS, stage timings
//   node bench/child.mjs decide BUNDLE REQUEST.json BASELINE.json [HIT_ID]
//       load time, Wasm memory, and the decision's p50 next to BASELINE's p50 on the example
//       bundle, measured alternately in this process (HIT_ID: a listed hashed id that must be
//       suppressed)
import { readFileSync, writeFileSync } from "node:fs";
import { build } from "../dist/compiler/build.js";
import { FsHost } from "../dist/compiler/source.js";
import { loadBundle, readBundle } from "../dist/runtime/index.js";
import { AbiPolicy, instantiateMetered, resolveBudget } from "../dist/runtime/abi.js";
import { EXAMPLE } from "./gen.mjs";

const [mode, a, b, baseFile, c] = process.argv.slice(2);
const rssMB = () => process.resourceUsage().maxRSS / 1024;
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
// CPU time (user + system) of this process: what a run costs, whatever else shares the machine.
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

function p50(fn, n, batch = 20) {
  for (let i = 0; i < Math.min(500, n); i++) fn();
  const s = [];
  for (let i = 0; i < n / batch; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) fn();
    s.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  return s.sort((x, y) => x - y)[Math.floor(s.length / 2)];
}

if (mode === "build") {
  const t0 = performance.now();
  const r = await build(new FsHost(a));
  const ms = performance.now() - t0;
  if (!r.bundle) {
    const first = r.state?.diagnostics?.find((d) => d.severity === "error");
    out({ ok: false, ms, rssMB: rssMB(), error: first ? `${first.code} ${first.message}` : "no bundle" });
    process.exit(0);
  }
  writeFileSync(b, r.bundle);
  out({ ok: true, ms, cpuMs: cpuMs(), rssMB: rssMB(), bytes: r.bundle.length, timings: r.timings.map((x) => `${x.stage} ${x.ms.toFixed(0)}`).join(", ") });
} else if (mode === "decide") {
  const bytes = readFileSync(a);
  const request = JSON.parse(readFileSync(b, "utf8"));
  const exampleBuild = await build(new FsHost(EXAMPLE));
  const example = await loadBundle(exampleBuild.bundle, { skipVerify: true });
  const exampleRequest = JSON.parse(readFileSync(baseFile, "utf8"));
  const loads = [];
  let engine;
  for (let i = 0; i < (bytes.length > 50e6 ? 1 : 5); i++) {
    const t0 = performance.now();
    engine = await loadBundle(bytes, { skipVerify: true });
    loads.push(performance.now() - t0);
  }
  const loadMs = loads.sort((x, y) => x - y)[Math.floor(loads.length / 2)];
  const d = engine.decide(request);
  if (d.outcome === "deny" && d.reasons.some((r) => r.code === "runtime-error")) throw new Error(`decision failed: ${d.reasons.at(-1).message}`);
  if (c) {
    const hit = structuredClone(request);
    hit.context["customer.email_sha256"] = c;
    if (engine.decide(hit).reasons.every((r) => r.code !== "suppressed")) throw new Error("a listed hash was not suppressed");
  }
  // The Wasm memory a load takes: the module instantiated as the engine does, data set.
  const contents = await readBundle(bytes, { skipVerify: true });
  const budget = resolveBudget({});
  const sdk = await instantiateMetered(contents.wasm, budget);
  new AbiPolicy(sdk, budget).setData(contents.dataBytes);
  const wasmMB = sdk.mem.buffer.byteLength / 2 ** 20;
  const base = [], big = [];
  for (let i = 0; i < 5; i++) {
    base.push(p50(() => example.decide(exampleRequest), 4000));
    big.push(p50(() => engine.decide(request), 4000));
  }
  const med = (xs) => xs.sort((x, y) => x - y)[2];
  out({ ok: true, loadMs, wasmMB, outcome: d.outcome, reasons: d.reasons.length, exampleUs: med(base), us: med(big), rssMB: rssMB() });
} else {
  throw new Error(`unknown mode ${mode}`);
}
