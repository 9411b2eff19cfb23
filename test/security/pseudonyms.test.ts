/**
 * Issue 8, item 6: masked values are keyed pseudonyms, not plain hashes anyone can reverse by
 * trying values; and an erasure request can be honoured without breaking verification.
 */
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { writeBundle } from "../../compiler/bundle.js";
import { readDecisionLog } from "../../lifecycle/diff/replay.js";
import { canonicalJson } from "../../runtime/json.js";
import {
  createPseudonymiser,
  DecisionLog,
  eraseFromLog,
  ERASED,
  headFileOf,
  keyId,
  maskRequest,
  parseEntry,
  PSEUDONYM_CACHE_SIZE,
  REDACTED,
  unsealRequest,
  verifyLog,
  type KeyedLogEntry,
} from "../../runtime/log.js";
import { decisionId, loadBundle } from "../../runtime/engine.js";
import { fakePolicyWasm } from "../runtime/fake-policy.js";

const dir = mkdtempSync(join(tmpdir(), "waypost-pseudonyms-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PSEUDONYM_KEY = new Uint8Array(32).fill(0x21);
const OTHER_KEY = new Uint8Array(32).fill(0x22);
const LOG_KEY = new Uint8Array(32).fill(0x23);
const REPLAY_KEY = new Uint8Array(32).fill(0x24);

const fields = {
  "customer.id": { mask: "hash" },
  "customer.segment": { mask: "hash" }, // few values: falls to enumeration when plainly hashed
  "customer.email": { mask: "redact" },
  "customer.region": { mask: "none" },
};

const decision = { outcome: "send", node: "renewal", channel: "email", template: "t", offer: null, variant: null, send_at: null, reasons: [], explanation: null, revision: "rev-p" };
const request = (id: string, i = 0) => ({
  system: "crm",
  event: "policy.renewal_due",
  now: `2026-02-0${(i % 9) + 1}T10:00:00Z`,
  context: { "customer.id": id, "customer.segment": "gold", "customer.email": `${id.toLowerCase()}@example.com`, "customer.region": "EU" },
});

let bundle: Uint8Array;
beforeAll(async () => {
  bundle = await writeBundle({
    wasm: await fakePolicyWasm({ result: JSON.stringify([{ result: decision }]) }),
    data: { waypost: { plan: { version: 1, fields }, lists: {}, revision: "rev-p" } },
    manifest: { revision: "rev-p", roots: ["waypost"], wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })), metadata: {} },
  });
});

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const hex = (k: Uint8Array) => Buffer.from(k).toString("hex");

/** Every value of the requests, and every plain SHA-256 someone could enumerate against. */
function guessable(requests: ReturnType<typeof request>[]): string[] {
  const out: string[] = [];
  for (const r of requests) {
    for (const [k, v] of Object.entries(r.context)) {
      if (fields[k as keyof typeof fields].mask === "none") continue;
      out.push(v, sha256(v), sha256(canonicalJson(v)));
    }
  }
  return out;
}

async function logDecisions(path: string, requests: ReturnType<typeof request>[], keys: { pseudonymKey?: Uint8Array; replayKey?: Uint8Array } = {}): Promise<string> {
  const engine = await loadBundle(bundle, { skipVerify: true, log: path, logKey: LOG_KEY, ...keys });
  for (const r of requests) await engine.decideDurable(r);
  await engine.close();
  return readFileSync(path, "utf8");
}

