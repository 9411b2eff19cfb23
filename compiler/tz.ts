/**
 * Time-zone rules from the pinned IANA database (the `tzdata` npm package, an exact version in
 * package.json), compiled to the offset tables the plan embeds (docs/ir.md, "Time zones").
 *
 * Never the host's ICU: its database version differs between machines and Node releases, and
 * a bundle must be byte-identical wherever it is built. Only the zones a data dictionary
 * allows are compiled, from 1970 up to a horizon year.
 *
 * The package stores the database's source lines as JSON (zic input): zone lines
 * `[stdoff, rules, format, until]` and rules `[from, to, -, month, day, [h, m, s, suffix], save,
 * letter]`. This module does what zic does for the span needed: it walks each zone line and the
 * rule instances in it, in time order, and records every change of the total UTC offset.
 */
import { createRequire } from "node:module";
import { MS_PER_DAY, MS_PER_MINUTE, civilFromDays, daysFromCivil, fromLocal, parseDate } from "./ir/time.js";

type ZoneLine = [string, string, string, string | null];
type RuleLine = [string, string, string, string, string, [string, string, string, string | null], string, string];
interface TzData {
  version: string;
  zones: Record<string, ZoneLine[] | string>;
  rules: Record<string, RuleLine[]>;
}

const require = createRequire(import.meta.url);
let db: TzData | undefined;
function data(): TzData {
  db ??= require("tzdata") as TzData;
  return db;
}

/** The database version (`2026d`), recorded in the plan and the bundle manifest. */
export function tzdataVersion(): string {
  return data().version;
}

/** Every zone name the database knows (canonical names and links). */
export function knownZone(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(data().zones, name);
}

/** First year of every compiled table; earlier instants take the table's first offset. */
export const TZ_FROM_YEAR = 1970;
/** Default last year compiled (the 32-bit time_t horizon most systems still plan for). */
export const TZ_DEFAULT_HORIZON = 2037;

/**
 * A compiled zone, interleaved: `[o0, t1, o1, t2, o2, ...]`. `o0` (minutes east of UTC) holds
 * before `t1` (epoch ms), `ok` from `tk` (inclusive) until `t(k+1)`; the last offset holds from
 * the last transition on, also beyond the horizon.
 */
export type ZoneTable = number[];

