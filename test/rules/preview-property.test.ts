import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, type TestApi } from "../harness.ts";
import { base, campaignBody, createCampaign, expectLedgerOk } from "./support.ts";

type Json = Record<string, unknown>;

const conditionArb = fc.oneof(
  fc.constant({ type: "channel", args: { channels: ["pos", "app"] } }),
  fc.constant({ type: "category_in_basket", args: { values: ["kopi", "susu"] } }),
  fc.constant({ type: "brand_in_basket", args: { values: ["Kapal"] } }),
  fc.constant({ type: "sku_in_basket", args: { values: ["A", "C"] } }),
  fc
    .integer({ min: 1, max: 300 })
    .map((amount) => ({ type: "basket_total_at_least", args: { amount: `${amount}000` } })),
  fc
    .integer({ min: 1, max: 6 })
    .map((quantity) => ({ type: "item_quantity_at_least", args: { quantity } })),
  fc.constant({ type: "day_of_week", args: { days: [6, 7] } }),
  fc.constant({ type: "member_tag", args: { tags: ["vip"] } }),
  fc.constant({ type: "first_purchase", args: {} }),
  fc.constant({ type: "birthday_period", args: { period: "month" } }),
  fc
    .integer({ min: 1, max: 3 })
    .map((n) => ({ type: "nth_visit", args: { n, windowDays: 30, mode: "at_least" } })),
);
const actionArb = fc.oneof(
  fc.integer({ min: 1, max: 500 }).map((points) => ({ type: "fixed_bonus", args: { points } })),
  fc.integer({ min: 100, max: 400 }).map((percent) => ({ type: "multiplier", args: { percent } })),
  fc.integer({ min: 1, max: 20 }).map((points) => ({ type: "points_per_item", args: { points } })),
  fc
    .record({
      points: fc.integer({ min: 1, max: 5 }),
      scope: fc.constantFrom("basket", "matching_lines"),
    })
    .map((args) => ({ type: "points_per_amount", args: { ...args, per: "7000" } })),
);
const campaignArb = fc.record({
  rules: fc.array(
    fc.record({
      conditions: fc.array(conditionArb, { maxLength: 3 }),
      actions: fc.array(actionArb, { minLength: 1, maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  stacking: fc.constantFrom("stack", "first_match_wins", "best_for_member"),
  exclusive: fc.boolean(),
  priority: fc.integer({ min: 0, max: 3 }),
  caps: fc.record(
    {
      perTransaction: fc.integer({ min: 1, max: 400 }),
      perMemberPerDay: fc.integer({ min: 1, max: 600 }),
    },
    { requiredKeys: [] },
  ),
  budgetPoints: fc.option(fc.integer({ min: 1, max: 800 }), { nil: undefined }),
});
const lineArb = fc.record({
  sku: fc.constantFrom("A", "B", "C"),
  category: fc.constantFrom("kopi", "susu", "beras"),
  brand: fc.constantFrom("Kapal", "Lain"),
  kind: fc.constantFrom("product", "product", "reward"),
  quantity: fc.integer({ min: 1, max: 5 }),
  unitPrice: fc.integer({ min: 1, max: 80 }).map((thousands) => `${thousands}000`),
});

describe("preview equals the real earn", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi("2026-03-07T03:00:00Z");
  });
  afterAll(() => api.close());

  it("for random campaign sets, members and baskets", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(campaignArb, { minLength: 1, maxLength: 4 }),
        fc.array(lineArb, { minLength: 1, maxLength: 6 }),
        fc.record({
          vip: fc.boolean(),
          birthdayMonth: fc.constantFrom("03", "07"),
          before: fc.integer({ min: 0, max: 2 }),
        }),
        fc.constantFrom("pos", "online", "app"),
        async (campaigns, lines, who, channel) => {
          run += 1;
          const p = await api.program();
          const m = await api.member(p, {
            tags: who.vip ? ["vip"] : [],
            birthday: `1991-${who.birthdayMonth}-20`,
          });
          for (const campaign of campaigns) {
            const { rules, budgetPoints, ...fields } = campaign;
            await createCampaign(
              api,
              p,
              campaignBody(rules, { ...fields, ...(budgetPoints && { budgetPoints }) }),
            );
          }
          const purchase = (externalId: string) => ({
            externalId,
            storeId: "S1",
            channel,
            occurredAt: api.clock.now().toISOString(),
            currency: "IDR",
            total: String(
              lines.reduce((sum, line) => sum + line.quantity * Number(line.unitPrice), 0),
            ),
            member: { id: m },
            lines,
          });
          for (let index = 0; index < who.before; index++) {
            const earlier = await api.call("POST", `${base(p)}/transactions`, {
              body: purchase(`E-${run}-${index}`),
            });
            expect(earlier.status).toBe(201);
          }
          const preview = await api.call("POST", `${base(p)}/transactions/preview`, {
            body: purchase(`R-${run}`),
          });
          expect(preview.status, JSON.stringify(preview.body)).toBe(200);
          const earn = await api.call("POST", `${base(p)}/transactions`, {
            body: purchase(`R-${run}`),
          });
          expect(earn.status).toBe(201);
          expect(earn.body.pointsEarned).toBe(preview.body.pointsEarned);
          expect(earn.body.breakdown).toEqual(preview.body.breakdown);
          const view = await api.call("GET", `${base(p)}/transactions/${earn.body.transactionId}`);
          expect((view.body.lines as Json[]).map((line) => line.pointsEarned)).toEqual(
            (preview.body.lines as Json[]).map((line) => line.points),
          );
          await expectLedgerOk(api, p);
        },
      ),
      { numRuns: 25 },
    );
  });
});
