// The runtime's compact decision call (docs/ir.md "Decision (output)"): reasons of the plan's
// reason table come out of the module as indices, which the engine resolves; what a caller sees
// is the decision the interpreter gives, and a bad index fails closed.
import { describe, expect, it } from "vitest";
import { writeBundle } from "../../compiler/bundle.js";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import { decide } from "../../compiler/ir/interpret.js";
import { encodeBundleData } from "../../compiler/ir/reason-table.js";
import { loadBundle, readBundle } from "../../runtime/index.js";
import { AbiPolicy, instantiateMetered, resolveBudget } from "../../runtime/abi.js";
import { OUTCOMES } from "../../runtime/contract.js";
import type { JsonValue } from "../../runtime/json.js";
import { smallIR, smallLists } from "./small-ir.js";

const REV = "rev-compact";
const send = { system: "crm", event: "policy.renewal_due", now: "2026-03-01T10:00:00Z", context: { "customer.id": "C-1", "consent.email": true, "policy.days_left": 90 } };
const quiet = { ...send, now: "2026-03-01T22:30:00Z" };
const badField = { ...send, context: { ...send.context, "customer.ssn": "x" } };

async function bundle(tamper?: (plan: Record<string, unknown>) => void): Promise<Uint8Array> {
  const ir = smallIR();
  const data = encodeBundleData({ plan: ir.plan, lists: smallLists, revision: REV });
  tamper?.(data.plan as Record<string, unknown>);
  return writeBundle({
    wasm: await emitPolicyWasm(ir),
    data: { waypost: data } as unknown as JsonValue,
    manifest: { revision: REV, roots: ["waypost"], wasm: ["waypost/decide", "waypost/suppressed", "waypost/consent"].map((entrypoint) => ({ entrypoint, module: "/policy.wasm" })), metadata: {} },
  });
}

describe("compact decisions (reasons as reason-table indices)", () => {
  it("a compiled module has the compact calls", async () => {
    const { files } = await readBundle(await bundle(), { skipVerify: true });
    const budget = resolveBudget({});
    const abi = new AbiPolicy(await instantiateMetered(files.get("policy.wasm")!, budget), budget);
    abi.setData(files.get("data.json")!);
    expect(abi.compact).toBe(true);
    const d = JSON.parse(abi.decideCompact(JSON.stringify(send))) as { reasons: unknown[] };
    expect(d.reasons.every((r) => Number.isInteger(r))).toBe(true);
    expect(JSON.parse(abi.reasonText(d.reasons[0] as number)!)).toEqual(smallIR().plan.nodes[0]!.conditions[0]!.reason);
    expect(abi.reasonText(1_000_000)).toBeNull();
  });

  it("a caller sees the interpreter's decision, byte for byte, and its own copies of the reasons", async () => {
    const ir = smallIR();
    const data = { plan: ir.plan, lists: smallLists, revision: REV };
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap" });
    for (const req of [send, quiet, badField, send]) {
      const d = engine.decide(req);
      const { verified: _v, decision_id: _id, ...rest } = d;
      expect(JSON.stringify(rest)).toBe(JSON.stringify(decide(ir, data, req, "waypost/decide")));
      // Changing what was returned changes nothing the engine keeps.
      for (const r of d.reasons) (r as { message: string }).message = "changed";
    }
    expect(engine.decide(send).reasons.map((r) => r.message)).toEqual(["policy renews in 90 days", "email consent given"]);
  });

  it("an index outside the reason table fails closed", async () => {
    const engine = await loadBundle(
      await bundle((plan) => {
        // The node's conditions are a node part, named by its shape (docs/ir.md "Bundle data":
        // member 3 of its row, in the node table).
        const parts = plan.node_parts as unknown[];
        const shape = parts[Number((plan.nodes as string).split("|")[3])] as { conditions: number };
        (parts[shape.conditions] as { reason: number }[])[0]!.reason = 1_000_000;
      }),
      { skipVerify: true, dryRun: "swap" },
    );
    const d = engine.decide(send);
    expect(d.outcome).toBe("deny");
    expect(d.reasons.map((r) => r.code)).toEqual(["runtime-error"]);
    expect(d.reasons[0]!.detail).toMatch(/^policy\.wasm returned an invalid decision: `reasons\[0\]`/);
  });
});

