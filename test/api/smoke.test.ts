import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, purchase, type TestApi } from "../harness.ts";

describe("points card flow over HTTP", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(() => api.close());

  it("enrols by phone, earns on a purchase, redeems and refunds", async () => {
    const programId = await api.program({ returnsWindowDays: 0 });
    const pos = await api.key(programId, "pos");
    const enrol = await api.call("POST", `/v1/programs/${programId}/members`, {
      key: pos,
      body: { phone: "0812-3456-7890", consents: { terms: true } },
    });
    expect(enrol.status).toBe(201);
    expect(enrol.body.phone).toBe("+6281234567890");

    const earn = await api.call("POST", `/v1/programs/${programId}/transactions`, {
      key: pos,
      body: purchase("R-1", { total: "250000", member: { phone: "6281234567890" } }),
    });
    expect(earn.status).toBe(201);
    expect(earn.body.pointsEarned).toBe(25);
    expect(earn.body.balance).toEqual({ pending: 0, available: 25, held: 0 });

    const memberId = enrol.body.id as string;
    const spend = await api.call(
      "POST",
      `/v1/programs/${programId}/members/${memberId}/redemptions`,
      {
        key: pos,
        body: { points: 10 },
      },
    );
    expect(spend.status).toBe(201);
    expect(spend.body.balance).toMatchObject({ available: 15 });

    const refund = await api.call("POST", `/v1/programs/${programId}/refunds`, {
      key: pos,
      body: {
        externalId: "F-1",
        transaction: { storeId: "S1", externalId: "R-1" },
        amount: "250000",
      },
    });
    expect(refund.status).toBe(201);
    expect(refund.body.pointsReversed).toBe(25);
    expect(refund.body.balance).toMatchObject({ available: -10 });

    const verify = await api.call("GET", `/v1/programs/${programId}/ledger/verify`);
    expect(verify.body.ok).toBe(true);
  });
});
