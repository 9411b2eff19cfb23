/**
 * Issue 8, item 7: fetching bundles is bounded. A bundle URL that hangs, stalls mid-body,
 * sends too much (with or without Content-Length), serves a gzip bomb, answers an error or
 * redirects without end is refused with a stable code, and the last good bundle keeps
 * serving throughout (every refusal is checked against a real decision). Store folders get
 * the same size limits, and a FIFO in place of their index cannot stall a poll.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeBundle } from "../../compiler/bundle.js";
import { createEngine, readTarGz, type Engine } from "../../runtime/index.js";
import { watchStore, type StoreEvent, type WatchOptions } from "../../runtime/store.js";
import { writeTar } from "../../compiler/tar-write.js";
import { fakePolicyWasm, renewalRequest, sendDecision } from "../runtime/fake-policy.js";

const fields = { "customer.id": { type: "string", nullable: false, mask: "hash" } };
const request = renewalRequest;

async function bundle(revision: string): Promise<Uint8Array> {
  return writeBundle({
    wasm: await fakePolicyWasm({ result: JSON.stringify([{ result: sendDecision }]) }),
    data: { waypost: { plan: { version: 1, fields }, lists: {}, revision } },
    manifest: {
      revision,
      roots: ["waypost"],
      wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: {},
    },
  });
}

/** A tar holding 10 MB of zeros, gzipped: about 10 KB on the wire. */
const TEN_MB = 10 * 1024 * 1024;
const bomb = gzipSync(writeTar(new Map([["data.json", new Uint8Array(TEN_MB)]])), { level: 9 });

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler = (_req, res) => void res.writeHead(404).end();
let server: http.Server;
let base: string;
let v1: Uint8Array;
let v2: Uint8Array;
const dir = mkdtempSync(join(tmpdir(), "wp-http-fetch-"));

