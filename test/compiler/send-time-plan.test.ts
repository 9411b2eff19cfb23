/**
 * What the planner emits for docs/ir.md step 10 and "Consent states": `at_send` exactly on the
 * suppression, restriction and consent gates whose condition reads the time, and one consent
 * gate per way consent can fail (grant, withdrawal, channel set), the pass reason on the last.
 */
import { describe, expect, it } from "vitest";
import type { Expr, Gate, IR } from "../../compiler/ir/ir.js";
import { compile } from "../../compiler/pipeline.js";
import { readsTime } from "../../compiler/plan.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import type { JsonValue, TestRequest } from "../../lifecycle/testing/suite.js";
import type { Decision } from "../../runtime/contract.js";
import { patchedHost, type RepoChange } from "../support/repo.js";

async function planOf(change: RepoChange = {}): Promise<IR> {
  const s = await compile(patchedHost(change), { until: "Plan" });
  expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return s.ir!;
}

const gatesOf = (ir: IR, node: string): Gate[] => ir.plan.nodes.find((n) => n.id === node)!.gates;

describe("at_send", () => {
  it("marks time-reading suppression, restriction and consent gates, and nothing else", async () => {
    const ir = await planOf();
    let marked = 0;
    for (const n of ir.plan.nodes) {
      for (const g of n.gates) {
        const want = ["suppression", "restriction", "consent"].includes(g.step) && readsTime(ir.conds[g.cond]);
        expect(g.at_send === true, `${n.id} ${g.step} ${g.reason.policy}`).toBe(want);
        if (g.at_send) marked++;
      }
    }
    expect(marked).toBeGreaterThan(0);
    // cross-sell-home: consent with max_age and a withdrawal time reads the time; caps do too but are never marked
    const xs = gatesOf(ir, "cross-sell-home");
    expect(xs.filter((g) => g.step === "consent").map((g) => [g.channel, g.reason.code, g.at_send ?? false, g.pass?.code ?? null])).toEqual([
      ["email", "consent-missing", true, null],
      ["email", "consent-withdrawn", true, "consent-granted"],
      ["push", "consent-missing", true, null],
      ["push", "consent-withdrawn", true, "consent-granted"],
    ]);
    expect(xs.filter((g) => g.step === "contact-policy").every((g) => g.at_send === undefined)).toBe(true);
    // claims consent has no max_age and no withdrawal: `not exists(grant)` has the same value at any time
    const claims = gatesOf(ir, "claim-update-day3").filter((g) => g.step === "consent");
    expect(claims.length).toBeGreaterThan(0);
    expect(claims.every((g) => g.at_send === undefined && g.pass?.code === "consent-granted")).toBe(true);
  });

  it("readsTime: now, the now-relative builtins, list expiry and the history window", () => {
    const f: Expr = { op: "field", name: "x" };
    const yes: Expr[] = [
      { op: "now" },
      { op: "call", fn: "days_until", args: [f] },
      { op: "call", fn: "since", args: [f] },
      { op: "in_list", list: "l", item: f },
      { op: "history_count", window_ms: 1 },
      { op: "not", arg: { op: "cmp", cmp: "<", left: { op: "add_ms", time: { op: "now" }, ms: 1 }, right: f } },
    ];
    const no: Expr[] = [f, { op: "const", value: 1 }, { op: "call", fn: "local_hour", args: [f] }, { op: "call", fn: "time", args: [f] }, { op: "in", item: f, set: f }];
    for (const e of yes) expect(readsTime(e), JSON.stringify(e)).toBe(true);
    for (const e of no) expect(readsTime(e), JSON.stringify(e)).toBe(false);
  });
});

