// The fast YAML reader (compiler/source-yaml.ts) against the `yaml` package: on every document
// it accepts, the same value and the same range for every node; documents it declines are read
// by the yaml package (compiler/load.ts), so only acceptance needs checking.
import { readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import fc from "fast-check";
import * as YAML from "yaml";
import { describe, expect, it } from "vitest";
import { childrenOf, fastParseYaml, nodeOf, scalarValue } from "../../compiler/source-yaml.js";
import { load, scalarAt, spanAt, type DocPath } from "../../compiler/load.js";
import { FsHost } from "../../compiler/source.js";

const OPTIONS = { uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false } as const;

/** The yaml package's reading in the fast reader's shape, or null when it reports anything. */
function reference(text: string): unknown {
  const docs = YAML.parseAllDocuments(text, OPTIONS);
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length !== 1) return null;
  const doc = list[0]!;
  if (doc.errors.length > 0 || doc.warnings.length > 0) return null;
  const node = (n: unknown): unknown => {
    if (YAML.isMap(n)) return { kind: "map", range: n.range, items: n.items.map((p) => ({ key: node(p.key), value: node(p.value) })) };
    if (YAML.isSeq(n)) return { kind: "seq", range: n.range, items: n.items.map(node) };
    if (YAML.isScalar(n)) return { kind: "scalar", value: n.value, type: n.type, range: n.range };
    return { other: String(n) };
  };
  return { contents: node(doc.contents), range: doc.range, value: doc.toJS() };
}

function agree(text: string): boolean {
  const fast = fastParseYaml(text);
  if (fast === null) return false;
  // The compact tree read back into the reference's shape (keys of the subset are their source text).
  const strip = (at: number): unknown => {
    const n = nodeOf(fast.tree, at);
    const range = [n.start, n.end, n.after];
    if (n.kind === "scalar") return { kind: n.kind, value: scalarValue(fast.tree, text, at), type: n.type, range };
    const kids = childrenOf(fast.tree, at);
    if (n.kind === "seq") return { kind: n.kind, range, items: kids.map(strip) };
    return { kind: n.kind, range, items: kids.map((c) => {
      const k = nodeOf(fast.tree, c).key!;
      return { key: { kind: "scalar", value: text.slice(k.start, k.end), type: "PLAIN", range: [k.start, k.end, k.end] }, value: strip(c) };
    }) };
  };
  expect({ contents: strip(0), range: fast.range, value: fast.value }, JSON.stringify(text)).toEqual(reference(text));
  return true;
}

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out;
}

