/**
 * `waypost serve` end to end (issue 12, done-when): the real CLI in its own process (two
 * cluster workers) with OPA's configuration format, a signed bundle from a local HTTP bundle
 * server (ETag), decisions through OPA's REST Data API, a swap to a new revision by ETag, and
 * decision logs uploaded to a local OPA-style collector that fails for a while, twice (what was
 * kept arrives by the uploader's retries while the server runs, not only by the drain at
 * shutdown). Every decision must reach the collector exactly once, the chain of each local log must verify with its key,
 * the uploaded events must carry that chain without gaps, and a restart must resume after the
 * last acknowledged entry (no decision sent twice).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../compiler/build.js";
import { FsHost } from "../../compiler/source.js";
import { loadBundle, verifyLog, type Engine } from "../../runtime/index.js";
import { EXAMPLE, ROOT } from "../support/repo.js";

const dir = mkdtempSync(path.join(tmpdir(), "waypost-serve-"));
const logKeyHex = "11".repeat(32);
const pseudonymKeyHex = "22".repeat(32);
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const privatePem = rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const publicPem = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();

const requests = readdirSync(path.join(EXAMPLE, "requests"))
  .filter((n) => n.endsWith(".json") && !n.endsWith(".expected.json"))
  .sort()
  .map((n) => JSON.parse(readFileSync(path.join(EXAMPLE, "requests", n), "utf8")) as Record<string, unknown>);

// --- the bundle server (OPA bundle service API: GET with If-None-Match, 304 when unchanged)
const bundles = new Map<string, Uint8Array>();
let current = "rev-1";
const bundleLog: { ifNoneMatch: string | null; status: number }[] = [];
const bundleServer: Server = createServer((req, res) => {
  const etag = `"${current}"`;
  const inm = req.headers["if-none-match"] ?? null;
  if (req.url !== "/bundles/waypost.tar.gz") {
    res.writeHead(404).end();
    return;
  }
  if (inm === etag) {
    bundleLog.push({ ifNoneMatch: inm, status: 304 });
    res.writeHead(304, { ETag: etag }).end();
    return;
  }
  bundleLog.push({ ifNoneMatch: typeof inm === "string" ? inm : null, status: 200 });
  const body = bundles.get(current)!;
  res.writeHead(200, { ETag: etag, "Content-Type": "application/gzip", "Content-Length": body.length }).end(body);
});

// --- the decision-log collector (OPA's: POST gzip JSON array); fails while `collectorDown`
let collectorDown = true;
let failedPosts = 0;
const received: Record<string, unknown>[] = [];
const collector: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    if (req.method !== "POST" || req.url !== "/logs") {
      res.writeHead(404).end();
      return;
    }
    if (collectorDown) {
      failedPosts++;
      res.writeHead(503).end();
      return;
    }
    expect(req.headers["content-encoding"]).toBe("gzip");
    expect(req.headers["content-type"]).toBe("application/json");
    const events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString("utf8")) as Record<string, unknown>[];
    expect(Array.isArray(events)).toBe(true);
    received.push(...events);
    res.writeHead(204).end();
  });
});

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, "127.0.0.1", () => r((s.address() as AddressInfo).port)));

let engines: Record<string, Engine>;
let configFile: string;
let logFile: string;

beforeAll(async () => {
  for (const rev of ["rev-1", "rev-2"]) {
    const b = await build(new FsHost(EXAMPLE), { revision: rev, signingKey: { pem: privatePem, alg: "RS256", keyid: "k1" } });
    expect(b.state.diagnostics).toEqual([]);
    bundles.set(rev, b.bundle!);
  }
  // The in-process runtime on the same bundles and pseudonym key: what the server must answer.
  const pk = Buffer.from(pseudonymKeyHex, "hex");
  engines = {
    "rev-1": await loadBundle(bundles.get("rev-1")!, { publicKey: { key: publicPem, alg: "RS256", keyid: "k1" }, pseudonymKey: pk }),
    "rev-2": await loadBundle(bundles.get("rev-2")!, { publicKey: { key: publicPem, alg: "RS256", keyid: "k1" }, pseudonymKey: pk }),
  };
  const bundlePort = await listen(bundleServer);
  const collectorPort = await listen(collector);
  writeFileSync(path.join(dir, "log.key"), logKeyHex + "\n");
  writeFileSync(path.join(dir, "pseudonym.key"), pseudonymKeyHex + "\n");
  logFile = path.join(dir, "decisions.jsonl");
  configFile = path.join(dir, "config.yaml");
  writeFileSync(
    configFile,
    `# OPA configuration (the overlapping part) plus the waypost section
services:
  - name: bundle-server
    url: http://127.0.0.1:${bundlePort}
  - name: collector
    url: http://127.0.0.1:${collectorPort}
bundles:
  waypost:
    service: bundle-server
    resource: bundles/waypost.tar.gz
    polling: { min_delay_seconds: 0.2, max_delay_seconds: 0.4 }
    signing: { keyid: k1 }
keys:
  k1:
    algorithm: RS256
    key: |
${publicPem.trim().split("\n").map((l) => "      " + l).join("\n")}
decision_logs:
  service: collector
  resource: /logs
  reporting: { min_delay_seconds: 0.1, max_delay_seconds: 0.3, upload_size_limit_bytes: 4096 }
labels: { app: e2e }
waypost:
  log: decisions.jsonl
  log_key_file: log.key
  pseudonym_key_file: pseudonym.key
  workers: 2
`,
  );
}, 120_000);

afterAll(async () => {
  bundleServer.close();
  collector.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Running {
  child: ChildProcess;
  base: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

async function start(): Promise<Running> {
  const child = spawn(process.execPath, ["--import", path.join(ROOT, "test/support/ts-loader.mjs"), path.join(ROOT, "test/support/cli-process.mjs"), "serve", "--config", configFile, "--addr", "127.0.0.1:0"], {
    cwd: dir,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr!.on("data", (c: Buffer) => void (err += c.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then((code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, base, stderr: () => err, exited };
}

const post = async (base: string, p: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const res = await fetch(base + p, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

/** Waits until `n` answers in a row satisfy `ok` (the two workers each poll on their own). */
async function until(f: () => Promise<boolean>, n = 6, limitMs = 60_000): Promise<void> {
  const t = Date.now();
  let streak = 0;
  while (streak < n) {
    if (Date.now() - t > limitMs) throw new Error("timed out");
    streak = (await f().catch(() => false)) ? streak + 1 : 0;
    if (streak < n) await new Promise((r) => setTimeout(r, 100));
  }
}

