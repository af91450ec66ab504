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

/** UTC offsets per timezone and quarter hour: Intl is slow, and offsets change on such boundaries. */
const offsets = new Map<string, number>();
const quarterHourMs = 900_000;

function offsetMs(at: Date, timezone: string): number {
  const bucket = Math.floor(at.getTime() / quarterHourMs);
  const key = `${timezone}|${bucket}`;
  const hit = offsets.get(key);
  if (hit !== undefined) return hit;
  const start = new Date(bucket * quarterHourMs);
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timezone).formatToParts(start)) parts[part.type] = part.value;
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
  );
  const offset = asUtc - start.getTime();
  if (offsets.size > 10_000) offsets.clear();
  offsets.set(key, offset);
  return offset;
}

export function localTime(at: Date, timezone: string): LocalTime {
  const local = new Date(at.getTime() + offsetMs(at, timezone));
  const year = local.getUTCFullYear();
  const month = local.getUTCMonth() + 1;
  const day = local.getUTCDate();
  const pad = (value: number) => String(value).padStart(2, "0");
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
