// Waypost benchmark (`npm run bench`). Every figure is measured in this process, and latency
// is reported as a ratio to a baseline run here too (the JSON floor: stringify + parse of the
// same request), because absolute numbers on shared machines are noisy.
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, cpus, loadavg } from "node:os";
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { build } from "../dist/compiler/build.js";
import { FsHost } from "../dist/compiler/source.js";
import { loadBundle, readBundle, readTarGz } from "../dist/runtime/index.js";
import { AbiPolicy, instantiateMetered, resolveBudget } from "../dist/runtime/abi.js";
import { meterWasm } from "../dist/runtime/meter.js";
import { gzipDeterministic, writeTarGz } from "../dist/compiler/tar-write.js";
import { signBundleFiles } from "../dist/compiler/bundle.js";
import { generateKeyPairSync } from "node:crypto";
import { gunzipSync } from "node:zlib";

import { ROOT, EXAMPLE, nodeRepo, genRequest, listRepo, hashedId } from "./gen.mjs";
import { DecisionLog } from "../dist/runtime/index.js";

const QUICK = process.argv.includes("--quick");
// Issue 14's table: each figure next to its target, printed again together at the end.
const targets = [];
const target = (figure, value, goal, ok) => {
  targets.push({ figure, value, goal, ok });
  console.log(`  ${ok ? "ok  " : "OVER"} ${figure}: ${value}  (target ${goal})`);
};
const WORK = mkdtempSync(path.join(tmpdir(), "waypost-bench-out-"));
// A measurement in a process of its own (bench/child.mjs): its peak memory is its own.
function child(args, { heapMb = 4096, timeoutMs = 600_000 } = {}) {
  try {
    const out = execFileSync(process.execPath, [`--max-old-space-size=${heapMb}`, path.join(ROOT, "bench/child.mjs"), ...args],
      { encoding: "utf8", timeout: timeoutMs, maxBuffer: 1 << 20, stdio: ["ignore", "pipe", "pipe"] });
    return JSON.parse(out.trim().split("\n").at(-1));
  } catch (e) {
    const why = e.signal ? `killed by ${e.signal}${e.signal === "SIGTERM" ? ` after ${timeoutMs / 1000} s` : ""}` : String(e.stderr ?? e.message).trim().split("\n").filter(Boolean).slice(-1)[0];
    return { ok: false, error: why };
  }
}
const N = QUICK ? 20_000 : 100_000;

function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p99: q(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}
// Per-call latency from batches: timing each call alone would measure the timer.
// Also the process CPU per call (`cpu`, µs): on a loaded machine a ratio of CPU times moves
// less than one of wall times.
function measure(fn, n = N, batch = 50) {
  for (let i = 0; i < 2000; i++) fn(i);
  const samples = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < n / batch; i++) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) fn(j);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000 / batch);
  }
  const c = process.cpuUsage(c0);
  return { ...stats(samples), cpu: (c.user + c.system) / (samples.length * batch) };
}
const us = (x) => `${x.toFixed(1)} µs`;
const line = (name, s, floor) => console.log(`  ${name.padEnd(34)} p50 ${us(s.p50).padStart(9)}  p99 ${us(s.p99).padStart(9)}${floor ? `  ${(s.p50 / floor.p50).toFixed(2)}x floor` : ""}`);

// Runs `fn` (async) and reports its wall time and the longest the event loop was held meanwhile
// (what a decision arriving then would wait), from a 1 ms interval's gaps.
async function timedStall(fn) {
  let last = performance.now();
  let worst = 0;
  const iv = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  const result = await fn();
  const ms = performance.now() - t0;
  clearInterval(iv);
  return { result, ms, stall: Math.max(worst, performance.now() - last) };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];


// A realistic ~1 KB request: the cross-sell decision with a contact history.
const request = JSON.parse(readFileSync(path.join(EXAMPLE, "requests/crosssell-send.json"), "utf8"));
request.history = Array.from({ length: 4 }, (_, i) => ({ at: `2026-11-${String(10 + i * 3).padStart(2, "0")}T09:00:00Z`, channel: i % 2 ? "email" : "sms", purpose: "claims", node: "claim-update-day3" }));
const requestBytes = JSON.stringify(request).length;

