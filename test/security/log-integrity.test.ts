/**
 * Issue 8, item 5: a decision log nobody can rewrite without the log key. Every attack a log
 * editor has (edit, delete, insert, reorder, cut the tail, recompute the chain, forge the head
 * file, downgrade to an unkeyed chain) is detected by `verifyLog` with the key; a wrong key is
 * named as such; a second writer is refused (in this process and from another one); a log that
 * does not verify is never appended to; `waypost replay` refuses a tampered log.
 */
import { fork, type ChildProcess } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { readDecisionLog } from "../../lifecycle/diff/replay.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";
import { canonicalJson } from "../../runtime/json.js";
import { DecisionLog, entryHash, entryMac, headFileOf, keyId, verifyLog, type KeyedLogEntry, type OpenLogOptions } from "../../runtime/log.js";

const dir = mkdtempSync(join(tmpdir(), "waypost-log-integrity-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 3) & 0xff);
const ATTACKER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 5) & 0xff);
const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

let n = 0;
let path = "";
beforeEach(() => {
  path = join(dir, `log-${n++}.jsonl`);
});

const request = (i: number) => ({ system: "crm", event: "policy.renewal_due", now: `2026-01-0${(i % 9) + 1}T10:00:00Z`, context: { "customer.region": "EU" } });
const entry = (i: number) => ({
  decision_id: `wpd_${i}`,
  revision: "rev-1",
  request: request(i),
  // A whole decision (docs/ir.md), so that `waypost replay` reads it as one.
  decision: { outcome: i % 2 === 0 ? "suppress" : "send", node: "renewal", channel: null, template: null, offer: null, variant: null, send_at: null, reasons: [], explanation: null, revision: "rev-1" },
});

async function writeLog(count: number, options: OpenLogOptions = { key: KEY }): Promise<string[]> {
  const log = await DecisionLog.open(path, options);
  for (let i = 0; i < count; i++) await log.append(entry(i));
  await log.close();
  return readFileSync(path, "utf8").trimEnd().split("\n");
}

const rewrite = (lines: string[]) => writeFileSync(path, lines.map((l) => l + "\n").join(""));
const codes = async (options = { key: KEY }) => (await verifyLog(path, options)).problems.map((p) => [p.line, p.code]);

async function openError(options: OpenLogOptions = { key: KEY }): Promise<WaypostRuntimeError | "opened"> {
  try {
    await (await DecisionLog.open(path, options)).close();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return e;
    throw e;
  }
  return "opened";
}

/** Re-MACs every entry from `from` on with `key` (an attacker with a key of their own), keeping or replacing the kid. */
function remac(lines: string[], key: Uint8Array, opts: { kid?: string; from?: number } = {}): string[] {
  const out = [...lines];
  let prev = opts.from !== undefined && opts.from > 0 ? (JSON.parse(out[opts.from - 1]!) as KeyedLogEntry).mac : "0".repeat(64);
  for (let i = opts.from ?? 0; i < out.length; i++) {
    const e = JSON.parse(out[i]!) as KeyedLogEntry;
    const { mac: _m, ...rest } = { ...e, kid: opts.kid ?? e.kid, prev };
    const mac = entryMac(key, rest);
    out[i] = JSON.stringify({ ...rest, mac });
    prev = mac;
  }
  return out;
}

