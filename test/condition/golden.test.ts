// Golden tests: condition text → diagnostics (code, start, end), types, constancy, and the
// exact wording of the messages a policy author sees most.
import { describe, expect, test } from "vitest";
import { CONDITION_CODES, checkCondition, parseCondition, typeToString, type LocalDiagnostic } from "../../compiler/condition/index.js";
import { env } from "./env.js";

type Want = [code: string, start: number, end: number][];
const brief = (ds: LocalDiagnostic[]): Want => ds.map((d) => [d.code, d.start, d.end]);

// Lexical and syntax errors: parseCondition returns no AST.
const SYNTAX: [string, Want][] = [
  ["a == ", [["WP2003", 2, 4]]],
  ["a == 1 == 2", [["WP2003", 7, 9]]],
  ["(a == 1", [["WP2003", 6, 7]]],
  ["a && b", [["WP2007", 2, 4]]],
  ["a || b", [["WP2007", 2, 4]]],
  ["!a", [["WP2007", 0, 1]]],
  ["a = 1", [["WP2007", 2, 3]]],
  ['x == "abc', [["WP2002", 5, 9]]],
  ["x == 'abc", [["WP2002", 5, 9]]],
  ["x # 1", [["WP2001", 2, 3]]],
  ["a == 1 AND b == 2", [["WP2003", 7, 10]]],
  ["a is 1", [["WP2003", 2, 4]]],
  ['"a\\q" == x', [["WP2006", 2, 4]]],
  ["", [["WP2008", 0, 0]]],
  ["   ", [["WP2008", 0, 3]]],
  ["((((", [["WP2003", 3, 4]]],
  ["x in", [["WP2003", 2, 4]]],
  ["f(a b)", [["WP2003", 4, 5]]],
  ["[1 2]", [["WP2003", 3, 4]]],
  ["list(x)", [["WP2003", 5, 6]]],
  ["now() > 1", [["WP2003", 3, 4]]],
  ["a == 1)", [["WP2003", 6, 7]]],
  ["not", [["WP2003", 0, 3]]],
  ["a and", [["WP2003", 2, 5]]],
  ["x.", [["WP2001", 1, 2]]],
  ['x in list("a"', [["WP2003", 10, 13]]],
  ["since(x) > 7days", [["WP2005", 11, 16]]],
  ["7.5h > 1", [["WP2005", 0, 4]]],
  ["x > 2026-1-5", [["WP2005", 4, 12]]],
  ["x > 2026-02-30", [["WP2005", 4, 14]]],
  ["x > 2026-01-31T09:00", [["WP2005", 4, 20]]],
  ["x > 2026-01-31T09:00:00", [["WP2005", 4, 23]]],
  ["x > 2026-01-31T24:00:00Z", [["WP2005", 4, 24]]],
  ["x == 1e999", [["WP2005", 5, 10]]],
  ["x == 3months", [["WP2005", 5, 12]]],
  ["x == \u201cEU\u201d", [["WP2001", 5, 6], ["WP2001", 8, 9]]],
  ["x == -", [["WP2003", 5, 6]]],
  ["x ==== 1", [["WP2003", 4, 6]]],
  ["(".repeat(41) + "a" + ")".repeat(41), [["WP2004", 40, 41]]],
  ["a".repeat(10_001), [["WP2004", 0, 10_001]]],
];

