/**
 * fast-check arbitraries for the Waypost IR: requests shaped by a plan's data dictionary,
 * random condition expressions, and plan variations. Used by the differential tests (every
 * evaluator must agree with the reference interpreter) and by interpreter-only properties.
 *
 * The generators aim at the interesting edges rather than at uniform randomness: field values
 * are mostly valid (so decisions get past step 4) with some type / range / enum violations;
 * timestamps cluster around a fixed "now" in several RFC 3339 spellings; customer ids hit and
 * miss the lists; quiet hours wrap midnight; utc offsets are negative and positive.
 */
import fc from "fast-check";
import type {
  BuiltinFn,
  BundleData,
  CmpOp,
  Expr,
  FieldSpec,
  Gate,
  IR,
  JsonValue,
  Plan,
  QuietHours,
} from "../../compiler/ir/ir.js";

/** The block kinds an arbitration policy may name (docs/ir.md step 5). */
const ARB_KINDS = ["suppression", "lawful-basis", "restriction", "consent", "cap", "cool-down", "quiet-hours"] as const;

/** 2026-11-25T10:00:00Z: the centre of generated times (no clock: tests are reproducible). */
export const BASE_NOW_MS = 1795600800000;
const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// Times

const pad = (n: number, w = 2): string => String(Math.abs(n)).padStart(w, "0");

/** Formats ms as RFC 3339 with the given zone offset (minutes) and optional fraction digits. */
export function rfc3339(ms: number, offsetMin: number, fraction: string, lowerCase: boolean): string {
  const d = new Date(ms + offsetMin * 60_000);
  const zone =
    offsetMin === 0 && !fraction.startsWith("+")
      ? "Z"
      : `${offsetMin < 0 ? "-" : "+"}${pad(Math.trunc(Math.abs(offsetMin) / 60))}:${pad(Math.abs(offsetMin) % 60)}`;
  const s =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    (fraction === "" ? "" : `.${fraction}`) +
    zone;
  return lowerCase ? s.replace("T", "t").replace("Z", "z") : s;
}

/** A time near `center` (± `spreadDays`) in one of the accepted spellings (dates included). */
export function timeString(center = BASE_NOW_MS, spreadDays = 10): fc.Arbitrary<string> {
  const ms = fc.integer({ min: center - spreadDays * DAY, max: center + spreadDays * DAY });
  return fc.oneof(
    { weight: 7, arbitrary: timestampString(center, spreadDays) },
    { weight: 1, arbitrary: ms.map((m) => new Date(Math.floor(m / DAY) * DAY).toISOString().slice(0, 10)) },
  );
}

/** An RFC 3339 timestamp (with its zone) near `center`, in one of the accepted spellings. */
export function timestampString(center = BASE_NOW_MS, spreadDays = 10): fc.Arbitrary<string> {
  const ms = fc.integer({ min: center - spreadDays * DAY, max: center + spreadDays * DAY });
  const wholeSecond = ms.map((m) => Math.floor(m / 1000) * 1000);
  return fc.oneof(
    { weight: 4, arbitrary: wholeSecond.map((m) => rfc3339(m, 0, "", false)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(wholeSecond, fc.integer({ min: -720, max: 840 }).map((o) => o - (o % 15)))
        .map(([m, o]) => rfc3339(m, o, "", false)),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(wholeSecond, fc.stringMatching(/^[0-9]{1,6}$/), fc.boolean())
        .map(([m, f, lc]) => rfc3339(m, 0, f, lc)),
    },
  );
}

/**
 * A consent time no later than `nowMs` (whole seconds at or before it, in any zone): a request's
 * `now` may carry a fraction, so a consent time never exceeds it.
 */
function consentTime(nowMs: number, agesMs: readonly number[] = []): fc.Arbitrary<string> {
  const last = Math.floor(nowMs / 1000) * 1000;
  // Near a max_age (± 36 h, never after now): fresh at now and stale at a send time up to a
  // day and a half later, or the other way round (docs/ir.md step 10).
  const nearAge = agesMs.flatMap((age) => [
    { weight: 3, arbitrary: fc.integer({ min: -36 * 60, max: 36 * 60 }).map((m) => Math.min(last, last - age + m * 60_000)) },
    // well within the age: consent that holds, so later steps are reached
    { weight: 2, arbitrary: fc.integer({ min: Math.max(last - age + DAY, last - 800 * DAY), max: last }) },
  ]);
  return fc
    .tuple(
      fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: last - 800 * DAY, max: last }) },
        { weight: 1, arbitrary: fc.constant(last) },
        ...nearAge,
      ),
      fc.integer({ min: -720, max: 840 }).map((o) => o - (o % 15)),
    )
    .map(([m, o]) => rfc3339(Math.floor(m / 1000) * 1000, o, "", false));
}

