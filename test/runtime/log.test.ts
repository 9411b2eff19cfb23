import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHmac } from "node:crypto";
import { createPseudonymiser, DecisionLog, entryLink, GENESIS_HASH, keyId, maskRequest, parseEntry, parseReplayKey, REDACTED, unsealRequest, verifyLog, type FieldMasks, type LogEntry, type OpenLogOptions } from "../../runtime/log.js";
import { WaypostRuntimeError } from "../../runtime/errors.js";

const dir = mkdtempSync(join(tmpdir(), "waypost-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
let path = "";
beforeEach(() => {
  path = join(dir, `log-${n++}.jsonl`);
});

const fields: FieldMasks = {
  "customer.id": { mask: "hash" },
  "customer.email": { mask: "redact" },
  "customer.region": { mask: "none" },
  "customer.tags": { mask: "hash" },
};

const request = (i: number) => ({
  system: "crm",
  event: "policy.renewal_due",
  now: `2026-01-0${(i % 9) + 1}T10:00:00Z`,
  context: { "customer.id": `C-${i}`, "customer.email": `c${i}@example.com`, "customer.region": "EU" },
  history: [{ at: "2025-12-30T08:00:00Z", channel: "email" }],
});

const pseudonymKey = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
const pseudonyms = createPseudonymiser(pseudonymKey);
const logKey = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);

const entry = (i: number) => ({
  decision_id: `wpd_${i}`,
  revision: "rev-1",
  request: maskRequest(request(i), fields, pseudonyms),
  decision: { outcome: "send", node: "renewal", reasons: [] },
});

// The general behaviour holds for both formats: keyed (MACs under the log key) and the explicit
// unkeyed hash chain. Attacks on the keyed log: test/security/log-integrity.test.ts.
let opts: OpenLogOptions = { unkeyed: true };

async function writeLog(count: number): Promise<string[]> {
  const log = await DecisionLog.open(path, opts);
  for (let i = 0; i < count; i++) await log.append(entry(i));
  await log.close();
  return readFileSync(path, "utf8").trimEnd().split("\n");
}

const rewrite = (lines: string[]) => writeFileSync(path, lines.map((l) => l + "\n").join(""));
const verify = () => verifyLog(path, opts.key ? { key: opts.key } : {});

async function openCode(): Promise<string> {
  try {
    await (await DecisionLog.open(path, opts)).close();
  } catch (e) {
    if (e instanceof WaypostRuntimeError) return e.code;
    throw e;
  }
  return "opened";
}

describe("masking", () => {
  it("pseudonymises, redacts and keeps per the dictionary; keeps replay fields", () => {
    const m = maskRequest({ ...request(1), context: { ...request(1).context, "customer.tags": ["a", "b"], "customer.unknown": "x", "customer.email2": null } }, fields, pseudonyms) as Record<string, unknown>;
    const ctx = m.context as Record<string, unknown>;
    const hmac = (text: string) => createHmac("sha256", Buffer.from(pseudonymKey)).update("waypost.pseudonym.v1\n" + text).digest("hex");
    expect(ctx["customer.id"]).toBe(`hmac:${keyId(pseudonymKey)}:${hmac("C-1")}`);
    expect(ctx["customer.tags"]).toBe(`hmac:${keyId(pseudonymKey)}:${hmac('["a","b"]')}`);
    expect(ctx["customer.email"]).toBe(REDACTED);
    expect(ctx["customer.region"]).toBe("EU");
    expect(ctx["customer.unknown"]).toBe(REDACTED); // not in the dictionary: unknown sensitivity
    expect(ctx["customer.email2"]).toBeNull();
    expect(m.now).toBe(request(1).now);
    expect(m.system).toBe("crm");
    expect(m.event).toBe("policy.renewal_due");
    expect(m.history).toEqual(request(1).history);
    expect(JSON.stringify(m)).not.toContain("example.com");
  });

  it("redacts `hash` fields when there is no pseudonymisation key (never a plain hash)", () => {
    const ctx = (maskRequest(request(1), fields) as { context: Record<string, unknown> }).context;
    expect(ctx["customer.id"]).toBe(REDACTED);
    expect(ctx["customer.region"]).toBe("EU");
  });

  it("redacts unexpected top-level keys and non-object requests", () => {
    expect(maskRequest({ ...request(1), extra: { email: "x@y" } }, fields)).toMatchObject({ extra: REDACTED });
    expect(maskRequest("c1@example.com", fields)).toBe(REDACTED);
    expect(maskRequest(null, fields)).toBeNull();
  });
});

describe.each([
  ["keyed", { key: logKey }, ["v", "seq", "ts", "decision_id", "revision", "request", "decision", "kid", "prev", "mac"]],
  ["unkeyed", { unkeyed: true }, ["seq", "ts", "decision_id", "revision", "request", "decision", "prev", "hash"]],
] as const)("decision log (%s)", (format, options, keys) => {
  beforeEach(() => {
    opts = options as OpenLogOptions;
  });

  it("appends a chain and verifies clean", async () => {
    const lines = await writeLog(5);
    expect(lines).toHaveLength(5);
    const first = JSON.parse(lines[0]!) as LogEntry;
    expect(Object.keys(first)).toEqual(keys);
    expect(first.seq).toBe(1);
    expect(first.prev).toBe(GENESIS_HASH);
    expect(first.ts).toBe(request(0).now);
    expect(JSON.parse(lines[1]!).prev).toBe(entryLink(first));
    const r = await verify();
    expect(r).toMatchObject({ ok: true, entries: 5, problems: [], lastSeq: 5, integrity: format === "keyed" ? "macs-verified" : "unkeyed" });
    expect(r.head).toBe(entryLink(JSON.parse(lines[4]!)));
    expect(r.proven).toBe(format === "keyed");
  });

  it("creates the file private (0600)", async () => {
    await writeLog(1);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("reopens and continues the chain", async () => {
    await writeLog(3);
    const log = await DecisionLog.open(path, opts);
    expect(log.lastSeq).toBe(3);
    const e = await log.append(entry(3));
    expect(e.seq).toBe(4);
    await log.close();
    expect(await verify()).toMatchObject({ ok: true, entries: 4 });
  });

  it("group-commits concurrent appends in call order", async () => {
    const log = await DecisionLog.open(path, opts);
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(i))));
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await log.close();
    expect(await verify()).toMatchObject({ ok: true, entries: 50 });
  });

  it("detects an edited line (WPL003), once", async () => {
    const lines = await writeLog(4);
    lines[1] = lines[1]!.replace('"outcome":"send"', '"outcome":"deny"');
    rewrite(lines);
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ line: 2, code: "WPL003", message: expect.stringContaining("modified") }]);
  });

  it("detects a deleted line (WPL004)", async () => {
    const lines = await writeLog(5);
    lines.splice(2, 1);
    rewrite(lines);
    const r = await verify();
    expect(r.problems).toEqual([{ line: 3, code: "WPL004", message: expect.stringContaining("missing before seq 4") }]);
  });

  it("detects deletion from the start (WPL004)", async () => {
    const lines = await writeLog(3);
    rewrite(lines.slice(1));
    const r = await verify();
    expect(r.problems.map((p) => [p.line, p.code])).toEqual([[1, "WPL004"]]);
  });

  it("detects reordered lines (WPL004)", async () => {
    const lines = await writeLog(5);
    [lines[1], lines[2]] = [lines[2]!, lines[1]!];
    rewrite(lines);
    const r = await verify();
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => p.code)).toContain("WPL004");
    expect(r.problems[0]!.line).toBe(2);
  });

  it("detects an inserted (replayed) line (WPL004)", async () => {
    const lines = await writeLog(3);
    lines.splice(1, 0, lines[0]!);
    rewrite(lines);
    const r = await verify();
    expect(r.problems).toEqual([{ line: 2, code: "WPL004", message: expect.stringContaining("reordered or duplicated") }]);
  });

  it("reports garbage lines (WPL002)", async () => {
    const lines = await writeLog(2);
    lines.push("not json");
    rewrite(lines);
    expect((await verify()).problems.map((p) => [p.line, p.code])).toEqual([[3, "WPL002"]]);
  });

  it("detects a torn tail in verify (WPL001) and refuses to append after it", async () => {
    const lines = await writeLog(3);
    const torn = lines[2]!.slice(0, 40); // a crash while a fourth entry was being written
    appendFileSync(path, torn);
    const r = await verify();
    expect(r.problems).toEqual([{ line: 4, code: "WPL001", message: expect.any(String) }]);
    expect(r.entries).toBe(3);
    expect(await openCode()).toBe("WPL001");
    // Never silently overwritten.
    expect(readFileSync(path, "utf8").endsWith(torn)).toBe(true);
  });

  it("refuses to continue after a modified last entry (WPL003)", async () => {
    const lines = await writeLog(2);
    lines[1] = lines[1]!.replace('"outcome":"send"', '"outcome":"deny"');
    rewrite(lines);
    expect(await openCode()).toBe("WPL003");
  });

  it("detects another writer (WPL006) and stops", async () => {
    const log = await DecisionLog.open(path, opts);
    await log.append(entry(0));
    appendFileSync(path, "intruder\n");
    await expect(log.append(entry(1))).rejects.toMatchObject({ code: "WPL006" });
    await expect(log.append(entry(2))).rejects.toMatchObject({ code: "WPL006" });
    await log.close();
  });

  it("handles long entries spanning read chunks when reopening", async () => {
    const log = await DecisionLog.open(path, opts);
    const big = { ...entry(0), decision: { outcome: "send", blob: "x".repeat(200_000) } };
    await log.append(big);
    await log.close();
    const again = await DecisionLog.open(path, opts);
    expect(again.lastSeq).toBe(1);
    await again.append(entry(1));
    await again.close();
    expect((await verify()).ok).toBe(true);
  });
});

