/**
 * `npm run bench:web`: how fast the member portal shows the card on a slow phone. Chromium with
 * the CPU slowed 4× and DevTools' "Slow 4G" network (562.5 ms latency, 1.44 Mbit/s down,
 * 675 kbit/s up) loads /app/<programId> for a signed-in member, from a cold cache (no HTTP
 * cache, no service worker) and a warm one (the service worker installed by the previous
 * visit), and prints the median time to the card on screen. The baseline, measured in the same
 * run under the same throttling, is the smallest document the same server serves (the portal's
 * icon), so the ratio says what the portal costs beyond the network's round trips.
 *
 *   --runs N   loads per case (default 5)
 */
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { chromium, type Page } from "playwright-core";
import { ensureOwnerKey, openContext } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { buildServer } from "../src/http/server.ts";
import { ensureWebBuilt } from "../web/ensure-built.mjs";

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf("--runs") + 1] ?? 5) || 5;
const cpuSlowdown = 4;
/** Chrome DevTools' "Slow 4G" preset (bytes per second). */
const slow4g = {
  offline: false,
  latency: 562.5,
  downloadThroughput: 180_000,
  uploadThroughput: 84_375,
};

// The development log carries the member's one-time code; the bench reads it from there.
process.env.NODE_ENV = "development";
await ensureWebBuilt({ quiet: true });
const logLines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _encoding, done) {
    for (const line of String(chunk).split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
    done();
  },
});
const ctx = await openContext(
  loadConfig({ ...process.env, SETIA_DATA_DIR: "memory://", LOG_LEVEL: "info" }),
  { log: pino({ level: "info" }, sink) },
);
const ownerKey = await ensureOwnerKey(ctx);
const app = await buildServer(ctx);
await app.listen({ port: 0, host: "127.0.0.1" });
const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

async function api<T>(method: string, path: string, body: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ownerKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${await response.text()}`);
  return (await response.json()) as T;
}

const program = await api<{ id: string }>("POST", "/v1/programs", {
  name: "Toko Kopi Setia",
  currency: "IDR",
});
const phone = "+6281234567890";
const member = await api<{ id: string }>("POST", `/v1/programs/${program.id}/members`, {
  phone,
  consents: { terms: true },
});
await api("POST", `/v1/programs/${program.id}/transactions`, {
  externalId: "R-1",
  storeId: "jkt-01",
  channel: "pos",
  occurredAt: new Date(Date.now() - 60_000).toISOString(),
  currency: "IDR",
  total: "250000",
  member: { id: member.id },
  lines: [{ sku: "KOPI-SUSU", quantity: 2, unitPrice: "125000" }],
});
const portal = `${base}/app/${program.id}`;

const profile = mkdtempSync(join(tmpdir(), "setia-bench-web-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
  viewport: { width: 390, height: 844 },
  isMobile: true,
  hasTouch: true,
});
const page = context.pages()[0] ?? (await context.newPage());
// The moment the card number is on screen, in ms since the navigation started.
await page.addInitScript(() => {
  new MutationObserver((_, observer) => {
    if (document.querySelector("[data-testid=card-number]")) {
      (window as unknown as { cardAt: number }).cardAt = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
});

// Sign the member in once, unthrottled: the session cookie stays, caches are cleared per case.
await page.goto(portal);
await page.locator("input[type=tel]").fill(phone);
await page.locator("form button[type=submit]").click();
await page.locator("input[autocomplete=one-time-code]").waitFor();
const code = logLines
  .filter((line) => line.msg === "portal sign-in code (development)")
  .map((line) => String(line.code))
  .pop();
await page.locator("input[autocomplete=one-time-code]").fill(code ?? "");
await page.locator("form button[type=submit]").click();
await page.getByTestId("card-number").waitFor();

const session = await context.newCDPSession(page);
await session.send("Network.enable");
await session.send("Emulation.setCPUThrottlingRate", { rate: cpuSlowdown });
await session.send("Network.emulateNetworkConditions", slow4g);
const throttleServiceWorkers = await serviceWorkerThrottle();

/**
 * The service worker fetches on its own (network first for the page and the card data):
 * DevTools throttles it separately, so each worker gets the same network conditions.
 */
async function serviceWorkerThrottle(): Promise<() => Promise<void>> {
  const targets = await context.newCDPSession(page);
  let message = 0;
  const throttled = new Set<string>();
  return async () => {
    const { targetInfos } = await targets.send("Target.getTargets");
    for (const target of targetInfos.filter((t) => t.type === "service_worker")) {
      if (throttled.has(target.targetId)) continue;
      const { sessionId } = await targets.send("Target.attachToTarget", {
        targetId: target.targetId,
        flatten: false,
      });
      for (const [method, params] of [
        ["Network.enable", {}],
        ["Network.emulateNetworkConditions", slow4g],
      ] as const) {
        message += 1;
        await targets.send("Target.sendMessageToTarget", {
          sessionId,
          message: JSON.stringify({ id: message, method, params }),
        });
      }
      throttled.add(target.targetId);
    }
  };
}

async function clearCaches(): Promise<void> {
  await session.send("Network.clearBrowserCache");
  await session.send("Storage.clearDataForOrigin", {
    origin: base,
    storageTypes: "cache_storage,service_workers",
  });
}

async function cardAfterLoad(target: Page): Promise<number> {
  await target.goto(portal, { waitUntil: "commit" });
  await target.getByTestId("card-number").waitFor({ timeout: 120_000 });
  return target.evaluate(() => (window as unknown as { cardAt: number }).cardAt);
}

async function baselineLoad(): Promise<number> {
  await page.goto(`${base}/app/icon.svg`, { waitUntil: "load" });
  return page.evaluate(() => {
    const entry = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    return entry.loadEventEnd;
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

const cold: number[] = [];
const warm: number[] = [];
const baseline: number[] = [];
try {
  for (let run = 0; run < runs; run += 1) {
    await page.goto("about:blank");
    await clearCaches();
    baseline.push(await baselineLoad());
    await page.goto("about:blank");
    cold.push(await cardAfterLoad(page));
    // The first visit installed the service worker; it has the shell and the card data now.
    await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
    await throttleServiceWorkers();
    await page.goto("about:blank");
    warm.push(await cardAfterLoad(page));
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await app.close();
  await ctx.db.close();
}

const ms = (value: number) => `${Math.round(value)} ms`;
const floor = median(baseline);
console.log(
  `Member portal, time to the card on screen: CPU ${cpuSlowdown}× slower, Slow 4G, ${runs} runs (median)`,
);
console.log("| case | median | min | max | × baseline |\n| --- | --- | --- | --- | --- |");
for (const [name, values] of [
  ["baseline: the server's smallest document (icon.svg)", baseline],
  ["portal, cold cache (no service worker)", cold],
  ["portal, warm (service worker, HTTP cache)", warm],
] as const) {
  console.log(
    `| ${name} | ${ms(median(values))} | ${ms(Math.min(...values))} | ${ms(Math.max(...values))} | ${(median(values) / floor).toFixed(1)} |`,
  );
}