/** Strings that look like times but are not (each breaks one rule of docs/ir.md). */
export const malformedTime: fc.Arbitrary<string> = fc.constantFrom(
  "2026-11-25T10:00:00",
  "2026-11-31T10:00:00Z",
  "2026-02-29",
  "2026-11-25T24:00:00Z",
  "2026-11-25T10:60:00Z",
  "2026-11-25T10:00:60Z",
  "2026-11-25T10:00Z",
  "2026-11-25 10:00:00Z",
  "2026-11-25T10:00:00.Z",
  "2026-11-25T10:00:00+24:00",
  "26-11-25",
  "",
  "now",
);

// ---------------------------------------------------------------------------------------------
// Field values from the data dictionary

const shortString = fc.string({ maxLength: 6, unit: "grapheme-ascii" });
const anyString = fc.oneof(shortString, fc.string({ maxLength: 4, unit: "grapheme" }));
/** Doubles without NaN / ±Infinity / -0 (not representable in JSON), with some integers. */
const jsonNumber = fc.oneof(
  fc.integer({ min: -2000, max: 20000 }),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map((x) => (Object.is(x, -0) ? 0 : x)),
);

/** A value that satisfies `spec` (type, values, min/max). */
export function validValue(
  spec: FieldSpec,
  extraStrings: string[] = [],
  nowMs = BASE_NOW_MS,
  consentAgesMs: readonly number[] = [],
): fc.Arbitrary<JsonValue> {
  const num = (integer: boolean): fc.Arbitrary<number> => {
    const min = spec.min ?? -1000;
    const max = spec.max ?? 100000;
    const i = fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
    if (integer) return i;
    return fc.oneof(i, fc.double({ min, max, noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x)));
  };
  let base: fc.Arbitrary<JsonValue>;
  switch (spec.type) {
    case "string":
      base =
        spec.values !== undefined
          ? fc.constantFrom(...spec.values)
          : extraStrings.length > 0
            ? fc.oneof(fc.constantFrom(...extraStrings), anyString)
            : anyString;
      break;
    case "number":
      base = num(false);
      break;
    case "integer":
      base = num(true);
      break;
    case "boolean":
      base = fc.boolean();
      break;
    case "timestamp":
      // Mostly a few days before now, so that days_since-style triggers hold now and then.
      // A consent time is never later than now (docs/ir.md step 4).
      // Some within 36 hours either side of now (minutes), so a time can fall between now and a
      // send time: a scheduled withdrawal, a cool-down's end.
      base =
        spec.consent === true
          ? consentTime(nowMs, consentAgesMs)
          : fc.oneof(
              timestampString(nowMs - 3 * DAY, 3),
              timestampString(nowMs, 120),
              fc.integer({ min: -36 * 60, max: 36 * 60 }).map((m) => rfc3339(Math.floor(nowMs / 60_000) * 60_000 + m * 60_000, 0, "", false)),
            );
      break;
    case "date":
      // Mostly about 90 days ahead (renewal-style triggers), else anywhere around now.
      base = fc.oneof(timeString(nowMs + 90 * DAY, 3), timeString(nowMs, 120)).map((s) => s.slice(0, 10));
      break;
    case "string[]":
      base = fc.array(
        spec.values
          ? fc.constantFrom(...spec.values)
          : extraStrings.length > 0
            ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...extraStrings) }, { weight: 1, arbitrary: shortString })
            : shortString,
        { maxLength: 3 },
      );
      break;
    case "number[]":
      base = fc.array(num(false), { maxLength: 3 });
      break;
  }
  return spec.nullable ? fc.oneof({ weight: 9, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) }) : base;
}

/** A value that violates `spec` in one way (wrong type, out of range, not in values, null). */
export function invalidValue(spec: FieldSpec): fc.Arbitrary<JsonValue> {
  const wrongType: fc.Arbitrary<JsonValue> = fc.oneof(
    fc.constant(spec.type === "string" ? 1 : "1"),
    fc.constant(spec.type === "boolean" ? "true" : true),
    fc.constant<JsonValue>({ a: 1 }),
    fc.constant<JsonValue>(spec.type.endsWith("[]") ? "x" : ["x"]),
  );
  const options: fc.Arbitrary<JsonValue>[] = [wrongType];
  if (!spec.nullable) options.push(fc.constant(null));
  if (spec.min !== undefined) options.push(fc.constant(spec.min - 1));
  if (spec.max !== undefined) options.push(fc.constant(spec.max + 0.5));
  if (spec.type === "integer") options.push(fc.constant(1.5));
  if (spec.values !== undefined) options.push(fc.constant(spec.values.join("|") + "?"));
  if (spec.type === "timestamp" || spec.type === "date") options.push(malformedTime);
  // Each time type refuses the other's form; a consent time refuses the future.
  if (spec.type === "timestamp") options.push(fc.constantFrom("2026-11-20", "2026-11-20T09:00:00", 1795600800000));
  if (spec.type === "date") options.push(fc.constantFrom("2027-02-23T00:00:00Z", "2027-02-23t00:00:00+01:00"));
  if (spec.consent === true) options.push(fc.constantFrom("2099-01-01T00:00:00Z", "2027-11-25T10:00:00+14:00"));
  if (spec.type === "string[]") options.push(fc.constant<JsonValue>(["a", 2]));
  if (spec.type === "number[]") options.push(fc.constant<JsonValue>([1, "2"]));
  return fc.oneof(...options);
}

