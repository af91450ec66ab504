/** Typed dictionaries per app: Indonesian first (the default), English beside it. */
export type Locale = "id" | "en";
export const locales: Locale[] = ["id", "en"];
const storageKey = "setia.locale";

export function initialLocale(fallback: Locale = "id"): Locale {
  const stored = localStorage.getItem(storageKey);
  return stored === "en" || stored === "id" ? stored : fallback;
}

export function storeLocale(locale: Locale): void {
  localStorage.setItem(storageKey, locale);
  document.documentElement.lang = locale;
}

/** Every key of the Indonesian dictionary must exist in English: the type checks it. */
export function dictionaries<T extends Record<string, string>>(
  id: T,
  en: { [K in keyof T]: string },
) {
  return { id, en } as Record<Locale, { [K in keyof T]: string }>;
}

/** Replaces {name} placeholders. */
export function fill(text: string, values: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(values[name] ?? `{${name}}`));
}

const intlLocale: Record<Locale, string> = { id: "id-ID", en: "en-US" };

/** Money from the API (a decimal string in major units) in the reader's locale: Rp 250.000. */
export function formatMoney(amount: string | number, currency: string, locale: Locale): string {
  const value = typeof amount === "number" ? amount : Number(amount);
  return new Intl.NumberFormat(intlLocale[locale], {
    style: "currency",
    currency,
    currencyDisplay: "symbol",
  }).format(value);
}

export function formatNumber(value: number, locale: Locale): string {
  return new Intl.NumberFormat(intlLocale[locale]).format(value);
}

export function formatDate(
  iso: string | null | undefined,
  locale: Locale,
  withTime = false,
): string {
  if (!iso) return "—";
  return new Intl.DateTimeFormat(intlLocale[locale], {
    dateStyle: "medium",
    ...(withTime && { timeStyle: "short" }),
  }).format(new Date(iso));
}

/** Minor units per major unit of a currency (IDR 0 decimals, USD 2). */
export function fractionDigits(currency: string): number {
  return (
    new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits ?? 2
  );
}

/** A decimal string in major units from integer minor units, as the API takes money. */
export function toDecimal(minor: number, currency: string): string {
  const digits = fractionDigits(currency);
  return (minor / 10 ** digits).toFixed(digits);
}

export function toMinor(amount: string, currency: string): number {
  return Math.round(Number(amount.replace(",", ".")) * 10 ** fractionDigits(currency));
}
