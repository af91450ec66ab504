import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateDefinition } from "../../src/modules/rules/definition.ts";
import {
  type CampaignRecord,
  capPeriodKeys,
  compileCampaigns,
  type EvaluationInput,
  evaluate,
  type MemberFacts,
} from "../../src/modules/rules/evaluate.ts";
import { localTime } from "../../src/modules/rules/time.ts";

/*
 * evaluate() is pure: these tests call it directly, with no database.
 */

const triggers = new Set(["purchase", "review_written"]);
let ruleSeq = 0;
function campaign(id: string, raw: Record<string, unknown>): CampaignRecord {
  const definition = validateDefinition(
    { name: id, startsAt: "2026-01-01T00:00:00Z", ...raw },
    triggers,
    () => `r${++ruleSeq}`,
  );
  return { id, programId: "prg", currency: "IDR", status: "active", version: 1, definition };
}

const member: MemberFacts = {
  memberId: "mbr_1",
  tags: ["vip"],
  tierCode: "gold",
  tierMultiplierPercent: 150,
  birthday: "1990-03-09",
  city: "Jakarta",
  ageBand: "25-34",
  hasPurchasedBefore: true,
  recentPurchasesMs: [],
};

function input(fields: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    trigger: "purchase",
    // Saturday 2026-03-07, 10:30 in Jakarta (UTC+7).
    occurredAt: new Date("2026-03-07T03:30:00Z"),
    timezone: "Asia/Jakarta",
    currency: "IDR",
    channel: "pos",
    storeId: "S1",
    totalMinor: 10_000_000,
    lines: [
      {
        lineNo: 1,
        sku: "A",
        category: "kopi",
        brand: "Kapal",
        kind: "product",
        quantityMilli: 2500,
        amountMinor: 2_500_000,
      },
      {
        lineNo: 2,
        sku: "B",
        category: "susu",
        brand: null,
        kind: "product",
        quantityMilli: 1000,
        amountMinor: 7_500_000,
      },
    ],
    basePoints: 10,
    baseDescription: "base",
    member,
    ...fields,
  };
}

const bonus = (points: number) => ({ type: "fixed_bonus", args: { points } });