// ---------------------------------------------------------------------------------------------
// Requests

/** Every key of every list in the bundle: used so that list lookups hit as well as miss. */
export function listKeys(data: BundleData): string[] {
  return [...new Set(Object.values(data.lists).flatMap((l) => Object.keys(l)))].sort();
}

function channelsOf(plan: Plan): string[] {
  return [...new Set(plan.nodes.flatMap((n) => n.channels))].sort();
}

/**
 * History entries: almost always well-formed (declared channels and purposes, timestamps with a
 * zone), so most requests with a history get past step 1; now and then malformed in one way
 * (which step 1 must refuse identically on every evaluator).
 */
const historyEntry = (plan: Plan, nowMs: number): fc.Arbitrary<JsonValue> => {
  const channels = [...new Set([...channelsOf(plan), ...plan.channels])].sort();
  const purposes = plan.purposes.length > 0 ? plan.purposes : [...new Set(plan.nodes.map((n) => n.purpose))];
  const rare = (ok: fc.Arbitrary<JsonValue>, bad: fc.Arbitrary<JsonValue>): fc.Arbitrary<JsonValue> =>
    fc.oneof({ weight: 80, arbitrary: ok }, { weight: 1, arbitrary: bad });
  const entry = fc
    .record(
      {
        at: rare(
          fc.oneof({ weight: 5, arbitrary: timestampString(nowMs, 8) }, { weight: 1, arbitrary: fc.constant(rfc3339(nowMs, 0, "", false)) }),
          fc.oneof(malformedTime, fc.constant<JsonValue>(nowMs), fc.constant<JsonValue>("2026-11-24")),
        ),
        channel: rare(fc.constantFrom(...channels), fc.constantFrom<JsonValue>("fax", "SMS", "Email", 1, null)),
        purpose: rare(fc.constantFrom(...purposes), fc.constantFrom<JsonValue>("other", "Claims", null)),
        node: rare(fc.constantFrom(...plan.nodes.map((n) => n.id)), fc.constantFrom<JsonValue>(1, null)),
        // an unknown (or wrong-case) key, rarely
        extra: fc.oneof(
          { weight: 80, arbitrary: fc.constant<[string, JsonValue] | null>(null) },
          { weight: 1, arbitrary: fc.tuple(fc.constantFrom("Channel", "AT", "via"), fc.constantFrom<JsonValue>("sms", 1)) },
        ),
        missingAt: fc.oneof({ weight: 80, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      },
      { requiredKeys: ["at", "channel", "extra", "missingAt"] },
    )
    .map(({ extra, missingAt, ...e }): JsonValue => {
      const out: { [k: string]: JsonValue } = { ...(e as { [k: string]: JsonValue }) };
      if (missingAt) delete out["at"];
      if (extra !== null) out[extra[0]] = extra[1];
      return out;
    });
  return fc.oneof(
    { weight: 80, arbitrary: entry },
    { weight: 1, arbitrary: fc.oneof(fc.constant(null), fc.constant(5), fc.constant<JsonValue>([])) },
  );
};

export interface RequestOptions {
  /** Share of requests with one deliberately invalid field value (0..1). Default 0.1. */
  invalidField?: number;
  /** Share of requests with a field the event may not receive. Default 0.05. */
  extraField?: number;
  /** Share of requests with an invalid shape (bad system/event/now/...). Default 0.05. */
  badShape?: number;
  /** Times (ms) `now` also clusters around (± 36 h): e.g. the DST transitions of the plan's zones. */
  nowCenters?: readonly number[];
  /** Times (ms) `now` also falls shortly before (up to 12 h): e.g. the ends of validity windows. */
  nowBefore?: readonly number[];
  /** Consent max ages (ms) consent times also cluster around (see `consentMaxAges`). */
  consentAgesMs?: readonly number[];
}

/**
 * The DST (offset) transitions of the plan's embedded zones within [from, to]: centres for
 * `now`, so deferrals and send-time checks cross them.
 */
export function zoneTransitions(plan: Plan, from = BASE_NOW_MS - 400 * DAY, to = BASE_NOW_MS + 60 * DAY): number[] {
  const out = new Set<number>();
  for (const table of Object.values(plan.zones ?? {})) {
    for (let i = 1; i < table.length; i += 2) {
      const t = table[i]!;
      if (t >= from && t <= to) out.add(t);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** The max ages of the plan's consent checks: `since(field) > N` comparisons in its conditions. */
export function consentMaxAges(ir: IR): number[] {
  const out = new Set<number>();
  const walk = (e: unknown): void => {
    if (e === null || typeof e !== "object") return;
    const x = e as Record<string, unknown>;
    const l = x["left"] as Record<string, unknown> | undefined;
    const r = x["right"] as Record<string, unknown> | undefined;
    if (x["op"] === "cmp" && x["cmp"] === ">" && l?.["op"] === "call" && l["fn"] === "since" && r?.["op"] === "const" && typeof r["value"] === "number") {
      out.add(r["value"]);
    }
    for (const v of Object.values(x)) {
      if (Array.isArray(v)) v.forEach(walk);
      else walk(v);
    }
  };
  ir.conds.forEach(walk);
  return [...out].sort((a, b) => a - b);
}

/**
 * Requests for `plan`: mostly well-formed for a known system and event, with context fields
 * from `event_fields` (each present or missing), values per the data dictionary, customer ids
 * from the lists, utc offsets, histories; plus a controlled share of invalid ones.
 */
export function requestFor(plan: Plan, data: BundleData, opts: RequestOptions = {}): fc.Arbitrary<JsonValue> {
  const systems = Object.keys(plan.systems).sort();
  const events = Object.keys(plan.events).sort();
  const keys = listKeys(data);
  const invalidP = opts.invalidField ?? 0.1;
  const extraP = opts.extraField ?? 0.05;
  const badP = opts.badShape ?? 0.05;
  // Weighted modes rather than a uniform draw: fast-check biases integers towards small values.
  const pct = (p: number): number => Math.max(0, Math.round(p * 1000));
  const mode = fc.oneof(
    { weight: pct(1 - invalidP - extraP), arbitrary: fc.constant<"ok" | "invalid" | "extra">("ok") },
    { weight: pct(invalidP), arbitrary: fc.constant<"ok" | "invalid" | "extra">("invalid") },
    { weight: pct(extraP), arbitrary: fc.constant<"ok" | "invalid" | "extra">("extra") },
  );
  const nodeIds = plan.nodes.map((n) => n.id);
  const centers = opts.nowCenters ?? [];
  const before = opts.nowBefore ?? [];
  const channelNames = [...new Set([...channelsOf(plan), ...plan.channels])].sort();
  const ages = opts.consentAgesMs ?? [];

  const wellFormed = fc
    .record({
      system: fc.oneof({ weight: 19, arbitrary: fc.constantFrom(...systems) }, { weight: 1, arbitrary: shortString }),
      event: fc.oneof({ weight: 19, arbitrary: fc.constantFrom(...events) }, { weight: 1, arbitrary: shortString }),
      nowMs: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: BASE_NOW_MS - 3 * DAY, max: BASE_NOW_MS + 3 * DAY }) },
        { weight: 1, arbitrary: fc.integer({ min: BASE_NOW_MS - 400 * DAY, max: BASE_NOW_MS + 60 * DAY }) },
        ...(centers.length > 0
          ? [{ weight: 2, arbitrary: fc.tuple(fc.constantFrom(...centers), fc.integer({ min: -36 * 60, max: 36 * 60 })).map(([c, m]) => c + m * 60_000) }]
          : []),
        ...(before.length > 0
          ? [{ weight: 2, arbitrary: fc.tuple(fc.constantFrom(...before), fc.integer({ min: 1, max: 12 * 60 })).map(([c, m]) => c - m * 60_000) }]
          : []),
      ),
      nowStyle: fc.tuple(fc.integer({ min: -720, max: 840 }), fc.constantFrom("", "5", "123", "123456"), fc.boolean()),
      node: fc.oneof(
        { weight: 6, arbitrary: fc.constant<string | null>(null) },
        { weight: 1, arbitrary: nodeIds.length > 0 ? fc.constantFrom<string | null>(...nodeIds) : fc.constant(null) },
      ),
      // (fc.option(fc.constant(null)) was null on both branches: requests never had a history)
      history: fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.constant(true) }),
      mode,
    })
    .chain((r) => {
      const ev = Object.prototype.hasOwnProperty.call(plan.event_fields, r.event) ? plan.event_fields[r.event] : {};
      const names = Object.keys(ev ?? {}).sort();
      const nowMs = r.nowMs;
      const fieldArbs: Record<string, fc.Arbitrary<JsonValue | undefined>> = {};
      for (const name of names) {
        const spec = plan.fields[name];
        if (spec === undefined) continue;
        const idLike = name === plan.keys.customer || Object.values(plan.lists).some((l) => l.match === name);
        const valid =
          name === plan.keys.utc_offset
            ? fc.integer({ min: -720, max: 840 })
            : // a string list may be a consent's channel set: mostly channel names
              validValue(spec, idLike ? keys : spec.type === "string[]" ? channelNames : [], nowMs, ages);
        fieldArbs[name] = fc.oneof(
          { weight: 3, arbitrary: valid },
          { weight: 1, arbitrary: fc.constant(undefined) }, // missing
        );
      }
      const invalidName = names.length > 0 ? fc.constantFrom(...names) : fc.constant("x");
      return fc.record({
        base: fc.constant(r),
        nowMs: fc.constant(nowMs),
        context: fc.record(fieldArbs),
        invalid: invalidName.chain((n) =>
          fc.tuple(fc.constant(n), plan.fields[n] ? invalidValue(plan.fields[n] as FieldSpec) : fc.constant<JsonValue>(1)),
        ),
        extra: fc.tuple(fc.constantFrom("zz.extra", "Extra", "customer.secret", "ä"), fc.constantFrom<JsonValue>(1, "x", null)),
        history: fc.array(historyEntry(plan, nowMs), { maxLength: 5 }),
      });
    })
    .map(({ base, nowMs, context, invalid, extra, history }) => {
      const ctx: { [k: string]: JsonValue } = {};
      for (const [k, v] of Object.entries(context)) if (v !== undefined) ctx[k] = v;
      if (base.mode === "invalid") ctx[invalid[0]] = invalid[1];
      else if (base.mode === "extra") ctx[extra[0]] = extra[1];
      const [offset, frac, lc] = base.nowStyle;
      const req: { [k: string]: JsonValue } = {
        system: base.system,
        event: base.event,
        now: rfc3339(Math.floor(nowMs / 1000) * 1000, offset - (offset % 15), frac, lc),
        context: ctx,
      };
      if (base.node !== null) req.node = base.node;
      if (base.history !== null) req.history = history;
      return req;
    });

  const badShape: fc.Arbitrary<JsonValue> = fc.oneof(
    fc.constantFrom<JsonValue>(null, false, 0, "", [], {}, "x", 1, true),
    fc.record(
      {
        system: fc.oneof(fc.constantFrom(...systems), fc.constant<JsonValue>(1)),
        event: fc.oneof(fc.constantFrom(...events), fc.constant<JsonValue>(null)),
        now: fc.oneof(timeString(), malformedTime, fc.constant<JsonValue>(BASE_NOW_MS)),
        context: fc.oneof(fc.constant<JsonValue>({}), fc.constant<JsonValue>(null), fc.constant<JsonValue>([])),
        node: fc.oneof(fc.constant<JsonValue>(1), fc.constant<JsonValue>(null), shortString),
        history: fc.oneof(fc.constant<JsonValue>({}), fc.constant<JsonValue>("h"), fc.constant<JsonValue>([])),
        History: fc.constant<JsonValue>([]), // unknown (wrong-case) top-level key
      },
      { requiredKeys: [] },
    ),
  );
  if (badP <= 0) return wellFormed;
  return fc.oneof(
    { weight: Math.round((1 - badP) * 100), arbitrary: wellFormed },
    { weight: Math.max(1, Math.round(badP * 100)), arbitrary: badShape },
  );
}

