import fc from "fast-check";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { text as portalText } from "../../web/app/i18n.ts";
import { text as posText } from "../../web/pos/i18n.ts";
import { contrast, palette } from "../../web/shared/contrast.ts";
import { nextPhone } from "../harness.ts";
import { Auditor, loggedCode, staffSignIn, switchLanguage, withAxe } from "./audit.ts";
import {
  createStaff,
  memberWithPoints,
  openBrowser,
  startWebServer,
  type WebServer,
} from "./support.ts";

// axe-core (WCAG 2 A/AA and best practice) over every main page of the three front ends, in
// Indonesian and English, under each program's branding; serious and critical findings fail.
let server: WebServer;
const storeId = "jkt-01";

/** Programs with the brandings the tests use: Setia's defaults, a sound one and a careless one. */
const brands = {
  default: null,
  custom: { primary: "#1e3a8a", secondary: "#f97316", background: "#f8fafc", text: "#0f172a" },
  // Light yellow on near-white with a pale text colour: nothing here is readable as given.
  careless: { primary: "#ffd60a", secondary: "#fff3b0", background: "#fffdf0", text: "#b8b09a" },
} as const;
type Brand = keyof typeof brands;
const programs = {} as Record<Brand, { id: string; memberId: string; phone: string }>;

beforeAll(async () => {
  server = await startWebServer();
  for (const brand of Object.keys(brands) as Brand[]) {
    const program = await server.api<{ id: string }>("POST", "/v1/programs", {
      name: `Toko ${brand}`,
      currency: "IDR",
    });
    const id = program.body.id;
    const colors = brands[brand];
    if (colors) {
      const branded = await server.api("PUT", `/v1/programs/${id}/branding`, { colors });
      expect(branded.status, JSON.stringify(branded.body)).toBe(200);
    }
    const { phone, memberId } = await memberWithPoints(server, id, storeId, {
      receiptPrefix: "R",
      name: "Siti Rahayu",
    });
    const reward = await server.api("POST", `/v1/programs/${id}/rewards`, {
      type: "discount_amount",
      benefit: { amount: "20000" },
      pointsCost: 30,
      texts: { id: { name: "Potongan Rp 20.000" }, en: { name: "Rp 20,000 off" } },
    });
    expect(reward.status, JSON.stringify(reward.body)).toBe(201);
    programs[brand] = { id, memberId, phone };
  }
  const first = programs.default.id;
  const campaign = await server.api("POST", `/v1/programs/${first}/campaigns`, {
    name: "Kopi pagi",
    startsAt: "2026-01-01T00:00:00Z",
    status: "active",
    rules: [{ actions: [{ type: "fixed_bonus", args: { points: 10 } }] }],
  });
  expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
  const ladder = await server.api("PUT", `/v1/programs/${first}/tier-ladder`, {
    qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
    lowestTierAutomatic: true,
    tiers: [
      { code: "silver", rank: 1, names: { id: "Perak", en: "Silver" }, threshold: 0 },
      { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 5_000_000 },
    ],
  });
  expect(ladder.status, JSON.stringify(ladder.body)).toBe(200);
});

afterAll(async () => {
  await server?.close();
});

async function settled(page: Page): Promise<void> {
  await page.waitForLoadState("networkidle");
}

/** Every page the owner's menu offers, plus a member's page and the campaign editor. */
async function auditAdmin(page: Page, auditor: Auditor, locale: "id" | "en"): Promise<void> {
  const { memberId } = programs.default;
  const visit = async (name: string) => {
    await page.getByRole("heading", { level: 1 }).first().waitFor();
    await settled(page);
    await auditor.check(`admin ${name} (${locale})`);
  };
  const menu = await page
    .locator("nav a")
    .evaluateAll((links) => links.map((link) => link.getAttribute("href") ?? ""));
  expect(menu.length).toBeGreaterThanOrEqual(8);
  for (const href of menu) {
    const section = href.replace("/admin/", "") || "home";
    await page.locator(`nav a[href="${href}"]`).click();
    if (section === "home") await page.locator("p.figure").first().waitFor();
    if (section === "campaigns") await page.locator("table a").first().waitFor();
    if (section === "settings") await page.locator('input[type="color"]').first().waitFor();
    await visit(section);
    if (section === "members") {
      await page.goto(`${server.base}/admin/members/${memberId}`);
      await visit("member 360°");
    }
    if (section === "campaigns") {
      await page.locator("table a").first().click();
      await page.locator("fieldset").first().waitFor();
      await visit("campaign editor");
      await page.locator(`nav a[href="${href}"]`).click();
      await page.locator("main button").first().click();
      await page.locator("fieldset").first().waitFor();
      await page.locator("fieldset").nth(1).locator("button").last().click();
      await visit("new campaign");
    }
    if (section === "settings") {
      // A pale text colour: the page says which readable colour the portal and till will draw.
      await expect(page.getByTestId("readable-colours").count()).resolves.toBe(0);
      await page.locator('input[type="color"]').nth(3).fill(brands.careless.text);
      await expect(page.getByTestId("readable-colours").textContent()).resolves.toContain(
        "#787264",
      );
      await auditor.check(`admin settings with a pale text colour (${locale})`);
    }
  }
}

