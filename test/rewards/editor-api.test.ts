import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import { type RewardsProgram, rewardBody, rewardsProgram } from "./support.ts";

// What the admin's rewards and tier editors read: reward types with their benefit schemas, and
// the tier ladder's version history.

interface RewardTypeView {
  type: string;
  description: string;
  voucher: boolean;
  grantable: boolean;
  codePool: boolean;
  moneyFields: string[];
  benefitSchema: Parameters<typeof z.fromJSONSchema>[0] & {
    properties: Record<string, unknown>;
    examples: Record<string, unknown>[];
  };
}

const allTypes = [
  "discount_amount",
  "discount_percent",
  "free_product",
  "webshop_voucher",
  "gift_card",
  "partner_gift_card",
  "experience",
  "cashback",
  "charity_donation",
  "tier_upgrade",
];

describe("reward types for the admin editor", () => {
  let api: TestApi;
  let p: RewardsProgram;
  let types: RewardTypeView[];

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api, { currency: "USD" });
    const response = await api.call("GET", "/v1/reward-types", { key: p.read });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    types = response.body.types as RewardTypeView[];
  });
  afterAll(() => api.close());

  it("lists every type once, with its flags and money fields", () => {
    expect(types.map((type) => type.type).sort()).toEqual([...allTypes].sort());
    const byType = Object.fromEntries(types.map((type) => [type.type, type]));
    expect(byType.partner_gift_card).toMatchObject({ codePool: true, voucher: true });
    expect(byType.cashback).toMatchObject({ voucher: false, grantable: false, codePool: false });
    expect(byType.discount_amount).toMatchObject({ voucher: true, grantable: true });
    expect(byType.discount_percent?.moneyFields).toEqual(["cap"]);
    expect(byType.charity_donation?.moneyFields).toEqual(["value"]);
    expect(byType.free_product?.moneyFields).toEqual([]);
    for (const type of types) {
      expect(type.description.length, type.type).toBeGreaterThan(10);
      expect(type.benefitSchema).toMatchObject({ type: "object", additionalProperties: false });
      expect(type.benefitSchema).not.toHaveProperty("$schema");
    }
  });

  it("publishes schemas that accept their example and refuse a bad benefit", () => {
    for (const type of types) {
      const schema = z.fromJSONSchema(type.benefitSchema);
      const example = type.benefitSchema.examples[0];
      expect(schema.safeParse(example).success, `${type.type} example`).toBe(true);
      expect(schema.safeParse({ ...example, unknownField: 1 }).success, type.type).toBe(false);
      expect(schema.safeParse({}).success, `${type.type} without fields`).toBe(false);
    }
    const percent = types.find((type) => type.type === "discount_percent");
    const schema = z.fromJSONSchema(percent?.benefitSchema ?? {});
    expect(schema.safeParse({ percent: 150 }).success).toBe(false);
    expect(schema.safeParse({ percent: 15, cap: null }).success).toBe(true);
  });

  it("the server accepts a reward of each type built from its example", async () => {
    for (const type of types) {
      const benefit = type.benefitSchema.examples[0] ?? {};
      const created = await api.call("POST", `${p.base}/rewards`, {
        key: p.admin,
        body: rewardBody({ type: type.type, benefit }),
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const stored = created.body.benefit as Record<string, unknown>;
      // Money comes back in the currency's major units with its minor digits (USD: 2).
      for (const field of type.moneyFields) {
        expect(stored[field], `${type.type}.${field}`).toBe(Number(benefit[field]).toFixed(2));
      }
      for (const field of Object.keys(benefit).filter((f) => !type.moneyFields.includes(f))) {
        expect(stored[field], `${type.type}.${field}`).toEqual(benefit[field]);
      }
    }
    const list = await api.call("GET", `${p.base}/rewards?limit=50`, { key: p.read });
    const listed = (list.body.data as { type: string }[]).map((reward) => reward.type);
    expect(listed.sort()).toEqual([...allTypes].sort());
  });

  it("answers the path of a bad benefit field, as the editor shows it", async () => {
    const response = await api.call("POST", `${p.base}/rewards`, {
      key: p.admin,
      body: rewardBody({ type: "discount_percent", benefit: { percent: 150 } }),
    });
    expectError(response, 400, "validation_failed");
    const issues = response.body.error?.details?.issues as { path: string }[];
    expect(issues.map((issue) => issue.path)).toContain("body.benefit.percent");
    const precision = await api.call("POST", `${p.base}/rewards`, {
      key: p.admin,
      body: rewardBody({ type: "cashback", benefit: { amount: "1.234" } }),
    });
    expectError(precision, 422, "amount_precision");
    expect(precision.body.error?.details?.field).toBe("body.benefit.amount");
  });

  it("needs a key or a session", async () => {
    const response = await api.call("GET", "/v1/reward-types", { key: null });
    expectError(response, 401, "unauthorized");
  });
});

