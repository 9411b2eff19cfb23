/**
 * Planted bugs: a decision plan that breaks a suppression list's declared scope (what a planner
 * or scope bug would produce) must be refuted, and the counterexample must replay to a violation
 * on both evaluators, checked here independently of the prover.
 */
import { afterAll, describe, expect, test } from "vitest";
import { parse } from "yaml";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import type { IR } from "../../compiler/ir/ir.js";
import { loadBundle } from "../../runtime/engine.js";
import type { Decision } from "../../runtime/contract.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import { cadence, prove, shutdownSolver, type ProveInput } from "../../lifecycle/prove/index.js";
import { planted } from "../support/planted.js";

afterAll(() => shutdownSolver());

const node = (ir: IR, id: string) => ir.plan.nodes.find((n) => n.id === id)!;
const listOf = (ir: IR, cond: number): string | undefined => {
  const e = ir.conds[cond]!;
  return e.op === "in_list" ? e.list : undefined;
};

async function refutedAndReplayed(input: ProveInput, id = "suppression", invariant = "suppression-respected"): Promise<{ decision: Decision; request: Record<string, unknown> }> {
  const report = await prove(input, { only: [id] });
  const a = report.results.find((r) => r.id === id)!;
  expect(a.status, a.reason).toBe("refuted");
  const cx = a.counterexample!;
  expect(cx.failsTest).toBe(true);
  // The printed case is a PolicyTests document whose request is the counterexample.
  const doc = parse(cx.yaml) as { kind: string; cases: { request: Record<string, unknown>; expect: { invariants: string[] } }[] };
  expect(doc.kind).toBe("PolicyTests");
  expect(doc.cases[0]!.expect.invariants).toEqual([invariant]);
  const request = doc.cases[0]!.request;
  expect(request).toEqual(cx.request);
  // Replayed here on both evaluators, independently of the prover.
  const inv = builtinInvariants({ program: input.program, ir: input.ir, lists: input.data.lists }).find((i) => i.id === invariant)!;
  const engine = await loadBundle(input.bundle, { skipVerify: true });
  const wasm = engine.decide(request) as Decision;
  await engine.close();
  const ref = interpret(input.ir, input.data, request) as unknown as Decision;
  expect(inv.check(request as never, wasm)).not.toBeNull();
  expect(inv.check(request as never, ref)).not.toBeNull();
  expect(wasm.outcome).toBe(ref.outcome);
  return { decision: wasm, request };
}

describe("planted bugs are refuted, each with a case that fails on both evaluators", () => {
  test("the unchanged example proves suppression, quiet hours and holdouts", async () => {
    const input = await planted(() => undefined);
    const report = await prove(input, { only: ["suppression", "quiet-hours", "holdout"] });
    const status = Object.fromEntries(report.results.map((r) => [r.id, [r.status, r.reason]]));
    expect(status["suppression"]).toEqual(["proved", undefined]);
    expect(status["quiet-hours"]).toEqual(["proved", undefined]);
    expect(status["holdout"]).toEqual(["proved", undefined]);
  }, 120_000);

  test("a narrowed suppression scope: email-opt-out guards push instead of email", async () => {
    const input = await planted((ir) => {
      for (const g of node(ir, "cross-sell-home").gates.filter((x) => listOf(ir, x.cond) === "email-opt-out")) g.channel = "push";
    });
    const { decision, request } = await refutedAndReplayed(input);
    expect(decision.channel).toBe("email");
    expect(decision.node).toBe("cross-sell-home");
    const hashes = Object.keys(input.data.lists["email-opt-out"]!);
    expect(hashes).toContain((request["context"] as Record<string, unknown>)["customer.email_sha256"]);
  }, 60_000);

  test("a node that lost its bereavement-register gate", async () => {
    const input = await planted((ir) => {
      const n = node(ir, "claim-update-day3");
      n.gates = n.gates.filter((x) => listOf(ir, x.cond) !== "deceased");
    });
    const { decision, request } = await refutedAndReplayed(input);
    expect(decision.node).toBe("claim-update-day3");
    expect(Object.keys(input.data.lists["deceased"]!)).toContain((request["context"] as Record<string, unknown>)["customer.id"]);
  }, 60_000);

  test("a list keyed on an optional field without its missing-key gate", async () => {
    const input = await planted((ir) => {
      for (const n of ir.plan.nodes) n.gates = n.gates.filter((g) => g.reason.code !== "suppressed-missing-key");
    });
    const { request } = await refutedAndReplayed(input);
    const key = (request["context"] as Record<string, unknown>)["customer.email_sha256"];
    expect(key === undefined || key === null || key === "").toBe(true);
  }, 60_000);

  test("a widened quiet-hours window: the plan defers only from 22:00, the policy says 21:00", async () => {
    const input = await planted((ir) => {
      for (const q of ir.plan.quiet_hours) q.start_min = 22 * 60;
    });
    const { decision } = await refutedAndReplayed(input, "quiet-hours", "quiet-hours-respected");
    expect(["sms", "push"]).toContain(decision.channel);
  }, 120_000);

  test("a holdout leak through a second node: renewal's experiment holds out nobody in the plan", async () => {
    const input = await planted((ir) => {
      node(ir, "renewal-reminder-90").experiment!.holdout_bp = 0;
    });
    const { decision } = await refutedAndReplayed(input, "holdout", "holdout-no-treatment");
    expect(decision.node).toBe("renewal-reminder-90");
  }, 60_000);
});