console.log(`Waypost benchmark — Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? "?"})${QUICK ? ", quick" : ""}, load average ${loadavg().map((x) => x.toFixed(2)).join(", ")}\n`);

// 1. Build times: the example here; generated repositories in a child process each (build) and
// through the CLI (`waypost check`), as a user runs them.
let t = performance.now();
const example = await build(new FsHost(EXAMPLE));
const buildExample = performance.now() - t;
console.log("Build");
console.log(`  example repository (6 nodes)        ${buildExample.toFixed(0)} ms`);
const nodeBundles = {};
for (const [n, goal] of [[1000, 1000], [10_000, 5000]]) {
  const dir = nodeRepo(n);
  const r = child(["build", dir, path.join(WORK, `nodes-${n}.tar.gz`)]);
  if (!r.ok) throw new Error(`the generated ${n}-node repository did not build: ${r.error}`);
  nodeBundles[n] = { file: path.join(WORK, `nodes-${n}.tar.gz`), bytes: r.bytes };
  console.log(`  generated, ${n.toLocaleString("en")} journey nodes: ${r.ms.toFixed(0)} ms (process CPU ${r.cpuMs.toFixed(0)} ms, start included), peak RSS ${r.rssMB.toFixed(0)} MB, bundle ${(r.bytes / 1e6).toFixed(2)} MB  [${r.timings}]`);
  target(`build ${n.toLocaleString("en")} journey nodes`, `${r.ms.toFixed(0)} ms`, `≤ ${goal} ms`, r.ms <= goal);
  if (n === 10_000) {
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [path.join(ROOT, "bin/waypost.js"), "check", dir, "--timings"], { encoding: "utf8" });
    const ms = performance.now() - t0;
    const rc = cli.status;
    const timings = cli.stderr;
    if (rc !== 0) throw new Error(`waypost check failed on the generated repository (exit ${rc})`);
    console.log(`  waypost check, 10,000 nodes (CLI, process start to exit): ${ms.toFixed(0)} ms  [${timings.trim().split("\n").map((l) => l.replace(/\s+/g, " ").replace(/\.\d ms$/, "")).join(", ")}]`);
    target("`waypost check` 10,000 nodes", `${ms.toFixed(0)} ms`, "≤ 3000 ms", ms <= 3000);
  }
  rmSync(dir, { recursive: true, force: true });
}