describe("keyed log: every rewrite is detected with the key", () => {
  it("an intact log is proven: MACs under the key, end checked against the head file", async () => {
    await writeLog(4);
    const r = await verifyLog(path, { key: KEY });
    expect(r).toMatchObject({ ok: true, proven: true, entries: 4, integrity: "macs-verified", kid: keyId(KEY), headFile: "checked", tail: "checked" });
    const head = JSON.parse(readFileSync(headFileOf(path), "utf8"));
    expect(head).toMatchObject({ v: 2, kid: keyId(KEY), seq: 4, mac: r.head });
  });

  it("an edited entry (WPL003), even when the attacker re-MACs the rest of the chain with a key of their own", async () => {
    const lines = await writeLog(5);
    const e = JSON.parse(lines[2]!);
    e.decision.outcome = "send"; // a suppression turned into a send
    lines[2] = JSON.stringify(e);
    rewrite(lines);
    expect(await codes()).toEqual([[3, "WPL003"]]);
    // The attacker recomputes every MAC from the edit on, keeping the log's key id: no key, no valid MAC.
    rewrite(remac(lines, ATTACKER_KEY, { from: 2 }));
    expect((await codes()).map(([, c]) => c)).toEqual(["WPL003", "WPL003", "WPL003", "WPL010"]);
  });

  it("a recomputed plain hash chain (downgrade to an unkeyed log) is refused with the key", async () => {
    const lines = await writeLog(3);
    let prev = "0".repeat(64);
    const downgraded = lines.map((l) => {
      const { v: _v, kid: _k, mac: _m, ...e } = JSON.parse(l) as KeyedLogEntry;
      e.decision = { ...(e.decision as object), outcome: "send" };
      const body = { ...e, prev };
      const hash = entryHash(body);
      prev = hash;
      return JSON.stringify({ ...body, hash });
    });
    rewrite(downgraded);
    unlinkSync(headFileOf(path));
    const r = await verifyLog(path, { key: KEY });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ code: "WPL011", message: expect.stringContaining("unkeyed") });
    // Without the key it verifies as what it is: an unkeyed log, nothing proven.
    expect(await verifyLog(path)).toMatchObject({ ok: true, proven: false, integrity: "unkeyed" });
    // With the head file left behind, even the keyless check sees the rewrite.
    writeFileSync(headFileOf(path), JSON.stringify({ v: 2, kid: keyId(KEY), seq: 3, mac: "a".repeat(64), tag: "b".repeat(64) }));
    expect((await verifyLog(path)).problems.map((p) => p.code)).toContain("WPL012");
  });

  it("a whole log re-MAC'd under another key is reported as written with another key (WPL009)", async () => {
    const lines = await writeLog(3);
    rewrite(remac(lines, ATTACKER_KEY, { kid: keyId(ATTACKER_KEY) }));
    const r = await verifyLog(path, { key: KEY });
    expect(r.ok).toBe(false);
    expect(r.problems.find((p) => p.code === "WPL009")?.message).toContain(`written under log key ${keyId(ATTACKER_KEY)}, not the given key ${keyId(KEY)}`);
  });

  it("a deleted entry (WPL004)", async () => {
    const lines = await writeLog(5);
    lines.splice(2, 1);
    rewrite(lines);
    expect(await codes()).toEqual([[3, "WPL004"]]);
  });

  it("an inserted entry: a duplicate (WPL004) and a forged one (WPL003 + WPL004)", async () => {
    const lines = await writeLog(3);
    rewrite([lines[0]!, lines[0]!, lines[1]!, lines[2]!]);
    expect(await codes()).toEqual([[2, "WPL004"]]);
    const forged = JSON.parse(lines[1]!) as KeyedLogEntry;
    forged.decision_id = "wpd_forged";
    forged.seq = 3;
    forged.prev = (JSON.parse(lines[1]!) as KeyedLogEntry).mac;
    const { mac: _m, ...rest } = forged;
    forged.mac = entryMac(ATTACKER_KEY, rest);
    rewrite([lines[0]!, lines[1]!, JSON.stringify(forged), lines[2]!]);
    expect(await codes()).toEqual([[3, "WPL003"], [4, "WPL004"]]);
    // Renumbered and cut to hide it: the head file still names the real entry 3.
    rewrite([lines[0]!, lines[1]!, JSON.stringify(forged)]);
    expect(await codes()).toEqual([[3, "WPL003"], [4, "WPL010"]]);
  });

  it("reordered entries (WPL004)", async () => {
    const lines = await writeLog(5);
    [lines[1], lines[3]] = [lines[3]!, lines[1]!];
    rewrite(lines);
    const r = await codes();
    expect(r[0]).toEqual([2, "WPL004"]);
    expect(r.every(([, c]) => c === "WPL004" || c === "WPL005")).toBe(true);
  });

  it("a truncated tail: the head file gives it away (WPL010); without a head file the result says so", async () => {
    const lines = await writeLog(5);
    rewrite(lines.slice(0, 3));
    const r = await verifyLog(path, { key: KEY });
    expect(r.problems).toEqual([{ line: 4, code: "WPL010", message: "the head file records seq 5, but the log ends at seq 3: entries were cut from its end" }]);
    // All entries cut: still seen.
    writeFileSync(path, "");
    expect(await codes()).toEqual([[1, "WPL010"]]);
    // The head file deleted too: nothing to check the end against. Not a problem found, not proven.
    rewrite(lines.slice(0, 3));
    unlinkSync(headFileOf(path));
    const bare = await verifyLog(path, { key: KEY });
    expect(bare).toMatchObject({ ok: true, proven: false, tail: "unchecked", headFile: "missing" });
    expect(bare.notes.join(" ")).toContain("entries cut from the end of the log would go unnoticed");
    // An anchored head recorded elsewhere catches it without the head file.
    expect((await verifyLog(path, { key: KEY, head: (JSON.parse(lines[4]!) as KeyedLogEntry).mac })).problems.map((p) => p.code)).toEqual(["WPL010"]);
    expect(await verifyLog(path, { key: KEY, head: (JSON.parse(lines[2]!) as KeyedLogEntry).mac })).toMatchObject({ ok: true, proven: true, tail: "checked" });
  });

  it("a head file forged after a cut does not verify under the key (WPL012)", async () => {
    const lines = await writeLog(5);
    rewrite(lines.slice(0, 3));
    const cut = JSON.parse(lines[2]!) as KeyedLogEntry;
    const tag = createHmac("sha256", Buffer.from(ATTACKER_KEY)).update(`waypost.log.head.v2\n${cut.kid}\n3\n${cut.mac}`).digest("hex");
    writeFileSync(headFileOf(path), JSON.stringify({ v: 2, kid: cut.kid, seq: 3, mac: cut.mac, tag }) + "\n");
    const r = await verifyLog(path, { key: KEY });
    expect(r.problems).toEqual([{ line: 0, code: "WPL012", message: expect.stringContaining("does not verify under the log key") }]);
    expect(r.proven).toBe(false);
  });

  it("without the key: structure and links only, reported as not checked (never as proven)", async () => {
    const lines = await writeLog(3);
    const e = JSON.parse(lines[1]!);
    e.decision.outcome = "deny";
    lines[1] = JSON.stringify(e);
    rewrite(lines);
    const r = await verifyLog(path);
    expect(r).toMatchObject({ ok: true, proven: false, integrity: "macs-not-checked" }); // the edit is invisible without the key
    expect(r.notes[0]).toContain("MACs not checked");
    expect((await verifyLog(path, { key: KEY })).problems.map((p) => p.code)).toEqual(["WPL003"]);
  });

  it("a wrong key is named as such (WPL009), for verification and for appending", async () => {
    await writeLog(2);
    const r = await verifyLog(path, { key: ATTACKER_KEY });
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.code)).toEqual(["WPL009", "WPL009"]); // the head file's key, then the entries'
    expect(r.problems[1]!.message).toBe(`the log was written under log key ${keyId(KEY)}, not the given key ${keyId(ATTACKER_KEY)}: wrong key? (MACs not checked)`);
    expect(await openError({ key: ATTACKER_KEY })).toMatchObject({ code: "WPL009", message: expect.stringContaining("wrong key?") });
    const cli = await runCli(["log", "verify", path, "--log-key", keyFile(ATTACKER_KEY)]);
    expect(cli.code).toBe(1);
    expect(cli.out).toContain("error[WPL009]");
  });
});

