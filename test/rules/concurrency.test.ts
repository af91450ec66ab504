import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, onPostgres, type TestApi } from "../harness.ts";
import { base, campaignBody, createCampaign, expectLedgerOk } from "./support.ts";

type Json = Record<string, unknown>;

/*
 * A budget under real concurrency: PGlite runs one statement at a time, so this runs on
 * PostgreSQL only.
 */
describe.runIf(onPostgres)("campaign budget under concurrency", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi("2026-03-07T03:00:00Z");
  });
  afterAll(() => api.close());

  it("200 parallel qualifying purchases of different members issue exactly the 1,000-point budget", async () => {
    const p = await api.program();
    const campaign = await createCampaign(
      api,
      p,
      campaignBody([{ actions: [{ type: "fixed_bonus", args: { points: 7 } }] }], {
        budgetPoints: 1000,
      }),
    );
    const members: string[] = [];
    for (let index = 0; index < 200; index++) members.push(await api.member(p));
    const at = api.clock.now().toISOString();
    const responses = await Promise.all(
      members.map((memberId, index) =>
        api.call("POST", `${base(p)}/transactions`, {
          body: {
            externalId: `R-${index}`,
            storeId: "S1",
            channel: "pos",
            occurredAt: at,
            currency: "IDR",
            total: "100000",
            member: { id: memberId },
          },
        }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(members.map(() => 201));
    const campaignPoints = responses.reduce((sum, response) => {
      const lines = response.body.breakdown as Json[];
      return (
        sum +
        lines.reduce(
          (inner, line) => inner + (line.campaignId === campaign.id ? (line.points as number) : 0),
          0,
        )
      );
    }, 0);
    expect(campaignPoints).toBe(1000);
    // 142 full awards, one partial of 6, the rest cut by the budget.
    const partial = responses.filter((response) =>
      (response.body.breakdown as Json[]).some(
        (line) =>
          line.campaignId === campaign.id &&
          (line.points as number) > 0 &&
          (line.points as number) < 7,
      ),
    );
    expect(partial).toHaveLength(1);
    const view = await api.call("GET", `${base(p)}/campaigns/${campaign.id}`);
    expect(view.body).toMatchObject({ budgetUsedPoints: 1000 });
    const issued = responses.reduce(
      (sum, response) => sum + (response.body.pointsEarned as number),
      0,
    );
    expect(issued).toBe(200 * 10 + 1000);
    await expectLedgerOk(api, p);
  });
});
