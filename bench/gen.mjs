// Generated policy repositories for `npm run bench`: copies of the example repository with N
// extra journey nodes, or with a suppression list of N hashed ids. Everything is derived from
// the example, so a generated repository checks and builds like the example does.
import { mkdtempSync, cpSync, writeFileSync, readFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const EXAMPLE = path.join(ROOT, "examples", "northwind");

export function repoCopy(extra) {
  const dir = mkdtempSync(path.join(tmpdir(), "waypost-bench-"));
  for (const d of ["policies", "journeys", "requests"]) cpSync(path.join(EXAMPLE, d), path.join(dir, d), { recursive: true });
  extra?.(dir);
  return dir;
}

/** Events the generated nodes trigger on: node i is on `gen.event_<i % EVENTS>`. */
export const EVENTS = 100;

/**
 * The example plus `n` copies of claim-update-day3: node i triggers on gen.event_(i % 100) when
 * `days_since(claim.opened_at) == floor(i / 100)`, with priority 100 + floor(i / 100). Each
 * event has n / 100 candidates; a request with the claim opened today (0 days) fails every
 * candidate's trigger but the lowest-priority one, so it considers all of them (genRequest).
 */
export function nodeRepo(n) {
  const template = readFileSync(path.join(EXAMPLE, "journeys/claim-update-day3.yaml"), "utf8");
  return repoCopy((dir) => {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(i / EVENTS);
      writeFileSync(path.join(dir, "journeys", `gen-${i}.yaml`), template
        .replace("id: claim-update-day3", `id: gen-node-${i}`)
        .replace("event: claim.daily_check", `event: gen.event_${i % EVENTS}`)
        .replace("priority: 60", `priority: ${100 + j}`)
        .replace("== 3", `== ${j}`));
    }
  });
}

/** A request on gen.event_7 that reaches the last of the event's candidates and is sent. */
export function genRequest() {
  const r = JSON.parse(readFileSync(path.join(EXAMPLE, "requests/claim-day3-sms.json"), "utf8"));
  r.event = "gen.event_7";
  r.context["claim.opened_at"] = "2026-11-25T09:30:00Z"; // the day of `now`: 0 days
  return r;
}

export const hashedId = (i) => createHash("sha256").update(`customer-${i}`).digest("hex");

/** The example with `n` hashed customer ids in the email opt-out list, written in chunks. */
export function listRepo(n) {
  return repoCopy((dir) => {
    const fd = openSync(path.join(dir, "policies/data/email-opt-out.txt"), "w");
    writeSync(fd, `# ${n.toLocaleString("en")} hashed customer ids\n`);
    const CHUNK = 100_000;
    for (let i = 0; i < n; i += CHUNK) {
      let s = "";
      for (let k = i; k < Math.min(n, i + CHUNK); k++) s += hashedId(k) + "\n";
      writeSync(fd, s);
    }
    closeSync(fd);
  });
}
