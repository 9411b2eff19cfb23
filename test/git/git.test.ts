/**
 * Every change a Git artifact (issue 5): builds from commits, semantic diff with decision
 * impact, replay of a decision log, releases and rollback with a watching runtime, node
 * history, and the errors for bad repositories, revisions and logs.
 */
import * as fsSync from "node:fs";
import { promises as fs } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { generateRequests } from "../../lifecycle/diff/impact.js";
import { nodeHistory, openRepo, resolveRevision } from "../../lifecycle/git.js";
import type { BundleData, JsonValue } from "../../compiler/ir/ir.js";
import { decodeBundleData } from "../../compiler/ir/reason-table.js";
import { readStore } from "../../lifecycle/release.js";
import { main } from "../../cli/main.js";
import { createEngine, loadBundle, readBundle } from "../../runtime/index.js";
import { watchStore, type StoreEvent } from "../../runtime/store.js";
import { scratchRepo, type Scratch } from "./scratch.js";

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(cwd: string, ...argv: string[]): Promise<Run> {
  let out = "";
  let err = "";
  const code = await main(argv, { cwd, stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

const FRAUD_SCOPE = { file: "policies/suppressions.yaml", replace: "purposes: [marketing, onboarding, renewal] }", with: "purposes: [marketing, onboarding] }" };

let repo: Scratch;
let tmp: string;
let c1: string; // the example policies
let c2: string; // fraud investigations no longer pause renewals
let c3: string; // a node's wording changes (no behaviour change)

beforeAll(async () => {
  repo = await scratchRepo();
  c1 = repo.commits[0]!;
  c2 = await repo.commit("Fraud investigations no longer pause renewal reminders", { patches: [FRAUD_SCOPE] });
  c3 = await repo.commit("Friendlier renewal title", {
    patches: [{ file: "journeys/renewal-reminder-90.yaml", replace: "title: Renewal reminder 90 days before the policy renews", with: "title: Renewal reminder, 90 days out" }],
  });
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "wp-git-out-"));
});

afterAll(async () => {
  await repo.cleanup();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("build --rev", () => {
  test("the same commit gives byte-identical bundles, from any clone; the manifest records the commit", async () => {
    const a = await cli(repo.dir, "build", "--rev", c1.slice(0, 10), "--out", path.join(tmp, "a"), "--format", "json");
    expect(a.code, a.err).toBe(0);
    const b = await cli(repo.dir, "build", "--rev", "HEAD~2", "--out", path.join(tmp, "b"));
    expect(b.code, b.err).toBe(0);
    // A second repository made the same way (another machine) has the same commit ids.
    const other = await scratchRepo("wp-git-other-");
    try {
      expect(other.commits[0]).toBe(c1);
      const c = await cli(other.dir, "build", "--rev", "main", "--out", path.join(tmp, "c"));
      expect(c.code, c.err).toBe(0);
    } finally {
      await other.cleanup();
    }
    const bytes = await Promise.all(["a", "b", "c"].map((d) => fs.readFile(path.join(tmp, d, "bundle.tar.gz"))));
    expect(Buffer.compare(bytes[0]!, bytes[1]!)).toBe(0);
    expect(Buffer.compare(bytes[0]!, bytes[2]!)).toBe(0);
    const { manifest } = await readBundle(bytes[0]!, { skipVerify: true });
    expect(manifest.revision).toBe(c1);
    expect(manifest.metadata["git_commit"]).toBe(c1);
    expect(manifest.metadata["git_author_date"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(String(manifest.metadata["source_digest"])).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(manifest.metadata["dirty"]).toBeUndefined();
  });

  test("reads the commit, not the working directory; a dirty checkout is refused for HEAD unless --allow-dirty", async () => {
    await repo.patchWorkingTree([{ file: "journeys/renewal-reminder-90.yaml", replace: "priority: 50", with: "priority: 51" }]);
    try {
      const older = await cli(repo.dir, "build", "--rev", "HEAD~1", "--out", path.join(tmp, "older"));
      expect(older.code, older.err).toBe(0);
      const refused = await cli(repo.dir, "build", "--rev", "HEAD", "--out", path.join(tmp, "dirty"));
      expect(refused.code).toBe(2);
      expect(refused.err).toContain("error[WP5005]: uncommitted changes to policy files: `journeys/renewal-reminder-90.yaml`");
      expect(refused.err).toContain("help: commit them");
      expect(fsSync.existsSync(path.join(tmp, "dirty", "bundle.tar.gz"))).toBe(false);
      const allowed = await cli(repo.dir, "build", "--rev", "HEAD", "--allow-dirty", "--out", path.join(tmp, "dirty"));
      expect(allowed.code, allowed.err).toBe(0);
      const { manifest, data } = await readBundle(await fs.readFile(path.join(tmp, "dirty", "bundle.tar.gz")), { skipVerify: true });
      expect(manifest.revision).toMatch(new RegExp(`^${c3}-dirty-[0-9a-f]{12}$`));
      expect(manifest.metadata["dirty"]).toBe(true);
      expect(manifest.metadata["dirty_files"]).toEqual(["journeys/renewal-reminder-90.yaml"]);
      const node = decodeBundleData(data["waypost"]).plan.nodes.find((n) => n.id === "renewal-reminder-90");
      expect(node?.priority).toBe(51); // the working tree was built
    } finally {
      await repo.patchWorkingTree([{ file: "journeys/renewal-reminder-90.yaml", replace: "priority: 51", with: "priority: 50" }]);
    }
  });
});

describe("diff", () => {
  test("a node leaving a suppression scope: flipped decisions with an example, flagged widening and for approval", async () => {
    const r = await cli(repo.dir, "diff", c1, c2, "--format", "json", "--runs", "1500", "--seed", "7");
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.entities).toEqual([
      expect.objectContaining({
        kind: "suppression-list",
        id: "fraud-suspected",
        change: "modified",
        properties: [{ path: "scope.purposes", before: '["marketing","onboarding","renewal"]', after: '["marketing","onboarding"]', ref: "policies/suppressions.yaml:28" }],
      }),
    ]);
    expect(report.risks.map((k: { kind: string }) => k.kind)).toEqual(["widening", "suppression-scope"]);
    expect(report.impact.flipped).toBeGreaterThan(0);
    expect(report.impact.widening).toBe(report.impact.flipped);
    const g = report.impact.groups[0];
    expect(g).toMatchObject({ from: "suppress", to: "send", node: "renewal-reminder-90", widening: true });
    // The minimal example: a fraud-list customer due a renewal reminder.
    expect(g.example.request.context["customer.id"]).toMatch(/^C-3001(01|77)$/);
    expect(g.example.before.outcome).toBe("suppress");
    expect(g.example.after.outcome).toBe("send");
    expect(g.example.before.reasons.map((x: { code: string }) => x.code)).toContain("suppressed");
    // Same seed, same report.
    const again = await cli(repo.dir, "diff", c1, c2, "--format", "json", "--runs", "1500", "--seed", "7");
    expect(again.out).toBe(r.out);
  });

  test("markdown for the pull request puts widening and approvals first", async () => {
    const r = await cli(repo.dir, "diff", "HEAD~2", "HEAD~1", "--format", "markdown", "--runs", "1000");
    expect(r.code, r.err).toBe(0);
    const md = r.out;
    expect(md.indexOf("widening change")).toBeLessThan(md.indexOf("### Decision impact"));
    expect(md.indexOf("### Needs extra approval")).toBeLessThan(md.indexOf("### Decision impact"));
    expect(md).toContain("| ⚠️ widening | suppress → send | `renewal-reminder-90` | `email` |");
    expect(md).toContain("**suppression-list `fraud-suspected`** modified (`policies/suppressions.yaml:24`)");
  });

  test("a wording change flips nothing; bundles can be diffed too", async () => {
    const r = await cli(repo.dir, "diff", c2, c3, "--format", "json", "--runs", "500");
    const report = JSON.parse(r.out);
    expect(report.impact.flipped).toBe(0);
    expect(report.entities).toEqual([expect.objectContaining({ kind: "node", id: "renewal-reminder-90", properties: [expect.objectContaining({ path: "title", ref: "journeys/renewal-reminder-90.yaml:5" })] })]);
    const b = await cli(repo.dir, "diff", await bundleOf("a", c1), await bundleOf("d2", c2), "--format", "json", "--runs", "1000", "--skip-verify");
    expect(b.code, b.err).toBe(0);
    const br = JSON.parse(b.out);
    expect(br.view).toBe("bundle");
    expect(br.impact.groups[0]).toMatchObject({ from: "suppress", to: "send", node: "renewal-reminder-90", widening: true });
    expect(br.entities.map((e: { kind: string; id: string }) => `${e.kind}:${e.id}`)).toEqual(["node:renewal-reminder-90"]);
  });

  test("list entries are counted, not dumped", async () => {
    const s = await scratchRepo("wp-git-list-");
    try {
      await s.commit("Two more fraud cases, one closed", {
        patches: [{ file: "policies/suppressions.yaml", replace: "      - C-300101\n", with: "      - C-300900\n      - C-300901\n" }],
      });
      const r = await cli(s.dir, "diff", "HEAD~1", "HEAD", "--format", "json", "--runs", "0");
      const report = JSON.parse(r.out);
      expect(report.entities).toEqual([expect.objectContaining({ kind: "suppression-list", id: "fraud-suspected", properties: [], entries: { added: 2, removed: 1, expiry_changed: 0 } })]);
      expect(r.out).not.toContain("C-300900");
      // The removed id is the policy tests' fraud customer: its case now sends, flagged widening.
      expect(report.risks).toEqual([
        expect.objectContaining({ kind: "widening" }),
        expect.objectContaining({ kind: "suppression-scope", message: "suppression list `fraud-suspected`: 1 entry removed" }),
      ]);
      expect(report.impact.groups[0]).toMatchObject({ from: "suppress", to: "send", widening: true, example: { origin: "test" } });
    } finally {
      await s.cleanup();
    }
  });
});

/**
 * Traffic for replay tests: the example requests and generated ones, decided by the runtime
 * with a decision log. Counts the fraud-listed renewals it suppressed (what the candidate flips).
 */
const LOG_KEY = new Uint8Array(32).fill(0x4c);
const PSEUDONYM_KEY = new Uint8Array(32).fill(0x50);

/** The log and pseudonymisation keys logTraffic uses, as key files for the CLI. */
async function keyFiles(): Promise<{ logKey: string; pseudonymKey: string }> {
  const logKey = path.join(tmp, "log.key");
  const pseudonymKey = path.join(tmp, "pseudonym.key");
  await fs.writeFile(logKey, Buffer.from(LOG_KEY).toString("hex") + "\n");
  await fs.writeFile(pseudonymKey, Buffer.from(PSEUDONYM_KEY).toString("hex") + "\n");
  return { logKey, pseudonymKey };
}

async function logTraffic(bundle: string, log: string, opts: { seed: number; runs: number; replayKey?: Uint8Array }): Promise<{ examples: JsonValue[]; suppressedRenewals: number }> {
  const examples = fsSync.readdirSync(path.join(repo.dir, "requests")).filter((f) => !f.endsWith(".expected.json")).sort()
    .map((f) => JSON.parse(fsSync.readFileSync(path.join(repo.dir, "requests", f), "utf8")) as JsonValue);
  const { data } = await readBundle(await fs.readFile(bundle), { skipVerify: true });
  // data.json's plan as encoded (node table, reason table): decoded, as `waypost diff` does.
  const generated = await generateRequests({ plans: [decodeBundleData((data as unknown as { waypost: BundleData }).waypost)], seeds: examples, seed: opts.seed, runs: opts.runs });
  const engine = await loadBundle(bundle, { skipVerify: true, log, logKey: LOG_KEY, pseudonymKey: PSEUDONYM_KEY, ...(opts.replayKey ? { replayKey: opts.replayKey } : {}) });
  let suppressedRenewals = 0;
  for (const req of [...examples, ...generated.map((g) => g.request)]) {
    const d = await engine.decideDurable(req);
    const r = req as { context?: Record<string, unknown> };
    if (d.outcome === "suppress" && d.node === "renewal-reminder-90" && /^C-3001/.test(String(r.context?.["customer.id"]))) suppressedRenewals++;
  }
  await engine.close();
  return { examples, suppressedRenewals };
}

describe("replay", () => {
  test("a decision log replays with zero changes on its own bundle and the right ones on a candidate", async () => {
    const bundleA = await bundleOf("a", c1);
    const bundleB = await bundleOf("d2", c2);
    const log = path.join(tmp, "decisions.jsonl");
    const { examples, suppressedRenewals } = await logTraffic(bundleA, log, { seed: 3, runs: 400 });
    expect(suppressedRenewals).toBeGreaterThan(0);
    // Verified under the log key first; masked ids found on the lists through the pseudonym key.
    const k = await keyFiles();
    const keys = ["--log-key", k.logKey, "--pseudonym-key", k.pseudonymKey];

    const same = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleA, "--format", "json", ...keys);
    expect(same.code, same.err).toBe(0);
    const s = JSON.parse(same.out);
    expect(s.log_integrity).toMatchObject({ proven: true, integrity: "macs-verified" });
    expect(s.entries).toBe(examples.length + 400);
    expect(s.impact.flipped).toBe(0);
    // Masked context values (hashed timestamps, redacted ages) change many replayed decisions:
    // those are counted as approximate, never as changes.
    expect(s.exact).toBeGreaterThan(0);
    expect(s.exact + s.approximate).toBe(s.entries);
    console.log(`replay on the same bundle: ${s.entries} entries, ${s.exact} exact, ${s.approximate} approximate, ${s.impact.flipped} flipped`);

    const cand = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleB, "--baseline", bundleA, "--format", "json", ...keys);
    expect(cand.code, cand.err).toBe(0);
    const c = JSON.parse(cand.out);
    expect(c.impact.groups.map((g: { from: string; to: string; node: string; widening: boolean }) => [g.from, g.to, g.node, g.widening])).toEqual([["suppress", "send", "renewal-reminder-90", true]]);
    expect(c.impact.flipped).toBe(suppressedRenewals);
    const text = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleB, "--baseline", bundleA, ...keys);
    expect(text.out).toContain(`⚠ widening suppress → send · node renewal-reminder-90 · channel email: ${suppressedRenewals}`);
  });

  test("with the replay key the sealed, unmasked requests replay exactly", async () => {
    const bundleA = await bundleOf("a", c1);
    const bundleB = await bundleOf("d2", c2);
    const log = path.join(tmp, "sealed.jsonl");
    const keyFile = path.join(tmp, "replay.key");
    await fs.writeFile(keyFile, "7f".repeat(32) + "\n");
    const { examples, suppressedRenewals } = await logTraffic(bundleA, log, { seed: 3, runs: 400, replayKey: Uint8Array.from(Buffer.from("7f".repeat(32), "hex")) });
    // The traffic must hold renewals the fraud list suppresses, or the flip below proves nothing.
    expect(suppressedRenewals).toBeGreaterThan(0);
    // The readable request stays masked; the sealed copy is opaque.
    const first = JSON.parse(fsSync.readFileSync(log, "utf8").split("\n")[0]!);
    expect(typeof first.sealed).toBe("string");
    expect(JSON.stringify(first.request)).not.toContain("C-2");

    const k = await keyFiles();
    const same = JSON.parse((await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleA, "--replay-key", keyFile, "--log-key", k.logKey, "--format", "json")).out);
    expect(same.entries).toBe(examples.length + 400);
    expect([same.exact, same.approximate, same.impact.flipped]).toEqual([same.entries, 0, 0]);
    const cand = JSON.parse((await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleB, "--baseline", bundleA, "--replay-key", keyFile, "--log-key", k.logKey, "--format", "json")).out);
    expect(cand.exact).toBe(cand.entries);
    expect(cand.impact.groups.map((g: { from: string; to: string; node: string }) => [g.from, g.to, g.node])).toEqual([["suppress", "send", "renewal-reminder-90"]]);
    expect(cand.impact.flipped).toBe(suppressedRenewals);

    await fs.writeFile(keyFile, "00".repeat(32));
    const wrong = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleA, "--replay-key", keyFile);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain("does not open with this key");

    // An erasure request for one customer: their entries lose the sealed request and the
    // pseudonyms; the log still verifies under the key, and replay skips them with a note.
    await fs.writeFile(keyFile, "7f".repeat(32) + "\n");
    const customer = String((examples[0] as { context: Record<string, unknown> }).context["customer.id"]);
    const erase = await cli(repo.dir, "log", "erase", log, "--field", `customer.id=${customer}`, "--log-key", k.logKey, "--pseudonym-key", k.pseudonymKey, "--format", "json");
    expect(erase.code, erase.err).toBe(0);
    const erased = JSON.parse(erase.out);
    expect(erased).toMatchObject({ verifies: true, entries: same.entries });
    expect(erased.erased).toBeGreaterThan(0);
    expect(fsSync.readFileSync(log, "utf8")).toContain('"erased"');
    const verified = await cli(repo.dir, "log", "verify", log, "--log-key", k.logKey);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toContain(`${erased.erased} entr`);
    const after = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", bundleA, "--replay-key", keyFile, "--log-key", k.logKey);
    expect(after.code, after.err).toBe(0);
    expect(after.out).toContain(`note: ${erased.erased} erased entr`);
    expect(after.out).toContain(`(${same.entries - erased.erased} entries;`);
  });

  test("a line that is not a decision is an error with its line number; nothing is evaluated", async () => {
    const log = path.join(tmp, "bad.jsonl");
    await fs.writeFile(log, '{"hello": "world"}\n');
    const r = await cli(repo.dir, "replay", "--skip-verify", "--log", log, "--bundle", await bundleOf("a", c1));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^error\[WP5008\]: .*bad\.jsonl:1: the line is not a decision log entry: keys must be exactly seq, ts/);
    expect(r.err).toContain("help: give a log written by the Waypost runtime");
    const missing = await cli(repo.dir, "replay", "--skip-verify", "--log", path.join(tmp, "nope.jsonl"), "--bundle", path.join(tmp, "a", "bundle.tar.gz"));
    expect(missing.err).toContain("error[WP5008]: cannot read the decision log");
    await fs.writeFile(path.join(tmp, "not-a-bundle.tar.gz"), "nope");
    const badBundle = await cli(repo.dir, "diff", path.join(tmp, "not-a-bundle.tar.gz"), "HEAD", "--runs", "0", "--skip-verify");
    expect(badBundle.code).toBe(2);
    expect(badBundle.err).toContain("error[WP5007]");
  });
});

