/** The IR pretty printer: condition syntax, precedence, determinism. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Expr, JsonValue } from "../../compiler/ir/ir.js";
import { duration, printExpr, printIR } from "../../compiler/ir/print.js";
import { exprArb } from "../support/ir-arbitraries.js";
import { loadFixture } from "./load-cases.js";

const f = (name: string): Expr => ({ op: "field", name });
const c = (value: JsonValue): Expr => ({ op: "const", value });

describe("printExpr", () => {
  it("prints conditions in the Waypost style", () => {
    expect(printExpr({ op: "cmp", cmp: "==", left: { op: "call", fn: "days_since", args: [f("claim.opened_at")] }, right: c(3) })).toBe(
      'days_since(field("claim.opened_at")) == 3',
    );
    expect(printExpr({ op: "in_list", list: "fraud-suspected", item: f("customer.id") })).toBe('field("customer.id") in list("fraud-suspected")');
    expect(printExpr({ op: "in", item: f("customer.jurisdiction"), set: c(["EU", "UK"]) })).toBe('field("customer.jurisdiction") in ["EU","UK"]');
    expect(printExpr({ op: "history_count", window_ms: 604800000, channel: "sms" })).toBe('history_count(window: 7d, channel: "sms")');
    expect(printExpr({ op: "add_ms", time: { op: "now" }, ms: -5400000 })).toBe("add_ms(now, -90m)");
  });

  it("parenthesises only where precedence needs it", () => {
    const a = { op: "cmp", cmp: ">", left: f("a"), right: c(1) } as const;
    const b = { op: "cmp", cmp: "<", left: f("b"), right: c(2) } as const;
    expect(printExpr({ op: "and", args: [{ op: "or", args: [a, b] }, { op: "not", arg: a }] })).toBe(
      '(field("a") > 1 or field("b") < 2) and not (field("a") > 1)',
    );
    expect(printExpr({ op: "or", args: [{ op: "and", args: [a, b] }, a] })).toBe('field("a") > 1 and field("b") < 2 or field("a") > 1');
    expect(printExpr({ op: "and", args: [] })).toBe("true /* and() */");
  });

  it("prints durations in the largest exact unit", () => {
    expect([duration(0), duration(1500), duration(60000), duration(86400000 * 7), duration(-3600000)]).toEqual(["0ms", "1500ms", "1m", "7d", "-1h"]);
  });

  it("is total and deterministic on random expressions", () => {
    fc.assert(
      fc.property(exprArb(["a", "b.c"], ["l"], 5), (e) => {
        const s = printExpr(e);
        expect(s.length).toBeGreaterThan(0);
        expect(printExpr(JSON.parse(JSON.stringify(e)) as Expr)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });
});

describe("printIR", () => {
  const { ir } = loadFixture("claims");
  const text = printIR(ir);

  it("prints every node, gate and condition of the fixture", () => {
    expect(text).toContain("node 0 claim-update-day3");
    expect(text).toContain('  trigger c0: days_since(field("claim.opened_at")) == 3');
    expect(text).toContain('  gate restriction (node) defer until c5 when c4: exists(field("claim.hold_until"))');
    expect(text).toContain('  gate consent (channel sms) suppress when c6: not (field("consent.sms") == true)');
    expect(text).toContain("  quiet 21:00-08:00 [sms] -> quiet-hours [contact/sms-night channel=sms]");
    expect(text).toContain('  experiment salt "renewal-exp", holdout 1000bp, variants [A 5000bp, B 5000bp]');
    expect(text).toContain("  valid [2026-01-01T00:00:00Z, 2027-01-01T00:00:00Z), rollout 5000bp");
    expect(text).toContain("  claim.status_changed: claim-internal-audit, claim-update-day3, claim-update-generic");
    expect(text.match(/^ {2}c\d+: /gm)?.length).toBe(ir.conds.length);
  });

  it("is deterministic regardless of object key order", () => {
    const reordered = JSON.parse(JSON.stringify(ir, (_k, v: unknown) =>
      v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
    ));
    expect(printIR(reordered)).toBe(text);
  });
});