describe("record decisions (the compact decision read in place, docs/ir.md)", () => {
  const invalid = { ...send, now: "not a time" };
  const unknownEvent = { ...send, event: "policy.nope" };

  it("gives the fields and reason codes the compact JSON gives, and JSON for what a record cannot carry", async () => {
    const { files } = await readBundle(await bundle(), { skipVerify: true });
    const budget = resolveBudget({});
    const abi = new AbiPolicy(await instantiateMetered(files.get("policy.wasm")!, budget), budget);
    abi.setData(files.get("data.json")!);
    expect(abi.record).toBe(true);
    let records = 0;
    for (const req of [send, quiet, badField, invalid, unknownEvent, send, quiet]) {
      const text = JSON.stringify(req);
      const compact = JSON.parse(abi.decideCompact(text)) as Record<string, unknown>;
      const rec = abi.decideRecord(text);
      if (typeof rec === "string") {
        // A reason with a detail is an object in the compact form: the record gives its JSON.
        expect(JSON.parse(rec)).toEqual(compact);
        expect((compact.reasons as unknown[]).some((r) => typeof r === "object")).toBe(true);
        continue;
      }
      records++;
      const { outcome, reasons, ...strings } = rec;
      expect(OUTCOMES[outcome]).toBe(compact.outcome);
      expect(reasons).toEqual(compact.reasons);
      for (const [k, v] of Object.entries(strings)) expect(v).toBe(compact[k]);
    }
    expect(records).toBeGreaterThanOrEqual(4);
  });

  it("a malformed record is refused (the engine turns that into a deny), whatever the module writes", async () => {
    // A stand-in module: its record export returns what each case sets, in a real memory.
    const mem = new WebAssembly.Memory({ initial: 1 });
    let u32 = new Uint32Array(mem.buffer);
    let ret = 0;
    const fn = (): number => 0;
    const fake = {
      wasmInstance: { exports: { opa_eval: fn, opa_malloc: fn, opa_json_parse: fn, opa_heap_ptr_get: fn, opa_heap_ptr_set: fn, waypost_decide: fn, waypost_reason: fn, waypost_decide_rec: () => ret } },
      mem,
      minorVersion: 3,
      dataAddr: 8,
      dataHeapPtr: 4096,
      baseHeapPtr: 1024,
    };
    const abi = new AbiPolicy(fake as unknown as ConstructorParameters<typeof AbiPolicy>[0]);
    expect(abi.record).toBe(true);
    const record = (at: number, words: number[]): void => {
      u32.fill(0);
      u32.set(words, at >>> 2);
      ret = at;
    };
    const NULL = [0, 0xffffffff];
    const ok = [1, 0, ...NULL, ...NULL, ...NULL, ...NULL, ...NULL, ...NULL, ...NULL, 0];
    record(8192, ok);
    expect(abi.decideRecord("{}")).toMatchObject({ outcome: 0, node: null, reasons: [] });
    ret = 8194; // unaligned
    expect(() => abi.decideRecord("{}")).toThrow(/outside its memory/);
    ret = 65536 - 4; // past the end
    expect(() => abi.decideRecord("{}")).toThrow(/outside its memory/);
    record(8192, [7, ...ok.slice(1)]); // an unknown form
    expect(() => abi.decideRecord("{}")).toThrow(/malformed decision record/);
    record(8192, [1, 0, 5, 0xffffffff, ...ok.slice(4)]); // null with an address
    expect(() => abi.decideRecord("{}")).toThrow(/malformed decision record/);
    record(8192, [1, 0, 65530, 100, ...ok.slice(4)]); // a string past the end
    expect(() => abi.decideRecord("{}")).toThrow(/outside its memory/);
    record(8192, [...ok.slice(0, 16), 1 << 30]); // more reasons than memory holds
    expect(() => abi.decideRecord("{}")).toThrow(/outside its memory/);
    mem.grow(63); // 4 MiB: room for more reasons than a decision names, so the bound is what refuses
    u32 = new Uint32Array(mem.buffer);
    record(8192, [...ok.slice(0, 16), 1_000_001]);
    expect(() => abi.decideRecord("{}")).toThrow(/1000001 reasons/);
    // Seven slots over the same 10 MiB: 70 MiB of text claimed (refused before anything is read).
    record(8192, [1, 0, ...Array.from({ length: 7 }, () => [16384, 10 * 2 ** 20]).flat(), 0]);
    expect(() => abi.decideRecord("{}")).toThrow(/73400320 bytes of text/);
    // Within the bound, every slot may share the same bytes.
    record(8192, [1, 0, ...Array.from({ length: 7 }, () => [16384, 2 ** 20]).flat(), 0]);
    expect((abi.decideRecord("{}") as { explanation: string }).explanation).toHaveLength(2 ** 20);
  });

  it("an engine deciding through records sees the interpreter's decision (an unknown index, above, goes through records too)", async () => {
    const ir = smallIR();
    const data = { plan: ir.plan, lists: smallLists, revision: REV };
    const engine = await loadBundle(await bundle(), { skipVerify: true, dryRun: "swap" });
    for (const req of [send, quiet, badField, invalid, unknownEvent]) {
      const { verified: _v, decision_id: _id, ...rest } = engine.decide(req);
      expect(JSON.stringify(rest)).toBe(JSON.stringify(decide(ir, data, req, "waypost/decide")));
    }
  });
});
