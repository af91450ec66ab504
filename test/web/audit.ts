import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { staffSignInText } from "../../web/shared/staff-sign-in-text.ts";
import { strongPassword, totpCode, type WebServer } from "./support.ts";

// Helpers of the accessibility and keyboard tests (a11y.test.ts, keyboard.test.ts).
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

/** axe-core in every document the page loads: an init script is not subject to the page's CSP. */
export async function withAxe(page: Page): Promise<void> {
  await page.addInitScript({ path: axePath });
}

export interface Violation {
  page: string;
  rule: string;
  impact: string;
  help: string;
  targets: string[];
  summary: string;
}

/** Runs axe with the WCAG 2 A/AA rules; answers the serious and critical violations. */
export async function audit(page: Page, name: string): Promise<Violation[]> {
  // Let React settle: fonts, images and the last render before axe reads colours and names.
  await page.waitForLoadState("load");
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  const { passes, violations } = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: typeof import("axe-core") }).axe;
    const result = await axe.run(document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
      },
      resultTypes: ["violations"],
    });
    return {
      passes: result.passes.length,
      violations: result.violations.map((violation) => ({
        rule: violation.id,
        impact: violation.impact ?? "",
        help: violation.help,
        targets: violation.nodes.map((node) => node.target.join(" ")),
        summary: violation.nodes[0]?.failureSummary ?? "",
      })),
    };
  });
  // A page axe found nothing to check on is a broken audit, not a clean page.
  expect(passes, `axe checked nothing on ${name}`).toBeGreaterThan(10);
  if (process.env.SETIA_WEB_DEBUG)
    for (const v of violations) console.log(`axe [${name}] ${v.impact} ${v.rule}: ${v.targets}`);
  return violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => ({ page: name, ...violation }));
}

/** One readable line per violation: page, rule, impact, the elements and axe's first finding. */
export function describeViolations(violations: Violation[]): string {
  return violations
    .map(
      (v) =>
        `[${v.page}] ${v.rule} (${v.impact}): ${v.help}\n    on ${v.targets.slice(0, 5).join(" | ")}` +
        `\n    ${v.summary.replace(/\s+/g, " ").slice(0, 300)}`,
    )
    .join("\n");
}

/** Collects violations over a walk through pages and fails once, listing all of them. */
export class Auditor {
  readonly found: Violation[] = [];
  readonly pages: string[] = [];
  constructor(private readonly page: Page) {}

  async check(name: string): Promise<void> {
    this.pages.push(name);
    this.found.push(...(await audit(this.page, name)));
    const lang = await this.page.evaluate(() => document.documentElement.lang);
    const title = await this.page.title();
    const landmarks = await this.page.evaluate(() => ({
      main: document.querySelectorAll("main").length,
      banner: document.querySelectorAll("body > * header, body > header, #root > header").length,
    }));
    if (!/^(id|en)$/.test(lang) || !title || landmarks.main !== 1 || landmarks.banner < 1)
      this.found.push({
        page: name,
        rule: "setia-page-basics",
        impact: "serious",
        help: "a page has lang id or en, a title, one main and a header",
        targets: [],
        summary: JSON.stringify({ lang, title, ...landmarks }),
      });
  }

  assertClean(): void {
    expect(this.pages.length).toBeGreaterThan(0);
    expect(this.found, describeViolations(this.found)).toEqual([]);
  }
}

/**
 * Signs a staff member in on the admin or POS page, enrolling TOTP (the account has none yet),
 * in the language the page shows: the language choice is shared by the apps of one browser.
 */
export async function staffSignIn(
  page: Page,
  server: WebServer,
  app: "admin" | "pos",
  email: string,
  auditor?: Auditor,
): Promise<void> {
  await page.goto(`${server.base}/${app}/`);
  await page.locator("form").first().waitFor();
  const locale = (await page.evaluate(() => document.documentElement.lang)) === "en" ? "en" : "id";
  const t = staffSignInText[locale];
  const name = (step: string) => `${app} ${step} (${locale})`;
  await page.getByLabel(t.email).fill(email);
  await auditor?.check(name("sign-in"));
  await page.getByLabel(t.password).fill(strongPassword);
  await page.getByRole("button", { name: t.signIn, exact: true }).click();
  await page.getByRole("heading", { name: t.totpSetup }).waitFor();
  await page.getByTestId("totp-secret").waitFor();
  await auditor?.check(name("TOTP enrolment"));
  const secret = (await page.getByTestId("totp-secret").textContent()) ?? "";
  await page.getByLabel(t.totpCode).fill(await totpCode(secret));
  await page.getByRole("button", { name: t.confirm }).click();
  await page.locator("ul.codes li").first().waitFor();
  await auditor?.check(name("recovery codes"));
  await page.getByRole("button", { name: t.continue }).click();
}

/** The portal's one-time code for a member, as the development server logs it. */
export function loggedCode(server: WebServer, memberId: string): string {
  const line = server.logLines
    .filter((l) => l.msg === "portal sign-in code (development)" && l.memberId === memberId)
    .pop();
  if (!line) throw new Error(`no code logged for ${memberId}`);
  return String(line.code);
}

/** Picks the language with the header's switch, as a user would. */
export async function switchLanguage(page: Page, locale: "id" | "en"): Promise<void> {
  const label = locale === "en" ? "Bahasa" : "Language";
  await page.getByLabel(label, { exact: true }).selectOption(locale);
  await expect.poll(() => page.evaluate(() => document.documentElement.lang)).toBe(locale);
}
