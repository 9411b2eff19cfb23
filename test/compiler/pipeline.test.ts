import { describe, expect, it } from "vitest";
import { compile, continueCompile, STAGES, type Artifacts, type StageName } from "../../compiler/pipeline.js";
import { build } from "../../compiler/build.js";
import { MemoryHost } from "../../compiler/source.js";
import { exampleFiles } from "../support/repo.js";

const ARTIFACTS: (keyof Artifacts)[] = ["loaded", "documents", "program", "ir", "lists", "wasm", "bundle"];

describe("the stage list", () => {
  it("runs from the files to the bundle", () => {
    expect(STAGES.map((s) => s.name)).toEqual(["Load", "Validate", "Parse", "Check", "Plan", "Emit", "Bundle"]);
  });

  it("each stage needs only what an earlier stage makes, and each artifact has one maker", () => {
    const made = new Set<keyof Artifacts>();
    for (const stage of STAGES) {
      for (const n of stage.needs) expect(made.has(n), `${stage.name} needs ${n}`).toBe(true);
      for (const m of stage.makes) {
        expect(made.has(m), `${m} made twice`).toBe(false);
        made.add(m);
      }
    }
    expect([...made].sort()).toEqual([...ARTIFACTS].sort());
  });

  it("stopping after a stage leaves exactly the artifacts made so far (data flows only through them)", async () => {
    const files = exampleFiles();
    const made: (keyof Artifacts)[] = [];
    for (const stage of STAGES) {
      made.push(...stage.makes);
      const s = await compile(new MemoryHost(files), { until: stage.name as StageName });
      expect(s.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      expect(s.timings.map((t) => t.stage)).toEqual(STAGES.slice(0, STAGES.indexOf(stage) + 1).map((x) => x.name));
      for (const a of ARTIFACTS) expect(s[a] !== undefined, `${a} after ${stage.name}`).toBe(made.includes(a));
    }
  }, 120_000);

  it("stops at the first stage with errors, and build then has no bundle", async () => {
    const files = exampleFiles();
    const name = [...files.keys()].find((k) => k.startsWith("journeys/"))!;
    files.set(name, new TextEncoder().encode("kind: [unclosed"));
    const r = await build(new MemoryHost(files));
    expect(r.state.timings.map((t) => t.stage)).toEqual(["Load"]);
    expect(r.bundle).toBeUndefined();
    expect(r.state.diagnostics.some((d) => d.severity === "error")).toBe(true);
  });

  it("build times Emit and Bundle as stages and returns the Bundle stage's output", async () => {
    const r = await build(new MemoryHost(exampleFiles()), { revision: "r-test" });
    expect(r.timings.map((t) => t.stage)).toEqual(STAGES.map((s) => s.name));
    expect(r.bundle).toBe(r.state.bundle!.bytes);
    expect(r.wasm).toBe(r.state.wasm);
    expect(r.revision).toBe("r-test");
    expect(r.data!.waypost.lists).toBe(r.state.lists);
  });

  it("continueCompile goes on where compile stopped, each stage once, to the same bundle bytes; a state with errors stays as it is", async () => {
    const s = await compile(new MemoryHost(exampleFiles()), { until: "Check" });
    await continueCompile(s, "Emit");
    expect(s.timings.map((t) => t.stage)).toEqual(["Load", "Validate", "Parse", "Check", "Plan", "Emit"]);
    expect(s.bundle).toBeUndefined();
    await continueCompile(s);
    expect(s.timings.map((t) => t.stage)).toEqual(STAGES.map((x) => x.name));
    const whole = await compile(new MemoryHost(exampleFiles()));
    expect(Buffer.from(s.bundle!.bytes).equals(Buffer.from(whole.bundle!.bytes))).toBe(true);
    const files = exampleFiles();
    files.set([...files.keys()].find((k) => k.startsWith("journeys/"))!, new TextEncoder().encode("kind: [unclosed"));
    const bad = await compile(new MemoryHost(files), { until: "Check" });
    await continueCompile(bad);
    expect(bad.timings.map((t) => t.stage)).toEqual(["Load"]);
  }, 120_000);
});