describe("a log that does not verify is never appended to", () => {
  it("an edit anywhere (not only the last entry) is refused, and the file is left as it is", async () => {
    const lines = await writeLog(4);
    lines[0] = lines[0]!.replace('"outcome":"suppress"', '"outcome":"send"');
    rewrite(lines);
    const before = readFileSync(path);
    expect(await openError()).toMatchObject({ code: "WPL003", message: expect.stringContaining("line 1") });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it("a cut tail is refused (WPL010); a keyed log without its head file is refused (WPL012)", async () => {
    const lines = await writeLog(4);
    rewrite(lines.slice(0, 2));
    expect(await openError()).toMatchObject({ code: "WPL010" });
    unlinkSync(headFileOf(path));
    expect(await openError()).toMatchObject({ code: "WPL012" });
  });

  it("the key must suit the log: none given, an unkeyed log with a key, a keyed log without one (WPL011)", async () => {
    expect(await openError({})).toMatchObject({ code: "WPL011", message: expect.stringContaining("needs a log key") });
    await writeLog(2, { unkeyed: true });
    expect(await openError({ key: KEY })).toMatchObject({ code: "WPL011", message: expect.stringContaining("unkeyed") });
    path = join(dir, `log-${n++}.jsonl`);
    await writeLog(2);
    expect(await openError({ unkeyed: true })).toMatchObject({ code: "WPL011", message: expect.stringContaining("is keyed") });
    expect(await openError({ key: KEY, replayKey: KEY })).toMatchObject({ code: "WPL011", message: expect.stringContaining("must differ") });
  });

  it("the head file follows every commit, and reopening continues the proven chain", async () => {
    const log = await DecisionLog.open(path, { key: KEY });
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry(i))));
    await log.flush();
    expect(JSON.parse(readFileSync(headFileOf(path), "utf8")).seq).toBe(20);
    await log.close();
    const again = await DecisionLog.open(path, { key: KEY });
    await again.append(entry(20));
    await again.close();
    expect(await verifyLog(path, { key: KEY })).toMatchObject({ proven: true, entries: 21 });
  });
});

