/**
 * Every Expr op and builtin, compiled to Wasm and probed through the SDK. Each case becomes its
 * own event + node whose only condition tests the expression's value: `expr == want` for a
 * defined value, `not (expr == expr)` for undefined (cmp is undefined iff a side is).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { evalExpr } from "../../compiler/ir/interpret.js";
import type { BundleData, Expr, IR, JsonValue, Plan } from "../../compiler/ir/ir.js";
import { parseTime } from "../../compiler/ir/time.js";
import { node } from "./fixture.js";
import { load, type Loaded } from "./helpers.js";

const UNDEF = Symbol("undefined");
type Want = JsonValue | typeof UNDEF;

const f = (name: string): Expr => ({ op: "field", name });
const k = (value: JsonValue): Expr => ({ op: "const", value });
const call = (fn: string, ...args: Expr[]): Expr => ({ op: "call", fn, args } as Expr);
const cmp = (op: string, left: Expr, right: Expr): Expr => ({ op: "cmp", cmp: op, left, right } as Expr);

const NOW = "2026-11-25T10:00:00Z";
const NOW_MS = Date.parse(NOW);
const CONTEXT: Record<string, JsonValue> = {
  s: "Hello World", e: "", n: 42, x: 1.5, nul: null, t: true, fa: false, arr: [1, "a", { b: [null] }],
  emoji: "a😀é", ts: "2026-11-22T09:00:00Z", d: "2026-11-20", off: "2026-11-25T11:00:00+01:00",
  bad: "2026-11-25T25:00:00Z", obj: { a: 1, b: [2] }, id: "C-1", "customer.utc_offset": 330,
};
const HISTORY = [
  { at: "2026-11-25T09:00:00Z", channel: "email", purpose: "claims", node: "n1" },
  { at: "2026-11-24T10:00:00Z", channel: "sms", purpose: "claims", node: "n2" },
  { at: NOW, channel: "email", purpose: "marketing" },
  { at: "2026-11-25T10:00:00.001Z", channel: "email" },
  { at: "2026-11-25T08:00:00Z", channel: "email" },
];

const CASES: [string, Expr, Want][] = [
  ["const object", k({ a: [1, { b: null }] }), { a: [1, { b: null }] }],
  ["field", f("s"), "Hello World"],
  ["field absent", f("nope"), UNDEF],
  ["field null", f("nul"), null],
  ["now", { op: "now" }, NOW_MS],
  ["not true", { op: "not", arg: k(true) }, false],
  ["not undefined", { op: "not", arg: f("nope") }, true],
  ["not 1", { op: "not", arg: k(1) }, true],
  ["and", { op: "and", args: [k(true), f("t")] }, true],
  ["and with undefined", { op: "and", args: [k(true), f("nope")] }, false],
  ["and empty", { op: "and", args: [] }, true],
  ["or", { op: "or", args: [f("fa"), f("nope"), f("t")] }, true],
  ["or none", { op: "or", args: [f("fa"), f("nope")] }, false],
  ["or empty", { op: "or", args: [] }, false],
  ["== number by value", cmp("==", f("n"), k(42.0)), true],
  ["== deep object key order", cmp("==", f("obj"), k({ b: [2], a: 1 })), true],
  ["== deep array order", cmp("==", f("arr"), k([1, "a", { b: [null] }])), true],
  ["!= ", cmp("!=", f("arr"), k([1, "a"])), true],
  ["== undefined", cmp("==", f("nope"), k(1)), UNDEF],
  ["< numbers", cmp("<", f("x"), k(2)), true],
  [">= numbers", cmp(">=", f("n"), k(42)), true],
  ["< strings by bytes", cmp("<", k("\uffff"), k("😀")), true],
  ["<= strings", cmp("<=", k("abc"), k("abd")), true],
  ["lone surrogate compares as U+FFFD", cmp("<", k("\ud800"), k("\ufffe")), true],
  ["lone surrogate equals itself only", cmp("==", k("a\udc00"), k("a\ufffd")), false],
  ["> mixed types", cmp(">", f("n"), f("s")), UNDEF],
  ["in", { op: "in", item: k({ b: [null] }), set: f("arr") }, true],
  ["in missing", { op: "in", item: k("z"), set: f("arr") }, false],
  ["in non-array", { op: "in", item: k(1), set: f("obj") }, UNDEF],
  ["in undefined item", { op: "in", item: f("nope"), set: f("arr") }, UNDEF],
  ["in_list hit", { op: "in_list", list: "l", item: f("id") }, true],
  ["in_list expired", { op: "in_list", list: "l", item: k("C-old") }, false],
  ["in_list future expiry", { op: "in_list", list: "l", item: k("C-new") }, true],
  ["in_list non-string", { op: "in_list", list: "l", item: k(1) }, false],
  ["in_list unknown list", { op: "in_list", list: "zz", item: k("C-1") }, false],
  ["in_list undefined", { op: "in_list", list: "l", item: f("nope") }, UNDEF],
  ["days_since", call("days_since", f("ts")), 3],
  ["days_since date", call("days_since", f("d")), 5],
  ["days_until", call("days_until", k("2026-12-25")), 30],
  ["hours_since", call("hours_since", f("ts")), 73],
  ["minutes_since offset", call("minutes_since", f("off")), 0],
  ["since", call("since", k(NOW_MS - 5)), 5],
  ["until", call("until", k(NOW_MS + 7)), 7],
  ["time string", call("time", f("ts")), Date.parse("2026-11-22T09:00:00Z")],
  ["time number", call("time", k(12.5)), 12.5],
  ["time fraction truncated", call("time", k("2026-11-25T10:00:00.123999Z")), NOW_MS + 123],
  ["time lower t z", call("time", k("2026-11-25t10:00:00z")), NOW_MS],
  ["time malformed", call("time", f("bad")), UNDEF],
  ["time bad day", call("time", k("2025-02-29")), UNDEF],
  ["time leap day", call("time", k("2024-02-29")), Date.parse("2024-02-29T00:00:00Z")],
  ["time year 0", call("time", k("0000-01-01")), -62167219200000],
  ["time no zone", call("time", k("2026-11-25T10:00:00")), UNDEF],
  ["time bool", call("time", k(true)), UNDEF],
  ["local_hour (+05:30)", call("local_hour", { op: "now" }), 15],
  ["lower ascii only", call("lower", k("ÀBC-É")), "Àbc-É"],
  ["upper", call("upper", f("s")), "HELLO WORLD"],
  ["len code points", call("len", f("emoji")), 3],
  ["len array", call("len", f("arr")), 3],
  ["len number", call("len", f("n")), UNDEF],
  ["contains string", call("contains", f("s"), k("lo W")), true],
  ["contains empty", call("contains", f("s"), k("")), true],
  ["contains array deep", call("contains", f("arr"), k({ b: [null] })), true],
  ["contains string/number", call("contains", f("s"), k(1)), UNDEF],
  ["starts_with", call("starts_with", f("s"), k("Hell")), true],
  ["ends_with", call("ends_with", f("s"), k("World!")), false],
  ["ends_with type", call("ends_with", f("n"), k("2")), UNDEF],
  ["exists", call("exists", f("s")), true],
  ["exists null", call("exists", f("nul")), false],
  ["exists undefined", call("exists", f("nope")), false],
  ["builtin arity", call("lower", f("s"), f("s")), UNDEF],
  ["builtin undefined arg", call("upper", f("nope")), UNDEF],
  // The entry 1 ms after now is a scheduled send: it counts (docs/ir.md, history_count).
  ["history_count all", { op: "history_count", window_ms: 86_400_000 }, 4],
  ["history_count channel", { op: "history_count", window_ms: 86_400_000, channel: "email" }, 4],
  ["history_count purpose", { op: "history_count", window_ms: 2 * 86_400_000, purpose: "claims" }, 2],
  ["history_count window start exclusive", { op: "history_count", window_ms: 86_400_000, node: "n2" }, 0],
  ["history_count node in window", { op: "history_count", window_ms: 86_400_000 + 1, node: "n2" }, 1],
  ["add_ms", { op: "add_ms", time: f("ts"), ms: 3_600_000 }, Date.parse("2026-11-22T10:00:00Z")],
  ["add_ms not a time", { op: "add_ms", time: f("s"), ms: 1 }, UNDEF],
];

function probeIR(): { ir: IR; data: BundleData } {
  const conds: Expr[] = CASES.map(([, e, want]) =>
    want === UNDEF ? { op: "not", arg: cmp("==", e, e) } : cmp("==", e, k(want)),
  );
  const nodes = CASES.map((_, i) =>
    node(`n${i}`, { conditions: [{ kind: "trigger", cond: i, reason: { code: "ok", policy: "p", message: "m", source: "s" }, fail: { code: "fail", policy: "p", message: "m", source: "s" } }] }),
  );
  const allowed = Object.fromEntries(Object.keys(CONTEXT).map((key) => [key, true])) as Record<string, true>;
  const plan: Plan = {
    version: 1, lists: {}, systems: { t: nodes.map((n) => n.id) },
    events: Object.fromEntries(CASES.map((_, i) => [`e${i}`, [i]])),
    event_fields: Object.fromEntries(CASES.map((_, i) => [`e${i}`, allowed])),
    nodes, fields: {}, channels: ["email", "sms"], purposes: ["claims", "marketing"], offsets_ms: {}, quiet_hours: [],
    keys: { customer: "id", jurisdiction: "j", utc_offset: "customer.utc_offset" }, reasons: {},
  };
  const data: BundleData = {
    plan, revision: "r",
    lists: { l: { "C-1": null, "C-old": "2026-11-25T10:00:00Z", "C-new": "2026-11-25T10:00:00.001Z" } },
  };
  return { ir: { plan, conds }, data };
}

const { ir, data } = probeIR();
let l: Loaded;
beforeAll(async () => {
  l = await load(ir);
  l.policy.setData({ waypost: data });
});

describe("expressions", () => {
  CASES.forEach(([name, expr, want], i) => {
    it(name, () => {
      // The oracle agrees with the expected value...
      const env = { context: CONTEXT, now: parseTime(NOW)!, lists: data.lists, history: HISTORY, utcOffsetMin: 330 };
      const oracle = evalExpr(expr, env);
      if (want === UNDEF) expect(oracle).toBeUndefined();
      else expect(oracle).toStrictEqual(want);
      // ...and so does the Wasm backend.
      const rs = l.policy.evaluate({ system: "t", event: `e${i}`, now: NOW, context: CONTEXT, history: HISTORY }) as { result: { outcome: string } }[];
      expect(rs[0]!.result.outcome).toBe("send");
    });
  });
});
