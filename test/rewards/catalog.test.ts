import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import {
  createReward,
  expectNothingWrittenHere,
  type RewardsProgram,
  rewardBody,
  rewardsProgram,
} from "./support.ts";

describe("rewards catalog", () => {
  let api: TestApi;
  let p: RewardsProgram;

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  it("creates every reward type and reads it back with money in major units", async () => {
    const bodies = [
      rewardBody(),
      rewardBody({ type: "discount_percent", benefit: { percent: 10, cap: "50000.00" } }),
      rewardBody({ type: "free_product", benefit: { sku: "KOPI-1" } }),
      rewardBody({ type: "webshop_voucher", benefit: { amount: "15000.00" } }),
      rewardBody({ type: "gift_card", benefit: { amount: "100000.00" } }),
      rewardBody({ type: "partner_gift_card", benefit: { partner: "Kopi Kenangan" } }),
      rewardBody({
        type: "experience",
        benefit: { eventAt: "2026-06-01T19:00:00+07:00", venue: "Jakarta" },
        stock: 20,
      }),
      rewardBody({ type: "cashback", benefit: { amount: "10000.00" } }),
      rewardBody({
        type: "charity_donation",
        benefit: { charity: "Rumah Zakat", value: "5000.00" },
      }),
      rewardBody({ type: "tier_upgrade", benefit: { tierId: "tir_x", days: 90 } }),
    ];
    for (const body of bodies) {
      const created = await createReward(api, p, body);
      expect(created).toMatchObject({
        type: body.type,
        status: "active",
        benefit: body.benefit,
        pointsCost: 100,
        cash: "0.00",
        voucherValidity: { days: 30 },
      });
      const read = await api.call("GET", `${p.base}/rewards/${created.id}`, { key: p.read });
      expect(read.body).toEqual(created);
    }
    const list = await api.call("GET", `${p.base}/rewards?limit=200`, { key: p.read });
    expect(list.status).toBe(200);
    expect((list.body.data as unknown[]).length).toBe(bodies.length);
  });

  it("keeps every field: tier costs, cash part, stock, limits, eligibility, window, texts", async () => {
    const body = rewardBody({
      priority: 5,
      tierCosts: [{ tierCode: "gold", points: 80 }],
      cash: "5000.00",
      stock: 10,
      limits: { perMember: 2, perPeriod: { count: 1, period: "month" } },
      eligibility: { tierCodes: ["gold"], tags: ["vip"] },
      availableFrom: "2026-03-01T00:00:00Z",
      availableUntil: "2026-04-01T00:00:00Z",
      voucherValidity: { until: "2026-05-01T00:00:00.000Z" },
      imageUrls: ["https://cdn.example.com/r.png"],
      texts: { id: { name: "Hadiah", description: "Deskripsi", terms: "S&K" } },
    });
    const created = await createReward(api, p, body);
    expect(created).toMatchObject({
      priority: 5,
      tierCosts: [{ tierCode: "gold", points: 80 }],
      cash: "5000.00",
      stock: 10,
      limits: { perMember: 2, perPeriod: { count: 1, period: "month" } },
      eligibility: { tierCodes: ["gold"], tags: ["vip"] },
      availableFrom: "2026-03-01T00:00:00.000Z",
      availableUntil: "2026-04-01T00:00:00.000Z",
      voucherValidity: { until: "2026-05-01T00:00:00.000Z" },
      imageUrls: ["https://cdn.example.com/r.png"],
      texts: { id: { name: "Hadiah", description: "Deskripsi", terms: "S&K" } },
    });
  });

  it("changes only the fields a PATCH names, and archives on DELETE", async () => {
    const created = await createReward(api, p, { stock: 3 });
    const patched = await api.call("PATCH", `${p.base}/rewards/${created.id}`, {
      key: p.admin,
      body: { pointsCost: 150, benefit: { amount: "30000.00" } },
    });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body).toMatchObject({
      pointsCost: 150,
      benefit: { amount: "30000.00" },
      stock: 3,
    });
    const archived = await api.call("DELETE", `${p.base}/rewards/${created.id}`, { key: p.admin });
    expect(archived.body.status).toBe("archived");
    const active = await api.call("GET", `${p.base}/rewards?status=archived`, { key: p.read });
    expect((active.body.data as { id: string }[]).map((r) => r.id)).toContain(created.id);
  });

  it("refuses bad bodies with the exact path, and writes nothing", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [rewardBody({ type: "discount_percent", benefit: { percent: 150 } }), "body.benefit.percent"],
      [rewardBody({ type: "bogus" }), "body.type"],
      [rewardBody({ pointsCost: -1 }), "body.pointsCost"],
      [rewardBody({ texts: {} }), "body.texts"],
      [rewardBody({ benefit: { amount: "12.345" } }), "body.benefit.amount"],
      [rewardBody({ benefit: { amount: "abc" } }), "body.benefit.amount"],
      [rewardBody({ stock: 1.5 }), "body.stock"],
      [
        rewardBody({ limits: { perPeriod: { count: 1, period: "hour" } } }),
        "body.limits.perPeriod.period",
      ],
      [
        rewardBody({
          availableFrom: "2026-04-01T00:00:00Z",
          availableUntil: "2026-03-01T00:00:00Z",
        }),
        "body.availableUntil",
      ],
      [rewardBody({ imageUrls: ["not a url"] }), "body.imageUrls.0"],
      [rewardBody({ extra: 1 }), "body"],
    ];
    for (const [body, path] of cases) {
      const response = await expectNothingWrittenHere(api, () =>
        api.call("POST", `${p.base}/rewards`, { body, key: p.admin }),
      );
      const code = response.body.error?.code;
      expect(
        code === "validation_failed" || code === "amount_precision",
        JSON.stringify(response.body),
      ).toBe(true);
      expect(response.body.error?.requestId).toMatch(/^req_/);
      const issues = (response.body.error?.details?.issues ?? []) as { path: string }[];
      const field = response.body.error?.details?.field as string | undefined;
      expect(
        issues.some((issue) => issue.path.startsWith(path)) || field === path,
        `${path}: ${JSON.stringify(response.body)}`,
      ).toBe(true);
    }
  });

  it("refuses a PATCH whose benefit does not fit the reward's type", async () => {
    const created = await createReward(api, p);
    const response = await expectNothingWrittenHere(api, () =>
      api.call("PATCH", `${p.base}/rewards/${created.id}`, {
        key: p.admin,
        body: { benefit: { percent: 10 } },
      }),
    );
    expectError(response, 400, "validation_failed");
    expect(response.body.error?.details?.issues).toEqual([
      expect.objectContaining({ path: expect.stringMatching(/^body\.benefit/) }),
    ]);
  });

  it("answers 404 for a missing reward and a page size above 200 as a 400", async () => {
    expectError(
      await api.call("GET", `${p.base}/rewards/rwd_01jx0000000000000000000000`, { key: p.read }),
      404,
      "reward_not_found",
    );
    expectError(
      await api.call("GET", `${p.base}/rewards?limit=201`, { key: p.read }),
      400,
      "validation_failed",
    );
  });

  it("lets only admins write and keeps programs apart", async () => {
    const other = await rewardsProgram(api);
    const mine = await createReward(api, p);
    expectError(
      await api.call("POST", `${p.base}/rewards`, { body: rewardBody(), key: p.pos }),
      403,
      "forbidden",
    );
    expectError(
      await api.call("POST", `${p.base}/rewards`, { body: rewardBody(), key: p.read }),
      403,
      "forbidden",
    );
    expectError(await api.call("GET", `${p.base}/rewards`, { key: null }), 401, "unauthorized");
    expectError(
      await api.call("GET", `${p.base}/rewards/${mine.id}`, { key: other.read }),
      403,
      "forbidden",
    );
    // The other program's own path does not find this program's reward.
    expectError(
      await api.call("GET", `${other.base}/rewards/${mine.id}`, { key: other.read }),
      404,
      "reward_not_found",
    );
  });

  it("holds at most 1,000 rewards per program", async () => {
    const q = await rewardsProgram(api);
    const rows = Array.from({ length: 1000 }, (_, index) => ({
      id: `rwd_${String(index).padStart(26, "0")}`,
      program_id: q.programId,
      type: "discount_amount" as const,
      status: "active" as const,
      priority: 0,
      benefit: JSON.stringify({ amountMinor: 100 }),
      points_cost: 1,
      tier_costs: "{}",
      cash_minor: 0,
      stock_remaining: null,
      limit_per_member: null,
      limit_per_period: null,
      limit_period: null,
      eligible_tier_codes: "[]",
      eligible_tags: "[]",
      available_from: null,
      available_until: null,
      voucher_valid_days: 30,
      voucher_valid_until: null,
      image_urls: "[]",
      texts: JSON.stringify({ en: { name: "x" } }),
      created_at: new Date(),
      updated_at: new Date(),
    }));
    await api.ctx.db.kysely.insertInto("rewards").values(rows).execute();
    const response = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${q.base}/rewards`, { body: rewardBody(), key: q.admin }),
    );
    expectError(response, 409, "catalog_full");
  });
});
