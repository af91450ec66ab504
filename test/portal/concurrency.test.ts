import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, nextPhone, onPostgres, type TestApi } from "../harness.ts";
import { Browser, captureLog, nextEmail, strongPassword } from "../staff/support.ts";

/** Parallel guessing must not get more tries than the limits allow (PostgreSQL: real parallelism). */
describe.runIf(onPostgres)("sign-in limits under parallel requests", () => {
  let api: TestApi;
  let programId: string;

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program();
    captureLog(api);
  });
  afterAll(() => api.close());

  it("20 parallel guesses at one portal code: at most 5 are compared", async () => {
    const phone = nextPhone();
    await api.member(programId, { phone });
    const browser = new Browser(api, "member");
    await browser.send("POST", `/v1/portal/${programId}/sign-in/start`, { body: { phone } });
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new Browser(api, "member").send("POST", `/v1/portal/${programId}/sign-in/verify`, {
          body: { phone, code: String(900_000 + i) },
        }),
      ),
    );
    expect(responses.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    const rows = await sql<{ attempts: number }>`select attempts from portal_codes`.execute(
      api.ctx.db.kysely,
    );
    expect(Math.max(...rows.rows.map((r) => r.attempts))).toBeLessThanOrEqual(5);
  });

  it("parallel wrong passwords all count toward the account lock", async () => {
    const email = nextEmail();
    const invited = await api.call("POST", `/v1/programs/${programId}/staff/invitations`, {
      body: { email, role: "analyst" },
    });
    const token = /#token=(.+)$/.exec(invited.body.inviteUrl as string)?.[1];
    await new Browser(api).send("POST", "/v1/staff/invitations/accept", {
      body: { token, password: strongPassword },
    });
    await Promise.all(
      Array.from({ length: 8 }, () =>
        new Browser(api).send("POST", "/v1/staff/sign-in", {
          body: { email, password: "not the password at all" },
        }),
      ),
    );
    const locked = await new Browser(api).send("POST", "/v1/staff/sign-in", {
      body: { email, password: strongPassword },
    });
    expect(locked.status).toBe(429);
  });
});
