import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { text as adminText } from "../../web/admin/i18n.ts";
import { text as portalText } from "../../web/app/i18n.ts";
import { text as posText } from "../../web/pos/i18n.ts";
import { staffSignInText } from "../../web/shared/staff-sign-in-text.ts";
import { nextPhone } from "../harness.ts";
import { loggedCode } from "./audit.ts";
import {
  createStaff,
  memberWithPoints,
  openBrowser,
  startWebServer,
  strongPassword,
  totpCode,
  type WebServer,
} from "./support.ts";

// The three front ends with the keyboard alone (WCAG 2.1.1, 2.1.2, 2.4.1, 2.4.3, 2.4.7): Tab
// reaches every control in document order without a trap, focus is always visible, the skip
// link skips the menu, the dialog closes with Escape and gives focus back, the main flows finish.
let server: WebServer;
let programId: string;
const storeId = "jkt-01";
const signInText = staffSignInText.id;

beforeAll(async () => {
  server = await startWebServer();
  const program = await server.api<{ id: string }>("POST", "/v1/programs", {
    name: "Toko Keyboard",
    currency: "IDR",
  });
  programId = program.body.id;
  const reward = await server.api("POST", `/v1/programs/${programId}/rewards`, {
    type: "discount_amount",
    benefit: { amount: "20000" },
    pointsCost: 30,
    texts: { id: { name: "Potongan Rp 20.000" }, en: { name: "Rp 20,000 off" } },
  });
  expect(reward.status, JSON.stringify(reward.body)).toBe(201);
});

afterAll(async () => {
  await server?.close();
});

interface Stop {
  /** Position of the control among the page's tabbable controls, in document order. */
  index: number;
  name: string;
  /** The computed outline and box-shadow did not change on focus. */
  invisible: boolean;
  /** Where the focused control lies: a skip link must come into view. */
  left: number;
}

/**
 * Records every tabbable control of the page and its unfocused look, then presses Tab from the
 * top of the document until focus comes back round; answers the stops and the control count.
 */
async function tabWalk(page: Page): Promise<{ stops: Stop[]; tabbable: string[] }> {
  const tabbable = await page.evaluate(() => {
    (document.activeElement as HTMLElement | null)?.blur();
    const controls = [
      ...document.querySelectorAll<HTMLElement>(
        "a[href], button, input, select, textarea, [tabindex], summary",
      ),
    ].filter(
      (el) =>
        el.tabIndex >= 0 &&
        !(el as HTMLButtonElement).disabled &&
        el.checkVisibility({ visibilityProperty: true }) &&
        !el.closest("[inert]"),
    );
    const look = (el: Element) => {
      const style = getComputedStyle(el);
      return `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor} ${style.boxShadow}`;
    };
    const state = window as unknown as { setiaControls: HTMLElement[]; setiaLooks: string[] };
    state.setiaControls = controls;
    state.setiaLooks = controls.map(look);
    // Focus the document itself: the next Tab starts from the top.
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute("tabindex");
    return controls.map(
      (el) => el.getAttribute("aria-label") ?? el.textContent?.trim() ?? el.tagName,
    );
  });
  const stops: Stop[] = [];
  for (let press = 0; press < tabbable.length * 3 + 10; press += 1) {
    await page.keyboard.press("Tab");
    const stop = await page.evaluate(() => {
      const state = window as unknown as { setiaControls: HTMLElement[]; setiaLooks: string[] };
      const el = document.activeElement as HTMLElement | null;
      if (!el || el === document.body) return null;
      const index = state.setiaControls.indexOf(el);
      const style = getComputedStyle(el);
      const look = `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor} ${style.boxShadow}`;
      const labelled = (el as HTMLInputElement).labels?.[0]?.textContent;
      return {
        index,
        name: el.getAttribute("aria-label") ?? labelled ?? el.textContent?.trim() ?? el.tagName,
        invisible: look === state.setiaLooks[index] || style.outlineStyle === "none",
        left: el.getBoundingClientRect().left,
      };
    });
    // Past the last control focus leaves the page, or wraps to the first one: a full round.
    if (stop === null && stops.length > 0) break;
    if (stop === null) continue;
    if (stops.length > 0 && stop.index === stops[0]?.index) break;
    // A date input takes several presses (day, month, year) on the same element.
    if (stop.index === stops.at(-1)?.index) continue;
    stops.push(stop);
  }
  return { stops, tabbable };
}

