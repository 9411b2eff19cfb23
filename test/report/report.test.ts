/**
 * `waypost report` and `waypost diff --format html` without a browser: the model holds every
 * node and consent cell of the example, the HTML holds them too, is self-contained and
 * byte-for-byte reproducible, links go to the Git host or to relative paths, and the diff marks
 * what changed.
 */
import * as fsSync from "node:fs";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import git from "isomorphic-git";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { compile } from "../../compiler/pipeline.js";
import { FsHost } from "../../compiler/source.js";
import { buildReportModel, hrefOf, linkBaseFor, makeReport, webUrlOf, type ReportModel } from "../../lifecycle/report/index.js";
import { runCli } from "../support/cli.js";
import { EXAMPLE } from "../support/repo.js";
import type { Scratch } from "../git/scratch.js";
import { diffRepo, writeDiffHtml } from "./fixtures.js";

let tmp: string;
let model: ReportModel;
let html: string;

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "wp-report-"));
  ({ model, html } = await makeReport(EXAMPLE, tmp, { runs: 20 }));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe("the model", () => {
  test("every journey node, in arbitration order per event", async () => {
    const p = (await compile(new FsHost(EXAMPLE), { until: "Check" })).program!;
    const shown = model.events.flatMap((e) => e.nodes.map((n) => n.id)).sort();
    expect(shown).toEqual(p.nodes.map((n) => n.id).sort());
    for (const e of model.events) {
      for (let i = 1; i < e.nodes.length; i++) expect(e.nodes[i - 1]!.priority).toBeGreaterThanOrEqual(e.nodes[i]!.priority);
      expect(e.nodes.map((n) => n.rank)).toEqual(e.nodes.map((_, i) => i + 1));
    }
  });

  test("every purpose × channel × jurisdiction, consent as the purposes declare it", () => {
    expect(model.consent).toHaveLength(model.purposes.length * model.channels.length * model.jurisdictions.length);
    const cell = (p: string, c: string, j: string) => model.consent.find((x) => x.purpose === p && x.channel === c && x.jurisdiction === j)!;
    expect(cell("claims", "sms", "EU")).toMatchObject({ consent: true, basis: ["contract"] });
    expect(cell("claims", "email", "EU").consent).toBe(false);
    expect(cell("renewal", "email", "US").basis).toEqual(["contract", "legitimate_interests"]);
  });

  test("deny wins in field access; systems get the nodes plan.ts allows them", () => {
    const claim = model.access.fields.find((f) => f.name.startsWith("claim."))!;
    expect(claim.purposes.find((x) => x.purpose === "marketing")!.access).toBe("deny");
    expect(claim.purposes.find((x) => x.purpose === "claims")!.access).toBe("allow");
    expect(model.access.systems.every((s) => s.nodes.every((n) => model.events.some((e) => e.nodes.some((x) => x.id === n))))).toBe(true);
  });

  test("quality: the example's test cases and invariants ran and pass", () => {
    expect(model.quality.cases.length).toBeGreaterThan(10);
    expect(model.quality.cases.every((c) => c.ok)).toBe(true);
    expect(model.quality.invariants.length).toBeGreaterThan(0);
    expect(model.ok).toBe(true);
  });

  test("a repository with policy errors still gets a report, with the errors under Quality", async () => {
    const dir = await fs.mkdtemp(path.join(tmp, "broken-"));
    await fs.cp(EXAMPLE, dir, { recursive: true });
    const f = path.join(dir, "journeys", "renewal-reminder-90.yaml");
    await fs.writeFile(f, (await fs.readFile(f, "utf8")).replace("purpose: renewal", "purpose: renewals"));
    const m = await buildReportModel(new FsHost(dir), { runs: 5 });
    expect(m.ok).toBe(false);
    expect(m.quality.diagnostics.some((d) => d.severity === "error" && d.ref?.startsWith("journeys/renewal-reminder-90.yaml:"))).toBe(true);
    expect(m.quality.cases).toEqual([]);
  });
});