// ---------------------------------------------------------------------------------------------
// Expressions

const BUILTINS1: BuiltinFn[] = [
  "days_since",
  "days_until",
  "hours_since",
  "minutes_since",
  "since",
  "until",
  "lower",
  "upper",
  "len",
  "exists",
  "time",
  "local_hour",
];
const BUILTINS2: BuiltinFn[] = ["contains", "starts_with", "ends_with"];
const CMPS: CmpOp[] = ["==", "!=", "<", "<=", ">", ">="];

/** JSON constants that exercise the semantics: times, numbers by value, unicode, nesting. */
export const jsonConst: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<JsonValue>(true, false, null, 0, 1, 1.5, -3, 10000, 90, "", "EU", "open", "C-FRAUD") },
  { weight: 2, arbitrary: timeString(BASE_NOW_MS, 5) },
  { weight: 1, arbitrary: anyString },
  { weight: 1, arbitrary: jsonNumber },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.constantFrom<JsonValue>(1, "EU", null, "x"), jsonNumber), { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom("a", "b"), fc.constantFrom<JsonValue>(1, 1.0, "x", null), { maxKeys: 2 }) },
);

/**
 * Random expressions over `fieldNames` and `lists`. Not type-checked on purpose: ill-typed
 * operands must give undefined identically on every evaluator.
 */
