/**
 * Issue 8, item 9: exit codes and messages are consistent. Every usage or input mistake is
 * exit 2 with `error[CODE]` or a plain `waypost <command>: ...` message, never a stack trace
 * or an internal error; policy problems are exit 1; and a command whose output pipe closes
 * still writes the files it promised (a real process, stdout closed before it starts).
 */
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeBundle } from "../../compiler/bundle.js";
import { runCli, type CliResult } from "../support/cli.js";
import { EXAMPLE, ROOT } from "../support/repo.js";
import { fakePolicyWasm } from "../runtime/fake-policy.js";

let t: string;
let repo: string;
const p = (...parts: string[]) => path.join(t, ...parts);

beforeAll(async () => {
  t = fs.mkdtempSync(path.join(os.tmpdir(), "wp-exit-"));
  repo = p("repo");
  for (const d of ["policies", "journeys", "tests", "requests"]) fs.cpSync(path.join(EXAMPLE, d), path.join(repo, d), { recursive: true });
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  fs.writeFileSync(p("pub.pem"), publicKey.export({ type: "spki", format: "pem" }));
  fs.writeFileSync(p("file.txt"), "not a folder, not a bundle, not a key");
  fs.writeFileSync(p("bad.json"), "{ nope");
  fs.writeFileSync(p("request.json"), JSON.stringify({ system: "crm", event: "policy.renewal_due", now: "2026-03-01T10:00:00Z", context: {} }));
  fs.mkdirSync(p("empty"));
  fs.mkdirSync(p("folder"));
  const wasm = await fakePolicyWasm({ result: "[]" });
  fs.writeFileSync(p("bundle.tar.gz"), await writeBundle({
    wasm,
    data: { waypost: { plan: { version: 1, fields: {} }, lists: {}, revision: "r1" } },
    manifest: { revision: "r1", roots: ["waypost"], wasm: [{ entrypoint: "waypost/decide", module: "/policy.wasm" }], metadata: {} },
  }));
  // A repository whose example request is not JSON, and one with a policy error.
  fs.cpSync(repo, p("bad-example"), { recursive: true });
  fs.writeFileSync(p("bad-example", "requests", "zz-broken.json"), "{ nope");
  fs.cpSync(repo, p("broken"), { recursive: true });
  const day3 = p("broken", "journeys", "claim-update-day3.yaml");
  fs.writeFileSync(day3, fs.readFileSync(day3, "utf8").replace("claim.opened_at", "claim.opend_at"));
});

afterAll(() => fs.rmSync(t, { recursive: true, force: true }));

/** The message is ours: a code or `waypost <command>:`, no stack, no internal error. */
function userError(r: CliResult): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr + r.stdout).toMatch(/error\[[A-Z]+\d+\]|^waypost( [a-z]+)*: /m);
  expect(r.stderr).not.toMatch(/^ {4}at /m);
  expect(r.stderr).not.toContain("internal error");
}

describe("usage errors: exit 2 with the command's usage", () => {
  const cases: [string, () => string[]][] = [
    ["no command", () => []],
    ["an unknown command", () => ["frobnicate"]],
    ["an unknown flag (check)", () => ["check", repo, "--fromat", "json"]],
    ["an unknown flag (build)", () => ["build", repo, "--sgin", "k.pem"]],
    ["an unknown flag (test)", () => ["test", repo, "--seeed", "1"]],
    ["an unknown flag (demo)", () => ["demo", repo, "--outt", "x"]],
    ["a bad --format", () => ["check", repo, "--format", "xml"]],
    ["a flag without its value", () => ["build", repo, "--out"]],
    ["a non-number --runs", () => ["test", repo, "--runs", "many"]],
    ["--coverage-threshold out of range", () => ["test", repo, "--coverage-threshold", "120"]],
    ["decide without --bundle", () => ["decide", "--request", p("request.json"), "--skip-verify"]],
    ["decide without a verification choice", () => ["decide", "--bundle", p("bundle.tar.gz"), "--request", p("request.json")]],
    ["replay without --log", () => ["replay", "--bundle", p("bundle.tar.gz"), "--skip-verify"]],
    ["diff with one side", () => ["diff", "HEAD"]],
    ["history without a node", () => ["history"]],
    ["log verify without a file", () => ["log", "verify"]],
    ["rollback without --store", () => ["rollback"]],
    ["two directories", () => ["check", repo, repo]],
  ];
  for (const [name, argv] of cases) {
    it(name, async () => {
      const r = await runCli(argv(), repo);
      userError(r);
      // A usage error shows how to call the command (the top-level usage for the first two).
      expect(r.stderr + r.stdout).toContain("Usage: waypost");
    });
  }
});

