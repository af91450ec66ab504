import { sql } from "kysely";
import { expect } from "vitest";
import type { TestApi } from "../harness.ts";

/** Tables a write can touch; a refused request must leave every count as it was. */
export const writtenTables = [
  "programs",
  "api_keys",
  "members",
  "member_balances",
  "transactions",
  "transaction_lines",
  "journal_entries",
  "postings",
  "point_lots",
  "lot_movements",
  "refunds",
  "holds",
  "idempotency_keys",
  "outbox_events",
  "stores",
] as const;

export type RowCounts = Record<(typeof writtenTables)[number], number>;

/** Row counts of every written table, read in one statement so they are a consistent snapshot. */
export async function rowCounts(api: TestApi): Promise<RowCounts> {
  const columns = sql.join(
    writtenTables.map(
      (table) => sql`(select count(*) from ${sql.table(table)})::int as ${sql.ref(table)}`,
    ),
  );
  const result = await sql<RowCounts>`select ${columns}`.execute(api.ctx.db.kysely);
  const row = result.rows[0];
  if (!row) throw new Error("no counts");
  return row;
}

/** Runs `act` and asserts that no table gained or lost a row meanwhile. */
export async function expectNothingWritten<T>(api: TestApi, act: () => Promise<T>): Promise<T> {
  const before = await rowCounts(api);
  const result = await act();
  expect(await rowCounts(api)).toEqual(before);
  return result;
}

type Response = Awaited<ReturnType<TestApi["call"]>>;

/** Asserts the error envelope: status, stable code, and a request id that matches the header. */
export function expectError(response: Response, status: number, code: string): void {
  expect(
    { status: response.status, code: response.body.error?.code },
    JSON.stringify(response.body),
  ).toEqual({ status, code });
  const error = response.body.error;
  expect(error?.message).toEqual(expect.any(String));
  expect(error?.requestId).toMatch(/^req_[0-9a-z]{26}$/);
  expect(response.headers["x-request-id"]).toBe(error?.requestId);
}
