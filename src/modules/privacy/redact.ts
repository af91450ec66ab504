import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import type { MembersTable } from "../../db/schema.ts";

export const redactedText = "[erased]";

/**
 * The spellings under which a member's personal data can appear in free text or JSON: the
 * phone in E.164, without "+", national and international formats; the email, name and birthday.
 */
export function personalNeedles(
  row: Pick<MembersTable, "phone_e164" | "email" | "name" | "birthday">,
): string[] {
  const needles = new Set<string>();
  if (row.phone_e164) {
    needles.add(row.phone_e164);
    needles.add(row.phone_e164.slice(1));
    const parsed = parsePhoneNumberFromString(row.phone_e164);
    if (parsed) {
      needles.add(parsed.formatNational());
      needles.add(parsed.formatInternational());
      needles.add(`0${parsed.nationalNumber}`);
    }
  }
  for (const value of [row.email, row.name, row.birthday]) if (value) needles.add(value);
  // Longest first, so "+62…" is replaced whole before its "62…" tail is looked for.
  return [...needles].filter((needle) => needle.length >= 3).sort((a, b) => b.length - a.length);
}

/** Replaces every needle (case-insensitively) in the strings of a JSON value; answers a copy. */
export function redactValue(value: unknown, needles: string[]): unknown {
  if (typeof value === "string") return redactText(value, needles);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, needles));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, redactValue(item, needles)]),
    );
  }
  return value;
}

export function redactText(text: string, needles: string[]): string {
  let result = text;
  for (const needle of needles) {
    const escaped = needle.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    result = result.replace(new RegExp(escaped, "gi"), redactedText);
  }
  return result;
}

/** Whether a JSON value mentions any needle. */
export function mentions(value: unknown, needles: string[]): boolean {
  const text = (typeof value === "string" ? value : JSON.stringify(value)).toLowerCase();
  return needles.some((needle) => text.includes(needle.toLowerCase()));
}
