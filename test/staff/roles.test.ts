import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { createStaff, expectRefused, type SignedIn } from "./support.ts";

let api: TestApi;
let programId: string;
let otherProgramId: string;
let marketer: SignedIn;
let analyst: SignedIn;
let support: SignedIn;
let cashier: SignedIn;

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
  otherProgramId = await api.program();
  marketer = await createStaff(api, programId, "marketer");
  analyst = await createStaff(api, programId, "analyst");
  support = await createStaff(api, programId, "support");
  cashier = await createStaff(api, programId, "cashier", ["S1"]);
});
afterAll(() => api.close());

const base = () => `/v1/programs/${programId}`;

describe("staff roles on existing routes", () => {
  it("a marketer cannot open API keys but manages campaigns and reads members", async () => {
    expectRefused(await marketer.browser.send("GET", `${base()}/api-keys`), 403, "forbidden");
    expectRefused(
      await marketer.browser.send("POST", `${base()}/api-keys`, {
        body: { name: "x", role: "admin" },
      }),
      403,
      "forbidden",
    );
    expect((await marketer.browser.send("GET", `${base()}/members`)).status).toBe(200);
    expect((await marketer.browser.send("GET", `${base()}/campaigns`)).status).toBe(200);
    expectRefused(
      await marketer.browser.send("PATCH", base(), { body: { name: "Renamed" } }),
      403,
      "forbidden",
    );
  });

  it("an analyst reads and runs reports but writes nothing", async () => {
    const overview = await analyst.browser.send(
      "GET",
      `${base()}/reports/overview?from=2026-03-01&to=2026-03-07&granularity=day`,
    );
    expect(overview.status, JSON.stringify(overview.body)).toBe(200);
    expectRefused(
      await analyst.browser.send("POST", `${base()}/members`, {
        body: { phone: "081277770001", consents: { terms: true } },
      }),
      403,
      "forbidden",
    );
    expectRefused(await analyst.browser.send("GET", `${base()}/staff`), 403, "forbidden");
  });

  it("support enrols members and adjusts points but cannot change settings", async () => {
    const member = await support.browser.send("POST", `${base()}/members`, {
      body: { phone: "081277770002", consents: { terms: true } },
    });
    expect(member.status, JSON.stringify(member.body)).toBe(201);
    const adjusted = await support.browser.send(
      "POST",
      `${base()}/members/${member.body.id}/adjustments`,
      { body: { points: 10, reason: "goodwill" } },
    );
    expect([201, 202], JSON.stringify(adjusted.body)).toContain(adjusted.status);
    // Staff writes are audited with the staff account as the actor.
    const audited = await api.ctx.db.kysely
      .selectFrom("audit_actions")
      .select(["actor_type", "actor_id", "actor_role"])
      .where("action", "=", "POST /v1/programs/:programId/members")
      .execute();
    expect(audited).toContainEqual({
      actor_type: "staff",
      actor_id: support.staffId,
      actor_role: "support",
    });
    expectRefused(
      await support.browser.send("PUT", `${base()}/branding`, { body: { tone: "formal" } }),
      403,
      "forbidden",
    );
  });

  it("a cashier reaches only the POS routes of its own stores", async () => {
    const memberId = await api.member(programId);
    expectRefused(await cashier.browser.send("GET", `${base()}/members`), 403, "forbidden");
    expectRefused(await cashier.browser.send("GET", `${base()}/campaigns`), 403, "forbidden");
    expectRefused(await cashier.browser.send("GET", `${base()}/api-keys`), 403, "forbidden");
    expectRefused(
      await cashier.browser.send("POST", `${base()}/members/${memberId}/adjustments`, {
        body: { points: 10, reason: "x" },
      }),
      403,
      "forbidden",
    );
    expect(
      (await cashier.browser.send("GET", `${base()}/members/${memberId}/balance`)).status,
    ).toBe(200);
    const own = await cashier.browser.send("POST", `${base()}/transactions`, {
      body: purchase("c-1", { member: { id: memberId } }),
    });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    const other = await cashier.browser.send("POST", `${base()}/transactions`, {
      body: purchase("c-2", { member: { id: memberId }, storeId: "S2" }),
    });
    expectRefused(other, 403, "forbidden");
    const refund = await cashier.browser.send("POST", `${base()}/refunds`, {
      body: {
        externalId: "r-1",
        storeId: "S2",
        transaction: { storeId: "S1", externalId: "c-1" },
        amount: "10000",
      },
    });
    expectRefused(refund, 403, "forbidden");
    const unnamed = await cashier.browser.send("POST", `${base()}/refunds`, {
      body: {
        externalId: "r-2",
        transaction: { storeId: "S1", externalId: "c-1" },
        amount: "10000",
      },
    });
    expectRefused(unnamed, 403, "forbidden");
    const ownRefund = await cashier.browser.send("POST", `${base()}/refunds`, {
      body: {
        externalId: "r-3",
        storeId: "S1",
        transaction: { storeId: "S1", externalId: "c-1" },
        amount: "10000",
      },
    });
    expect(ownRefund.status, JSON.stringify(ownRefund.body)).toBe(201);
  });

  it("program staff cannot reach another program", async () => {
    expectRefused(
      await marketer.browser.send("GET", `/v1/programs/${otherProgramId}/members`),
      403,
      "forbidden",
    );
    const list = await marketer.browser.send("GET", "/v1/programs");
    expect((list.body.data as { id: string }[]).map((p) => p.id)).toEqual([programId]);
  });

  it("admins manage staff; only owners touch owners", async () => {
    const admin = await createStaff(api, programId, "admin");
    expectRefused(
      await admin.browser.send("POST", `${base()}/staff/invitations`, {
        body: { email: "o@example.com", role: "owner" },
      }),
      403,
      "forbidden",
    );
    await api.call("POST", `${base()}/stores`, { body: { code: "S3", name: "Toko S3" } });
    const changed = await admin.browser.send("PATCH", `${base()}/staff/${cashier.staffId}`, {
      body: { storeIds: ["S1", "S3"] },
    });
    expect(changed.body.memberships).toEqual([
      { programId, role: "cashier", storeIds: ["S1", "S3"] },
    ]);
    const disabled = await admin.browser.send("POST", `${base()}/staff/${analyst.staffId}/disable`);
    expect(disabled.status, JSON.stringify(disabled.body)).toBe(200);
    const enabled = await admin.browser.send("POST", `${base()}/staff/${analyst.staffId}/enable`);
    expect(enabled.status, JSON.stringify(enabled.body)).toBe(200);
    // Stores are checked for the role the member ends up with: ignored for support, required
    // and open for a cashier.
    const helper = await createStaff(api, programId, "support");
    const helperUrl = `${base()}/staff/${helper.staffId}`;
    const ignored = await admin.browser.send("PATCH", helperUrl, { body: { storeIds: ["NOPE"] } });
    expect(ignored.status, JSON.stringify(ignored.body)).toBe(200);
    expectRefused(
      await admin.browser.send("PATCH", helperUrl, {
        body: { role: "cashier", storeIds: ["S1", "NOPE"] },
      }),
      400,
      "validation_failed",
    );
    // Staff management is audited like every other admin write, with the admin as the actor.
    const actions = await api.ctx.db.kysely
      .selectFrom("audit_actions")
      .select(["action", "actor_id"])
      .where("actor_id", "=", admin.staffId)
      .execute();
    expect(actions.map((row) => row.action).sort()).toEqual([
      "PATCH /v1/programs/:programId/staff/:staffId",
      "PATCH /v1/programs/:programId/staff/:staffId",
      "POST /v1/programs/:programId/staff/:staffId/disable",
      "POST /v1/programs/:programId/staff/:staffId/enable",
    ]);
    const staff = await admin.browser.send("GET", `${base()}/staff`);
    expect((staff.body.data as unknown[]).length).toBeGreaterThanOrEqual(5);
    expectRefused(
      await admin.browser.send("POST", `${base()}/staff/invitations`, {
        body: { email: "c@example.com", role: "cashier" },
      }),
      400,
      "validation_failed",
    );
  });

  it("the OpenAPI document lists the staff, portal and report routes", async () => {
    const doc = await api.call("GET", "/openapi.json", { key: null });
    const paths = Object.keys(doc.body.paths as object);
    for (const path of [
      "/v1/staff/sign-in",
      "/v1/programs/{programId}/staff/invitations",
      "/v1/portal/{programId}/me/balance",
      "/v1/programs/{programId}/reports/overview",
    ]) {
      expect(paths).toContain(path);
    }
  });

  it("API keys behave as before even when a staff cookie is also sent", async () => {
    const readKey = await api.key(programId, "read");
    const response = await api.app.inject({
      method: "GET",
      url: `${base()}/api-keys`,
      headers: {
        authorization: `Bearer ${readKey}`,
        cookie: `setia_staff=${marketer.browser.session}`,
      },
    });
    expect(response.statusCode).toBe(403);
    expect(JSON.parse(response.body).error.details).toMatchObject({
      role: "read",
      needed: "admin",
    });
  });
});
