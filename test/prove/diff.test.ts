/**
 * `waypost diff --prove`: the solver's witnesses make a widening change visible whatever the
 * sample size (here: no generated requests at all), and an unchanged behaviour is proved so.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../../cli/main.js";
import { scratchRepo, type Scratch } from "../git/scratch.js";

async function cli(cwd: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

const HARDSHIP = `
  - id: hardship
    title: Customers in the financial hardship programme
    reason: Customers in hardship get no marketing or renewal pressure.
    match: customer.id
    scope: { channels: all, purposes: [marketing, renewal] }
    entries:
      - C-500001
      - C-500002
`;

const NEW_SYSTEM = `
  broker-portal:
    title: Broker portal (EU data centre)
    region: EU
    allow: { purposes: [renewal] }
`;

let repo: Scratch;
/** The commits, oldest first: hardship list, its scope narrowed, a wording change, a new system. */
const rev = { hardship: "", narrowed: "", wording: "", system: "", leaves: "", tokyo: "" };
beforeAll(async () => {
  repo = await scratchRepo("wp-prove-diff-");
  rev.hardship = await repo.commit("Hardship programme: no marketing or renewal contact", { patches: [{ file: "policies/suppressions.yaml", after: "lists:\n", with: HARDSHIP }] });
  rev.narrowed = await repo.commit("Hardship list scoped to texts and pushes only", { patches: [{ file: "policies/suppressions.yaml", replace: "scope: { channels: all, purposes: [marketing, renewal] }\n    entries:\n      - C-500001", with: "scope: { channels: [sms, push], purposes: [marketing, renewal] }\n    entries:\n      - C-500001" }] });
  rev.wording = await repo.commit("Friendlier renewal title", { patches: [{ file: "journeys/renewal-reminder-90.yaml", replace: "title: Renewal reminder 90 days before the policy renews", with: "title: Renewal reminder, 90 days out" }] });
  rev.system = await repo.commit("Brokers may send renewal reminders", { patches: [{ file: "policies/access.yaml", after: "systems:\n", with: NEW_SYSTEM.slice(1) }] });
  rev.leaves = await repo.commit("C-500001 leaves the hardship programme", { patches: [{ file: "policies/suppressions.yaml", replace: "      - C-500001\n", with: "" }] });
  rev.tokyo = await repo.commit("Customers in Tokyo", { patches: [{ file: "policies/data-dictionary.yaml", replace: "America/Los_Angeles]", with: "America/Los_Angeles, Asia/Tokyo]" }] });
}, 120_000);
afterAll(() => repo.cleanup());

interface Report {
  impact: { widening: number; flipped: number; groups: { from: string; to: string; node: string | null; channel: string | null; widening: boolean; by_origin: Record<string, number>; example: { origin: string; request: { system?: string; context: Record<string, unknown> } } }[] };
  proof: { widening: string; narrowing: string; witnesses: number; unknown: string[] };
}

