import { describe, expect, it } from "vitest";
import {
  activityOf,
  ladderFrom,
  ladderInputSchema,
  metricValue,
  qualifyingTier,
  reviewWindow,
  type TierLadder,
  tierTimeline,
  upgradeWindow,
  windowStart,
} from "../../src/modules/tiers/index.ts";

/* The pure functions the live paths and the what-if simulation share. */

function ladder(overrides: Record<string, unknown> = {}): TierLadder {
  const input = ladderInputSchema.parse({
    qualification: { metric: "spend", window: { kind: "rolling_months", months: 3 } },
    gracePeriodDays: 5,
    tiers: [
      { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 500 },
      { code: "silver", rank: 1, names: { id: "Perak", en: "Silver" }, threshold: 100 },
      { code: "platinum", rank: 3, names: { id: "Platina", en: "Platinum" }, threshold: 1000 },
    ],
    ...overrides,
  });
  return ladderFrom(input, { version: 1, timezone: "Asia/Jakarta", idOf: (code) => code });
}

const at = (iso: string) => new Date(iso);
const buy = (iso: string, spendMinor: number) =>
  activityOf({
    occurredAt: at(iso),
    recordedAt: at(iso),
    totalMinor: spendMinor,
    pointsEarned: 0,
    refunds: [],
  });

describe("tier qualification (pure)", () => {
  it("finds the highest tier a metric reaches", () => {
    const tiers = ladder();
    expect(tiers.tiers.map((tier) => tier.code)).toEqual(["silver", "gold", "platinum"]);
    expect(qualifyingTier(tiers, 99)).toBeNull();
    expect(qualifyingTier(tiers, 100)?.code).toBe("silver");
    expect(qualifyingTier(tiers, 999)?.code).toBe("gold");
    expect(qualifyingTier(tiers, 5_000)?.code).toBe("platinum");
  });

  it("starts a calendar-year window at midnight of 1 January in the program's timezone", () => {
    const calendar = ladder({
      qualification: { metric: "spend", window: { kind: "calendar_year" } },
    });
    // 1 January 2027 00:30 in Jakarta is still 31 December in UTC.
    expect(windowStart(calendar, at("2026-12-31T17:30:00Z"))).toEqual(at("2026-12-31T17:00:00Z"));
    expect(windowStart(calendar, at("2026-12-31T16:30:00Z"))).toEqual(at("2025-12-31T17:00:00Z"));
    // The review of the period ending at that midnight counts 2026, plus nothing of grace here.
    expect(reviewWindow(calendar, at("2026-12-31T17:00:00Z")).from).toEqual(
      at("2025-12-31T17:00:00Z"),
    );
  });

  it("takes refunds back from the purchase's window once they are recorded", () => {
    const tiers = ladder({
      qualification: { metric: "visits", window: { kind: "calendar_year" } },
    });
    const items = activityOf({
      occurredAt: at("2026-05-01T00:00:00Z"),
      recordedAt: at("2026-05-01T00:00:00Z"),
      totalMinor: 1_000,
      pointsEarned: 10,
      refunds: [
        { recordedAt: at("2026-06-01T00:00:00Z"), amountMinor: 400, points: 4 },
        { recordedAt: at("2026-07-01T00:00:00Z"), amountMinor: 600, points: 6 },
      ],
    });
    const window = (knownAt: string) => ({ ...upgradeWindow(tiers, at(knownAt)) });
    expect(metricValue(tiers, items, window("2026-06-15T00:00:00Z"))).toBe(1);
    // The refund that leaves nothing of the purchase takes its visit back.
    expect(metricValue(tiers, items, window("2026-07-15T00:00:00Z"))).toBe(0);
  });

  it("replays upgrades at once and downgrades one level per period after the grace", () => {
    const tiers = ladder();
    const activity = [...buy("2026-01-10T00:00:00Z", 600), ...buy("2026-01-20T00:00:00Z", 600)];
    const { state, changes } = tierTimeline(tiers, activity, { until: at("2026-12-31T00:00:00Z") });
    expect(
      changes.map((change) => [change.toTierId, change.reason, change.at.toISOString()]),
    ).toEqual([
      ["gold", "threshold_crossed", "2026-01-10T00:00:00.000Z"],
      ["platinum", "threshold_crossed", "2026-01-20T00:00:00.000Z"],
      // Period ends 20 April; the window [20 Jan, 25 Apr) still holds the second purchase: 600.
      ["gold", "period_end_downgrade", "2026-04-25T00:00:00.000Z"],
      ["silver", "period_end_downgrade", "2026-07-25T00:00:00.000Z"],
      // Below the lowest tier (not automatic): no tier, and nothing more to review.
      [null, "period_end_downgrade", "2026-10-25T00:00:00.000Z"],
    ]);
    expect(state).toEqual({ tierId: null, since: at("2026-10-25T00:00:00Z"), periodEnd: null });
  });

  it("keeps the automatic lowest tier without reviews", () => {
    const tiers = ladder({
      lowestTierAutomatic: true,
      tiers: [
        { code: "basic", rank: 1, names: { id: "Dasar", en: "Basic" }, threshold: 0 },
        { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 500 },
      ],
    });
    const { state, changes } = tierTimeline(tiers, buy("2026-01-10T00:00:00Z", 500), {
      until: at("2027-06-01T00:00:00Z"),
    });
    expect(changes.map((change) => [change.fromTierId, change.toTierId])).toEqual([
      ["basic", "gold"],
      ["gold", "basic"],
    ]);
    expect(state.periodEnd).toBeNull();
  });
});
