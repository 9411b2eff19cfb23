// The Validate stage compiles the shipped schemas without checking them against the draft
// 2020-12 meta-schema (compiler/validate.ts); this is that check.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { KINDS } from "../../compiler/validate.js";

describe("shipped schemas", () => {
  it("are valid draft 2020-12 schemas and compile in strict mode", () => {
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    const read = (f: string): Record<string, unknown> => JSON.parse(readFileSync(path.join("schemas", f), "utf8")) as Record<string, unknown>;
    const common = read("common.schema.json");
    expect(ajv.validateSchema(common), JSON.stringify(ajv.errors)).toBe(true);
    ajv.addSchema(common);
    for (const file of Object.values(KINDS)) {
      const schema = read(file);
      expect(ajv.validateSchema(schema), `${file}: ${JSON.stringify(ajv.errors)}`).toBe(true);
      expect(() => ajv.compile(schema), file).not.toThrow();
    }
    // A schema the meta-schema rejects is caught here.
    expect(ajv.validateSchema({ type: "no-such-type" })).toBe(false);
  });
});
