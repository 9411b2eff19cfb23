/**
 * The example's report and a diff report in a real browser: headless Chromium (Debian's
 * `chromium` package) driven by playwright-core. Each view's content is asserted (every node,
 * every purpose × channel × jurisdiction cell), with no console errors, no request other than
 * the file itself (route interception aborts and records anything else), no serious or
 * critical axe-core violations; screenshots (the first screen and each view) are kept under test-artifacts/report/.
 * Without /usr/bin/chromium the tests are skipped with a message saying how to get it.
 */
import { existsSync, readFileSync } from "node:fs";
import { promises as fs } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { makeReport, type ReportModel } from "../../lifecycle/report/index.js";
import type { Scratch } from "../git/scratch.js";
import { EXAMPLE, ROOT } from "../support/repo.js";
import { diffRepo, writeDiffHtml } from "./fixtures.js";

const CHROMIUM = process.env["WAYPOST_CHROMIUM"] ?? "/usr/bin/chromium";
const HAVE = existsSync(CHROMIUM);
const ARTIFACTS = path.join(ROOT, "test-artifacts", "report");
if (!HAVE) {
  console.warn(`browser tests skipped: no Chromium at ${CHROMIUM} (install Debian's \`chromium\` package: apt-get install -y chromium; .ci/run does this as root)`);
}

const AXE = HAVE ? readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8") : "";

interface Watched {
  page: Page;
  errors: string[];
  outside: string[];
}

let ctx: BrowserContext;
let profile: string;

async function open(file: string): Promise<Watched> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  const outside: string[] = [];
  page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
  page.on("pageerror", (e) => void errors.push(String(e)));
  page.on("request", (r) => void (!r.url().startsWith("file://") && outside.push(r.url())));
  await page.route("**/*", (route) => (route.request().url().startsWith("file://") ? route.continue() : (outside.push(route.request().url()), route.abort())));
  await page.goto(pathToFileURL(file).href, { waitUntil: "load" });
  return { page, errors, outside };
}

