import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Auditor, staffSignIn, withAxe } from "./audit.ts";
import {
  createStaff,
  openBrowser,
  screenshot,
  startWebServer,
  strongPassword,
  type WebServer,
} from "./support.ts";

// The stores registry in the admin, and the POS page of a cashier assigned to a store.
let server: WebServer;
let programId: string;

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Kedai Kopi Orchard",
    currency: "SGD",
    timezone: "Asia/Singapore",
    earnRate: { points: 1, per: "1" },
  });
  programId = program.body.id;
  // An integrator already sends purchases from a store nobody registered.
  const sale = await server.api("POST", `/v1/programs/${programId}/transactions`, {
    externalId: "POP-0001",
    storeId: "POPUP-1",
    channel: "pos",
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
    currency: "SGD",
    total: "8.00",
  });
  expect(sale.status).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

interface Store {
  code: string;
  name: string;
  city: string | null;
  status: string;
}

describe("stores in the admin and the POS", () => {
  it("an owner registers stores and invites a cashier; the POS shows the store by name and money in the program's currency", async () => {
    const ownerEmail = await createStaff(server, null, "owner");
    const admin = await openBrowser();
    let inviteUrl = "";
    try {
      const { page } = admin;
      await withAxe(page);
      const auditor = new Auditor(page);
      await staffSignIn(page, server, "admin", ownerEmail);
      await page.getByRole("heading", { name: "Beranda" }).waitFor();
      await page.getByRole("link", { name: "Toko", exact: true }).click();
      await page.getByRole("heading", { name: "Toko", exact: true }).waitFor();

      await page.getByLabel("Kode toko").fill("SG-01");
      await page.getByLabel("Nama", { exact: true }).fill("Kedai Orchard");
      await page.getByLabel("Kota", { exact: true }).fill("Singapura");
      await page.getByRole("button", { name: "Simpan" }).click();
      await page.getByText("Toko SG-01 tersimpan.").waitFor();
      await page.getByRole("cell", { name: "Kedai Orchard" }).waitFor();

      // The code purchases carry but nobody registered: one click registers it, one closes it.
      await page.getByRole("button", { name: "Daftarkan POPUP-1" }).click();
      await page.getByText("Toko POPUP-1 tersimpan.").waitFor();
      await page.getByRole("button", { name: "Tutup toko POPUP-1" }).click();
      await page.getByRole("button", { name: "Buka kembali POPUP-1" }).waitFor();
      await auditor.check("admin stores");
      await screenshot(page, "admin-stores");

      const stores = await server.api<{ data: (Store & { figures: { purchases: number } })[] }>(
        "GET",
        `/v1/programs/${programId}/stores`,
      );
      expect(stores.body.data.map((s) => [s.code, s.name, s.city, s.status])).toEqual([
        ["POPUP-1", "POPUP-1", null, "closed"],
        ["SG-01", "Kedai Orchard", "Singapura", "active"],
      ]);
      expect(stores.body.data[0]?.figures.purchases).toBe(1);

      await page.getByRole("link", { name: "Staf", exact: true }).click();
      await page.getByLabel("Email").fill("kasir-orchard@toko.test");
      await page.getByLabel("Peran").selectOption("cashier");
      // Closed stores are not offered; the open one is picked by name.
      await page.getByLabel("Kedai Orchard (SG-01)").check();
      await expect(page.getByLabel("POPUP-1 (POPUP-1)").count()).resolves.toBe(0);
      await auditor.check("admin staff with the store picker");
      auditor.assertClean();
      await screenshot(page, "admin-invite-cashier");
      await page.getByRole("button", { name: "Undang" }).click();
      inviteUrl = (await page.getByTestId("invite-url").textContent()) ?? "";
    } finally {
      await admin.close();
    }

    const accepted = await server.api("POST", "/v1/staff/invitations/accept", {
      token: new URL(inviteUrl).hash.replace(/^#token=/, ""),
      password: strongPassword,
      displayName: "Kasir Orchard",
    });
    expect(accepted.status).toBe(201);

    const pos = await openBrowser();
    try {
      const { page } = pos;
      await withAxe(page);
      await staffSignIn(page, server, "pos", "kasir-orchard@toko.test");
      await expect(page.getByTestId("store-name").textContent()).resolves.toBe("Kedai Orchard");
      const auditor = new Auditor(page);
      await auditor.check("pos with its store");
      auditor.assertClean();
      await page.getByLabel("SKU 1").fill("KOPI-SUSU");
      await page.getByLabel("Jumlah 1").fill("2");
      await page.getByLabel("Harga satuan 1").fill("12.50");
      await expect(page.getByTestId("total").textContent()).resolves.toMatch(/^SGD\s25,00$/);
      await page.getByRole("button", { name: "Simpan transaksi" }).click();
      await page.getByTestId("recorded").waitFor();
      await screenshot(page, "pos-store");

      // With a second store the till picks by name.
      const base = `/v1/programs/${programId}`;
      await server.api("POST", `${base}/stores`, {
        code: "SG-02",
        name: "Kedai Bugis",
        city: "Singapura",
      });
      const staff = await server.api<{ data: { id: string; email: string }[] }>(
        "GET",
        `${base}/staff`,
      );
      const cashier = staff.body.data.find((s) => s.email === "kasir-orchard@toko.test");
      const moved = await server.api("PATCH", `${base}/staff/${cashier?.id}`, {
        storeIds: ["SG-01", "SG-02"],
      });
      expect(moved.status).toBe(200);
      await page.reload();
      await page
        .getByLabel("Toko", { exact: true })
        .selectOption({ label: "Kedai Bugis · Singapura" });
      await page.getByLabel("SKU 1").fill("TEH");
      await page.getByLabel("Harga satuan 1").fill("4");
      await page.getByRole("button", { name: "Simpan transaksi" }).click();
      await page.getByTestId("recorded").waitFor();
      await screenshot(page, "pos-store-picker");
    } finally {
      await pos.close();
    }
    const sales = await server.api<{
      data: { storeId: string; total: string; currency: string }[];
    }>("GET", `/v1/programs/${programId}/transactions`);
    expect(sales.body.data.find((sale) => sale.storeId === "SG-01")).toMatchObject({
      total: "25.00",
      currency: "SGD",
    });
    expect(sales.body.data.find((sale) => sale.storeId === "SG-02")).toMatchObject({
      total: "4.00",
    });
  });
});
