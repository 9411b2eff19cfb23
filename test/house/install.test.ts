/**
 * The package installs (issue 12, item 4): `npm pack` ships dist/, bin/ and schemas/ and no
 * tests; installed into an empty project, the `waypost` CLI builds the example repository and
 * decides, and `import "waypost/runtime"` loads a bundle and decides with the compiler, the
 * CLI and every compile-time dependency (fast-check, wabt, chevrotain, ajv, isomorphic-git)
 * deleted from that project: the runtime a service embeds needs none of them.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE, ROOT } from "../support/repo.js";

const dir = mkdtempSync(path.join(tmpdir(), "waypost-install-"));
const project = path.join(dir, "consumer");
let files: string[] = [];
let tarball = "";

// Built when missing; freshness against the sources is test/house/exports.test.ts's subject
// (rebuilding here too would double the slowest step of the suite).
const built = (): boolean => ["dist/cli/main.js", "dist/runtime/index.js", "dist/compiler/index.js", "dist/wasmlib/runtime.wat"].every((f) => existsSync(path.join(ROOT, f)));

const npm = (args: string[], cwd: string): string =>
  execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });

/** Bytes under a folder. */
function du(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((n, e) => n + du(path.join(p, e)), 0);
}

beforeAll(() => {
  if (!built()) execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: "pipe" });
  // dist/ is fresh: pack without running `prepare` again.
  const out = JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir], ROOT)) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(dir, out[0]!.filename);
  files = out[0]!.files.map((f) => f.path);
  mkdirSync(project);
  writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // Dependencies come from the npm cache when it has them (the registry otherwise).
  npm(["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], project);
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the packed package", () => {
  it("ships dist/, bin/ and schemas/, and no tests or sources", () => {
    expect(files).toContain("bin/waypost.js");
    expect(files).toContain("dist/runtime/index.js");
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("dist/wasmlib/runtime.wat");
    expect(files.some((f) => f.startsWith("schemas/") && f.endsWith(".json"))).toBe(true);
    expect(files.filter((f) => f.startsWith("test/") || f.endsWith(".test.js") || f.endsWith(".test.ts"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("installed in an empty project: the CLI builds the example and decides, the runtime decides without the compiler or its dependencies", () => {
    const bin = path.join(project, "node_modules/.bin/waypost");
    expect(execFileSync(bin, ["--version"], { cwd: project, encoding: "utf8" })).toMatch(/^waypost \d+\.\d+\.\d+/);
    execFileSync(bin, ["build", EXAMPLE, "--out", path.join(dir, "out")], { cwd: project, encoding: "utf8" });
    const bundle = path.join(dir, "out/bundle.tar.gz");
    const request = path.join(EXAMPLE, "requests/claim-day3-sms.json");
    const viaCli = JSON.parse(execFileSync(bin, ["decide", "--bundle", bundle, "--request", request, "--skip-verify", "--format", "json"], { cwd: project, encoding: "utf8" })) as { outcome: string };
    expect(viaCli.outcome).toBe("send");

    // What the runtime must not need: deleted, so importing any of it would fail.
    const nm = path.join(project, "node_modules");
    for (const p of ["fast-check", "wabt", "chevrotain", "ajv", "ajv-formats", "isomorphic-git", "waypost/dist/compiler", "waypost/dist/lifecycle", "waypost/dist/cli", "waypost/dist/wasmlib"]) {
      expect(existsSync(path.join(nm, p)), p).toBe(true);
      rmSync(path.join(nm, p), { recursive: true, force: true });
    }
    const code = `import { loadBundle } from "waypost/runtime";
      import { readFileSync } from "node:fs";
      const engine = await loadBundle(${JSON.stringify(bundle)}, { skipVerify: true });
      const d = engine.decide(JSON.parse(readFileSync(${JSON.stringify(request)}, "utf8")));
      console.log(JSON.stringify({ outcome: d.outcome, revision: d.revision }));`;
    writeFileSync(path.join(project, "service.mjs"), code);
    const viaRuntime = JSON.parse(execFileSync(process.execPath, ["service.mjs"], { cwd: project, encoding: "utf8" })) as { outcome: string };
    expect(viaRuntime).toEqual({ outcome: "send", revision: expect.any(String) });

    // The runtime's install footprint: its own files and what it imports.
    const runtimeBytes =
      du(path.join(nm, "waypost/dist/runtime")) +
      ["@open-policy-agent/opa-wasm", "jose", "sprintf-js"].reduce((n, p) => n + du(path.join(nm, p)), 0);
    console.log(`runtime install size: ${(runtimeBytes / 1024).toFixed(0)} KiB (dist/runtime + @open-policy-agent/opa-wasm + jose + sprintf-js)`);
    expect(runtimeBytes).toBeLessThan(5 * 1024 * 1024);
  }, 120_000);
});