describe("masked values are keyed pseudonyms", () => {
  const requests = ["C-100", "C-101", "C-102"].map((id, i) => request(id, i));

  it("no value, and no plain SHA-256 of a value, appears in the log", async () => {
    for (const keys of [{ pseudonymKey: PSEUDONYM_KEY }, {}]) {
      const text = await logDecisions(join(dir, `plain-${Object.keys(keys).length}.jsonl`), requests, keys);
      for (const g of guessable(requests)) expect(text).not.toContain(g);
      expect(text).not.toContain("sha256:");
      const first = parseEntry(text.split("\n")[0]!) as KeyedLogEntry;
      expect((first.request as { context: Record<string, string> }).context["customer.id"]).toMatch(/^hmac:[0-9a-f]{16}:[0-9a-f]{64}$/);
    }
  });

  it("same value and key: same pseudonym; another key or value: another; the key id is part of it", () => {
    const a = createPseudonymiser(PSEUDONYM_KEY);
    const b = createPseudonymiser(OTHER_KEY);
    expect(a.pseudonym("C-100")).toBe(createPseudonymiser(Uint8Array.from(PSEUDONYM_KEY)).pseudonym("C-100"));
    expect(a.pseudonym("C-100")).not.toBe(b.pseudonym("C-100"));
    expect(a.pseudonym("C-100")).not.toBe(a.pseudonym("C-101"));
    expect(a.pseudonym("C-100").startsWith(`hmac:${keyId(PSEUDONYM_KEY)}:`)).toBe(true);
    expect(a.kid).not.toBe(b.kid);
    // The low-entropy field: every candidate's plain hash misses.
    const logged = a.pseudonym("gold");
    for (const guess of ["gold", "silver", "bronze"]) expect(logged).not.toContain(sha256(guess));
  });

  it("remembered pseudonyms are the HMAC itself, across evictions and for every kind of value", () => {
    const p = createPseudonymiser(PSEUDONYM_KEY);
    const hmac = (text: string) => `hmac:${keyId(PSEUDONYM_KEY)}:` + createHmac("sha256", Buffer.from(PSEUDONYM_KEY)).update("waypost.pseudonym.v1\n" + text).digest("hex");
    // Three passes over more distinct values than are remembered, then the first ones again.
    const values: unknown[] = [...Array.from({ length: PSEUDONYM_CACHE_SIZE + 500 }, (_, i) => `C-${i}`), 5, "5", [1, "a"], { b: 1, a: 2 }, "x".repeat(300)];
    for (let pass = 0; pass < 3; pass++) {
      for (const [i, v] of values.entries()) {
        if (i % 97 !== 0 && i < PSEUDONYM_CACHE_SIZE) p.pseudonym(v);
        else expect(p.pseudonym(v)).toBe(hmac(typeof v === "string" ? v : canonicalJson(v)));
      }
    }
    expect(p.pseudonym("C-0")).toBe(hmac("C-0"));
    expect(p.pseudonym("C-0")).not.toBe(createPseudonymiser(OTHER_KEY).pseudonym("C-0"));
  });

  it("without a pseudonymisation key `hash` fields are redacted, never plainly hashed", () => {
    const ctx = (maskRequest(requests[0], fields) as { context: Record<string, unknown> }).context;
    expect(ctx).toEqual({ "customer.id": REDACTED, "customer.segment": REDACTED, "customer.email": REDACTED, "customer.region": "EU" });
  });

  it("decision ids stay deterministic and recomputable with the same key, and differ under another", async () => {
    const path = join(dir, "ids.jsonl");
    const text = await logDecisions(path, requests, { pseudonymKey: PSEUDONYM_KEY });
    const entries = text.trimEnd().split("\n").map((l) => parseEntry(l) as KeyedLogEntry);
    const p = createPseudonymiser(PSEUDONYM_KEY);
    requests.forEach((r, i) => {
      expect(entries[i]!.decision_id).toBe(decisionId("rev-p", maskRequest(r, fields, p))); // from the request, with the key
      expect(entries[i]!.decision_id).toBe(decisionId("rev-p", entries[i]!.request)); // from the log entry alone
    });
    const again = await loadBundle(bundle, { skipVerify: true, pseudonymKey: PSEUDONYM_KEY });
    expect(again.decide(requests[0]).decision_id).toBe(entries[0]!.decision_id);
    const other = await loadBundle(bundle, { skipVerify: true, pseudonymKey: OTHER_KEY });
    expect(other.decide(requests[0]).decision_id).not.toBe(entries[0]!.decision_id);
  });
});

