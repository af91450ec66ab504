import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextPhone } from "../harness.ts";
import {
  createStaff,
  memberWithPoints,
  openBrowser,
  screenshot,
  startWebServer,
  strongPassword,
  totpCode,
  type WebServer,
} from "./support.ts";

// Browser tests of the three front ends against a real server (docs/decisions/0046).
let server: WebServer;
let programId: string;
const storeId = "jkt-01";

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Kopi Setia",
    currency: "IDR",
  });
  programId = program.body.id;
});

afterAll(async () => {
  await server?.close();
});

/** Signs a staff member in on the admin or POS page; enrols TOTP, which the server requires first. */
async function staffSignIn(page: Page, app: "admin" | "pos", email: string): Promise<void> {
  await page.goto(`${server.base}/${app}/`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Kata sandi").fill(strongPassword);
  await page.getByRole("button", { name: "Masuk", exact: true }).click();
  await page.getByRole("heading", { name: "Aktifkan verifikasi dua langkah" }).waitFor();
  const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
  await page.getByLabel("Kode autentikator (6 digit)").fill(await totpCode(secret));
  await page.getByRole("button", { name: "Konfirmasi" }).click();
  await page.getByRole("button", { name: "Lanjut" }).click();
}

describe("web front ends", () => {
  it("a staff owner accepts the invitation, enrols TOTP with the QR code and signs in", async () => {
    const invited = await server.api<{ inviteUrl: string }>("POST", "/v1/staff/invitations", {
      email: "pemilik@toko.test",
    });
    expect(invited.status).toBe(201);
    const token = new URL(invited.body.inviteUrl).hash;
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/admin/accept-invite${token}`);
      await page.getByText("pemilik@toko.test").waitFor();
      await page.getByLabel("Nama tampilan").fill("Pemilik");
      await page.getByLabel("Kata sandi").fill(strongPassword);
      await page.getByRole("button", { name: "Terima undangan" }).click();
      await page.getByText("Akun dibuat").waitFor();
      await page.getByRole("button", { name: "Masuk" }).click();

      await page.getByLabel("Email").fill("pemilik@toko.test");
      await page.getByLabel("Kata sandi").fill(strongPassword);
      await page.getByRole("button", { name: "Masuk", exact: true }).click();
      await page.getByRole("heading", { name: "Aktifkan verifikasi dua langkah" }).waitFor();
      await page.locator("img.qr").waitFor();
      await screenshot(page, "admin-totp-enrol");
      const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
      await page.getByLabel("Kode autentikator (6 digit)").fill(await totpCode(secret));
      await page.getByRole("button", { name: "Konfirmasi" }).click();
      await page.locator("ul.codes li").first().waitFor();
      expect(await page.locator("ul.codes li").count()).toBe(10);
      await page.getByRole("button", { name: "Lanjut" }).click();
      await page.getByRole("heading", { name: "Beranda" }).waitFor();
      await page.locator("p.figure").first().waitFor();
      await screenshot(page, "admin-home");

      // Signing in again asks for the second factor.
      await page.getByRole("button", { name: "Keluar" }).click();
      await page.getByLabel("Email").fill("pemilik@toko.test");
      await page.getByLabel("Kata sandi").fill(strongPassword);
      await page.getByRole("button", { name: "Masuk", exact: true }).click();
      await page.getByLabel("Kode autentikator (6 digit)").fill(await totpCode(secret, 1));
      await page.getByRole("button", { name: "Verifikasi" }).click();
      await page.getByRole("heading", { name: "Beranda" }).waitFor();
      for (const name of ["Anggota", "Kampanye", "Hadiah", "Staf", "Kunci API"]) {
        await expect(page.getByRole("link", { name, exact: true }).count()).resolves.toBe(1);
      }
      await page.getByRole("link", { name: "Kampanye", exact: true }).click();
      await page.getByRole("button", { name: "Kampanye baru" }).click();
      await page.getByRole("heading", { name: "Kampanye baru" }).waitFor();
      await page.getByRole("button", { name: "Tambah aksi" }).click();
      await screenshot(page, "admin-campaign-editor");
    } finally {
      await browser.close();
    }
  });

  it("a cashier enrols a member by phone and records a purchase on the POS page", async () => {
    const email = await createStaff(server, programId, "cashier", [storeId]);
    const phone = nextPhone();
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await staffSignIn(page, "pos", email);

      await page.getByLabel("Telepon atau nomor kartu").fill(phone);
      await page.getByRole("button", { name: "Cari" }).click();
      await page.getByText("Anggota tidak ditemukan").waitFor();
      await expect(page.getByLabel("Nomor telepon").inputValue()).resolves.toBe(phone);
      await page.getByLabel("Pelanggan menyetujui syarat dan ketentuan").check();
      await page.getByRole("button", { name: "Daftarkan anggota baru" }).click();
      await page.getByText("Anggota terdaftar").waitFor();

      await page.getByLabel("SKU 1").fill("KOPI-SUSU");
      await page.getByLabel("Jumlah 1").fill("2");
      await page.getByLabel("Harga satuan 1").fill("125000");
      await expect(page.getByTestId("total").textContent()).resolves.toMatch(/Rp\s?250\.000/);
      await page.getByRole("button", { name: "Pratinjau poin" }).click();
      await expect(page.getByTestId("preview").textContent()).resolves.toContain("25 poin");
      await page.getByRole("button", { name: "Simpan transaksi" }).click();
      await page.getByTestId("recorded").waitFor();
      await expect(page.getByTestId("recorded").textContent()).resolves.toContain("+25");
      await screenshot(page, "pos-sale");

      // Points as a discount: held while the customer pays, then confirmed.
      await page.getByLabel("Pakai poin sebagai potongan (Poin)").fill("10");
      await page.getByRole("button", { name: "Tahan poin" }).click();
      await page.getByText("10 poin ditahan untuk transaksi ini").waitFor();
      await page.getByRole("button", { name: "Konfirmasi setelah bayar" }).click();
      await page.getByText("10 poin ditukar").waitFor();
      await expect(page.getByTestId("member-available").textContent()).resolves.toBe("15");

      const member = await server.api<{ balance: { available: number; pending: number } }>(
        "GET",
        `/v1/programs/${programId}/members/lookup?phone=${phone}`,
      );
      expect(member.body.balance.available + member.body.balance.pending).toBe(15);
    } finally {
      await browser.close();
    }
  });

  it("a member signs in with a one-time code, sees the points, redeems a reward and sees the voucher", async () => {
    const { phone, memberId } = await memberWithPoints(server, programId, storeId, {
      receiptPrefix: "R",
    });
    const reward = await server.api("POST", `/v1/programs/${programId}/rewards`, {
      type: "discount_amount",
      benefit: { amount: "20000" },
      pointsCost: 50,
      texts: { id: { name: "Potongan Rp 20.000" }, en: { name: "Rp 20,000 off" } },
    });
    expect(reward.status).toBe(201);

    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/app/${programId}`);
      await page.getByLabel("Nomor telepon").fill(phone);
      await page.getByRole("button", { name: "Kirim kode" }).click();
      await page.getByText("Kode dikirim").waitFor();
      const logged = server.logLines
        .filter(
          (line) => line.msg === "portal sign-in code (development)" && line.memberId === memberId,
        )
        .pop();
      expect(logged?.code).toMatch(/^\d{6}$/);
      await page.getByLabel("Kode 6 digit").fill(String(logged?.code));
      await page.getByRole("button", { name: "Masuk" }).click();
      await expect(page.getByTestId("points-available").textContent()).resolves.toBe("100");
      await expect(page.getByTestId("card-number").textContent()).resolves.toMatch(/\d+/);
      await screenshot(page, "portal-card");

      // The service worker keeps the shell and the last card: the card still shows offline.
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
      await page.reload();
      await page.getByTestId("points-available").waitFor();
      await browser.context.setOffline(true);
      await page.reload();
      await expect(page.getByTestId("card-number").textContent()).resolves.toMatch(/\d+/);
      await expect(page.getByTestId("points-available").textContent()).resolves.toBe("100");
      await screenshot(page, "portal-card-offline");
      await browser.context.setOffline(false);
      await page.reload();

      await page.getByRole("button", { name: "Hadiah" }).click();
      await page.getByRole("button", { name: "Tukar: Potongan Rp 20.000" }).click();
      await page.getByRole("dialog").getByRole("button", { name: "Tukar" }).click();
      await page.getByTestId("voucher-code").waitFor();
      await expect(page.getByTestId("voucher-code").textContent()).resolves.toMatch(
        /^[2-9A-Z]{12}$/,
      );
      await screenshot(page, "portal-voucher");
      const balance = await server.api<{ balance: { available: number } }>(
        "GET",
        `/v1/programs/${programId}/members/${memberId}`,
      );
      expect(balance.body.balance.available).toBe(50);
    } finally {
      await browser.close();
    }
  });

  it("a marketer does not see API keys and the server refuses them", async () => {
    const email = await createStaff(server, programId, "marketer");
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await staffSignIn(page, "admin", email);
      await page.getByRole("link", { name: "Kampanye", exact: true }).waitFor();
      await expect(page.getByRole("link", { name: "Kunci API" }).count()).resolves.toBe(0);
      await expect(page.getByRole("link", { name: "Staf" }).count()).resolves.toBe(0);
      await page.goto(`${server.base}/admin/keys`);
      await page.getByText("Peran Anda tidak dapat membuka halaman ini.").waitFor();
      const status = await page.evaluate(
        (path) => fetch(path).then((response) => response.status),
        `/v1/programs/${programId}/api-keys`,
      );
      expect(status).toBe(403);
      await screenshot(page, "admin-marketer-refused");
    } finally {
      await browser.close();
    }
  });

  it("a cashier cannot open the admin dashboard", async () => {
    const email = await createStaff(server, programId, "cashier", [storeId]);
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/admin/`);
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Kata sandi").fill(strongPassword);
      await page.getByRole("button", { name: "Masuk", exact: true }).click();
      await page.getByText("Kasir tidak dapat membuka dasbor admin").waitFor();
      await expect(page.getByRole("link", { name: "Anggota" }).count()).resolves.toBe(0);
      const status = await page.evaluate(
        (path) => fetch(path).then((response) => response.status),
        `/v1/programs/${programId}/reports/overview?from=2026-01-01&to=2026-01-31&granularity=day`,
      );
      expect(status).toBe(403);
      await screenshot(page, "admin-cashier-refused");
    } finally {
      await browser.close();
    }
  });

  it("serves each app's index for its client routes with a strict content security policy", async () => {
    for (const path of ["/admin/members/mem_x", "/app/prg_x", "/pos/"]) {
      const response = await fetch(`${server.base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-security-policy")).toContain("default-src 'self'");
      expect(await response.text()).toContain('<div id="root">');
    }
    const manifest = await fetch(`${server.base}/app/manifest.webmanifest`);
    expect(manifest.status).toBe(200);
    const missing = await fetch(`${server.base}/app/nothing.js`);
    expect(missing.status).toBe(404);
    const api404 = await fetch(`${server.base}/v1/nothing`);
    expect((await api404.json()).error.code).toBe("route_not_found");
  });
});
