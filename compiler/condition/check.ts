/**
 * checkCondition: names and types of a parsed condition against the data dictionary and the
 * named lists (WP21xx), the fields and lists it reads (for data-minimisation checks), and
 * whether it is constant (a WP2110 warning). Errors are collected, not thrown; an expression
 * whose type is unknown after an error is accepted everywhere so each mistake is reported once.
 */
import { didYouMean } from "../diagnostics.js";
import type { Cond, Expr } from "./ast.js";
import { code, ldiag, type ConditionCode, type LocalDiagnostic } from "./codes.js";
import { holds } from "./fold.js";
import { readDate, readTimestamp } from "./literals.js";
import { printCondition } from "./print.js";
import {
  BOOLEAN, BUILTINS, COUNTING_FNS, describeType, equalityCompatible, fieldType, listOf, orderCompatible, UNKNOWN,
  type ConditionEnv, type ConditionType, type FieldInfo,
} from "./types.js";

export interface NameRef {
  name: string;
  start: number;
  end: number;
}

export interface CheckResult {
  type: ConditionType;
  diagnostics: LocalDiagnostic[];
  fieldsRead: NameRef[];
  listsRead: NameRef[];
  /** true/false when the condition always/never holds, null when it depends on the request. */
  constant: boolean | null;
}

const LITERAL_KINDS = new Set<Expr["kind"]>(["string", "number", "boolean", "null", "duration", "date", "timestamp"]);

export function checkCondition(ast: Cond, env: ConditionEnv): CheckResult {
  const c = new Checker(env);
  const type = c.type(ast);
  c.requireCondition(ast, type, true);
  const constancy = holds(ast);
  if (!c.diagnostics.some((d) => d.severity === "error")) c.reportConstant(ast, constancy, true);
  return { type, diagnostics: c.diagnostics, fieldsRead: c.fieldsRead, listsRead: c.listsRead, constant: constancy ? constancy.value : null };
}

const p = (e: Expr): string => printCondition(e);

class Checker {
  diagnostics: LocalDiagnostic[] = [];
  fieldsRead: NameRef[] = [];
  listsRead: NameRef[] = [];

  constructor(private readonly env: ConditionEnv) {}

  private error(codeId: ConditionCode, message: string, at: { start: number; end: number }, help?: string): void {
    this.diagnostics.push(ldiag(codeId, message, at.start, at.end, help));
  }

  type(e: Expr): ConditionType {
    switch (e.kind) {
      case "string":
        return { kind: "string" };
      case "number":
        return { kind: "number" };
      case "boolean":
        return BOOLEAN;
      case "null":
        return { kind: "null" };
      case "duration":
        return { kind: "duration" };
      case "date":
      case "timestamp":
      case "now":
        return { kind: "time" };
      case "field":
        return this.field(e);
      case "list":
        return this.list(e);
      case "named_list":
        this.error("WP2108", "`list(...)` can only be used after `in`", e.span, `write it like \`customer.id in ${p(e)}\``);
        return UNKNOWN;
      case "call":
        return this.call(e);
      case "not":
        this.requireCondition(e.arg, this.type(e.arg), false, "not");
        return BOOLEAN;
      case "and":
      case "or":
        for (const a of e.args) this.requireCondition(a, this.type(a), false, e.kind);
        return BOOLEAN;
      case "cmp":
        return this.cmp(e);
      case "in":
        return this.in(e);
    }
  }

  private field(e: Extract<Expr, { kind: "field" }>): ConditionType {
    const info = this.env.fields.get(e.name);
    if (info) {
      this.fieldsRead.push({ name: e.name, start: e.span.start, end: e.span.end });
      return fieldType(info);
    }
    const guess = didYouMean(e.name, this.env.fields.keys());
    const help = guess
      ? `did you mean \`${guess}\`?`
      : !e.name.includes(".")
        ? `if this is a text value, put it in quotes: \`"${e.name}"\`; fields are written like \`customer.region\``
        : `declare \`${e.name}\` in the data dictionary, or check its spelling`;
    this.error("WP2101", `unknown field \`${e.name}\``, e.span, help);
    return UNKNOWN;
  }