beforeAll(async () => {
  [v1, v2] = await Promise.all([bundle("rev-1"), bundle("rev-2")]);
  server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** One poll of a fresh watcher; the engine and its active bundle outlive it. */
async function pollOnce(engine: Engine, source: string, options: WatchOptions = {}): Promise<StoreEvent> {
  const events: StoreEvent[] = [];
  const w = watchStore(engine, source, { intervalMs: 3_600_000, skipVerify: true, ...options, onEvent: (e) => events.push(e) });
  try {
    const e = await w.poll();
    return events.at(-1) ?? e;
  } finally {
    w.stop();
  }
}

/** An engine serving rev-1, as a service would be when the source turns bad. */
async function servingRev1(): Promise<Engine> {
  const engine = createEngine({ skipVerify: true });
  handler = (_req, res) => void res.writeHead(200, { "content-type": "application/gzip" }).end(v1);
  expect(await pollOnce(engine, `${base}/v1`)).toMatchObject({ type: "activated", revision: "rev-1" });
  return engine;
}

/** The refusal left rev-1 active, and rev-1 still decides. */
function stillServesRev1(engine: Engine, e: StoreEvent, code: string): void {
  expect(e).toMatchObject({ type: "rejected", active: "rev-1", error: { code } });
  expect(engine.revision).toBe("rev-1");
  const d = engine.decide(request);
  expect(d.outcome).toBe("send");
  expect(d.revision).toBe("rev-1");
}

describe("HTTP bundle fetch", () => {
  it("a server that never answers: WPS004 after the deadline", async () => {
    const engine = await servingRev1();
    handler = () => undefined; // accepts the request, never responds
    stillServesRev1(engine, await pollOnce(engine, `${base}/hang`, { timeoutMs: 300 }), "WPS004");
  });

  it("a server that sends headers, then stalls mid-body: WPS004", async () => {
    const engine = await servingRev1();
    handler = (_req, res) => {
      res.writeHead(200, { "content-length": String(v2.length) });
      res.write(v2.subarray(0, 100)); // and never the rest
    };
    const e = await pollOnce(engine, `${base}/stall`, { timeoutMs: 300 });
    stillServesRev1(engine, e, "WPS004");
    expect((e as { error: { message: string } }).error.message).toContain("did not finish within 300 ms");
  });

  it("a Content-Length over the limit: WPS005 before reading the body", async () => {
    expect(v2.length).toBeGreaterThan(100);
    const engine = await servingRev1();
    let sent = 0;
    handler = (_req, res) => {
      res.writeHead(200, { "content-length": String(v2.length) });
      // Only the first part: the client must refuse on the header alone.
      res.write(v2.subarray(0, 10), () => void (sent += 10));
    };
    const e = await pollOnce(engine, `${base}/big`, { maxBundleBytes: 100, timeoutMs: 5000 });
    stillServesRev1(engine, e, "WPS005");
    expect((e as { error: { message: string } }).error.message).toContain(`Content-Length ${v2.length}`);
  });

  it("an endless body without Content-Length: WPS005 as soon as the limit is passed", async () => {
    const engine = await servingRev1();
    let closed = false;
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "application/gzip" }); // chunked, no length
      const chunk = new Uint8Array(16 * 1024);
      const pump = (): void => {
        while (!closed && res.write(chunk));
        if (!closed) res.once("drain", pump);
      };
      res.on("close", () => void (closed = true));
      pump();
    };
    const limit = 256 * 1024;
    const e = await pollOnce(engine, `${base}/endless`, { maxBundleBytes: limit, timeoutMs: 10_000 });
    stillServesRev1(engine, e, "WPS005");
    const stopped = Number(/stopped reading after (\d+) bytes/.exec((e as { error: { message: string } }).error.message)?.[1]);
    expect(stopped).toBeGreaterThan(limit);
    expect(stopped).toBeLessThanOrEqual(limit + 1024 * 1024); // one network read past it at most
  });

  it("a gzip bomb (10 MB of zeros in a 10 KB download): WPR006, inflation stopped long before 10 MB", async () => {
    expect(bomb.length).toBeLessThan(64 * 1024);
    const engine = await servingRev1();
    handler = (_req, res) => void res.writeHead(200).end(bomb);
    const e = await pollOnce(engine, `${base}/bomb`);
    stillServesRev1(engine, e, "WPR006");
    const msg = (e as { error: { message: string } }).error.message;
    expect(msg).toContain("gzip bomb");
    // The inflater gave up at its limit, a fraction of what the stream expands to.
    const limit = Number(/expands beyond (\d+) bytes/.exec(msg)?.[1]);
    expect(limit).toBeLessThan(TEN_MB / 3);
  });

  it("error statuses: WPS003", async () => {
    const engine = await servingRev1();
    for (const status of [500, 404]) {
      handler = (_req, res) => void res.writeHead(status).end("nope");
      const e = await pollOnce(engine, `${base}/status-${status}`);
      stillServesRev1(engine, e, "WPS003");
      expect((e as { error: { message: string } }).error.message).toContain(`answered HTTP ${status}`);
    }
  });

  it("a refused connection: WPS003", async () => {
    const engine = await servingRev1();
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    stillServesRev1(engine, await pollOnce(engine, `http://127.0.0.1:${port}/gone`), "WPS003");
  });

  it("redirects: followed up to the limit, with the same limits; a loop is WPS006", async () => {
    const engine = await servingRev1();
    handler = (req, res) => {
      if (req.url === "/loop") return void res.writeHead(302, { location: "/loop" }).end();
      if (req.url === "/hop") return void res.writeHead(307, { location: "/big" }).end();
      if (req.url === "/nowhere") return void res.writeHead(301).end();
      if (req.url === "/ftp") return void res.writeHead(302, { location: "ftp://127.0.0.1/b.tar.gz" }).end();
      res.writeHead(200, { "content-length": String(v2.length) }).end(v2);
    };
    stillServesRev1(engine, await pollOnce(engine, `${base}/loop`), "WPS006");
    stillServesRev1(engine, await pollOnce(engine, `${base}/nowhere`), "WPS006");
    stillServesRev1(engine, await pollOnce(engine, `${base}/ftp`), "WPS006");
    stillServesRev1(engine, await pollOnce(engine, `${base}/hop`, { maxRedirects: 0 }), "WPS006");
    // The size limit holds on the redirected response too.
    stillServesRev1(engine, await pollOnce(engine, `${base}/hop`, { maxBundleBytes: 100 }), "WPS005");
    expect(await pollOnce(engine, `${base}/hop`)).toMatchObject({ type: "activated", revision: "rev-2", previous: "rev-1" });
  });

  it("the caller's headers (credentials) are not sent to another origin on redirect", async () => {
    const seen: (string | undefined)[] = [];
    const other = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200).end(v2);
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    try {
      const elsewhere = `http://127.0.0.1:${(other.address() as AddressInfo).port}/b.tar.gz`;
      const engine = await servingRev1();
      handler = (req, res) => {
        seen.push(req.headers.authorization);
        res.writeHead(302, { location: elsewhere }).end();
      };
      expect(await pollOnce(engine, `${base}/cdn`, { headers: { authorization: "Bearer s3cret" } })).toMatchObject({ type: "activated", revision: "rev-2" });
      expect(seen).toEqual(["Bearer s3cret", undefined]);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it("after every refusal, a valid bundle from the same watcher activates", async () => {
    const engine = await servingRev1();
    const events: StoreEvent[] = [];
    const modes: Handler[] = [
      () => undefined,
      (_req, res) => void res.writeHead(500).end(),
      (_req, res) => void res.writeHead(200).end(bomb),
      (_req, res) => void res.writeHead(200, { "content-length": String(v2.length) }).end(v2),
    ];
    const w = watchStore(engine, `${base}/seq`, { intervalMs: 3_600_000, timeoutMs: 300, skipVerify: true, onEvent: (e) => events.push(e) });
    try {
      for (const m of modes) {
        handler = m;
        await w.poll();
      }
    } finally {
      w.stop();
    }
    expect(events.map((e) => (e.type === "rejected" ? e.error.code : e.type === "activated" ? e.revision : e.type))).toEqual(["WPS004", "WPS003", "WPR006", "rev-2"]);
    expect(engine.decide(request).revision).toBe("rev-2");
  });
});

describe("gzip bomb in the tar reader", () => {
  it("a 256 MiB stream in a 256 KB file stops at the ratio limit, not at the content limit", () => {
    const member = gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
    const huge = Buffer.concat([member, member, member, member]); // gzip members concatenate
    let err: unknown;
    try {
      readTarGz(huge);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "WPR006" });
    const limit = Number(/expands beyond (\d+) bytes/.exec((err as Error).message)?.[1]);
    expect(limit).toBe(huge.length * 200);
    expect(limit).toBeLessThan(256 * 1024 * 1024 / 4);
  });

  it("the ratio is configurable, and ordinary bundles are far below it", async () => {
    const b = await bundle("rev-r");
    expect(() => readTarGz(b, { rooted: true })).not.toThrow();
    // The bomb is a well-formed tar: only the ratio refused it.
    expect(readTarGz(bomb, { maxRatio: 2000 }).get("data.json")?.length).toBe(TEN_MB);
    expect(() => readTarGz(bomb, { maxTotalBytes: 1024 * 1024, maxEntries: 10 })).toThrow(/the uncompressed size limit/);
  });
});

