import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import {
  balance,
  createReward,
  eventTypes,
  expectLedgerOk,
  expectNothingWrittenHere,
  memberWithPoints,
  type RewardsProgram,
  redeem,
  rewardsProgram,
  setTier,
  tierLadder,
} from "./support.ts";

type Voucher = {
  id: string;
  code: string;
  state: string;
  mode: string;
  points: number;
  cashDue: string;
  partnerCode: string | null;
  storedValueId: string | null;
  expiresAt: string | null;
};

describe("redeeming rewards", () => {
  let api: TestApi;
  let p: RewardsProgram;

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  async function redeemOk(rewardId: string, memberId: string, extra = {}) {
    const response = await redeem(api, p, rewardId, memberId, extra);
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body as {
      voucher: Voucher;
      pointsSpent: number;
      balance: { available: number; held: number };
    };
  }

  it("issues a discount voucher with an unguessable code and debits the points", async () => {
    const reward = await createReward(api, p, { pointsCost: 300 });
    const m = await memberWithPoints(api, p, 1000);
    const result = await redeemOk(reward.id, m);
    expect(result.pointsSpent).toBe(300);
    expect(result.balance.available).toBe(700);
    expect(result.voucher).toMatchObject({ state: "issued", mode: "direct", points: 300 });
    expect(result.voucher.code).toMatch(/^[2-9A-HJ-NP-Z]{12}$/);
    expect(new Date(result.voucher.expiresAt as string).getTime()).toBe(
      api.clock.now().getTime() + 30 * 86_400_000,
    );
    const types = await eventTypes(api, p);
    expect(types).toEqual(
      expect.arrayContaining(["reward.redeemed", "voucher.issued", "points.redeemed"]),
    );
    await expectLedgerOk(api, p);
  });

  it("charges the member's tier cost and shows the cash part to collect", async () => {
    const tiers = await tierLadder(api, p);
    expect(tiers.gold).toBeDefined();
    const reward = await createReward(api, p, {
      pointsCost: 500,
      tierCosts: [{ tierCode: "gold", points: 200 }],
      cash: "15000",
    });
    const gold = await memberWithPoints(api, p, 1000);
    await setTier(api, p, gold, "gold");
    const plain = await memberWithPoints(api, p, 1000);
    expect((await redeemOk(reward.id, gold)).pointsSpent).toBe(200);
    const other = await redeemOk(reward.id, plain);
    expect(other.pointsSpent).toBe(500);
    expect(other.voucher.cashDue).toBe("15000.00");
  });

  it("refuses members outside the tiers or without the tags, with the reasons", async () => {
    await tierLadder(api, p);
    const reward = await createReward(api, p, {
      eligibility: { tierCodes: ["gold"], tags: ["vip"] },
    });
    const nobody = await memberWithPoints(api, p, 1000);
    const refused = await expectNothingWrittenHere(api, () => redeem(api, p, reward.id, nobody));
    expectError(refused, 409, "reward_not_eligible");
    expect(refused.body.error?.details?.reasons).toEqual(["tier_not_eligible", "tags_missing"]);
    const vipGold = await memberWithPoints(api, p, 1000, { tags: ["vip"] });
    await setTier(api, p, vipGold, "gold");
    await redeemOk(reward.id, vipGold);
  });

  it("refuses when the points are short, the window is closed or the reward archived", async () => {
    const reward = await createReward(api, p, { pointsCost: 500 });
    const poor = await memberWithPoints(api, p, 499);
    const short = await expectNothingWrittenHere(api, () => redeem(api, p, reward.id, poor));
    expectError(short, 409, "insufficient_points");
    expect(short.body.error?.details).toMatchObject({ missing: 1 });

    const later = await createReward(api, p, { availableFrom: "2030-01-01T00:00:00Z" });
    const rich = await memberWithPoints(api, p, 5000);
    const early = await expectNothingWrittenHere(api, () => redeem(api, p, later.id, rich));
    expectError(early, 409, "reward_unavailable");
    expect(early.body.error?.details?.reasons).toEqual(["not_yet_available"]);

    const gone = await createReward(api, p);
    await api.call("DELETE", `${p.base}/rewards/${gone.id}`, { key: p.admin });
    expectError(await redeem(api, p, gone.id, rich), 409, "reward_unavailable");
    expectError(
      await redeem(api, p, "rwd_01jx0000000000000000000000", rich),
      404,
      "reward_not_found",
    );
    expectError(
      await redeem(api, p, reward.id, "mbr_01jx0000000000000000000000"),
      404,
      "member_not_found",
    );
  });

  it("enforces stock and per-member limits in total and per calendar period", async () => {
    const stocked = await createReward(api, p, { stock: 1 });
    const a = await memberWithPoints(api, p, 1000);
    const b = await memberWithPoints(api, p, 1000);
    await redeemOk(stocked.id, a);
    const out = await expectNothingWrittenHere(api, () => redeem(api, p, stocked.id, b));
    expectError(out, 409, "reward_unavailable");
    expect(out.body.error?.details?.reasons).toEqual(["out_of_stock"]);
    const after = await api.call("GET", `${p.base}/rewards/${stocked.id}`, { key: p.read });
    expect(after.body.stock).toBe(0);

    const limited = await createReward(api, p, {
      limits: { perMember: 3, perPeriod: { count: 1, period: "day" } },
    });
    const c = await memberWithPoints(api, p, 5000);
    await redeemOk(limited.id, c);
    const again = await expectNothingWrittenHere(api, () => redeem(api, p, limited.id, c));
    expectError(again, 409, "reward_limit_reached");
    expect(again.body.error?.details?.reasons).toEqual(["period_limit_reached"]);
    api.clock.advanceDays(1);
    await redeemOk(limited.id, c);
    api.clock.advanceDays(1);
    await redeemOk(limited.id, c);
    api.clock.advanceDays(1);
    const total = await redeem(api, p, limited.id, c);
    expectError(total, 409, "reward_limit_reached");
    expect(total.body.error?.details?.reasons).toEqual(["member_limit_reached"]);
  });

  it("answers a retried redemption from its Idempotency-Key without spending twice", async () => {
    const reward = await createReward(api, p, { pointsCost: 100 });
    const m = await memberWithPoints(api, p, 1000);
    const headers = { "idempotency-key": "redeem-once-1" };
    const first = await redeem(api, p, reward.id, m, {}, headers);
    const second = await redeem(api, p, reward.id, m, {}, headers);
    expect(second.status).toBe(201);
    expect(second.headers["idempotent-replayed"]).toBe("true");
    expect(second.body).toEqual(first.body);
    expect((await balance(api, p, m)).available).toBe(900);
    const reused = await redeem(api, p, reward.id, m, { mode: "hold" }, headers);
    expectError(reused, 422, "idempotency_key_reused");
  });

  it("loads a gift card that can be charged, topped up, never below zero", async () => {
    const reward = await createReward(api, p, { type: "gift_card", benefit: { amount: "100000" } });
    const m = await memberWithPoints(api, p, 1000);
    const { voucher } = await redeemOk(reward.id, m);
    expect(voucher.state).toBe("used");
    const card = await api.call("GET", `${p.base}/gift-cards/${voucher.code}`, { key: p.read });
    expect(card.body).toMatchObject({
      kind: "gift_card",
      balance: "100000.00",
      id: voucher.storedValueId,
    });
    const account = `${p.base}/stored-value/${voucher.storedValueId}`;
    const charge = await api.call("POST", `${account}/charge`, {
      key: p.pos,
      body: { amount: "30000", reference: "R-9" },
    });
    expect(charge.status, JSON.stringify(charge.body)).toBe(200);
    expect(charge.body.account).toMatchObject({ balance: "70000.00" });
    const tooMuch = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${account}/charge`, { key: p.pos, body: { amount: "70000.01" } }),
    );
    expectError(tooMuch, 409, "insufficient_balance");
    const zero = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${account}/charge`, { key: p.pos, body: { amount: "0" } }),
    );
    expectError(zero, 400, "validation_failed");
    const topUp = await api.call("POST", `${account}/top-up`, {
      key: p.pos,
      body: { amount: "5000" },
    });
    expect(topUp.body.account).toMatchObject({ balance: "75000.00" });
    const movements = await api.call("GET", `${account}/movements`, { key: p.read });
    expect(
      (movements.body.data as { kind: string; amount: string; balanceAfter: string }[]).map((m) => [
        m.kind,
        m.amount,
        m.balanceAfter,
      ]),
    ).toEqual([
      ["issue", "100000.00", "100000.00"],
      ["charge", "-30000.00", "70000.00"],
      ["top_up", "5000.00", "75000.00"],
    ]);
    expect(await eventTypes(api, p)).toEqual(
      expect.arrayContaining(["giftcard.issued", "giftcard.charged", "giftcard.topped_up"]),
    );
    expectError(
      await api.call("POST", `${account}/charge`, { key: p.read, body: { amount: "1" } }),
      403,
      "forbidden",
    );
  });

  it("credits cashback to the member's wallet, which adds up over redemptions", async () => {
    const reward = await createReward(api, p, { type: "cashback", benefit: { amount: "10000" } });
    const m = await memberWithPoints(api, p, 1000);
    expectError(
      await api.call("GET", `${p.base}/members/${m}/wallet`, { key: p.read }),
      404,
      "stored_value_not_found",
    );
    await redeemOk(reward.id, m);
    await redeemOk(reward.id, m);
    const wallet = await api.call("GET", `${p.base}/members/${m}/wallet`, { key: p.read });
    expect(wallet.body).toMatchObject({ kind: "wallet", memberId: m, balance: "20000.00" });
    const charge = await api.call("POST", `${p.base}/stored-value/${wallet.body.id}/charge`, {
      key: p.pos,
      body: { amount: "20000" },
    });
    expect(charge.body.account).toMatchObject({ balance: "0.00" });
    expect(await eventTypes(api, p)).toEqual(
      expect.arrayContaining(["wallet.credited", "wallet.charged"]),
    );
  });

  it("hands out partner codes from the uploaded pool, one per redemption, until none is left", async () => {
    const reward = await createReward(api, p, {
      type: "partner_gift_card",
      benefit: { partner: "Kopi" },
    });
    const upload = await api.call("POST", `${p.base}/rewards/${reward.id}/codes`, {
      key: p.admin,
      body: { codes: ["KOPI-AAA-1", "KOPI-AAA-2", "KOPI-AAA-1"] },
    });
    expect(upload.body).toEqual({ added: 2, duplicates: 1, available: 2 });
    const m = await memberWithPoints(api, p, 1000);
    const first = await redeemOk(reward.id, m);
    const second = await redeemOk(reward.id, m);
    expect([first.voucher.partnerCode, second.voucher.partnerCode].sort()).toEqual([
      "KOPI-AAA-1",
      "KOPI-AAA-2",
    ]);
    const empty = await expectNothingWrittenHere(api, () => redeem(api, p, reward.id, m));
    expectError(empty, 409, "reward_unavailable");
    expect(empty.body.error?.details?.reasons).toEqual(["codes_exhausted"]);
    const counts = await api.call("GET", `${p.base}/rewards/${reward.id}/codes`, { key: p.read });
    expect(counts.body).toEqual({ available: 0, assigned: 2 });
    const notPartner = await createReward(api, p);
    expectError(
      await api.call("POST", `${p.base}/rewards/${notPartner.id}/codes`, {
        key: p.admin,
        body: { codes: ["X"] },
      }),
      400,
      "validation_failed",
    );
  });

  it("sells experience seats from stock", async () => {
    const reward = await createReward(api, p, {
      type: "experience",
      benefit: { eventAt: "2026-06-01T19:00:00+07:00", venue: "Jakarta" },
      stock: 2,
    });
    const m = await memberWithPoints(api, p, 1000);
    expect((await redeemOk(reward.id, m)).voucher.state).toBe("issued");
    await redeemOk(reward.id, m);
    expectError(await redeem(api, p, reward.id, m), 409, "reward_unavailable");
  });

  it("records donations and reports them per reward and month in money", async () => {
    const reward = await createReward(api, p, {
      type: "charity_donation",
      benefit: { charity: "Rumah Zakat", value: "5000" },
      pointsCost: 50,
    });
    const m = await memberWithPoints(api, p, 1000);
    await redeemOk(reward.id, m);
    await redeemOk(reward.id, m);
    const month = new Intl.DateTimeFormat("en-CA", {
      timeZone: "Asia/Jakarta",
      year: "numeric",
      month: "2-digit",
    })
      .format(api.clock.now())
      .slice(0, 7);
    const report = await api.call("GET", `${p.base}/reports/donations?from=${month}&to=${month}`, {
      key: p.read,
    });
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    expect(report.body.data).toContainEqual({
      rewardId: reward.id,
      charity: "Rumah Zakat",
      month,
      donations: 2,
      points: 100,
      value: "10000.00",
    });
    expectError(
      await api.call("GET", `${p.base}/reports/donations?from=2026-13`, { key: p.read }),
      400,
      "validation_failed",
    );
  });

  it("upgrades the member's tier", async () => {
    const tiers = await tierLadder(api, p);
    const reward = await createReward(api, p, {
      type: "tier_upgrade",
      benefit: { tierId: tiers.gold, days: 90 },
    });
    const m = await memberWithPoints(api, p, 1000);
    await redeemOk(reward.id, m);
    const tier = await api.call("GET", `${p.base}/members/${m}/tier`, { key: p.read });
    expect(tier.body.tier).toMatchObject({ code: "gold" });
  });

  it("refuses to hold a reward that takes effect at once", async () => {
    const reward = await createReward(api, p, { type: "cashback", benefit: { amount: "1000" } });
    const m = await memberWithPoints(api, p, 1000);
    const response = await expectNothingWrittenHere(api, () =>
      redeem(api, p, reward.id, m, { mode: "hold" }),
    );
    expectError(response, 400, "validation_failed");
    expect(response.body.error?.details?.issues).toEqual([
      expect.objectContaining({ path: "body.mode" }),
    ]);
    expectError(await redeem(api, p, reward.id, m, { mode: "later" }), 400, "validation_failed");
  });

  it("lets only pos and above redeem, within their own program", async () => {
    const reward = await createReward(api, p);
    const m = await memberWithPoints(api, p, 1000);
    const other = await rewardsProgram(api);
    const asRead = await api.call("POST", `${p.base}/rewards/${reward.id}/redemptions`, {
      body: { memberId: m },
      key: p.read,
    });
    expectError(asRead, 403, "forbidden");
    const asOther = await api.call("POST", `${p.base}/rewards/${reward.id}/redemptions`, {
      body: { memberId: m },
      key: other.pos,
    });
    expectError(asOther, 403, "forbidden");
    const crossed = await api.call("POST", `${other.base}/rewards/${reward.id}/redemptions`, {
      body: { memberId: m },
      key: other.pos,
    });
    expect(crossed.status).toBe(404);
  });
});