  private list(e: Extract<Expr, { kind: "list" }>): ConditionType {
    let elem: ConditionType = UNKNOWN;
    let clash = false;
    for (const item of e.items) {
      const t = this.type(item);
      if (!LITERAL_KINDS.has(item.kind)) {
        this.error("WP2111", `list items must be fixed values, not ${code(p(item))}`, item.span,
          item.kind === "field" ? "to compare with several fields, join comparisons with `or`, such as `a == b or a == c`" : 'write values such as `"EU"`, `90` or `2026-01-31`');
        continue;
      }
      if (t.kind === "null" || t.kind === "unknown") continue;
      if (elem.kind === "unknown") elem = t;
      else if (!clash && !equalityCompatible(elem, t)) {
        clash = true;
        this.error("WP2104", `a list cannot mix ${describeType(elem)} and ${describeType(t)}`, e.span, "use values of one kind in a list");
      }
    }
    return listOf(clash ? UNKNOWN : elem);
  }

  private call(e: Extract<Expr, { kind: "call" }>): ConditionType {
    const argTypes = e.args.map((a) => this.type(a));
    const sig = BUILTINS[e.name];
    if (!sig) {
      const guess = didYouMean(e.name, Object.keys(BUILTINS));
      const special: Record<string, string> = {
        today: "use `now` for the time of the request, such as `days_since(policy.start_date) > 30`",
        now: "write `now` without `()`",
        date: "write dates without quotes or a function, such as `2026-01-31`",
        time: "write dates and times without quotes or a function, such as `2026-01-31T09:00:00Z`",
        list: 'write a named list after `in`, such as `customer.id in list("do-not-contact")`',
      };
      this.error("WP2102", `unknown function \`${e.name}\``, e.nameSpan,
        special[e.name] ?? (guess ? `did you mean \`${guess}\`?` : `available functions: ${Object.keys(BUILTINS).map((n) => `\`${n}\``).join(", ")}`));
      return UNKNOWN;
    }
    if (e.args.length !== sig.params.length) {
      const n = sig.params.length;
      this.error("WP2103", `\`${e.name}\` takes ${n} argument${n === 1 ? "" : "s"}, but ${e.args.length === 0 ? "none" : e.args.length} ${e.args.length === 1 ? "was" : "were"} given`,
        e.span, `write it like \`${sig.example}\``);
      return sig.result;
    }
    sig.params.forEach((param, i) => {
      const a = e.args[i]!;
      const t = argTypes[i]!;
      if (t.kind === "unknown") return;
      const ok =
        param === "any" ? true
        : param === "time" ? t.kind === "time"
        : param === "string" ? t.kind === "string"
        : t.kind === "string" || t.kind === "list";
      if (!ok) {
        const want = param === "time" ? "a date or time" : param === "string" ? "text" : "text or a list";
        this.error("WP2104", `\`${e.name}\` needs ${want}, but ${code(p(a))} is ${describeType(t)}`, a.span, quotedHelp(a, t, param === "time" ? "time" : "string") ?? `write it like \`${sig.example}\``);
      }
    });
    if (e.name === "contains" && e.args.length === 2) {
      const [hay, needle] = [argTypes[0]!, argTypes[1]!];
      const ok = hay.kind === "list" ? equalityCompatible(hay.elem, needle) : hay.kind === "string" ? needle.kind === "string" || needle.kind === "unknown" : true;
      if (!ok) this.error("WP2104", `cannot look for ${describeType(needle)} in ${describeType(hay)}`, e.args[1]!.span, `write it like \`${sig.example}\``);
      else this.allowedValue(e.args[0]!, e.args[1]!);
    }
    return sig.result;
  }

  private cmp(e: Extract<Expr, { kind: "cmp" }>): ConditionType {
    const lt = this.type(e.left);
    const rt = this.type(e.right);
    const equality = e.op === "==" || e.op === "!=";
    if (!(equality ? equalityCompatible(lt, rt) : orderCompatible(lt, rt))) this.mismatch(e, lt, rt);
    else if (equality) {
      this.allowedValue(e.left, e.right);
      this.allowedValue(e.right, e.left);
    }
    return BOOLEAN;
  }

  /** Explain a comparison of incompatible types, with what to write instead. */
  private mismatch(e: Extract<Expr, { kind: "cmp" }>, lt: ConditionType, rt: ConditionType): void {
    const sides: [Expr, ConditionType, Expr, ConditionType, boolean][] = [
      [e.left, lt, e.right, rt, false],
      [e.right, rt, e.left, lt, true],
    ];
    const op = e.op;
    const say = (message: string, help?: string): void => this.error("WP2104", message, e.span, help);
    for (const [a, at, b, bt, flipped] of sides) {
      const rewrite = (left: string, right: string): string => (flipped ? `${right} ${op} ${left}` : `${left} ${op} ${right}`);
      // days_since(x) > 7d: a count compared with a duration.
      if (a.kind === "call" && COUNTING_FNS[a.name] && bt.kind === "duration") {
        const unit = COUNTING_FNS[a.name]!;
        const ms = b.kind === "duration" ? b.amount * DUR[b.unit] : undefined;
        const n = ms !== undefined && ms % unit.ms === 0 ? String(ms / unit.ms) : "7";
        const durFn = a.name.endsWith("until") ? "until" : "since";
        const arg = a.args[0] ? p(a.args[0]) : "...";
        return say(`\`${a.name}(...)\` gives a number of ${unit.unit}; compare it with a number such as \`${n}\`, not a duration ${code(b.kind === "duration" ? p(b) : "7d")}`,
          `write ${code(rewrite(p(a), n), 80)}, or compare durations with ${code(rewrite(`${durFn}(${arg})`, b.kind === "duration" ? p(b) : "7d"), 80)}`);
      }
      // since(x) > 7: a duration compared with a plain number.
      if (at.kind === "duration" && bt.kind === "number") {
        const n = b.kind === "number" ? b.value : 7;
        const fnName = a.kind === "call" ? `\`${a.name}(...)\`` : code(p(a));
        const countFn = a.kind === "call" && a.name === "until" ? "days_until" : "days_since";
        const arg = a.kind === "call" && a.args[0] ? p(a.args[0]) : "...";
        return say(`${fnName} gives a duration; compare it with a duration such as \`${n}d\`, not a number ${code(p(b))}`,
          `write ${code(rewrite(p(a), `${n}d`), 80)} (units: \`ms\`, \`s\`, \`m\`, \`h\`, \`d\`, \`w\`), or count days with ${code(rewrite(`${countFn}(${arg})`, String(n)), 80)}`);
      }
      // policy.renewal_date > 90: a time compared with a number or a duration.
      if (at.kind === "time" && (bt.kind === "number" || bt.kind === "duration")) {
        const x = p(a);
        const help = bt.kind === "number"
          ? `to count days, write ${code(rewrite(`days_since(${x})`, p(b)), 80)} or ${code(rewrite(`days_until(${x})`, p(b)), 80)}`
          : `to compare how long ago it was, write ${code(rewrite(`since(${x})`, p(b)), 80)}; for how soon, ${code(rewrite(`until(${x})`, p(b)), 80)}`;
        return say(`cannot compare a date or time with ${describeType(bt)}`, help);
      }
      const quoted = quotedHelp(b, bt, at.kind);
      if (quoted) return say(`cannot compare ${describeType(at)} with ${describeType(bt)}`, quoted);
    }
    if (lt.kind === rt.kind) return say(`\`${op}\` cannot order ${describeType(lt)} values`, "use `==` or `!=` to compare them");
    return say(`cannot compare ${describeType(lt)} with ${describeType(rt)}`, "both sides of a comparison must be the same kind of value");
  }

  private in(e: Extract<Expr, { kind: "in" }>): ConditionType {
    const it = this.type(e.item);
    const op = e.negated ? "not in" : "in";
    if (e.set.kind === "named_list") {
      const name = e.set.name;
      if (this.env.lists.has(name)) this.listsRead.push({ name, start: e.set.nameSpan.start, end: e.set.nameSpan.end });
      else {
        const guess = didYouMean(name, this.env.lists.keys());
        this.error("WP2106", `unknown list \`${name}\``, e.set.nameSpan, guess ? `did you mean \`${guess}\`?` : "declare it as a suppression list or a value list, or check its name");
      }
      if (it.kind !== "string" && it.kind !== "unknown")
        this.error("WP2107", `\`${op} list(...)\` needs text, but ${code(p(e.item))} is ${describeType(it)}`, e.item.span, "named lists hold text keys, such as a customer id or a hashed email");
      return BOOLEAN;
    }
    const st = this.type(e.set);
    if (st.kind === "list") {
      if (!equalityCompatible(it, st.elem)) {
        this.error("WP2104", `cannot look for ${describeType(it)} in ${describeType(st)}`, e.span, "the value and the list items must be the same kind of value");
      } else if (e.set.kind === "list") {
        for (const x of e.set.items) this.allowedValue(e.item, x);
      } else this.allowedValue(e.set, e.item);
    } else if (st.kind === "string") {
      this.error("WP2104", `\`${op}\` needs a list, but ${code(p(e.set))} is text`, e.set.span, `to look for text inside text, write ${code(`contains(${p(e.set)}, ${p(e.item)})`, 80)}`);
    } else if (st.kind !== "unknown") {
      this.error("WP2104", `\`${op}\` needs a list, but ${code(p(e.set))} is ${describeType(st)}`, e.set.span, 'write a list such as `["EU", "UK"]`, or a named list such as `list("do-not-contact")`');
    }
    return BOOLEAN;
  }

  /** A text literal compared with a field whose dictionary entry lists its allowed values. */
  private allowedValue(fieldSide: Expr, value: Expr): void {
    if (fieldSide.kind !== "field" || value.kind !== "string") return;
    const info: FieldInfo | undefined = this.env.fields.get(fieldSide.name);
    if (!info?.values || info.values.includes(value.value)) return;
    const exact = info.values.find((v) => v.toLowerCase() === value.value.toLowerCase());
    // Short codes (`FR`, `es`) are one edit from many others: list the values instead of guessing.
    const guess = exact ?? (value.value.length > 3 ? didYouMean(value.value, info.values) : undefined);
    const all = info.values.length <= 12 ? info.values.map((v) => `\`${v}\``).join(", ") : `${info.values.slice(0, 12).map((v) => `\`${v}\``).join(", ")}, …`;
    this.error("WP2105", `${code(JSON.stringify(value.value))} is not an allowed value of \`${fieldSide.name}\``, value.span,
      exact ? `did you mean \`"${exact}"\`? (values are case-sensitive)` : guess ? `did you mean \`"${guess}"\`?` : `allowed values: ${all}`);
  }

  /** Where a condition (true or false) is needed: the whole condition, and under `and`/`or`/`not`. */
  requireCondition(e: Expr, t: ConditionType, root: boolean, under?: string): void {
    if (t.kind === "boolean" || t.kind === "unknown") return;
    const x = p(e);
    const help: Record<string, string> = {
      string: `compare it with a value, such as ${code(`${x} == "EU"`, 80)}`,
      number: `compare it with a number, such as ${code(`${x} > 0`, 80)}`,
      time: `compare it with a time, such as ${code(`${x} < now`, 80)}, or count days with ${code(`days_since(${x}) > 30`, 80)}`,
      duration: `compare it with a duration, such as ${code(`${x} > 7d`, 80)}`,
      list: `check for a value in it, such as ${code(`"vip" in ${x}`, 80)}, or its size, such as ${code(`len(${x}) > 0`, 80)}`,
      null: "`null` alone is never true; compare a field with it, such as `customer.email != null`",
    };
    const where = root ? "a condition must be true or false" : `\`${under}\` needs a condition that is true or false`;
    this.error("WP2109", `${where}, but ${code(x)} is ${describeType(t)}`, e.span, help[t.kind]);
  }

  /** Warn about the outermost constant part: the whole condition, or a part of an and/or/not. */
  reportConstant(e: Expr, c: ReturnType<typeof holds>, root: boolean): void {
    if (c) {
      const what = root ? "this condition is" : "this part of the condition is";
      this.diagnostics.push(ldiag("WP2110", `${what} always ${c.value ? "true" : "false"}`, e.span.start, e.span.end, c.why, "warning"));
      return;
    }
    if (e.kind === "and" || e.kind === "or") for (const a of e.args) this.reportConstant(a, holds(a), false);
    else if (e.kind === "not") this.reportConstant(e.arg, holds(e.arg), false);
  }
}

const DUR = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** Help for a quoted value that should not be quoted: `"2026-01-31"`, `"90"`, `"true"`, `"7d"`. */
function quotedHelp(b: Expr, bt: ConditionType, wanted: string): string | undefined {
  if (b.kind !== "string" || bt.kind !== "string") return undefined;
  const s = b.value.trim();
  if (wanted === "time" && (readDate(s, 0, 0).ok || readTimestamp(s, 0, 0).ok)) return `write dates and times without quotes: \`${s}\``;
  if (wanted === "number" && s !== "" && Number.isFinite(Number(s))) return `write numbers without quotes: \`${s}\``;
  if (wanted === "boolean" && (s === "true" || s === "false")) return `write \`${s}\` without quotes`;
  if (wanted === "duration" && /^\d+(ms|s|m|h|d|w)$/.test(s)) return `write durations without quotes: \`${s}\``;
  return undefined;
}