// Name and type errors (WP21xx) and constancy: the AST parses; checkCondition reports.
const TYPED: [string, Want, boolean | null][] = [
  ['customer.regoin == "EU"', [["WP2101", 0, 15]], null],
  ["customer.region == EU", [["WP2101", 19, 21]], null],
  ['customer.region == "FR"', [["WP2105", 19, 23]], null],
  ['customer.region == "eu"', [["WP2105", 19, 23]], null],
  ['customer.region in ["EU", "Uk"]', [["WP2105", 26, 30]], null],
  ["days_since(claim.opened_at) > 7d", [["WP2104", 0, 32]], null],
  ["since(claim.opened_at) > 7", [["WP2104", 0, 26]], null],
  ["policy.renewal_date > 90", [["WP2104", 0, 24]], null],
  ["policy.renewal_date < 30d", [["WP2104", 0, 25]], null],
  ['policy.renewal_date == "2026-01-31"', [["WP2104", 0, 35]], null],
  ['customer.age == "18"', [["WP2104", 0, 20]], null],
  ['customer.is_minor == "true"', [["WP2104", 0, 27]], null],
  ["day_since(policy.start_date) > 1", [["WP2102", 0, 9]], null],
  ["days_since() > 1", [["WP2103", 0, 12]], null],
  ["days_since(customer.age) > 1", [["WP2104", 11, 23]], null],
  ['customer.id in list("fraud-suspectd")', [["WP2106", 20, 36]], null],
  ['customer.age in list("fraud-suspected")', [["WP2107", 0, 12]], null],
  ['list("a") == 1', [["WP2108", 0, 9]], null],
  ["customer.region", [["WP2109", 0, 15]], null],
  ["customer.age and true", [["WP2109", 0, 12]], null],
  ["not customer.id", [["WP2109", 4, 15]], null],
  ['"vipp" in customer.segments', [["WP2105", 0, 6]], null],
  ['"a" in customer.id', [["WP2104", 7, 18]], null],
  ['customer.age in [1, "a"]', [["WP2104", 16, 24]], null],
  ["customer.age in [customer.score]", [["WP2111", 17, 31]], null],
  ["customer.is_minor < true", [["WP2104", 0, 24]], null],
  ['starts_with(customer.age, "1")', [["WP2104", 12, 24]], null],
  ["contains(customer.segments, 1)", [["WP2104", 28, 29]], null],
  ["len(1) > 0", [["WP2104", 4, 5]], null],
  ['upper(customer.region, "x") == "EU"', [["WP2103", 0, 27]], null],
  ["customer.age > null", [["WP2104", 0, 19]], null],
  // constant conditions: warnings, and `constant` set
  ["1 == 1", [["WP2110", 0, 6]], true],
  ['customer.region == "EU" and customer.region == "UK"', [["WP2110", 0, 51]], false],
  ["customer.region in []", [["WP2110", 0, 21]], false],
  ["customer.region not in []", [["WP2110", 0, 25]], true],
  ["not true", [["WP2110", 0, 8]], false],
  ["customer.age > 30 and customer.age < 18", [["WP2110", 0, 39]], false],
  ['customer.region == "EU" or not (customer.region == "EU")', [["WP2110", 0, 56]], true],
  ['customer.region != "EU" and customer.region == "EU"', [["WP2110", 0, 51]], false],
  ['customer.region in ["EU", "UK"] and customer.region == "US"', [["WP2110", 0, 59]], false],
  ["local_hour(now) >= 9 and true", [["WP2110", 25, 29]], null],
  ["2026-01-01 < 2026-01-02T00:00:00+01:00", [["WP2110", 0, 38]], true],
  // not constant: a missing field makes both sides false (docs/ir.md: undefined is not true)
  ['customer.region == "EU" or customer.region != "EU"', [], null],
  ["customer.age >= 18 and customer.age <= 18", [], null],
  // fine
  ['days_until(policy.renewal_date) == 90 and customer.region in ["EU", "UK"]', [], null],
  ['customer.id not in list("fraud-suspected") and consent.email.marketing == true', [], null],
  ["since(claim.opened_at) > 3d and hours_since(claim.opened_at) < 100", [], null],
  ['"vip" in customer.segments or len(customer.segments) == 0', [], null],
  ["customer.email != null and exists(customer.email)", [], null],
];

describe("syntax diagnostics", () => {
  test.each(SYNTAX)("%j", (text, want) => {
    const r = parseCondition(text);
    expect(brief(r.diagnostics)).toEqual(want);
    expect(r.ast).toBeNull();
  });
});

describe("type diagnostics", () => {
  test.each(TYPED)("%j", (text, want, constant) => {
    const p = parseCondition(text);
    expect(p.diagnostics).toEqual([]);
    const r = checkCondition(p.ast!, env);
    expect(brief(r.diagnostics)).toEqual(want);
    expect(r.constant).toBe(constant);
    for (const d of r.diagnostics) expect(d.severity).toBe(d.code === "WP2110" ? "warning" : "error");
  });
});