describe("fast YAML reader", () => {
  it("reads the example repository's journey files as the yaml package does", () => {
    let accepted = 0;
    for (const f of yamlFiles("examples/northwind")) if (agree(readFileSync(f, "utf8"))) accepted++;
    // The file the benchmark copies 10,000 times is in the subset: the fast path is really taken.
    expect(fastParseYaml(readFileSync("examples/northwind/journeys/claim-update-day3.yaml", "utf8"))).not.toBeNull();
    expect(accepted).toBeGreaterThanOrEqual(4);
  });

  it("agrees with the yaml package on every test fixture it accepts", () => {
    for (const f of yamlFiles("test")) agree(readFileSync(f, "utf8"));
  });

  it("reads plain scalars that start with a digit but are no number as strings, as the yaml package does", () => {
    for (const t of ["valid:\n  from: 2026-01-01\n  until: 2028-01-01T00:00:00Z\n", "max_age: 30d\nshare: 20%\nat: 21:00\nn: 1_000\n"]) {
      expect(agree(t), JSON.stringify(t)).toBe(true);
    }
    expect(fastParseYaml("from: 2026-01-01\n")?.value).toEqual({ from: "2026-01-01" });
  });

  it("reads each key from its own text, also when keys seen before hash alike", () => {
    // `Aa` and `BB` have one hash (the reader keeps keys it has checked by hash): each stays itself.
    expect(fastParseYaml("Aa: 1\nBB: 2\n")?.value).toEqual({ Aa: 1, BB: 2 });
    expect(fastParseYaml("BB: 3\n")?.value).toEqual({ BB: 3 });
    expect(fastParseYaml("Aa: 4\n")?.value).toEqual({ Aa: 4 });
    // A key seen before and one that is not a string key of the subset: checked, not taken from the table.
    expect(fastParseYaml("kind: x\n")?.value).toEqual({ kind: "x" });
    expect(fastParseYaml("true: x\n")).toBeNull();
    expect(fastParseYaml("kind: x\nkind: y\n")).toBeNull();
    // Plain values are kept the same way.
    expect(fastParseYaml("a: Aa\nb: BB\nc: [Aa, BB, true, 12]\n")?.value).toEqual({ a: "Aa", b: "BB", c: ["Aa", "BB", true, 12] });
  });

  it("declines what the yaml package reports or reads differently", () => {
    for (const t of [
      "a: 1\na: 2\n", // duplicate key
      "__proto__: 1\n",
      "a: b: c\n",
      "a:\n  b: 1\n c: 2\n",
      "a: x\n  y\n", // a multi-line plain scalar
      "a: &x 1\nb: *x\n",
      "a: |\n  text\n",
      "---\na: 1\n",
      "a: 1\n---\nb: 2\n",
      "a: [1, 2,]\n",
      "a:\tb\n",
      "a: 'x\n",
      "a: 0x10\n",
      "a: 1.5\n",
      "a: -1\n",
      "a: 007\n",
      "a: 1e3\n",
      "a: 0o17\n",
      "a: 2.\n",
      "a: \"\\n\"\n",
      "a:\n",
      "- - x\n",
      "",
      "# only a comment\n",
    ]) expect(fastParseYaml(t), JSON.stringify(t)).toBeNull();
  });

  it("agrees with the yaml package on generated documents", () => {
    const word = fc.constantFrom("a", "id", "when", "claim.status", "x-y", "true", "null", "No", "b_2", "0", "12", "007", "1e3", "-", "x: y", "a #b", "a#b", "p q", "(x)", "é", "'", '"', "[", "]", ",", "{", "~", "days_since(x) == 3", "20%", "50 %", "2026-01-01", "2026-11-25T09:30:00Z", "1_000", "0o7", "1.", ".5", "http://x", "a:b");
    const scalar = fc.oneof(
      fc.array(word, { minLength: 1, maxLength: 3 }).map((ws) => ws.join(" ")),
      word.map((w) => `"${w}"`),
      word.map((w) => `'${w.replace(/'/g, "''")}'`),
      fc.array(word, { maxLength: 3 }).map((ws) => `[${ws.join(", ")}]`),
      fc.array(word, { maxLength: 3 }).map((ws) => `[ ${ws.map((w) => `"${w}"`).join(" ,")} ]`),
    );
    type Tree = string | { map: [string, Tree][] } | { seq: Tree[] };
    const tree: fc.Arbitrary<Tree> = fc.letrec<{ t: Tree }>((tie) => ({
      t: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        scalar,
        fc.record({ map: fc.array(fc.tuple(fc.constantFrom("a", "b", "id", "when", "k.x", "c-d", "a"), tie("t")), { minLength: 1, maxLength: 3 }) }),
        fc.record({ seq: fc.array(tie("t"), { minLength: 1, maxLength: 3 }) }),
      ),
    })).t;
    type Pick = <T>(xs: T[]) => T;
    const render = (t: Tree, indent: number, inline: boolean, pick: Pick): string => {
      const pad = " ".repeat(indent);
      if (typeof t === "string") return `${t}${pick(["", "", "  # note", " #x"])}\n`;
      if ("map" in t) {
        return t.map.map(([k, v], i) => {
          const head = i === 0 && inline ? "" : pad;
          const sep = typeof v === "string" ? ` ${render(v, indent + 2, true, pick)}` : `\n${pick(["", "\n", "# c\n"])}${render(v, "seq" in v && pick([true, false]) ? indent : indent + pick([2, 4]), false, pick)}`;
          return `${head}${k}:${sep}`;
        }).join(pick(["", "", "\n", "# c\n"]));
      }
      return t.seq.map((v, i) => {
        const head = i === 0 && inline ? "" : pad;
        const body = typeof v === "string" ? render(v, indent + 2, true, pick)
          : "map" in v ? render(v, indent + 2, true, pick)
          : `\n${render(v, indent + 2, false, pick)}`;
        return `${head}-${pick([" ", "  "])}${body}`;
      }).join("");
    };
    let accepted = 0;
    fc.assert(
      fc.property(tree, fc.constantFrom("", "# head\n", "\n"), fc.boolean(), fc.gen(), (t, head, tail, g) => {
        const pick: Pick = (xs) => g(fc.constantFrom, ...xs);
        const text = head + render(t, 0, false, pick) + (tail ? "\n# end\n" : "");
        if (agree(text)) accepted++;
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300);
  });

  it("gives the loader the same spans and condition scalars as the yaml package's document", async () => {
    const r = await load(new FsHost("examples/northwind"));
    const fast = r.documents.filter((d) => d.tree !== undefined);
    expect(fast.length).toBeGreaterThanOrEqual(4);
    for (const d of fast) {
      // The same document read by the yaml package (the spread composes `doc`, and no tree).
      const ref = { ...d, tree: undefined };
      const paths: DocPath[] = [];
      const walk = (v: unknown, p: DocPath): void => {
        paths.push(p);
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
        else if (typeof v === "object" && v !== null) for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
      };
      walk(d.value, []);
      paths.push(["no-such-key"], ["trigger", "no-such-key"], ["context", 99]);
      for (const p of paths) {
        for (const part of ["key", "value"] as const) expect(spanAt(d, p, part), `${d.file.path} ${p.join(".")}`).toEqual(spanAt(ref, p, part));
        const [a, b] = [scalarAt(d, p), scalarAt(ref, p)];
        expect(a && { value: a.value, range: a.range, type: a.type }).toEqual(b && { value: b.value, range: b.range, type: b.type });
      }
      expect(d.span).toEqual({ file: d.file.path, start: d.doc.range[0], end: d.doc.range[1] });
    }
  });
});
