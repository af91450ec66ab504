import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestApi } from "../harness.ts";
import {
  Browser,
  createOwner,
  createStaff,
  expectRefused,
  nextEmail,
  nextPeriod,
  strongPassword,
  tokenOf,
  totp,
} from "./support.ts";

let api: TestApi;
let programId: string;

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
});
afterAll(() => api.close());

async function count(table: string): Promise<number> {
  const result = await sql<{
    n: number;
  }>`select count(*)::int as n from ${sql.table(table)}`.execute(api.ctx.db.kysely);
  return result.rows[0]?.n ?? 0;
}

describe("staff sign-in", () => {
  it("owner enrols TOTP and signs in with password + code; cookies are HttpOnly, Lax, Secure", async () => {
    const owner = await createOwner(api);
    expect(owner.recoveryCodes).toHaveLength(10);
    const browser = new Browser(api);
    const first = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: owner.email.toUpperCase(), password: strongPassword },
      headers: { host: "setia.example.com" },
    });
    expect(first.status).toBe(200);
    expect(first.body.stage).toBe("totp_required");
    const setCookie = String(first.headers["set-cookie"]);
    expect(setCookie).toMatch(/setia_staff=[^;]+;.*HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).toMatch(/Secure/);
    // A partial session reaches nothing but the second step.
    expectRefused(await browser.send("GET", "/v1/staff/me"), 401, "unauthorized");
    expectRefused(await browser.send("GET", `/v1/programs/${programId}`), 401, "unauthorized");
    const second = await browser.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, owner.secret) },
    });
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect(second.body.csrfToken).toBe(browser.csrf);
    const me = await browser.send("GET", "/v1/staff/me");
    expect(me.body.staff).toMatchObject({
      email: owner.email,
      totpEnabled: true,
      memberships: [{ programId: null, role: "owner", storeIds: [] }],
    });
    // The deployment owner reaches every program's admin routes by cookie.
    expect((await browser.send("GET", `/v1/programs/${programId}/api-keys`)).status).toBe(200);
    // The same TOTP code is never accepted twice.
    const replay = new Browser(api);
    await replay.send("POST", "/v1/staff/sign-in", {
      body: { email: owner.email, password: strongPassword },
    });
    expectRefused(
      await replay.send("POST", "/v1/staff/sign-in/totp", {
        body: { code: await totp(api, owner.secret) },
      }),
      401,
      "unauthorized",
    );
    nextPeriod(api);
  });

  it("plain http to localhost gets cookies without Secure (development)", async () => {
    const owner = await createOwner(api);
    const browser = new Browser(api);
    const response = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: owner.email, password: strongPassword },
      headers: { host: "localhost:8080" },
    });
    expect(String(response.headers["set-cookie"])).not.toMatch(/Secure/);
  });

  it("refuses weak and common passwords and keeps the invitation usable", async () => {
    const email = nextEmail();
    const invited = await api.call("POST", `/v1/programs/${programId}/staff/invitations`, {
      body: { email, role: "analyst" },
    });
    const token = tokenOf(invited.body.inviteUrl as string);
    const before = await count("staff_accounts");
    for (const password of ["short1", "password123", "qwertyuiop", "1234567890", `${email}x`]) {
      const response = await new Browser(api).send("POST", "/v1/staff/invitations/accept", {
        body: { token, password },
      });
      expectRefused(response, 422, "password_too_weak");
    }
    expect(await count("staff_accounts")).toBe(before);
    const ok = await new Browser(api).send("POST", "/v1/staff/invitations/accept", {
      body: { token, password: strongPassword },
    });
    expect(ok.status).toBe(201);
    // Single use.
    const again = await new Browser(api).send("POST", "/v1/staff/invitations/accept", {
      body: { token, password: strongPassword },
    });
    expectRefused(again, 404, "staff_invitation_invalid");
  });

  it("expired invitations are refused", async () => {
    const invited = await api.call("POST", `/v1/programs/${programId}/staff/invitations`, {
      body: { email: nextEmail(), role: "support" },
    });
    api.clock.advance(8 * 86_400_000);
    const token = tokenOf(invited.body.inviteUrl as string);
    expectRefused(
      await new Browser(api).send("GET", `/v1/staff/invitations/${token}`),
      404,
      "staff_invitation_invalid",
    );
  });

  it("locks an account after 5 wrong passwords, even for the right one, until the backoff ends", async () => {
    const staff = await createStaff(api, programId, "support");
    const browser = new Browser(api);
    for (let i = 0; i < 5; i++) {
      expectRefused(
        await browser.send("POST", "/v1/staff/sign-in", {
          body: { email: staff.email, password: "wrong password here" },
        }),
        401,
        "unauthorized",
      );
    }
    const locked = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    expectRefused(locked, 429, "rate_limited");
    expect(
      (locked.body.error as unknown as { details: { retryAfterSeconds: number } }).details
        .retryAfterSeconds,
    ).toBeGreaterThan(0);
    api.clock.advance(61_000);
    const ok = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    expect(ok.body.stage).toBe("totp_required");
  });

  it("unknown emails answer like wrong passwords", async () => {
    const response = await new Browser(api).send("POST", "/v1/staff/sign-in", {
      body: { email: "nobody@example.com", password: strongPassword },
    });
    expectRefused(response, 401, "unauthorized");
  });

  it("a recovery code works once", async () => {
    const staff = await createStaff(api, programId, "admin");
    const [code] = staff.recoveryCodes;
    const first = new Browser(api);
    await first.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    const ok = await first.send("POST", "/v1/staff/sign-in/totp", {
      body: { recoveryCode: code?.toUpperCase() },
    });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const second = new Browser(api);
    await second.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    expectRefused(
      await second.send("POST", "/v1/staff/sign-in/totp", { body: { recoveryCode: code } }),
      401,
      "unauthorized",
    );
  });

  it("a session id from before sign-in is not accepted after (no fixation)", async () => {
    const staff = await createStaff(api, programId, "admin");
    const browser = new Browser(api);
    await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    const partial = browser.session;
    const partialCsrf = browser.csrf;
    await browser.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, staff.secret) },
    });
    nextPeriod(api);
    expect(browser.session).not.toBe(partial);
    expect((await browser.send("GET", "/v1/staff/me")).status).toBe(200);
    // An attacker holding the pre-sign-in id gets nothing.
    const attacker = new Browser(api);
    attacker.cookies.set("setia_staff", partial as string);
    attacker.cookies.set("setia_staff_csrf", partialCsrf as string);
    expectRefused(await attacker.send("GET", "/v1/staff/me"), 401, "unauthorized");
    expectRefused(
      await attacker.send("GET", `/v1/programs/${programId}/members`),
      401,
      "unauthorized",
    );
    // A planted cookie is ended by sign-in, never promoted.
    const planted = new Browser(api);
    planted.cookies.set("setia_staff", "planted-by-attacker");
    await planted.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    expect(planted.session).not.toBe("planted-by-attacker");
  });

  it("CSRF: an unsafe cookie request without or with a wrong token is refused and writes nothing", async () => {
    const admin = await createStaff(api, programId, "admin");
    const url = `/v1/programs/${programId}/members`;
    const body = { phone: "081299990001", consents: { terms: true } };
    const before = await count("members");
    expectRefused(
      await admin.browser.send("POST", url, { body, csrf: null }),
      403,
      "csrf_token_invalid",
    );
    expectRefused(
      await admin.browser.send("POST", url, { body, csrf: "wrong" }),
      403,
      "csrf_token_invalid",
    );
    expectRefused(
      await admin.browser.send("POST", url, { body, headers: { origin: "https://evil.example" } }),
      403,
      "csrf_token_invalid",
    );
    expect(await count("members")).toBe(before);
    const ok = await admin.browser.send("POST", url, { body });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    // Reads need no token.
    expect((await admin.browser.send("GET", url, { csrf: null })).status).toBe(200);
  });

  it("a disabled account is refused at once, its live session too; enabling lets it sign in", async () => {
    const admin = await createStaff(api, programId, "admin");
    const victim = await createStaff(api, programId, "marketer");
    expect((await victim.browser.send("GET", `/v1/programs/${programId}`)).status).toBe(200);
    const disabled = await admin.browser.send(
      "POST",
      `/v1/programs/${programId}/staff/${victim.staffId}/disable`,
    );
    expect(disabled.body.status).toBe("disabled");
    expectRefused(
      await victim.browser.send("GET", `/v1/programs/${programId}`),
      401,
      "unauthorized",
    );
    expectRefused(
      await new Browser(api).send("POST", "/v1/staff/sign-in", {
        body: { email: victim.email, password: strongPassword },
      }),
      401,
      "unauthorized",
    );
    // An admin cannot disable an owner of the program.
    const owner = await createStaff(api, programId, "owner");
    expectRefused(
      await admin.browser.send("POST", `/v1/programs/${programId}/staff/${owner.staffId}/disable`),
      403,
      "forbidden",
    );
    await admin.browser.send("POST", `/v1/programs/${programId}/staff/${victim.staffId}/enable`);
    const back = await new Browser(api).send("POST", "/v1/staff/sign-in", {
      body: { email: victim.email, password: strongPassword },
    });
    expect(back.body.stage).toBe("totp_required");
  });

  it("sign-out ends one session; sign-out everywhere ends them all", async () => {
    const staff = await createStaff(api, programId, "analyst");
    const other = new Browser(api);
    await other.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    await other.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, staff.secret) },
    });
    nextPeriod(api);
    expect((await other.send("GET", "/v1/staff/me")).status).toBe(200);
    const third = new Browser(api);
    await third.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    await third.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, staff.secret) },
    });
    nextPeriod(api);
    const kept = third.session as string;
    expect((await third.send("POST", "/v1/staff/sign-out")).status).toBe(204);
    const stale = new Browser(api);
    stale.cookies.set("setia_staff", kept);
    expectRefused(await stale.send("GET", "/v1/staff/me"), 401, "unauthorized");
    expect((await other.send("GET", "/v1/staff/me")).status).toBe(200);
    expect((await staff.browser.send("POST", "/v1/staff/sign-out-everywhere")).status).toBe(204);
    expectRefused(await other.send("GET", "/v1/staff/me"), 401, "unauthorized");
    expectRefused(await staff.browser.send("GET", "/v1/staff/me"), 401, "unauthorized");
  });

  it("staff without two-factor sign-in reach only their own account routes", async () => {
    const email = nextEmail();
    const invited = await api.call("POST", `/v1/programs/${programId}/staff/invitations`, {
      body: { email, role: "admin" },
    });
    const browser = new Browser(api);
    await browser.send("POST", "/v1/staff/invitations/accept", {
      body: { token: tokenOf(invited.body.inviteUrl as string), password: strongPassword },
    });
    await browser.send("POST", "/v1/staff/sign-in", { body: { email, password: strongPassword } });
    expect((await browser.send("GET", "/v1/staff/me")).status).toBe(200);
    expectRefused(await browser.send("GET", `/v1/programs/${programId}`), 403, "forbidden");
  });
});
