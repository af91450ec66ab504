import type { Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Auditor, staffSignIn, withAxe } from "./audit.ts";
import { createStaff, openBrowser, screenshot, startWebServer, type WebServer } from "./support.ts";

// A marketer edits the tier ladder and builds the catalog through the admin UI (decisions
// 0053, 0054). The two tests share one signed-in page: the rewards use the ladder's tiers.
let server: WebServer;
let programId: string;
let browser: Awaited<ReturnType<typeof openBrowser>>;
let page: Page;
let auditor: Auditor;

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Kopi Setia",
    currency: "IDR",
  });
  programId = program.body.id;
  const email = await createStaff(server, programId, "marketer");
  browser = await openBrowser();
  page = browser.page;
  await withAxe(page);
  auditor = new Auditor(page);
  await staffSignIn(page, server, "admin", email);
  await page.getByRole("heading", { name: "Beranda" }).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** The card of the n-th tier (1 = lowest). */
function tierCard(n: number): Locator {
  return page
    .locator("section.card")
    .filter({ has: page.getByRole("heading", { name: new RegExp(`^Tingkat ${n}\\b`) }) });
}

/** The message shown under a field, found from its label. */
async function fieldError(label: string | RegExp): Promise<string> {
  // Waits for the server's answer to mark the field.
  const input = page.getByLabel(label).and(page.locator('[aria-invalid="true"]'));
  await input.waitFor();
  const ids = ((await input.getAttribute("aria-describedby")) ?? "").split(" ");
  const errorId = ids.find((id) => id.endsWith("-error"));
  if (!errorId) throw new Error(`no error tied to ${label}`);
  return (await page.locator(`[id="${errorId}"]`).textContent()) ?? "";
}

interface Spec {
  type: string;
  name: string;
  fields: Record<string, string>;
  select?: Record<string, string>;
  extra?: (page: Page) => Promise<void>;
}

const specs: Spec[] = [
  { type: "discount_amount", name: "Diskon Rp 25.000", fields: { Nominal: "25000" } },
  {
    type: "discount_percent",
    name: "Diskon 10%",
    fields: { "Persen (%)": "10", "Potongan maksimum": "50000" },
  },
  { type: "free_product", name: "Kopi susu gratis", fields: { SKU: "KOPI-SUSU" } },
  { type: "webshop_voucher", name: "Voucher toko online", fields: { Nominal: "15000" } },
  { type: "gift_card", name: "Kartu hadiah Rp 100.000", fields: { Nominal: "100000" } },
  { type: "partner_gift_card", name: "Kartu Kopi Kenangan", fields: { Mitra: "Kopi Kenangan" } },
  {
    type: "experience",
    name: "Kelas barista",
    fields: { "Waktu acara": "2026-12-01T19:00", Tempat: "Jakarta" },
    // Seats, only for gold members, cheaper for them.
    extra: async (page) => {
      await page.getByLabel("Stok (kosong = tak terbatas)").fill("20");
      await page.getByLabel("Emas", { exact: true }).check();
      await page.getByLabel("Biaya poin untuk Emas").fill("80");
    },
  },
  { type: "cashback", name: "Cashback Rp 10.000", fields: { Nominal: "10000" } },
  {
    type: "charity_donation",
    name: "Donasi Rumah Zakat",
    fields: { "Lembaga amal": "Rumah Zakat", "Nilai donasi": "5000" },
  },
  {
    type: "tier_upgrade",
    name: "Naik ke Emas",
    fields: { "Lama (hari": "90" },
    select: { "Tingkat tujuan": "Emas" },
  },
];

