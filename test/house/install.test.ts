/**
 * The packages install (issue 12, item 4). `npm pack` makes two: `waypost` (dist/, bin/ and
 * schemas/, no tests) and `@waypost/runtime` (packages/runtime, the runtime's dist/ only).
 * Installed into an empty project, the `waypost` CLI builds the example repository and decides,
 * and `waypost/runtime` decides; `@waypost/runtime` installed alone into another empty project
 * brings nothing of the compiler's (no fast-check, wabt, chevrotain, ajv, z3...), and a service
 * importing it loads the example bundle and decides. Its install size is printed.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../compiler/build.js";
import { FsHost } from "../../compiler/source.js";
import { EXAMPLE, ROOT } from "../support/repo.js";

const dir = mkdtempSync(path.join(tmpdir(), "waypost-install-"));
/** A project that installs both packages, and a service that installs the runtime alone. */
const project = path.join(dir, "consumer");
const service = path.join(dir, "service");
const bundle = path.join(dir, "bundle.tar.gz");
const request = path.join(EXAMPLE, "requests/claim-day3-sms.json");
const RUNTIME_DIR = path.join(ROOT, "packages/runtime");

interface Packed {
  name: string;
  version: string;
  filename: string;
  files: { path: string }[];
}
let main: Packed;
let runtime: Packed;

interface Manifest {
  name: string;
  version: string;
  dependencies: Record<string, string>;
}
const manifest = (p: string): Manifest => JSON.parse(readFileSync(path.join(p, "package.json"), "utf8")) as Manifest;

// Built when missing; freshness against the sources is test/house/exports.test.ts's subject
// (rebuilding here too would double the slowest step of the suite).
const built = (): boolean =>
  ["dist/cli/main.js", "dist/runtime/index.js", "dist/compiler/index.js", "dist/wasmlib/runtime.wat", "packages/runtime/dist/index.js", "packages/runtime/dist/load-worker.js"].every((f) => existsSync(path.join(ROOT, f)));

const npm = (args: string[], cwd: string): string =>
  execFileSync(process.platform === "win32" ? "npm.cmd" : "npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } });

/** dist/ is fresh: pack without running `prepare`/`prepack` again. */
const pack = (extra: string[]): Packed => (JSON.parse(npm(["pack", "--ignore-scripts", "--json", "--pack-destination", dir, ...extra], ROOT)) as Packed[])[0]!;

/** Dependencies come from the npm cache when it has them (the registry otherwise). */
function install(into: string, tarballs: string[]): void {
  mkdirSync(into);
  writeFileSync(path.join(into, "package.json"), JSON.stringify({ name: path.basename(into), private: true, type: "module" }));
  npm(["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", ...tarballs.map((t) => path.join(dir, t))], into);
}

/** Bytes under a folder (file sizes, not disk blocks). */
function du(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((n, e) => n + du(path.join(p, e)), 0);
}

/** Every package installed under `nm`, nested ones included, as name@version. */
function installed(nm: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(nm)) {
    if (e.startsWith(".")) continue;
    const dirs = e.startsWith("@") ? readdirSync(path.join(nm, e)).map((s) => path.join(nm, e, s)) : [path.join(nm, e)];
    for (const d of dirs) {
      const m = manifest(d);
      out.push(`${m.name}@${m.version}`);
      if (existsSync(path.join(d, "node_modules"))) out.push(...installed(path.join(d, "node_modules")));
    }
  }
  return out.sort();
}

/** An ES module that loads the example bundle through `from` and prints the decision. */
const serviceCode = (from: string): string => `import { loadBundle } from ${JSON.stringify(from)};
  import { readFileSync } from "node:fs";
  const engine = await loadBundle(${JSON.stringify(bundle)}, { skipVerify: true });
  const d = engine.decide(JSON.parse(readFileSync(${JSON.stringify(request)}, "utf8")));
  console.log(JSON.stringify({ outcome: d.outcome, node: d.node, revision: d.revision }));`;

