import { sql } from "kysely";
import type { ParsedMail } from "mailparser";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startSmtp } from "../communications/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import {
  Browser,
  type BrowserResponse,
  createStaff,
  expectRefused,
  nextPeriod,
  type SignedIn,
  strongPassword,
  totp,
} from "./support.ts";

let api: TestApi;
let smtp: Awaited<ReturnType<typeof startSmtp>>;
let programId: string;
const newPassword = "teh tarik kayu manis 2031?";

beforeAll(async () => {
  api = await createTestApi();
  smtp = await startSmtp();
  api.ctx.communications = {
    smtpUrl: smtp.url,
    emailFrom: "Setia <no-reply@setia.test>",
    publicUrl: "https://loyalty.example",
  };
  programId = await api.program();
});
afterAll(async () => {
  await api.close();
  await smtp.close();
});

/** Reset mails to an address (invitations go to the same server). */
const mailsTo = (address: string) =>
  smtp.mails.filter(
    (mail) =>
      mail.subject === "Reset your Setia password" &&
      JSON.stringify(mail.to ?? "").includes(address),
  );

/** Waits for the n-th mail to an address (self-service links are sent after the answer). */
function mailTo(address: string, n = 1): Promise<ParsedMail> {
  return vi.waitFor(
    () => {
      const mail = mailsTo(address)[n - 1];
      if (!mail) throw new Error(`no mail ${n} to ${address} yet`);
      return mail;
    },
    { timeout: 10_000, interval: 20 },
  );
}

function tokenIn(mail: ParsedMail): string {
  const token = /reset-password#token=([A-Za-z0-9_-]+)/.exec(mail.text ?? "")?.[1];
  if (!token) throw new Error(`no reset link in ${mail.text}`);
  return token;
}

const forgot = (email: string) =>
  new Browser(api).send("POST", "/v1/staff/sign-in/forgot-password", { body: { email } });

const reset = (token: string, password = newPassword) =>
  new Browser(api).send("POST", "/v1/staff/sign-in/reset-password", { body: { token, password } });

async function signIn(staff: SignedIn, password: string): Promise<BrowserResponse> {
  return new Browser(api).send("POST", "/v1/staff/sign-in", {
    body: { email: staff.email, password },
  });
}

async function passwordHash(staffId: string): Promise<string> {
  const row = await api.ctx.db.kysely
    .selectFrom("staff_accounts")
    .select("password_hash")
    .where("id", "=", staffId)
    .executeTakeFirstOrThrow();
  return row.password_hash;
}

async function eventsOf(type: string): Promise<Record<string, unknown>[]> {
  const rows = await api.ctx.db.kysely
    .selectFrom("outbox_events")
    .select("payload")
    .where("type", "=", type)
    .execute();
  return rows.map((row) => row.payload as Record<string, unknown>);
}

