/**
 * Every entry point the package declares (package.json "exports" and "bin") loads from dist/,
 * as an installed copy would load it: by the package's own name (Node resolves a package's
 * self-reference through its "exports" map), in a fresh Node process. dist/ is rebuilt first
 * when any source is newer than its output (`npm ci` builds it; a work tree may be stale).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/repo.js";

interface Pkg {
  name: string;
  exports: Record<string, string>;
  bin: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as Pkg;

/** The runtime package (packages/runtime), built from runtime/. */
const RUNTIME_PKG = path.join(ROOT, "packages/runtime");
const runtimePkg = JSON.parse(readFileSync(path.join(RUNTIME_PKG, "package.json"), "utf8")) as { name: string; version: string };

/** Sources whose compiled output is missing or older than they are (runtime/: in both packages). */
function staleSources(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) {
        const outputs = [path.join(ROOT, "dist", rel.replace(/\.ts$/, ".js"))];
        if (dir.startsWith("runtime")) outputs.push(path.join(RUNTIME_PKG, "dist", rel.slice("runtime/".length).replace(/\.ts$/, ".js")));
        if (outputs.some((js) => !existsSync(js) || statSync(js).mtimeMs < statSync(path.join(ROOT, rel)).mtimeMs)) out.push(rel);
      }
    }
  };
  for (const floor of ["cli", "lifecycle", "compiler", "runtime"]) walk(floor);
  return out;
}

/** Runs ESM `code` in a fresh Node process in the package root; returns its stdout. */
const node = (code: string): string => execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: ROOT, encoding: "utf8" });

beforeAll(() => {
  if (staleSources().length > 0) execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: ROOT, stdio: "pipe" });
}, 300_000);

describe("package exports load from dist/", () => {
  it("every export and bin target is under dist/ or shipped as is", () => {
    for (const target of Object.values(pkg.exports)) expect(target).toMatch(/^\.\/(dist|schemas)\//);
    expect(staleSources()).toEqual([]);
  });

  it('"." is the compiler: build, compile, the stage list, hosts and decide', () => {
    const out = node(`const m = await import(${JSON.stringify(pkg.name)}); console.log(JSON.stringify({ keys: Object.keys(m).sort(), stages: m.STAGES.map((s) => s.name) }));`);
    const { keys, stages } = JSON.parse(out) as { keys: string[]; stages: string[] };
    for (const name of ["build", "compile", "STAGES", "FsHost", "MemoryHost", "decide"]) expect(keys).toContain(name);
    expect(stages).toEqual(["Load", "Validate", "Parse", "Check", "Plan", "Emit", "Bundle"]);
  });

  it('"./runtime" is the runtime: loadBundle and the error type', () => {
    const out = node(`const m = await import(${JSON.stringify(`${pkg.name}/runtime`)}); console.log(JSON.stringify(Object.keys(m).sort()));`);
    const keys = JSON.parse(out) as string[];
    for (const name of ["loadBundle", "readBundle", "WaypostRuntimeError"]) expect(keys).toContain(name);
  });

  it('"./runtime" is the runtime package, @waypost/runtime, pinned to its version: the same module, not a copy', () => {
    expect((pkg as Pkg & { dependencies: Record<string, string> }).dependencies[runtimePkg.name]).toBe(runtimePkg.version);
    const out = node(
      `const a = await import(${JSON.stringify(`${pkg.name}/runtime`)}); const b = await import(${JSON.stringify(runtimePkg.name)});` +
        `const c = await import(${JSON.stringify(`${runtimePkg.name}/internal/errors`)});` +
        `console.log(JSON.stringify({ same: Object.keys(b).every((k) => a[k] === b[k]) && Object.keys(a).length === Object.keys(b).length, error: a.WaypostRuntimeError === c.WaypostRuntimeError, n: Object.keys(b).length }));`,
    );
    expect(JSON.parse(out)).toEqual({ same: true, error: true, n: expect.any(Number) });
    expect((JSON.parse(out) as { n: number }).n).toBeGreaterThan(10);
  });

  it('"./schemas/*" resolves every schema to a JSON file', () => {
    const pattern = Object.keys(pkg.exports).find((k) => k.endsWith("/*"));
    expect(pattern).toBe("./schemas/*");
    const names = readdirSync(path.join(ROOT, "schemas")).filter((n) => n.endsWith(".json"));
    expect(names.length).toBeGreaterThan(0);
    const out = node(
      `import { readFileSync } from "node:fs"; import { fileURLToPath } from "node:url";` +
        `for (const n of ${JSON.stringify(names)}) JSON.parse(readFileSync(fileURLToPath(import.meta.resolve(${JSON.stringify(pkg.name)} + "/schemas/" + n)), "utf8"));` +
        `console.log("ok");`,
    );
    expect(out.trim()).toBe("ok");
  });

  it.each(Object.entries(pkg.bin))("bin %s runs (--version)", (_name, file) => {
    const out = execFileSync(process.execPath, [file, "--version"], { cwd: ROOT, encoding: "utf8" });
    expect(out).toMatch(/\d+\.\d+\.\d+/);
  });
});