// 2. Decision latency: JSON floor, bare SDK, runtime.
const engine = await loadBundle(example.bundle, { skipVerify: true }); // built in this process
const { files } = await readBundle(example.bundle, { skipVerify: true });
const sdk = await loadPolicy(files.get("policy.wasm"));
sdk.setData(JSON.parse(new TextDecoder().decode(files.get("data.json"))));
const check = engine.decide(request);
if (check.outcome !== "send") throw new Error(`benchmark request decided ${check.outcome}, expected send`);
console.log(`\nDecision latency (request ${requestBytes} bytes, outcome ${check.outcome}, ${N.toLocaleString()} calls each)`);
const floor = measure(() => JSON.parse(JSON.stringify(request)));
const bare = measure(() => sdk.evaluate(request, "waypost/decide"));
const rt = measure(() => engine.decide(request));
// decision_id is computed on first read when no log is attached: measure a caller that reads it.
const rtId = measure(() => engine.decide(request).decision_id);
line("JSON floor (stringify + parse)", floor);
line("bare SDK evaluate", bare, floor);
line("runtime engine.decide", rt, floor);
line("runtime decide + read decision_id", rtId, floor);
// With a decision log: the id is computed and the entry queued (with its own copy of the
// decision) before decide returns; the writer MACs, writes and fsyncs each batch's entries
// between batches, outside the timed region (as OPA's decision logger encodes buffered events
// off the decision path). That work is reported below too: the CPU it costs per decision.
const logDir = mkdtempSync(path.join(tmpdir(), "waypost-bench-log-"));
const logged = await loadBundle(example.bundle, { skipVerify: true, log: path.join(logDir, "decisions.log"), logKey: new Uint8Array(32).fill(7), pseudonymKey: new Uint8Array(32).fill(9) });
if (logged.decide(request).outcome !== "send") throw new Error("the logged engine did not send");
// The floor is measured again inside this loop, a batch next to each logged batch (which goes
// first alternates): the writer's fsync puts the process to sleep between batches, and on a
// shared machine a batch that starts after a sleep starts on cold caches; the floor measured
// above, in a loop that never sleeps, does not pay that (the same masking and hashing measured
// 0.8x the floor slower with 2 ms sleeps between batches than without).
const logSamples = [];
const loopFloorSamples = [];
let flushCpu = 0;
let logCpu = 0;
let loopFloorCpu = 0;
const floorBatch = () => {
  const d0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let j = 0; j < 50; j++) JSON.parse(JSON.stringify(request));
  const dt = Number(process.hrtime.bigint() - t0) / 1000 / 50;
  const d = process.cpuUsage(d0);
  return [dt, d.user + d.system];
};
for (let i = 0; i < N / 50 + 40; i++) {
  const before = i % 2 === 0 ? floorBatch() : null;
  const d0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let j = 0; j < 50; j++) logged.decide(request);
  const dt = Number(process.hrtime.bigint() - t0) / 1000 / 50;
  const d = process.cpuUsage(d0);
  const [fdt, fcpu] = before ?? floorBatch();
  if (i >= 40) logSamples.push(dt); // the first 2,000 calls warm up
  if (i >= 40) logCpu += d.user + d.system;
  if (i >= 40) loopFloorSamples.push(fdt);
  if (i >= 40) loopFloorCpu += fcpu;
  const c0 = process.cpuUsage();
  await logged.flush();
  const c = process.cpuUsage(c0);
  if (i >= 40) flushCpu += c.user + c.system;
}
await logged.close();
rmSync(logDir, { recursive: true, force: true });
const rtLog = { ...stats(logSamples), cpu: logCpu / N };
const loopFloor = { ...stats(loopFloorSamples), cpu: loopFloorCpu / N };
line("runtime decide, logged (id + entry)", rtLog, floor);
line("  floor, batches beside the logged ones", loopFloor, floor);
console.log(`  logged decide: ${(rtLog.p50 / loopFloor.p50).toFixed(2)}x the floor measured beside it (CPU ${(rtLog.cpu / loopFloor.cpu).toFixed(2)}x)`);
console.log(`  the writer, per logged decision: ${us(flushCpu / N)} CPU (entry MAC and line, write, fsync, head file), off the decide path`);
console.log(`  targets: runtime ≤ 3x floor (${(rt.p50 / floor.p50).toFixed(2)}x), p99 ≤ 100 µs (${us(rt.p99)})`);
const cpuRatio = (s) => `; CPU ${(s.cpu / floor.cpu).toFixed(2)}x the floor's`;
target("`decide`, example request, no log", `${(rt.p50 / floor.p50).toFixed(2)}x floor (${us(rt.p50)})${cpuRatio(rt)}`, "≤ 2x floor", rt.p50 / floor.p50 <= 2);
target("`decide` with the decision id and a log entry appended", `${(rtLog.p50 / loopFloor.p50).toFixed(2)}x the floor beside it (${us(rtLog.p50)}; ${(rtLog.p50 / floor.p50).toFixed(2)}x the first floor); CPU ${(rtLog.cpu / loopFloor.cpu).toFixed(2)}x`, "≤ 3x floor", rtLog.p50 / loopFloor.p50 <= 3);
console.log(`  throughput per core: ${Math.round(1e6 / rt.mean).toLocaleString()} decisions/s (runtime), ${Math.round(1e6 / bare.mean).toLocaleString()} (bare SDK)`);

