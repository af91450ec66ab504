import { expect } from "vitest";
import { expectNothingWritten } from "../api/support.ts";
import type { TestApi } from "../harness.ts";

type Json = Record<string, unknown>;

export const base = (programId: string) => `/v1/programs/${programId}`;

/** A campaign body with sensible defaults: starts long ago, never ends, one rule. */
export function campaignBody(rules: Json[], fields: Json = {}): Json {
  return { name: "Promo", startsAt: "2026-01-01T00:00:00Z", status: "active", rules, ...fields };
}

export async function createCampaign(api: TestApi, programId: string, body: Json): Promise<Json> {
  const response = await api.call("POST", `${base(programId)}/campaigns`, { body });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

export async function buy(
  api: TestApi,
  programId: string,
  externalId: string,
  fields: Json,
): Promise<Json & { pointsEarned: number; breakdown: Json[]; transactionId: string }> {
  const response = await api.call("POST", `${base(programId)}/transactions`, {
    body: {
      externalId,
      storeId: "S1",
      channel: "pos",
      occurredAt: api.clock.now().toISOString(),
      currency: "IDR",
      total: "100000",
      ...fields,
    },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as never;
}

export async function expectLedgerOk(api: TestApi, programId: string): Promise<void> {
  const report = await api.call("GET", `${base(programId)}/ledger/verify`);
  expect(report.body.problems).toEqual([]);
  expect(report.body.ok).toBe(true);
}

export async function balanceOf(api: TestApi, programId: string, memberId: string) {
  const response = await api.call("GET", `${base(programId)}/members/${memberId}/balance`);
  return response.body as { pending: number; available: number; earnedTotal: number };
}

const rulesTables = [
  "campaigns",
  "campaign_versions",
  "campaign_budgets",
  "campaign_member_usage",
  "activity_types",
  "activities",
] as const;

/** Like expectNothingWritten, and also for the rules module's own tables. */
export async function expectNothingWrittenHere<T>(api: TestApi, act: () => Promise<T>): Promise<T> {
  const count = async () => {
    const counts: Record<string, number> = {};
    for (const table of rulesTables) {
      const row = await api.ctx.db.kysely
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .executeTakeFirstOrThrow();
      counts[table] = Number(row.count);
    }
    return counts;
  };
  const before = await count();
  const result = await expectNothingWritten(api, act);
  expect(await count()).toEqual(before);
  return result;
}
