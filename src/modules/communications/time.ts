/** Wall-clock arithmetic in a program's timezone, for quiet hours, daily caps and daily scans. */

const minuteMs = 60_000;

function parts(at: Date, timezone: string) {
  const values = new Intl.DateTimeFormat("en-CA", {
    timeZone: timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(at);
  const get = (type: string) => values.find((part) => part.type === type)?.value ?? "00";
  return {
    day: `${get("year")}-${get("month")}-${get("day")}`,
    minuteOfDay: Number(get("hour")) * 60 + Number(get("minute")),
    second: Number(get("second")),
  };
}

/** The local calendar day, YYYY-MM-DD. */
export function localDay(at: Date, timezone: string): string {
  return parts(at, timezone).day;
}

/** The instant the local day of `at` began. */
export function localDayStart(at: Date, timezone: string): Date {
  const local = parts(at, timezone);
  return new Date(
    at.getTime() - local.minuteOfDay * minuteMs - local.second * 1000 - at.getUTCMilliseconds(),
  );
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When quiet hours hold `at`, the instant they end; otherwise null. A window whose start is after
 * its end spans midnight (21:00–08:00).
 */
export function quietUntil(
  at: Date,
  timezone: string,
  window: { start: string; end: string } | null,
): Date | null {
  if (!window) return null;
  const local = parts(at, timezone);
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const now = local.minuteOfDay;
  const quiet = start < end ? now >= start && now < end : now >= start || now < end;
  if (!quiet) return null;
  const minutesLeft = (end - now + 1440) % 1440;
  return new Date(
    at.getTime() + minutesLeft * minuteMs - local.second * 1000 - at.getUTCMilliseconds(),
  );
}
