/**
 * The example requests decide as expected through all three evaluators: the runtime (the
 * embedded engine), the bare OPA SDK on the files from the tarball, and the reference
 * interpreter on the IR. The bundle is built the way `waypost build` builds it.
 */
import * as path from "node:path";
import { loadPolicy } from "@open-policy-agent/opa-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { build, type BuildResult } from "../../compiler/build.js";
import { decide as interpret } from "../../compiler/ir/interpret.js";
import { FsHost } from "../../compiler/source.js";
import { loadBundle, readBundle, type Engine } from "../../runtime/index.js";
import { compareExpected, readExamples, type ExampleRequest } from "../../cli/examples.js";
import { EXAMPLE } from "../support/repo.js";

let built: BuildResult;
let engine: Engine;
let examples: ExampleRequest[];
let sdk: Awaited<ReturnType<typeof loadPolicy>>;

beforeAll(async () => {
  built = await build(new FsHost(EXAMPLE));
  expect(built.state.diagnostics).toEqual([]);
  engine = await loadBundle(built.bundle!, { skipVerify: true }); // built just now, in this process
  examples = await readExamples(path.join(EXAMPLE, "requests"));
  // The bare SDK gets the files exactly as a host would take them out of the tarball.
  const { files } = await readBundle(built.bundle!, { skipVerify: true });
  sdk = await loadPolicy(files.get("policy.wasm")!);
  sdk.setData(JSON.parse(new TextDecoder().decode(files.get("data.json")!)));
});

describe("example requests", () => {
  it("cover every outcome and every journey node", () => {
    const outcomes = new Set(examples.map((e) => e.expected?.outcome));
    expect([...outcomes].sort()).toEqual(["defer", "deny", "holdout", "review", "send", "suppress"]);
    const nodes = new Set(examples.map((e) => e.expected?.node).filter(Boolean));
    expect([...nodes].sort()).toEqual(built.state.ir!.plan.nodes.map((n) => n.id).sort());
    expect(examples.every((e) => e.expected !== null)).toBe(true);
  });

  it("decide as expected through the runtime", () => {
    for (const ex of examples) {
      const d = engine.decide(ex.request);
      expect(compareExpected(d, ex.expected!), ex.name).toEqual([]);
    }
  });

  it("decide identically through the bare SDK and the reference interpreter", () => {
    for (const ex of examples) {
      const viaSdk = sdk.evaluate(ex.request, "waypost/decide") as { result: unknown }[];
      expect(viaSdk).toHaveLength(1);
      const viaInterpreter = interpret(built.state.ir!, built.data!.waypost, ex.request);
      expect(viaSdk[0]!.result, ex.name).toEqual(viaInterpreter);
      const { decision_id: _id, verified, ...viaRuntime } = engine.decide(ex.request) as unknown as Record<string, unknown>;
      expect(viaRuntime, ex.name).toEqual(viaInterpreter);
      expect(verified, "the runtime records that this bundle was loaded unverified").toBe(false);
    }
  });

  it("the bundle's manifest names every entrypoint the module exports", async () => {
    const { manifest } = await readBundle(built.bundle!, { skipVerify: true });
    expect(manifest.revision).toBe(built.revision);
    expect(manifest.roots).toEqual(["waypost"]);
    expect(manifest.wasm.map((w) => w.entrypoint)).toEqual(["waypost/decide", "waypost/suppressed", "waypost/consent"]);
    expect((manifest.metadata as Record<string, unknown>)["source_digest"]).toBe(`sha256:${built.digest}`);
    expect(Object.keys(sdk.entrypoints).sort()).toEqual(["waypost/consent", "waypost/decide", "waypost/suppressed"]);
  });

  it("the same sources build byte-identical bundles", async () => {
    const again = await build(new FsHost(EXAMPLE));
    expect(Buffer.from(again.bundle!).equals(Buffer.from(built.bundle!))).toBe(true);
  });
});
