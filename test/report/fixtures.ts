/**
 * Reports for the report tests: the example repository's report, and a diff report between two
 * commits of a scratch repository (the example, then a change that widens consent, shortens a
 * holdout and removes a journey node).
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { runCli } from "../support/cli.js";
import { scratchRepo, type Scratch } from "../git/scratch.js";

/** The change the diff tests review. */
export const CHANGE = {
  patches: [
    // SMS updates about claims no longer need consent (widening).
    { file: "policies/purposes.yaml", replace: "      channels: [sms, push]\n", with: "      channels: [push]\n" },
    { file: "journeys/cross-sell-home.yaml", replace: "holdout: 20%", with: "holdout: 10%" },
    { file: "policies/access.yaml", replace: "    deny: { nodes: [claim-update-day7] }\n", with: "" },
  ],
  remove: ["journeys/claim-update-day7.yaml"],
};

export async function diffRepo(): Promise<{ repo: Scratch; base: string; head: string }> {
  const repo = await scratchRepo("wp-report-");
  const base = repo.commits[0]!;
  const head = await repo.commit("Claims SMS without consent; smaller cross-sell holdout; no day-7 update", CHANGE);
  return { repo, base, head };
}

/** Writes the HTML diff of `diffRepo()` to `file`; returns the CLI result. */
export async function writeDiffHtml(repo: Scratch, base: string, head: string, file: string): Promise<{ code: number; stderr: string; html: string }> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const r = await runCli(["diff", base, head, "--repo", repo.dir, "--format", "html", "--runs", "300", "--out", file]);
  return { code: r.code, stderr: r.stderr, html: r.code === 0 ? await fs.readFile(file, "utf8") : "" };
}
