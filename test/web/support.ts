import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { generate } from "otplib";
import pino from "pino";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { expect } from "vitest";
import { ensureOwnerKey } from "../../src/app.ts";
import type { Ctx } from "../../src/context.ts";
import type { App } from "../../src/http/kit.ts";
import { buildServer } from "../../src/http/server.ts";
import { systemClock } from "../../src/lib/clock.ts";
import { ensureWebBuilt } from "../../web/ensure-built.mjs";
import { nextPhone, openTestDb } from "../harness.ts";

export const chromiumPath = "/usr/bin/chromium";
const artifacts = fileURLToPath(new URL("../artifacts/web/", import.meta.url));

/** A real server on a random port with the built UI, a test database and a readable log. */
export interface WebServer {
  base: string;
  ownerKey: string;
  app: App;
  /** The server's context: a test may set `communications` (e.g. a test SMTP server) on it. */
  ctx: Ctx;
  /** Log lines (JSON) the server wrote: the portal's one-time codes are read from here. */
  logLines: Record<string, unknown>[];
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    key?: string,
  ): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startWebServer(): Promise<WebServer> {
  await ensureWebBuilt({ quiet: true });
  const { db, drop } = await openTestDb();
  const logLines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  // The browser's clock is the real one: the server must agree (occurredAt, TOTP, sessions).
  const ctx: Ctx = { db, clock: systemClock, log: pino({ level: "info" }, sink) };
  const ownerKey = await ensureOwnerKey(ctx);
  if (!ownerKey) throw new Error("fresh database already had keys");
  const app = await buildServer(ctx);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  return {
    base,
    ownerKey,
    app,
    ctx,
    logLines,
    async api(method, path, body, key = ownerKey) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async close() {
      await app.close();
      await drop();
    },
  };
}

/** Chromium with a fresh profile directory, closed and removed by close(). */
export async function openBrowser(): Promise<{
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}> {
  const profile = mkdtempSync(join(tmpdir(), "setia-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
    viewport: { width: 1024, height: 768 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  if (process.env.SETIA_WEB_DEBUG) {
    page.on("console", (message) => console.log(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => console.log(`page error: ${error.message}`));
    page.on("response", async (response) => {
      if (response.status() >= 400)
        console.log(
          `HTTP ${response.status()} ${response.url()} ${await response.text().catch(() => "")}`,
        );
    });
  }
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  const driver = process.env.SETIA_TEST_DRIVER ?? "pglite";
  await page.screenshot({ path: join(artifacts, `${name}-${driver}.png`), fullPage: true });
}

/** A TOTP code for the current step, or the next one (the server refuses a code used twice). */
export function totpCode(secret: string, stepsAhead = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + stepsAhead * 30 });
}

export const strongPassword = "kopi-susu-Gula-aren-2026!";

/** Creates a staff account of a role through the API (invitation + acceptance); returns its email. */
export async function createStaff(
  server: WebServer,
  programId: string | null,
  role: string,
  storeIds?: string[],
): Promise<string> {
  const email = `${role}-${Math.random().toString(36).slice(2, 8)}@toko.test`;
  // A cashier's stores are registered ones (a store the test registered itself is kept).
  for (const code of programId ? (storeIds ?? []) : []) {
    const store = await server.api<{ error?: { code: string } }>(
      "POST",
      `/v1/programs/${programId}/stores`,
      { code, name: `Toko ${code}` },
    );
    if (store.status >= 300 && store.body.error?.code !== "store_exists")
      throw new Error(`store: ${JSON.stringify(store.body)}`);
  }
  const invited = programId
    ? await server.api<{ inviteUrl: string }>(
        "POST",
        `/v1/programs/${programId}/staff/invitations`,
        {
          email,
          role,
          ...(storeIds && { storeIds }),
        },
      )
    : await server.api<{ inviteUrl: string }>("POST", "/v1/staff/invitations", { email });
  if (invited.status !== 201) throw new Error(`invitation: ${JSON.stringify(invited.body)}`);
  const token = new URL(invited.body.inviteUrl).hash.replace(/^#token=/, "");
  const accepted = await server.api("POST", "/v1/staff/invitations/accept", {
    token,
    password: strongPassword,
    displayName: role,
  });
  if (accepted.status !== 201) throw new Error(`accept: ${JSON.stringify(accepted.body)}`);
  return email;
}

/**
 * A member enrolled by phone with points to spend: one Rp 1.000.000 purchase a minute ago at the
 * store (receipt `<prefix>-<phone>`). Answers the phone and the member id.
 */
export async function memberWithPoints(
  server: WebServer,
  programId: string,
  storeId: string,
  options: { receiptPrefix: string; name?: string },
): Promise<{ phone: string; memberId: string }> {
  const phone = nextPhone();
  const member = await server.api<{ id: string }>("POST", `/v1/programs/${programId}/members`, {
    phone,
    ...(options.name !== undefined && { name: options.name }),
    consents: { terms: true },
  });
  expect(member.status, JSON.stringify(member.body)).toBe(201);
  const sale = await server.api("POST", `/v1/programs/${programId}/transactions`, {
    externalId: `${options.receiptPrefix}-${phone}`,
    storeId,
    channel: "pos",
    occurredAt: new Date(Date.now() - 60_000).toISOString(),
    currency: "IDR",
    total: "1000000",
    member: { id: member.body.id },
    lines: [{ sku: "BIJI-KOPI", quantity: 1, unitPrice: "1000000" }],
  });
  expect(sale.status, JSON.stringify(sale.body)).toBe(201);
  return { phone, memberId: member.body.id };
}
