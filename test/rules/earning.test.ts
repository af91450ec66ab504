import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import {
  balanceOf,
  base,
  buy,
  campaignBody,
  createCampaign,
  expectLedgerOk,
  expectNothingWrittenHere,
} from "./support.ts";

type Json = Record<string, unknown>;

describe("earning with campaigns over HTTP", () => {
  let api: TestApi;
  beforeAll(async () => {
    // Saturday 2026-03-07 10:00 in Jakarta.
    api = await createTestApi("2026-03-07T03:00:00Z");
  });
  afterAll(() => api.close());

  const line = (sku: string, quantity: number, unitPrice: string, extra: Json = {}) => ({
    sku,
    quantity,
    unitPrice,
    ...extra,
  });

  it("double points on weekends: base line plus a campaign line with ids", async () => {
    const p = await api.program();
    const m = await api.member(p);
    const campaign = await createCampaign(
      api,
      p,
      campaignBody([
        {
          id: "weekend",
          description: "double points on weekends",
          conditions: [{ type: "day_of_week", args: { days: [6, 7] } }],
          actions: [{ type: "multiplier", args: { percent: 200 } }],
        },
      ]),
    );
    const earn = await buy(api, p, "R-1", { member: { id: m }, total: "250000" });
    expect(earn.pointsEarned).toBe(50);
    expect(earn.breakdown).toEqual([
      expect.objectContaining({ source: "base", points: 25 }),
      {
        source: "campaign",
        description: "Promo: double points on weekends",
        points: 25,
        campaignId: campaign.id,
        ruleId: "weekend",
      },
    ]);
    // Monday: the rule does not match.
    api.clock.set("2026-03-09T03:00:00Z");
    const monday = await buy(api, p, "R-2", { member: { id: m }, total: "250000" });
    expect(monday.pointsEarned).toBe(25);
    api.clock.set("2026-03-07T03:00:00Z");
    await expectLedgerOk(api, p);
  });

  it("category bonus spread on the matching lines; a refund by lines takes back exactly those points", async () => {
    const p = await api.program();
    const m = await api.member(p);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          conditions: [{ type: "category_in_basket", args: { values: ["susu"] } }],
          actions: [{ type: "fixed_bonus", args: { points: 5000 } }],
        },
      ]),
    );
    const earn = await buy(api, p, "R-1", {
      member: { id: m },
      total: "100000",
      lines: [
        line("BERAS", 1, "60000", { category: "beras" }),
        line("SUSU-A", 2, "10000", { category: "susu" }),
        line("SUSU-B", 1, "20000", { category: "susu", brand: "Frisian" }),
      ],
    });
    expect(earn.pointsEarned).toBe(10 + 5000);
    const view = await api.call("GET", `${base(p)}/transactions/${earn.transactionId}`);
    const points = (view.body.lines as Json[]).map((item) => item.pointsEarned);
    // Base 10 split by amount (6, 2, 2); the bonus split over the two milk lines (2500, 2500).
    expect(points).toEqual([6, 2502, 2502]);
    const refund = await api.call("POST", `${base(p)}/refunds`, {
      body: {
        externalId: "F-1",
        transaction: { id: earn.transactionId },
        lines: [{ lineNo: 2, quantity: 1 }],
      },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    expect(refund.body.pointsReversed).toBe(1251);
    const rest = await api.call("POST", `${base(p)}/refunds`, {
      body: {
        externalId: "F-2",
        transaction: { id: earn.transactionId },
        lines: [
          { lineNo: 3, quantity: 1 },
          { lineNo: 2, quantity: 1 },
        ],
      },
    });
    expect(rest.body.pointsReversed).toBe(2502 + 1251);
    expect((await balanceOf(api, p, m)).earnedTotal).toBe(6);
    await expectLedgerOk(api, p);
  });

  it("reward lines never earn, and per-item points count whole units of matching lines", async () => {
    const p = await api.program();
    const m = await api.member(p);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          conditions: [{ type: "brand_in_basket", args: { values: ["Indomie"] } }],
          actions: [{ type: "points_per_item", args: { points: 7 } }],
        },
      ]),
    );
    const earn = await buy(api, p, "R-1", {
      member: { id: m },
      total: "50000",
      lines: [
        line("MIE", 3, "10000", { brand: "Indomie" }),
        line("MIE-FREE", 2, "10000", { brand: "Indomie", kind: "reward" }),
      ],
    });
    // Base on 50000 - 20000 of reward lines = 3 points; 3 units × 7.
    expect(earn.pointsEarned).toBe(3 + 21);
    await expectLedgerOk(api, p);
  });

  it("caps per member per day and per transaction cut the campaign and say so", async () => {
    const p = await api.program();
    const m = await api.member(p);
    const campaign = await createCampaign(
      api,
      p,
      campaignBody([{ id: "bonus", actions: [{ type: "fixed_bonus", args: { points: 300 } }] }], {
        caps: { perTransaction: 250, perMemberPerDay: 400 },
      }),
    );
    const first = await buy(api, p, "R-1", { member: { id: m } });
    expect(first.pointsEarned).toBe(10 + 250);
    expect(first.breakdown[1]).toMatchObject({
      campaignId: campaign.id,
      points: 250,
      pointsBeforeCaps: 300,
      capped: [{ cap: "perTransaction", points: 50 }],
    });
    const second = await buy(api, p, "R-2", { member: { id: m } });
    expect(second.pointsEarned).toBe(10 + 150);
    expect(second.breakdown[1]).toMatchObject({
      capped: [
        { cap: "perTransaction", points: 50 },
        { cap: "perMemberPerDay", points: 100 },
      ],
    });
    const third = await buy(api, p, "R-3", { member: { id: m } });
    expect(third.pointsEarned).toBe(10);
    // The next local day has a fresh cap.
    api.clock.advanceDays(1);
    expect((await buy(api, p, "R-4", { member: { id: m } })).pointsEarned).toBe(260);
    api.clock.set("2026-03-07T03:00:00Z");
    await expectLedgerOk(api, p);
  });

  it("a budget is never exceeded: the last award is partial and budget_exhausted is emitted", async () => {
    const p = await api.program();
    const campaign = await createCampaign(
      api,
      p,
      campaignBody([{ actions: [{ type: "fixed_bonus", args: { points: 400 } }] }], {
        budgetPoints: 1000,
      }),
    );
    const given: number[] = [];
    for (const index of [1, 2, 3, 4]) {
      const m = await api.member(p);
      const earn = await buy(api, p, `R-${index}`, { member: { id: m } });
      given.push(earn.pointsEarned - 10);
    }
    expect(given).toEqual([400, 400, 200, 0]);
    const view = await api.call("GET", `${base(p)}/campaigns/${campaign.id}`);
    expect(view.body).toMatchObject({ budgetPoints: 1000, budgetUsedPoints: 1000 });
    const events = await api.call("GET", `${base(p)}/events?limit=200`);
    const types = (events.body.data as Json[]).map((event) => event.type);
    expect(types.filter((type) => type === "campaign.budget_exhausted")).toHaveLength(1);
    await expectLedgerOk(api, p);
  });

  it("stacking: exclusive suppresses others; first_match_wins and best_for_member pick one", async () => {
    const p = await api.program();
    const m = await api.member(p);
    const bonus = (points: number) => [{ actions: [{ type: "fixed_bonus", args: { points } }] }];
    await createCampaign(api, p, campaignBody(bonus(10), { name: "stack" }));
    const firstA = await createCampaign(
      api,
      p,
      campaignBody(bonus(20), { name: "fa", stacking: "first_match_wins", priority: 5 }),
    );
    await createCampaign(
      api,
      p,
      campaignBody(bonus(30), { name: "fb", stacking: "first_match_wins" }),
    );
    await createCampaign(
      api,
      p,
      campaignBody(bonus(40), { name: "ba", stacking: "best_for_member" }),
    );
    await createCampaign(
      api,
      p,
      campaignBody(bonus(50), { name: "bb", stacking: "best_for_member" }),
    );
    const earn = await buy(api, p, "R-1", { member: { id: m } });
    expect(earn.pointsEarned).toBe(10 + 10 + 20 + 50);
    const preview = await api.call("POST", `${base(p)}/transactions/preview`, {
      body: {
        externalId: "X",
        storeId: "S1",
        channel: "pos",
        occurredAt: api.clock.now().toISOString(),
        currency: "IDR",
        total: "100000",
        member: { id: m },
      },
    });
    const reasons = (preview.body.campaigns as Json[]).map((item) => [
      item.name,
      item.applied,
      item.reason,
    ]);
    expect(reasons).toEqual([
      ["fa", true, null],
      ["stack", true, null],
      ["fb", false, `first_match_wins: campaign ${firstA.id} applied first`],
      ["ba", false, expect.stringMatching(/^best_for_member/)],
      ["bb", true, null],
    ]);
    const exclusive = await createCampaign(
      api,
      p,
      campaignBody(bonus(5), { name: "vip", exclusive: true }),
    );
    const only = await buy(api, p, "R-2", { member: { id: m } });
    expect(only.pointsEarned).toBe(10 + 5);
    expect(only.breakdown.map((item) => item.campaignId ?? item.source)).toEqual([
      "base",
      exclusive.id,
    ]);
  });

  it("member conditions: tags, birthday month, first purchase, third visit in 30 days, tier absent", async () => {
    const p = await api.program();
    const vip = await api.member(p, {
      tags: ["VIP", "jakarta"],
      birthday: "1990-03-15",
      city: "Jakarta",
    });
    const other = await api.member(p);
    const member = await api.call("GET", `${base(p)}/members/${vip}`);
    expect(member.body.tags).toEqual(["vip", "jakarta"]);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          id: "tag",
          conditions: [{ type: "member_tag", args: { tags: ["vip"] } }],
          actions: [{ type: "fixed_bonus", args: { points: 1 } }],
        },
        {
          id: "bday",
          conditions: [{ type: "birthday_period", args: { period: "month" } }],
          actions: [{ type: "multiplier", args: { percent: 300 } }],
        },
        {
          id: "first",
          conditions: [{ type: "first_purchase", args: {} }],
          actions: [{ type: "fixed_bonus", args: { points: 100 } }],
        },
        {
          id: "third",
          conditions: [{ type: "nth_visit", args: { n: 3, windowDays: 30 } }],
          actions: [{ type: "fixed_bonus", args: { points: 1000 } }],
        },
        {
          id: "city",
          conditions: [{ type: "member_attribute", args: { cities: ["jakarta"] } }],
          actions: [{ type: "fixed_bonus", args: { points: 2 } }],
        },
        {
          id: "gold",
          conditions: [{ type: "member_tier", args: { tiers: ["gold"] } }],
          actions: [{ type: "fixed_bonus", args: { points: 9999 } }],
        },
      ]),
    );
    const rules = (earn: { breakdown: Json[] }) =>
      earn.breakdown.flatMap((item) => (item.ruleId ? [item.ruleId] : []));
    const one = await buy(api, p, "V-1", { member: { id: vip } });
    expect(rules(one)).toEqual(["tag", "bday", "first", "city"]);
    expect(one.pointsEarned).toBe(10 + 1 + 20 + 100 + 2);
    api.clock.advanceDays(1);
    expect(rules(await buy(api, p, "V-2", { member: { id: vip } }))).toEqual([
      "tag",
      "bday",
      "city",
    ]);
    api.clock.advanceDays(1);
    expect(rules(await buy(api, p, "V-3", { member: { id: vip } }))).toEqual([
      "tag",
      "bday",
      "third",
      "city",
    ]);
    api.clock.advanceDays(1);
    expect(rules(await buy(api, p, "V-4", { member: { id: vip } }))).toEqual([
      "tag",
      "bday",
      "city",
    ]);
    expect(rules(await buy(api, p, "O-1", { member: { id: other } }))).toEqual(["first"]);
    api.clock.set("2026-03-07T03:00:00Z");
    await expectLedgerOk(api, p);
  });

  it("a tier multiplier is its own line on the base points; member_tier conditions see the tier", async () => {
    const p = await api.program();
    const m = await api.member(p);
    const ladder = await api.call("PUT", `${base(p)}/tier-ladder`, {
      body: {
        qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
        gracePeriodDays: 30,
        lowestTierAutomatic: true,
        tiers: [
          { code: "bronze", rank: 1, names: { id: "Perunggu", en: "Bronze" }, threshold: 0 },
          {
            code: "gold",
            rank: 2,
            names: { id: "Emas", en: "Gold" },
            threshold: 500000000,
            benefits: { earnMultiplierPercent: 150 },
          },
        ],
      },
    });
    expect(ladder.status, JSON.stringify(ladder.body)).toBeLessThan(300);
    const set = await api.call("POST", `${base(p)}/members/${m}/tier`, {
      body: { tierCode: "gold", reason: "test" },
    });
    expect(set.status, JSON.stringify(set.body)).toBeLessThan(300);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          id: "gold",
          conditions: [{ type: "member_tier", args: { tiers: ["gold"] } }],
          actions: [{ type: "fixed_bonus", args: { points: 7 } }],
        },
      ]),
    );
    const earn = await buy(api, p, "T-1", { member: { id: m }, total: "250000" });
    expect(earn.breakdown.map((item) => [item.source, item.points])).toEqual([
      ["base", 25],
      ["tier", 12],
      ["campaign", 7],
    ]);
    expect(earn.pointsEarned).toBe(44);
    await expectLedgerOk(api, p);
  });

  it("a batch of purchases evaluates in order: visits and caps carry over within the batch", async () => {
    const p = await api.program();
    const m = await api.member(p);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          conditions: [{ type: "first_purchase", args: {} }],
          actions: [{ type: "fixed_bonus", args: { points: 100 } }],
        },
      ]),
    );
    const at = api.clock.now().toISOString();
    const response = await api.call("POST", `${base(p)}/transactions/batch`, {
      body: {
        transactions: [1, 2].map((index) => ({
          externalId: `B-${index}`,
          storeId: "S1",
          channel: "pos",
          occurredAt: at,
          currency: "IDR",
          total: "100000",
          member: { id: m },
        })),
      },
    });
    expect(response.status).toBe(200);
    const points = (response.body.results as Json[]).map(
      (item) => (item.result as Json).pointsEarned,
    );
    expect(points).toEqual([110, 10]);
  });

  it("a campaign that only an earlier purchase of the batch makes match still reads its caps and budget", async () => {
    const p = await api.program();
    const m = await api.member(p);
    // The second visit matches only once the first purchase of the same batch is counted.
    await createCampaign(
      api,
      p,
      campaignBody(
        [
          {
            conditions: [{ type: "nth_visit", args: { n: 2, windowDays: 30, mode: "at_least" } }],
            actions: [{ type: "fixed_bonus", args: { points: 40 } }],
          },
        ],
        { caps: { perMemberPerCampaign: 60 }, budgetPoints: 1000 },
      ),
    );
    const at = api.clock.now().toISOString();
    const batch = (ids: number[]) =>
      api.call("POST", `${base(p)}/transactions/batch`, {
        body: {
          transactions: ids.map((index) => ({
            externalId: `V-${index}`,
            storeId: "S1",
            channel: "pos",
            occurredAt: at,
            currency: "IDR",
            total: "100000",
            member: { id: m },
          })),
        },
      });
    const points = async (ids: number[]) => {
      const response = await batch(ids);
      expect(response.status).toBe(200);
      return (response.body.results as Json[]).map((item) => (item.result as Json).pointsEarned);
    };
    // 40 from the budget on the second visit, then the cap of 60 leaves 20, then nothing.
    expect(await points([1, 2])).toEqual([10, 50]);
    expect(await points([3, 4])).toEqual([30, 10]);
    const campaigns = await api.call("GET", `${base(p)}/campaigns`);
    expect((campaigns.body.data as Json[])[0]?.budgetUsedPoints).toBe(60);
    await expectLedgerOk(api, p);
  });

  it("preview writes nothing and gives what the purchase then earns; member-less mode too", async () => {
    const p = await api.program();
    const m = await api.member(p);
    await createCampaign(
      api,
      p,
      campaignBody([
        {
          conditions: [{ type: "channel", args: { channels: ["pos"] } }],
          actions: [{ type: "points_per_amount", args: { points: 1, per: "5000" } }],
        },
        {
          conditions: [{ type: "first_purchase", args: {} }],
          actions: [{ type: "fixed_bonus", args: { points: 50 } }],
        },
      ]),
    );
    const body = {
      externalId: "P-1",
      storeId: "S1",
      channel: "pos",
      occurredAt: api.clock.now().toISOString(),
      currency: "IDR",
      total: "100000",
      member: { id: m },
    };
    const preview = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(p)}/transactions/preview`, {
        body,
        headers: { "idempotency-key": "pv-1" },
      }),
    );
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.pointsEarned).toBe(10 + 20 + 50);
    const { member: _member, ...anonymous } = body;
    const estimate = await api.call("POST", `${base(p)}/transactions/preview`, { body: anonymous });
    expect(estimate.body).toMatchObject({ memberId: null, pointsEarned: 30 });
    const rules = (estimate.body.campaigns as Json[])[0]?.rules as Json[];
    expect(rules[1]).toMatchObject({
      matched: false,
      failed: { index: 0, type: "first_purchase", reason: "no member" },
    });
    const earn = await buy(api, p, "P-1", { member: { id: m } });
    expect(earn.pointsEarned).toBe(preview.body.pointsEarned);
    expect(earn.breakdown).toEqual(preview.body.breakdown);
  });

  it("preview refuses bad input like a purchase does", async () => {
    const p = await api.program();
    const bad = await api.call("POST", `${base(p)}/transactions/preview`, {
      body: {
        externalId: "P",
        storeId: "S1",
        channel: "pos",
        occurredAt: api.clock.now().toISOString(),
        currency: "USD",
        total: "1",
      },
    });
    expectError(bad, 422, "currency_mismatch");
    const missing = await api.call("POST", `${base(p)}/transactions/preview`, {
      body: {
        externalId: "P",
        storeId: "S1",
        channel: "pos",
        occurredAt: api.clock.now().toISOString(),
        currency: "IDR",
        total: "1",
        member: { id: "mbr_nope" },
      },
    });
    expectError(missing, 404, "member_not_found");
  });

  it("activities: built-in and custom types earn bonus points, idempotent by natural key", async () => {
    const p = await api.program();
    const m = await api.member(p);
    const custom = await api.call("POST", `${base(p)}/activity-types`, {
      body: { code: "bring_own_bag", name: "Brought own bag" },
    });
    expect(custom.status).toBe(201);
    await createCampaign(
      api,
      p,
      campaignBody(
        [
          {
            id: "review",
            trigger: "review_written",
            actions: [{ type: "fixed_bonus", args: { points: 50 } }],
          },
          {
            id: "five",
            trigger: "review_written",
            conditions: [{ type: "activity_attribute", args: { name: "rating", values: [5] } }],
            actions: [{ type: "fixed_bonus", args: { points: 25 } }],
          },
          {
            id: "bag",
            trigger: "bring_own_bag",
            actions: [{ type: "fixed_bonus", args: { points: 5 } }],
          },
        ],
        { caps: { perMemberPerDay: 60 } },
      ),
    );
    const body = {
      memberId: m,
      type: "review_written",
      externalId: "rv-1",
      occurredAt: api.clock.now().toISOString(),
      attributes: [{ name: "rating", value: 5 }],
    };
    const first = await api.call("POST", `${base(p)}/activities`, { body });
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.body).toMatchObject({ pointsEarned: 60, replayed: false });
    expect((first.body.breakdown as Json[]).map((item) => [item.ruleId, item.points])).toEqual([
      ["review", 50],
      ["five", 10],
    ]);
    const again = await api.call("POST", `${base(p)}/activities`, { body });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ activityId: first.body.activityId, replayed: true });
    const changed = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(p)}/activities`, { body: { ...body, attributes: [] } }),
    );
    expectError(changed, 409, "duplicate_activity");
    const bag = await api.call("POST", `${base(p)}/activities`, {
      body: {
        memberId: m,
        type: "bring_own_bag",
        externalId: "b-1",
        occurredAt: api.clock.now().toISOString(),
      },
    });
    expect(bag.body.pointsEarned).toBe(0);
    expect(bag.body.breakdown).toEqual([]);
    const unknown = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(p)}/activities`, { body: { ...body, type: "nope" } }),
    );
    expectError(unknown, 404, "activity_type_not_found");
    expect((await balanceOf(api, p, m)).available).toBe(60);
    const history = await api.call("GET", `${base(p)}/members/${m}/history`);
    expect((history.body.data as Json[])[0]).toMatchObject({ kind: "bonus" });
    await expectLedgerOk(api, p);
  });

  it("signup and profile_completed fire automatically; birthday fires from the daily job once", async () => {
    const p = await api.program();
    await createCampaign(
      api,
      p,
      campaignBody([
        { trigger: "signup", actions: [{ type: "fixed_bonus", args: { points: 100 } }] },
        { trigger: "profile_completed", actions: [{ type: "fixed_bonus", args: { points: 20 } }] },
        { trigger: "birthday", actions: [{ type: "fixed_bonus", args: { points: 500 } }] },
      ]),
    );
    const m = await api.member(p, { birthday: "1990-03-07" });
    expect((await balanceOf(api, p, m)).available).toBe(100);
    const profile = { name: "Sari", city: "Bandung", gender: "female", ageBand: "25-34" };
    expect((await api.call("PATCH", `${base(p)}/members/${m}`, { body: profile })).status).toBe(
      200,
    );
    expect((await balanceOf(api, p, m)).available).toBe(120);
    expect(
      (await api.call("PATCH", `${base(p)}/members/${m}`, { body: { city: "Bogor" } })).status,
    ).toBe(200);
    expect((await balanceOf(api, p, m)).available).toBe(120);
    const report = await runJobsOnce(api.ctx);
    expect(report.birthdayActivities).toBe(1);
    expect((await runJobsOnce(api.ctx)).birthdayActivities).toBe(0);
    expect((await balanceOf(api, p, m)).available).toBe(620);
    await expectLedgerOk(api, p);
  });
});