/** The portal from sign-in to the voucher and the profile, under the program's branding. */
async function auditPortal(
  page: Page,
  auditor: Auditor,
  brand: Brand,
  locale: "id" | "en",
): Promise<void> {
  const { id, memberId, phone } = programs[brand];
  const t = portalText[locale];
  const name = (page: string) => `portal ${page} (${brand}, ${locale})`;
  await page.goto(`${server.base}/app/${id}`);
  await page.getByRole("heading", { level: 1 }).waitFor();
  if (locale === "en") await switchLanguage(page, "en");
  await settled(page);
  await auditor.check(name("sign-in"));
  if (brand === "careless") {
    // The brand's yellow stays; the text on it turns black and the pale text colour darkens.
    const submit = page.locator('form button[type="submit"]');
    const look = await submit.evaluate((el) => {
      const style = getComputedStyle(el);
      return {
        text: style.color,
        fill: style.backgroundColor,
        body: getComputedStyle(document.body).color,
      };
    });
    expect(look.fill).toBe("rgb(255, 214, 10)");
    expect(look.text).toBe("rgb(0, 0, 0)");
    expect(look.body).not.toBe("rgb(184, 176, 154)");
  }
  await page.getByRole("button", { name: t.enrol }).click();
  await auditor.check(name("enrolment"));
  await page.getByRole("button", { name: t.haveAccount }).click();
  await page.getByLabel(t.phone).fill(phone);
  await page.getByRole("button", { name: t.sendCode }).click();
  await page.getByLabel(t.code).waitFor();
  await auditor.check(name("code"));
  await page.getByLabel(t.code).fill(loggedCode(server, memberId));
  await page.getByRole("button", { name: t.verify }).click();
  await page.getByTestId("points-available").waitFor();
  await page.locator(".member-card img").waitFor();
  await settled(page);
  await auditor.check(name("card"));
  const tab = (label: string) => page.locator("nav.tabs button", { hasText: label }).click();
  await tab(t.history);
  await page.locator("ul.plain li").first().waitFor();
  await auditor.check(name("history"));
  await tab(t.rewards);
  await page.locator("ul.plain li button").first().waitFor();
  await settled(page);
  await auditor.check(name("rewards"));
  await page.locator("ul.plain li button").first().click();
  await page.getByRole("dialog").waitFor();
  await auditor.check(name("redeem dialog"));
  const vouchers = await page.getByTestId("voucher-code").count();
  await page.getByRole("dialog").getByRole("button", { name: t.redeem }).click();
  await expect.poll(() => page.getByTestId("voucher-code").count()).toBe(vouchers + 1);
  await settled(page);
  await auditor.check(name("voucher"));
  await tab(t.profile);
  await page.getByLabel(t.name).waitFor();
  await settled(page);
  await auditor.check(name("profile"));
}

