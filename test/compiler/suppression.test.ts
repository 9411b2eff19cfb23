/**
 * Suppression never fails open (docs/ir.md "Suppression lists and rules"): what the compiler
 * makes of `missing:` and of `until` dates. The evaluators' side is in
 * test/cases/suppression-keys.yaml (a fixture of the same shapes); the diagnostics (WP3080,
 * WP3081) in test/fixtures/broken/.
 */
import { describe, expect, it } from "vitest";
import { compile, type CompileState } from "../../compiler/pipeline.js";
import type { BundleData, Expr, Gate, PlanNode } from "../../compiler/ir/ir.js";
import { diffEntities, entitiesFromPlan } from "../../lifecycle/diff/entities.js";
import { builtinInvariants } from "../../lifecycle/testing/invariants.js";
import type { JsonValue, TestRequest } from "../../lifecycle/testing/suite.js";
import type { Decision } from "../../runtime/contract.js";
import { formatTime } from "../../compiler/ir/time.js";
import { endOfLocalDay } from "../../compiler/tz.js";
import { patchedFiles, patchedHost, type RepoChange } from "../support/repo.js";
import { readFileSync } from "node:fs";
import { COMPACT_MIN_ENTRIES, isCompactList, keyDigest, listEntries, listSize } from "../../compiler/ir/compact-list.js";
import { evaluators } from "../support/evaluators.js";

// Extra lists and rules, added to the example repository's suppressions.yaml.
const LISTS = `
  - id: pause-london
    reason: paused (London)
    match: customer.id
    scope: { channels: all, purposes: [marketing] }
    zone: Europe/London
    entries:
      - { key: C-SUMMER, until: 2026-07-31 }
      - { key: C-SPRING, until: 2026-03-29 }
      - { key: C-AUTUMN, until: 2026-10-25 }
      - { key: C-STAMP, until: "2026-12-01T00:00:00+01:00" }
      - { key: C-FOREVER, until: 9999-12-31 }
  - id: pause-new-york
    reason: paused (New York)
    match: customer.id
    scope: { channels: all, purposes: [marketing] }
    zone: America/New_York
    entries_file: data/pause-new-york.txt
  - id: pause-sydney
    reason: paused (Sydney)
    match: customer.id
    scope: { channels: all, purposes: [marketing] }
    zone: Australia/Sydney
    missing: suppress
    entries:
      - { key: C-SYD, until: 2026-04-05 }
      - { key: C-FOREVER, until: 9999-12-31 }
  - id: pause-utc
    reason: paused (no zone declared)
    match: customer.id
    scope: { channels: all, purposes: [marketing] }
    entries:
      - { key: C-UTC, until: 2027-03-31 }
  - id: push-opt-out
    reason: unsubscribed from push (hashed address)
    match: customer.email_sha256
    scope: { channels: [push], purposes: [marketing] }
    missing: allow
    entries: [H-1]
`;
const RULES = `
  - id: recent-bad-experience
    when: hours_since(customer.last_negative_interaction_at) < 48
    reason: a bad experience in the last two days
    scope: { channels: all, purposes: [marketing] }
    missing: suppress
  - id: recent-bad-experience-lenient
    when: hours_since(customer.last_negative_interaction_at) < 24
    reason: a bad experience today
    scope: { channels: all, purposes: [marketing] }
    missing: allow
`;
const CHANGE: RepoChange = {
  patches: [
    { file: "policies/suppressions.yaml", after: "lists:\n", with: LISTS },
    { file: "policies/suppressions.yaml", after: "rules:\n", with: RULES },
  ],
  files: { "policies/data/pause-new-york.txt": "# id,until (New York dates)\nC-NY,2026-11-01\nC-NY-SPRING,2026-03-08\nC-NY-OPEN\n" },
};

let compiled: Promise<CompileState> | undefined;
const build = (): Promise<CompileState> => (compiled ??= compile(patchedHost(CHANGE), { until: "Plan" }));

const absent = (name: string): Expr => ({ op: "not", arg: { op: "call", fn: "exists", args: [{ op: "field", name }] } });