describe("evaluate", () => {
  it("rounds every action down and explains base, tier and campaign lines", () => {
    const campaigns = compileCampaigns([
      campaign("c1", {
        rules: [
          {
            id: "amount",
            actions: [{ type: "points_per_amount", args: { points: 1, per: "30000" } }],
          },
          {
            id: "kopi",
            conditions: [{ type: "category_in_basket", args: { values: ["kopi"] } }],
            actions: [
              { type: "points_per_item", args: { points: 3 } },
              {
                type: "points_per_amount",
                args: { points: 1, per: "10000", scope: "matching_lines" },
              },
            ],
          },
          { id: "double", actions: [{ type: "multiplier", args: { percent: 175 } }] },
        ],
      }),
    ]);
    const result = evaluate(input(), campaigns);
    // IDR has 2 decimals. Base 10, tier floor(10 × 0.5) = 5, floor(100000 / 30000) = 3,
    // 2 whole units × 3 + floor(25000 / 10000) = 8, floor(10 × 0.75) = 7.
    expect(result.breakdown.map((line) => [line.source, line.ruleId ?? null, line.points])).toEqual(
      [
        ["base", null, 10],
        ["tier", null, 5],
        ["campaign", "amount", 3],
        ["campaign", "kopi", 8],
        ["campaign", "double", 7],
      ],
    );
    expect(result.points).toBe(33);
    // Lines share what can be split in whole points; the rest stays with the receipt.
    expect(result.linePoints.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(result.points);
    expect(result.linePoints[0]).toBeGreaterThanOrEqual(8);
  });

  it("tests time in the program's timezone: weekday, time of day, date range, birthday", () => {
    const check = (conditions: unknown[], at: string, facts: MemberFacts | null = member) =>
      evaluate(
        input({ occurredAt: new Date(at), member: facts }),
        compileCampaigns([campaign("c", { rules: [{ conditions, actions: [bonus(1)] }] })]),
      ).campaigns[0]?.matched;
    // 2026-03-06T18:00Z is Saturday 01:00 in Jakarta, still Friday in UTC.
    expect(check([{ type: "day_of_week", args: { days: [6] } }], "2026-03-06T18:00:00Z")).toBe(
      true,
    );
    expect(
      check(
        [{ type: "time_of_day", args: { from: "00:30", to: "01:30" } }],
        "2026-03-06T18:00:00Z",
      ),
    ).toBe(true);
    expect(
      check(
        [{ type: "time_of_day", args: { from: "01:00", to: "01:01" } }],
        "2026-03-06T18:01:00Z",
      ),
    ).toBe(false);
    expect(
      check(
        [{ type: "date_range", args: { from: "2026-03-07", to: "2026-03-07" } }],
        "2026-03-06T18:00:00Z",
      ),
    ).toBe(true);
    // Birthday 9 March: same ISO week as Saturday 7 March? No, 9 March 2026 is the next Monday.
    expect(
      check([{ type: "birthday_period", args: { period: "week" } }], "2026-03-07T03:00:00Z"),
    ).toBe(false);
    expect(
      check([{ type: "birthday_period", args: { period: "week" } }], "2026-03-10T03:00:00Z"),
    ).toBe(true);
    expect(
      check([{ type: "birthday_period", args: { period: "day" } }], "2026-03-08T17:30:00Z"),
    ).toBe(true);
    expect(
      check([{ type: "birthday_period", args: { period: "month" } }], "2026-03-31T03:00:00Z"),
    ).toBe(true);
    expect(
      check([{ type: "birthday_period", args: { period: "month" } }], "2026-03-31T03:00:00Z", null),
    ).toBe(false);
  });

  it("says which condition failed and why", () => {
    const result = evaluate(
      input({ channel: "online" }),
      compileCampaigns([
        campaign("c", {
          rules: [
            {
              id: "r",
              conditions: [
                { type: "member_tag", args: { tags: ["vip"] } },
                { type: "channel", args: { channels: ["pos"] } },
              ],
              actions: [bonus(5)],
            },
          ],
        }),
      ]),
    );
    expect(result.campaigns[0]).toMatchObject({
      matched: false,
      applied: false,
      reason: "no rule matched",
      rules: [
        {
          ruleId: "r",
          matched: false,
          failed: { index: 1, type: "channel", reason: "channel online not in the list" },
        },
      ],
    });
  });

  it("ignores rules of other triggers and campaigns outside their schedule", () => {
    const campaigns = compileCampaigns([
      campaign("c1", { rules: [{ trigger: "review_written", actions: [bonus(50)] }] }),
      campaign("c2", { endsAt: "2026-03-01T00:00:00Z", rules: [{ actions: [bonus(5)] }] }),
    ]);
    const purchase = evaluate(input(), campaigns);
    expect(purchase.points).toBe(15);
    expect(purchase.campaigns.map((item) => [item.campaignId, item.reason])).toEqual([
      ["c2", "outside the campaign's schedule"],
    ]);
    const review = evaluate(
      input({ trigger: "review_written", basePoints: 0, lines: [], totalMinor: 0 }),
      campaigns,
    );
    expect(review.points).toBe(50);
    expect(review.breakdown).toEqual([expect.objectContaining({ source: "campaign", points: 50 })]);
  });

  it("property: caps and budgets are never exceeded over any sequence of events", () => {
    const capsArb = fc.record(
      {
        perTransaction: fc.integer({ min: 1, max: 500 }),
        perMemberPerDay: fc.integer({ min: 1, max: 800 }),
        perMemberPerWeek: fc.integer({ min: 1, max: 1500 }),
        perMemberPerMonth: fc.integer({ min: 1, max: 3000 }),
        perMemberPerCampaign: fc.integer({ min: 1, max: 5000 }),
      },
      { requiredKeys: [] },
    );
    const campaignArb = fc.record({
      caps: capsArb,
      budgetPoints: fc.option(fc.integer({ min: 1, max: 4000 }), { nil: null }),
      bonus: fc.integer({ min: 1, max: 700 }),
      percent: fc.integer({ min: 100, max: 400 }),
      stacking: fc.constantFrom("stack", "first_match_wins", "best_for_member"),
      exclusive: fc.boolean(),
    });
    const eventArb = fc.record({
      member: fc.integer({ min: 0, max: 2 }),
      hoursLater: fc.integer({ min: 0, max: 60 }),
      totalMinor: fc.integer({ min: 0, max: 5_000_000 }),
    });
    fc.assert(
      fc.property(
        fc.array(campaignArb, { minLength: 1, maxLength: 4 }),
        fc.array(eventArb, { maxLength: 40 }),
        (specs, events) => {
          const campaigns = compileCampaigns(
            specs.map((spec, index) =>
              campaign(`c${index}`, {
                caps: spec.caps,
                budgetPoints: spec.budgetPoints,
                stacking: spec.stacking,
                exclusive: spec.exclusive,
                rules: [
                  {
                    actions: [
                      bonus(spec.bonus),
                      { type: "multiplier", args: { percent: spec.percent } },
                    ],
                  },
                ],
              }),
            ),
          );
          // The counters the engine's callers keep, here in memory.
          const usage = new Map<string, Map<string, number>>();
          const budget = new Map(
            campaigns.flatMap((c) =>
              c.budgetPoints === null ? [] : [[c.id, c.budgetPoints] as const],
            ),
          );
          const given = new Map<string, number>();
          let at = Date.parse("2026-03-01T00:00:00Z");
          for (const event of events) {
            at += event.hoursLater * 3_600_000;
            const memberId = `m${event.member}`;
            const used = usage.get(memberId) ?? new Map<string, number>();
            usage.set(memberId, used);
            const result = evaluate(
              input({
                occurredAt: new Date(at),
                totalMinor: event.totalMinor,
                lines: [],
                basePoints: Math.floor(event.totalMinor / 10_000),
                member: { ...member, memberId },
                memberUsage: used,
                budgetRemaining: budget,
              }),
              campaigns,
            );
            const keys = capPeriodKeys(localTime(new Date(at), "Asia/Jakarta"));
            for (const { campaignId, points } of result.usage) {
              const spec = campaigns.find((c) => c.id === campaignId);
              expect(points).toBeGreaterThan(0);
              expect(points).toBeLessThanOrEqual(
                spec?.caps.perTransaction ?? Number.POSITIVE_INFINITY,
              );
              for (const [cap, key] of Object.entries(keys)) {
                const limit = spec?.caps[cap as keyof typeof keys];
                if (limit === undefined) continue;
                const after = (used.get(`${campaignId}|${key}`) ?? 0) + points;
                expect(after).toBeLessThanOrEqual(limit);
                used.set(`${campaignId}|${key}`, after);
              }
              if (budget.has(campaignId))
                budget.set(campaignId, (budget.get(campaignId) ?? 0) - points);
              given.set(campaignId, (given.get(campaignId) ?? 0) + points);
            }
            expect(result.points).toBe(
              result.breakdown.reduce((sum, line) => sum + line.points, 0),
            );
          }
          for (const c of campaigns) {
            if (c.budgetPoints !== null)
              expect(given.get(c.id) ?? 0).toBeLessThanOrEqual(c.budgetPoints);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
