import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WriteBatch } from "../../src/db/batch.ts";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { DomainError } from "../../src/lib/errors.ts";
import { assertRewardGrantable, grantReward } from "../../src/modules/rewards/index.ts";
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
} from "./support.ts";

type Voucher = {
  id: string;
  code: string;
  state: string;
  mode: string;
  holdId: string | null;
  usesCount: number;
};
const minuteMs = 60_000;

describe("vouchers at the till and in the web shop", () => {
  let api: TestApi;
  let p: RewardsProgram;

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  const voucherPath = (code: string, action: string) => `${p.base}/vouchers/${code}/${action}`;
  const act = (code: string, action: string, body?: Record<string, unknown>, key = p.pos) =>
    api.call("POST", voucherPath(code, action), { key, ...(body && { body }) });

  async function issue(fields: Record<string, unknown> = {}, points = 1000, mode = "direct") {
    const reward = await createReward(api, p, fields);
    const memberId = await memberWithPoints(api, p, points);
    const response = await redeem(api, p, reward.id, memberId, { mode });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return { reward, memberId, voucher: response.body.voucher as Voucher };
  }

  it("validates a code with the discount it gives a basket, without writing", async () => {
    const { voucher } = await issue({
      type: "discount_percent",
      benefit: { percent: 10, cap: "20000" },
    });
    const check = (basket: unknown, code = voucher.code) =>
      expectNothingWrittenHere(api, () =>
        api.call("POST", `${p.base}/vouchers/validate`, { key: p.pos, body: { code, basket } }),
      );
    const small = await check({ total: "100000" });
    expect(small.body).toMatchObject({
      valid: true,
      reason: null,
      discount: "10000.00",
      rewardType: "discount_percent",
    });
    expect((await check({ total: "500000" })).body.discount).toBe("20000.00");
    // Codes are typed by people: lower case and dashes do not matter.
    const typed = `${voucher.code.slice(0, 4)}-${voucher.code.slice(4).toLowerCase()}`;
    expect((await check({ total: "1000" }, typed)).body.valid).toBe(true);
    expectError(await check({ total: "1000" }, "NOPE2345NOPE"), 404, "voucher_not_found");
    expectError(await check({ total: "1.001" }), 422, "amount_precision");
    const short = await check({ total: "1000" }, "ab");
    expectError(short, 400, "validation_failed");
    expect(short.body.error?.details?.issues).toEqual([
      expect.objectContaining({ path: "body.code" }),
    ]);
  });

  it("knows when a free product is not in the basket", async () => {
    const { voucher } = await issue({ type: "free_product", benefit: { sku: "KOPI-1" } });
    const validate = (lines: unknown[]) =>
      api.call("POST", `${p.base}/vouchers/validate`, {
        key: p.pos,
        body: { code: voucher.code, basket: { total: "50000", lines } },
      });
    const without = await validate([{ sku: "TEH-1", quantity: 1, unitPrice: "8000" }]);
    expect(without.body).toMatchObject({
      valid: false,
      reason: "product_not_in_basket",
      discount: "0.00",
    });
    const withIt = await validate([{ sku: "KOPI-1", quantity: 2, unitPrice: "12000" }]);
    expect(withIt.body).toMatchObject({ valid: true, discount: "12000.00" });
  });

  it("takes a web shop voucher's amount off, never more than the basket", async () => {
    const { voucher } = await issue({ type: "webshop_voucher", benefit: { amount: "15000" } });
    const validate = (total: string) =>
      api.call("POST", `${p.base}/vouchers/validate`, {
        key: p.pos,
        body: { code: voucher.code, basket: { total } },
      });
    expect((await validate("100000")).body).toMatchObject({ valid: true, discount: "15000.00" });
    expect((await validate("9000")).body.discount).toBe("9000.00");
    const used = await act(voucher.code, "consume", { reference: "ORDER-77" });
    expect(used.body).toMatchObject({ voucher: { state: "used" } });
  });

  it("runs the direct lifecycle: reserve, release, reserve, consume once", async () => {
    const { voucher } = await issue();
    const reserved = await act(voucher.code, "reserve", { reference: "cart-1", ttlSeconds: 600 });
    expect(reserved.status, JSON.stringify(reserved.body)).toBe(200);
    expect(reserved.body.state).toBe("reserved");
    // Another checkout cannot take it while it is reserved.
    const taken = await expectNothingWrittenHere(api, () =>
      act(voucher.code, "reserve", { reference: "cart-2" }),
    );
    expectError(taken, 409, "voucher_not_usable");
    expect(taken.body.error?.details?.reason).toBe("reserved");
    const elsewhere = await api.call("POST", `${p.base}/vouchers/validate`, {
      key: p.pos,
      body: { code: voucher.code },
    });
    expect(elsewhere.body).toMatchObject({ valid: false, reason: "reserved" });
    expect((await act(voucher.code, "release")).body.state).toBe("issued");
    await act(voucher.code, "reserve", { reference: "cart-3" });
    const used = await act(voucher.code, "consume", {
      reference: "R-100",
      reservationReference: "cart-3",
    });
    expect(used.status, JSON.stringify(used.body)).toBe(200);
    expect(used.body).toMatchObject({ replayed: false, voucher: { state: "used", usesCount: 1 } });
    // The same receipt again answers the first use; another receipt is refused.
    expect((await act(voucher.code, "consume", { reference: "R-100" })).body.replayed).toBe(true);
    const twice = await expectNothingWrittenHere(api, () =>
      act(voucher.code, "consume", { reference: "R-101" }),
    );
    expectError(twice, 409, "voucher_not_usable");
    expect(twice.body.error?.details?.reason).toBe("used");
    expectError(await act(voucher.code, "cancel", {}, p.admin), 409, "voucher_not_usable");
    expect(await eventTypes(api, p)).toEqual(
      expect.arrayContaining(["voucher.reserved", "voucher.released", "voucher.used"]),
    );
  });

  it("lets a checkout reservation lapse after its time", async () => {
    const { voucher } = await issue();
    await act(voucher.code, "reserve", { reference: "cart-9", ttlSeconds: 60 });
    api.clock.advance(2 * minuteMs);
    // Already usable by anyone, before the job even runs.
    const other = await act(voucher.code, "reserve", { reference: "cart-10" });
    expect(other.body.state).toBe("reserved");
    api.clock.advance(20 * minuteMs);
    await runJobsOnce(api.ctx);
    const read = await api.call("GET", `${p.base}/vouchers/${voucher.code}`, { key: p.read });
    expect(read.body).toMatchObject({ state: "issued", reservedUntil: null });
  });

  it("runs the hold lifecycle: points held at redemption, redeemed on consume", async () => {
    const { voucher, memberId } = await issue({ pointsCost: 400 }, 1000, "hold");
    expect(voucher).toMatchObject({ state: "reserved", mode: "hold" });
    expect(await balance(api, p, memberId)).toMatchObject({ available: 600, held: 400 });
    const used = await act(voucher.code, "consume", { reference: "R-200" });
    expect((used.body.voucher as { state: string }).state).toBe("used");
    expect(await balance(api, p, memberId)).toMatchObject({ available: 600, held: 0 });
    const hold = await api.call("GET", `${p.base}/holds/${voucher.holdId}`, { key: p.read });
    expect(hold.body.state).toBe("confirmed");
    await expectLedgerOk(api, p);
  });

  it("gives held points and stock back when a held voucher is released", async () => {
    const { voucher, memberId, reward } = await issue({ pointsCost: 400, stock: 5 }, 1000, "hold");
    const released = await act(voucher.code, "release");
    expect(released.body.state).toBe("cancelled");
    expect(await balance(api, p, memberId)).toMatchObject({ available: 1000, held: 0 });
    const after = await api.call("GET", `${p.base}/rewards/${reward.id}`, { key: p.read });
    expect(after.body.stock).toBe(5);
    expectError(
      await act(voucher.code, "consume", { reference: "R-1" }),
      409,
      "voucher_not_usable",
    );
    await expectLedgerOk(api, p);
  });

  it("cancels a held voucher when its hold runs out", async () => {
    const { voucher, memberId } = await issue({ pointsCost: 300 }, 1000, "hold");
    api.clock.advance(16 * minuteMs);
    const late = await expectNothingWrittenHere(api, () =>
      act(voucher.code, "consume", { reference: "R-300" }),
    );
    expectError(late, 409, "voucher_not_usable");
    expect(late.body.error?.details?.reason).toBe("reservation_expired");
    await runJobsOnce(api.ctx);
    const read = await api.call("GET", `${p.base}/vouchers/${voucher.code}`, { key: p.read });
    expect(read.body.state).toBe("cancelled");
    expect(await balance(api, p, memberId)).toMatchObject({ available: 1000, held: 0 });
    await expectLedgerOk(api, p);
  });

  it("gives the points back as a new entry when an unused voucher is cancelled", async () => {
    const { voucher, memberId, reward } = await issue({ pointsCost: 250, stock: 3 });
    expect((await balance(api, p, memberId)).available).toBe(750);
    expectError(await act(voucher.code, "cancel", {}, p.pos), 403, "forbidden");
    const cancelled = await act(
      voucher.code,
      "cancel",
      { reason: "customer changed mind" },
      p.admin,
    );
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body.state).toBe("cancelled");
    expect((await balance(api, p, memberId)).available).toBe(1000);
    const history = await api.call("GET", `${p.base}/members/${memberId}/history`, { key: p.read });
    const kinds = (history.body.data as { kind: string; points: { available: number } }[]).map(
      (e) => [e.kind, e.points.available],
    );
    expect(kinds.slice(0, 2)).toEqual([
      ["redeem_refund", 250],
      ["redeem", -250],
    ]);
    const stock = await api.call("GET", `${p.base}/rewards/${reward.id}`, { key: p.read });
    expect(stock.body.stock).toBe(3);
    // Cancelling again answers the cancelled voucher and returns nothing more.
    expect((await act(voucher.code, "cancel", {}, p.admin)).body.state).toBe("cancelled");
    expect((await balance(api, p, memberId)).available).toBe(1000);
    expect(await eventTypes(api, p)).toEqual(
      expect.arrayContaining(["voucher.cancelled", "points.redeem_refunded"]),
    );
    await expectLedgerOk(api, p);
  });

  it("expires vouchers past their validity with the job; their points stay spent", async () => {
    const { voucher, memberId } = await issue({ voucherValidity: { days: 2 } });
    api.clock.advanceDays(3);
    const late = await act(voucher.code, "consume", { reference: "R-400" });
    expectError(late, 409, "voucher_not_usable");
    const report = await runJobsOnce(api.ctx);
    expect(report.vouchers?.expired).toBeGreaterThanOrEqual(1);
    const read = await api.call("GET", `${p.base}/vouchers/${voucher.code}`, { key: p.read });
    expect(read.body.state).toBe("expired");
    expect((await balance(api, p, memberId)).available).toBe(900);
    expect(await eventTypes(api, p)).toContain("voucher.expired");
  });

  it("lists a member's vouchers, newest first, by state", async () => {
    const { memberId, reward, voucher } = await issue();
    const second = await redeem(api, p, reward.id, memberId);
    await act(voucher.code, "consume", { reference: "R-500" });
    const all = await api.call("GET", `${p.base}/members/${memberId}/vouchers`, { key: p.read });
    expect((all.body.data as Voucher[]).map((v) => v.id)).toEqual([
      (second.body.voucher as { id: string }).id,
      voucher.id,
    ]);
    const used = await api.call("GET", `${p.base}/members/${memberId}/vouchers?state=used`, {
      key: p.read,
    });
    expect((used.body.data as Voucher[]).map((v) => v.id)).toEqual([voucher.id]);
    const paged = await api.call("GET", `${p.base}/members/${memberId}/vouchers?limit=1`, {
      key: p.read,
    });
    const next = await api.call(
      "GET",
      `${p.base}/members/${memberId}/vouchers?limit=1&cursor=${paged.body.nextCursor}`,
      { key: p.read },
    );
    expect((next.body.data as Voucher[]).map((v) => v.id)).toEqual([voucher.id]);
  });

  it("keeps vouchers of one program out of another's reach", async () => {
    const { voucher } = await issue();
    const other = await rewardsProgram(api);
    expectError(
      await act(voucher.code, "consume", { reference: "X" }, other.pos),
      403,
      "forbidden",
    );
    const crossed = await api.call("POST", `${other.base}/vouchers/${voucher.code}/consume`, {
      key: other.pos,
      body: { reference: "X" },
    });
    expectError(crossed, 404, "voucher_not_found");
    expectError(await act(voucher.code, "consume", { reference: "X" }, p.read), 403, "forbidden");
    expectError(await act(voucher.code, "consume", {}), 400, "validation_failed");
  });

  it("generates coupon codes with a prefix; a multi-use code serves up to its limit", async () => {
    const reward = await createReward(api, p, { pointsCost: 0 });
    const created = await api.call("POST", `${p.base}/coupon-batches`, {
      key: p.admin,
      body: { name: "Ramadan", rewardId: reward.id, prefix: "RMD", count: 500, usesMax: 2 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ codesCount: 500, prefix: "RMD", usesMax: 2 });
    const codes = await api.call(
      "GET",
      `${p.base}/coupon-batches/${created.body.id}/codes?limit=200`,
      { key: p.admin },
    );
    const list = codes.body.data as Voucher[];
    expect(list).toHaveLength(200);
    expect(new Set(list.map((v) => v.code)).size).toBe(200);
    for (const v of list) expect(v.code).toMatch(/^RMD[2-9A-HJ-NP-Z]{12}$/);
    const code = list[0]?.code as string;
    expect((await act(code, "consume", { reference: "R-1" })).body.voucher).toMatchObject({
      state: "issued",
      usesCount: 1,
    });
    expect((await act(code, "consume", { reference: "R-2" })).body.voucher).toMatchObject({
      state: "used",
      usesCount: 2,
    });
    expectError(await act(code, "consume", { reference: "R-3" }), 409, "voucher_not_usable");
    expectError(await act(list[1]?.code as string, "reserve", {}), 409, "voucher_not_usable");
  });

  it("imports a list of coupon codes and refuses duplicates with their position", async () => {
    const reward = await createReward(api, p, { pointsCost: 0 });
    const body = (codes: string[]) => ({ name: "Import", rewardId: reward.id, codes });
    const created = await api.call("POST", `${p.base}/coupon-batches`, {
      key: p.admin,
      body: body(["HEMAT-2026", "hemat2027"]),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const validated = await api.call("POST", `${p.base}/vouchers/validate`, {
      key: p.pos,
      body: { code: "hemat-2026" },
    });
    expect(validated.body).toMatchObject({
      valid: true,
      voucher: { code: "HEMAT2026", source: "coupon" },
    });
    const twice = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${p.base}/coupon-batches`, {
        key: p.admin,
        body: body(["NEW12345", "new-12345"]),
      }),
    );
    expectError(twice, 400, "validation_failed");
    expect(twice.body.error?.details?.issues).toEqual([
      expect.objectContaining({ path: "body.codes.1" }),
    ]);
    const taken = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${p.base}/coupon-batches`, {
        key: p.admin,
        body: body(["FRESH1234", "HEMAT2026"]),
      }),
    );
    expectError(taken, 400, "validation_failed");
    const both = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${p.base}/coupon-batches`, {
        key: p.admin,
        body: { ...body(["A2345678"]), count: 3 },
      }),
    );
    expectError(both, 400, "validation_failed");
    const tooMany = await api.call("POST", `${p.base}/coupon-batches`, {
      key: p.admin,
      body: { name: "x", rewardId: reward.id, count: 100_001 },
    });
    expectError(tooMany, 400, "validation_failed");
    const gift = await createReward(api, p, { type: "gift_card", benefit: { amount: "1000" } });
    expectError(
      await api.call("POST", `${p.base}/coupon-batches`, {
        key: p.admin,
        body: { name: "g", rewardId: gift.id, count: 1 },
      }),
      409,
      "reward_unavailable",
    );
  });

  it("grants a free voucher for a campaign inside the caller's batch", async () => {
    const reward = await createReward(api, p, { pointsCost: 500 });
    const memberId = await memberWithPoints(api, p, 0);
    const at = api.clock.now();
    const granted = await api.ctx.db.transaction(async (tx) => {
      const batch = new WriteBatch(tx);
      const result = await grantReward(batch, {
        programId: p.programId,
        memberId,
        rewardId: reward.id,
        source: { campaignId: "cmp_test", transactionId: "txn_test" },
        at,
      });
      await batch.flush();
      return result;
    });
    const read = await api.call("GET", `${p.base}/vouchers/${granted.code}`, { key: p.read });
    expect(read.body).toMatchObject({
      id: granted.voucherId,
      source: "campaign",
      points: 0,
      state: "issued",
      memberId,
    });
    await assertRewardGrantable(api.ctx.db.kysely, p.programId, reward.id);
    const missing = await assertRewardGrantable(
      api.ctx.db.kysely,
      p.programId,
      "rwd_missing",
    ).catch((e) => e);
    expect(missing).toBeInstanceOf(DomainError);
    expect((missing as DomainError).code).toBe("reward_not_found");
    const cash = await createReward(api, p, { type: "cashback", benefit: { amount: "1000" } });
    const refused = await assertRewardGrantable(api.ctx.db.kysely, p.programId, cash.id).catch(
      (e) => e,
    );
    expect((refused as DomainError).code).toBe("reward_unavailable");
  });
});

describe("what a member can get now", () => {
  let api: TestApi;
  let p: RewardsProgram;

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  it("puts affordable rewards first (priority, then cost), then by points missing; ineligible on request", async () => {
    const cheap = await createReward(api, p, { pointsCost: 100 });
    const dear = await createReward(api, p, { pointsCost: 400 });
    const promoted = await createReward(api, p, { pointsCost: 50, priority: 10 });
    const far = await createReward(api, p, { pointsCost: 2000 });
    const near = await createReward(api, p, { pointsCost: 600 });
    const vipOnly = await createReward(api, p, { pointsCost: 10, eligibility: { tags: ["vip"] } });
    const soldOut = await createReward(api, p, { pointsCost: 10, stock: 0 });
    const member = await memberWithPoints(api, p, 500);
    const list = await api.call("GET", `${p.base}/members/${member}/rewards`, { key: p.read });
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    const rows = list.body.data as {
      reward: { id: string };
      affordable: boolean;
      pointsMissing: number;
      reasons: string[];
    }[];
    expect(rows.map((row) => row.reward.id)).toEqual([
      promoted.id,
      dear.id,
      cheap.id,
      near.id,
      far.id,
    ]);
    expect(rows.map((row) => [row.affordable, row.pointsMissing])).toEqual([
      [true, 0],
      [true, 0],
      [true, 0],
      [false, 100],
      [false, 1500],
    ]);
    const all = await api.call("GET", `${p.base}/members/${member}/rewards?include=ineligible`, {
      key: p.read,
    });
    const tail = (all.body.data as typeof rows).slice(5);
    expect(tail.map((row) => [row.reward.id, row.reasons])).toEqual(
      expect.arrayContaining([
        [vipOnly.id, ["tags_missing"]],
        [soldOut.id, ["out_of_stock"]],
      ]),
    );
    const vip = await memberWithPoints(api, p, 500, { tags: ["vip"] });
    const vipList = await api.call("GET", `${p.base}/members/${vip}/rewards?limit=2`, {
      key: p.read,
    });
    expect((vipList.body.data as typeof rows).map((row) => row.reward.id)).toEqual([
      promoted.id,
      dear.id,
    ]);
    expectError(
      await api.call("GET", `${p.base}/members/mbr_nobody/rewards`, { key: p.read }),
      404,
      "member_not_found",
    );
    expectError(
      await api.call("GET", `${p.base}/members/${member}/rewards?include=all`, { key: p.read }),
      400,
      "validation_failed",
    );
  });
});
