// The plan's reason table (compiler/ir/reason-table.ts, docs/ir.md "Bundle data"): data.json
// stores each distinct reason once and every reason place as an index into the table.
import { describe, expect, it } from "vitest";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { NODE_PART_KEYS, NODE_TABLE_BLOCK, decodePlan, encodePlan, withNodeTable } from "../../compiler/ir/reason-table.js";
import { dataJsonText } from "../../compiler/bundle.js";
import { canonicalJson, type JsonValue } from "../../runtime/json.js";
import { emitPolicyWasm } from "../../compiler/emit/index.js";
import { decide } from "../../compiler/ir/interpret.js";
import type { Plan } from "../../compiler/ir/ir.js";
import { fixture, node, r } from "../wasm/fixture.js";

type Obj = Record<string, unknown>;

/** A plan with holdouts, an arbitration, candidate reasons and a review reason (every reason place). */
function richPlan(): Plan {
  const { ir } = fixture();
  const plan = structuredClone(ir.plan);
  const cand = (id: string) => ({
    not_for_system: r("not-for-system", { policy: `node/${id}` }),
    not_requested: r("not-requested", { policy: `node/${id}` }),
    outside_validity_window: r("outside-validity-window", { policy: `node/${id}` }),
    outside_rollout: r("outside-rollout", { policy: `node/${id}` }),
    lower_priority: r("lower-priority", { policy: `node/${id}` }),
    fallback_next: r("fallback-next", { policy: `node/${id}` }),
  });
  plan.nodes = plan.nodes.map((n) => ({ ...n, candidate: cand(n.id), holdouts: [0] }));
  plan.nodes[1]!.experiment = { salt: "x", holdout_bp: 100, holdout_reason: r("held"), treatment_reason: r("treated"), variants: [{ id: "A", weight_bp: 10000, reason: r("variant-a") }] };
  plan.holdouts = [{ id: "h", salt: "hs", holdout_bp: 500, control_reason: r("holdout-control"), treatment_reason: r("holdout-treatment") }];
  plan.arbitration = { ev: { fallback: "next", on: ["consent"], exhausted_reason: r("fallback-exhausted") } };
  return plan;
}

/** An encoded plan's node rows ([id, event, priority, shape, source, salt?]). */
const rows = (p: Obj): unknown[][] => p.nodes as unknown[][];

/** The encoded plan's nodes with their shapes and node parts in place (shared, not copied). */
function withParts(p: Obj): Obj[] {
  const parts = p.node_parts as unknown[];
  return rows(p).map(([id, event, priority, shape, source]) => {
    const own = { id, event, priority, source };
    const c: Obj = { ...(parts[shape as number] as Obj), ...own };
    for (const k of NODE_PART_KEYS) if (typeof c[k] === "number") c[k] = parts[c[k] as number];
    return c;
  });
}

/** Every reason place of an encoded plan, by path. */
function places(p: Obj): [string, unknown][] {
  const out: [string, unknown][] = [];
  const nodes = withParts(p);
  nodes.forEach((n, i) => {
    for (const [k, v] of Object.entries((n.candidate as Obj | undefined) ?? {})) out.push([`nodes[${i}].candidate.${k}`, v]);
    (n.conditions as Obj[]).forEach((c, j) => (out.push([`nodes[${i}].conditions[${j}].reason`, c.reason]), out.push([`nodes[${i}].conditions[${j}].fail`, c.fail])));
    (n.gates as Obj[]).forEach((g, j) => {
      out.push([`nodes[${i}].gates[${j}].reason`, g.reason]);
      if ("pass" in g) out.push([`nodes[${i}].gates[${j}].pass`, g.pass]);
    });
    if (n.review_reason !== null) out.push([`nodes[${i}].review_reason`, n.review_reason]);
    const x = n.experiment as Obj | null;
    if (x !== null) for (const k of ["holdout_reason", "treatment_reason"]) if (k in x) out.push([`nodes[${i}].experiment.${k}`, x[k]]);
  });
  for (const [k, v] of Object.entries(p.reasons as Obj)) out.push([`reasons.${k}`, v]);
  for (const [k, v] of Object.entries(p.lists as Obj)) out.push([`lists.${k}.reason`, (v as Obj).reason]);
  (p.quiet_hours as Obj[]).forEach((q, i) => out.push([`quiet_hours[${i}].reason`, q.reason]));
  return out;
}