const strip = (d: Record<string, unknown>) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>;

/** The local decision logs, one per cluster worker. */
const logsOf = (): string[] => [0, 1].map((i) => `${logFile}.${i}`);

/** The entries of the local logs, as written so far. */
function readLocal(logs: string[]): { file: string; seq: number; decision_id: string; mac: string; prev: string }[] {
  return logs.flatMap((f) => {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch {
      return []; // not yet created
    }
    return text.split("\n").filter(Boolean).map((l) => ({ file: f, ...(JSON.parse(l) as { seq: number; decision_id: string; mac: string; prev: string }) }));
  });
}

describe("waypost serve", () => {
  const answered: { decision_id: string; revision: string }[] = [];

  it("serves, swaps by ETag, uploads every decision exactly once through collector failures, resumes after a restart", async () => {
    const logs = logsOf();
    const s = await start();
    try {
      await until(async () => (await fetch(s.base + "/health")).status === 200);
      expect((await fetch(s.base + "/health?bundles")).status).toBe(200);

      // Decisions through the Data API equal the in-process runtime's, decision id included.
      for (const request of requests) {
        const r = await post(s.base, "/v1/data/waypost/decide", { input: request });
        expect(r.status).toBe(200);
        const want = strip(engines["rev-1"]!.decide(request) as unknown as Record<string, unknown>);
        expect(r.json.result).toEqual(want);
        expect(r.json.decision_id).toBe(want.decision_id);
        answered.push({ decision_id: r.json.decision_id as string, revision: "rev-1" });
      }
      // The step entrypoints, by POST and GET.
      const sup = await post(s.base, "/v1/data/waypost/suppressed", { input: requests[0] });
      expect(sup.json.result).toEqual((engines["rev-1"]!.evaluate("waypost/suppressed", requests[0]) as { value: unknown }).value);
      const get = (await (await fetch(`${s.base}/v1/data/waypost/consent?input=${encodeURIComponent(JSON.stringify(requests[0]))}`)).json()) as Record<string, unknown>;
      expect(get.result).toEqual((engines["rev-1"]!.evaluate("waypost/consent", requests[0]) as { value: unknown }).value);
      // OPA's error shape.
      const bad = await post(s.base, "/v1/data/waypost/decide", "{not json");
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({ code: "invalid_parameter" });
      expect(Object.keys(bad.json).sort()).toEqual(["code", "message"]);

      // Swap by ETag: the bundle server's next answer is a new revision.
      expect(bundleLog.some((x) => x.status === 304 && x.ifNoneMatch === '"rev-1"')).toBe(true);
      current = "rev-2";
      await until(async () => ((await post(s.base, "/v1/data/waypost/decide", { input: requests[1] })).json.result as { revision: string }).revision === "rev-2", 8);
      // (those probing decisions were logged too: count them from the responses below instead)
      for (const request of requests) {
        const r = await post(s.base, "/v1/data/waypost/decide", { input: request });
        expect(r.json.result).toEqual(strip(engines["rev-2"]!.decide(request) as unknown as Record<string, unknown>));
      }
      const metrics = await (await fetch(s.base + "/metrics")).text();
      expect(metrics).toMatch(/waypost_bundle_active_revision\{name="waypost",revision="rev-2"\} 1/);
      expect(metrics).toMatch(/waypost_decisions_total\{path="waypost\/decide",outcome="send",node="[^"]+",channel="[^"]+"\} \d+/);
      expect(metrics).toMatch(/waypost_decision_duration_seconds_bucket/);
      expect(metrics).toMatch(/waypost_decision_log_upload_failures_total \d+/);

      // The collector has been failing all along; now it recovers, and what the server kept
      // (the local log) reaches it while the server runs: retries, not the shutdown's drain.
      expect(failedPosts).toBeGreaterThan(0);
      expect(received).toHaveLength(0);
      collectorDown = false;
      await until(async () => received.length > 0 && received.length === readLocal(logs).length, 1);
      checkUploads(readLocal(logs), logs);
      // It fails again for a while, with decisions going on meanwhile: they are answered (the
      // local log is the source of truth) and delivered once it is back.
      const failedBefore = failedPosts;
      collectorDown = true;
      for (const request of requests.slice(0, 5)) expect((await post(s.base, "/v1/data/waypost/decide", { input: request })).status).toBe(200);
      await until(async () => failedPosts > failedBefore, 1);
      collectorDown = false;
      await until(async () => received.length === readLocal(logs).length, 1);
    } finally {
      s.child.kill("SIGTERM");
    }
    expect(await s.exited).toBe(0);

    // Every logged decision reached the collector exactly once.
    const local = readLocal(logs);
    expect(local.length).toBeGreaterThanOrEqual(2 * requests.length + 5);
    checkUploads(local, logs);
    for (const a of answered) expect(received.some((e) => e.decision_id === a.decision_id)).toBe(true);
    for (const f of logs) {
      const v = await verifyLog(f, { key: Buffer.from(logKeyHex, "hex") });
      expect(v.problems).toEqual([]);
      expect(v.ok && v.proven).toBe(true);
    }

    // A restart resumes after the last acknowledged entry: only the new decisions are sent.
    const before = received.length;
    const s2 = await start();
    try {
      await until(async () => (await fetch(s2.base + "/health")).status === 200);
      for (const request of requests.slice(0, 3)) expect((await post(s2.base, "/v1/data/waypost/decide", { input: request })).status).toBe(200);
    } finally {
      s2.child.kill("SIGTERM");
    }
    expect(await s2.exited).toBe(0);
    const local2 = readLocal(logs);
    expect(local2.length).toBe(local.length + 3);
    expect(received.length).toBe(before + 3);
    checkUploads(local2, logs);
  }, 240_000);
});

