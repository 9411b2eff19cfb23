/**
 * The floors: cli/ → lifecycle/ → compiler/ → runtime/, each importing only downward, and
 * runtime/ (what services embed) needing nothing but Node built-ins and its declared
 * dependencies. Imports are read with TypeScript's own pre-processor (static, re-exports,
 * dynamic `import()`), so a comment or a string never counts.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/repo.js";

const FLOORS = ["cli", "lifecycle", "compiler", "runtime"] as const;
type Floor = (typeof FLOORS)[number];

/**
 * The packages runtime/ may import: exactly the dependencies of the package it is published as
 * (packages/runtime, `@waypost/runtime`), so a service that embeds it installs nothing else.
 */
const RUNTIME_PACKAGES = ["@open-policy-agent/opa-wasm", "jose"];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out;
}

/** Every module specifier a file imports or re-exports, with the file it resolves to when relative. */
function importsOf(file: string): { spec: string; target: string | null }[] {
  const info = ts.preProcessFile(readFileSync(path.join(ROOT, file), "utf8"), true, true);
  return info.importedFiles.map(({ fileName: spec }) => ({
    spec,
    target: spec.startsWith(".") ? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) : null,
  }));
}

const floorOf = (rel: string): Floor | null => FLOORS.find((f) => rel === f || rel.startsWith(`${f}/`)) ?? null;
const packageOf = (spec: string): string => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);

describe("runtime/ stands alone", () => {
  it("imports only runtime/, node: built-ins and its declared dependencies", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "packages/runtime/package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies?: unknown };
    expect(Object.keys(pkg.dependencies).sort()).toEqual([...RUNTIME_PACKAGES].sort());
    expect(pkg.devDependencies).toBeUndefined();
    const files = sources("runtime");
    expect(files.length).toBeGreaterThan(5);
    const bad: string[] = [];
    for (const file of files) {
      for (const { spec, target } of importsOf(file)) {
        if (target !== null) {
          if (floorOf(target) !== "runtime") bad.push(`${file} imports ${spec}`);
        } else if (!spec.startsWith("node:") && !RUNTIME_PACKAGES.includes(packageOf(spec))) {
          bad.push(`${file} imports package ${spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

describe("the floors import only downward", () => {
  // What each floor may import from the repository: itself and the floors below it.
  const below: Record<Floor, Floor[]> = {
    cli: ["cli", "lifecycle", "compiler", "runtime"],
    lifecycle: ["lifecycle", "compiler", "runtime"],
    compiler: ["compiler", "runtime"],
    runtime: ["runtime"],
  };
  it.each(FLOORS)("%s/", (floor) => {
    const bad: string[] = [];
    for (const file of sources(floor)) {
      for (const { spec, target } of importsOf(file)) {
        if (target === null) continue;
        const to = floorOf(target);
        // The compiler's emitter reads the Wasm library build (wasmlib/, dist/wasmlib) as files, never as imports.
        if (to === null || !below[floor].includes(to)) bad.push(`${file} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("sees the imports it checks (a planted upward import is caught)", () => {
    const info = ts.preProcessFile('import { x } from "../cli/main.js";\nexport * from "./a.js";\nconst m = await import("../lifecycle/git.js");', true, true);
    expect(info.importedFiles.map((f) => f.fileName)).toEqual(["../cli/main.js", "./a.js", "../lifecycle/git.js"]);
  });
});