describe("tier ladder versions", () => {
  let api: TestApi;
  let p: RewardsProgram;
  const ladder = (months: number | null, goldThreshold: number) => ({
    qualification: {
      metric: "points_earned",
      window: months === null ? { kind: "calendar_year" } : { kind: "rolling_months", months },
    },
    gracePeriodDays: 14,
    lowestTierAutomatic: true,
    tiers: [
      { code: "bronze", rank: 1, names: { id: "Perunggu", en: "Bronze" }, threshold: 0 },
      {
        code: "gold",
        rank: 2,
        names: { id: "Emas", en: "Gold" },
        threshold: goldThreshold,
        benefits: { earnMultiplierPercent: 150 },
      },
    ],
  });

  beforeAll(async () => {
    api = await createTestApi();
    p = await rewardsProgram(api);
  });
  afterAll(() => api.close());

  it("is empty before the first save", async () => {
    const response = await api.call("GET", `${p.base}/tier-ladder/versions`, { key: p.read });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: [], nextCursor: null });
  });

  it("lists every saved version newest first, page by page", async () => {
    for (const [months, gold] of [
      [12, 1000],
      [6, 2000],
      [null, 3000],
    ] as const) {
      api.clock.advance(60_000);
      const saved = await api.call("PUT", `${p.base}/tier-ladder`, {
        key: p.admin,
        body: ladder(months, gold),
      });
      expect(saved.status, JSON.stringify(saved.body)).toBe(200);
    }
    const first = await api.call("GET", `${p.base}/tier-ladder/versions?limit=2`, { key: p.read });
    expect(first.status).toBe(200);
    const page1 = first.body.data as {
      version: number;
      createdAt: string;
      qualification: { window: { kind: string } };
      tiers: { code: string; threshold: number; benefits: { earnMultiplierPercent: number } }[];
    }[];
    expect(page1.map((version) => version.version)).toEqual([3, 2]);
    expect(page1[0]?.qualification.window).toEqual({ kind: "calendar_year" });
    expect(page1[0]?.tiers[1]).toMatchObject({
      code: "gold",
      threshold: 3000,
      benefits: { earnMultiplierPercent: 150, perks: [], freeShipping: false },
    });
    expect(Date.parse(page1[0]?.createdAt ?? "")).toBeGreaterThan(
      Date.parse(page1[1]?.createdAt ?? ""),
    );
    expect(first.body.nextCursor).toBe("2");
    const second = await api.call(
      "GET",
      `${p.base}/tier-ladder/versions?limit=2&cursor=${first.body.nextCursor}`,
      { key: p.read },
    );
    expect((second.body.data as { version: number }[]).map((v) => v.version)).toEqual([1]);
    expect(second.body.nextCursor).toBeNull();
  });

  it("refuses a cursor that is not a version", async () => {
    const response = await api.call("GET", `${p.base}/tier-ladder/versions?cursor=abc`, {
      key: p.read,
    });
    expectError(response, 400, "validation_failed");
  });

  it("keeps one program's versions from another's keys", async () => {
    const other = await rewardsProgram(api);
    const response = await api.call("GET", `${p.base}/tier-ladder/versions`, { key: other.read });
    expectError(response, 403, "forbidden");
  });
});