/** The collector holds exactly the local entries, once each, in chain order per log. */
function checkUploads(local: { file: string; seq: number; decision_id: string; mac: string; prev: string }[], logs: string[]): void {
  const key = (file: string, seq: number) => `${file}#${seq}`;
  const got = received.map((e) => {
    const w = (e.custom as { waypost: { log: string; seq: number; prev: string; mac: string } }).waypost;
    expect(e.path).toBe("waypost/decide");
    expect(e.req_id).toBe(w.seq);
    expect(Object.keys(e.bundles as object)).toEqual(["waypost"]);
    expect(typeof e.timestamp).toBe("string");
    expect((e.labels as Record<string, string>).app).toBe("e2e");
    expect((e.result as { decision_id: string }).decision_id ?? e.decision_id).toBe(e.decision_id);
    return { k: key(w.log, w.seq), w, e };
  });
  const keys = got.map((g) => g.k);
  expect(new Set(keys).size).toBe(keys.length); // no duplicates
  expect(new Set(keys)).toEqual(new Set(local.map((l) => key(l.file, l.seq)))); // none missing
  for (const f of logs) {
    const chain = got.filter((g) => g.w.log === f).sort((a, b) => a.w.seq - b.w.seq);
    chain.forEach((g, i) => {
      expect(g.w.seq).toBe(i + 1);
      const l = local.find((x) => x.file === f && x.seq === g.w.seq)!;
      expect(g.w.mac).toBe(l.mac);
      expect(g.w.prev).toBe(i === 0 ? "0".repeat(64) : chain[i - 1]!.w.mac);
      expect(g.e.decision_id).toBe(l.decision_id);
    });
  }
}
