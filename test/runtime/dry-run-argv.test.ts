/**
 * The dry-run worker (runtime/dry-run.ts) gets only the parent's Node options that are safe in
 * a worker. It used to inherit them all, so a service started with `node --input-type=module -e`
 * could load no bundle: the worker refused to start (`--input-type can only be used with string
 * input`) and every load was refused (WPR023).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "../../compiler/build.js";
import { FsHost } from "../../compiler/source.js";
import { workerExecArgv } from "../../runtime/dry-run.js";
import { EXAMPLE, ROOT } from "../support/repo.js";

describe("workerExecArgv", () => {
  it.each([
    [["--input-type=module", "-e", "import('x')"], []],
    [["--input-type", "module", "--eval", "1"], []],
    [["-p", "1+1"], []],
    [["--inspect=0", "--inspect-brk", "--inspect-port", "9230"], []],
    [["--import", "./otel.mjs", "-r", "./x.cjs", "--loader", "tsx", "--experimental-loader=tsx"], []],
    [["--max-old-space-size=4096", "--stack-size", "2000", "--expose-gc", "--title=svc"], []],
    [["--experimental-permission", "--allow-fs-read=*", "--experimental-policy", "p.json", "--experimental-wasm-gc"], []],
    [["--experimental-vm-modules", "--no-experimental-fetch", "--experimental-wasm-modules"], ["--experimental-vm-modules", "--no-experimental-fetch", "--experimental-wasm-modules"]],
    [["--no-warnings", "--enable-source-maps", "--disable-warning", "ExperimentalWarning", "-C", "worker", "--conditions=prod"], ["--no-warnings", "--enable-source-maps", "--disable-warning", "ExperimentalWarning", "-C", "worker", "--conditions=prod"]],
  ])("%j → %j", (parent, kept) => {
    expect(workerExecArgv(parent)).toEqual(kept);
  });
});

describe("a service started with `node --input-type=module -e` loads a bundle", () => {
  // The runtime as a package ships it: compiled .js beside load-worker.js (the sources' fallback
  // sets the worker's options itself and would not show the inherited ones). Inside
  // node_modules/ so that its imports (the OPA SDK, jose) resolve from this repository.
  const dir = path.join(ROOT, "node_modules/.cache", `waypost-dry-run-argv-${process.pid}`);
  const bundle = path.join(dir, "bundle.tar.gz");

  beforeAll(async () => {
    mkdirSync(path.join(dir, "runtime"), { recursive: true });
    writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
    for (const f of readdirSync(path.join(ROOT, "runtime")).filter((n) => n.endsWith(".ts"))) {
      const out = ts.transpileModule(readFileSync(path.join(ROOT, "runtime", f), "utf8"), { fileName: f, compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
      writeFileSync(path.join(dir, "runtime", f.replace(/\.ts$/, ".js")), out);
    }
    const built = await build(new FsHost(EXAMPLE));
    if (built.bundle === undefined) throw new Error("the example does not build");
    writeFileSync(bundle, built.bundle);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the dry run starts, the bundle loads and decides", () => {
    const request = path.join(EXAMPLE, "requests/claim-day3-sms.json");
    const code = `import { loadBundle } from "./runtime/index.js";
      import { readFileSync } from "node:fs";
      const engine = await loadBundle(${JSON.stringify(bundle)}, { skipVerify: true });
      const d = engine.decide(JSON.parse(readFileSync(${JSON.stringify(request)}, "utf8")));
      console.log(JSON.stringify({ outcome: d.outcome, codes: d.reasons.map((r) => r.code) }));`;
    // Options the worker must not get (all but the last two), next to ones it keeps.
    const args = ["--max-old-space-size=512", "--stack-size=1500", "--input-type=module", "--no-warnings", "--experimental-vm-modules", "-e", code];
    const out = execFileSync(process.execPath, args, { cwd: dir, encoding: "utf8" });
    expect(JSON.parse(out)).toEqual({ outcome: "send", codes: expect.not.arrayContaining(["runtime-error"]) });
  });
});
