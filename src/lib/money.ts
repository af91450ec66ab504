import currencyCodes from "currency-codes";
import { DomainError } from "./errors.ts";

/** Largest money amount accepted, in minor units: far above any basket, safe as a JS number. */
export const moneyMinorMax = 1_000_000_000_000_000;

export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && currencyCodes.code(code) !== undefined;
}

/** ISO 4217 minor-unit digits (IDR 2, JPY 0, KWD 3). */
export function currencyDigits(code: string): number {
  const entry = currencyCodes.code(code);
  if (!entry) throw new DomainError("validation_failed", `unknown currency ${code}`);
  return entry.digits;
}

/**
 * Parses a decimal amount in major units ("250000", "12.50", 12.5) into integer minor units.
 * Rejects more decimals than the currency has instead of rounding them away.
 */
export function toMinor(amount: string | number, currency: string, field = "amount"): number {
  const text = typeof amount === "number" ? numberToPlain(amount) : amount.trim();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) {
    throw new DomainError("validation_failed", `${field} must be a non-negative decimal number`, {
      field,
    });
  }
  const digits = currencyDigits(currency);
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) {
    throw new DomainError(
      "amount_precision",
      `${field} has more decimals than ${currency} allows (${digits})`,
      { field, currency, digitsMax: digits },
    );
  }
  const whole = match[1] ?? "0";
  const minor = BigInt(whole) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, "0") || "0");
  if (minor > BigInt(moneyMinorMax)) {
    throw new DomainError("validation_failed", `${field} is too large`, { field });
  }
  return Number(minor);
}

/** Formats integer minor units as a plain decimal string in major units. */
export function fromMinor(minor: number, currency: string): string {
  const digits = currencyDigits(currency);
  if (digits === 0) return String(minor);
  const sign = minor < 0 ? "-" : "";
  const text = String(Math.abs(minor)).padStart(digits + 1, "0");
  return `${sign}${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

function numberToPlain(value: number): string {
  if (!Number.isFinite(value)) return "NaN";
  // Avoid exponent notation for large or tiny numbers.
  return value.toLocaleString("en-US", { useGrouping: false, maximumFractionDigits: 20 });
}