const MONTHS: Record<string, number> = { Jan: 1, Feb: 2, Mar: 3, Apr: 4, May: 5, Jun: 6, Jul: 7, Aug: 8, Sep: 9, Oct: 10, Nov: 11, Dec: 12 };
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function weekday(days: number): number {
  return (((days + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
}

function daysInMonth(y: number, m: number): number {
  return daysFromCivil(m === 12 ? y + 1 : y, m === 12 ? 1 : m + 1, 1) - daysFromCivil(y, m, 1);
}

/** Day number (days since 1970-01-01) of a rule's ON field in year y. */
function ruleDay(y: number, month: number, on: string): number {
  if (on.startsWith("last")) {
    const wd = WEEKDAYS[on.slice(4)]!;
    let d = daysFromCivil(y, month, daysInMonth(y, month));
    while (weekday(d) !== wd) d--;
    return d;
  }
  const ge = on.indexOf(">=");
  if (ge > 0) {
    const wd = WEEKDAYS[on.slice(0, ge)]!;
    let d = daysFromCivil(y, month, Number(on.slice(ge + 2)));
    while (weekday(d) !== wd) d++;
    return d;
  }
  const le = on.indexOf("<=");
  if (le > 0) {
    const wd = WEEKDAYS[on.slice(0, le)]!;
    let d = daysFromCivil(y, month, Number(on.slice(le + 2)));
    while (weekday(d) !== wd) d--;
    return d;
  }
  return daysFromCivil(y, month, Number(on));
}

/** `"1:00"`, `"-0:30"` (hours:minutes) or `"60"` (minutes, as rule SAVE fields are) → minutes. */
function hm(s: string): number {
  if (!s.includes(":")) return Number(s);
  const neg = s.startsWith("-");
  const [h, m] = (neg ? s.slice(1) : s).split(":");
  const v = Number(h) * 60 + Number(m ?? 0);
  return neg ? -v : v;
}

interface RuleEvent {
  y: number;
  rule: RuleLine;
}

function ruleEvents(rules: RuleLine[], y0: number, y1: number): RuleEvent[] {
  const out: RuleEvent[] = [];
  for (const r of rules) {
    const from = Number(r[0]);
    const to = r[1] === "only" ? from : r[1] === "max" ? Infinity : Number(r[1]);
    for (let y = Math.max(from, y0); y <= Math.min(to, y1); y++) out.push({ y, rule: r });
  }
  return out;
}

/** Rule instance → UTC ms, given the zone line's standard offset and the save in force before it. */
function ruleAt(e: RuleEvent, stdoff: number, save: number): number {
  const r = e.rule;
  const [h, m, s, suffix] = r[5];
  const local = ruleDay(e.y, MONTHS[r[3]]!, r[4]) * MS_PER_DAY + (Number(h) * 3600 + Number(m) * 60 + Number(s)) * 1000;
  if (suffix === "u" || suffix === "g" || suffix === "z") return local;
  if (suffix === "s") return local - stdoff * MS_PER_MINUTE;
  return local - (stdoff + save) * MS_PER_MINUTE;
}

/**
 * The package writes a zone line's UNTIL as the wall-clock time read as UTC, and a bare year
 * (`2006`, meaning 2006-01-01 00:00) as December 31 of that year; a real UNTIL of exactly
 * `Dec 31 0:00` does not occur in the database, so that value is read back as January 1.
 */
function untilWall(v: string | null): number {
  if (v === null) return Infinity;
  const ms = Number(v);
  if (ms % MS_PER_DAY === 0) {
    const { y, m, d } = civilFromDays(ms / MS_PER_DAY);
    if (m === 12 && d === 31) return daysFromCivil(y, 1, 1) * MS_PER_DAY;
  }
  return ms;
}

function yearOf(ms: number): number {
  return civilFromDays(Math.floor(ms / MS_PER_DAY)).y;
}

/**
 * Compiles zone `name` (a canonical name or a link) into its offset table from
 * TZ_FROM_YEAR-01-01 to the end of `horizon`. Undefined for an unknown zone.
 */
export function compileZone(name: string, horizon: number = TZ_DEFAULT_HORIZON): ZoneTable | undefined {
  const d = data();
  let z = d.zones[name];
  for (let hops = 0; typeof z === "string" && hops < 8; hops++) z = d.zones[z];
  if (!Array.isArray(z)) return undefined;
  const start = daysFromCivil(TZ_FROM_YEAR, 1, 1) * MS_PER_DAY;
  const end = daysFromCivil(horizon + 1, 1, 1) * MS_PER_DAY;

  // Every offset change over all time up to `end`, as [utc ms, offset minutes].
  const changes: [number, number][] = [];
  let lineStart = -Infinity;
  let offset = NaN;
  let save = 0;
  for (const line of z) {
    const stdoff = -Number(line[0]); // the package stores minutes west; the IR uses minutes east
    const rulesName = line[1];
    const wallUntil = untilWall(line[3]);
    let events: RuleEvent[] = [];
    if (rulesName === "-") save = 0;
    else if (/^-?[0-9]+:[0-9]+$/.test(rulesName)) save = hm(rulesName);
    else {
      const rules = d.rules[rulesName] ?? [];
      const y0 = lineStart === -Infinity ? 1800 : yearOf(lineStart) - 1;
      const y1 = Math.min(wallUntil === Infinity ? horizon : yearOf(wallUntil), horizon) + 1;
      events = ruleEvents(rules, y0, y1);
      // The save in force when the line starts: that of the latest rule instance before it
      // (zic's rule), else standard time.
      save = 0;
      let best = -Infinity;
      for (const e of events) {
        const at = ruleAt(e, stdoff, 0);
        if (at <= lineStart && at > best) {
          best = at;
          save = hm(e.rule[6]);
        }
      }
    }
    const begin = stdoff + save;
    if (begin !== offset) {
      changes.push([lineStart, begin]);
      offset = begin;
    }
    // Rule instances inside the line, in time order (each converted with the save before it).
    const pending = events
      .map((e) => ({ e, order: ruleAt(e, stdoff, 0) }))
      .filter((x) => x.order > lineStart - MS_PER_DAY)
      .sort((a, b) => a.order - b.order);
    let lineEnd = wallUntil === Infinity ? Infinity : wallUntil - (stdoff + save) * MS_PER_MINUTE;
    for (const { e } of pending) {
      const at = ruleAt(e, stdoff, save);
      if (at <= lineStart) continue;
      if (at >= lineEnd || at >= end) break;
      save = hm(e.rule[6]);
      lineEnd = wallUntil === Infinity ? Infinity : wallUntil - (stdoff + save) * MS_PER_MINUTE;
      if (stdoff + save !== offset) {
        offset = stdoff + save;
        changes.push([at, offset]);
      }
    }
    if (lineEnd >= end) break;
    lineStart = lineEnd;
  }

  // Cut to [start, end): the offset in force at `start`, then the changes after it.
  let o0 = changes[0]![1];
  const table: number[] = [];
  for (const [at, o] of changes) {
    if (at <= start) o0 = o;
  }
  table.push(o0);
  let last = o0;
  for (const [at, o] of changes) {
    if (at <= start || at >= end || o === last) continue;
    table.push(at, o);
    last = o;
  }
  return table;
}

const tableCache = new Map<string, ZoneTable | undefined>();

/**
 * Where a suppression entry that holds "until" the date `date` (`YYYY-MM-DD`) stops: the first
 * instant of the next local day in zone `name` (docs/ir.md, "Suppression lists"). A midnight
 * that does not exist (a zone that changes its clocks at 00:00) is read as in "Time zones"
 * (`fromLocal`): moved forward by the gap, which is the first instant of that day, as
 * Temporal's `startOfDay`; a repeated midnight takes its first occurrence. Undefined for an
 * unknown zone or a string that is not a date.
 */
export function endOfLocalDay(date: string, name: string): number | undefined {
  const ms = parseDate(date);
  if (ms === undefined) return undefined;
  const next = Math.floor(ms / MS_PER_DAY) + 1;
  // Compiled far enough to hold the day (a table keeps its last offset after its horizon).
  const horizon = Math.max(TZ_DEFAULT_HORIZON, civilFromDays(next).y + 1);
  const key = `${name}\u0000${horizon}`;
  if (!tableCache.has(key)) tableCache.set(key, compileZone(name, horizon));
  const table = tableCache.get(key);
  return table === undefined ? undefined : fromLocal({ table }, next * MS_PER_DAY);
}