describe("waypost diff --prove", () => {
  test("narrowing the hardship list's scope is labelled widening with a witness, with no generated requests at all", async () => {
    const plain = await cli(repo.dir, "diff", rev.hardship, rev.narrowed, "--format", "json", "--runs", "0");
    expect(plain.code, plain.err).toBe(0);
    expect((JSON.parse(plain.out) as Report).impact.widening).toBe(0); // the samples miss it
    const r = await cli(repo.dir, "diff", rev.hardship, rev.narrowed, "--format", "json", "--runs", "0", "--prove");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as Report;
    expect(report.proof.widening).toBe("found");
    expect(report.impact.widening).toBeGreaterThan(0);
    const wide = report.impact.groups.filter((g) => g.widening);
    // Every widening group is a message by email, or by letter where email consent is missing,
    // now sent to a listed hardship customer by a marketing or renewal journey; the solver's
    // witnesses found each of them.
    for (const g of wide) {
      expect(["email", "letter"]).toContain(g.channel);
      expect(g.by_origin["proof"]).toBeGreaterThan(0);
      expect(["cross-sell-home", "renewal-reminder-90"]).toContain(g.node);
      expect(["C-500001", "C-500002"]).toContain(g.example.request.context["customer.id"]);
    }
    expect(wide.some((g) => g.channel === "email")).toBe(true);
    // Nothing found stops sending. (Whether anything could is not settled for every node within
    // the time-out: an unknown is said so, with the reason, never reported as proved.)
    expect(report.impact.flipped).toBe(report.impact.widening);
    expect(["none", "unknown"]).toContain(report.proof.narrowing);
    for (const u of report.proof.unknown) expect(u).toMatch(/^(widening|narrowing) on `[a-z0-9-]+` via `[a-z]+` \(event `[a-z._]+`\): the solver gave up/);
    const md = await cli(repo.dir, "diff", rev.hardship, rev.narrowed, "--format", "markdown", "--runs", "0", "--prove", "--fail-on-widening");
    expect(md.code).toBe(1);
    expect(md.out).toContain("**Exact (every request, `--prove`):** requests newly sends: the solver's witnesses are among the flips above");
  }, 600_000);

  test("a wording change is proved to flip nothing in either direction", async () => {
    const r = await cli(repo.dir, "diff", rev.narrowed, rev.wording, "--runs", "0", "--prove");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^exact \(every request, --prove\): no request newly sends \(proved\); no request no longer sends \(proved\); 0 witness request\(s\)/m);
  }, 600_000);

  test("a system only the head knows is a widening: its witness comes from that system, which the base denies", async () => {
    const plain = await cli(repo.dir, "diff", rev.wording, rev.system, "--format", "json", "--runs", "0");
    expect(plain.code, plain.err).toBe(0);
    expect((JSON.parse(plain.out) as Report).impact.widening).toBe(0); // no example request comes from it
    const r = await cli(repo.dir, "diff", rev.wording, rev.system, "--format", "json", "--runs", "0", "--prove", "--timeout", "5000");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as Report;
    expect(report.proof.widening).toBe("found");
    const wide = report.impact.groups.filter((g) => g.widening);
    expect(wide.length).toBeGreaterThan(0);
    for (const g of wide) {
      expect(g.node).toBe("renewal-reminder-90");
      expect(g.from).toBe("deny");
      expect(g.example.request.system).toBe("broker-portal");
    }
    // Nothing the base sent stops (the other systems are unchanged): none found, and only the
    // renewal event, the one whose nodes the new system may call, was asked at all.
    expect(["none", "unknown"]).toContain(report.proof.narrowing);
    for (const u of report.proof.unknown) expect(u).toContain("(event `policy.daily_scan`)");
  }, 600_000);

  test("a list whose entries changed is never reported proved: the solver leaves both sides' content open alike", async () => {
    const r = await cli(repo.dir, "diff", rev.system, rev.leaves, "--format", "json", "--runs", "0", "--prove");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as Report;
    expect(report.proof.widening).toBe("unknown");
    expect(report.proof.narrowing).toBe("unknown");
    expect(report.proof.unknown).toEqual(["list `hardship`: its entries changed, which the solver does not compare (each side's content is left open alike); the entity diff counts the entries added and removed"]);
  }, 600_000);

  test("a dictionary change is never reported proved: requests only one version accepts are not compared", async () => {
    const r = await cli(repo.dir, "diff", rev.leaves, rev.tokyo, "--format", "json", "--runs", "0", "--prove", "--timeout", "500");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as Report;
    expect(report.proof.widening).not.toBe("none");
    expect(report.proof.narrowing).not.toBe("none");
    expect(report.proof.unknown).toContain("event `marketing.daily_selection`: its fields are read differently (the data dictionary or the fields the event carries changed), and requests only one version accepts are not compared");
  }, 600_000);

  test("`--timeout` is the solver's: without --prove, or not a whole number of ms from 1 to an hour, a usage error", async () => {
    const alone = await cli(repo.dir, "diff", "HEAD~1", "HEAD", "--runs", "0", "--timeout", "5000");
    expect(alone.code).toBe(2);
    expect(alone.err).toContain("give it with `--prove`");
    for (const bad of ["0", "1.5", "3600001"]) {
      const r = await cli(repo.dir, "diff", "HEAD~1", "HEAD", "--runs", "0", "--prove", "--timeout", bad);
      expect(r.code, bad).toBe(2);
      expect(r.err).toContain("`--timeout` must be a whole number of milliseconds from 1 to 3600000");
    }
  });

  test("bundle files cannot be proved (no plan to encode): a usage error", async () => {
    const r = await cli(repo.dir, "diff", "HEAD~1", "/nonexistent/bundle.tar.gz", "--prove");
    expect(r.code).toBe(2);
  });
});