describe("the plan's reason table", () => {
  it("stores every reason place as an index into the table, and decodes back to the same plan", () => {
    const plan = richPlan();
    const before = structuredClone(plan);
    const enc = encodePlan(plan);
    expect(plan).toEqual(before); // the input is not modified
    const table = enc.reason_table as Obj[];
    for (const [where, v] of places(enc)) {
      expect(Number.isInteger(v), where).toBe(true);
      expect(table[v as number], where).toBeDefined();
    }
    const x = withParts(enc)[1]!.experiment as Obj;
    expect(typeof ((x.variants as Obj[])[0]!.reason)).toBe("number");
    expect(typeof ((enc.holdouts as Obj[])[0]!.control_reason)).toBe("number");
    expect(typeof ((enc.arbitration as Obj).ev as Obj).exhausted_reason).toBe("number");
    expect(decodePlan(enc)).toEqual(plan);
  });

  it("writes each distinct reason once, numbered by first occurrence in canonical key order", () => {
    const { ir } = fixture();
    const shared = r("suppressed", { policy: "suppression/global" });
    const plan: Plan = {
      ...ir.plan,
      nodes: [
        node("a", { gates: [{ step: "suppression", cond: 0, outcome: "suppress", reason: shared }], conditions: [{ kind: "trigger", cond: 1, reason: r("trigger-matched"), fail: r("trigger-not-matched") }] }),
        // The same reason, its keys in another order: still the same entry.
        node("b", { gates: [{ step: "suppression", cond: 0, outcome: "suppress", reason: { source: shared.source, message: shared.message, policy: shared.policy, code: shared.code } }] }),
      ],
    };
    const enc = encodePlan(plan);
    const table = enc.reason_table as Reason[];
    const nodes = withParts(enc) as unknown as { gates: { reason: number }[]; conditions: { reason: number; fail: number }[] }[];
    expect(nodes[0]!.gates[0]!.reason).toBe(nodes[1]!.gates[0]!.reason);
    // Distinct: the table has no two equal entries.
    const texts = table.map((t) => JSON.stringify(Object.entries(t).sort()));
    expect(new Set(texts).size).toBe(texts.length);
    // Order: the plan's keys sorted (`lists` before `nodes`, list ids sorted); in a node,
    // `conditions` (fail before reason) before `gates`; `quiet_hours` and `reasons` last.
    const lists = enc.lists as Record<string, { reason: number }>;
    expect([lists.fraud!.reason, lists.optout!.reason, lists.regions!.reason]).toEqual([0, 1, 2]);
    expect(nodes[0]!.conditions[0]!.fail).toBe(3);
    expect(nodes[0]!.conditions[0]!.reason).toBe(4);
    expect(nodes[0]!.gates[0]!.reason).toBe(5);
    expect(table[5]).toEqual(shared);
    expect((enc.quiet_hours as { reason: number }[])[0]!.reason).toBe(6);
  });

  it("refuses to decode an index outside the table", () => {
    const enc = encodePlan(fixture().ir.plan);
    (withParts(enc)[0]!.conditions as Obj[])[0]!.fail = (enc.reason_table as unknown[]).length;
    expect(() => decodePlan(enc)).toThrow(/not in reason_table/);
  });

  it("refuses to decode a node part index outside node_parts", () => {
    const enc = encodePlan(fixture().ir.plan);
    rows(enc)[0]![3] = (enc.node_parts as unknown[]).length;
    expect(() => decodePlan(enc)).toThrow(/not in node_parts/);
    const again = encodePlan(fixture().ir.plan);
    const shape = (again.node_parts as Obj[])[rows(again)[0]![3] as number]!;
    shape.gates = (again.node_parts as unknown[]).length;
    expect(() => decodePlan(again)).toThrow(/not in node_parts/);
  });

  it("the Wasm engine refuses data whose node part or shape index is not in node_parts", async () => {
    const { ir, data } = fixture();
    const enc = encodePlan(ir.plan);
    rows(enc)[0]![3] = (enc.node_parts as unknown[]).length;
    const policy = await loadPolicy(await emitPolicyWasm(ir));
    expect(() => policy.setData({ waypost: { ...data, plan: enc } })).toThrow();
    const ok = await loadPolicy(await emitPolicyWasm(ir));
    expect(() => ok.setData({ waypost: { ...data, plan: encodePlan(ir.plan) } })).not.toThrow();
  });

  it("stores a node's own reasons as templates shared by nodes, and node parts once", () => {
    const { ir } = fixture();
    const mk = (id: string, event: string) => node(id, {
      event,
      source: `journeys/${id}.yaml:4:5`,
      conditions: [{ kind: "trigger", cond: 1, reason: r("trigger-matched", { policy: `node/${id}`, message: `trigger \`${event}\` matched`, source: `journeys/${id}.yaml:12:9` }), fail: r("trigger-not-matched", { policy: `node/${id}`, source: `journeys/${id}.yaml:12:9` }) }],
      gates: [{ step: "lawful-basis", cond: 0, outcome: "deny", reason: r("lawful-basis-not-permitted"), pass: r("lawful-basis", { source: `journeys/${id}.yaml:8:15` }) }],
    });
    const plan: Plan = { ...ir.plan, nodes: [mk("node-one", "ev.first"), mk("node-two", "ev.second")] };
    const enc = encodePlan(plan);
    const nodes = withParts(enc);
    // Both nodes hold the same parts: their reasons differ only by their id, event and file.
    expect(nodes[0]!.conditions).toBe(nodes[1]!.conditions);
    expect(nodes[0]!.gates).toBe(nodes[1]!.gates);
    // A node keeps its own keys, as a row; the rest is its shape.
    expect(rows(enc)[0]).toEqual(["node-one", "ev.first", 1, expect.any(Number), "journeys/node-one.yaml:4:5", "node-one-salt"]);
    const cond = (withParts(enc)[0]!.conditions as Obj[])[0]!;
    expect((enc.reason_table as Obj[])[cond.reason as number]).toEqual({ ...r("trigger-matched"), policy: ["node/", 0], message: ["trigger `", 1, "` matched"], source: [2, ":12:9"] });
    expect(decodePlan(enc)).toEqual(plan);
  });

  it("the Wasm engine decides the same on the encoded and the inline plan, as the interpreter does", async () => {
    const { ir, data } = fixture();
    const policy = await loadPolicy(await emitPolicyWasm(ir));
    const inline = await loadPolicy(await emitPolicyWasm(ir));
    // Both as the bundle writes data.json: canonical JSON, keys sorted (a reason's keys are then
    // not in output order; the engine reorders the table's entries when it indexes the plan).
    policy.setData(JSON.parse(dataJsonText({ waypost: data })) as object);
    inline.setData(JSON.parse(canonicalJson({ waypost: data } as unknown as JsonValue)) as object);
    const base = { system: "crm", event: "ev", now: "2026-11-25T10:00:00Z" };
    const requests = [
      { ...base, context: { "customer.id": "C-1", tier: "gold" } },
      { ...base, context: { "customer.id": "C-1", tier: "silver", "consent.sms": true, "consent.email": true, frozen: false, paused: false } },
      { ...base, context: { "customer.id": "C-OPT", tier: "silver", "consent.sms": false } },
      { ...base, context: { tier: "bronze" } },
      { ...base, system: "nope", context: {} },
    ];
    for (const req of requests) {
      const want = decide(ir, data, req, "waypost/decide");
      const got = (policy.evaluate(req, "waypost/decide") as { result: unknown }[])[0]!.result;
      expect(JSON.stringify(got)).toBe(JSON.stringify(want));
      expect(JSON.stringify((inline.evaluate(req, "waypost/decide") as { result: unknown }[])[0]!.result)).toBe(JSON.stringify(want));
    }
  });
});