describe("admin rewards and tier editors", () => {
  it("a marketer saves a calendar-year ladder with a multiplier and sees its version history", async () => {
    await page.getByRole("link", { name: "Tingkat", exact: true }).click();
    await page.getByRole("heading", { name: "Riwayat versi" }).waitFor();
    await page.getByLabel("Jendela kualifikasi").selectOption("calendar_year");
    await expect.poll(() => page.getByLabel("Jendela (bulan)").count()).toBe(0);
    await page.getByRole("button", { name: "Tambah tingkat" }).click();
    const gold = tierCard(2);
    await gold.getByLabel("Kode").fill("gold");
    await gold.getByLabel("Nama (ID)").fill("Emas");
    await gold.getByLabel("Nama (EN)").fill("Gold");
    await gold.getByLabel("Ambang (poin)").fill("5000");
    await gold.getByLabel("Pengali poin (%)").fill("150");
    await gold.getByLabel("Gratis ongkos kirim").check();
    await gold.getByRole("button", { name: "Tambah keistimewaan" }).click();
    await gold.getByLabel("Keistimewaan 1 (ID)").fill("Antrean prioritas");
    await gold.getByLabel("Keistimewaan 1 (EN)").fill("Priority queue");
    await page.getByRole("button", { name: "Simpan" }).click();
    await page.getByText("Versi 1 tersimpan.").waitFor();

    // A second version: the grace period shortened.
    await page.getByLabel("Masa tenggang (hari)").fill("14");
    await page.getByRole("button", { name: "Simpan" }).click();
    await page.getByText("Versi 2 tersimpan.").waitFor();
    await page.getByRole("button", { name: "Muat versi 2 ke editor" }).waitFor();
    const history = page.getByTestId("tier-versions").locator("tbody tr");
    await expect(history.count()).resolves.toBe(2);
    await expect(history.first().textContent()).resolves.toMatch(
      /^2 \(berlaku\).*Tahun kalender.*Masa tenggang \(hari\) 14.*Emas 5\.000 ×1\.5/,
    );
    await expect(history.nth(1).textContent()).resolves.toContain("Masa tenggang (hari) 30");
    await screenshot(page, "admin-tiers");
    await auditor.check("tier editor");

    const ladder = await server.api<{
      version: number;
      qualification: { window: { kind: string } };
      gracePeriodDays: number;
      tiers: { code: string; threshold: number; benefits: Record<string, unknown> }[];
    }>("GET", `/v1/programs/${programId}/tier-ladder`);
    expect(ladder.body).toMatchObject({
      version: 2,
      qualification: { metric: "points_earned", window: { kind: "calendar_year" } },
      gracePeriodDays: 14,
      lowestTierAutomatic: true,
    });
    expect(ladder.body.tiers.map((tier) => [tier.code, tier.threshold])).toEqual([
      ["bronze", 0],
      ["gold", 5000],
    ]);
    expect(ladder.body.tiers[1]?.benefits).toEqual({
      earnMultiplierPercent: 150,
      freeShipping: true,
      perks: [{ id: "Antrean prioritas", en: "Priority queue" }],
    });
  });

  it("a marketer creates a reward of each of the ten types; bad values show the server's error at the field", async () => {
    const rewardsPath = `/v1/programs/${programId}/rewards?limit=50`;
    await page.getByRole("link", { name: "Hadiah", exact: true }).click();
    for (const spec of specs) {
      await page.getByRole("button", { name: "Hadiah baru" }).click();
      await page.getByRole("heading", { name: "Hadiah baru" }).waitFor();
      await page.getByLabel("Tipe").selectOption(spec.type);
      await page.getByLabel("Nama (ID)").fill(spec.name);
      await page.getByLabel("Biaya poin", { exact: true }).fill("100");
      for (const [label, value] of Object.entries(spec.fields)) {
        await page.getByLabel(label).fill(value);
      }
      for (const [label, option] of Object.entries(spec.select ?? {})) {
        await page.getByLabel(label).selectOption({ label: option });
      }
      await spec.extra?.(page);

      if (spec.type === "discount_amount") {
        // More decimals than IDR has: refused by the server, shown under the amount.
        await page.getByLabel("Nominal").fill("25000.125");
        await page.getByRole("button", { name: "Simpan" }).click();
        await expect(fieldError("Nominal")).resolves.toContain("more decimals than IDR allows");
        await page.getByLabel("Nominal").fill("25000");
      }
      if (spec.type === "discount_percent") {
        await page.getByLabel("Persen (%)").fill("150");
        await page.getByRole("button", { name: "Simpan" }).click();
        await expect(fieldError("Persen (%)")).resolves.toMatch(/100/);
        await screenshot(page, "admin-reward-error");
        await auditor.check("reward editor with an error");
        const before = await server.api<{ data: unknown[] }>("GET", rewardsPath);
        expect(before.body.data).toHaveLength(1);
        await page.getByLabel("Persen (%)").fill("10");
      }

      await page.getByRole("button", { name: "Simpan" }).click();
      await page.getByText("Hadiah dibuat.").waitFor();
      await page.getByRole("heading", { name: spec.name }).waitFor();

      if (spec.type === "partner_gift_card") {
        await page.getByLabel("Kode (satu per baris)").fill("KK-0001\nKK-0002\nKK-0003");
        await page.getByRole("button", { name: "Unggah kode" }).click();
        await page.getByText("3 kode ditambahkan, 0 duplikat dilewati; 3 tersedia.").waitFor();
        await page.getByLabel("Atau pilih berkas teks/CSV").setInputFiles({
          name: "kode.csv",
          mimeType: "text/csv",
          buffer: Buffer.from("KK-0003\nKK-0004\n"),
        });
        // The file is read asynchronously into the text box.
        await expect
          .poll(() => page.getByLabel("Kode (satu per baris)").inputValue())
          .toContain("KK-0004");
        await page.getByRole("button", { name: "Unggah kode" }).click();
        await page.getByText("1 kode ditambahkan, 1 duplikat dilewati; 4 tersedia.").waitFor();
        await expect(page.getByTestId("codes-count").textContent()).resolves.toBe(
          "Tersedia 4 · terpakai 0",
        );
        await screenshot(page, "admin-reward-partner-codes");
        await auditor.check("partner codes");
      }
      await page.getByRole("link", { name: "Kembali ke daftar" }).click();
    }

    await page.getByTestId("reward-row").nth(9).waitFor();
    await expect(page.getByTestId("reward-row").count()).resolves.toBe(10);
    const experienceRow = page.getByTestId("reward-row").filter({ hasText: "Kelas barista" });
    await expect(experienceRow.textContent()).resolves.toMatch(/100 poin · gold: 80.*20.*Aktif/);
    await screenshot(page, "admin-rewards");
    await auditor.check("reward list");

    const list = await server.api<{
      data: {
        id: string;
        type: string;
        benefit: Record<string, unknown>;
        eligibility: { tierCodes: string[] };
        stock: number | null;
      }[];
    }>("GET", rewardsPath);
    expect(list.body.data.map((reward) => reward.type)).toEqual(specs.map((spec) => spec.type));
    const byType = Object.fromEntries(list.body.data.map((reward) => [reward.type, reward]));
    const ladder = await server.api<{ tiers: { id: string; code: string }[] }>(
      "GET",
      `/v1/programs/${programId}/tier-ladder`,
    );
    const goldId = ladder.body.tiers.find((tier) => tier.code === "gold")?.id;
    expect(byType.tier_upgrade?.benefit).toEqual({ tierId: goldId, days: 90 });
    expect(byType.discount_amount?.benefit).toEqual({ amount: "25000.00" });
    expect(byType.discount_percent?.benefit).toEqual({ percent: 10, cap: "50000.00" });
    expect(byType.experience).toMatchObject({ stock: 20, eligibility: { tierCodes: ["gold"] } });
    expect(Date.parse(String(byType.experience?.benefit.eventAt))).toBe(
      new Date("2026-12-01T19:00").getTime(),
    );

    // Editing keeps the type and changes only what the form changed.
    await page.getByRole("link", { name: "Hadiah", exact: true }).click();
    await page.getByRole("link", { name: "Diskon 10%" }).click();
    await page.getByRole("heading", { name: "Diskon 10%" }).waitFor();
    await expect(page.getByLabel("Persen (%)").inputValue()).resolves.toBe("10");
    await page.getByLabel("Biaya poin", { exact: true }).fill("90");
    await page.getByLabel("Biaya poin untuk Emas").fill("70");
    await page.getByLabel("Status", { exact: true }).selectOption("archived");
    await page.getByRole("button", { name: "Simpan" }).click();
    await page.getByText("Tersimpan.").waitFor();
    const edited = await server.api<Record<string, unknown>>(
      "GET",
      `/v1/programs/${programId}/rewards/${byType.discount_percent?.id}`,
    );
    expect(edited.body).toMatchObject({
      type: "discount_percent",
      status: "archived",
      pointsCost: 90,
      tierCosts: [{ tierCode: "gold", points: 70 }],
      benefit: { percent: 10, cap: "50000.00" },
    });

    // The tier editor shows the reward exclusive to gold and its tier price.
    await page.getByRole("link", { name: "Tingkat", exact: true }).click();
    const goldRewards = tierCard(2).getByRole("link", { name: "Kelas barista" });
    await goldRewards.first().waitFor();
    await expect(goldRewards.count()).resolves.toBe(2);
    auditor.assertClean();
  });
});