/** The walk's findings, empty when the page is keyboard-sound. */
async function keyboardProblems(page: Page, skipLink: boolean): Promise<string[]> {
  const { stops, tabbable } = await tabWalk(page);
  const problems: string[] = [];
  const reached = new Set(stops.map((stop) => stop.index));
  const missed = tabbable.filter((_, index) => !reached.has(index));
  if (missed.length) problems.push(`not reached by Tab: ${missed.join(", ")}`);
  if (stops.some((stop) => stop.index === -1))
    problems.push("focus went to an element that is not a visible control");
  const order = stops.map((stop) => stop.index);
  if (order.some((index, i) => i > 0 && index < (order[i - 1] ?? 0)))
    problems.push(`Tab order differs from the document order: ${order.join(",")}`);
  if (stops.length >= tabbable.length * 3)
    problems.push("focus never came back round: a keyboard trap");
  const invisible = stops.filter((stop) => stop.invisible).map((stop) => stop.name);
  if (invisible.length) problems.push(`no visible focus on: ${invisible.join(", ")}`);
  const positive = await page
    .locator("[tabindex]:not([tabindex='-1']):not([tabindex='0'])")
    .count();
  if (positive) problems.push(`${positive} elements with a positive tabindex`);
  if (skipLink) {
    const first = stops[0];
    const skip = await page.locator("a.skip").count();
    if (!skip || first?.index !== 0 || (first?.left ?? -1) < 0)
      problems.push(`the first Tab does not show a skip link (${JSON.stringify(first)})`);
  }
  if (stops.length < 3) problems.push(`only ${stops.length} stops: the walk did not run`);
  return problems;
}

/** Presses Tab until the focused control has this name; fails after a round without it. */
async function tabTo(page: Page, name: string): Promise<void> {
  for (let press = 0; press < 80; press += 1) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLInputElement | null;
      if (!el) return "";
      return (
        el.getAttribute("aria-label") ??
        el.labels?.[0]?.textContent ??
        el.textContent?.trim() ??
        ""
      ).trim();
    });
    if (focused === name) return;
  }
  throw new Error(`Tab never reached "${name}"`);
}

async function typeInto(page: Page, label: string, value: string): Promise<void> {
  await tabTo(page, label);
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.type(value);
}

/** Staff sign-in and TOTP enrolment with the keyboard alone. */
async function keyboardStaffSignIn(page: Page, email: string): Promise<void> {
  const t = signInText;
  await typeInto(page, t.email, email);
  await typeInto(page, t.password, strongPassword);
  await page.keyboard.press("Enter");
  await page.getByTestId("totp-secret").waitFor();
  const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
  await typeInto(page, t.totpCode, await totpCode(secret));
  await page.keyboard.press("Enter");
  await page.locator("ul.codes li").first().waitFor();
  await tabTo(page, t.continue);
  await page.keyboard.press("Enter");
}