function node(s: CompileState, id: string): PlanNode {
  const n = s.ir!.plan.nodes.find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id}`);
  return n;
}

describe("`until`: the end of that day in the list's zone, as an exact instant", () => {
  it("compiles without diagnostics", async () => {
    expect((await build()).diagnostics).toEqual([]);
  });

  it("a date ends at the next local midnight (DST days included); a timestamp is that instant, in UTC", async () => {
    const lists = (await build()).lists!;
    expect(lists["pause-london"]).toEqual({
      "C-AUTUMN": "2026-10-26T00:00:00Z", // 25-hour day: midnight GMT
      "C-FOREVER": null, // 10000-01-01T00:00Z: no request time reaches it
      "C-SPRING": "2026-03-29T23:00:00Z", // 23-hour day: midnight BST
      "C-STAMP": "2026-11-30T23:00:00Z",
      "C-SUMMER": "2026-07-31T23:00:00Z",
    });
    // Sydney is ahead of UTC: its 9999-12-31 ends (AEDT, +11) before the last representable instant.
    expect(lists["pause-sydney"]).toEqual({ "C-FOREVER": "9999-12-31T13:00:00Z", "C-SYD": "2026-04-05T14:00:00Z" });
    expect(lists["pause-utc"]).toEqual({ "C-UTC": "2027-04-01T00:00:00Z" });
  });

  it("entries_file lines use the same conversion", async () => {
    expect((await build()).lists!["pause-new-york"]).toEqual({
      "C-NY": "2026-11-02T05:00:00Z",
      "C-NY-OPEN": null,
      "C-NY-SPRING": "2026-03-09T04:00:00Z",
    });
  });

  it("the example's complaint cool-off list (zone Europe/London) ends in local time", async () => {
    const lists = (await build()).lists!;
    expect(lists["complaint-cool-off"]!["C-100999"]).toBe("2026-07-31T23:00:00Z");
    expect(lists["complaint-cool-off"]!["C-100777"]).toBe("2026-12-16T00:00:00Z");
    // No zone declared: UTC (the entry holds through 31 March, UTC).
    expect(lists["fraud-suspected"]!["C-300177"]).toBe("2027-04-01T00:00:00Z");
  });
});

describe("endOfLocalDay against the host's Intl time-zone data", () => {
  // Local date (YYYY-MM-DD) of an instant in a zone, as Intl reads it.
  const localDate = (ms: number, zone: string): string => new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(ms);
  // Zones on both hemispheres, and Santiago, whose clocks skip midnight in September.
  const zones = ["Europe/London", "America/New_York", "Australia/Sydney", "America/Santiago", "Asia/Tokyo", "UTC"];
  for (const zone of zones) {
    it(`${zone}: every day of 2026 ends at the first instant of the next local day`, () => {
      for (let d = Date.UTC(2026, 0, 1); d < Date.UTC(2027, 0, 1); d += 86_400_000) {
        const date = formatTime(d)!.slice(0, 10);
        const end = endOfLocalDay(date, zone)!;
        expect(localDate(end - 1, zone), `${zone} ${date}: the last ms is that day`).toBe(date);
        expect(localDate(end, zone), `${zone} ${date}: the end is the next day`).toBe(formatTime(d + 86_400_000)!.slice(0, 10));
      }
    });
  }

  it("a skipped local midnight: the day starts when the clocks do (America/Santiago, 2026-09-06 01:00 -03)", () => {
    expect(formatTime(endOfLocalDay("2026-09-05", "America/Santiago")!)).toBe("2026-09-06T04:00:00Z");
  });

  it("refuses what is not a date or not a zone", () => {
    expect(endOfLocalDay("2026-02-30", "UTC")).toBeUndefined();
    expect(endOfLocalDay("2026-02-28T00:00:00Z", "UTC")).toBeUndefined();
    expect(endOfLocalDay("2026-02-28", "Europe/Londn")).toBeUndefined();
  });
});

describe("`missing`: what a request without the key means", () => {
  const gatesOf = (n: PlanNode, policy: string): Gate[] => n.gates.filter((g) => g.reason.policy === policy);

  it("`missing: suppress` on an optional match field: a gate before the list's own, per channel, naming the key", async () => {
    const s = await build();
    const n = node(s, "cross-sell-home");
    const gates = gatesOf(n, "suppression/email-opt-out");
    expect(gates.map((g) => [g.reason.code, g.channel])).toEqual([["suppressed-missing-key", "email"], ["suppressed", "email"]]);
    const [miss] = gates;
    expect(miss!.outcome).toBe("suppress");
    expect(miss!.step).toBe("suppression");
    expect(s.ir!.conds[miss!.cond]).toEqual({
      op: "or",
      args: [absent("customer.email_sha256"), { op: "cmp", cmp: "==", left: { op: "field", name: "customer.email_sha256" }, right: { op: "const", value: "" } }],
    });
    expect(miss!.reason.message).toBe("no `customer.email_sha256` to look up on suppression list `email-opt-out`: treated as suppressed (`missing: suppress`)");
    // The source is the `missing` value.
    const [file, line, col] = miss!.reason.source.split(":");
    const text = new TextDecoder().decode(patchedFiles(CHANGE).get(file!)!);
    expect(text.split("\n")[Number(line) - 1]!.slice(Number(col) - 1)).toMatch(/^suppress\b/);
    expect(text.split("\n")[Number(line) - 1]).toMatch(/^ {4}missing: suppress/);
    expect(s.ir!.plan.lists["email-opt-out"]!.missing).toBe("suppress");
  });

  it("`missing: allow`: no gate, and the plan records the choice for waypost/suppressed", async () => {
    const s = await build();
    expect(gatesOf(node(s, "cross-sell-home"), "suppression/push-opt-out").map((g) => g.reason.code)).toEqual(["suppressed"]);
    expect(s.ir!.plan.lists["push-opt-out"]!.missing).toBe("allow");
  });

  it("a required match field still gets the missing-key gate: a present but empty key would match no entry", async () => {
    const s = await build();
    const gates = gatesOf(node(s, "cross-sell-home"), "suppression/pause-sydney");
    expect(gates.map((g) => g.reason.code)).toEqual(["suppressed-missing-key", "suppressed"]);
    expect(gates[0]!.reason.message).toMatch(/^no `customer.id` to look up on suppression list `pause-sydney`: treated as suppressed/);
    // Undeclared means suppress.
    expect(s.ir!.plan.lists["fraud-suspected"]!.missing).toBe("suppress");
  });

  it("a rule with `missing: suppress`: a gate per optional field it reads, before the rule's own", async () => {
    const s = await build();
    const gates = gatesOf(node(s, "cross-sell-home"), "suppression-rule/recent-bad-experience");
    expect(gates.map((g) => g.reason.code)).toEqual(["suppressed-missing-key", "suppressed-by-rule"]);
    expect(s.ir!.conds[gates[0]!.cond]).toEqual(absent("customer.last_negative_interaction_at"));
    expect(gates[0]!.reason.message).toBe("no `customer.last_negative_interaction_at` to evaluate suppression rule `recent-bad-experience`: treated as suppressed (`missing: suppress`)");
    expect(gates[0]!.channel).toBeUndefined(); // the rule covers every channel: node-wide
  });

  it("a rule with `missing: allow`: only the rule's own gate", async () => {
    const s = await build();
    expect(gatesOf(node(s, "cross-sell-home"), "suppression-rule/recent-bad-experience-lenient").map((g) => g.reason.code)).toEqual(["suppressed-by-rule"]);
  });

  it("a nullable match field needs a declaration too (WP3080), and a declared one compiles", async () => {
    // customer.id made nullable: every list on it must now say what a null id means.
    const change: RepoChange = {
      patches: [{ file: "policies/data-dictionary.yaml", replace: "    mask: hash\n  customer.email_sha256:", with: "    nullable: true\n    mask: hash\n  customer.email_sha256:" }],
    };
    const s = await compile(patchedHost(change), { until: "Check" });
    const wp3080 = s.diagnostics.filter((d) => d.code === "WP3080");
    // global-opt-out, fraud-suspected, deceased, complaint-cool-off (email-opt-out declares it).
    expect(wp3080.map((d) => d.message)).toEqual([
      "suppression list `global-opt-out` matches on `customer.id`, which is nullable, but does not say what a missing key means",
      "suppression list `fraud-suspected` matches on `customer.id`, which is nullable, but does not say what a missing key means",
      "suppression list `deceased` matches on `customer.id`, which is nullable, but does not say what a missing key means",
      "suppression list `complaint-cool-off` matches on `customer.id`, which is nullable, but does not say what a missing key means",
    ]);
    expect(wp3080[0]!.help).toContain("add `missing: suppress` (treat a customer without `customer.id` as suppressed)");
  });
});

describe("waypost diff sees what a reviewer must", () => {
  it("a list's `missing` changing from suppress to allow, and a `zone` moving every date's expiry", async () => {
    const base = await build();
    const head = await compile(patchedHost({
      patches: [
        ...CHANGE.patches!,
        { file: "policies/suppressions.yaml", replace: "    missing: suppress  # no hashed address", with: "    missing: allow  # no hashed address" },
        { file: "policies/suppressions.yaml", replace: "    zone: America/New_York\n", with: "    zone: America/Chicago\n" },
      ],
      files: CHANGE.files!,
    }), { until: "Plan" });
    expect(head.diagnostics).toEqual([]);
    const data = (s: CompileState): BundleData => ({ plan: s.ir!.plan, lists: s.lists!, revision: "r" });
    const changes = diffEntities(entitiesFromPlan(data(base)), entitiesFromPlan(data(head)));
    const list = (id: string) => changes.find((c) => c.kind === "suppression-list" && c.id === id);
    expect(list("email-opt-out")!.properties.map((p) => [p.path, p.before, p.after])).toEqual([["missing", "suppress", "allow"]]);
    // Two dated entries move by an hour; the entry without `until` does not.
    expect(list("pause-new-york")!.entries).toEqual({ added: 0, removed: 0, expiry_changed: 2 });
  });
});

describe("waypost test's built-in invariant `suppression-respected` knows missing keys", () => {
  const decision = (channel: string): Decision => ({
    outcome: "send", node: "cross-sell-home", channel, template: null, offer: null, variant: null,
    send_at: "2026-11-25T10:15:00Z", reasons: [], explanation: null, revision: "r", verified: false, decision_id: "d",
  });
  const request = (context: Record<string, JsonValue>): TestRequest => ({ system: "crm-journeys", event: "marketing.daily_selection", now: "2026-11-25T10:00:00Z", context });

  it("an email to a customer without a hashed address breaks it (`missing: suppress`); a push does not", async () => {
    const s = await build();
    const inv = builtinInvariants({ program: s.program!, ir: s.ir!, lists: s.lists! }).find((i) => i.id === "suppression-respected")!;
    const ctx = { "customer.id": "C-1", "customer.last_negative_interaction_at": "2026-11-01T10:00:00Z" };
    expect(inv.check(request(ctx), decision("email"))).toBe("the request has no `customer.email_sha256` for suppression list `email-opt-out`, which treats a missing key as suppressed, yet the decision is send via `email` by `cross-sell-home`");
    expect(inv.check(request({ ...ctx, "customer.email_sha256": "" }), decision("email"))).toContain("has no `customer.email_sha256`");
    // push-opt-out says `missing: allow`.
    expect(inv.check(request(ctx), decision("push"))).toBeNull();
  });

  it("a rule's missing field with `missing: suppress` breaks it; with `missing: allow` it does not", async () => {
    const s = await build();
    const inv = builtinInvariants({ program: s.program!, ir: s.ir!, lists: s.lists! }).find((i) => i.id === "suppression-respected")!;
    expect(inv.check(request({ "customer.id": "C-1" }), decision("push"))).toBe("the request has no `customer.last_negative_interaction_at` for suppression rule `recent-bad-experience`, which treats a missing field as suppressed, yet the decision is send via `push` by `cross-sell-home`");
  });
});

describe("a large entries_file (over 1 MiB: read line by line from its bytes)", () => {
  const filler = Array.from({ length: 30_000 }, (_, i) => `${String(i).padStart(8, "0")}${"ab".repeat(16)}`);
  const head = "\ufeff# id,until (New York dates)\r\nC-NY,2026-11-01\r\n  C-NY-SPRING , 2026-03-08 \n\nC-NY-OPEN\nKÉY-😀\n";
  const large = (extra = ""): RepoChange => ({
    ...CHANGE,
    files: { "policies/data/pause-new-york.txt": head + extra + filler.join("\n") + "\n" },
  });

  it("gives the list the text reading gives: byte order mark, CRLF, spaces, comments, multi-byte keys, expiries", async () => {
    const s = await compile(patchedHost(large()), { until: "Plan" });
    expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const list = s.lists!["pause-new-york"]!;
    expect(Object.keys(list)).toHaveLength(4 + filler.length);
    expect(list).toMatchObject({ "C-NY": "2026-11-02T05:00:00Z", "C-NY-OPEN": null, "C-NY-SPRING": "2026-03-09T04:00:00Z", "KÉY-😀": null });
    expect(list[filler[12_345]!]).toBeNull();
  });

  it("a bad line is reported in the data file, at its line", async () => {
    const s = await compile(patchedHost(large("C-BAD,2026-02-30\n")), { until: "Plan" });
    const d = s.diagnostics.find((x) => x.code === "WP0007");
    expect(d?.message).toBe("`2026-02-30` is not a valid expiry date");
    expect(d?.span?.file).toBe("policies/data/pause-new-york.txt");
    const text = head + "C-BAD,2026-02-30\n";
    expect(d?.span?.start).toBe(text.slice(1).indexOf("C-BAD,") + "C-BAD,".length);
  });
});

describe("a list of COMPACT_MIN_ENTRIES or more from an entries_file: compact in data.json (docs/ir.md \"Bundle data\")", () => {
  const filler = Array.from({ length: COMPACT_MIN_ENTRIES }, (_, i) => `${String(i).padStart(8, "0")}${"ab".repeat(16)}`);
  // Byte order mark, CRLF, spaces, comments, a multi-byte key, no-break spaces (trimmed as
  // String.prototype.trim trims them), a comma-separated expiry with spaces.
  const head = "\ufeff# id,until (New York dates)\r\nC-NY,2026-11-01\r\n  C-NY-SPRING , 2026-03-08 \n\nC-NY-OPEN\nKÉY-😀\n\u00a0C-NBSP\u00a0\nC-NBSP-2\u00a0,2027-01-01\n";
  const head0Text = (extra = ""): string => head + extra + filler.join("\n") + "\n";
  const change = (extra = ""): RepoChange => ({ ...CHANGE, files: { "policies/data/pause-new-york.txt": head0Text(extra) } });
  let state: Promise<CompileState> | undefined;
  const compact = (): Promise<CompileState> => (state ??= compile(patchedHost(change()), { until: "Plan" }));

  it("holds the digests of the same keys the text reading gives, the expiries by digest", async () => {
    const s = await compact();
    expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const list = s.lists!["pause-new-york"]!;
    expect(isCompactList(list)).toBe(true);
    expect(listSize(list)).toBe(6 + filler.length);
    const entries = listEntries(list);
    for (const k of ["C-NY-OPEN", "KÉY-😀", "C-NBSP", filler[0]!, filler[44_321]!]) expect(entries.get(keyDigest(k)), k).toBeNull();
    expect(entries.get(keyDigest("C-NY"))).toBe("2026-11-02T05:00:00Z");
    expect(entries.get(keyDigest("C-NY-SPRING"))).toBe("2026-03-09T04:00:00Z");
    expect(entries.get(keyDigest("C-NBSP-2"))).toBe("2027-01-02T05:00:00Z");
    // Small lists stay plain.
    expect(isCompactList(s.lists!["pause-london"])).toBe(false);
  });

  it("a bad line is reported in the data file, at its line, as for a plain list", async () => {
    const s = await compile(patchedHost(change("C-BAD,2026-02-30\n")), { until: "Plan" });
    const d = s.diagnostics.find((x) => x.code === "WP0007");
    expect(d?.message).toBe("`2026-02-30` is not a valid expiry date");
    expect(d?.span?.file).toBe("policies/data/pause-new-york.txt");
  });

  it("diff counts entries by digest, also against the plain list it was (a key added, one removed, an expiry changed)", async () => {
    const data = (s: CompileState): BundleData => ({ plan: s.ir!.plan, lists: s.lists!, revision: "r" });
    const base = await compile(patchedHost(CHANGE), { until: "Plan" }); // C-NY, C-NY-SPRING, C-NY-OPEN
    const head = await compact();
    const list = (a: CompileState, b: CompileState) => diffEntities(entitiesFromPlan(data(a)), entitiesFromPlan(data(b))).find((c) => c.kind === "suppression-list" && c.id === "pause-new-york");
    expect(list(base, head)!.entries).toEqual({ added: 3 + filler.length, removed: 0, expiry_changed: 0 });
    expect(list(head, base)!.entries).toEqual({ added: 0, removed: 3 + filler.length, expiry_changed: 0 });
    const text = head0Text().replace("C-NY,2026-11-01", "C-NY,2026-11-02").replace("C-NY-OPEN\n", "C-NEW\n");
    const edited = await compile(patchedHost({ ...CHANGE, files: { "policies/data/pause-new-york.txt": text } }), { until: "Plan" });
    expect(list(head, edited)!.entries).toEqual({ added: 1, removed: 1, expiry_changed: 1 });
  });

  it("the suppression-respected invariant reads a compact list", async () => {
    const s = await compact();
    const inv = builtinInvariants({ program: s.program!, ir: s.ir!, lists: s.lists! }).find((i) => i.id === "suppression-respected")!;
    const req = (id: string): TestRequest => ({ system: "crm-journeys", event: "marketing.daily_selection", now: "2026-10-01T12:00:00Z", context: { "customer.id": id } } as unknown as TestRequest);
    const sent = { outcome: "send", node: "cross-sell-home", channel: "email", reasons: [] } as unknown as Decision;
    expect(inv.check(req(filler[3]!), sent)).toContain("is on suppression list `pause-new-york`");
    expect(inv.check(req("C-NOT-LISTED"), sent) ?? "").not.toContain("pause-new-york");
  });

  for (const ev of evaluators) {
    it(`${ev.name}: waypost/suppressed finds listed keys (expiry honoured) and no others`, async () => {
      const s = await compact();
      const evaluate = await ev.prepare(s.ir!, { plan: s.ir!.plan, lists: s.lists!, revision: "compact" });
      const base = JSON.parse(readFileSync(new URL("../../examples/northwind/requests/crosssell-complaint-ended.json", import.meta.url), "utf8"));
      const on = async (id: string, now = "2026-10-01T12:00:00Z"): Promise<boolean> => {
        const r = structuredClone(base);
        r.now = now;
        r.context["customer.id"] = id;
        const out = (await evaluate(r, "waypost/suppressed")) as { lists: string[] };
        return out.lists.includes("pause-new-york");
      };
      for (const id of ["C-NY-OPEN", "KÉY-😀", "C-NBSP", "C-NY", filler[0]!, filler[filler.length - 1]!, filler[31_337]!]) expect(await on(id), id).toBe(true);
      for (const id of ["C-NY-SPRING", "C-NBSP-2\u00a0", " C-NY-OPEN", "C-NY-OPEN ", "00000000", filler[7]!.toUpperCase()]) expect(await on(id), JSON.stringify(id)).toBe(false);
      expect(await on("C-NY", "2026-11-02T05:00:00Z")).toBe(false); // expired exactly then
      expect(await on("C-NY", "2026-11-02T04:59:59.999Z")).toBe(true);
    });
  }
});
