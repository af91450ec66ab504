import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import { Browser, captureLog, expectRefused } from "../staff/support.ts";

let api: TestApi;
let programId: string;
let log: Record<string, unknown>[];

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
  log = captureLog(api);
});
afterAll(() => api.close());

const portal = () => `/v1/portal/${programId}`;

/** The last sign-in code the server logged for a member (development logging). */
function lastCode(memberId: string): string {
  const line = [...log]
    .reverse()
    .find((entry) => entry.memberId === memberId && typeof entry.code === "string");
  if (!line) throw new Error(`no code logged for ${memberId}`);
  return line.code as string;
}

async function signIn(phone: string, memberId: string): Promise<Browser> {
  const browser = new Browser(api, "member");
  const started = await browser.send("POST", `${portal()}/sign-in/start`, { body: { phone } });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const verified = await browser.send("POST", `${portal()}/sign-in/verify`, {
    body: { phone, code: lastCode(memberId) },
  });
  expect(verified.status, JSON.stringify(verified.body)).toBe(200);
  return browser;
}

describe("member portal", () => {
  it("signs in with a one-time code and reads the member's own card, balance and history", async () => {
    const phone = nextPhone();
    const memberId = await api.member(programId, { phone });
    await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase("p-1", { member: { id: memberId }, total: "250000" }),
    });
    const browser = await signIn(phone, memberId);
    expect(String(browser.cookies.get("setia_member"))).not.toBe("undefined");
    const me = await browser.send("GET", `${portal()}/me`);
    expect(me.body.member).toMatchObject({ id: memberId, phone: expect.any(String) });
    expect(me.body.csrfToken).toBe(browser.csrf);
    const card = await browser.send("GET", `${portal()}/me/card`);
    expect(card.body.qrPayload).toBe(card.body.cardNumber);
    expect(card.body.qrSvg).toMatch(/^<svg/);
    expect(card.body.qrDataUrl).toMatch(/^data:image\/png;base64,/);
    const balance = await browser.send("GET", `${portal()}/me/balance`);
    expect(balance.status, JSON.stringify(balance.body)).toBe(200);
    expect(balance.body.available as number).toBeGreaterThanOrEqual(0);
    const history = await browser.send("GET", `${portal()}/me/history?limit=10`);
    expect((history.body.data as unknown[]).length).toBeGreaterThan(0);
    const updated = await browser.send("PATCH", `${portal()}/me`, {
      body: { name: "Budi", marketing: { email: true } },
    });
    expect(updated.body.member).toMatchObject({ name: "Budi" });
    expectRefused(
      await browser.send("PATCH", `${portal()}/me`, { body: { name: "X" }, csrf: null }),
      403,
      "csrf_token_invalid",
    );
    const exported = await browser.send("GET", `${portal()}/me/export`);
    expect(exported.status).toBe(200);
    expect((await browser.send("POST", `${portal()}/me/sign-out`)).status).toBe(204);
    expectRefused(await browser.send("GET", `${portal()}/me`), 401, "unauthorized");
  });

  it("member A's session can never read or change member B", async () => {
    const phoneA = nextPhone();
    const memberA = await api.member(programId, { phone: phoneA });
    const memberB = await api.member(programId, { phone: nextPhone() });
    const browser = await signIn(phoneA, memberA);
    // No portal route takes a member id; admin routes need a key or staff session.
    for (const url of [
      `/v1/programs/${programId}/members/${memberB}`,
      `/v1/programs/${programId}/members/${memberB}/balance`,
      `/v1/programs/${programId}/members/${memberB}/history`,
      `/v1/programs/${programId}/members/${memberB}/export`,
      `${portal()}/me?memberId=${memberB}`,
    ]) {
      const response = await browser.send("GET", url);
      if (response.status === 200) expect(response.body.member).toMatchObject({ id: memberA });
      else expectRefused(response, 401, "unauthorized");
    }
    // The member cookie does not work as a staff cookie either.
    const forged = new Browser(api);
    forged.cookies.set("setia_staff", browser.session as string);
    expectRefused(
      await forged.send("GET", `/v1/programs/${programId}/members/${memberB}`),
      401,
      "unauthorized",
    );
    // A session of one program does not open another program's portal.
    const otherProgram = await api.program();
    expectRefused(await browser.send("GET", `/v1/portal/${otherProgram}/me`), 401, "unauthorized");
  });

  it("answers alike for unknown numbers and limits guesses: 5 tries per code", async () => {
    const unknown = await new Browser(api, "member").send("POST", `${portal()}/sign-in/start`, {
      body: { phone: nextPhone() },
    });
    expect(unknown.status).toBe(202);
    expect(Object.keys(unknown.body).sort()).toEqual(["expiresAt", "sent"]);
    const phone = nextPhone();
    const memberId = await api.member(programId, { phone });
    const browser = new Browser(api, "member");
    await browser.send("POST", `${portal()}/sign-in/start`, { body: { phone } });
    const code = lastCode(memberId);
    const wrong = code === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) {
      expectRefused(
        await browser.send("POST", `${portal()}/sign-in/verify`, { body: { phone, code: wrong } }),
        401,
        "unauthorized",
      );
    }
    // The right code no longer works: the code is spent.
    expectRefused(
      await browser.send("POST", `${portal()}/sign-in/verify`, { body: { phone, code } }),
      401,
      "unauthorized",
    );
    const stored = await sql<{ code_hash: string }>`select code_hash from portal_codes`.execute(
      api.ctx.db.kysely,
    );
    expect(stored.rows.every((row) => row.code_hash !== code)).toBe(true);
  });

  it("codes expire after 10 minutes and requests per number are limited", async () => {
    const phone = nextPhone();
    const memberId = await api.member(programId, { phone });
    const browser = new Browser(api, "member");
    await browser.send("POST", `${portal()}/sign-in/start`, { body: { phone } });
    api.clock.advance(10 * 60_000 + 1);
    expectRefused(
      await browser.send("POST", `${portal()}/sign-in/verify`, {
        body: { phone, code: lastCode(memberId) },
      }),
      401,
      "unauthorized",
    );
    for (let i = 0; i < 4; i++) {
      await browser.send("POST", `${portal()}/sign-in/start`, { body: { phone } });
    }
    expectRefused(
      await browser.send("POST", `${portal()}/sign-in/start`, { body: { phone } }),
      429,
      "rate_limited",
    );
  });

  it("enrols from the portal with consent, then signs in", async () => {
    const phone = nextPhone();
    const browser = new Browser(api, "member");
    const refused = await browser.send("POST", `${portal()}/enrol`, {
      body: { phone, consents: { terms: false } },
    });
    expectRefused(refused, 400, "validation_failed");
    const enrolled = await browser.send("POST", `${portal()}/enrol`, {
      body: { phone, name: "Ani", consents: { terms: true, marketing: { sms: true } } },
    });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(202);
    const found = await api.call("GET", `/v1/programs/${programId}/members/lookup?phone=${phone}`);
    expect(found.body).toMatchObject({ name: "Ani", enrolledChannel: "online" });
    const verified = await browser.send("POST", `${portal()}/sign-in/verify`, {
      body: { phone, code: lastCode(found.body.id as string) },
    });
    expect(verified.status).toBe(200);
    // Enrolling again with the same number answers the same and creates nothing.
    const again = await new Browser(api, "member").send("POST", `${portal()}/enrol`, {
      body: { phone, consents: { terms: true } },
    });
    expect(again.status).toBe(202);
  });

  it("branding is public; admins set it and upload a PNG logo", async () => {
    const initial = await new Browser(api, "member").send("GET", `${portal()}/branding`);
    expect(initial.body).toMatchObject({ name: "Toko Uji", logoUrl: null, tone: "friendly" });
    const set = await api.call("PUT", `/v1/programs/${programId}/branding`, {
      body: { colors: { primary: "#112233" }, tone: "formal" },
    });
    expect(set.body).toMatchObject({ colors: { primary: "#112233" }, tone: "formal" });
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(100, 1),
    ]);
    const boundary = "----setia";
    const multipart = (name: string, type: string, bytes: Buffer) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`,
        ),
        bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
    const upload = (body: Buffer) =>
      api.app.inject({
        method: "POST",
        url: `/v1/programs/${programId}/branding/logo`,
        headers: {
          authorization: `Bearer ${api.ownerKey}`,
          "content-type": `multipart/form-data; boundary=${boundary}`,
        },
        payload: body,
      });
    const svg = await upload(multipart("x.svg", "image/svg+xml", Buffer.from("<svg/>")));
    expect(svg.statusCode).toBe(415);
    const big = await upload(
      multipart("big.png", "image/png", Buffer.concat([png, Buffer.alloc(600_000)])),
    );
    expect(big.statusCode).toBe(413);
    const ok = await upload(multipart("logo.png", "image/png", png));
    expect(ok.statusCode, ok.body).toBe(200);
    const logoUrl = JSON.parse(ok.body).logoUrl as string;
    const logo = await api.app.inject({ method: "GET", url: logoUrl });
    expect(logo.headers["content-type"]).toBe("image/png");
    expect(logo.rawPayload.equals(png)).toBe(true);
  });

  it("the admin overview sums points and liability per bucket", async () => {
    const memberId = await api.member(programId);
    await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase("o-1", { member: { id: memberId }, total: "500000" }),
    });
    const response = await api.call(
      "GET",
      `/v1/programs/${programId}/reports/overview?from=2026-02-25&to=2026-03-31&granularity=week`,
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const totals = response.body.totals as Record<string, number>;
    expect(totals.pointsIssued).toBeGreaterThanOrEqual(50);
    expect(totals.members).toBeGreaterThan(0);
    const series = response.body.series as { liability: number }[];
    expect(series.at(-1)?.liability).toBe(totals.liability);
    const tooLong = await api.call(
      "GET",
      `/v1/programs/${programId}/reports/overview?from=2020-01-01&to=2026-01-01&granularity=day`,
    );
    expect(tooLong.status).toBe(400);
  });
});