// ---------------------------------------------------------------------------------------------
// One writer per log

/**
 * The runtime's log module for a child process: the tests run TypeScript sources, so log.ts and
 * the modules it imports (errors.ts imports the code registry) are transpiled into a folder of
 * plain ES modules.
 */
let childDir = "";
beforeAll(() => {
  childDir = join(dir, "child");
  mkdirSync(childDir);
  writeFileSync(join(childDir, "package.json"), '{"type":"module"}');
  for (const f of ["log", "json", "errors", "codes"]) {
    const src = readFileSync(new URL(`../../runtime/${f}.ts`, import.meta.url), "utf8");
    const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(childDir, `${f}.js`), out);
  }
  // Opens the log for writing, reports, then closes / exits / waits as told.
  writeFileSync(
    join(childDir, "writer.js"),
    `import { DecisionLog } from "./log.js";
const [path, keyHex] = process.argv.slice(2);
let log;
try {
  log = await DecisionLog.open(path, { key: Buffer.from(keyHex, "hex") });
  await log.append({ decision_id: "wpd_child", revision: "r", request: {}, decision: { outcome: "deny" } });
  process.send({ opened: true, pid: process.pid });
} catch (e) {
  process.send({ opened: false, code: e.code, message: e.message });
}
process.on("message", async (m) => {
  if (m === "close") { await log.close(); process.send({ closed: true }); }
  if (m === "exit") process.exit(0); // without close: the exit hook releases the lock
});
`,
  );
});

interface ChildReply {
  opened?: boolean;
  code?: string;
  message?: string;
  pid?: number;
  closed?: boolean;
}

function startWriter(logPath: string): Promise<{ child: ChildProcess; reply: ChildReply }> {
  const child = fork(join(childDir, "writer.js"), [logPath, hex(KEY)], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  return new Promise((resolve, reject) => {
    child.once("message", (reply) => resolve({ child, reply: reply as ChildReply }));
    child.once("error", reject);
  });
}
const next = (child: ChildProcess) => new Promise<ChildReply>((resolve) => child.once("message", (m) => resolve(m as ChildReply)));
const exited = (child: ChildProcess) => new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once("exit", () => resolve())));

