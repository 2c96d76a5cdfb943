// Instants and calendar dates without a clock: `now` and the tenant's UTC
// offset arrive in the context (`sdk/src/time.rs`, the same arithmetic).
// An instant is a number of milliseconds since the Unix epoch.

const MS_PER_DAY = 86_400_000;
const MS_PER_MINUTE = 60_000;

/** Floor division, as Rust's `div_euclid` for a positive divisor. */
function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

/** Whole days from `earlier` to `later`, rounded down. */
export function daysSince(later: number, earlier: number): number {
  return floorDiv(later - earlier, MS_PER_DAY);
}

/** `at` moved by `days` whole days. */
export function plusDays(at: number, days: number): number {
  return at + days * MS_PER_DAY;
}

/** A calendar date. */
export class LocalDate {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
  ) {}

  /** The date `days` after 1970-01-01 (Howard Hinnant's civil_from_days). */
  static fromDaysSinceEpoch(days: number): LocalDate {
    const z = days + 719_468;
    const era = floorDiv(z, 146_097);
    const doe = z - era * 146_097;
    const yoe = Math.floor((doe - Math.floor(doe / 1_460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
    const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
    const mp = Math.floor((5 * doy + 2) / 153);
    const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
    const month = mp < 10 ? mp + 3 : mp - 9;
    return new LocalDate(yoe + era * 400 + (month <= 2 ? 1 : 0), month, day);
  }

  /** `YYYY-MM-DD`. */
  toString(): string {
    const pad = (n: number, width: number) => String(n).padStart(width, "0");
    return `${pad(this.year, 4)}-${pad(this.month, 2)}-${pad(this.day, 2)}`;
  }
}

/** The date at `at` in a zone `tzOffsetMinutes` from UTC. */
export function localDate(at: number, tzOffsetMinutes: number): LocalDate {
  return LocalDate.fromDaysSinceEpoch(floorDiv(at + tzOffsetMinutes * MS_PER_MINUTE, MS_PER_DAY));
}

/** The first instant of the next local day: when "today" ends. */
export function endOfLocalDay(at: number, tzOffsetMinutes: number): number {
  const offset = tzOffsetMinutes * MS_PER_MINUTE;
  return (floorDiv(at + offset, MS_PER_DAY) + 1) * MS_PER_DAY - offset;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC 3339 date-time to milliseconds since the epoch (fractions
 * past milliseconds are dropped), or `undefined` if it is not one.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 60) {
    return undefined;
  }
  const millis = Number((m[7] ?? "").slice(0, 3).padEnd(3, "0"));
  let offset = 0;
  if (m[8] === undefined) {
    const [h, mm] = [Number(m[10]), Number(m[11])];
    if (h > 23 || mm > 59) return undefined;
    offset = (m[9] === "-" ? -1 : 1) * (h * 60 + mm);
  }
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60;
  return seconds * 1_000 + millis;
}