describe("consent states", () => {
  it("a channel set adds a consent-not-for-channel gate per channel: `not (ch in set)`, not re-checked at send time", async () => {
    const ir = await planOf({
      patches: [
        { file: "policies/purposes.yaml", replace: '      withdrawn_field: "consent.{channel}.{purpose}.withdrawn_at"\n', with: '      withdrawn_field: "consent.{channel}.{purpose}.withdrawn_at"\n      channels_field: "consent.{purpose}.channels"\n' },
        { file: "policies/data-dictionary.yaml", after: "fields:\n", with: "  consent.marketing.channels:\n    type: string[]\n    category: user.consent\n    sensitivity: confidential\n    source: consent-platform\n    residency: [EU, UK, US]\n    optional: true\n" },
        { file: "policies/access.yaml", replace: "consent.push.marketing.withdrawn_at]", with: "consent.push.marketing.withdrawn_at, consent.marketing.channels]" },
      ],
    });
    const consent = gatesOf(ir, "cross-sell-home").filter((g) => g.step === "consent" && g.channel === "push");
    expect(consent.map((g) => g.reason.code)).toEqual(["consent-missing", "consent-withdrawn", "consent-not-for-channel"]);
    const last = consent[2]!;
    expect(last.pass?.code).toBe("consent-granted");
    expect(last.at_send).toBeUndefined();
    expect(ir.conds[last.cond]).toEqual({ op: "not", arg: { op: "in", item: { op: "const", value: "push" }, set: { op: "field", name: "consent.marketing.channels" } } });
    // the withdrawal: not after now and not before the grant
    expect(ir.conds[consent[1]!.cond]).toEqual({
      op: "and",
      args: [
        { op: "cmp", cmp: "<=", left: { op: "call", fn: "time", args: [{ op: "field", name: "consent.push.marketing.withdrawn_at" }] }, right: { op: "now" } },
        { op: "cmp", cmp: ">=", left: { op: "call", fn: "time", args: [{ op: "field", name: "consent.push.marketing.withdrawn_at" }] }, right: { op: "call", fn: "time", args: [{ op: "field", name: "consent.push.marketing" }] } },
      ],
    });
    // a withdrawal time is not a consent time: step 4 accepts one in the future (a scheduled withdrawal)
    expect(ir.plan.fields["consent.push.marketing.withdrawn_at"]!.consent).toBeUndefined();
    expect(ir.plan.fields["consent.push.marketing"]!.consent).toBe(true);
    expect(ir.plan.event_fields["marketing.daily_selection"]!["consent.marketing.channels"]).toBe(true);
  });
});

describe("waypost test's built-in invariant `consent-respected` checks consent when the message leaves", () => {
  const decision = (channel: string, sendAt: string): Decision => ({
    outcome: "send", node: "cross-sell-home", channel, template: null, offer: null, variant: null,
    send_at: sendAt, reasons: [], explanation: null, revision: "r", verified: false, decision_id: "d",
  });
  const request = (context: Record<string, JsonValue>): TestRequest => ({
    system: "crm-journeys", event: "marketing.daily_selection", now: "2026-11-25T10:00:00Z",
    context: { "customer.id": "C-1", "customer.jurisdiction": "UK", ...context },
  });

  it("stale at the send time, withdrawn before it, or a channel outside the consented set breaks it", async () => {
    const s = await compile(patchedHost({
      patches: [{ file: "policies/purposes.yaml", replace: '      withdrawn_field: "consent.{channel}.{purpose}.withdrawn_at"\n', with: '      withdrawn_field: "consent.{channel}.{purpose}.withdrawn_at"\n      channels_field: "consent.{purpose}.channels"\n' },
        { file: "policies/data-dictionary.yaml", after: "fields:\n", with: "  consent.marketing.channels:\n    type: string[]\n    category: user.consent\n    sensitivity: confidential\n    source: consent-platform\n    residency: [EU, UK, US]\n    optional: true\n" },
        { file: "policies/access.yaml", replace: "consent.push.marketing.withdrawn_at]", with: "consent.push.marketing.withdrawn_at, consent.marketing.channels]" }],
    }), { until: "Plan" });
    const inv = builtinInvariants({ program: s.program!, ir: s.ir!, lists: s.lists! }).find((i) => i.id === "consent-respected")!;
    const ok = { "consent.email.marketing": "2026-03-01T00:00:00Z", "consent.marketing.channels": ["email", "push"] };
    expect(inv.check(request(ok), decision("email", "2026-11-25T10:15:00Z"))).toBeNull();
    // 730 days minus 5 minutes old at now, 730 days and 10 minutes at 10:15
    expect(inv.check(request({ ...ok, "consent.email.marketing": "2024-11-25T10:05:00Z" }), decision("email", "2026-11-25T10:15:00Z")))
      .toBe("consent `consent.email.marketing` = `2024-11-25T10:05:00Z` is older than allowed at the send time 2026-11-25T10:15:00Z, yet the decision is send via `email` by `cross-sell-home`");
    // a withdrawal scheduled for 10:10 is in force at 10:15; one at 10:20 is not yet
    expect(inv.check(request({ ...ok, "consent.email.marketing.withdrawn_at": "2026-11-25T10:10:00Z" }), decision("email", "2026-11-25T10:15:00Z"))).toContain("was withdrawn");
    expect(inv.check(request({ ...ok, "consent.email.marketing.withdrawn_at": "2026-11-25T10:20:00Z" }), decision("email", "2026-11-25T10:15:00Z"))).toBeNull();
    // a withdrawal before the grant was superseded by it
    expect(inv.check(request({ ...ok, "consent.email.marketing.withdrawn_at": "2026-01-01T00:00:00Z" }), decision("email", "2026-11-25T10:15:00Z"))).toBeNull();
    expect(inv.check(request({ ...ok, "consent.marketing.channels": ["push"] }), decision("email", "2026-11-25T10:15:00Z")))
      .toBe("the consent's channel set `consent.marketing.channels` does not include `email`, yet the decision is send via `email` by `cross-sell-home`");
  });
});