beforeAll(async () => {
  if (!built()) execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: "pipe" });
  main = pack([]);
  runtime = pack(["--workspace", "packages/runtime"]);
  const b = await build(new FsHost(EXAMPLE));
  if (b.bundle === undefined) throw new Error("the example does not build");
  writeFileSync(bundle, b.bundle);
  // `waypost` depends on `@waypost/runtime`: both tarballs, as the registry would serve them.
  install(project, [main.filename, runtime.filename]);
  install(service, [runtime.filename]);
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the packed packages", () => {
  it("waypost ships dist/, bin/ and schemas/, and no tests or sources; it depends on the runtime package at its version", () => {
    const files = main.files.map((f) => f.path);
    expect(files).toContain("bin/waypost.js");
    expect(files).toContain("dist/runtime/index.js");
    expect(files).toContain("dist/cli/main.js");
    expect(files).toContain("dist/wasmlib/runtime.wat");
    expect(files.some((f) => f.startsWith("schemas/") && f.endsWith(".json"))).toBe(true);
    expect(files.filter((f) => f.startsWith("test/") || f.startsWith("packages/") || f.endsWith(".test.js") || f.endsWith(".test.ts"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    expect(manifest(ROOT).dependencies[runtime.name]).toBe(runtime.version);
  });

  it("@waypost/runtime ships its dist/ (with the dry-run worker), a README and its manifest, nothing else", () => {
    expect(runtime.name).toBe("@waypost/runtime");
    const files = runtime.files.map((f) => f.path);
    expect(files.filter((f) => !f.startsWith("dist/")).sort()).toEqual(["README.md", "package.json"]);
    for (const f of ["dist/index.js", "dist/index.d.ts", "dist/engine.js", "dist/load-worker.js"]) expect(files).toContain(f);
    // As many modules as runtime/ has sources.
    const sources = readdirSync(path.join(ROOT, "runtime")).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    expect(files.filter((f) => f.endsWith(".js")).length).toBe(sources.length);
  });

  it("installed in an empty project: the CLI builds the example and decides, and waypost/runtime is @waypost/runtime", () => {
    const bin = path.join(project, "node_modules/.bin/waypost");
    expect(execFileSync(bin, ["--version"], { cwd: project, encoding: "utf8" })).toMatch(/^waypost \d+\.\d+\.\d+/);
    execFileSync(bin, ["build", EXAMPLE, "--out", path.join(dir, "out")], { cwd: project, encoding: "utf8" });
    const viaCli = JSON.parse(execFileSync(bin, ["decide", "--bundle", path.join(dir, "out/bundle.tar.gz"), "--request", request, "--skip-verify", "--format", "json"], { cwd: project, encoding: "utf8" })) as { outcome: string };
    expect(viaCli.outcome).toBe("send");

    writeFileSync(path.join(project, "service.mjs"), serviceCode("waypost/runtime"));
    const viaRuntime = JSON.parse(execFileSync(process.execPath, ["service.mjs"], { cwd: project, encoding: "utf8" })) as unknown;
    expect(viaRuntime).toEqual({ outcome: "send", node: "claim-update-day3", revision: expect.any(String) });
    const same = execFileSync(process.execPath, ["--input-type=module", "-e", `const a = await import("waypost/runtime"); const b = await import("@waypost/runtime"); console.log(a.loadBundle === b.loadBundle && a.WaypostRuntimeError === b.WaypostRuntimeError);`], { cwd: project, encoding: "utf8" });
    expect(same.trim()).toBe("true");
  }, 120_000);

  it("@waypost/runtime installed alone: only the runtime's dependencies, none of the compiler's; a service imports it and decides", () => {
    const nm = path.join(service, "node_modules");
    const have = installed(nm);
    // What `waypost` needs and the runtime does not: none of it, at the version waypost pins.
    const runtimeDeps = manifest(RUNTIME_DIR).dependencies;
    const compilerOnly = Object.entries(manifest(ROOT).dependencies).filter(([name]) => name !== runtime.name && !(name in runtimeDeps));
    expect(compilerOnly.map(([n]) => n)).toEqual(expect.arrayContaining(["fast-check", "wabt", "chevrotain", "ajv", "z3-solver", "isomorphic-git"]));
    expect(have.filter((p) => compilerOnly.some(([n, v]) => p === `${n}@${v}`))).toEqual([]);
    for (const name of ["fast-check", "wabt", "chevrotain", "ajv", "ajv-formats", "z3-solver", "isomorphic-git", "waypost", "typescript", "assemblyscript"]) {
      expect(have.filter((p) => p.startsWith(`${name}@`)), name).toEqual([]);
    }
    // Exactly the runtime's declared dependencies at the top, with theirs.
    const top = readdirSync(nm).flatMap((e) => (e.startsWith("@") ? readdirSync(path.join(nm, e)).map((s) => `${e}/${s}`) : e.startsWith(".") ? [] : [e]));
    for (const name of [runtime.name, ...Object.keys(runtimeDeps)]) expect(top).toContain(name);
    for (const [name, version] of Object.entries(runtimeDeps)) expect(have).toContain(`${name}@${version}`);

    writeFileSync(path.join(service, "service.mjs"), serviceCode("@waypost/runtime"));
    const d = JSON.parse(execFileSync(process.execPath, ["service.mjs"], { cwd: service, encoding: "utf8" })) as unknown;
    expect(d).toEqual({ outcome: "send", node: "claim-update-day3", revision: expect.any(String) });

    const bytes = du(nm);
    console.log(`@waypost/runtime install size: ${(bytes / 1024).toFixed(0)} KiB in ${have.length} packages (${have.join(", ")})`);
    expect(bytes).toBeLessThan(4 * 1024 * 1024);
  }, 120_000);
});