describe("messages", () => {
  const msg = (text: string): [string, string | undefined] => {
    const p = parseCondition(text);
    const d = p.ast ? checkCondition(p.ast, env).diagnostics[0]! : p.diagnostics[0]!;
    return [d.message, d.help];
  };
  test.each<[string, string, string | undefined]>([
    ['customer.regoin == "EU"', "unknown field `customer.regoin`", "did you mean `customer.region`?"],
    ["a == ", "expected a value after `==`", 'the condition ends here; add a value such as `"EU"`, `90`, `true`, `7d` or a field name such as `customer.region`'],
    ["days_since(claim.opened_at) > 7d", "`days_since(...)` gives a number of days; compare it with a number such as `7`, not a duration `7d`",
      "write `days_since(claim.opened_at) > 7`, or compare durations with `since(claim.opened_at) > 7d`"],
    ["a && b", "write `and` instead of `&&`", "conditions use the words `and`, `or` and `not`"],
    ['customer.region == "eu"', '`"eu"` is not an allowed value of `customer.region`', 'did you mean `"EU"`? (values are case-sensitive)'],
    ['customer.region == "FR"', '`"FR"` is not an allowed value of `customer.region`', "allowed values: `EU`, `UK`, `US`"],
    ['"vipp" in customer.segments', '`"vipp"` is not an allowed value of `customer.segments`', 'did you mean `"vip"`?'],
    ['customer.language == "es"', '`"es"` is not an allowed value of `customer.language`', "allowed values: `en`, `fr`, `de`"],
    ["a == 1 AND b == 2", "expected `and`, `or` or the end of the condition, found `AND`", "write `and` in lower case"],
    ["since(x) > 7days", "unknown duration unit `days`", "write `7d`"],
    ["x > 1.5h", "a duration must be a whole number of units, not `1.5h`", "write `90m`"],
    ["policy.renewal_date > 90", "cannot compare a date or time with a number",
      "to count days, write `days_since(policy.renewal_date) > 90` or `days_until(policy.renewal_date) > 90`"],
    ['customer.id in list("fraud-suspectd")', "unknown list `fraud-suspectd`", "did you mean `fraud-suspected`?"],
    ["customer.region", "a condition must be true or false, but `customer.region` is text", 'compare it with a value, such as `customer.region == "EU"`'],
    ['customer.region == "EU" and customer.region == "UK"', "this condition is always false",
      '`customer.region` cannot match both `customer.region == "EU"` and `customer.region == "UK"`; did you mean `or`?'],
  ])("%j", (text, message, help) => {
    expect(msg(text)).toEqual([message, help]);
  });

  test("every message follows the style: lowercase start, no final period, one line", () => {
    const all = [...SYNTAX.map(([t]) => t), ...TYPED.map(([t]) => t)];
    for (const t of all) {
      const p = parseCondition(t);
      const ds = p.ast ? checkCondition(p.ast, env).diagnostics : p.diagnostics;
      for (const d of ds) {
        expect(d.message, t).toMatch(/^[^A-Z]/);
        expect(d.message, t).not.toMatch(/\.$/);
        expect(d.message + (d.help ?? ""), t).not.toMatch(/\n/);
      }
    }
  });
});

describe("types and reads", () => {
  test.each<[string, string]>([
    ["days_since(policy.start_date)", "number"],
    ["since(policy.start_date)", "duration"],
    ["customer.segments", "list<string>"],
    ['["a", "b"]', "list<string>"],
    ["[]", "list<unknown>"],
    ["now", "time"],
    ["null", "null"],
    ["customer.is_minor", "boolean"],
  ])("%j : %s", (text, type) => {
    expect(typeToString(checkCondition(parseCondition(text).ast!, env).type)).toBe(type);
  });

  test("fieldsRead and listsRead carry spans", () => {
    const text = 'customer.id not in list("do-not-contact") and days_since(policy.start_date) > 3';
    const r = checkCondition(parseCondition(text).ast!, env);
    expect(r.fieldsRead.map((f) => [f.name, text.slice(f.start, f.end)])).toEqual([
      ["customer.id", "customer.id"],
      ["policy.start_date", "policy.start_date"],
    ]);
    expect(r.listsRead.map((f) => [f.name, text.slice(f.start, f.end)])).toEqual([["do-not-contact", '"do-not-contact"']]);
  });
});

test("every code in CONDITION_CODES has a fixture here", () => {
  const seen = new Set([...SYNTAX.flatMap(([, w]) => w.map((x) => x[0])), ...TYPED.flatMap(([, w]) => w.map((x) => x[0]))]);
  expect([...seen].sort()).toEqual(Object.keys(CONDITION_CODES).sort());
  for (const [k, v] of Object.entries(CONDITION_CODES)) {
    expect(k).toMatch(/^WP2(0|1)\d\d$/);
    expect(v.summary.length).toBeGreaterThan(0);
    expect(v.help.length).toBeGreaterThan(0);
  }
});