export function exprArb(fieldNames: string[], lists: string[], maxDepth = 4): fc.Arbitrary<Expr> {
  const names = fieldNames.length > 0 ? fieldNames : ["x"];
  const listIds = lists.length > 0 ? lists : ["none"];
  const { expr } = fc.letrec<{ expr: Expr; leaf: Expr }>((tie) => ({
    leaf: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...names).map((name): Expr => ({ op: "field", name })) },
      { weight: 2, arbitrary: jsonConst.map((value): Expr => ({ op: "const", value })) },
      { weight: 1, arbitrary: fc.constant<Expr>({ op: "now" }) },
      {
        weight: 1,
        arbitrary: fc
          .record(
            {
              window_ms: fc.constantFrom(3_600_000, 86_400_000, 7 * 86_400_000),
              channel: fc.constantFrom("sms", "email"),
              purpose: fc.constantFrom("claims", "marketing"),
            },
            { requiredKeys: ["window_ms"] },
          )
          .map((r): Expr => ({ op: "history_count", ...r })),
      },
    ),
    expr: fc.oneof(
      { depthSize: "small", maxDepth, depthIdentifier: "expr" },
      tie("leaf"),
      fc.record({ arg: tie("expr") }).map(({ arg }): Expr => ({ op: "not", arg })),
      fc.array(tie("expr"), { maxLength: 3 }).map((args): Expr => ({ op: "and", args })),
      fc.array(tie("expr"), { maxLength: 3 }).map((args): Expr => ({ op: "or", args })),
      fc
        .tuple(fc.constantFrom(...CMPS), tie("expr"), tie("expr"))
        .map(([cmp, left, right]): Expr => ({ op: "cmp", cmp, left, right })),
      fc.tuple(tie("expr"), tie("expr")).map(([item, set]): Expr => ({ op: "in", item, set })),
      fc.tuple(fc.constantFrom(...listIds), tie("expr")).map(([list, item]): Expr => ({ op: "in_list", list, item })),
      fc.tuple(fc.constantFrom(...BUILTINS1), tie("expr")).map(([fn, a]): Expr => ({ op: "call", fn, args: [a] })),
      fc
        .tuple(fc.constantFrom(...BUILTINS2), tie("expr"), tie("expr"))
        .map(([fn, a, b]): Expr => ({ op: "call", fn, args: [a, b] })),
      fc
        .tuple(tie("expr"), fc.constantFrom(0, 1000, -86_400_000, 3_600_000))
        .map(([time, ms]): Expr => ({ op: "add_ms", time, ms })),
    ),
  }));
  return expr;
}