describe("one writer per log file", () => {
  it("in this process: a second DecisionLog on the same file is refused (WPL008), and can open once the first is closed", async () => {
    const first = await DecisionLog.open(path, { key: KEY });
    await first.append(entry(0));
    const second = await openError();
    expect(second).toMatchObject({ code: "WPL008", message: expect.stringContaining("already open for writing in this process") });
    await first.close();
    expect(await openError()).toBe("opened");
    expect((await verifyLog(path, { key: KEY })).proven).toBe(true);
  });

  it("another process holding the log: refused with its pid (WPL008), never a forked chain", async () => {
    const { child, reply } = await startWriter(path);
    try {
      expect(reply).toMatchObject({ opened: true });
      const lock = JSON.parse(readFileSync(`${path}.lock`, "utf8"));
      expect(lock).toMatchObject({ pid: child.pid, token: expect.any(String), started: expect.any(String) });
      expect(await openError()).toMatchObject({ code: "WPL008", message: expect.stringContaining(`pid ${child.pid}`) });
      // And the other way round: this process writes, a second process is refused.
      const closed = next(child);
      child.send("close");
      expect(await closed).toMatchObject({ closed: true });
      const mine = await DecisionLog.open(path, { key: KEY });
      const other = await startWriter(path);
      expect(other.reply).toMatchObject({ opened: false, code: "WPL008" });
      other.child.kill();
      await mine.append(entry(1));
      await mine.close();
      expect(await verifyLog(path, { key: KEY })).toMatchObject({ proven: true, entries: 2 });
    } finally {
      child.kill();
    }
  });

  it("the lock goes with the process: released at exit without close, and taken over when its process was killed", async () => {
    const a = await startWriter(path);
    expect(a.reply.opened).toBe(true);
    a.child.send("exit");
    await exited(a.child);
    expect(existsSync(`${path}.lock`)).toBe(false);
    const b = await startWriter(path);
    expect(b.reply.opened).toBe(true);
    b.child.kill("SIGKILL"); // no exit hook runs: the lock file stays, naming a dead process
    await exited(b.child);
    expect(existsSync(`${path}.lock`)).toBe(true);
    const log = await DecisionLog.open(path, { key: KEY });
    expect(log.lastSeq).toBe(2);
    await log.close();
    expect(await verifyLog(path, { key: KEY })).toMatchObject({ proven: true, entries: 2 });
  });
});

// ---------------------------------------------------------------------------------------------
// Replay verifies first

const keyFile = (key: Uint8Array): string => {
  const f = join(dir, `key-${hex(key).slice(0, 8)}.hex`);
  writeFileSync(f, hex(key) + "\n");
  return f;
};

async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd: dir, stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

describe("waypost replay refuses a tampered log", () => {
  it("with the log key, an edited entry stops the replay before any bundle is read (WP5008, WPL003)", async () => {
    const lines = await writeLog(3);
    expect((await readDecisionLog(path, undefined, { logKey: KEY })).ok).toBe(true);
    const e = JSON.parse(lines[0]!);
    e.decision.outcome = "send";
    lines[0] = JSON.stringify(e);
    rewrite(lines);
    const r = await readDecisionLog(path, undefined, { logKey: KEY });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain(":1: entry seq 1 was modified: its MAC does not match");
    const cli = await runCli(["replay", "--skip-verify", "--log", path, "--bundle", join(dir, "never-read.tar.gz"), "--log-key", keyFile(KEY)]);
    expect(cli.code).toBe(2);
    expect(cli.err).toContain("error[WP5008]");
    expect(cli.err).toContain("(WPL003)");
    // A cut tail is refused too.
    path = join(dir, `log-${n++}.jsonl`);
    await writeLog(3);
    rewrite(readFileSync(path, "utf8").trimEnd().split("\n").slice(0, 2));
    const cut = await runCli(["replay", "--skip-verify", "--log", path, "--bundle", join(dir, "never-read.tar.gz"), "--log-key", keyFile(KEY)]);
    expect(cut.code).toBe(2);
    expect(cut.err).toContain("(WPL010)");
  });

  it("without the key the replay goes on, with a note that the MACs were not checked", async () => {
    await writeLog(2);
    const r = await readDecisionLog(path);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value.verification.notes[0]).toContain("MACs not checked");
  });
});

describe("the log holds no plain digest of anything it was given to keep secret", () => {
  it("entry MACs are keyed: the commitment's SHA-256 is not the MAC", async () => {
    const lines = await writeLog(1);
    const e = JSON.parse(lines[0]!) as KeyedLogEntry;
    const { mac, ...rest } = e;
    const commitment = canonicalJson({ v: 2, kid: e.kid, seq: e.seq, ts: e.ts, decision_id: e.decision_id, revision: e.revision, request: createHash("sha256").update(canonicalJson(e.request)).digest("hex"), decision: e.decision, sealed: null });
    expect(mac).not.toBe(createHash("sha256").update(`waypost.log.v2\n${e.prev}\n${commitment}`).digest("hex"));
    expect(mac).toBe(createHmac("sha256", Buffer.from(KEY)).update(`waypost.log.v2\n${e.prev}\n${commitment}`).digest("hex"));
    expect(entryMac(KEY, rest)).toBe(mac);
  });
});