describe("input errors: exit 2 with a plain message or a code", () => {
  const cases: [string, () => string[], RegExp][] = [
    ["a missing directory for check", () => ["check", p("nope")], /`.*nope` does not exist/],
    ["a missing directory for test", () => ["test", p("nope")], /`.*nope` does not exist/],
    ["a missing directory for demo", () => ["demo", p("nope")], /`.*nope` does not exist/],
    ["a missing directory for build", () => ["build", p("nope")], /`.*nope` does not exist/],
    ["a file where the directory should be", () => ["test", p("file.txt")], /is not a directory/],
    ["a folder without policy files (check)", () => ["check", p("empty")], /error\[WP0005\]/],
    ["a folder without policy files (build)", () => ["build", p("empty"), "--out", p("o-empty")], /error\[WP0005\]/],
    ["a folder without policy files (test)", () => ["test", p("empty")], /error\[WP0005\]/],
    ["a folder without policy files (demo)", () => ["demo", p("empty"), "--out", p("o-empty2")], /error\[WP0005\]/],
    ["a public key passed to --sign", () => ["build", repo, "--out", p("o-pub"), "--sign", p("pub.pem")], /--sign .*pub\.pem/],
    ["a missing --sign key", () => ["build", repo, "--sign", p("nokey.pem")], /cannot read the key/],
    ["a folder passed to --sign", () => ["build", repo, "--sign", p("folder")], /cannot read the key/],
    ["an --out blocked by a file", () => ["build", repo, "--out", p("file.txt", "out")], /cannot write .*a part of the path is a file/],
    ["a --junit that is a folder", () => ["test", p("empty"), "--junit", p("folder")], /error\[WP0005\]|cannot write/],
    ["a demo example request that is not JSON", () => ["demo", p("bad-example"), "--out", p("o-demo")], /cannot read the example request .*zz-broken\.json.*not valid JSON/],
    ["a missing bundle", () => ["decide", "--bundle", p("nope.tar.gz"), "--request", p("request.json"), "--skip-verify"], /error\[WPR016\]/],
    ["a folder as the bundle", () => ["decide", "--bundle", p("folder"), "--request", p("request.json"), "--skip-verify"], /error\[WPR016\]/],
    ["a file that is not a bundle", () => ["decide", "--bundle", p("file.txt"), "--request", p("request.json"), "--skip-verify"], /error\[WPR001\]/],
    ["a request that is not JSON", () => ["decide", "--bundle", p("bundle.tar.gz"), "--request", p("bad.json"), "--skip-verify"], /not valid JSON/],
    ["a folder as the request", () => ["decide", "--bundle", p("bundle.tar.gz"), "--request", p("folder"), "--skip-verify"], /cannot read request file/],
    ["a missing public key", () => ["decide", "--bundle", p("bundle.tar.gz"), "--request", p("request.json"), "--public-key", p("nokey")], /cannot read the key/],
    ["a missing decision log", () => ["log", "verify", p("nope.jsonl")], /error\[WPL007\]/],
    ["a folder as the decision log", () => ["log", "verify", p("folder")], /error\[WPL007\]/],
    ["a bundle to diff that is not one", () => ["diff", p("file.txt"), p("file.txt"), "--skip-verify"], /error\[WP5007\]/],
    ["a missing log to replay", () => ["replay", "--log", p("nope.jsonl"), "--bundle", p("bundle.tar.gz"), "--skip-verify"], /error\[WP5008\]/],
    ["build --rev outside Git", () => ["build", repo, "--rev", "HEAD"], /error\[WP5001\]/],
    ["history outside Git", () => ["history", "renewal-reminder-90"], /error\[WP5001\]/],
    ["a missing artifact store", () => ["rollback", "--store", p("no-store")], /error\[WP5009\]/],
    ["a file as the artifact store", () => ["rollback", "--store", p("file.txt")], /error\[WP5009\]: cannot use .* it is a file, not a folder/],
  ];
  for (const [name, argv, message] of cases) {
    it(name, async () => {
      const r = await runCli(argv(), repo);
      userError(r);
      expect(r.stderr + r.stdout).toMatch(message);
    });
  }

  it.skipIf(process.getuid?.() === 0)("an unreadable request file", async () => {
    fs.writeFileSync(p("secret.json"), "{}");
    fs.chmodSync(p("secret.json"), 0o000);
    const r = await runCli(["decide", "--bundle", p("bundle.tar.gz"), "--request", p("secret.json"), "--skip-verify"], repo);
    userError(r);
  });

  it("a demo that fails on an example leaves no decision log behind", async () => {
    expect(fs.existsSync(p("o-demo", "decisions.jsonl"))).toBe(false);
  });
});

describe("policy problems: exit 1", () => {
  it("check finds an error", async () => {
    const r = await runCli(["check", p("broken")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("error[WP2101]");
  });

  it("build refuses to build it", async () => {
    const r = await runCli(["build", p("broken"), "--out", p("o-broken")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error[WP2101]");
    expect(fs.existsSync(p("o-broken", "bundle.tar.gz"))).toBe(false);
  });

  it("a policy file that cannot be read (a symlink out of the repository) is a policy problem, reported", async () => {
    fs.cpSync(repo, p("linked"), { recursive: true });
    fs.symlinkSync(p("file.txt"), p("linked", "policies", "extra.yaml"));
    const r = await runCli(["check", p("linked")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("error[WP0008]");
  });
});

/** Runs the CLI as a process (from the sources) whose stdout is closed before it writes. */
function runClosedStdout(argv: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["--import", path.join(ROOT, "test/support/ts-loader.mjs"), path.join(ROOT, "test/support/cli-process.mjs"), ...argv], {
    cwd: t,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  // The reader goes away at once, as `| head -0` would: every write to stdout fails with EPIPE.
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => void (stderr += b.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr })));
}

describe("a closed output pipe", () => {
  it("`waypost test --junit FILE | head` still writes the report file after printing", async () => {
    const junit = p("pipe", "report.xml");
    const r = await runClosedStdout(["test", repo, "--no-invariants", "--junit", junit]);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect([0, 1]).toContain(r.code);
    expect(fs.readFileSync(junit, "utf8")).toMatch(/<\/testsuites>\n$/);
  }, 180_000);

  it("`waypost build | head` exits 0 with the bundle written", async () => {
    const r = await runClosedStdout(["build", repo, "--out", p("pipe-build")]);
    expect(r.stderr).not.toMatch(/^ {4}at /m);
    expect(r.code).toBe(0);
    expect(fs.statSync(p("pipe-build", "bundle.tar.gz")).size).toBeGreaterThan(1000);
  }, 180_000);
});