describe("self-service password reset", () => {
  it("emails a link; the new password works, every session ends, failures clear, TOTP is still asked", async () => {
    const staff = await createStaff(api, programId, "marketer");
    const other = new Browser(api);
    await other.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: strongPassword },
    });
    await other.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, staff.secret) },
    });
    nextPeriod(api);
    expect((await other.send("GET", "/v1/staff/me")).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expectRefused(await signIn(staff, "not the password at all"), 401, "unauthorized");
    }

    const asked = await forgot(staff.email.toUpperCase());
    expect(asked.status, JSON.stringify(asked.body)).toBe(202);
    expect(asked.body).toEqual({ sent: true, expiresAt: expect.any(String) });
    const mail = await mailTo(staff.email);
    expect(mail.subject).toBe("Reset your Setia password");
    expect(mail.text).toContain("https://loyalty.example/admin/reset-password#token=");
    expect(mail.text).toContain("30 minutes");
    const token = tokenIn(mail);

    const done = await reset(token);
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body).toEqual({ email: staff.email });
    // Every session of the account is gone, the one that asked included.
    expectRefused(await staff.browser.send("GET", "/v1/staff/me"), 401, "unauthorized");
    expectRefused(await other.send("GET", "/v1/staff/me"), 401, "unauthorized");
    const failures = await api.ctx.db.kysely
      .selectFrom("auth_failures")
      .select("key")
      .where("key", "=", `staff:${staff.staffId}`)
      .execute();
    expect(failures).toEqual([]);
    // The link works once.
    expectRefused(await reset(token, `${newPassword}!`), 404, "password_reset_invalid");

    expectRefused(await signIn(staff, strongPassword), 401, "unauthorized");
    const browser = new Browser(api);
    const first = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: newPassword },
    });
    expect(first.body.stage).toBe("totp_required");
    expectRefused(await browser.send("GET", "/v1/staff/me"), 401, "unauthorized");
    const second = await browser.send("POST", "/v1/staff/sign-in/totp", {
      body: { code: await totp(api, staff.secret) },
    });
    nextPeriod(api);
    expect(second.status, JSON.stringify(second.body)).toBe(200);
    expect((await browser.send("GET", "/v1/staff/me")).status).toBe(200);
    // Lost authenticator: a recovery code still completes the sign-in after a reset.
    const recovering = new Browser(api);
    await recovering.send("POST", "/v1/staff/sign-in", {
      body: { email: staff.email, password: newPassword },
    });
    const recovered = await recovering.send("POST", "/v1/staff/sign-in/totp", {
      body: { recoveryCode: staff.recoveryCodes[0] },
    });
    expect(recovered.status, JSON.stringify(recovered.body)).toBe(200);
    expect(await eventsOf("staff.password_reset")).toContainEqual(
      expect.objectContaining({ staffId: staff.staffId, sentBy: null }),
    );
  });

  it("answers an unknown or disabled address exactly like a real one, and sends it nothing", async () => {
    const staff = await createStaff(api, programId, "analyst");
    const disabled = await createStaff(api, programId, "support");
    const admin = await createStaff(api, programId, "admin");
    await admin.browser.send("POST", `/v1/programs/${programId}/staff/${disabled.staffId}/disable`);
    const before = await api.ctx.db.kysely
      .selectFrom("staff_password_resets")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    const unknown = await forgot("nobody-here@example.com");
    const off = await forgot(disabled.email);
    const known = await forgot(staff.email);
    expect(unknown.status).toBe(202);
    expect(off.body).toEqual(unknown.body);
    expect(known.body).toEqual(unknown.body);
    await mailTo(staff.email);
    expect(mailsTo("nobody-here@example.com")).toEqual([]);
    expect(mailsTo(disabled.email)).toEqual([]);
    // Each request stored a link (unknown ones for nobody), so all did the same work.
    const after = await api.ctx.db.kysely
      .selectFrom("staff_password_resets")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    expect(Number(after.n) - Number(before.n)).toBe(3);
  });

  it("refuses a weak password and changes nothing; the link stays usable", async () => {
    const staff = await createStaff(api, programId, "support");
    await forgot(staff.email);
    const token = tokenIn(await mailTo(staff.email));
    const hash = await passwordHash(staff.staffId);
    for (const password of ["short1", "password123", "qwertyuiop", staff.email]) {
      expectRefused(await reset(token, password), 422, "password_too_weak");
    }
    expect(await passwordHash(staff.staffId)).toBe(hash);
    expect((await staff.browser.send("GET", "/v1/staff/me")).status).toBe(200);
    expectRefused(await reset("not-a-token"), 404, "password_reset_invalid");
    expectRefused(
      await new Browser(api).send("POST", "/v1/staff/sign-in/reset-password", {
        body: { token, password: newPassword, extra: true },
      }),
      400,
      "validation_failed",
    );
    expect((await reset(token)).status).toBe(200);
    expect(await passwordHash(staff.staffId)).not.toBe(hash);
  });

  it("refuses an expired link and one replaced by a newer request", async () => {
    const staff = await createStaff(api, programId, "marketer");
    await forgot(staff.email);
    const expired = tokenIn(await mailTo(staff.email, 1));
    api.clock.advance(30 * 60_000 + 1_000);
    expectRefused(await reset(expired), 404, "password_reset_invalid");
    await forgot(staff.email);
    const replaced = tokenIn(await mailTo(staff.email, 2));
    await forgot(staff.email);
    const latest = tokenIn(await mailTo(staff.email, 3));
    expectRefused(await reset(replaced), 404, "password_reset_invalid");
    expect((await reset(latest)).status).toBe(200);
  });

  it("limits requests per email (known or not) and per client address", async () => {
    const staff = await createStaff(api, programId, "analyst");
    for (const email of [staff.email, "ghost@example.com"]) {
      for (let i = 0; i < 5; i++) expect((await forgot(email)).status).toBe(202);
      const limited = await forgot(email);
      expectRefused(limited, 429, "rate_limited");
      expect(
        (limited.body.error as unknown as { details: { retryAfterSeconds: number } }).details
          .retryAfterSeconds,
      ).toBeGreaterThan(0);
    }
    // Five links went out (sent after each answer); the refused sixth sent none.
    await mailTo(staff.email, 5);
    expect(mailsTo(staff.email)).toHaveLength(5);
    // One client address: 100 requests in 15 minutes, whatever the emails.
    const from = async (n: number) =>
      api.app.inject({
        method: "POST",
        url: "/v1/staff/sign-in/forgot-password",
        remoteAddress: "198.51.100.23",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ email: `flood${n}@example.com` }),
      });
    for (let n = 0; n < 100; n++) expect((await from(n)).statusCode).toBe(202);
    expect((await from(100)).statusCode).toBe(429);
    api.clock.advance(60 * 60_000);
    expect((await forgot(staff.email)).status).toBe(202);
  });
});