/** Well-typed-ish conditions of the shapes the compiler emits (comparisons of builtins with constants). */
export function conditionArb(plan: Plan, lists: string[]): fc.Arbitrary<Expr> {
  const field = (types: FieldSpec["type"][]): fc.Arbitrary<Expr> => {
    const names = Object.keys(plan.fields).filter((n) => types.includes((plan.fields[n] as FieldSpec).type));
    return names.length > 0 ? fc.constantFrom(...names).map((name): Expr => ({ op: "field", name })) : fc.constant({ op: "now" });
  };
  const timeField = field(["timestamp", "date"]);
  const num = fc.integer({ min: -5, max: 100 }).map((value): Expr => ({ op: "const", value }));
  return fc.oneof(
    fc
      .tuple(fc.constantFrom<BuiltinFn>("days_since", "days_until", "hours_since", "local_hour"), timeField, fc.constantFrom(...CMPS), num)
      .map(([fn, f, cmp, right]): Expr => ({ op: "cmp", cmp, left: { op: "call", fn, args: [f] }, right })),
    fc
      .tuple(field(["string"]), fc.array(fc.constantFrom("EU", "UK", "US", "open", "closed"), { maxLength: 3 }))
      .map(([item, value]): Expr => ({ op: "in", item, set: { op: "const", value } })),
    fc.tuple(fc.constantFrom(...(lists.length > 0 ? lists : ["none"])), field(["string"])).map(([list, item]): Expr => ({ op: "in_list", list, item })),
    field(["boolean"]).map((f): Expr => ({ op: "cmp", cmp: "==", left: f, right: { op: "const", value: true } })),
    fc
      .tuple(field(["number", "integer"]), fc.constantFrom(...CMPS), num)
      .map(([left, cmp, right]): Expr => ({ op: "cmp", cmp, left, right })),
    fc
      .tuple(fc.constantFrom(604_800_000, 86_400_000), fc.constantFrom("sms", "email"), fc.integer({ min: 0, max: 3 }))
      .map(([window_ms, channel, n]): Expr => ({
        op: "cmp",
        cmp: ">=",
        left: { op: "history_count", window_ms, channel },
        right: { op: "const", value: n },
      })),
    field(["timestamp", "date", "string"]).map((f): Expr => ({ op: "call", fn: "exists", args: [f] })),
  );
}