describe("store folders", () => {
  const store = join(dir, "store");
  const digest = (b: Uint8Array) => "sha256:" + createHash("sha256").update(b).digest("hex");
  const writeIndex = (current: string, bytes: Uint8Array, extra = "") =>
    writeFileSync(join(store, "index.json"), JSON.stringify({ version: 1, current, releases: [{ revision: current, digest: digest(bytes) }] }) + extra);

  it("a bundle file over the size limit: WPS005", async () => {
    mkdirSync(join(store, "bundles"), { recursive: true });
    writeFileSync(join(store, "bundles", "rev-1.tar.gz"), v1);
    writeFileSync(join(store, "bundles", "rev-2.tar.gz"), v2);
    writeIndex("rev-1", v1);
    const engine = createEngine({ skipVerify: true });
    expect(await pollOnce(engine, store)).toMatchObject({ type: "activated", revision: "rev-1" });
    writeIndex("rev-2", v2);
    stillServesRev1(engine, await pollOnce(engine, store, { maxBundleBytes: 100 }), "WPS005");
    expect(await pollOnce(engine, store)).toMatchObject({ type: "activated", revision: "rev-2" });
  });

  it("an index over 16 MiB: WPS005, without parsing it", async () => {
    const engine = createEngine({ skipVerify: true });
    writeIndex("rev-1", v1);
    expect(await pollOnce(engine, store)).toMatchObject({ type: "activated", revision: "rev-1" });
    writeIndex("rev-2", v2, " ".repeat(16 * 1024 * 1024));
    stillServesRev1(engine, await pollOnce(engine, store), "WPS005");
  });

  it.skipIf(process.platform === "win32")("a FIFO in place of the index is refused, not waited on", async () => {
    const engine = createEngine({ skipVerify: true });
    writeIndex("rev-1", v1);
    expect(await pollOnce(engine, store)).toMatchObject({ type: "activated", revision: "rev-1" });
    rmSync(join(store, "index.json"));
    execFileSync("mkfifo", [join(store, "index.json")]);
    const e = await pollOnce(engine, store);
    stillServesRev1(engine, e, "WPS001");
    expect((e as { error: { message: string } }).error.message).toContain("not a regular file");
  });
});
