import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Auditor, staffSignIn, withAxe } from "./audit.ts";
import { createStaff, openBrowser, screenshot, startWebServer, type WebServer } from "./support.ts";

// The program's own settings (earn rate, expiry, returns, holds) edited in the admin.
let server: WebServer;
let programId: string;

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Pengaturan",
    earnRate: { points: 1, per: "10000" },
  });
  programId = program.body.id;
});

afterAll(async () => {
  await server?.close();
});

interface ProgramView {
  earnRate: { points: number; per: string; rounding: string };
  expiry: { policy: string; months?: number; years?: number };
  returnsWindowDays: number;
  refundPolicy: string;
  holdTtlSeconds: number;
}

describe("program settings in the admin", () => {
  it("an owner changes the earn rate and expiry; a bad value shows the server's error beside the field and changes nothing", async () => {
    const ownerEmail = await createStaff(server, programId, "owner");
    const browser = await openBrowser();
    const read = async () =>
      (await server.api<ProgramView>("GET", `/v1/programs/${programId}`)).body;
    const before = await read();
    try {
      const { page } = browser;
      await withAxe(page);
      const auditor = new Auditor(page);
      await staffSignIn(page, server, "admin", ownerEmail);
      await page.getByRole("link", { name: "Pengaturan", exact: true }).click();
      const card = page.locator("section.card", {
        has: page.getByRole("heading", { name: "Program", exact: true }),
      });
      await card.getByLabel("Poin", { exact: true }).waitFor();
      await auditor.check("admin program settings");

      await card.getByLabel("Masa retur (hari)").fill("seminggu");
      await card.getByRole("button", { name: "Simpan" }).click();
      // The message sits under the field the server named (body.returnsWindowDays).
      const field = card.getByLabel("Masa retur (hari)");
      const describedBy = (await field.getAttribute("aria-describedby")) ?? "";
      await expect(
        card.locator(`[id="${describedBy.split(" ").at(-1)}"]`).textContent(),
      ).resolves.toMatch(/expected number/i);
      expect(await read()).toEqual(before);

      await card.getByLabel("Masa retur (hari)").fill("14");
      await card.getByLabel("Poin", { exact: true }).fill("2");
      await card.getByLabel("Untuk setiap belanja (IDR)").fill("5000");
      await card.getByLabel("Pembulatan").selectOption("round");
      await card.getByLabel("Kebijakan").selectOption("end_of_year");
      await card.getByLabel("Akhir tahun ke-").fill("2");
      await card.getByLabel("Saat retur melebihi saldo").selectOption("forfeit");
      await card.getByRole("button", { name: "Simpan" }).click();
      await card.getByText("Tersimpan.").waitFor();
      await screenshot(page, "admin-program-settings");
      auditor.assertClean();
    } finally {
      await browser.close();
    }
    const after = await read();
    expect(after.earnRate).toEqual({ points: 2, per: "5000.00", rounding: "round" });
    expect(after.expiry).toEqual({ policy: "end_of_year", years: 2 });
    expect(after.returnsWindowDays).toBe(14);
    expect(after.refundPolicy).toBe("forfeit");
    expect(after.holdTtlSeconds).toBe(before.holdTtlSeconds);
  });
});