// ---------------------------------------------------------------------------------------------
// Plan variations

export const quietHoursArb = (channels: string[], reasonSource: string): fc.Arbitrary<QuietHours[]> =>
  fc.array(
    fc
      .tuple(fc.integer({ min: 0, max: 1439 }), fc.integer({ min: 0, max: 1439 }), fc.subarray(channels, { minLength: 1 }))
      .map(([start_min, end_min, chs]) => ({
        start_min,
        end_min,
        channels: chs,
        reason: { code: "quiet-hours", policy: `contact/quiet-${start_min}-${end_min}`, message: "quiet", source: reasonSource },
      })),
    { maxLength: 3 },
  );

/**
 * Variations of a base IR: node channels (subsets, order), gate outcomes and channels,
 * experiments (holdout and variant weights summing to 10000), rollout, validity windows,
 * offsets and quiet hours, plus extra random conditions appended to `conds` and used as
 * eligibility conditions and gates. The data dictionary, systems and events stay as they are,
 * so `requestFor(base)` requests stay meaningful.
 */
export function planVariation(base: IR, data: BundleData): fc.Arbitrary<IR> {
  const plan = base.plan;
  const allChannels = channelsOf(plan);
  const lists = Object.keys(data.lists).sort();
  const fieldNames = Object.keys(plan.fields).sort();
  const extraConds = fc.array(
    fc.oneof({ weight: 2, arbitrary: conditionArb(plan, lists) }, { weight: 1, arbitrary: exprArb(fieldNames, lists, 3) }),
    { minLength: 2, maxLength: 6 },
  );
  const nodeVariation = fc.record({
    channels: fc.shuffledSubarray(allChannels, { minLength: 0 }),
    experiment: fc.option(
      fc
        .tuple(fc.integer({ min: 0, max: 10000 }), fc.integer({ min: 0, max: 10000 }), fc.boolean(), fc.boolean())
        .map(([holdout_bp, split, empty, reasons]) => {
          // Experiment reasons are optional: both shapes must evaluate identically everywhere.
          const why = (code: string, message: string) => ({ code, policy: "node/x/experiment", message, source: "x.yaml:1:1" });
          return {
            salt: `exp-${split}`,
            holdout_bp,
            ...(reasons ? { holdout_reason: why("holdout-control", "held out"), treatment_reason: why("holdout-treatment", "treated") } : {}),
            variants: empty
              ? []
              : [
                  { id: "A", weight_bp: split, ...(reasons ? { reason: why("variant-assigned", "variant A") } : {}) },
                  { id: "B", weight_bp: 10000 - split },
                ],
          };
        }),
      { freq: 2 },
    ),
    rollout_bp: fc.oneof({ weight: 2, arbitrary: fc.constant(10000) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 10000 }) }),
    window: fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.tuple(fc.integer({ min: -30, max: 0 }), fc.integer({ min: 1, max: 30 })) },
      // Closing within 36 hours of the usual now: before or after a deferred send time.
      { weight: 1, arbitrary: fc.tuple(fc.constant(-30), fc.integer({ min: -36, max: 36 }).map((h) => h / 24)) },
    ),
    // Per gate: re-checked at the send time (docs/ir.md step 10), whatever its step.
    atSend: fc.array(fc.oneof({ weight: 2, arbitrary: fc.constant<boolean | null>(null) }, { weight: 1, arbitrary: fc.boolean() }), { minLength: 8, maxLength: 8 }),
    risk: fc.constantFrom<"low" | "medium" | "high">("low", "medium", "high"),
    gateOutcomes: fc.array(fc.constantFrom<Gate["outcome"]>("suppress", "deny", "defer"), { minLength: 8, maxLength: 8 }),
    extraGates: fc.array(
      fc.record({
        cond: fc.nat(),
        channel: fc.option(fc.constantFrom(...allChannels), { freq: 2 }),
        outcome: fc.constantFrom<Gate["outcome"]>("suppress", "deny", "defer"),
        step: fc.constantFrom<Gate["step"]>("consent", "contact-policy", "restriction"),
        until: fc.nat(),
        atSend: fc.boolean(),
      }),
      { maxLength: 3 },
    ),
    extraCondition: fc.oneof({ weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
    // Step 5-6: why the node lost (absent in a hand-written plan), the universal holdouts it is
    // in, and the arbitration kind of each extra gate (absent: its step).
    candidate: fc.boolean(),
    holdouts: fc.subarray([0, 1, 5]), // 5: an index past the end, ignored by both evaluators
    gateKinds: fc.array(fc.option(fc.constantFrom(...ARB_KINDS), { freq: 2 }), { minLength: 3, maxLength: 3 }),
  });
  return fc
    .record({
      conds: extraConds,
      nodes: fc.array(nodeVariation, { minLength: plan.nodes.length, maxLength: plan.nodes.length }),
      offsets: fc.dictionary(fc.constantFrom(...allChannels), fc.constantFrom(0, 60_000, 900_000, 1_800_000, 3_600_000, 6 * 3_600_000, 86_400_000)),
      quiet: quietHoursArb(allChannels, "quiet.yaml"),
      holdouts: fc.array(fc.integer({ min: 0, max: 10000 }), { maxLength: 2 }),
      arbitration: fc.array(fc.option(fc.subarray([...ARB_KINDS], { minLength: 0 }), { freq: 2 }), {
        minLength: Object.keys(plan.events).length,
        maxLength: Object.keys(plan.events).length,
      }),
    })
    .map(({ conds: extra, nodes, offsets, quiet, holdouts, arbitration }): IR => {
      const conds = [...base.conds, ...extra];
      const extraIndex = (n: number): number => base.conds.length + (n % extra.length);
      const r = (code: string, channel?: string) => ({
        code,
        policy: `gen/${code}`,
        message: code,
        source: "gen.yaml:1:1",
        ...(channel === undefined ? {} : { channel }),
      });
      const newNodes = plan.nodes.map((n, i) => {
        const v = nodes[i]!;
        const gates: Gate[] = n.gates.map((g, j) => {
          const outcome = v.gateOutcomes[j % 8]!;
          // null keeps the gate's own `at_send`; true/false sets or removes it.
          const mark = v.atSend[j % 8];
          const base: Gate = { ...g, outcome };
          if (mark === true) base.at_send = true;
          else if (mark === false) delete base.at_send;
          // A defer gate needs an `until`; point it at an extra condition (time-valued or not).
          return outcome === "defer" ? { ...base, until: g.until ?? extraIndex(j) } : base;
        });
        for (const [k, eg] of v.extraGates.entries()) {
          const g: Gate = { step: eg.step, cond: extraIndex(eg.cond), outcome: eg.outcome, reason: r(`gate-${eg.step}`, eg.channel ?? undefined) };
          const kind = v.gateKinds[k];
          if (kind !== null && kind !== undefined) g.kind = kind;
          if (eg.channel !== null) g.channel = eg.channel;
          if (eg.outcome === "defer") g.until = extraIndex(eg.until);
          if (eg.atSend) g.at_send = true;
          gates.push(g);
        }
        const conditions = [...n.conditions];
        if (v.extraCondition !== null) {
          conditions.push({ kind: "eligibility", cond: extraIndex(v.extraCondition), reason: r("eligible"), fail: r("not-eligible") });
        }
        const templates: Record<string, string> = {};
        for (const ch of v.channels) templates[ch] = `tpl-${n.id}-${ch}`;
        return {
          ...n,
          channels: v.channels,
          templates,
          experiment: v.experiment,
          rollout_bp: v.rollout_bp,
          risk: v.risk,
          review_reason: v.risk === "high" ? r("review-required") : null,
          valid_from: v.window === null ? null : BASE_NOW_MS + v.window[0] * DAY,
          valid_until: v.window === null ? null : BASE_NOW_MS + Math.round(v.window[1] * DAY),
          conditions,
          gates,
          ...(v.holdouts.length > 0 ? { holdouts: v.holdouts } : {}),
          ...(v.candidate
            ? {
                candidate: {
                  not_for_system: r("not-for-system"),
                  not_requested: r("not-requested"),
                  outside_validity_window: r("outside-validity-window"),
                  outside_rollout: r("outside-rollout"),
                  lower_priority: r("lower-priority"),
                  fallback_next: r("fallback-next"),
                },
              }
            : {}),
        };
      });
      const arb: NonNullable<Plan["arbitration"]> = {};
      Object.keys(plan.events)
        .sort()
        .forEach((ev, i) => {
          const on = arbitration[i];
          if (on !== null && on !== undefined) arb[ev] = { fallback: "next", on, exhausted_reason: r("fallback-exhausted") };
        });
      return {
        plan: {
          ...plan,
          nodes: newNodes,
          offsets_ms: offsets,
          quiet_hours: quiet,
          holdouts: holdouts.map((bp, i) => ({ id: `h${i}`, salt: `universal-${i}-${bp}`, holdout_bp: bp, control_reason: r("holdout-control"), treatment_reason: r("holdout-treatment") })),
          arbitration: arb,
        },
        conds,
      };
    });
}
