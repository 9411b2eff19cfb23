/**
 * `waypost serve` configuration (OPA's format where it overlaps) and the OPA decision-log event
 * shape of a local log entry.
 */
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../lifecycle/serve/config.js";
import { toOpaEvent } from "../../lifecycle/serve/decision-logs.js";
import type { KeyedLogEntry } from "../../runtime/index.js";

const OPA = `
services:
  acme: { url: "https://bundles.example.com/", credentials: { bearer: { token: "s3cret" } } }
  logs: { url: "https://logs.example.com" }
bundles:
  authz:
    service: acme
    resource: bundles/waypost.tar.gz
    polling: { min_delay_seconds: 10, max_delay_seconds: 20 }
    signing: { keyid: global }
keys:
  global: { algorithm: ES256, key: "-----BEGIN PUBLIC KEY-----" }
decision_logs:
  service: logs
  reporting: { min_delay_seconds: 1, max_delay_seconds: 5 }
labels: { region: eu }
waypost: { log: d.jsonl, unkeyed_log: true, workers: 2 }
`;

describe("parseConfig", () => {
  it("maps OPA's services, bundles, keys, decision_logs and labels", () => {
    const c = parseConfig(OPA, "/etc/waypost/config.yaml");
    expect(c.bundle).toMatchObject({
      name: "authz",
      url: "https://bundles.example.com/bundles/waypost.tar.gz",
      minDelayMs: 10_000,
      maxDelayMs: 20_000,
      publicKey: { alg: "ES256", keyid: "global", key: "-----BEGIN PUBLIC KEY-----" },
    });
    expect("service" in c.bundle && c.bundle.service.headers).toEqual({ Authorization: "Bearer s3cret" });
    expect(c.decisionLogs).toMatchObject({ resource: "/logs", minDelayMs: 1000, maxDelayMs: 5000, service: { url: "https://logs.example.com" } });
    expect(c.labels).toEqual({ region: "eu" });
    expect(c.log).toBe("/etc/waypost/d.jsonl");
    expect(c.workers).toBe(2);
    expect(c.skipVerify).toBe(false);
  });

  it("defaults as OPA: RS256, resource bundles/<name>, JSON accepted", () => {
    const c = parseConfig(
      JSON.stringify({ services: [{ name: "s", url: "http://b" }], bundles: { x: { signing: { keyid: "k" } } }, keys: { k: { key: "PEM" } } }),
      "c.json",
    );
    expect(c.bundle).toMatchObject({ url: "http://b/bundles/x", minDelayMs: 60_000, maxDelayMs: 120_000, publicKey: { alg: "RS256" } });
  });

  it.each([
    ["no bundle", "services: {s: {url: 'http://b'}}", /no bundle configured/],
    ["unsigned without skip_verify", "services: {s: {url: 'http://b'}}\nbundles: {x: {}}", /signing.keyid/],
    ["a key that is not in keys", "services: {s: {url: 'http://b'}}\nbundles: {x: {signing: {keyid: nope}}}", /not in keys/],
    ["an unknown section", "plugins: {}\nwaypost: {bundle_file: b.tgz, skip_verify: true}", /config.plugins is not supported/],
    ["insecure TLS", "services: {s: {url: 'https://b', allow_insecure_tls: true}}\nbundles: {x: {}}\nwaypost: {skip_verify: true}", /allow_insecure_tls is refused/],
    ["a bad algorithm", "services: {s: {url: 'http://b'}}\nbundles: {x: {signing: {keyid: k}}}\nkeys: {k: {key: K, algorithm: none}}", /not a JWS algorithm/],
    ["decision_logs without a local log", "waypost: {bundle_file: b.tgz, skip_verify: true}\nservices: {s: {url: 'http://c'}}\ndecision_logs: {service: s}", /needs waypost.log/],
    ["max below min", "services: {s: {url: 'http://b'}}\nbundles: {x: {polling: {min_delay_seconds: 5, max_delay_seconds: 1}}}\nwaypost: {skip_verify: true}", /below min_delay_seconds/],
    ["two bundles", "services: {s: {url: 'http://b'}}\nbundles: {x: {}, y: {}}\nwaypost: {skip_verify: true}", /exactly one bundle/],
  ])("refuses %s", (_name, text, message) => {
    expect(() => parseConfig(text, "c.yaml")).toThrow(ConfigError);
    expect(() => parseConfig(text, "c.yaml")).toThrow(message);
  });
});

describe("toOpaEvent", () => {
  const entry: KeyedLogEntry = {
    v: 2,
    seq: 7,
    ts: "2026-11-25T10:00:00Z",
    decision_id: "wpd_abc",
    revision: "rev-9",
    request: { system: "crm", now: "2026-11-25T10:00:00Z", context: { "customer.id": "hmac:0123456789abcdef:ff", "customer.email": "[redacted]", "a/b": "hmac:x:y", tier: "gold" } },
    decision: { outcome: "send" },
    kid: "0123456789abcdef",
    prev: "1".repeat(64),
    mac: "2".repeat(64),
  };

  it("has OPA's fields, the masked paths as JSON pointers and the chain under custom.waypost", () => {
    const e = toOpaEvent(entry, { bundle: "waypost", labels: { id: "i-1", version: "waypost 0.1.0" }, log: "d.jsonl", fallbackTime: "x" });
    expect(e).toEqual({
      labels: { id: "i-1", version: "waypost 0.1.0" },
      decision_id: "wpd_abc",
      path: "waypost/decide",
      input: entry.request,
      result: entry.decision,
      bundles: { waypost: { revision: "rev-9" } },
      timestamp: "2026-11-25T10:00:00Z",
      req_id: 7,
      masked: ["/input/context/customer.id", "/input/context/customer.email", "/input/context/a~1b"],
      custom: { waypost: { log: "d.jsonl", seq: 7, prev: "1".repeat(64), mac: "2".repeat(64), kid: "0123456789abcdef", decided_at: "2026-11-25T10:00:00Z" } },
    });
  });

  it("lists erased values, and uses the fallback time for a request without `now`", () => {
    const erased = { ...entry, ts: null, request: { context: { "customer.id": "[erased]" } } };
    const e = toOpaEvent(erased, { bundle: "waypost", labels: {}, log: "d", fallbackTime: "2026-01-01T00:00:00.000Z" });
    expect(e.erased).toEqual(["/input/context/customer.id"]);
    expect(e.masked).toBeUndefined();
    expect(e.timestamp).toBe("2026-01-01T00:00:00.000Z");
  });
});

describe("waypost serve command line", () => {
  it("refuses a configuration without a verification choice, and a BUNDLE without one, before serving", async () => {
    const { runCli } = await import("../support/cli.js");
    const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "waypost-serve-cli-"));
    try {
      writeFileSync(join(dir, "c.yaml"), "services: {s: {url: 'http://127.0.0.1:9'}}\nbundles: {x: {}}\n");
      const r = await runCli(["serve", "--config", join(dir, "c.yaml")]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/signing.keyid and waypost.skip_verify is not set/);
      expect(r.stderr).toMatch(/help: verify bundles with/);
      const r2 = await runCli(["serve", join(dir, "bundle.tar.gz")]);
      expect(r2.code).toBe(2);
      expect(r2.stderr).toMatch(/--public-key KEY.*--skip-verify/);
      const r3 = await runCli(["serve", "--config", join(dir, "c.yaml"), "--skip-verify"]);
      expect(r3.code).toBe(2);
      expect(r3.stderr).toMatch(/goes into the configuration file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
