import { describe, expect, it } from "vitest";
import { text as adminText } from "../../web/admin/i18n.ts";
import { text as portalText } from "../../web/app/i18n.ts";
import { text as posText } from "../../web/pos/i18n.ts";
import {
  fill,
  formatMoney,
  formatNumber,
  fractionDigits,
  toDecimal,
  toMinor,
} from "../../web/shared/i18n.ts";

describe("web i18n helpers", () => {
  it("formats money, numbers and placeholders per locale", () => {
    // Intl separates the symbol with a no-break space.
    expect(formatMoney("250000", "IDR", "id").replace(/\s/g, " ")).toBe("Rp 250.000");
    expect(formatMoney("12.5", "USD", "en")).toBe("$12.50");
    expect(formatNumber(1234567, "id")).toBe("1.234.567");
    expect(formatNumber(1234567, "en")).toBe("1,234,567");
    expect(fill("+{points} poin ({state})", { points: 25, state: "available" })).toBe(
      "+25 poin (available)",
    );
  });

  it("converts between decimal strings and minor units by the currency's digits", () => {
    expect(fractionDigits("IDR")).toBe(0);
    expect(fractionDigits("USD")).toBe(2);
    expect(toMinor("125000", "IDR")).toBe(125000);
    expect(toMinor("12,50", "USD")).toBe(1250);
    expect(toDecimal(1250, "USD")).toBe("12.50");
    expect(toDecimal(250000, "IDR")).toBe("250000");
  });

  it("has every text in Indonesian and English, none empty", () => {
    for (const dictionary of [adminText, portalText, posText]) {
      expect(Object.keys(dictionary.en).sort()).toEqual(Object.keys(dictionary.id).sort());
      for (const locale of ["id", "en"] as const) {
        for (const value of Object.values(dictionary[locale])) expect(value).not.toBe("");
      }
    }
  });
});