// An unkeyed chain can be recomputed: only a link to an untouched entry gives an edit away (the
// keyed log's answer to this: test/security/log-integrity.test.ts).
describe("unkeyed chain (recomputable)", () => {
  beforeEach(() => {
    opts = { unkeyed: true };
  });

  it("detects an edited line even when its hash is recomputed (WPL004 on the next)", async () => {
    const lines = await writeLog(4);
    const e = JSON.parse(lines[1]!);
    e.decision.outcome = "deny";
    const { hash: _h, ...rest } = e;
    const { entryHash } = await import("../../runtime/log.js");
    e.hash = entryHash(rest);
    lines[1] = JSON.stringify(e);
    rewrite(lines);
    const r = await verify();
    expect(r.problems.map((p) => [p.line, p.code])).toEqual([[3, "WPL004"]]);
  });


  it("detects a forged line inserted with a valid hash (WPL004)", async () => {
    const lines = await writeLog(3);
    const forged = JSON.parse(lines[1]!);
    forged.decision_id = "wpd_forged";
    const { hash: _h, ...rest } = forged;
    const { entryHash } = await import("../../runtime/log.js");
    forged.hash = entryHash(rest);
    lines.splice(2, 0, JSON.stringify(forged));
    rewrite(lines);
    const r = await verify();
    expect(r.problems.map((p) => [p.line, p.code])).toEqual([[3, "WPL004"], [4, "WPL004"]]);
  });
});

