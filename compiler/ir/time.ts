/**
 * Time parsing and formatting for the IR (docs/ir.md, "Time").
 *
 * Written with integer civil-calendar arithmetic instead of `Date`: `Date.UTC` maps years
 * 0..99 to 1900..1999 and `Date.parse` accepts many non-RFC 3339 shapes, so neither can
 * define the contract that the Wasm runtime must reproduce byte for byte.
 */

export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;

/** Floor modulo: the result has the sign of `m` (so -1 mod 1440 = 1439). */
export function floorMod(n: number, m: number): number {
  return ((n % m) + m) % m;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return isLeapYear(y) ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
 * Valid for every year the parser accepts (0000-9999).
 */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400; // [0, 399]
  const mp = (m + 9) % 12; // March = 0
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1; // [0, 365]
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy; // [0, 146096]
  return era * 146097 + doe - 719468;
}

/** Inverse of `daysFromCivil`. */
export function civilFromDays(z: number): { y: number; m: number; d: number } {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

// Anchored, ASCII digits only (`\d` would be ASCII too in JS, but spell it out for clarity).
const DATE_RE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DATETIME_RE =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$/;

/**
 * Parses `YYYY-MM-DD` (midnight UTC) or RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fff…](Z|z|±HH:MM)`
 * to epoch ms. The zone designator is required (RFC 3339); fractions beyond ms are
 * truncated; every range is validated. Returns undefined when malformed.
 */
export function parseTime(s: string): number | undefined {
  const dm = DATE_RE.exec(s);
  if (dm) {
    const y = Number(dm[1]);
    const mo = Number(dm[2]);
    const d = Number(dm[3]);
    if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
    return daysFromCivil(y, mo, d) * MS_PER_DAY;
  }
  const m = DATETIME_RE.exec(s);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const se = Number(m[6]);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  if (h > 23 || mi > 59 || se > 59) return undefined;
  // Truncate (not round) the fraction to milliseconds: "…59.9999Z" stays in the same second.
  const frac = m[7] ?? "";
  const ms = frac === "" ? 0 : Number((frac + "00").slice(0, 3));
  let offsetMin = 0;
  if (m[8] === undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const local = daysFromCivil(y, mo, d) * MS_PER_DAY + h * MS_PER_HOUR + mi * MS_PER_MINUTE + se * 1000 + ms;
  // Local time = UTC + offset, so UTC = local - offset.
  return local - offsetMin * MS_PER_MINUTE;
}

/**
 * The strict lexical forms request validation uses (docs/ir.md, step 1 and step 4): a
 * `timestamp` is RFC 3339 with its zone (the grammar of `parseTime` without the date-only
 * form), a `date` is `YYYY-MM-DD` only. Each returns epoch ms, or undefined for any other shape.
 */
export function parseTimestamp(s: string): number | undefined {
  return DATE_RE.test(s) ? undefined : parseTime(s);
}

export function parseDate(s: string): number | undefined {
  return DATE_RE.test(s) ? parseTime(s) : undefined;
}

/**
 * A time value (docs/ir.md): a number is taken as epoch ms as is; a string is parsed;
 * anything else is not a time. Non-finite numbers (impossible in JSON) are rejected so that
 * callers never propagate NaN.
 */
export function toTime(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v === "string") return parseTime(v);
  return undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * Formats epoch ms as `YYYY-MM-DDTHH:MM:SSZ`, or with `.mmm` when the ms part is not zero.
 * A fractional ms value is floored first (a number time can carry one). Years outside
 * 0000-9999 cannot be written in this form: undefined, which callers treat as "not a time".
 */
export function formatTime(t: number): string | undefined {
  if (!Number.isFinite(t)) return undefined;
  const ms = Math.floor(t);
  const days = Math.floor(ms / MS_PER_DAY);
  const rem = ms - days * MS_PER_DAY;
  const { y, m, d } = civilFromDays(days);
  if (y < 0 || y > 9999) return undefined;
  const hh = Math.floor(rem / MS_PER_HOUR);
  const mi = Math.floor((rem % MS_PER_HOUR) / MS_PER_MINUTE);
  const ss = Math.floor((rem % MS_PER_MINUTE) / 1000);
  const milli = rem % 1000;
  const base = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mi, 2)}:${pad(ss, 2)}`;
  return milli === 0 ? `${base}Z` : `${base}.${pad(milli, 3)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Local time in the customer's zone (docs/ir.md, "Time zones").

/**
 * A customer's zone: the compiled table of an IANA zone (`[o0, t1, o1, ...]`, see
 * `Plan.zones`) or, for a customer without one, a fixed offset in minutes east of UTC.
 */
export type CustomerZone = { table: readonly number[] } | { fixed: number };

/** The offset of a zone table at instant t: the offset of the last transition at or before t. */
export function tableOffset(table: readonly number[], t: number): number {
  let lo = 0;
  let hi = Math.floor((table.length - 1) / 2); // number of transitions
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((table[2 * mid - 1] as number) <= t) lo = mid;
    else hi = mid - 1;
  }
  const o = table[2 * lo];
  return typeof o === "number" ? o : 0;
}

/** Minutes east of UTC in force at instant t. */
export function zoneOffset(z: CustomerZone, t: number): number {
  return "table" in z ? tableOffset(z.table, t) : z.fixed;
}

/** Local wall-clock ms (the local date and time read as if UTC) of instant t. */
export function toLocal(z: CustomerZone, t: number): number {
  return t + zoneOffset(z, t) * MS_PER_MINUTE;
}

/**
 * The instant of a local wall-clock time (ms, read as if UTC), with RFC 5545's and Temporal's
 * `compatible` disambiguation: a time that occurs twice (the clocks went back) takes the
 * earlier instant; a time that does not exist (the clocks went forward) is moved forward by
 * the length of the gap (it is read with the offset in force before the change). Given `after`,
 * a repeated time takes the earlier instant only if it is after `after` (a deferral never goes
 * back in time), else the later one. Transitions
 * are assumed at least two days apart, as in every zone of the database.
 */
export function fromLocal(z: CustomerZone, local: number, after: number = -Infinity): number {
  const off1 = zoneOffset(z, local - MS_PER_DAY);
  const off2 = zoneOffset(z, local + MS_PER_DAY);
  const a = local - off1 * MS_PER_MINUTE;
  const b = local - off2 * MS_PER_MINUTE;
  const aOk = zoneOffset(z, a) === off1;
  const bOk = zoneOffset(z, b) === off2;
  if (aOk && bOk) {
    // Repeated: the earlier instant, unless it is not after `after` (a deferral never goes back).
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    return lo > after ? lo : hi;
  }
  if (aOk) return a;
  if (bOk) return b;
  return a; // in the gap: the offset before the change moves it forward by the gap
}

/** The local calendar day (days since 1970-01-01) of instant t. */
export function localDay(z: CustomerZone, t: number): number {
  return Math.floor(toLocal(z, t) / MS_PER_DAY);
}
