import { expect, test } from "vitest";
import { parseCondition, printCondition } from "../../compiler/condition/index.js";

test.each<[string, string]>([
  ["a==1 and(b==2)", "a == 1 and b == 2"],
  ["(a and b) and c", "(a and b) and c"],
  ["a and (b and c)", "a and (b and c)"],
  ["a or b and c", "a or b and c"],
  ["(a or b) and c", "(a or b) and c"],
  ["not (a == 1)", "not a == 1"],
  ["not (a and b)", "not (a and b)"],
  ["not not a", "not not a"],
  ["(not a) == b", "(not a) == b"],
  ["(x) == (1)", "x == 1"],
  ["(a == b) == true", "(a == b) == true"],
  ["x  not   in  [ 1 , 2 , ]", "x not in [1, 2]"],
  ["not x in [1]", "not x in [1]"],
  ["(x in [1]) in [true]", "(x in [1]) in [true]"],
  ["x in ['a', \"b\"]", 'x in ["a", "b"]'],
  ["x == 'it\\'s'", 'x == "it\'s"'],
  ['x == "tab\\t\\u0041"', 'x == "tab\\tA"'],
  ["x == 1.50", "x == 1.5"],
  ["x == 1e3", "x == 1000"],
  ["x == -0", "x == 0"],
  ["x > -2d and y < 500ms", "x > -2d and y < 500ms"],
  ["x == 2026-01-31 or y == 2026-01-31t09:00:00.5+01:00", "x == 2026-01-31 or y == 2026-01-31t09:00:00.5+01:00"],
  ['customer.id in list( "fraud" )', 'customer.id in list("fraud")'],
  ["contains( a , (b or c) )", "contains(a, b or c)"],
  ["f()", "f()"],
  ["now>=x", "now >= x"],
  ["[[1, 2], []] == x", "[[1, 2], []] == x"],
])("%j prints as %j", (text, printed) => {
  const r = parseCondition(text);
  expect(r.diagnostics).toEqual([]);
  expect(printCondition(r.ast!)).toBe(printed);
});
