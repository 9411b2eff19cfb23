/**
 * Reading literal tokens (strings, numbers, durations, dates, timestamps) into values, with a
 * precise diagnostic when one cannot be read. Pure functions: the visitor calls them.
 */
import { DURATION_UNIT_MS, type DurationUnit } from "./ast.js";
import { code, ldiag, type LocalDiagnostic } from "./codes.js";

export type Read<T> = { ok: true; value: T } | { ok: false; diagnostics: LocalDiagnostic[] };

const ESCAPES: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", "/": "/", n: "\n", t: "\t", r: "\r", b: "\b", f: "\f" };

/** Unescape a quoted string token (quotes included) starting at `start`. */
export function readString(image: string, start: number): Read<string> {
  let out = "";
  const diagnostics: LocalDiagnostic[] = [];
  for (let i = 1; i < image.length - 1; i++) {
    const c = image[i]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = image[i + 1] ?? "";
    if (n in ESCAPES) {
      out += ESCAPES[n];
      i++;
    } else if (n === "u" && /^[0-9a-fA-F]{4}$/.test(image.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(image.slice(i + 2, i + 6), 16));
      i += 5;
    } else {
      const len = n === "u" ? 2 : 1 + n.length;
      diagnostics.push(
        ldiag("WP2006", `invalid escape ${code(image.slice(i, i + len))} in text`, start + i, start + i + len,
          "inside quotes, write `\\\"` for a quote, `\\\\` for a backslash, `\\n` for a new line or `\\u00e9` for a character by its code"),
      );
      i += len - 1;
    }
  }
  return diagnostics.length > 0 ? { ok: false, diagnostics } : { ok: true, value: out };
}

export function readNumber(image: string, start: number, end: number): Read<number> {
  const v = Number(image);
  if (!Number.isFinite(v)) return { ok: false, diagnostics: [ldiag("WP2005", `number ${code(image)} is too large`, start, end)] };
  return { ok: true, value: v };
}

const UNIT_WORDS: Record<string, DurationUnit> = {
  millisecond: "ms", milliseconds: "ms", msec: "ms", msecs: "ms",
  sec: "s", secs: "s", second: "s", seconds: "s",
  min: "m", mins: "m", minute: "m", minutes: "m",
  hr: "h", hrs: "h", hour: "h", hours: "h",
  day: "d", days: "d",
  wk: "w", wks: "w", week: "w", weeks: "w",
};
const UNITS: readonly DurationUnit[] = ["w", "d", "h", "m", "s", "ms"];

/** `7d`, `500ms`; `negative` when a `-` came before it. */
export function readDuration(image: string, start: number, end: number, negative: boolean): Read<{ amount: number; unit: DurationUnit }> {
  const m = /^(\d+(?:\.\d+)?)([A-Za-z_][A-Za-z0-9_]*)$/.exec(image);
  const fail = (message: string, help?: string): Read<never> => ({ ok: false, diagnostics: [ldiag("WP2005", message, start, end, help)] });
  if (!m) return fail(`invalid duration ${code(image)}`);
  const num = m[1]!;
  const unitText = m[2]!;
  if (!(unitText in DURATION_UNIT_MS)) {
    const lower = unitText.toLowerCase();
    const suggested = UNIT_WORDS[lower] ?? (lower in DURATION_UNIT_MS ? (lower as DurationUnit) : undefined);
    if (suggested) return fail(`unknown duration unit ${code(unitText)}`, `write ${code(num + suggested)}`);
    if (/^(mo|mon|month|months|y|yr|yrs|year|years)$/.test(lower))
      return fail(`unknown duration unit ${code(unitText)}`, "months and years vary in length; write days instead, such as `30d` or `365d`");
    if (/^e\d*$/i.test(unitText)) return fail(`invalid number ${code(image)}`, "write a number such as `1000` or `1e3`");
    return fail(`unknown duration unit ${code(unitText)}`, "durations use one of the units `ms`, `s`, `m`, `h`, `d`, `w`, such as `15m` or `7d`");
  }
  const unit = unitText as DurationUnit;
  const amount = Number(num);
  if (!Number.isInteger(amount)) {
    // Suggest the same length in the next smaller unit when it is a whole number there.
    const i = UNITS.indexOf(unit);
    for (const smaller of UNITS.slice(i + 1)) {
      const n = (amount * DURATION_UNIT_MS[unit]) / DURATION_UNIT_MS[smaller];
      if (Number.isInteger(n)) return fail(`a duration must be a whole number of units, not ${code(image)}`, `write ${code(`${n}${smaller}`)}`);
    }
    return fail(`a duration must be a whole number of units, not ${code(image)}`, "use a smaller unit, such as `90m` instead of `1.5h`");
  }
  if (!Number.isSafeInteger(amount * DURATION_UNIT_MS[unit])) return fail(`duration ${code(image)} is too long`);
  return { ok: true, value: { amount: negative && amount !== 0 ? -amount : amount, unit } };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Days since 1970-01-01 of a proleptic Gregorian date (no Date object: it mangles years < 100). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function checkDate(y: number, mo: number, d: number): string | undefined {
  if (mo < 1 || mo > 12) return `month ${mo} does not exist`;
  const max = mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1]!;
  if (d < 1 || d > max) return `day ${d} does not exist in that month`;
  return undefined;
}