// What the runaway protection costs (runtime/meter.ts): the same module and data behind the
// engine's ABI calls, with and without the injected fuel checks, measured in alternation.
const budget = resolveBudget({});
const unmeteredAbi = new AbiPolicy(await loadPolicy(files.get("policy.wasm")));
unmeteredAbi.setData(files.get("data.json"));
const meteredAbi = new AbiPolicy(await instantiateMetered(files.get("policy.wasm"), budget), budget);
meteredAbi.setData(files.get("data.json"));
const requestText = JSON.stringify(request);
if (JSON.stringify(meteredAbi.evaluate(requestText, 0)) !== JSON.stringify(unmeteredAbi.evaluate(requestText, 0))) throw new Error("metered and unmetered decisions differ");
const fuel = meteredAbi.fuelUsed();
const unmeteredRuns = [];
const meteredRuns = [];
for (let i = 0; i < 5; i++) {
  unmeteredRuns.push(measure(() => unmeteredAbi.evaluate(requestText, 0), N / 5));
  meteredRuns.push(measure(() => meteredAbi.evaluate(requestText, 0), N / 5));
}
const mid = (runs, k) => runs.map((r) => r[k]).sort((a, b) => a - b)[2];
const unmetered = { p50: mid(unmeteredRuns, "p50"), p99: mid(unmeteredRuns, "p99") };
const metered = { p50: mid(meteredRuns, "p50"), p99: mid(meteredRuns, "p99") };
line("decide, unmetered (AbiPolicy)", unmetered, floor);
line("decide, metered (AbiPolicy)", metered, floor);
const perDecision = metered.p50 - unmetered.p50;
console.log(`  metering: ${perDecision >= 0 ? "+" : ""}${(perDecision * 1000).toFixed(0)} ns per decision, ${((metered.p50 / unmetered.p50 - 1) * 100).toFixed(1)}% of the module call, ` +
  `${((perDecision / rt.p50) * 100).toFixed(1)}% of engine.decide (target < 10%); fuel ${fuel.toLocaleString()} of the ${budget.decision.toLocaleString()} budget`);

// What loading under a deadline costs (runtime/dry-run.ts): while a bundle is active, a swap
// first runs the candidate's load in a worker thread, then here on the fuel it used there.
{
  const runs = { first: [], firstDry: [], swap: [], swapStall: [] };
  for (let i = 0; i < 7; i++) {
    let t0 = performance.now();
    const e = await loadBundle(example.bundle, { skipVerify: true, dryRun: "swap" });
    runs.first.push(performance.now() - t0);
    t0 = performance.now();
    await loadBundle(example.bundle, { skipVerify: true, dryRun: "always" });
    runs.firstDry.push(performance.now() - t0);
    const s = await timedStall(() => e.swap(example.bundle));
    if (!s.result.activated) throw new Error(`swap refused: ${s.result.error.message}`);
    runs.swap.push(s.ms);
    runs.swapStall.push(s.stall);
  }
  console.log(`  load (example bundle, median of 7): ${median(runs.first).toFixed(0)} ms without a dry run, ${median(runs.firstDry).toFixed(0)} ms with one;` +
    ` swap with dry run ${median(runs.swap).toFixed(0)} ms, event loop held at most ${median(runs.swapStall).toFixed(0)} ms`);
}

// 3. 10,000 journey nodes, 100 candidates on the request's event (bench/gen.mjs): the request
// fails 99 triggers and is sent by the last candidate. Latency next to the 6-node example's
// decision, measured alternately in one child process.
{
  const requestFile = path.join(WORK, "gen-request.json");
  writeFileSync(requestFile, JSON.stringify(genRequest()));
  const r = child(["decide", nodeBundles[10_000].file, requestFile, path.join(EXAMPLE, "requests/claim-day3-sms.json")]);
  if (!r.ok) throw new Error(`the 10,000-node bundle did not decide: ${r.error}`);
  if (r.outcome !== "send") throw new Error(`the 10,000-node request decided ${r.outcome}, expected send`);
  const bundleMB = nodeBundles[10_000].bytes / 2 ** 20;
  console.log(`\n10,000 journey nodes (bundle ${(nodeBundles[10_000].bytes / 1e6).toFixed(2)} MB), 100 candidates on the event`);
  console.log(`  decision p50 ${us(r.us)}, the 6-node example's ${us(r.exampleUs)} in the same process (${(r.us / r.exampleUs).toFixed(2)}x)`);
  target("10,000 nodes, 100 candidates: decision p50", `${(r.us / r.exampleUs).toFixed(2)}x the 6-node decision`, "≤ 3x", r.us / r.exampleUs <= 3);
  target("10,000-node bundle: load time", `${r.loadMs.toFixed(0)} ms`, "≤ 200 ms", r.loadMs <= 200);
  target("10,000-node bundle: Wasm memory", `${r.wasmMB.toFixed(1)} MiB = ${(r.wasmMB / bundleMB).toFixed(1)}x the bundle`, "≤ 10x the bundle", r.wasmMB / bundleMB <= 10);
}

