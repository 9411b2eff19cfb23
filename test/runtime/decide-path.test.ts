// The decision path's shortcuts (runtime/engine.ts): a compiled module's compact decision is
// checked and copied in one pass, the lazy decision_id lives in a private slot, and a logged
// decision hands the log the reason table's frozen entries. What callers and the log see must
// be exactly what the general path gives.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBundle } from "../../compiler/bundle.js";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import { decide } from "../../compiler/ir/interpret.js";
import { encodeBundleData } from "../../compiler/ir/reason-table.js";
import { decisionId, DecisionLog, loadBundle, maskRequest, createPseudonymiser, verifyLog, type Decision } from "../../runtime/index.js";
import type { JsonValue } from "../../runtime/json.js";
import { canonicalJson } from "../../runtime/json.js";
import { smallIR, smallLists } from "./small-ir.js";

const REV = "rev-path";
const send = { system: "crm", event: "policy.renewal_due", now: "2026-03-01T10:00:00Z", context: { "consent.email": true, "customer.id": "C-1", "policy.days_left": 90 }, history: [{ channel: "email", at: "2026-02-01T10:00:00Z" }] };
const quiet = { ...send, now: "2026-03-01T22:30:00Z" };
const badField = { ...send, context: { ...send.context, "customer.ssn": "x" } };
const requests = [send, quiet, badField, send];
const pseudonymKey = new Uint8Array(32).fill(3);
const logKey = new Uint8Array(32).fill(4);
const dir = mkdtempSync(join(tmpdir(), "waypost-path-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function bundle(): Promise<Uint8Array> {
  const ir = smallIR();
  return writeBundle({
    wasm: await emitPolicyWasm(ir),
    data: { waypost: encodeBundleData({ plan: ir.plan, lists: smallLists, revision: REV }) } as unknown as JsonValue,
    manifest: { revision: REV, roots: ["waypost"], wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })), metadata: {} },
  });
}

const fieldsOf = (ir = smallIR()) => Object.fromEntries(Object.entries(ir.plan.fields).map(([k, f]) => [k, { mask: f.mask }]));
const policyPart = (d: Decision) => {
  const { verified: _v, decision_id: _id, ...rest } = d;
  return rest;
};

describe("the decision path", () => {
  it("without a log: a plain decision object, the interpreter's decision, the id on first read", async () => {
    const ir = smallIR();
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap", pseudonymKey });
    for (const req of requests) {
      const d = engine.decide(req);
      expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
      expect(JSON.stringify(policyPart(d))).toBe(JSON.stringify(decide(ir, { plan: ir.plan, lists: smallLists, revision: REV }, req, "waypost/decide")));
      expect(Object.keys(d).slice(-2)).toEqual(["verified", "decision_id"]);
      // Nothing but the decision's own keys: the pending id is not a property anyone sees.
      expect(Object.getOwnPropertySymbols(d)).toEqual([]);
      expect(structuredClone(d)).toEqual(JSON.parse(JSON.stringify(d)));
      expect(d.decision_id).toBe(decisionId(REV, maskRequest(req, fieldsOf(ir), createPseudonymiser(pseudonymKey))));
      d.decision_id = "mine";
      expect(d.decision_id).toBe("mine");
    }
  });

  it("with a log: each entry holds the decision as returned, which the caller can change without changing the log", async () => {
    const path = join(dir, "a.jsonl");
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap", pseudonymKey, logKey, log: path });
    const plain = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap", pseudonymKey });
    const returned: string[] = [];
    for (const req of requests) {
      const d = engine.decide(req);
      returned.push(canonicalJson(d));
      expect(d.decision_id).toBe(plain.decide(req).decision_id);
      for (const r of d.reasons) (r as { message: string }).message = "changed";
      d.reasons.push({ code: "x", policy: "x", message: "x", source: "x" });
    }
    // The reason table entries the log holds were not changed either.
    const again = engine.decide(send);
    returned.push(canonicalJson(again));
    expect(again.reasons.map((r) => r.message)).not.toContain("changed");
    await engine.close();
    const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { decision: JsonValue; decision_id: string });
    expect(lines.map((l) => canonicalJson(l.decision))).toEqual(returned);
    expect(await verifyLog(path, { key: logKey })).toMatchObject({ ok: true, proven: true, entries: requests.length + 1 });
  });

  it("with a log: the module decides what it decides without one, the request written once or (when not plain JSON) twice", async () => {
    const path = join(dir, "c.jsonl");
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap", pseudonymKey, logKey, log: path });
    const plain = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap", pseudonymKey });
    // An inherited toJSON: the module sees the number, the masked text (and so the id) the object's own keys.
    class Days {
      toJSON(): number {
        return 90;
      }
    }
    const viaToJson = { ...send, context: { ...send.context, "policy.days_left": new Days() } };
    const reordered = { context: { "policy.days_left": 90, "customer.id": "C-1", "consent.email": true }, history: send.history, now: send.now, event: send.event, system: send.system };
    const cases = [...requests, viaToJson, { ...send, context: { ...send.context, "customer.email": new Date(0) } }, reordered];
    for (const req of cases) {
      const d = engine.decide(req);
      expect(d).toEqual(plain.decide(req));
    }
    expect(engine.decide(viaToJson).outcome).toBe(engine.decide(send).outcome);
    await engine.close();
    expect(await verifyLog(path, { key: logKey })).toMatchObject({ ok: true, proven: true, entries: cases.length + 2 });
  });

  it("an owned entry's decision is written as canonicalJson writes it, frozen parts included, getters read each time", async () => {
    const path = join(dir, "b.jsonl");
    const log = await DecisionLog.open(path, { key: logKey });
    const reason = Object.freeze({ code: "c", policy: "p", message: "m\u00e9\"", source: "s", channel: "email" });
    let n = 0;
    const getter = Object.freeze(Object.defineProperty({ a: 1 }, "b", { get: () => ++n, enumerable: true }));
    const nested = Object.freeze({ z: [1, { y: 2 }], a: null });
    const decisions = [0, 1].map((i) => ({ outcome: "send", reasons: [reason, { ...reason }], extra: [getter, nested], i }));
    for (const [i, d] of decisions.entries()) log.append({ decision_id: `wpd_${i}`, revision: "r", requestText: "{}", decision: d, owned: true });
    await log.close();
    const lines = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { decision: JsonValue });
    expect(lines.map((l) => canonicalJson(l.decision))).toEqual([0, 1].map((i) => canonicalJson({ ...decisions[i], extra: [{ a: 1, b: i + 1 }, nested] })));
    expect(readFileSync(path, "utf8")).toContain(canonicalJson(reason));
    expect(await verifyLog(path, { key: logKey })).toMatchObject({ ok: true, proven: true });
  });
});