const DATE_HELP = "write dates as `YYYY-MM-DD`, such as `2026-01-31`";
const TIME_HELP = "write times as `YYYY-MM-DDTHH:MM:SS` with a time zone, such as `2026-01-31T09:00:00Z` (UTC) or `2026-01-31T09:00:00+01:00`";

export function readDate(image: string, start: number, end: number): Read<number> {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(image);
  const fail = (message: string): Read<never> => ({ ok: false, diagnostics: [ldiag("WP2005", message, start, end, DATE_HELP)] });
  if (!m) return fail(`invalid date ${code(image)}`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const bad = checkDate(y, mo, d);
  if (bad) return fail(`invalid date ${code(image)}: ${bad}`);
  return { ok: true, value: daysFromCivil(y, mo, d) * 86_400_000 };
}

export function readTimestamp(image: string, start: number, end: number): Read<number> {
  const fail = (message: string, help = TIME_HELP): Read<never> => ({ ok: false, diagnostics: [ldiag("WP2005", message, start, end, help)] });
  const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2})?$/.exec(image);
  if (!m) return fail(`invalid time ${code(image)}`);
  if (m[6] === undefined) return fail(`time ${code(image)} has no seconds`, `add the seconds, such as ${code(image.slice(0, 16) + ":00" + image.slice(16))}`);
  if (m[8] === undefined) return fail(`time ${code(image)} has no time zone`, `add \`Z\` for UTC, such as ${code(image + "Z")}, or an offset such as ${code(image + "+01:00")}`);
  const [y, mo, d, hh, mi, ss] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  const bad = checkDate(y!, mo!, d!) ?? (hh! > 23 ? `hour ${hh} does not exist` : mi! > 59 ? `minute ${mi} does not exist` : ss! > 59 ? `second ${ss} does not exist` : undefined);
  if (bad) return fail(`invalid time ${code(image)}: ${bad}`);
  let offsetMin = 0;
  const z = m[8];
  if (z !== "Z" && z !== "z") {
    const oh = Number(z.slice(1, 3));
    const om = Number(z.slice(4, 6));
    if (oh > 23 || om > 59) return fail(`invalid time zone offset ${code(z)} in ${code(image)}`);
    offsetMin = (z[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  const fracMs = m[7] === undefined ? 0 : Number((m[7] + "00").slice(0, 3)); // truncated, as docs/ir.md says
  const ms = daysFromCivil(y!, mo!, d!) * 86_400_000 + ((hh! * 60 + mi! - offsetMin) * 60 + ss!) * 1000 + fracMs;
  return { ok: true, value: ms };
}