// 4. Suppression lists of 1,000,000 and 10,000,000 hashed ids: built in a child process each
// (time, peak RSS), loaded and decided in another (load time, latency next to the example's).
const listRuns = {};
for (const n of QUICK ? [1_000_000] : [1_000_000, 10_000_000]) {
  const label = n === 1e6 ? "1M" : "10M";
  const dir = listRepo(n);
  const file = path.join(WORK, `list-${label}.tar.gz`);
  const b = child(["build", dir, file], { heapMb: 8192, timeoutMs: 300_000 });
  rmSync(dir, { recursive: true, force: true });
  let d = { ok: false, error: "not built" };
  if (b.ok) {
    const requestFile = path.join(WORK, "list-request.json");
    writeFileSync(requestFile, JSON.stringify(request));
    d = child(["decide", file, requestFile, requestFile, hashedId(4242)], { heapMb: 8192, timeoutMs: 300_000 });
  }
  listRuns[label] = { b, d, file };
  console.log(`\n${n.toLocaleString("en")} hashed ids in a suppression list`);
  console.log(b.ok ? `  build ${b.ms.toFixed(0)} ms (process CPU ${b.cpuMs.toFixed(0)} ms, start included), peak RSS ${b.rssMB.toFixed(0)} MB, bundle ${(b.bytes / 1e6).toFixed(1)} MB  [${b.timings}]` : `  build failed: ${b.error}`);
  if (d.ok) console.log(`  load ${d.loadMs.toFixed(0)} ms, Wasm memory ${d.wasmMB.toFixed(0)} MiB; decision p50 ${us(d.us)} vs ${us(d.exampleUs)} on the example bundle (${(((d.us - d.exampleUs) / d.exampleUs) * 100).toFixed(1)}%)`);
  else if (b.ok) console.log(`  load/decide failed: ${d.error}`);
  const goal = n === 1e6 ? { ms: 3000, mb: 500 } : { ms: 30_000, mb: 2048 };
  target(`${label} ids: build time`, b.ok ? `${b.ms.toFixed(0)} ms` : `failed (${b.error})`, `≤ ${goal.ms} ms`, b.ok && b.ms <= goal.ms);
  target(`${label} ids: build peak memory`, b.ok ? `${b.rssMB.toFixed(0)} MB` : "-", `≤ ${goal.mb} MB`, b.ok && b.rssMB <= goal.mb);
  if (n === 1e7) {
    target("10M ids: load", d.ok ? `${d.loadMs.toFixed(0)} ms` : `failed (${d.error})`, "≤ 3000 ms", d.ok && d.loadMs <= 3000);
    const change = d.ok ? (d.us - d.exampleUs) / d.exampleUs : NaN;
    target("10M ids: decision latency vs the example bundle", d.ok ? `${(change * 100).toFixed(1)}%` : "-", "±10%", d.ok && Math.abs(change) <= 0.1);
  }
}
if (QUICK) target("10M ids", "skipped (--quick)", "see the full run", false);
if (!listRuns["1M"].b.ok) throw new Error(`the 1M-entry repository did not build: ${listRuns["1M"].b.error}`);
const huge = { bundle: readFileSync(listRuns["1M"].file) };
const dataBytes = (await readBundle(huge.bundle, { skipVerify: true })).dataBytes.length;
t = performance.now();
const hugeEngine = await loadBundle(huge.bundle, { skipVerify: true });
const loadHuge = performance.now() - t;
t = performance.now();
await loadBundle(huge.bundle, { skipVerify: true, dryRun: "always" });
const loadHugeDry = performance.now() - t;
const swapHuge = await timedStall(() => hugeEngine.swap(huge.bundle));
if (!swapHuge.result.activated) throw new Error(`swap refused: ${swapHuge.result.error.message}`);
const hit = structuredClone(request);
hit.context["customer.email_sha256"] = hashedId(4242);
if (hugeEngine.decide(hit).reasons.every((r) => r.code !== "suppressed")) throw new Error("a listed hash was not suppressed");
const small = measure(() => engine.decide(request));
const withList = measure(() => hugeEngine.decide(request));
console.log(`\n1,000,000 hashed ids, in this process (data.json ${(dataBytes / 1e6).toFixed(1)} MB, bundle ${(huge.bundle.length / 1e6).toFixed(1)} MB)`);
console.log(`  load (untar, verify, setData) ${loadHuge.toFixed(0)} ms  (target ≤ 3000 ms); with a dry run first ${loadHugeDry.toFixed(0)} ms`);
console.log(`  swap with dry run ${swapHuge.ms.toFixed(0)} ms, event loop held at most ${swapHuge.stall.toFixed(0)} ms`);
// Where the load time goes, step by step (each step timed on its own, in this process).
{
  const step = (fn) => {
    const t0 = performance.now();
    const r = fn();
    return [r, performance.now() - t0];
  };
  const [, gunzipMs] = step(() => gunzipSync(huge.bundle, { chunkSize: 1 << 20 }));
  const [, untarMs] = step(() => readTarGz(huge.bundle, { rooted: true }));
  const t0 = performance.now();
  const contents = await readBundle(huge.bundle, { skipVerify: true });
  const readMs = performance.now() - t0;
  const [, meterMs] = step(() => meterWasm(contents.wasm, { initialFuel: budget.load, maxMemoryPages: budget.memoryPages }));
  const t1 = performance.now();
  const sdkPolicy = await instantiateMetered(contents.wasm, budget);
  const instMs = performance.now() - t1;
  const abi = new AbiPolicy(sdkPolicy, budget);
  const [, setDataMs] = step(() => abi.setData(contents.dataBytes));
  const loadFuel = abi.fuelUsed();
  const pages = sdkPolicy.mem.buffer.byteLength / 65536;
  const [, probeMs] = step(() => abi.evaluate("{}", 0));
  console.log(`  steps: gunzip ${gunzipMs.toFixed(0)} ms, + untar ${(untarMs - gunzipMs).toFixed(0)} ms, + manifest/UTF-8 check/data.json scan ${(readMs - untarMs).toFixed(0)} ms` +
    ` (readBundle ${readMs.toFixed(0)} ms); meter + SDK loadPolicy ${instMs.toFixed(0)} ms (meter ${meterMs.toFixed(0)} ms); opa_malloc + copy + opa_json_parse ${setDataMs.toFixed(0)} ms; self-check ${probeMs.toFixed(1)} ms`);
  console.log(`  data.json used ${loadFuel.toLocaleString()} fuel of the ${budget.load.toLocaleString()} load budget and ${pages} of ${budget.memoryPages} memory pages (${(pages / 16).toFixed(0)} MiB)`);
  const [, gzipMs] = step(() => gzipDeterministic(contents.dataBytes));
  console.log(`  gzipDeterministic(data.json) ${gzipMs.toFixed(0)} ms`);
  // The same bundle signed (RS256): verification hashes data.json in OPA's canonical form.
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const files = new Map(contents.files);
  const t2 = performance.now();
  files.set(".signatures.json", await signBundleFiles(files, { alg: "RS256", pem: privateKey.export({ type: "pkcs8", format: "pem" }) }));
  const signMs = performance.now() - t2;
  const signed = writeTarGz(new Map([...files].map(([n, b]) => [`/${n}`, b])));
  const t3 = performance.now();
  const signedEngine = await loadBundle(signed, { publicKey: publicKey.export({ type: "spki", format: "pem" }) });
  const signedMs = performance.now() - t3;
  if (signedEngine.signature === null) throw new Error("signed bundle not verified");
  console.log(`  signed (RS256): signing ${signMs.toFixed(0)} ms; load with verification ${signedMs.toFixed(0)} ms  (target ≤ 3000 ms)`);
}
line("decision, example lists", small);
line("decision, with the 1M list", withList);
console.log(`  latency change: ${(((withList.p50 - small.p50) / small.p50) * 100).toFixed(1)}% at p50, ${(((withList.p99 - small.p99) / small.p99) * 100).toFixed(1)}% at p99  (target ≤ 20%)`);

rmSync(WORK, { recursive: true, force: true });
const load = loadavg();
console.log(`\nIssue 14 targets (load average ${load.map((x) => x.toFixed(2)).join(", ")} at the end of the run)`);
for (const r of targets) console.log(`  ${r.ok ? "ok  " : "OVER"} ${r.figure.padEnd(56)} ${r.value.padEnd(40)} target ${r.goal}`);