type Reason = Record<string, string>;

describe("compact node tables in data.json", () => {
  /** richPlan with its systems in node order and the compiler's default salts, rollouts at 50%. */
  function compactable(): ReturnType<typeof fixture> {
    const { ir, data } = fixture();
    const plan = richPlan(); // candidate reasons: a node out of the rollout or the system says so
    plan.nodes = plan.nodes.map((n) => ({ ...n, rollout_salt: `${n.id}#rollout`, rollout_bp: n.rollout_bp === 10000 ? 5000 : n.rollout_bp }));
    // "main" (node 1) is not for crm; web has one node.
    plan.systems = { crm: ["vip", "fallback", "canary", "odd"], web: ["fallback"] };
    return { ir: { ...ir, plan }, data: { ...data, plan } };
  }

  it("writes a system's nodes as a bitmap and omits the default salt, and decodes back to the same plan", () => {
    const { ir } = compactable();
    const enc = encodePlan(ir.plan);
    // Nodes vip, main, fallback, canary | odd: crm = bits 0, 2, 3 | 0 -> "d", "1"; web = bit 2 -> "4", "0".
    expect(enc.systems).toEqual({ crm: "d1", web: "40" });
    // Candidates as node indices of one hex digit each (5 nodes).
    expect(enc.events).toEqual({ ev: "0312", ev2: "4" });
    // Each node listed once, under its own event: its row's event is null.
    for (const n of rows(enc)) expect([n.length, n[1]]).toEqual([5, null]);
    expect(decodePlan(enc)).toEqual(ir.plan);
    // A list that is not in node order, or a salt of another form, is written as it is.
    const other = structuredClone(ir.plan);
    other.systems.crm = ["odd", "vip"];
    other.nodes[0]!.rollout_salt = "vip-salt";
    const enc2 = encodePlan(other);
    expect((enc2.systems as Obj).crm).toEqual(["odd", "vip"]);
    expect(rows(enc2)[0]![5]).toBe("vip-salt");
    expect(decodePlan(enc2)).toEqual(other);
  });

  it("the Wasm engine decides on bitmaps and default salts as the interpreter does on the plan", async () => {
    const { ir, data } = compactable();
    const policy = await loadPolicy(await emitPolicyWasm(ir));
    policy.setData(JSON.parse(dataJsonText({ waypost: data })) as object);
    const outcomes = new Set<string>();
    for (const system of ["crm", "web"]) {
      for (let i = 0; i < 40; i++) {
        const req = { system, event: "ev", now: "2026-11-25T10:00:00Z", context: { "customer.id": `C-${i}`, tier: i % 2 ? "gold" : "silver", "consent.sms": true, "consent.email": true } };
        const want = decide(ir, data, req, "waypost/decide");
        const got = (policy.evaluate(req, "waypost/decide") as { result: unknown }[])[0]!.result;
        expect(JSON.stringify(got)).toBe(JSON.stringify(want));
        outcomes.add(`${system} ${JSON.stringify((want as { reasons: { code: string }[] }).reasons.map((x) => x.code))}`);
      }
    }
    // The rollout and the system both decide something: customers in and out of it, nodes for
    // one system and not the other.
    expect([...outcomes].some((o) => o.includes("outside-rollout"))).toBe(true);
    expect([...outcomes].some((o) => o.startsWith("crm") && o.includes("not-for-system"))).toBe(true);
  });

  it("writes an event's candidates in as many hex digits as the largest node index needs", () => {
    const { ir } = compactable();
    const many = { ...ir.plan, nodes: Array.from({ length: 300 }, (_, i) => node(`n-${i}`)), systems: {}, events: { ev: [299, 16, 0] } };
    const enc = encodePlan(many);
    expect(enc.events).toEqual({ ev: "12b01000" + "0" });
    expect(decodePlan(enc).events).toEqual({ ev: [299, 16, 0] });
  });

  it("refuses an index string that is not whole indices of the plan's nodes", async () => {
    const { ir, data } = compactable();
    // 5 nodes: one digit an index; "5" is past the last node.
    for (const bad of ["5", "0g", "0A"]) {
      const enc = encodePlan(ir.plan);
      (enc.events as Obj).ev = bad;
      expect(() => decodePlan(enc)).toThrow(/not an index string/);
      const policy = await loadPolicy(await emitPolicyWasm(ir));
      expect(() => policy.setData({ waypost: { ...data, plan: enc } })).toThrow();
    }
  });

  it("refuses a row without an event that is not listed under exactly one event", async () => {
    const { ir, data } = compactable();
    for (const events of [{ ev: "03122", ev2: "4" }, { ev: "031", ev2: "4" }]) {
      const enc = encodePlan(ir.plan);
      enc.events = events;
      expect(() => decodePlan(enc)).toThrow(/not listed under exactly one event/);
      const policy = await loadPolicy(await emitPolicyWasm(ir));
      expect(() => policy.setData({ waypost: { ...data, plan: enc } })).toThrow();
    }
  });

  it("refuses a node row of another length", async () => {
    const { ir, data } = compactable();
    for (const cut of [4, 7]) {
      const enc = encodePlan(ir.plan);
      const row = rows(enc)[0]!;
      rows(enc)[0] = cut < row.length ? row.slice(0, cut) : [...row, "x", "y"];
      expect(() => decodePlan(enc)).toThrow(/node row of/);
      const policy = await loadPolicy(await emitPolicyWasm(ir));
      expect(() => policy.setData({ waypost: { ...data, plan: enc } })).toThrow();
    }
  });

  it("refuses a system bitmap that is not one for the plan's nodes (length or digit)", async () => {
    const { ir, data } = compactable();
    for (const bad of ["d", "d10", "dg", "D1"]) {
      const enc = encodePlan(ir.plan);
      (enc.systems as Obj).crm = bad;
      expect(() => decodePlan(enc)).toThrow(/not a node bitmap/);
      const policy = await loadPolicy(await emitPolicyWasm(ir));
      expect(() => policy.setData({ waypost: { ...data, plan: enc } })).toThrow();
    }
  });
});