describe("the HTML", () => {
  test("holds every node and consent cell, each linked to its source", () => {
    for (const e of model.events) for (const n of e.nodes) expect(html).toContain(`data-node="${n.id}"`);
    for (const c of model.consent) expect(html).toContain(`data-cell="${c.purpose}/${c.channel}/${c.jurisdiction}"`);
    expect(html).toMatch(/<a class="src" href="[^"]*journeys\/cross-sell-home\.yaml">journeys\/cross-sell-home\.yaml:\d+<\/a>/);
  });

  test("is self-contained: nothing to fetch, and a CSP that forbids fetching", () => {
    expect(html).not.toMatch(/<(script|img|link|iframe)\b[^>]*\b(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\//i);
    expect(html).toContain(`default-src 'none'`);
  });

  test("the same sources give the same bytes", async () => {
    const again = await makeReport(EXAMPLE, tmp, { runs: 20 });
    expect(again.html).toBe(html);
    const cli1 = path.join(tmp, "a");
    const cli2 = path.join(tmp, "b");
    for (const out of [cli1, cli2]) expect((await runCli(["report", EXAMPLE, "--out", out, "--runs", "10"])).code).toBe(0);
    // Links are relative to each output folder, which sits at the same depth here.
    expect(await fs.readFile(path.join(cli1, "report.html"), "utf8")).toBe(await fs.readFile(path.join(cli2, "report.html"), "utf8"));
  });

  test("bad --prove input is an input error, good input shows under Quality", async () => {
    const bad = path.join(tmp, "prove-bad.json");
    await fs.writeFile(bad, `{"guarantees":[{"id":"x","status":"maybe"}]}`);
    const r = await runCli(["report", EXAMPLE, "--out", path.join(tmp, "p"), "--prove", bad, "--no-tests"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not prove output");
    const good = path.join(tmp, "prove.json");
    await fs.writeFile(good, JSON.stringify({ guarantees: [{ id: "no-contact-after-opt-out", status: "proved", statement: "opted-out customers are never contacted" }] }));
    expect((await runCli(["report", EXAMPLE, "--out", path.join(tmp, "p"), "--prove", good, "--no-tests"])).code).toBe(0);
    expect(await fs.readFile(path.join(tmp, "p", "report.html"), "utf8")).toContain("no-contact-after-opt-out");
  });
});

describe("links", () => {
  test("remote URLs become web URLs", () => {
    expect(webUrlOf("git@github.com:northwind/policies.git")).toBe("https://github.com/northwind/policies");
    expect(webUrlOf("https://token@github.com/northwind/policies.git")).toBe("https://github.com/northwind/policies");
    expect(webUrlOf("ssh://git@gitlab.example.com:2222/risk/policies")).toBe("https://gitlab.example.com/risk/policies");
    expect(webUrlOf("/srv/git/policies.git")).toBeNull();
  });

  test("a clean repository with a remote links to the host at HEAD; a dirty one links relatively", async () => {
    const { repo, head } = await diffRepo();
    try {
      await git.setConfig({ fs: fsSync, dir: repo.dir, path: "remote.origin.url", value: "git@github.com:northwind/policies.git" });
      const base = await linkBaseFor(repo.dir, path.join(repo.dir, "out"));
      expect(hrefOf(base, "journeys/cross-sell-home.yaml:12")).toBe(`https://github.com/northwind/policies/blob/${head}/journeys/cross-sell-home.yaml#L12`);
      await repo.patchWorkingTree([{ file: "journeys/cross-sell-home.yaml", replace: "priority: 10", with: "priority: 11" }]);
      const dirty = await linkBaseFor(repo.dir, path.join(repo.dir, "out"));
      expect(hrefOf(dirty, "journeys/cross-sell-home.yaml:12")).toBe("../journeys/cross-sell-home.yaml");
    } finally {
      await repo.cleanup();
    }
  });
});

describe("diff --format html", () => {
  let repo: Scratch;
  let diff: string;
  beforeAll(async () => {
    const d = await diffRepo();
    repo = d.repo;
    const r = await writeDiffHtml(repo, d.base, d.head, path.join(tmp, "diff", "diff.html"));
    expect(r.code, r.stderr).toBe(0);
    diff = r.html;
  });
  afterAll(async () => {
    await repo?.cleanup();
  });

  test("widening first, with the flipped groups and their example requests", () => {
    expect(diff).toContain(`class="warn"`);
    const first = /<tr data-flip="([^"]+)"[^>]*>/.exec(diff);
    expect(first?.[0]).toContain("widening");
    expect(diff).toMatch(/<details><summary>[^<]+<\/summary><pre>\{/);
    expect(diff.indexOf('id="risks"')).toBeLessThan(diff.indexOf('id="impact"'));
  });

  test("the views are marked: changed consent cells and nodes, removed nodes", () => {
    expect(diff).toMatch(/<td data-cell="claims\/sms\/EU" class="[^"]*mark-changed/);
    expect(diff).not.toMatch(/<td data-cell="claims\/push\/EU" class="[^"]*mark-/);
    expect(diff).toMatch(/<article id="node-cross-sell-home" data-node="cross-sell-home" class="node-card mark-changed">/);
    expect(diff).toMatch(/<article id="node-claim-update-day7" data-node="claim-update-day7" class="node-card mark-removed">/);
    expect(diff).toMatch(/<article id="node-renewal-reminder-90" data-node="renewal-reminder-90" class="node-card">/);
    expect(diff).toMatch(/data-entity="node:claim-update-day7" class="mark-removed"/);
  });

  test("with a remote: head entities link to the head commit, removed ones to the base commit", async () => {
    const d = await diffRepo();
    try {
      await git.setConfig({ fs: fsSync, dir: d.repo.dir, path: "remote.origin.url", value: "https://github.com/northwind/policies.git" });
      const r = await writeDiffHtml(d.repo, d.base, d.head, path.join(tmp, "diff-remote", "diff.html"));
      expect(r.code, r.stderr).toBe(0);
      const card = (id: string): string => {
        const i = r.html.indexOf(`data-node="${id}"`);
        return r.html.slice(i, r.html.indexOf("</article>", i));
      };
      expect(card("claim-update-day7")).toContain(`https://github.com/northwind/policies/blob/${d.base}/journeys/claim-update-day7.yaml#L`);
      expect(card("cross-sell-home")).toContain(`https://github.com/northwind/policies/blob/${d.head}/journeys/cross-sell-home.yaml#L`);
      expect(card("cross-sell-home")).not.toContain(d.base);
    } finally {
      await d.repo.cleanup();
    }
  });

  test("two bundle files: the risks, impact and entity changes, and no source views", async () => {
    const out = path.join(tmp, "bundles");
    expect((await runCli(["build", EXAMPLE, "--out", path.join(out, "a")])).code).toBe(0);
    const file = path.join(out, "diff.html");
    const r = await runCli(["diff", path.join(out, "a", "bundle.tar.gz"), path.join(out, "a", "bundle.tar.gz"), "--skip-verify", "--format", "html", "--runs", "20", "--out", file]);
    expect(r.code, r.stderr).toBe(0);
    const page = await fs.readFile(file, "utf8");
    expect(page).toContain(`id="impact"`);
    expect(page).toContain("No policy changes.");
    expect(page).toContain("need both sides as Git revisions");
    expect(page).not.toContain(`id="journeys"`);
  });

  test("is reproducible", async () => {
    const d2 = await writeDiffHtml(repo, repo.commits[0]!, repo.commits[1]!, path.join(tmp, "diff2", "diff.html"));
    expect(d2.html).toBe(diff);
  });
});
