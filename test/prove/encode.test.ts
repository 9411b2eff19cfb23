/**
 * Pieces of the symbolic encoding that can be checked without the solver.
 */
import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { idRuns } from "../../lifecycle/prove/encode.js";

describe("idRuns (a string field's known values, as runs of ids)", () => {
  test("an id is in some run exactly when its string is accepted; runs are maximal, ordered and disjoint", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ maxLength: 3 }), fc.boolean()), { maxLength: 60 }), (rows) => {
        const strings = rows.map(([s], i) => `${i}:${s}`);
        const accepted = new Set(rows.flatMap(([, ok], i) => (ok ? [strings[i]!] : [])));
        const runs = idRuns(strings, (s) => accepted.has(s));
        const inRun = (i: number): boolean => runs.some(([lo, hi]) => lo <= i && i <= hi);
        strings.forEach((s, i) => expect(inRun(i)).toBe(accepted.has(s)));
        runs.forEach(([lo, hi], k) => {
          expect(lo).toBeLessThanOrEqual(hi);
          // Maximal: the ids on either side are outside (else two runs would be one).
          if (k > 0) expect(lo).toBeGreaterThan(runs[k - 1]![1] + 1);
        });
      }),
      { seed: 11, numRuns: 300 },
    );
  });

  test("everything accepted is one run over the whole table (the encoder then adds no constraint); nothing accepted, none", () => {
    expect(idRuns(["a", "b", "c"], () => true)).toEqual([[0, 2]]);
    expect(idRuns(["a", "b", "c"], () => false)).toEqual([]);
    expect(idRuns(["a", "b", "c", "d"], (s) => s !== "c")).toEqual([[0, 1], [3, 3]]);
  });
});