describe("cadence findings (WP4103, WP4104), each witness replayed on the bundle", () => {
  test("a node whose journey lost its email-weekly cap gate can email a customer who already had 3 this week (WP4104)", async () => {
    const input = await planted((ir) => {
      const n = node(ir, "renewal-reminder-90");
      n.gates = n.gates.filter((g) => g.reason.policy !== "contact/cap/email-weekly");
    });
    const c = await cadence(input, { timeoutMs: 120_000 });
    const w = c.windows.find((x) => x.cap === "email-weekly")!;
    expect(w.most).toBeNull();
    expect(w.leaks.map((l) => `${l.node}/${l.channel}`)).toEqual(["renewal-reminder-90/email"]);
    const f = c.findings.filter((d) => d.code === "WP4104");
    expect(f.map((d) => [d.severity, d.message])).toEqual([["warning", "`renewal-reminder-90` can send via `email` when the customer already had 3 message(s) in cap `email-weekly`'s 7d window (channel `email`)"]]);
    expect(f[0]!.span?.file).toBe("journeys/renewal-reminder-90.yaml");
    // The witness sends by email with 3 emails in the last 7 days, on the bundle.
    const req = w.leaks[0]!.request;
    const engine = await loadBundle(input.bundle, { skipVerify: true });
    const d = engine.decide(req) as Decision;
    await engine.close();
    expect([d.node, d.channel, ["send", "defer"].includes(d.outcome)]).toEqual(["renewal-reminder-90", "email", true]);
    const history = (req.history ?? []) as { at: string; channel?: string }[];
    const week = history.filter((h) => h.channel === "email" && Date.parse(h.at) > Date.parse(req.now) - 7 * 86_400_000);
    expect(week.length).toBeGreaterThanOrEqual(3);
    // The other caps still bind every sender.
    for (const x of c.windows.filter((y) => y.cap !== "email-weekly")) expect([x.cap, x.most, x.unknown]).toEqual([x.cap, x.max, []]);
  }, 300_000);

  test("a node whose eligibility can never hold is reported dead on each of its channels (WP4103)", async () => {
    const input = await planted((ir) => {
      const n = node(ir, "service-recovery");
      const never = ir.conds.length;
      ir.conds.push({ op: "const", value: false });
      n.conditions.push({ ...n.conditions[0]!, cond: never });
    });
    const c = await cadence(input, { timeoutMs: 120_000 });
    const channels = node(input.ir, "service-recovery").channels;
    expect(c.dead.map((r) => `${r.node}/${r.channel}`).sort()).toEqual(channels.map((ch) => `service-recovery/${ch}`).sort());
    const f = c.findings.filter((d) => d.code === "WP4103");
    expect(f.map((d) => d.message).sort()).toEqual(channels.map((ch) => `\`service-recovery\` can never deliver via \`${ch}\`: no request makes it (dead trigger, contradictory eligibility, or gates that always block)`).sort());
    expect(f.every((d) => d.severity === "warning" && d.span?.file === "journeys/service-recovery.yaml")).toBe(true);
  }, 300_000);
});
