import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, purchase, type TestApi, testDriver } from "../harness.ts";

const purchaseCount = 500;

/**
 * A full batch of distinct receipts once made PGlite abort (WASM `Aborted()`, or "bad buffer ID")
 * when the transaction committed: the receipt lookup was one `(store_id, external_id) in (…)`
 * list, and past about 280 pairs PGlite's planner corrupted its own state.
 */
describe(`a batch of ${purchaseCount} purchases for as many members (${testDriver})`, {
  timeout: 180_000,
}, () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(() => api.close());

  it("records every purchase with its lines, once", async () => {
    const programId = await api.program();
    const members: string[] = [];
    for (let i = 0; i < purchaseCount; i++) members.push(await api.member(programId));
    const at = api.clock.now().toISOString();
    const transactions = members.map((memberId, index) =>
      purchase(`LARGE-${index}`, {
        member: { id: memberId },
        occurredAt: at,
        total: "100000",
        lines: [
          { sku: "RICE-5KG", quantity: 1, unitPrice: "50000" },
          { sku: "OIL-1L", quantity: 2, unitPrice: "25000" },
        ],
      }),
    );
    const url = `/v1/programs/${programId}/transactions/batch`;
    const response = await api.call("POST", url, { body: { transactions } });
    expect(response.status, JSON.stringify(response.body).slice(0, 500)).toBe(200);
    expect(response.body.created).toBe(purchaseCount);

    const again = await api.call("POST", url, { body: { transactions } });
    expect(again.status).toBe(200);
    expect(again.body.replayed).toBe(purchaseCount);

    const lines = await api.ctx.db.kysely
      .selectFrom("transaction_lines")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("program_id", "=", programId)
      .executeTakeFirstOrThrow();
    expect(Number(lines.n)).toBe(2 * purchaseCount);
    const verify = await api.call("GET", `/v1/programs/${programId}/ledger/verify`);
    expect(verify.body.ok).toBe(true);
  });
});
