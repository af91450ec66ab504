import { randomInt } from "node:crypto";
import { parsePhoneNumberFromString } from "libphonenumber-js/max";
import { DomainError } from "../../lib/errors.ts";

/**
 * Normalises a phone number to E.164 with Indonesia as the default region, so that
 * "0812-3456-7890", "+62 812 3456 7890" and "6281234567890" are one number.
 */
export function normalizePhone(input: string, field = "phone"): string {
  const trimmed = input.trim();
  const candidates = [trimmed];
  // Numbers typed with the country code but without "+" (6281…) are common at tills.
  if (/^[1-9][\d\s-]{9,}$/.test(trimmed)) candidates.push(`+${trimmed}`);
  for (const candidate of candidates) {
    const parsed = parsePhoneNumberFromString(candidate, "ID");
    if (parsed?.isValid()) return parsed.number;
  }
  throw new DomainError("validation_failed", `${field} is not a valid phone number`, {
    field,
    value: input,
  });
}

export function normalizeEmail(input: string): string {
  return input.trim().toLowerCase();
}

/** Luhn check digit, so a mistyped card number is caught before any look-up. */
export function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return (10 - (sum % 10)) % 10;
}

export function isValidCardNumber(card: string): boolean {
  return /^\d{16}$/.test(card) && luhnCheckDigit(card.slice(0, 15)) === Number(card[15]);
}

/** 16 digits: "8", 14 random digits and a Luhn check digit. */
export function newCardNumber(): string {
  let body = "8";
  for (let index = 0; index < 14; index++) body += String(randomInt(10));
  return body + String(luhnCheckDigit(body));
}