describe("release and rollback", () => {
  test("rollback switches a watching runtime back within one poll interval", async () => {
    const store = path.join(tmp, "store");
    expect((await cli(repo.dir, "release", "--store", store, "--rev", c1)).code).toBe(0);
    const engine = createEngine({ skipVerify: true });
    const events: StoreEvent[] = [];
    // Long enough that "by the next poll" (≤ interval + slack) cannot be confused with the one
    // after it (2 × interval), even on a loaded CI machine.
    const interval = 600;
    const watcher = watchStore(engine, store, { intervalMs: interval, onEvent: (e) => events.push(e) });
    try {
      await waitFor(() => engine.revision === c1, 2000);
      const r2 = await cli(repo.dir, "release", "--store", store, "--rev", c2);
      expect(r2.code, r2.err).toBe(0);
      expect(r2.out).toContain(`current: ${c2} (was ${c1})`);
      await waitFor(() => engine.revision === c2, 2000);
      const t0 = Date.now();
      const rb = await cli(repo.dir, "rollback", "--store", store);
      expect(rb.out).toBe(`✔ rolled back: current is ${c1} (was ${c2})\n`);
      await waitFor(() => engine.revision === c1, interval * 3);
      const took = Date.now() - t0;
      expect(took).toBeLessThanOrEqual(interval + 300);
      // A damaged bundle: the runtime keeps the last good one.
      const idx = await readStore(store);
      expect(idx.ok && idx.value.releases.map((r) => r.revision)).toEqual([c1, c2]);
      await fs.writeFile(path.join(store, "bundles", `${c2}.tar.gz`), "corrupt");
      const bad = await cli(repo.dir, "rollback", "--store", store, "--to", c2.slice(0, 8));
      expect(bad.code).toBe(2);
      expect(bad.err).toContain("does not match its digest in the index");
      const index = JSON.parse(await fs.readFile(path.join(store, "index.json"), "utf8"));
      index.current = c2; // as if another tool pointed at the damaged bundle
      await fs.writeFile(path.join(store, "index.json"), JSON.stringify(index));
      await watcher.poll();
      expect(engine.revision).toBe(c1);
      expect(events.at(-1)).toMatchObject({ type: "rejected", revision: c2, active: c1, error: { code: "WPS002" } });
      expect(events.filter((e) => e.type === "activated").map((e) => (e as { revision: string }).revision)).toEqual([c1, c2, c1]);
      console.log(`rollback → active after ${took} ms (poll interval ${interval} ms)`);
    } finally {
      watcher.stop();
    }
  });

  test("release refuses a dirty checkout; errors leave the store untouched", async () => {
    const store = path.join(tmp, "store2");
    await repo.patchWorkingTree([{ file: "policies/contact.yaml", replace: "max: 3", with: "max: 4" }]);
    try {
      const r = await cli(repo.dir, "release", "--store", store);
      expect(r.code).toBe(2);
      expect(r.err).toContain("error[WP5005]");
      expect(fsSync.existsSync(path.join(store, "index.json"))).toBe(false);
    } finally {
      await repo.patchWorkingTree([{ file: "policies/contact.yaml", replace: "max: 4", with: "max: 3" }]);
    }
    const first = await cli(repo.dir, "rollback", "--store", path.join(tmp, "store"), "--to", "deadbeef");
    expect(first.err).toContain("error[WP5010]: the revision `deadbeef` is not in the artifact store");
    const none = await cli(repo.dir, "release", "--store", store, "--rev", c1);
    expect(none.code).toBe(0);
    const nothing = await cli(repo.dir, "rollback", "--store", store);
    expect(nothing.err).toContain("error[WP5011]");
  });

  test("the runtime follows an HTTP bundle URL with ETag", async () => {
    const bundles = [await fs.readFile(await bundleOf("a", c1)), await fs.readFile(await bundleOf("d2", c2))];
    let current = 0;
    let notModified = 0;
    const server = http.createServer((req, res) => {
      const etag = `"${current}"`;
      if (req.headers["if-none-match"] === etag) {
        notModified++;
        res.writeHead(304).end();
        return;
      }
      res.writeHead(200, { etag, "content-type": "application/gzip" }).end(bundles[current]);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/waypost.tar.gz`;
    const engine = createEngine({ skipVerify: true });
    const w = watchStore(engine, url, { intervalMs: 60_000 });
    try {
      await w.poll();
      await waitFor(() => engine.revision === c1, 2000);
      await w.poll();
      expect(notModified).toBeGreaterThan(0);
      current = 1;
      await w.poll();
      expect(engine.revision).toBe(c2);
    } finally {
      w.stop();
      server.close();
    }
  });
});

describe("history", () => {
  test("lists the commits that changed a node, with author, date and message", async () => {
    const r = await cli(repo.dir, "history", "renewal-reminder-90", "--format", "json");
    expect(r.code, r.err).toBe(0);
    const h = JSON.parse(r.out);
    expect(h.map((x: { commit: string; change: string }) => [x.commit, x.change])).toEqual([[c3, "modified"], [c1, "added"]]);
    expect(h[0]).toMatchObject({ author: { name: "Ada Reviewer", email: "ada@northwind.example" }, message: "Friendlier renewal title", file: "journeys/renewal-reminder-90.yaml" });
    const text = await cli(repo.dir, "history", "renewal-reminder-90");
    expect(text.out).toContain("modified Ada Reviewer <ada@northwind.example>\n    Friendlier renewal title  (journeys/renewal-reminder-90.yaml)");
    const unknown = await cli(repo.dir, "history", "renewal-reminder-900");
    expect(unknown.err).toContain("error[WP5012]: no commit of `HEAD` defines the journey node `renewal-reminder-900`");
  });
});

describe("bad repositories and revisions", () => {
  test("unknown revisions", async () => {
    const r = await cli(repo.dir, "build", "--rev", "no-such-branch");
    expect(r.code).toBe(2);
    expect(r.err).toBe("error[WP5002]: unknown revision `no-such-branch`\n  = help: give a branch, a tag or a commit id; list them with `git log --oneline --all`\n");
    const past = await cli(repo.dir, "diff", "HEAD~5", "HEAD");
    expect(past.err).toContain("error[WP5002]: `HEAD~5` does not exist");
  });

  test("a folder that is not a repository", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "wp-norepo-"));
    try {
      const r = await cli(dir, "history", "renewal-reminder-90");
      expect(r.err).toMatch(/^error\[WP5001\]: `.*` is not inside a Git repository/);
      const b = await cli(dir, "build", "--rev", "HEAD");
      expect(b.code).toBe(2);
      expect(b.err).toContain("error[WP5001]");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test("a corrupt repository: missing objects are WP5004, nothing is written", async () => {
    const s = await scratchRepo("wp-git-corrupt-");
    try {
      // Delete the blob of one policy file.
      const r = await openRepo(s.dir);
      if (!r.ok) throw new Error("no repo");
      const { blob: _b, oid } = await git.readBlob({ fs: fsSync, dir: s.dir, oid: s.commits[0]!, filepath: "policies/contact.yaml" });
      await fs.rm(path.join(s.dir, ".git", "objects", oid.slice(0, 2), oid.slice(2)));
      const out = path.join(s.dir, "out-corrupt");
      const b = await cli(s.dir, "build", "--rev", "HEAD", "--out", out);
      expect(b.code).toBe(2);
      expect(b.err).toContain("error[WP5004]: the repository is corrupt: cannot read `policies/contact.yaml` at commit");
      expect(b.err).toContain("help: run `git fsck`");
      expect(fsSync.existsSync(out)).toBe(false);
      // A ref naming a missing commit.
      await fs.writeFile(path.join(s.dir, ".git", "refs", "heads", "broken"), "0123456789012345678901234567890123456789\n");
      const ref = await cli(s.dir, "diff", "broken", "HEAD");
      expect(ref.err).toContain("error[WP5004]");
    } finally {
      await s.cleanup();
    }
  });

  test("a revision with policy errors is WP5006: diff names the first error and where it is", async () => {
    const s = await scratchRepo("wp-git-broken-");
    try {
      await s.commit("misspelt purpose", { patches: [{ file: "journeys/renewal-reminder-90.yaml", replace: "purpose: renewal", with: "purpose: renewals" }] });
      const d = await cli(s.dir, "diff", "HEAD~1", "HEAD");
      expect(d.code).toBe(2);
      expect(d.err).toMatch(/^error\[WP5006\]: `HEAD` has 1 policy error; first: WP3010 unknown purpose `renewals` \(journeys\/renewal-reminder-90\.yaml:7/);
      expect(d.err).toContain("help: run `waypost build --rev HEAD` to see them all");
    } finally {
      await s.cleanup();
    }
  });

  test("a shallow clone: history past its boundary is WP5003", async () => {
    const s = await scratchRepo("wp-git-shallow-");
    try {
      await s.commit("second", { patches: [FRAUD_SCOPE] });
      await fs.writeFile(path.join(s.dir, ".git", "shallow"), `${s.commits[1]}\n`);
      const r = await openRepo(s.dir);
      if (!r.ok) throw new Error("no repo");
      const past = await resolveRevision(r.value, "HEAD~1");
      expect(past).toMatchObject({ ok: false, error: { code: "WP5003" } });
      const h = await nodeHistory(r.value, "HEAD", "renewal-reminder-90");
      expect(h).toMatchObject({ ok: false, error: { code: "WP5003", help: "fetch the full history with `git fetch --unshallow`" } });
      const b = await cli(s.dir, "build", "--rev", "HEAD", "--out", path.join(s.dir, "o"));
      expect(b.code, b.err).toBe(0); // the commit itself is complete
    } finally {
      await s.cleanup();
    }
  });
});

/** The bundle of a commit, built once into tmp/<name>. */
async function bundleOf(name: string, rev: string): Promise<string> {
  const file = path.join(tmp, name, "bundle.tar.gz");
  if (!fsSync.existsSync(file)) {
    const r = await cli(repo.dir, "build", "--rev", rev, "--out", path.join(tmp, name));
    if (r.code !== 0) throw new Error(r.err);
  }
  return file;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
