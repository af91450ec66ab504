import type { ParsedMail } from "mailparser";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startSmtp } from "../communications/support.ts";
import {
  createStaff,
  openBrowser,
  screenshot,
  startWebServer,
  strongPassword,
  totpCode,
  type WebServer,
} from "./support.ts";

// Forgot password in the browser, with the link taken from the email a real SMTP server received.
let server: WebServer;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let programId: string;

beforeAll(async () => {
  server = await startWebServer();
  smtp = await startSmtp();
  server.ctx.communications = { smtpUrl: smtp.url, publicUrl: server.base };
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Reset",
    currency: "IDR",
  });
  programId = program.body.id;
});

afterAll(async () => {
  await server?.close();
  await smtp?.close();
});

/** Waits for the reset mail to an address (self-service links are sent after the answer). */
function resetMailTo(email: string): Promise<ParsedMail> {
  return vi.waitFor(
    () => {
      const found = smtp.mails.find(
        (m: ParsedMail) =>
          m.subject === "Reset your Setia password" && JSON.stringify(m.to).includes(email),
      );
      if (!found) throw new Error("no reset mail yet");
      return found;
    },
    { timeout: 15_000, interval: 50 },
  );
}

describe("password reset in the browser", () => {
  it("forgot password → emailed link → new password → TOTP → signed in; admin sends a link", async () => {
    const email = await createStaff(server, programId, "admin");
    const newPassword = "nasi-uduk-Betawi-2032?";
    const browser = await openBrowser();
    try {
      const { page } = browser;
      // First sign-in enrols TOTP (the server requires it), then sign out.
      await page.goto(`${server.base}/admin/`);
      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Kata sandi").fill(strongPassword);
      await page.getByRole("button", { name: "Masuk", exact: true }).click();
      await page.getByRole("heading", { name: "Aktifkan verifikasi dua langkah" }).waitFor();
      const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
      await page.getByLabel("Kode autentikator (6 digit)").fill(await totpCode(secret));
      await page.getByRole("button", { name: "Konfirmasi" }).click();
      await page.getByRole("button", { name: "Lanjut" }).click();
      await page.getByRole("heading", { name: "Beranda" }).waitFor();
      await page.getByRole("button", { name: "Keluar" }).click();

      await page.getByRole("button", { name: "Lupa kata sandi?" }).click();
      await page.getByLabel("Email").fill(email);
      await page.getByRole("button", { name: "Kirim tautan" }).click();
      await page.getByText("Tautan berlaku 30 menit").waitFor();
      await screenshot(page, "admin-forgot-password");
      const mail = await resetMailTo(email);
      const link = /https?:\/\/\S+\/admin\/reset-password#token=[A-Za-z0-9_-]+/.exec(
        mail.text ?? "",
      )?.[0];
      expect(link).toBeDefined();

      await page.goto(link as string);
      await page.getByRole("heading", { name: "Buat kata sandi baru" }).waitFor();
      // The token is gone from the address bar once the page has read it.
      expect(new URL(page.url()).hash).toBe("");
      await page.getByLabel("Kata sandi baru").fill("password123");
      await page.getByRole("button", { name: "Buat kata sandi baru" }).click();
      await page.getByText("password_too_weak").waitFor();
      await page.getByLabel("Kata sandi baru").fill(newPassword);
      await page.getByRole("button", { name: "Buat kata sandi baru" }).click();
      await page.getByText("Kata sandi diganti").waitFor();
      await screenshot(page, "admin-reset-password");
      await page.getByRole("button", { name: "Masuk" }).click();

      await page.getByLabel("Email").fill(email);
      await page.getByLabel("Kata sandi").fill(newPassword);
      await page.getByRole("button", { name: "Masuk", exact: true }).click();
      // A reset never skips the second factor.
      await page.getByLabel("Kode autentikator (6 digit)").fill(await totpCode(secret, 1));
      await page.getByRole("button", { name: "Verifikasi" }).click();
      await page.getByRole("heading", { name: "Beranda" }).waitFor();

      // From the staff list, the admin sends a colleague a link.
      const colleague = await createStaff(server, programId, "support");
      await page.getByRole("link", { name: "Staf", exact: true }).click();
      await page
        .getByRole("row", { name: colleague })
        .getByRole("button", { name: "Kirim tautan atur ulang sandi" })
        .click();
      await page.getByText(`Tautan atur ulang kata sandi dikirim ke ${colleague}`).waitFor();
      expect((await resetMailTo(colleague)).text).toContain("An administrator");
    } finally {
      await browser.close();
    }
  });
});
