import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, onPostgres, type TestApi } from "../harness.ts";

type Json = Record<string, unknown>;

describe("velocity rules", () => {
  let api: TestApi;
  let programId: string;
  let adminKey: string;
  let posKey: string;

  const base = () => `/v1/programs/${programId}`;
  const minuteMs = 60_000;

  async function memberWith(points: number): Promise<string> {
    const memberId = await api.member(programId);
    const response = await api.call("POST", `${base()}/members/${memberId}/adjustments`, {
      key: adminKey,
      body: { points, reason: "opening balance" },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return memberId;
  }
  const redeem = (memberId: string, points: number, headers: Record<string, string> = {}) =>
    api.call("POST", `${base()}/members/${memberId}/redemptions`, {
      key: posKey,
      body: { points },
      headers,
    });
  const setRules = async (rules: Json[]) => {
    const response = await api.call("PUT", `${base()}/velocity-rules`, {
      key: adminKey,
      body: { rules },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body.rules as Json[];
  };
  const blocks = async (query = "") => {
    const response = await api.call("GET", `${base()}/velocity-blocks${query}`, { key: posKey });
    expect(response.status).toBe(200);
    return response.body.data as Json[];
  };
  const count = async (table: "velocity_events" | "velocity_blocks") =>
    Number(
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from ${sql.table(table)}`.execute(api.ctx.db.kysely)
      ).rows[0]?.n,
    );

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program({ returnsWindowDays: 0 });
    adminKey = await api.key(programId, "admin");
    posKey = await api.key(programId, "pos");
  });
  afterAll(() => api.close());

  it("refuses rules without a limit, with a bad window or for unknown actions", async () => {
    await expectNothingWritten(api, async () => {
      for (const rule of [
        { action: "redeem", window: { amount: 1, unit: "hours" } },
        { action: "redeem", countMax: 1, window: { amount: 0, unit: "hours" } },
        { action: "redeem", countMax: 1, window: { amount: 367, unit: "days" } },
        { action: "purchase", countMax: 1, window: { amount: 1, unit: "hours" } },
        { action: "redeem", countMax: 1, window: { amount: 1, unit: "weeks" } },
        { action: "redeem", scope: "planet", countMax: 1, window: { amount: 1, unit: "hours" } },
      ]) {
        const response = await api.call("PUT", `${base()}/velocity-rules`, {
          key: adminKey,
          body: { rules: [rule] },
        });
        expectError(response, 400, "validation_failed");
      }
    });
    expectError(
      await api.call("PUT", `${base()}/velocity-rules`, { key: posKey, body: { rules: [] } }),
      403,
      "forbidden",
    );
    expect(await count("velocity_events")).toBe(0);
  });

  it("refuses a redemption over the count limit with 429 velocity_limited, writes nothing, lists the block", async () => {
    const rules = await setRules([
      { action: "redeem", countMax: 2, window: { amount: 1, unit: "hours" } },
      { action: "redeem", pointsMax: 100, window: { amount: 1, unit: "days" } },
    ]);
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatchObject({
      action: "redeem",
      scope: "member",
      countMax: 2,
      pointsMax: null,
      window: { amount: 1, unit: "hours" },
    });
    const got = await api.call("GET", `${base()}/velocity-rules`, { key: adminKey });
    expect(got.body.rules).toEqual(rules);

    const memberId = await memberWith(1000);
    expect((await redeem(memberId, 10)).status).toBe(201);
    expect((await redeem(memberId, 10)).status).toBe(201);
    const refused = await expectNothingWritten(api, () => redeem(memberId, 10));
    expectError(refused, 429, "velocity_limited");
    expect(refused.body.error?.details).toMatchObject({
      action: "redeem",
      scope: "member",
      countInWindow: 2,
      ruleId: rules[0]?.id,
    });
    const listed = await blocks();
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      memberId,
      action: "redeem",
      ruleId: rules[0]?.id,
      points: 10,
      countInWindow: 2,
      requestId: refused.body.error?.requestId,
    });
    expect((await api.call("GET", `${base()}/members/${memberId}/balance`)).body.available).toBe(
      980,
    );

    // The window slides: an hour later the count limit lets one through, the points limit not 90.
    api.clock.advance(61 * minuteMs);
    expectError(await redeem(memberId, 90), 429, "velocity_limited");
    expect((await redeem(memberId, 80)).status).toBe(201);
    expect(await blocks(`?memberId=${memberId}`)).toHaveLength(2);
    // Another member has their own count.
    const other = await memberWith(100);
    expect((await redeem(other, 10)).status).toBe(201);
  });

  it("counts a till hold as a redemption", async () => {
    await setRules([{ action: "redeem", countMax: 1, window: { amount: 1, unit: "days" } }]);
    const memberId = await memberWith(100);
    const hold = await api.call("POST", `${base()}/members/${memberId}/holds`, {
      key: posKey,
      body: { points: 10 },
    });
    expect(hold.status).toBe(201);
    expectError(await redeem(memberId, 10), 429, "velocity_limited");
  });

  it("limits transfers by the sender", async () => {
    await setRules([{ action: "transfer", countMax: 1, window: { amount: 30, unit: "minutes" } }]);
    const from = await memberWith(100);
    const to = await memberWith(0 + 1);
    const send = () =>
      api.call("POST", `${base()}/transfers`, {
        key: adminKey,
        body: { fromMemberId: from, toMemberId: to, points: 5 },
      });
    expect((await send()).status).toBe(201);
    const refused = await expectNothingWritten(api, send);
    expectError(refused, 429, "velocity_limited");
    // The receiver is not limited as a sender.
    const back = await api.call("POST", `${base()}/transfers`, {
      key: adminKey,
      body: { fromMemberId: to, toMemberId: from, points: 1 },
    });
    expect(back.status).toBe(201);
    api.clock.advance(31 * minuteMs);
    expect((await send()).status).toBe(201);
  });

  it("limits one device across members; without a device id the rule does not apply", async () => {
    await setRules([
      { action: "redeem", scope: "device", countMax: 1, window: { amount: 1, unit: "days" } },
    ]);
    const a = await memberWith(100);
    const b = await memberWith(100);
    expect((await redeem(a, 1, { "x-device-id": "phone-1" })).status).toBe(201);
    const refused = await redeem(b, 1, { "x-device-id": "phone-1" });
    expectError(refused, 429, "velocity_limited");
    expect(refused.body.error?.details).toMatchObject({ scope: "device" });
    expect((await redeem(b, 1, { "x-device-id": "phone-2" })).status).toBe(201);
    expect((await redeem(b, 1)).status).toBe(201);
  });

  it("an empty rule set removes every limit", async () => {
    await setRules([]);
    const memberId = await memberWith(100);
    const before = await count("velocity_events");
    for (let i = 0; i < 3; i++) expect((await redeem(memberId, 1)).status).toBe(201);
    // Without rules nothing is counted.
    expect(await count("velocity_events")).toBe(before);
  });

  it.runIf(onPostgres)("parallel redemptions never pass the limit", async () => {
    await setRules([{ action: "redeem", countMax: 3, window: { amount: 1, unit: "hours" } }]);
    const memberId = await memberWith(1000);
    const blocksBefore = await count("velocity_blocks");
    const results = await Promise.all(Array.from({ length: 12 }, () => redeem(memberId, 5)));
    const statuses = results.map((result) => result.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(9);
    expect((await api.call("GET", `${base()}/members/${memberId}/balance`)).body.available).toBe(
      985,
    );
    expect((await count("velocity_blocks")) - blocksBefore).toBe(9);
  });

  it.runIf(onPostgres)(
    "parallel redemptions of many members on one device never pass its limit",
    async () => {
      await setRules([
        { action: "redeem", scope: "device", countMax: 2, window: { amount: 1, unit: "hours" } },
      ]);
      const members = await Promise.all(Array.from({ length: 8 }, () => memberWith(50)));
      const results = await Promise.all(
        members.map((memberId) => redeem(memberId, 5, { "x-device-id": "kiosk-9" })),
      );
      expect(results.filter((result) => result.status === 201)).toHaveLength(2);
      for (const result of results.filter((r) => r.status !== 201))
        expectError(result, 429, "velocity_limited");
    },
  );
});