describe("keyboard", () => {
  it("admin: Tab order, visible focus and the skip link; an API key created with keys only", async () => {
    const t = adminText.id;
    const email = await createStaff(server, null, "owner");
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/admin/`);
      await page.getByLabel(signInText.email).waitFor();
      expect(await keyboardProblems(page, true)).toEqual([]);
      await keyboardStaffSignIn(page, email);
      await page.locator("p.figure").first().waitFor();
      await page.waitForLoadState("networkidle");
      // Every page of the menu, walked with Tab from the top.
      const menu = await page
        .locator("nav a")
        .evaluateAll((links) => links.map((link) => link.getAttribute("href") ?? ""));
      const problems: string[] = [];
      for (const href of menu) {
        await page.locator(`nav a[href="${href}"]`).click();
        await page.getByRole("heading", { level: 1 }).first().waitFor();
        await page.waitForLoadState("networkidle");
        for (const problem of await keyboardProblems(page, true))
          problems.push(`${href}: ${problem}`);
      }
      expect(menu.length).toBeGreaterThanOrEqual(8);
      expect(problems).toEqual([]);
      await page.locator('nav a[href="/admin/"]').click();
      await page.locator("p.figure").first().waitFor();

      // The skip link jumps over the menu: the next Tab lands in the page, not in the menu.
      await page.evaluate(() => {
        document.body.tabIndex = -1;
        document.body.focus();
        document.body.removeAttribute("tabindex");
      });
      await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
      await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe("main");
      await page.keyboard.press("Tab");
      const inMain = await page.evaluate(
        () => !!document.activeElement?.closest("main") && !document.activeElement.closest("nav"),
      );
      expect(inMain).toBe(true);

      await tabTo(page, t.apiKeys);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: t.apiKeys }).waitFor();
      await expect.poll(() => page.title()).toBe(`${t.apiKeys} · ${t.appName}`);
      await typeInto(page, t.name, "Kasir keyboard");
      await page.keyboard.press("Enter");
      await page.getByRole("status").filter({ hasText: t.secretOnce }).waitFor();
      const keys = await server.api<{ data: { name: string }[] }>(
        "GET",
        `/v1/programs/${programId}/api-keys`,
      );
      expect(keys.body.data.map((key) => key.name)).toContain("Kasir keyboard");
      expect(await keyboardProblems(page, true)).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("POS: find member, add lines, preview and record a sale with the keyboard alone", async () => {
    const t = posText.id;
    const phone = nextPhone();
    const enrolled = await server.api<{ id: string }>("POST", `/v1/programs/${programId}/members`, {
      phone,
      consents: { terms: true },
    });
    expect(enrolled.status).toBe(201);
    const email = await createStaff(server, programId, "cashier", [storeId]);
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/pos/`);
      await page.getByLabel(signInText.email).waitFor();
      expect(await keyboardProblems(page, true)).toEqual([]);
      await keyboardStaffSignIn(page, email);
      await page.getByLabel(t.phoneOrCard).waitFor();
      await page.waitForLoadState("networkidle");
      expect(await keyboardProblems(page, true)).toEqual([]);

      await typeInto(page, t.phoneOrCard, phone);
      await page.keyboard.press("Enter");
      await page.getByTestId("member-available").waitFor();
      await typeInto(page, `${t.sku} 1`, "KOPI-SUSU");
      await page.keyboard.press("Tab");
      await page.keyboard.type("2");
      await page.keyboard.press("Tab");
      await page.keyboard.type("125000");
      await tabTo(page, t.addLine);
      await page.keyboard.press("Enter");
      await typeInto(page, `${t.sku} 2`, "ROTI");
      await typeInto(page, `${t.unitPrice} 2`, "50000");
      await expect(page.getByTestId("total").textContent()).resolves.toMatch(/Rp\s?300\.000/);
      await tabTo(page, t.preview);
      await page.keyboard.press("Enter");
      await expect(page.getByTestId("preview").textContent()).resolves.toContain("30 poin");
      expect(await keyboardProblems(page, true)).toEqual([]);
      await tabTo(page, t.submit);
      await page.keyboard.press("Enter");
      await page.getByTestId("recorded").waitFor();
      await expect(page.getByTestId("recorded").textContent()).resolves.toContain("+30");

      const member = await server.api<{ balance: { available: number; pending: number } }>(
        "GET",
        `/v1/programs/${programId}/members/${enrolled.body.id}`,
      );
      expect(member.body.balance.available + member.body.balance.pending).toBe(30);
    } finally {
      await browser.close();
    }
  });

  it("portal: sign in, change tabs and redeem; the dialog closes with Escape and returns focus", async () => {
    const t = portalText.id;
    const { phone, memberId } = await memberWithPoints(server, programId, storeId, {
      receiptPrefix: "K",
    });
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(`${server.base}/app/${programId}`);
      await page.getByLabel(t.phone).waitFor();
      await page.waitForLoadState("networkidle");
      expect(await keyboardProblems(page, true)).toEqual([]);
      await typeInto(page, t.phone, phone);
      await page.keyboard.press("Enter");
      await page.getByLabel(t.code).waitFor();
      await typeInto(page, t.code, loggedCode(server, memberId));
      await page.keyboard.press("Enter");
      await page.getByTestId("points-available").waitFor();
      await page.waitForLoadState("networkidle");
      expect(await keyboardProblems(page, true)).toEqual([]);

      await tabTo(page, t.rewards);
      await page.keyboard.press("Enter");
      const redeem = `${t.redeem}: Potongan Rp 20.000`;
      await page.getByRole("button", { name: redeem }).waitFor();
      await tabTo(page, redeem);
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog");
      await dialog.waitFor();
      const inDialog = () => page.evaluate(() => !!document.activeElement?.closest("dialog"));
      await expect.poll(inDialog).toBe(true);
      // The page behind a modal is inert: Tab moves between the answers (and the browser's own
      // controls after the last one), never to the page.
      for (let press = 0; press < 4; press += 1) {
        await page.keyboard.press("Tab");
        const outside = await page.evaluate(() => {
          const el = document.activeElement;
          return !!el && el !== document.body && !el.closest("dialog");
        });
        expect(outside).toBe(false);
      }
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      await expect
        .poll(() => page.evaluate(() => document.activeElement?.getAttribute("aria-label")))
        .toBe(redeem);
      expect(await page.getByTestId("voucher-code").count()).toBe(0);

      await page.keyboard.press("Enter");
      await dialog.waitFor();
      await expect.poll(inDialog).toBe(true);
      await page.keyboard.press("Enter");
      await page.getByTestId("voucher-code").waitFor();
      const balance = await server.api<{ balance: { available: number } }>(
        "GET",
        `/v1/programs/${programId}/members/${memberId}`,
      );
      expect(balance.body.balance.available).toBe(70);
    } finally {
      await browser.close();
    }
  });
});
