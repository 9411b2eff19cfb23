import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { main } from "../../cli/main.js";
import { EXAMPLE } from "../support/repo.js";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s), color: false, env: {} });
  return { code, out, err };
}

describe("waypost prove", () => {
  test("the example: suppression proved, consent at send time refuted with a replayed case (exit 1), as text and json", async () => {
    const t = await run(["prove", EXAMPLE]);
    expect(t.err).toBe("");
    expect(t.out).toMatch(/✔ proved +suppression: /);
    // cross-sell-home checks the consent's age at decision time; the email leaves 15 minutes
    // later, by which time a consent at the edge of its two years has lapsed.
    expect(t.out).toMatch(/✖ refuted +consent: /);
    expect(t.out).toMatch(/is older than 63072000000 ms at the send time, yet the decision is send via `email` by `cross-sell-home`/);
    expect(t.out).toMatch(/replayed on the Wasm bundle and the interpreter: send via email by cross-sell-home/);
    expect(t.out).toMatch(/1 proved, 1 refuted, 0 unknown/);
    expect(t.code).toBe(1);
    const j = await run(["prove", EXAMPLE, "--format", "json", "--timeout", "20000"]);
    expect(j.code).toBe(1);
    const doc = JSON.parse(j.out) as { status: string; results: { id: string; status: string; queries: number; counterexample?: { request: { now: string; context: Record<string, string> }; case: string } }[] };
    expect(doc.status).toBe("refuted");
    expect(doc.results.map((r) => [r.id, r.status])).toEqual([["suppression", "proved"], ["consent", "refuted"]]);
    const cx = doc.results[1]!.counterexample!;
    const age = Date.parse(cx.request.now) + 15 * 60_000 - Date.parse(cx.request.context["consent.email.marketing"]!);
    expect(age).toBeGreaterThan(63072000000);
    expect(Date.parse(cx.request.now) - Date.parse(cx.request.context["consent.email.marketing"]!)).toBeLessThanOrEqual(63072000000);
    expect(parse(cx.case)).toMatchObject({ kind: "PolicyTests", cases: [{ request: cx.request, expect: { outcome: "send", channel: "email" } }] });
  }, 90_000);

  test("usage errors exit 2", async () => {
    expect((await run(["prove", EXAMPLE, "--timeout", "0"])).code).toBe(2);
    expect((await run(["prove", EXAMPLE, "--format", "sarif"])).code).toBe(2);
  });
});