describe("sealed requests for exact replay", () => {
  const key = Uint8Array.from({ length: 32 }, (_, i) => i);
  const request = { system: "crm", event: "e", now: "2026-11-25T10:00:00Z", context: { "customer.id": "C-1", "customer.age": 17 } };
  const masked = { system: "crm", event: "e", now: "2026-11-25T10:00:00Z", context: { "customer.id": "sha256:x", "customer.age": REDACTED } };

  async function sealedLog(): Promise<{ path: string; lines: string[] }> {
    const dir = mkdtempSync(join(tmpdir(), "waypost-sealed-"));
    const path = join(dir, "log.jsonl");
    const log = await DecisionLog.open(path, { key: logKey, replayKey: key });
    await log.append({ decision_id: "wpd_1", revision: "r1", request: masked, decision: { outcome: "deny" }, replay: request });
    await log.append({ decision_id: "wpd_2", revision: "r1", request: masked, decision: { outcome: "send" }, replay: { ...request, now: "2026-11-26T10:00:00Z" } });
    await log.close();
    return { path, lines: readFileSync(path, "utf8").trim().split("\n") };
  }

  it("opens with the key, stays masked without it, and verifies as a chain", async () => {
    const { path, lines } = await sealedLog();
    const e = parseEntry(lines[0]!) as LogEntry;
    expect(e.request).toEqual(masked);
    expect(e.sealed).toMatch(/^v1\./);
    expect(unsealRequest(e, key)).toEqual({ ok: true, request: request });
    expect(unsealRequest(e, new Uint8Array(32))).toMatchObject({ ok: false, error: expect.stringContaining("does not open") });
    expect((await verifyLog(path, { key: logKey })).proven).toBe(true);
  });

  it("a sealed copy moved to another entry does not open (bound to seq, id and revision)", async () => {
    const { lines } = await sealedLog();
    const a = parseEntry(lines[0]!) as LogEntry;
    const b = parseEntry(lines[1]!) as LogEntry;
    expect(unsealRequest({ ...b, sealed: a.sealed! }, key).ok).toBe(false);
  });

  it("editing the sealed text breaks the entry's MAC", async () => {
    const { path, lines } = await sealedLog();
    const e = JSON.parse(lines[0]!);
    e.sealed = e.sealed.slice(0, -2) + (e.sealed.endsWith("A") ? "BB" : "AA");
    writeFileSync(path, [JSON.stringify(e), lines[1]].join("\n") + "\n");
    const r = await verifyLog(path, { key: logKey });
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ line: 1, code: "WPL003" });
  });

  it("reads keys as 64 hex digits or base64, and explains anything else", () => {
    expect(parseReplayKey("00".repeat(32))).toEqual(new Uint8Array(32));
    expect(parseReplayKey(Buffer.alloc(32, 1).toString("base64"))).toEqual(new Uint8Array(32).fill(1));
    expect(parseReplayKey("abc")).toMatch(/64 hex digits or base64/);
  });
});
