/**
 * Where the suite produces each diagnostic code: the golden fixtures (test/fixtures/broken/ for
 * `waypost check`, test/fixtures/policy-tests/ for `waypost test`), or, for codes a fixture of
 * those cannot produce (a real file system, a Git repository, a command line), the test file
 * named here, which must mention the code. docs/codes.md shows the fixture as the example.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";
import { ROOT } from "./repo.js";

export const FIXTURE_DIRS = ["test/fixtures/broken", "test/fixtures/policy-tests"] as const;

/** Codes that no golden fixture produces, with the test that does. */
export const TESTED_ELSEWHERE: Readonly<Record<string, string>> = {
  // `check` on a folder that cannot be read, or holds no policy files: exit 2, not a fixture.
  WP0001: "test/cli/check.test.ts",
  WP0002: "test/compiler/codes.test.ts",
  WP0005: "test/cli/check.test.ts",
  // Symlinks, FIFOs and loops need a real file system.
  WP0008: "test/security/repo-boundary.test.ts",
  WP0009: "test/security/repo-boundary.test.ts",
  // Git repositories, bundles, decision logs and artifact stores.
  WP5001: "test/git/git.test.ts",
  WP5002: "test/git/git.test.ts",
  WP5003: "test/git/git.test.ts",
  WP5004: "test/git/git.test.ts",
  WP5005: "test/git/git.test.ts",
  WP5006: "test/git/git.test.ts",
  WP5007: "test/git/git.test.ts",
  WP5008: "test/git/git.test.ts",
  WP5009: "test/security/exit-codes.test.ts",
  WP5010: "test/git/git.test.ts",
  WP5011: "test/git/git.test.ts",
  WP5012: "test/git/git.test.ts",
  WP5013: "test/git/holdout-shift.test.ts",
  // `waypost prove`: refuted and unknown guarantees (text, sarif, github), cadence findings
  // (a dead node, a journey that escapes a cap) on planted changes.
  WP4101: "test/prove/cli.test.ts",
  WP4102: "test/prove/cli.test.ts",
  WP4103: "test/prove/planted.test.ts",
  WP4104: "test/prove/planted.test.ts",
};

export interface FixtureExample {
  /** Path from the repository root. */
  file: string;
  description: string;
  /** The fixture's change to the example repository (patches, files, removals), as YAML. */
  change: string;
}

/** Every golden fixture by the codes it expects, in file order (a `wpNNNN-` file first). */
export function fixtureExamples(): Map<string, FixtureExample[]> {
  const out = new Map<string, FixtureExample[]>();
  for (const dir of FIXTURE_DIRS) {
    for (const name of readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".yaml")).sort()) {
      const file = `${dir}/${name}`;
      const fx = YAML.parse(readFileSync(path.join(ROOT, file), "utf8")) as { description?: string; expect?: string[] } & Record<string, unknown>;
      const { description, expect, ...change } = fx;
      const example: FixtureExample = { file, description: description ?? "", change: YAML.stringify(change, { lineWidth: 0 }) };
      for (const code of new Set((expect ?? []).map((line) => line.split(" ")[1]!))) {
        const list = out.get(code) ?? [];
        list.push(example);
        out.set(code, list);
      }
    }
  }
  for (const [code, list] of out) {
    const own = (e: FixtureExample): number => (path.basename(e.file).startsWith(`${code.toLowerCase()}-`) ? 0 : 1);
    list.sort((a, b) => own(a) - own(b) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  }
  return out;
}
