import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { createTestApi, onPostgres, type TestApi } from "../harness.ts";
import {
  balance,
  createReward,
  expectLedgerOk,
  memberWithPoints,
  type RewardsProgram,
  redeem,
  rewardsProgram,
} from "./support.ts";

/*
 * Races that only a real multi-connection database can produce. PGlite runs one statement at a
 * time, so these run on PostgreSQL only.
 */
describe.runIf(onPostgres)("rewards under concurrent requests (PostgreSQL)", () => {
  let api: TestApi;
  let p: RewardsProgram;

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  const statuses = (responses: { status: number; body: { error?: { code: string } } }[]) => {
    const counts: Record<string, number> = {};
    for (const response of responses) {
      const key = `${response.status} ${response.body.error?.code ?? ""}`.trim();
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };

  async function members(count: number, points: number): Promise<string[]> {
    const ids: string[] = [];
    for (let index = 0; index < count; index++) ids.push(await memberWithPoints(api, p, points));
    return ids;
  }

  it("issues exactly 5 vouchers when 50 members race for a stock of 5", async () => {
    const reward = await createReward(api, p, { stock: 5, pointsCost: 100 });
    const racers = await members(50, 100);
    const responses = await Promise.all(
      racers.map((memberId) => redeem(api, p, reward.id, memberId)),
    );
    expect(statuses(responses)).toEqual({ "201": 5, "409 reward_unavailable": 45 });
    const vouchers = await api.ctx.db.kysely
      .selectFrom("vouchers")
      .select("member_id")
      .where("reward_id", "=", reward.id)
      .execute();
    expect(vouchers).toHaveLength(5);
    const read = await api.call("GET", `${p.base}/rewards/${reward.id}`, { key: p.read });
    expect(read.body.stock).toBe(0);
    // Only the winners paid.
    const paid = await Promise.all(
      racers.map(async (memberId) => (await balance(api, p, memberId)).available),
    );
    expect(paid.filter((points) => points === 0)).toHaveLength(5);
    await expectLedgerOk(api, p);
  });

  it("keeps a member to their limit when they redeem 20 times at once", async () => {
    const reward = await createReward(api, p, { pointsCost: 10, limits: { perMember: 2 } });
    const [memberId] = await members(1, 1000);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => redeem(api, p, reward.id, memberId as string)),
    );
    expect(statuses(responses)).toEqual({ "201": 2, "409 reward_limit_reached": 18 });
    expect((await balance(api, p, memberId as string)).available).toBe(980);
  });

  it("never spends a member's points twice across parallel redemptions of different rewards", async () => {
    const rewards = await Promise.all(
      Array.from({ length: 10 }, () => createReward(api, p, { pointsCost: 300 })),
    );
    const [memberId] = await members(1, 1000);
    const responses = await Promise.all(
      rewards.map((reward) => redeem(api, p, reward.id, memberId as string)),
    );
    expect(statuses(responses)).toEqual({ "201": 3, "409 insufficient_points": 7 });
    expect((await balance(api, p, memberId as string)).available).toBe(100);
    await expectLedgerOk(api, p);
  });

  it("consumes a voucher once when two tills consume it at the same moment", async () => {
    const reward = await createReward(api, p, { pointsCost: 10 });
    const [memberId] = await members(1, 1000);
    for (let round = 0; round < 5; round++) {
      const issued = await redeem(api, p, reward.id, memberId as string);
      const code = (issued.body.voucher as { code: string }).code;
      const responses = await Promise.all(
        ["A", "B", "C", "D"].map((till) =>
          api.call("POST", `${p.base}/vouchers/${code}/consume`, {
            key: p.pos,
            body: { reference: `R-${round}-${till}` },
          }),
        ),
      );
      expect(statuses(responses)).toEqual({ "200": 1, "409 voucher_not_usable": 3 });
      const uses = await api.ctx.db.kysely
        .selectFrom("voucher_uses")
        .select("reference")
        .where("voucher_id", "=", (issued.body.voucher as { id: string }).id)
        .execute();
      expect(uses).toHaveLength(1);
    }
  });

  it("settles a held voucher once when consume and release race", async () => {
    const reward = await createReward(api, p, { pointsCost: 200, stock: 10 });
    const [memberId] = await members(1, 1000);
    const issued = await redeem(api, p, reward.id, memberId as string, { mode: "hold" });
    const code = (issued.body.voucher as { code: string }).code;
    const [consume, release] = await Promise.all([
      api.call("POST", `${p.base}/vouchers/${code}/consume`, {
        key: p.pos,
        body: { reference: "R-h" },
      }),
      api.call("POST", `${p.base}/vouchers/${code}/release`, { key: p.pos }),
    ]);
    const consumed = consume?.status === 200;
    expect(consumed || release?.body.state === "cancelled").toBe(true);
    const after = await balance(api, p, memberId as string);
    expect(after.held).toBe(0);
    expect(after.available).toBe(consumed ? 800 : 1000);
    await expectLedgerOk(api, p);
  });

  it("hands each partner code to one redemption when 30 race for 10 codes", async () => {
    const reward = await createReward(api, p, {
      type: "partner_gift_card",
      benefit: { partner: "Kopi" },
      pointsCost: 10,
    });
    await api.call("POST", `${p.base}/rewards/${reward.id}/codes`, {
      key: p.admin,
      body: { codes: Array.from({ length: 10 }, (_, index) => `KOPI-${index}`) },
    });
    const racers = await members(30, 100);
    const responses = await Promise.all(
      racers.map((memberId) => redeem(api, p, reward.id, memberId)),
    );
    expect(statuses(responses)).toEqual({ "201": 10, "409 reward_unavailable": 20 });
    const codes = responses
      .filter((r) => r.status === 201)
      .map((r) => (r.body.voucher as { partnerCode: string }).partnerCode);
    expect(new Set(codes).size).toBe(10);
  });

  it("expires each voucher once when two job runners overlap", async () => {
    const reward = await createReward(api, p, { pointsCost: 1, voucherValidity: { days: 1 } });
    const racers = await members(5, 100);
    for (const memberId of racers) {
      for (let index = 0; index < 5; index++) await redeem(api, p, reward.id, memberId);
    }
    api.clock.advanceDays(2);
    const reports = await Promise.all([runJobsOnce(api.ctx), runJobsOnce(api.ctx)]);
    const expired = reports.reduce((sum, report) => sum + (report.vouchers?.expired ?? 0), 0);
    const ours = await api.ctx.db.kysely
      .selectFrom("vouchers")
      .select("state")
      .where("reward_id", "=", reward.id)
      .execute();
    expect(ours.every((row) => row.state === "expired")).toBe(true);
    const events = await api.ctx.db.kysely
      .selectFrom("outbox_events")
      .select("payload")
      .where("type", "=", "voucher.expired")
      .execute();
    const ids = events.map((event) => (event.payload as { voucherId: string }).voucherId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(expired).toBe(ids.length);
  });
});
