import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { writeBundle } from "../../compiler/bundle.js";
import { command as decide } from "../../cli/commands/decide.js";
import { command as logVerify } from "../../cli/commands/log-verify.js";
import { UsageError, type Command } from "../../cli/command.js";
import { writeTarGz } from "../../compiler/tar-write.js";
import { readTarGz } from "../../runtime/tar.js";
import { fakePolicyWasm } from "./fake-policy.js";

const dir = mkdtempSync(join(tmpdir(), "waypost-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const decision = {
  outcome: "defer",
  node: "renewal-90",
  channel: "email",
  template: "tpl-renewal-email",
  offer: null,
  variant: null,
  send_at: "2026-03-02T08:00:00Z",
  reasons: [
    { code: "trigger-matched", policy: "node/renewal-90", message: "policy renews in 90 days", source: "journeys/renewal.yaml:6:5" },
    { code: "quiet-hours", policy: "contact/email-night", message: "no email 21:00-08:00", source: "policies/contact.yaml:9:3", channel: "email" },
  ],
  explanation: "You are receiving this because your policy renews in 90 days.",
  revision: "x",
};

const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const paths = {
  bundle: join(dir, "bundle.tar.gz"),
  signed: join(dir, "signed.tar.gz"),
  tampered: join(dir, "tampered.tar.gz"),
  request: join(dir, "request.json"),
  badRequest: join(dir, "bad.json"),
  pub: join(dir, "pub.pem"),
  log: join(dir, "decisions.jsonl"),
};

beforeAll(async () => {
  const input = {
    wasm: await fakePolicyWasm({ result: JSON.stringify([{ result: decision }]) }),
    data: { waypost: { plan: { fields: { "customer.id": { mask: "hash" } } }, lists: {}, revision: "rev-cli" } },
    manifest: { revision: "rev-cli", roots: ["waypost"], wasm: [{ entrypoint: "waypost/decide", module: "/policy.wasm" }], metadata: {} },
  };
  writeFileSync(paths.bundle, await writeBundle(input));
  const signed = await writeBundle({ ...input, signingKey: { pem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), alg: "RS256" } });
  writeFileSync(paths.signed, signed);
  const files = readTarGz(signed, { rooted: true });
  files.set("data.json", new TextEncoder().encode(JSON.stringify({ waypost: { plan: {}, lists: {}, revision: "rev-cli" } })));
  writeFileSync(paths.tampered, writeTarGz(new Map([...files].map(([k, v]) => [`/${k}`, v]))));
  writeFileSync(paths.pub, publicKey.export({ type: "spki", format: "pem" }));
  writeFileSync(paths.request, JSON.stringify({ system: "crm", event: "policy.renewal_due", now: "2026-03-01T22:00:00Z", context: { "customer.id": "C-1" } }));
  writeFileSync(paths.badRequest, "{ nope");
});

async function run(cmd: Command, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  try {
    const code = await cmd.run({ argv, cwd: dir, stdout: (s) => (out += s), stderr: (s) => (err += s), color: false, env: {} });
    return { code, out, err };
  } catch (e) {
    if (e instanceof UsageError) return { code: 2, out, err: err + e.message };
    throw e;
  }
}

