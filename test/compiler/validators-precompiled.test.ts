// The build compiles the schemas once to standalone ajv code (scripts/build-validators.mjs) and
// the Validate stage uses it when its schema digest matches (compiler/validate.ts). This checks
// that such code accepts and rejects exactly what ajv's compile does, with the same errors,
// which the diagnostics are made from.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { ValidateFunction } from "ajv/dist/2020.js";
import standalone from "ajv/dist/standalone/index.js";
import { parse as parseYaml } from "yaml";
import { afterAll, describe, expect, it } from "vitest";
import { KINDS, schemaAjv, schemaTexts, type Kind } from "../../compiler/validate.js";
import { EXAMPLE } from "../support/repo.js";

const dir = mkdtempSync(path.join(tmpdir(), "wp-validators-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("precompiled schema validators", () => {
  it("give ajv's verdicts and errors on valid and broken documents", () => {
    const { texts } = schemaTexts();
    const idOf = (kind: Kind): string => String((JSON.parse(texts.get(KINDS[kind])!) as Record<string, unknown>)["$id"]);
    const refs = Object.fromEntries((Object.keys(KINDS) as Kind[]).map((k) => [k, idOf(k)]));
    const file = path.join(dir, "validators.cjs");
    // The module resolves ajv's runtime helpers from the package, as dist/compiler's does.
    writeFileSync(file, standalone.default(schemaAjv(texts, { source: true }), refs).replaceAll('require("ajv/', `require(${JSON.stringify(path.resolve("node_modules/ajv"))} + "/`));
    const pre = createRequire(import.meta.url)(file) as Record<Kind, ValidateFunction>;
    const ajv = schemaAjv(texts);

    const docs: [Kind, unknown][] = [];
    for (const [sub, name] of [["policies", "data-dictionary.yaml"], ["policies", "purposes.yaml"], ["policies", "suppressions.yaml"], ["policies", "access.yaml"], ["policies", "contact.yaml"], ["journeys", "claim-update-day3.yaml"]] as const) {
      const doc = parseYaml(readFileSync(path.join(EXAMPLE, sub, name), "utf8")) as Record<string, unknown>;
      const kind = doc["kind"] as Kind;
      docs.push([kind, doc]);
      // Broken copies: an unknown property, a wrong type, a required property missing, a bad pattern.
      docs.push([kind, { ...doc, bogus: 1 }]);
      docs.push([kind, { ...doc, apiVersion: 2 }]);
      const { kind: _k, ...noKind } = doc;
      docs.push([kind, noKind]);
      if (kind === "JourneyNode") docs.push([kind, { ...doc, priority: "high", id: "Not An Id", rollout: "150%" }]);
    }
    expect(new Set(docs.map(([k]) => k))).toEqual(new Set(Object.keys(KINDS)));
    let rejected = 0;
    for (const [kind, doc] of docs) {
      const a = ajv.getSchema(idOf(kind))!;
      const b = pre[kind];
      const ok = a(doc);
      expect(b(doc)).toBe(ok);
      expect(b.errors ?? null).toEqual(a.errors ?? null);
      if (!ok) rejected++;
    }
    expect(rejected).toBeGreaterThanOrEqual(docs.length - 6);
  });
});