describe("node tables and shared field sets in data.json", () => {
  /**
   * The fixture's policy with 150 nodes (three blocks of the node table): ids and sources that
   * share a prefix and a suffix with their head's or not, some salts of their own, rollouts at
   * 50% and candidate reasons that name the node (templates), node 5 listed under two events.
   */
  function tabled(): ReturnType<typeof fixture> {
    const { ir, data } = fixture();
    const base = richPlan().nodes[2]!; // "fallback": no conditions, a candidate reason per case
    const nodes = Array.from({ length: 150 }, (_, i) => {
      const id = i % 11 === 0 ? `other-${i}` : `gen-node-${i}`;
      const cand = Object.fromEntries(Object.entries(base.candidate ?? {}).map(([k, v]) => [k, { ...v, policy: `node/${id}` }])) as typeof base.candidate;
      return {
        ...base, id, title: id, priority: 200 - i, candidate: cand,
        rollout_bp: i % 3 === 0 ? 10000 : 5000,
        rollout_salt: i % 7 === 0 ? `salt ${i}` : `${id}#rollout`,
        source: i % 13 === 0 ? `x.yaml:${i}:1` : `journeys/gen-${i}.yaml:4:5`,
        event: i < 100 ? "ev" : "ev2",
        holdouts: [],
      };
    });
    const ev = Array.from({ length: 100 }, (_, i) => i);
    const ev2 = [5, ...Array.from({ length: 50 }, (_, i) => 100 + i)];
    const fields = data.plan.event_fields.ev!;
    const plan = { ...richPlan(), nodes, events: { ev, ev2 }, systems: { crm: nodes.map((n) => n.id), web: [nodes[5]!.id] }, event_fields: { ev: fields, ev2: { ...fields }, ev3: {} } };
    return { ir: { ...ir, plan }, data: { ...data, plan } };
  }

  it("writes the nodes as a node table and equal field sets by name, and decodes back to the same plan", () => {
    const { ir } = tabled();
    const enc = withNodeTable(encodePlan(ir.plan));
    expect(typeof enc.nodes).toBe("string");
    const table = (enc.nodes as string).split(";");
    expect(table.length).toBe(151);
    // A head's members are their own text; a row packs its id and source against its head's.
    expect(table[0]!.startsWith("00other-0|")).toBe(true);
    expect(table[NODE_TABLE_BLOCK]!.startsWith("00gen-node-64||136|")).toBe(true);
    expect(table[NODE_TABLE_BLOCK + 3]).toMatch(/^A07\|\|133\|\d+\|E97$/);
    // Node 5 is listed under two events: its row says which it has.
    expect(table[5]!.split("|")[1]).not.toBe("");
    expect(table[7]!.split("|").length).toBe(6); // a salt of its own
    expect(enc.event_fields).toEqual({ ev: ir.plan.event_fields.ev, ev2: "ev", ev3: {} });
    expect(decodePlan(enc)).toEqual(ir.plan);
    // A string the table cannot hold keeps the rows.
    const other = structuredClone(ir.plan);
    other.nodes[3]!.source = "a|b.yaml:1:1";
    expect(Array.isArray(withNodeTable(encodePlan(other)).nodes)).toBe(true);
  });

  it("the Wasm engine decides on a node table as the interpreter does on the plan", async () => {
    const { ir, data } = tabled();
    const policy = await loadPolicy(await emitPolicyWasm(ir));
    policy.setData(JSON.parse(dataJsonText({ waypost: data })) as object);
    const codes = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const node = i % 4 === 1 ? ir.plan.nodes[(i * 37) % 150]!.id : undefined;
      const req = { system: i % 5 === 4 ? "web" : "crm", event: i % 3 === 2 ? "ev2" : "ev", now: "2026-11-25T10:00:00Z", ...(node ? { node } : {}), context: { "customer.id": `C-${i}`, "consent.sms": true, "consent.email": true } };
      const want = decide(ir, data, req, "waypost/decide");
      const got = (policy.evaluate(req, "waypost/decide") as { result: unknown }[])[0]!.result;
      expect(JSON.stringify(got)).toBe(JSON.stringify(want));
      for (const r of (want as { reasons: { code: string }[] }).reasons) codes.add(r.code);
    }
    // The rollout (salts), the requested node (ids) and the system all decide something.
    for (const c of ["outside-rollout", "not-requested", "not-for-system"]) expect(codes).toContain(c);
  });

  it("refuses a node table or a field set name that cannot be read as written", async () => {
    const { ir, data } = tabled();
    const good = withNodeTable(encodePlan(ir.plan));
    const t = good.nodes as string;
    const rows = t.slice(0, -1).split(";");
    const edit = (i: number, f: (m: string[]) => string[]): string => rows.map((r, j) => (j === i ? f(r.split("|")).join("|") : r)).join(";") + ";";
    const bad: [string, Obj][] = [
      ["no ; at the end", { nodes: t.slice(0, -1) }],
      ["a character out of the table", { nodes: t.replace("gen-node-1", "gen-n\u00f6de-1") }],
      ["a control character", { nodes: t.replace("gen-node-1", "gen\tnode-1") }],
      ["a row of 4 members", { nodes: edit(2, (m) => m.slice(0, 4)) }],
      ["a row of 7 members", { nodes: edit(2, (m) => [...m, "00x", "00y"]) }],
      ["a head packed against another", { nodes: edit(NODE_TABLE_BLOCK, (m) => ["10" + m[0]!.slice(2), ...m.slice(1)]) }],
      ["a prefix longer than the head's", { nodes: edit(2, (m) => ["z0", ...m.slice(1)]) }],
      ["a length digit out of the alphabet", { nodes: edit(2, (m) => ["!0x", ...m.slice(1)]) }],
      ["a one-character member", { nodes: edit(2, (m) => [m[0]!, m[1]!, m[2]!, m[3]!, "0"]) }],
      ["a priority not an integer", { nodes: edit(2, (m) => [m[0]!, m[1]!, "01", ...m.slice(3)]) }],
      ["a shape past node_parts", { nodes: edit(2, (m) => [m[0]!, m[1]!, m[2]!, String((good.node_parts as unknown[]).length), m[4]!]) }],
      ["a shape with a sign", { nodes: edit(2, (m) => [m[0]!, m[1]!, m[2]!, "-" + m[3]!, m[4]!]) }],
      ["an empty event listed twice", { nodes: edit(5, (m) => [m[0]!, "", ...m.slice(2)]) }],
      ["a field set naming no event", { event_fields: { ...(good.event_fields as Obj), ev2: "nope" } }],
      ["a field set naming a name", { event_fields: { ...(good.event_fields as Obj), ev3: "ev2" } }],
    ];
    for (const [why, change] of bad) {
      const enc = { ...good, ...change };
      expect(() => decodePlan(enc), why).toThrow();
      const policy = await loadPolicy(await emitPolicyWasm(ir));
      expect(() => policy.setData({ waypost: { ...data, plan: enc } }), why).toThrow();
    }
    const policy = await loadPolicy(await emitPolicyWasm(ir));
    expect(() => policy.setData({ waypost: { ...data, plan: good } })).not.toThrow();
  });
});
