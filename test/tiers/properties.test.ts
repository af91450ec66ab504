import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getProgram } from "../../src/modules/programs/index.ts";
import {
  activityOf,
  initialState,
  loadLadder,
  reviewDueTiers,
  type TierLadder,
  tierTimeline,
} from "../../src/modules/tiers/index.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";

/*
 * After random purchases, refunds, time advances and job runs over HTTP, each member's stored
 * tier and history must equal a replay of the transactions and refunds with the pure functions
 * (the same steps the live paths take): qualification is recomputable from the data.
 */

const dayMs = 86_400_000;
const membersPerRun = 3;
/** Modest by default to keep the suite fast; raise TIER_PROPERTY_RUNS for a deeper search. */
const propertyRuns = Number(process.env.TIER_PROPERTY_RUNS ?? 15);

const thresholds = {
  spend: [30_000_000, 80_000_000, 150_000_000],
  points_earned: [30, 80, 150],
  visits: [2, 4, 6],
} as const;

const ladderArb = fc
  .record({
    metric: fc.constantFrom("spend" as const, "points_earned" as const, "visits" as const),
    window: fc.oneof(
      fc.record({
        kind: fc.constant("rolling_months" as const),
        months: fc.integer({ min: 1, max: 3 }),
      }),
      fc.constant({ kind: "calendar_year" as const }),
    ),
    gracePeriodDays: fc.integer({ min: 0, max: 20 }),
    lowestTierAutomatic: fc.boolean(),
  })
  .map(({ metric, window, gracePeriodDays, lowestTierAutomatic }) => ({
    qualification: { metric, window },
    gracePeriodDays,
    lowestTierAutomatic,
    tiers: [...(lowestTierAutomatic ? [0] : []), ...thresholds[metric]].map((threshold, index) => ({
      code: `t${index}`,
      rank: index + 1,
      names: { id: `T${index}`, en: `T${index}` },
      threshold,
    })),
  }));

type Command =
  | { kind: "buy"; member: number; rupiah: number; minutesBefore: number }
  | { kind: "refund"; purchase: number; share: number }
  | { kind: "advance"; days: number }
  | { kind: "jobs" };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("buy" as const),
      member: fc.integer({ min: 0, max: membersPerRun - 1 }),
      rupiah: fc.integer({ min: 1, max: 50 }).map((n) => n * 10_000),
      minutesBefore: fc.integer({ min: 0, max: 120 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("refund" as const),
      purchase: fc.nat(),
      share: fc.constantFrom(0.25, 0.5, 1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      days: fc.integer({ min: 1, max: 75 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "jobs" as const }) },
);

describe("tier properties", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi("2026-01-05T03:00:00Z");
  });
  afterAll(() => api.close());

  /** Replays each member's transactions and refunds and compares with what is stored. */
  async function expectStoredEqualsReplay(ladder: TierLadder, memberIds: string[]) {
    const db = api.ctx.db.kysely;
    for (const memberId of memberIds) {
      const transactions = await db
        .selectFrom("transactions")
        .select(["id", "occurred_at", "created_at", "total_minor", "points_earned"])
        .where("member_id", "=", memberId)
        .execute();
      const refunds = await db
        .selectFrom("refunds")
        .select([
          "transaction_id",
          "created_at",
          "amount_minor",
          "points_reversed",
          "points_forfeited",
          "points_already_expired",
        ])
        .where("transaction_id", "in", ["", ...transactions.map((row) => row.id)])
        .execute();
      const activity = transactions.flatMap((row) =>
        activityOf({
          occurredAt: row.occurred_at,
          recordedAt: row.created_at,
          totalMinor: row.total_minor,
          pointsEarned: row.points_earned,
          refunds: refunds
            .filter((refund) => refund.transaction_id === row.id)
            .map((refund) => ({
              recordedAt: refund.created_at,
              amountMinor: refund.amount_minor,
              points:
                refund.points_reversed + refund.points_forfeited + refund.points_already_expired,
            })),
        }),
      );
      const replay = tierTimeline(ladder, activity, { until: api.clock.now() });
      const stored = await db
        .selectFrom("member_tiers")
        .select(["tier_id", "period_end"])
        .where("member_id", "=", memberId)
        .executeTakeFirst();
      const state = stored
        ? { tierId: stored.tier_id, periodEnd: stored.period_end }
        : initialState(ladder);
      expect({ tierId: state.tierId, periodEnd: state.periodEnd }).toEqual({
        tierId: replay.state.tierId,
        periodEnd: replay.state.periodEnd,
      });
      const history = await db
        .selectFrom("tier_changes")
        .select(["from_tier_id", "to_tier_id", "reason", "created_at"])
        .where("member_id", "=", memberId)
        .orderBy("id")
        .execute();
      expect(
        history.map((row) => [row.from_tier_id, row.to_tier_id, row.reason, row.created_at]),
      ).toEqual(
        replay.changes.map((change) => [
          change.fromTierId,
          change.toTierId,
          change.reason,
          change.at,
        ]),
      );
    }
  }

  it("stores for every member the tier a replay of its purchases and refunds gives", async () => {
    await fc.assert(
      fc.asyncProperty(
        ladderArb,
        fc.array(commandArb, { minLength: 5, maxLength: 20 }),
        async (ladderInput, commands) => {
          api.clock.set("2026-01-05T03:00:00Z");
          const programId = await api.program({ returnsWindowDays: 0 });
          const saved = await api.call("PUT", `/v1/programs/${programId}/tier-ladder`, {
            body: ladderInput,
          });
          expect(saved.status, JSON.stringify(saved.body)).toBe(200);
          const program = await getProgram(api.ctx.db.kysely, programId);
          const ladder = (await loadLadder(api.ctx.db.kysely, program)) as TierLadder;
          const memberIds: string[] = [];
          for (let index = 0; index < membersPerRun; index++) {
            memberIds.push(await api.member(programId));
          }
          const purchases: { externalId: string; leftRupiah: number }[] = [];
          let receipt = 0;
          for (const command of commands) {
            receipt += 1;
            // Calls a second apart: what happens at one instant is seen together, in any order.
            api.clock.advance(1_000);
            if (command.kind === "buy") {
              const externalId = `P-${receipt}`;
              const occurredAt = new Date(
                api.clock.now().getTime() - command.minutesBefore * 60_000,
              );
              const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
                body: purchase(externalId, {
                  member: { id: memberIds[command.member] },
                  total: String(command.rupiah),
                  occurredAt: occurredAt.toISOString(),
                }),
              });
              expect(response.status, JSON.stringify(response.body)).toBe(201);
              purchases.push({ externalId, leftRupiah: command.rupiah });
            } else if (command.kind === "refund") {
              const target = purchases[command.purchase % Math.max(1, purchases.length)];
              if (!target || target.leftRupiah === 0) continue;
              const amount = Math.max(1, Math.round(target.leftRupiah * command.share));
              const response = await api.call("POST", `/v1/programs/${programId}/refunds`, {
                body: {
                  externalId: `R-${receipt}`,
                  transaction: { storeId: "S1", externalId: target.externalId },
                  amount: String(amount),
                },
              });
              expect(response.status, JSON.stringify(response.body)).toBe(201);
              target.leftRupiah -= amount;
            } else if (command.kind === "advance") {
              api.clock.advance(command.days * dayMs);
            } else {
              await reviewDueTiers(api.ctx);
              await expectStoredEqualsReplay(ladder, memberIds);
            }
          }
          await reviewDueTiers(api.ctx);
          await expectStoredEqualsReplay(ladder, memberIds);
        },
      ),
      { numRuns: propertyRuns },
    );
  }, 600_000);
});