describe("reset sent by an owner or admin", () => {
  it("emails the member of staff, is audited and idempotent; only owners reset owners", async () => {
    const admin = await createStaff(api, programId, "admin");
    const target = await createStaff(api, programId, "support");
    const owner = await createStaff(api, programId, "owner");
    const url = (staffId: string) => `/v1/programs/${programId}/staff/${staffId}/password-reset`;
    const sent = await admin.browser.send("POST", url(target.staffId), {
      headers: { "idempotency-key": "reset-1" },
    });
    expect(sent.status, JSON.stringify(sent.body)).toBe(202);
    expect(sent.body).toEqual({ sent: true, expiresAt: expect.any(String) });
    const mail = await mailTo(target.email);
    expect(mail.text).toContain("An administrator");
    // A retry with the same key answers the first response and sends no second mail.
    const replay = await admin.browser.send("POST", url(target.staffId), {
      headers: { "idempotency-key": "reset-1" },
    });
    expect(replay.status).toBe(202);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body).toEqual(sent.body);
    expect(mailsTo(target.email)).toHaveLength(1);
    expectRefused(
      await admin.browser.send("POST", url(owner.staffId), {
        headers: { "idempotency-key": "reset-1" },
      }),
      422,
      "idempotency_key_reused",
    );

    const audited = await api.ctx.db.kysely
      .selectFrom("audit_actions")
      .select(["actor_type", "actor_id", "actor_role", "subject"])
      .where("action", "=", "POST /v1/programs/:programId/staff/:staffId/password-reset")
      .execute();
    expect(audited).toEqual([
      {
        actor_type: "staff",
        actor_id: admin.staffId,
        actor_role: "admin",
        subject: { programId, staffId: target.staffId },
      },
    ]);
    expect(await eventsOf("staff.password_reset_sent")).toContainEqual(
      expect.objectContaining({ staffId: target.staffId, resetId: expect.stringMatching(/^pwr_/) }),
    );

    // Refusals write nothing: an admin and an owner, a marketer, an unknown id.
    const count = async () =>
      Number(
        (
          await sql<{ n: number }>`select count(*)::int as n from staff_password_resets`.execute(
            api.ctx.db.kysely,
          )
        ).rows[0]?.n,
      );
    const before = await count();
    expectRefused(await admin.browser.send("POST", url(owner.staffId)), 403, "forbidden");
    const marketer = await createStaff(api, programId, "marketer");
    expectRefused(await marketer.browser.send("POST", url(target.staffId)), 403, "forbidden");
    expectRefused(await admin.browser.send("POST", url("stf_unknown")), 404, "staff_not_found");
    expect(await count()).toBe(before);
    // An owner may; so may the owner API key.
    expect((await owner.browser.send("POST", url(admin.staffId))).status).toBe(202);
    expect((await api.call("POST", url(marketer.staffId))).status).toBe(202);

    // Links to one address count together, whoever asks: five an hour, then 429 and no mail.
    const busy = await createStaff(api, programId, "analyst");
    for (let i = 0; i < 5; i++) {
      expect((await admin.browser.send("POST", url(busy.staffId))).status).toBe(202);
    }
    const flood = await admin.browser.send("POST", url(busy.staffId));
    expectRefused(flood, 429, "rate_limited");
    expect((await forgot(busy.email)).status).toBe(429);
    await mailTo(busy.email, 5);
    expect(mailsTo(busy.email)).toHaveLength(5);

    expect((await reset(tokenIn(mail))).status).toBe(200);
    expect(await eventsOf("staff.password_reset")).toContainEqual(
      expect.objectContaining({ staffId: target.staffId, sentBy: admin.staffId }),
    );
    const browser = new Browser(api);
    const first = await browser.send("POST", "/v1/staff/sign-in", {
      body: { email: target.email, password: newPassword },
    });
    expect(first.body.stage).toBe("totp_required");
  });
});
