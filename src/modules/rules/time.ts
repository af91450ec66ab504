/** Local calendar facts of an instant in a program's timezone, computed once per evaluation. */
export interface LocalTime {
  /** YYYY-MM-DD in the program's timezone. */
  date: string;
  year: number;
  month: number;
  day: number;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight. */
  minuteOfDay: number;
  /** ISO week, e.g. 2026-W10. */
  isoWeek: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timezone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timezone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
    formatters.set(timezone, formatter);
  }
  return formatter;
}

/**
 * UTC offsets per timezone and UTC day, else per quarter hour: Intl is slow. Offsets change on
 * quarter-hour boundaries at most once a day, so a day whose first and last quarter hours share
 * an offset has it throughout; a day with a change is looked up per quarter hour.
 */
const offsets = new Map<
  string,
  { days: Map<number, number | null>; quarters: Map<number, number> }
>();
const quarterHourMs = 900_000;
const dayMs = 86_400_000;

function offsetMs(at: Date, timezone: string): number {
  const ms = at.getTime();
  let zone = offsets.get(timezone);
  if (!zone || zone.days.size + zone.quarters.size > 10_000) {
    zone = { days: new Map(), quarters: new Map() };
    offsets.set(timezone, zone);
  }
  const day = Math.floor(ms / dayMs);
  let offset = zone.days.get(day);
  if (offset === undefined) {
    const first = offsetAt(day * dayMs, timezone);
    // null: the offset changes during this day.
    offset = first === offsetAt((day + 1) * dayMs - quarterHourMs, timezone) ? first : null;
    zone.days.set(day, offset);
  }
  if (offset !== null) return offset;
  const quarter = Math.floor(ms / quarterHourMs);
  let quarterOffset = zone.quarters.get(quarter);
  if (quarterOffset === undefined) {
    quarterOffset = offsetAt(quarter * quarterHourMs, timezone);
    zone.quarters.set(quarter, quarterOffset);
  }
  return quarterOffset;
}

function offsetAt(startMs: number, timezone: string): number {
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timezone).formatToParts(new Date(startMs))) {
    parts[part.type] = part.value;
  }
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
  );
  return asUtc - startMs;
}

const pad = (value: number) => String(value).padStart(2, "0");

export function localTime(at: Date, timezone: string): LocalTime {
  const local = new Date(at.getTime() + offsetMs(at, timezone));
  const year = local.getUTCFullYear();
  const month = local.getUTCMonth() + 1;
  const day = local.getUTCDate();
  return {
    date: `${year}-${pad(month)}-${pad(day)}`,
    year,
    month,
    day,
    weekday: local.getUTCDay() || 7,
    minuteOfDay: local.getUTCHours() * 60 + local.getUTCMinutes(),
    isoWeek: isoWeekOf(year, month, day),
  };
}

/** ISO 8601 week of a calendar date: weeks start on Monday, week 1 holds the first Thursday. */
export function isoWeekOf(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${String(week).padStart(2, "0")}`;
}