describe("erasure keeps the rest of the log verifiable", () => {
  const requests = ["C-200", "C-201", "C-200", "C-202", "C-200"].map((id, i) => request(id, i));

  async function sealedLog(name: string, pseudonymKey: Uint8Array | null = PSEUDONYM_KEY): Promise<string> {
    const path = join(dir, name);
    await logDecisions(path, requests, { replayKey: REPLAY_KEY, ...(pseudonymKey ? { pseudonymKey } : {}) });
    return path;
  }
  const lines = (path: string) => readFileSync(path, "utf8").trimEnd().split("\n").map((l) => parseEntry(l) as KeyedLogEntry);

  it("removes the sealed request and the pseudonyms of matching entries; verification still passes and reports them", async () => {
    const path = await sealedLog("erase.jsonl");
    const head = readFileSync(headFileOf(path), "utf8");
    const target = createPseudonymiser(PSEUDONYM_KEY).pseudonym("C-200");
    const r = await eraseFromLog(path, { key: LOG_KEY, match: (e) => (e.request as { context: Record<string, unknown> }).context["customer.id"] === target });
    expect(r).toEqual({ entries: 5, erased: 3, seqs: [1, 3, 5], alreadyErased: 0 });
    const after = lines(path);
    for (const e of [after[0]!, after[2]!, after[4]!]) {
      expect(e.sealed).toBeUndefined();
      expect(e.erased).toMatchObject({ at: expect.any(String), request: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect((e.request as { context: Record<string, unknown> }).context).toEqual({ "customer.id": ERASED, "customer.segment": ERASED, "customer.email": REDACTED, "customer.region": "EU" });
      expect(unsealRequest(e, REPLAY_KEY)).toMatchObject({ ok: false, error: expect.stringContaining("erased") });
    }
    // The others are untouched and still open.
    expect(unsealRequest(after[1]!, REPLAY_KEY)).toMatchObject({ ok: true, request: requests[1] });
    expect(readFileSync(path, "utf8")).not.toContain(target);
    const v = await verifyLog(path, { key: LOG_KEY });
    expect(v).toMatchObject({ ok: true, proven: true, erased: 3, entries: 5 });
    expect(v.notes.join(" ")).toContain("3 entries were erased");
    expect(readFileSync(headFileOf(path), "utf8")).toBe(head); // no MAC changed
    // Replay skips the erased entries.
    const replayed = await readDecisionLog(path, REPLAY_KEY, { logKey: LOG_KEY });
    expect(replayed.ok && [replayed.value.entries.length, replayed.value.erased]).toEqual([2, 3]);
    // Erasing again finds nothing new; the log can be appended to afterwards.
    expect(await eraseFromLog(path, { key: LOG_KEY, match: () => true, dryRun: true })).toMatchObject({ erased: 2, alreadyErased: 3 });
    const log = await DecisionLog.open(path, { key: LOG_KEY });
    await log.close();
  });

  it("an erased entry's request cannot be altered, nor an erasure forged, without the log key", async () => {
    const path = await sealedLog("forge.jsonl");
    await eraseFromLog(path, { key: LOG_KEY, match: (e) => e.seq === 1 });
    const raw = readFileSync(path, "utf8").trimEnd().split("\n");
    // Put a value back into the erased entry.
    const altered = JSON.parse(raw[0]!);
    altered.request.context["customer.region"] = "US";
    writeFileSync(path, [JSON.stringify(altered), ...raw.slice(1)].join("\n") + "\n");
    expect((await verifyLog(path, { key: LOG_KEY })).problems).toEqual([{ line: 1, code: "WPL003", message: expect.stringContaining("erasure does not verify") }]);
    // Mark another entry erased without the key (to hide what it said).
    const victim = JSON.parse(raw[1]!);
    const { sealed: _s, ...kept } = victim;
    const forged = { ...kept, request: { ...victim.request, event: "something.else" }, erased: { at: "2026-03-01T00:00:00Z", request: "0".repeat(64), sealed: null, mac: "0".repeat(64) } };
    writeFileSync(path, [raw[0]!, JSON.stringify(forged), ...raw.slice(2)].join("\n") + "\n");
    expect((await verifyLog(path, { key: LOG_KEY })).problems.map((p) => [p.line, p.code])).toEqual([[2, "WPL003"]]);
  });

  it("`waypost log erase`: by pseudonym, by sealed request when the pseudonyms were under a random key, dry run; refuses a locked or unkeyed log", async () => {
    const files = Object.fromEntries(
      Object.entries({ log: LOG_KEY, pseudonym: PSEUDONYM_KEY, replay: REPLAY_KEY }).map(([k, v]) => {
        const f = join(dir, `${k}.key`);
        writeFileSync(f, hex(v) + "\n");
        return [k, f];
      }),
    ) as Record<"log" | "pseudonym" | "replay", string>;
    const run = async (...argv: string[]) => {
      let out = "";
      let err = "";
      const code = await main(["log", "erase", ...argv], { cwd: dir, stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
      return { code, out, err };
    };
    const path = await sealedLog("cli.jsonl");
    const before = readFileSync(path, "utf8");
    const dry = await run(path, "--field", "customer.id=C-200", "--log-key", files.log, "--pseudonym-key", files.pseudonym, "--dry-run");
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain("would erase 3 of 5 entries (seq 1, 3, 5)");
    expect(readFileSync(path, "utf8")).toBe(before);
    const done = await run(path, "--field", "customer.id=C-200", "--log-key", files.log, "--pseudonym-key", files.pseudonym);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain("erased 3 of 5 entries");
    expect(done.out).toContain("still verifies");
    expect(readFileSync(path, "utf8")).not.toContain("c-200@example.com");

    // A runtime without a pseudonymisation key used a random one: only the sealed copies can tell.
    const random = await sealedLog("random.jsonl", null);
    const byPseudonym = await run(random, "--field", "customer.id=C-201", "--log-key", files.log, "--pseudonym-key", files.pseudonym);
    expect(byPseudonym.out).toContain("erased 0 of 5 entries");
    expect(byPseudonym.out).toContain("pseudonymised under another key");
    const bySealed = await run(random, "--field", "customer.id=C-201", "--log-key", files.log, "--replay-key", files.replay);
    expect(bySealed.out).toContain("erased 1 of 5 entries (seq 2)");

    // Refusals: a writer holds the log; an unkeyed log; no way to match.
    const writer = await DecisionLog.open(path, { key: LOG_KEY });
    const locked = await run(path, "--field", "customer.id=C-201", "--log-key", files.log, "--pseudonym-key", files.pseudonym);
    expect(locked.code).toBe(2);
    expect(locked.err).toContain("error[WPL008]");
    await writer.close();
    const unkeyedPath = join(dir, "unkeyed.jsonl");
    const unkeyed = await DecisionLog.open(unkeyedPath, { unkeyed: true });
    await unkeyed.append({ decision_id: "wpd_1", revision: "r", request: {}, decision: {} });
    await unkeyed.close();
    const refused = await run(unkeyedPath, "--field", "customer.id=C-201", "--log-key", files.log, "--pseudonym-key", files.pseudonym);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("error[WPL011]");
    expect((await run(path, "--field", "customer.id=C-201", "--log-key", files.log)).code).toBe(2);
  });
});