/** The till: sign-in, a member found, a basket with its preview, a recorded sale, a refund. */
async function auditPos(page: Page, auditor: Auditor, brand: Brand, locale: "id" | "en") {
  const { id, phone } = programs[brand];
  const email = await createStaff(server, id, "cashier", [storeId]);
  const t = posText[locale];
  const name = (page: string) => `POS ${page} (${brand}, ${locale})`;
  await staffSignIn(page, server, "pos", email, auditor);
  await page.getByLabel(t.phoneOrCard).waitFor();
  await settled(page);
  await auditor.check(name("till"));
  await page.getByLabel(t.phoneOrCard).fill(nextPhone());
  await page.getByRole("button", { name: t.find, exact: true }).click();
  await page.getByText(t.notFound).waitFor();
  await auditor.check(name("member not found"));
  await page.getByLabel(t.phoneOrCard).fill(phone);
  await page.getByRole("button", { name: t.find, exact: true }).click();
  await page.getByTestId("member-available").waitFor();
  await settled(page);
  await auditor.check(name("member found"));
  await page.getByLabel(`${t.sku} 1`).fill("KOPI-SUSU");
  await page.getByLabel(`${t.quantity} 1`).fill("2");
  await page.getByLabel(`${t.unitPrice} 1`).fill("125000");
  await page.getByRole("button", { name: t.addLine }).click();
  await page.getByRole("button", { name: t.preview }).click();
  await page.getByTestId("preview").waitFor();
  await auditor.check(name("basket with preview"));
  const receipt = await page.getByLabel(t.receipt, { exact: true }).inputValue();
  await page.getByRole("button", { name: t.submit }).click();
  await page.getByTestId("recorded").waitFor();
  await auditor.check(name("sale recorded"));
  await page.getByLabel(t.refundReceipt).fill(receipt);
  await page.getByLabel(t.amount).fill("125000");
  await page.getByRole("button", { name: t.refund, exact: true }).click();
  await page.getByText(t.refundDone.split("{")[0] ?? "").waitFor();
  await auditor.check(name("refund"));
}

describe("readable colours from any branding (docs/decisions/0062)", () => {
  const colour = fc
    .integer({ min: 0, max: 0xffffff })
    .map((value) => `#${value.toString(16).padStart(6, "0")}`);
  const brandColours = fc.record({
    primary: colour,
    secondary: colour,
    background: colour,
    text: colour,
  });

  it("every text reaches 4.5:1 and the focus ring 3:1 on the grounds it is drawn on", () => {
    fc.assert(
      fc.property(brandColours, (colors) => {
        const p = palette(colors);
        const on = (fg: string, ...grounds: string[]) =>
          Math.min(...grounds.map((ground) => contrast(p[fg] as string, p[ground] as string)));
        for (const text of ["--text", "--muted", "--primary-text", "--danger", "--ok"])
          expect(on(text, "--bg", "--surface"), text).toBeGreaterThanOrEqual(4.5);
        expect(on("--on-primary", "--primary")).toBeGreaterThanOrEqual(4.5);
        expect(on("--focus", "--surface")).toBeGreaterThanOrEqual(3);
        // The brand's own fills are kept as given.
        expect([p["--primary"], p["--secondary"], p["--bg"]]).toEqual([
          colors.primary,
          colors.secondary,
          colors.background,
        ]);
      }),
      { numRuns: 2000 },
    );
  });

  it("keeps brand colours that already read well and nudges those that do not", () => {
    const sound = palette(brands.custom);
    expect(sound["--text"]).toBe(brands.custom.text);
    expect(sound["--primary-text"]).toBe(brands.custom.primary);
    expect(sound["--on-primary"]).toBe("#ffffff");
    const careless = palette(brands.careless);
    expect(careless["--on-primary"]).toBe("#000000");
    expect(careless["--text"]).not.toBe(brands.careless.text);
    expect(contrast(brands.careless.text, brands.careless.background)).toBeLessThan(4.5);
  });
});

describe("accessibility audit (axe-core, WCAG 2 A/AA)", () => {
  it("admin: every page of the owner's menu, in Indonesian and English", async () => {
    const email = await createStaff(server, null, "owner");
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await withAxe(page);
      const auditor = new Auditor(page);
      await staffSignIn(page, server, "admin", email, auditor);
      await page.locator("nav a").first().waitFor();
      await auditAdmin(page, auditor, "id");
      await switchLanguage(page, "en");
      await auditAdmin(page, auditor, "en");
      // The page an emailed reset link opens (the token is read, not checked, before submit).
      await page.goto(`${server.base}/admin/reset-password#token=${"x".repeat(43)}`);
      await page.getByRole("heading", { level: 1 }).first().waitFor();
      await expect(page.title()).resolves.toMatch(/^Choose a new password · /);
      await auditor.check("admin reset password (en)");
      auditor.assertClean();
    } finally {
      await browser.close();
    }
  });

  for (const [brand, locales] of [
    ["default", ["id", "en"]],
    ["custom", ["en"]],
    ["careless", ["id"]],
  ] as const) {
    it(`portal and POS under the ${brand} branding (${locales.join(", ")})`, async () => {
      for (const locale of locales) {
        const browser = await openBrowser();
        try {
          const { page } = browser;
          await withAxe(page);
          const auditor = new Auditor(page);
          await auditPortal(page, auditor, brand, locale);
          await auditPos(page, auditor, brand, locale);
          auditor.assertClean();
        } finally {
          await browser.close();
        }
      }
    });
  }
});