async function axeViolations(page: Page): Promise<{ id: string; impact: string; nodes: string[] }[]> {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const r = await (globalThis as unknown as { axe: { run: (o: object) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run({ resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
}

/** The sticky navigation bar would cover the top of element screenshots. */
const unstick = (page: Page): Promise<void> => page.evaluate(() => void (document.querySelector("nav")!.style.position = "static"));

const serious = (vs: { impact: string }[]): unknown[] => vs.filter((v) => v.impact === "serious" || v.impact === "critical");

describe.skipIf(!HAVE)("in headless Chromium", () => {
  let model: ReportModel;
  let reportFile: string;
  let diffFile: string;
  let repo: Scratch;

  beforeAll(async () => {
    await fs.mkdir(ARTIFACTS, { recursive: true });
    const out = path.join(ARTIFACTS, "northwind");
    const r = await makeReport(EXAMPLE, out, { runs: 50 });
    model = r.model;
    reportFile = path.join(out, "report.html");
    await fs.mkdir(out, { recursive: true });
    await fs.writeFile(reportFile, r.html);
    const d = await diffRepo();
    repo = d.repo;
    diffFile = path.join(ARTIFACTS, "diff", "diff.html");
    const w = await writeDiffHtml(repo, d.base, d.head, diffFile);
    expect(w.code, w.stderr).toBe(0);
    profile = await fs.mkdtemp(path.join(os.tmpdir(), "wp-chromium-"));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });
  afterAll(async () => {
    await ctx?.close();
    if (profile) await fs.rm(profile, { recursive: true, force: true });
    await repo?.cleanup();
  });

  test("the example report: every view populated, no errors, no network, accessible", async () => {
    const { page, errors, outside } = await open(reportFile);
    // Journey map: one flow per event, every node's card and box, in arbitration order.
    expect(await page.locator("svg.flow").count()).toBe(model.events.length);
    for (const e of model.events) {
      const group = page.locator(`section.event-group[data-event="${e.event}"]`);
      expect(await group.locator("article.node-card").evaluateAll((as) => as.map((a) => a.getAttribute("data-node")))).toEqual(e.nodes.map((n) => n.id));
      const flow = (await group.locator("svg.flow").textContent()) ?? "";
      for (const n of e.nodes) {
        expect(flow).toContain(`${n.rank}. ${n.id}`);
        for (const c of n.channels) expect(flow).toContain(`${c.channel} ${c.offset}`);
        await expect(page.locator(`#node-${n.id} svg.timeline`).count()).resolves.toBe(1);
      }
    }
    // Consent matrix: every purpose × channel × jurisdiction cell, with what the model says.
    const cells = await page.locator("table.consent td[data-cell]").evaluateAll((tds) => Object.fromEntries(tds.map((td) => [td.getAttribute("data-cell"), td.textContent ?? ""])));
    expect(Object.keys(cells).sort()).toEqual(model.consent.map((c) => `${c.purpose}/${c.channel}/${c.jurisdiction}`).sort());
    for (const c of model.consent) {
      const text = cells[`${c.purpose}/${c.channel}/${c.jurisdiction}`]!;
      expect(text).toContain(c.consent ? "consent needed" : "no consent needed");
      for (const b of c.basis) expect(text).toContain(b);
    }
    // Suppression and access.
    const shown = await page.evaluate(() => {
      const attr = (sel: string, a: string): string[] => [...document.querySelectorAll(sel)].map((e) => e.getAttribute(a) ?? "");
      return { lists: attr("tr[data-list]", "data-list"), rules: attr("tr[data-rule]", "data-rule"), cells: attr("td[data-suppress]", "data-suppress"), systems: attr("tr[data-system]", "data-system"), fields: attr("tr[data-field]", "data-field") };
    });
    expect(shown.lists).toEqual(model.suppression.lists.map((l) => l.id));
    expect(shown.rules).toEqual(model.suppression.rules.map((r) => r.id));
    expect(shown.cells).toEqual(model.suppression.matrix.map((c) => `${c.purpose}/${c.channel}`));
    expect(shown.systems).toEqual(model.access.systems.map((x) => x.id));
    expect(shown.fields).toEqual(model.access.fields.map((f) => f.name));
    // Quality: every case passed.
    expect(await page.locator("#quality tr[data-case].pass").count()).toBe(model.quality.cases.length);
    // Links go to the sources.
    const hrefs = await page.locator("a.src").evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href));
    expect(hrefs.length).toBeGreaterThan(100);
    for (const h of hrefs) expect(h).toMatch(/^file:\/\/.*\/examples\/northwind\/(policies|journeys|tests)\//);
    // The filter box hides what does not match.
    await page.fill("#filter-input", "cross-sell-home");
    expect(await page.locator("article.node-card:visible").count()).toBe(1);
    await page.fill("#filter-input", "");

    await page.screenshot({ path: path.join(ARTIFACTS, "report-top.png") });
    await unstick(page);
    for (const id of ["journeys", "consent", "suppression", "quality"]) await page.locator(`#${id}`).screenshot({ path: path.join(ARTIFACTS, `report-${id}.png`) });
    const v = await axeViolations(page);
    await fs.writeFile(path.join(ARTIFACTS, "report-axe.json"), JSON.stringify(v, null, 2));
    expect(serious(v)).toEqual([]);
    expect(errors).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });

  test("the diff report: widening first, changes marked in every view, no errors, no network, accessible", async () => {
    const { page, errors, outside } = await open(diffFile);
    const flips = await page.locator("tr[data-flip]").evaluateAll((trs) => trs.map((tr) => tr.classList.contains("widening")));
    expect(flips.length).toBeGreaterThan(0);
    expect(flips[0]).toBe(true);
    expect(flips).toEqual([...flips].sort((a, b) => Number(b) - Number(a)));
    await page.locator("tr[data-flip] details summary").first().click();
    expect(await page.locator("tr[data-flip] details pre").first().textContent()).toContain('"event"');
    expect(await page.locator('li[data-risk="consent"]').count()).toBeGreaterThan(0);
    expect(await page.locator('td[data-cell="claims/sms/EU"]').getAttribute("class")).toContain("mark-changed");
    expect(await page.locator('td[data-cell="claims/sms/EU"]').textContent()).toContain("no consent needed");
    expect(await page.locator('article[data-node="claim-update-day7"]').getAttribute("class")).toContain("mark-removed");
    expect(await page.locator('article[data-node="cross-sell-home"]').getAttribute("class")).toContain("mark-changed");
    expect(await page.locator('article[data-node="renewal-reminder-90"]').getAttribute("class")).toBe("node-card");
    expect(await page.locator('tr[data-entity="system:us-engagement"]').count()).toBe(1);
    expect(await page.locator('tr[data-entity="node:claim-update-day7"] .badge').textContent()).toBe("removed");

    await page.screenshot({ path: path.join(ARTIFACTS, "diff-top.png") });
    await unstick(page);
    for (const id of ["risks", "impact", "changes", "consent"]) await page.locator(`#${id}`).screenshot({ path: path.join(ARTIFACTS, `diff-${id}.png`) });
    await page.locator('section.event-group[data-event="claim.daily_check"]').screenshot({ path: path.join(ARTIFACTS, "diff-journey-claims.png") });
    const v = await axeViolations(page);
    await fs.writeFile(path.join(ARTIFACTS, "diff-axe.json"), JSON.stringify(v, null, 2));
    expect(serious(v)).toEqual([]);
    expect(errors).toEqual([]);
    expect(outside).toEqual([]);
    await page.close();
  });

  test("a page that reaches out is caught (the network check can fail)", async () => {
    const file = path.join(ARTIFACTS, "reaches-out.html");
    await fs.writeFile(file, `<!doctype html><html lang="en"><title>x</title><img alt="x" src="http://127.0.0.1:9/x.png"></html>`);
    const { page, outside } = await open(file);
    expect(outside.some((u) => u.startsWith("http://127.0.0.1:9/"))).toBe(true);
    await page.close();
  });
});
