// `waypost serve` load test (`npm run bench:serve`): throughput and p50/p99 latency at several
// concurrencies with autocannon against the decision server (OPA's REST Data API), side by side
// in the same run with the same requests through the in-process runtime. Two server variants:
// without a decision log, and with the local keyed log (every answer waits for its fsync; the
// log group-commits concurrent decisions).
//
//   node bench/serve.mjs [--quick] [--workers N] [--duration S] [--concurrency 1,8,32,128]
//
// Before the load, every request is decided once both ways and the answers compared (the same
// requests, the same decisions). Decisions per second per core divide by the cores deciding:
// the server's workers (autocannon shares the machine with them), one for the in-process runtime.
// The load average before and after is printed: figures depend on what else runs on the
// machine, so compare rows of the same run.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { build } from "../dist/compiler/build.js";
import { FsHost } from "../dist/compiler/source.js";
import { loadBundle } from "../dist/runtime/index.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLE = path.join(ROOT, "examples", "northwind");
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const QUICK = process.argv.includes("--quick");
const CORES = availableParallelism();
const WORKERS = Number(arg("workers", String(CORES)));
const DURATION = Number(arg("duration", QUICK ? "3" : "10"));
const CONCURRENCY = arg("concurrency", QUICK ? "1,16,64" : "1,8,32,128").split(",").map(Number);

const dir = mkdtempSync(path.join(tmpdir(), "waypost-bench-serve-"));
const built = await build(new FsHost(EXAMPLE), { revision: "bench" });
if (!built.bundle) throw new Error("the example does not build");
const bundleFile = path.join(dir, "bundle.tar.gz");
writeFileSync(bundleFile, built.bundle);
writeFileSync(path.join(dir, "log.key"), "ab".repeat(32) + "\n");
// One pseudonym key for the server and the runtime here, so that their decision ids agree.
const PSEUDONYM_KEY = "ef".repeat(32);
const requests = readdirSync(path.join(EXAMPLE, "requests"))
  .filter((n) => n.endsWith(".json") && !n.endsWith(".expected.json"))
  .sort()
  .map((n) => JSON.parse(readFileSync(path.join(EXAMPLE, "requests", n), "utf8")));
const bodies = requests.map((r) => JSON.stringify({ input: r }));

function startServer(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/waypost.js"), "serve", bundleFile, "--skip-verify", "--addr", "127.0.0.1:0", "--workers", String(WORKERS), ...extra], {
      cwd: dir,
      env: { ...process.env, WAYPOST_PSEUDONYM_KEY: PSEUDONYM_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.stdout.on("data", (c) => {
      out += c;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

/** Each request once through the server, compared with the in-process decision. */
async function sameAnswers(url, engine) {
  for (const [i, body] of bodies.entries()) {
    const res = await fetch(url + "/v1/data/waypost/decide", { method: "POST", headers: { "content-type": "application/json" }, body });
    const { result } = await res.json();
    const here = engine.decide(requests[i]);
    const pick = (d) => JSON.stringify({ outcome: d.outcome, node: d.node, channel: d.channel, reasons: d.reasons.map((r) => r.code), decision_id: d.decision_id });
    if (res.status !== 200 || pick(result) !== pick(here)) throw new Error(`request ${i}: the server answered ${res.status} ${pick(result ?? {})}, the runtime ${pick(here)}`);
  }
}

const stop = (child) => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM"); });

async function cannon(url, connections) {
  const r = await autocannon({
    url: url + "/v1/data/waypost/decide",
    connections,
    duration: DURATION,
    requests: bodies.map((body) => ({ method: "POST", headers: { "content-type": "application/json" }, body })),
  });
  if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.non2xx} non-2xx answers, ${r.errors} errors`);
  // autocannon measures latency in whole milliseconds.
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, wholeMs: true };
}

/** The in-process runtime on the same requests: `concurrency` decisions in flight at a time. */
async function inProcess(engine, concurrency, durable) {
  const lat = [];
  const until = performance.now() + DURATION * 1000;
  let n = 0;
  const one = async (i) => {
    const t0 = performance.now();
    if (durable) await engine.decideDurable(requests[i % requests.length]);
    else engine.decide(requests[i % requests.length]);
    lat.push(performance.now() - t0);
  };
  const t0 = performance.now();
  const lanes = Array.from({ length: concurrency }, async (_, k) => {
    let i = k;
    while (performance.now() < until) {
      await one(i);
      i += concurrency;
      n++;
      if (!durable && n % 256 === 0) await new Promise(setImmediate); // let the other lanes run
    }
  });
  await Promise.all(lanes);
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { rps: n / secs, p50: q(0.5), p99: q(0.99) };
}

const rows = [];
const ms = (v, whole) => (whole ? (v === 0 ? "<1" : String(v)) : v.toFixed(3)).padStart(8);
const row = (mode, c, r, cores) => {
  rows.push({ mode, c, ...r, cores, perCore: r.rps / cores });
  console.log(`${mode.padEnd(34)} c=${String(c).padStart(4)}  ${r.rps.toFixed(0).padStart(8)} decisions/s  p50 ${ms(r.p50, r.wholeMs)} ms  p99 ${ms(r.p99, r.wholeMs)} ms  ${(r.rps / cores).toFixed(0).padStart(7)}/s per core`);
};

const load = () => loadavg().map((n) => n.toFixed(2)).join(" ");
console.log(`waypost serve load test: ${requests.length} example requests, ${DURATION}s per row, ${WORKERS} workers, ${CORES} cores, Node ${process.version}; load average ${load()}`);
try {
  // The in-process runtime (one thread: one core).
  const pseudonymKey = Buffer.from(PSEUDONYM_KEY, "hex");
  const engine = await loadBundle(built.bundle, { skipVerify: true, pseudonymKey });
  for (const c of [1]) row("in-process decide (no log)", c, await inProcess(engine, c, false), 1);
  const logged = await loadBundle(built.bundle, { skipVerify: true, log: path.join(dir, "inproc.jsonl"), logKey: Buffer.from("cd".repeat(32), "hex"), pseudonymKey });
  for (const c of CONCURRENCY) row("in-process decideDurable (log)", c, await inProcess(logged, c, true), 1);
  await logged.close();

  const plain = await startServer([]);
  await sameAnswers(plain.url, engine);
  for (const c of CONCURRENCY) row(`serve (${WORKERS} workers, no log)`, c, await cannon(plain.url, c), Math.min(WORKERS, CORES));
  await stop(plain.child);

  const withLog = await startServer(["--log", path.join(dir, "serve.jsonl"), "--log-key", path.join(dir, "log.key")]);
  for (const c of CONCURRENCY) row(`serve (${WORKERS} workers, durable log)`, c, await cannon(withLog.url, c), Math.min(WORKERS, CORES));
  await stop(withLog.child);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`load average after: ${load()}`);
if (process.argv.includes("--json")) console.log(JSON.stringify(rows));
