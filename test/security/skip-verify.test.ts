/**
 * No silent trust (issue 8, item 2): loading a bundle without a verification key is an explicit
 * choice (`skipVerify: true`, CLI `--skip-verify`), everywhere a bundle is loaded; without a key
 * and without that choice it is refused (WPR018); both at once is refused (WPR019). Every
 * decision, and so every log entry, records whether its bundle was verified.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBundle } from "../../compiler/bundle.js";
import { createEngine, failClosedDecision, loadBundle, readBundle, WaypostRuntimeError, type Engine } from "../../runtime/index.js";
import { watchStore, type StoreEvent } from "../../runtime/store.js";
import { runCli } from "../support/cli.js";
import { fakePolicyWasm, renewalRequest, sendDecision } from "../runtime/fake-policy.js";

const dir = mkdtempSync(join(tmpdir(), "waypost-skip-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const request = renewalRequest;

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPub = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
const signingKey = { pem: rsa.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), alg: "RS256" as const };

async function bundle(revision: string, o: { signed?: boolean; result?: unknown; trap?: boolean } = {}): Promise<Uint8Array> {
  const wasm = await fakePolicyWasm({ result: JSON.stringify([{ result: o.result ?? sendDecision }]), ...(o.trap ? { trap: true } : {}) });
  return writeBundle({
    wasm,
    data: { waypost: { plan: { version: 1, fields: { "customer.id": { mask: "hash" } } }, lists: {}, revision } },
    manifest: {
      revision,
      roots: ["waypost"],
      wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })),
      metadata: {},
    },
    ...(o.signed ? { signingKey } : {}),
  });
}

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<WaypostRuntimeError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

let unsigned: Uint8Array;
let signed: Uint8Array;
beforeAll(async () => {
  unsigned = await bundle("rev-1");
  signed = await bundle("rev-1", { signed: true });
});

describe("the API refuses to load without a choice", () => {
  it("loadBundle without a key or skipVerify is WPR018, signed bundle or not", async () => {
    for (const b of [unsigned, signed]) {
      const e = await refusal(loadBundle(b));
      expect(e.code).toBe("WPR018");
      expect(e.message).toContain("skipVerify: true");
      expect(e.message).toContain("publicKey");
    }
  });

  it("the choice is checked before the bundle is read", async () => {
    expect((await refusal(loadBundle(join(dir, "missing.tar.gz")))).code).toBe("WPR018");
  });

  it("readBundle without a key or skipVerify is WPR018", async () => {
    expect((await refusal(readBundle(unsigned))).code).toBe("WPR018");
  });

  it("a key and skipVerify together are refused (WPR019), at load and at engine creation", async () => {
    expect((await refusal(loadBundle(signed, { publicKey: rsaPub, skipVerify: true }))).code).toBe("WPR019");
    expect((await refusal(() => createEngine({ publicKey: rsaPub, skipVerify: true }))).code).toBe("WPR019");
    expect((await refusal(readBundle(signed, { publicKey: rsaPub, skipVerify: true }))).code).toBe("WPR019");
    const engine = createEngine({ skipVerify: true });
    expect(await engine.swap(signed, { publicKey: rsaPub, skipVerify: true })).toMatchObject({ activated: false, error: { code: "WPR019" } });
  });

  it("skipVerify must be exactly `true`: a truthy value is not a choice", async () => {
    expect((await refusal(loadBundle(unsigned, { skipVerify: "yes" as unknown as boolean }))).code).toBe("WPR018");
  });

  it("swap on an engine created without a choice is refused and the engine keeps denying", async () => {
    const engine = createEngine();
    const r = await engine.swap(unsigned);
    expect(r).toMatchObject({ activated: false, revision: null, error: { code: "WPR018" } });
    const d = engine.decide(request);
    expect(d.outcome).toBe("deny");
    expect(d.verified).toBe(false);
    // A swap can bring its own choice.
    expect(await engine.swap(signed, { publicKey: rsaPub })).toMatchObject({ activated: true, revision: "rev-1" });
    expect(engine.decide(request)).toMatchObject({ outcome: "send", verified: true });
  });

  it("an engine with a key refuses an unsigned swap; the last good (verified) bundle keeps serving", async () => {
    const engine = await loadBundle(signed, { publicKey: rsaPub });
    const r = await engine.swap(await bundle("rev-2"));
    expect(r).toMatchObject({ activated: false, revision: "rev-1", error: { code: "WPR010" } });
    expect(engine.decide(request)).toMatchObject({ revision: "rev-1", verified: true });
  });
});

describe("decisions record whether the bundle was verified", () => {
  it("true with a key, false with skipVerify (even for a signed bundle)", async () => {
    const verified = await loadBundle(signed, { publicKey: rsaPub });
    expect(verified.verified).toBe(true);
    expect(verified.decide(request)).toMatchObject({ outcome: "send", revision: "rev-1", verified: true });
    const skipped = await loadBundle(signed, { skipVerify: true });
    expect(skipped.verified).toBe(false);
    expect(skipped.signature).toBeNull();
    expect(skipped.decide(request)).toMatchObject({ outcome: "send", revision: "rev-1", verified: false });
  });

  it("fail-closed decisions carry it too", async () => {
    const trapping = await loadBundle(await bundle("rev-t", { signed: true, trap: true }), { publicKey: rsaPub });
    const d = trapping.decide(request);
    expect(d).toMatchObject({ outcome: "deny", verified: true, reasons: [{ code: "runtime-error" }] });
    const notJson = trapping.decide({ ...request, context: { "customer.id": 1n } });
    expect(notJson).toMatchObject({ outcome: "deny", verified: true });
    expect(failClosedDecision("x", "r", "id")).toMatchObject({ verified: false });
    expect(Object.keys(failClosedDecision("x", "r", "id")).slice(-3)).toEqual(["revision", "verified", "decision_id"]);
  });

  it("policy.wasm cannot claim it: a module that returns `verified` fails closed", async () => {
    const engine = await loadBundle(await bundle("rev-w", { result: { ...sendDecision, verified: true } }), { skipVerify: true });
    const d = engine.decide(request);
    expect(d).toMatchObject({ outcome: "deny", verified: false });
    expect(d.reasons[0]!.detail).toContain("unexpected key `verified`");
  });

  it("the log entry records it, because the decision is logged", async () => {
    for (const [opts, want] of [[{ publicKey: rsaPub }, true], [{ skipVerify: true }, false]] as const) {
      const log = join(dir, `log-${String(want)}.jsonl`);
      const engine: Engine = await loadBundle(signed, { ...opts, log, logKey: randomBytes(32) });
      const d = await engine.decideDurable(request);
      await engine.close();
      expect(d.verified).toBe(want);
      const entry = JSON.parse(readFileSync(log, "utf8").trim().split("\n")[0]!) as { decision: { verified: boolean } };
      expect(entry.decision.verified).toBe(want);
    }
  });
});

describe("watchStore activation needs the choice too", () => {
  function store(name: string, b: Uint8Array, revision: string): string {
    const root = join(dir, name);
    mkdirSync(join(root, "bundles"), { recursive: true });
    writeFileSync(join(root, "bundles", `${revision}.tar.gz`), b);
    const digest = "sha256:" + createHash("sha256").update(b).digest("hex");
    writeFileSync(join(root, "index.json"), JSON.stringify({ version: 1, current: revision, releases: [{ revision, digest }] }));
    return root;
  }

  it("without a key or skipVerify the current bundle is rejected (WPR018) and nothing is activated", async () => {
    const root = store("s1", unsigned, "rev-1");
    const engine = createEngine();
    const events: StoreEvent[] = [];
    const w = watchStore(engine, root, { intervalMs: 3_600_000, onEvent: (e) => events.push(e) });
    try {
      const e = await w.poll();
      expect(e).toMatchObject({ type: "rejected", error: { code: "WPR018" }, active: null });
      expect(engine.revision).toBeNull();
    } finally {
      w.stop();
    }
  });

  it("with skipVerify (on the watcher or the engine) it activates, and decisions say unverified", async () => {
    for (const [engineOpts, watchOpts] of [[{}, { skipVerify: true }], [{ skipVerify: true }, {}]] as const) {
      const root = store(`s2-${Object.keys(watchOpts).length}`, unsigned, "rev-1");
      const engine = createEngine(engineOpts);
      const w = watchStore(engine, root, { intervalMs: 3_600_000, ...watchOpts });
      try {
        expect(await w.poll()).toMatchObject({ type: "activated", revision: "rev-1" });
        expect(engine.decide(request).verified).toBe(false);
      } finally {
        w.stop();
      }
    }
  });

  it("with a key an unsigned store bundle is rejected and a signed one activates verified", async () => {
    const engine = createEngine({ publicKey: rsaPub });
    const bad = watchStore(engine, store("s3", unsigned, "rev-1"), { intervalMs: 3_600_000 });
    try {
      expect(await bad.poll()).toMatchObject({ type: "rejected", error: { code: "WPR010" } });
    } finally {
      bad.stop();
    }
    const good = watchStore(engine, store("s4", signed, "rev-1"), { intervalMs: 3_600_000 });
    try {
      expect(await good.poll()).toMatchObject({ type: "activated" });
      expect(engine.decide(request).verified).toBe(true);
    } finally {
      good.stop();
    }
  });
});

describe("the CLI: `--public-key` or `--skip-verify`, wherever a bundle is loaded", () => {
  let paths: { unsigned: string; signed: string; request: string; pub: string; log: string };
  beforeAll(() => {
    paths = { unsigned: join(dir, "u.tar.gz"), signed: join(dir, "s.tar.gz"), request: join(dir, "req.json"), pub: join(dir, "pub.pem"), log: join(dir, "none.jsonl") };
    writeFileSync(paths.unsigned, unsigned);
    writeFileSync(paths.signed, signed);
    writeFileSync(paths.request, JSON.stringify(request));
    writeFileSync(paths.pub, `# release key\n${rsaPub}`);
    writeFileSync(paths.log, "");
  });

  it("decide without either is a usage error (exit 2) naming both choices", async () => {
    const r = await runCli(["decide", "--bundle", paths.unsigned, "--request", paths.request]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("give `--public-key KEY` to verify the bundle's signature, or `--skip-verify` to load it unverified");
  });

  it("decide with both is a usage error (exit 2)", async () => {
    const r = await runCli(["decide", "--bundle", paths.signed, "--request", paths.request, "--public-key", paths.pub, "--skip-verify"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not both");
  });

  it("decide --skip-verify decides and says the bundle was not verified; --public-key says it was", async () => {
    const skipped = await runCli(["decide", "--bundle", paths.unsigned, "--request", paths.request, "--skip-verify", "--format", "json"]);
    expect(skipped.code).toBe(0);
    expect(JSON.parse(skipped.stdout)).toMatchObject({ outcome: "send", verified: false });
    const checked = await runCli(["decide", "--bundle", paths.signed, "--request", paths.request, "--public-key", paths.pub]);
    expect(checked.code).toBe(0);
    expect(checked.stdout).toMatch(/verified\s+yes/);
  });

  it("decide with a key file that is not a usable key is a usage error, not an HMAC secret", async () => {
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "not a key at all\n");
    const r = await runCli(["decide", "--bundle", paths.signed, "--request", paths.request, "--public-key", junk]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("neither PEM nor a JWK");
  });

  it("replay without either is a usage error before anything is read", async () => {
    const r = await runCli(["replay", "--log", paths.log, "--bundle", paths.unsigned]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("`--skip-verify`");
  });

  it("diff refuses a bundle file without either (WP5007, with the choice in the help)", async () => {
    const r = await runCli(["diff", paths.unsigned, paths.unsigned, "--runs", "0", "--repo", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("WPR018");
    expect(r.stderr).toContain("--skip-verify");
  });
});
