import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextPhone } from "../harness.ts";
import { staffSignIn } from "./audit.ts";
import { createStaff, openBrowser, screenshot, startWebServer, type WebServer } from "./support.ts";

// The admin's one search box finds members by name (blind tokens, decision 0059) and opens the
// member's 360° page.
let server: WebServer;
let programId: string;
const phone = nextPhone();

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Cari",
    currency: "IDR",
  });
  programId = program.body.id;
  for (const [name, memberPhone] of [
    ["Budi Santoso", phone],
    ["Bùdi Hartono", nextPhone()],
    ["Siti Nurhaliza", nextPhone()],
  ] as const) {
    const enrolled = await server.api("POST", `/v1/programs/${programId}/members`, {
      phone: memberPhone,
      name,
      consents: { terms: true },
    });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
  }
});

afterAll(async () => {
  await server?.close();
});

describe("admin member search", () => {
  it("finds members by the beginning of a name and opens the 360° page", async () => {
    const email = await createStaff(server, programId, "admin");
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await staffSignIn(page, server, "admin", email);
      await page.locator('nav a[href="/admin/members"]').click();
      const box = page.getByLabel("Cari anggota");
      await box.fill("bu");
      await page.getByRole("button", { name: "Cari", exact: true }).click();
      await page.getByText("Ketik minimal 3 huruf nama").waitFor();

      await box.fill("budi");
      await page.getByRole("button", { name: "Cari", exact: true }).click();
      await page.getByText("2 anggota ditemukan").waitFor();
      const results = page.locator("section", { hasText: "Hasil pencarian" });
      await expect(results.locator("tbody tr").count()).resolves.toBe(2);
      const text = (await results.textContent()) ?? "";
      expect(text).toContain("Bùdi Hartono");
      expect(text).not.toContain("Siti Nurhaliza");
      // Phones are masked in the list: the last four digits only.
      expect(text).not.toContain(phone.slice(1));
      expect(text).toContain(phone.slice(-4));
      await screenshot(page, "admin-member-search");

      await results.getByRole("link", { name: "Budi Santoso" }).click();
      await page.getByRole("heading", { level: 1, name: /Budi Santoso/ }).waitFor();
      expect(page.url()).toMatch(/\/admin\/members\/mbr_/);
    } finally {
      await browser.close();
    }
  });
});
