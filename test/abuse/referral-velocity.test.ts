import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";

describe("referral velocity", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await createTestApi("2026-03-02T03:00:00Z");
  });
  afterAll(() => api.close());

  it("a referrer over the limit does not collect the bonus; the referee still does", async () => {
    const programId = await api.program({ returnsWindowDays: 14 });
    const base = `/v1/programs/${programId}`;
    const settings = await api.call("PUT", `${base}/referral-settings`, {
      body: {
        enabled: true,
        referrerPoints: 500,
        refereePoints: 200,
        qualifyingMinimum: "100000",
        shareBaseUrl: "https://tokomaju.example/join",
      },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
    const rules = await api.call("PUT", `${base}/velocity-rules`, {
      body: { rules: [{ action: "referral", countMax: 1, window: { amount: 30, unit: "days" } }] },
    });
    expect(rules.status).toBe(200);

    const referrerId = await api.member(programId);
    const code = (await api.call("GET", `${base}/members/${referrerId}/referral`)).body
      .code as string;
    const referees = [
      await api.member(programId, { referralCode: code }),
      await api.member(programId, { referralCode: code }),
    ];
    for (const [index, refereeId] of referees.entries()) {
      const bought = await api.call("POST", `${base}/transactions`, {
        body: purchase(`R-${index}`, {
          member: { id: refereeId },
          total: "150000",
          occurredAt: api.clock.now().toISOString(),
        }),
      });
      expect(bought.status).toBe(201);
    }
    api.clock.advanceDays(15);
    await runJobsOnce(api.ctx);

    const earned = async (memberId: string) =>
      (await api.call("GET", `${base}/members/${memberId}/balance`)).body.earnedTotal as number;
    expect(await earned(referrerId)).toBe(500);
    for (const refereeId of referees) expect(await earned(refereeId)).toBeGreaterThanOrEqual(200);
    const blocks = await api.call("GET", `${base}/velocity-blocks`);
    expect(blocks.body.data).toEqual([
      expect.objectContaining({
        memberId: referrerId,
        action: "referral",
        points: 500,
        countInWindow: 1,
      }),
    ]);
  });
});
