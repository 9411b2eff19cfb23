import { describe, expect, test } from "vitest";
import { main } from "../../cli/main.js";
import { EXAMPLE } from "../support/repo.js";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

describe("waypost prove", () => {
  test("proves the example repository's guarantees (exit 0), as text and json", async () => {
    const t = await run(["prove", EXAMPLE]);
    expect(t.err).toBe("");
    expect(t.out).toMatch(/✔ proved +suppression: /);
    expect(t.out).toMatch(/1 proved, 0 refuted, 0 unknown/);
    expect(t.code).toBe(0);
    const j = await run(["prove", EXAMPLE, "--format", "json", "--timeout", "20000"]);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out) as { status: string; results: { id: string; status: string; queries: number }[] };
    expect(doc.status).toBe("proved");
    expect(doc.results.map((r) => [r.id, r.status])).toEqual([["suppression", "proved"]]);
    expect(doc.results[0]!.queries).toBeGreaterThan(0);
  }, 60_000);

  test("usage errors exit 2", async () => {
    expect((await run(["prove", EXAMPLE, "--timeout", "0"])).code).toBe(2);
    expect((await run(["prove", EXAMPLE, "--format", "sarif"])).code).toBe(2);
  });
});