describe("waypost decide", () => {
  it("prints the decision and every reason with its source", async () => {
    const r = await run(decide, ["--bundle", paths.bundle, "--request", paths.request, "--skip-verify"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/outcome\s+defer/);
    expect(r.out).toMatch(/node\s+renewal-90/);
    expect(r.out).toMatch(/channel\s+email/);
    expect(r.out).toMatch(/template\s+tpl-renewal-email/);
    expect(r.out).toMatch(/send at\s+2026-03-02T08:00:00Z/);
    expect(r.out).toMatch(/revision\s+rev-cli/);
    expect(r.out).toMatch(/verified\s+no \(loaded with --skip-verify\)/);
    expect(r.out).toContain("quiet-hours  contact/email-night channel email");
    expect(r.out).toContain("no email 21:00-08:00");
    expect(r.out).toContain("at policies/contact.yaml:9:3");
    expect(r.out).toContain("You are receiving this because");
  });

  it("prints JSON with --format json", async () => {
    const r = await run(decide, ["--bundle", paths.bundle, "--request", paths.request, "--format", "json", "--skip-verify"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ ...decision, revision: "rev-cli", verified: false, decision_id: expect.stringMatching(/^wpd_/) });
  });

  it("verifies a signed bundle and refuses a tampered one (exit 2, code, no stack)", async () => {
    const ok = await run(decide, ["--bundle", paths.signed, "--request", paths.request, "--public-key", paths.pub, "--format", "json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ revision: "rev-cli", verified: true });
    const r = await run(decide, ["--bundle", paths.tampered, "--request", paths.request, "--public-key", paths.pub]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("error[WPR012]");
    expect(r.err).not.toMatch(/\n\s+at /);
    const unsigned = await run(decide, ["--bundle", paths.bundle, "--request", paths.request, "--public-key", paths.pub]);
    expect(unsigned.code).toBe(2);
    expect(unsigned.err).toContain("error[WPR010]");
  });

  it.each([
    [["--request", "request.json", "--skip-verify"], "`--bundle` is required"],
    [["--bundle", "bundle.tar.gz", "--skip-verify"], "`--request` is required"],
    [["--bundle", "bundle.tar.gz", "--request", "missing.json", "--skip-verify"], "does not exist"],
    [["--bundle", "bundle.tar.gz", "--request", "bad.json", "--skip-verify"], "not valid JSON"],
    [["--bundle", "nope.tar.gz", "--request", "request.json", "--skip-verify"], "error[WPR016]"],
    [["--bundle", "request.json", "--request", "request.json", "--skip-verify"], "error[WPR001]"],
    [["--bundle", "bundle.tar.gz", "--request", "request.json", "--format", "yaml", "--skip-verify"], "must be one of"],
    [["--bundle", "bundle.tar.gz", "--request", "request.json", "--alg", "RS256"], "need `--public-key`"],
    [["--bundle", "bundle.tar.gz", "--request", "request.json"], "or `--skip-verify` to load it unverified"],
    [["--bundle", "bundle.tar.gz", "--request", "request.json", "--public-key", "pub.pem", "--skip-verify"], "not both"],
    [["--bundle", "bundle.tar.gz", "--request", "request.json", "--skip-verify", "--key-id", "ci"], "need `--public-key`"],
  ])("user error %j exits 2: %s", async (argv, message) => {
    const r = await run(decide, argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it("logs with --log under a log key, and log verify checks it", async () => {
    const logKey = join(dir, "log.key");
    writeFileSync(logKey, "11".repeat(32) + "\n");
    const decideLogged = (...more: string[]) => run(decide, ["--bundle", paths.bundle, "--request", paths.request, "--log", paths.log, "--skip-verify", ...more]);
    for (let i = 0; i < 3; i++) {
      const r = await decideLogged("--log-key", logKey);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toContain(`logged as seq ${i + 1}`);
      expect(r.err).toContain("MAC'd under log key");
    }
    const ok = await run(logVerify, [paths.log, "--log-key", logKey]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/3 entries, MACs verified under log key [0-9a-f]{16}, end checked against decisions\.jsonl\.head/);
    // Without the key: nothing found, nothing proven (exit 3), and it says why.
    const unchecked = await run(logVerify, [paths.log]);
    expect(unchecked.code).toBe(3);
    expect(unchecked.out).toContain("integrity not proven");
    expect(unchecked.out).toContain("MACs not checked");
    const lines = readFileSync(paths.log, "utf8").trimEnd().split("\n");
    // Cut the last entry: the head file gives it away.
    writeFileSync(paths.log, lines.slice(0, 2).map((l) => l + "\n").join(""));
    const cut = await run(logVerify, [paths.log, "--log-key", logKey]);
    expect(cut.code).toBe(1);
    expect(cut.out).toContain("error[WPL010]");
    // Edit an entry.
    writeFileSync(paths.log, [lines[0]!.replace('"defer"', '"send"'), lines[1]!, lines[2]!].map((l) => l + "\n").join(""));
    const bad = await run(logVerify, [paths.log, "--log-key", logKey]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(":1: error[WPL003]");
    const json = await run(logVerify, [paths.log, "--log-key", logKey, "--format", "json"]);
    expect(JSON.parse(json.out)).toMatchObject({ ok: false, proven: false, entries: 3, problems: [{ line: 1, code: "WPL003" }] });
    // A damaged log is refused by decide --log, and left as it is.
    const before = readFileSync(paths.log, "utf8");
    const refused = await decideLogged("--log-key", logKey);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("error[WPL003]");
    expect(readFileSync(paths.log, "utf8")).toBe(before);
    writeFileSync(paths.log, lines.map((l) => l + "\n").join("") + '{"seq":');
    const torn = await decideLogged("--log-key", logKey);
    expect(torn.code).toBe(2);
    expect(torn.err).toContain("error[WPL001]");
    // Writing needs the key, or the explicit choice of an unkeyed log.
    const keyless = await decideLogged();
    expect(keyless.code).toBe(2);
    expect(keyless.err).toContain("`--log` needs the log key");
    const plain = join(dir, "plain.jsonl");
    const unkeyed = await run(decide, ["--bundle", paths.bundle, "--request", paths.request, "--log", plain, "--skip-verify", "--unkeyed-log"]);
    expect(unkeyed.code, unkeyed.err).toBe(0);
    const plainVerify = await run(logVerify, [plain]);
    expect(plainVerify.code).toBe(3);
    expect(plainVerify.out).toContain("unkeyed log");
    // The log key proves nothing about an unkeyed log: refused with it.
    expect((await run(logVerify, [plain, "--log-key", logKey])).out).toContain("error[WPL011]");
  });

  it("log verify: usage and missing file", async () => {
    expect((await run(logVerify, [])).code).toBe(2);
    const r = await run(logVerify, [join(dir, "nope.jsonl")]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("error[WPL007]");
  });
});
