import { expect } from "vitest";
import { expectNothingWritten } from "../api/support.ts";
import type { TestApi } from "../harness.ts";

type Json = Record<string, unknown>;

/** A program with keys of each role, for the rewards tests. */
export async function rewardsProgram(api: TestApi, settings: Json = {}) {
  const programId = await api.program(settings);
  return {
    programId,
    base: `/v1/programs/${programId}`,
    admin: await api.key(programId, "admin"),
    pos: await api.key(programId, "pos"),
    read: await api.key(programId, "read"),
  };
}
export type RewardsProgram = Awaited<ReturnType<typeof rewardsProgram>>;

/** A reward body with sensible defaults: a Rp 25.000 discount for 100 points. */
export function rewardBody(fields: Json = {}): Json {
  return {
    type: "discount_amount",
    benefit: { amount: "25000.00" },
    pointsCost: 100,
    texts: { id: { name: "Diskon Rp 25.000" }, en: { name: "Rp 25,000 off" } },
    ...fields,
  };
}

export async function createReward(api: TestApi, p: RewardsProgram, fields: Json = {}) {
  const response = await api.call("POST", `${p.base}/rewards`, {
    body: rewardBody(fields),
    key: p.admin,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as Json & { id: string };
}

/** A member with the given available points (granted by an adjustment). */
export async function memberWithPoints(
  api: TestApi,
  p: RewardsProgram,
  points: number,
  fields: Json = {},
) {
  const memberId = await api.member(p.programId, fields);
  if (points > 0) {
    const response = await api.call("POST", `${p.base}/members/${memberId}/adjustments`, {
      body: { points, reason: "test grant" },
      key: p.admin,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  }
  return memberId;
}

export function redeem(
  api: TestApi,
  p: RewardsProgram,
  rewardId: string,
  memberId: string,
  extra: Json = {},
  headers: Record<string, string> = {},
) {
  return api.call("POST", `${p.base}/rewards/${rewardId}/redemptions`, {
    body: { memberId, ...extra },
    key: p.pos,
    headers,
  });
}

export async function balance(api: TestApi, p: RewardsProgram, memberId: string) {
  const response = await api.call("GET", `${p.base}/members/${memberId}/balance`, { key: p.read });
  expect(response.status).toBe(200);
  return response.body as { available: number; held: number; pending: number };
}

export async function expectLedgerOk(api: TestApi, p: RewardsProgram) {
  const response = await api.call("GET", `${p.base}/ledger/verify`, { key: p.admin });
  expect(response.body.problems).toEqual([]);
  expect(response.body.ok).toBe(true);
}

export async function eventTypes(api: TestApi, p: RewardsProgram): Promise<string[]> {
  const response = await api.call("GET", `${p.base}/events?limit=200`, { key: p.read });
  return (response.body.data as { type: string }[]).map((event) => event.type);
}

/** A tier ladder silver < gold; answers the tiers' ids by code. */
export async function tierLadder(api: TestApi, p: RewardsProgram): Promise<Record<string, string>> {
  const response = await api.call("PUT", `${p.base}/tier-ladder`, {
    key: p.admin,
    body: {
      qualification: { metric: "points_earned", window: { kind: "calendar_year" } },
      tiers: [
        { code: "silver", rank: 1, names: { id: "Perak", en: "Silver" }, threshold: 1000 },
        { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 5000 },
      ],
    },
  });
  expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
  const tiers = (response.body.tiers ?? []) as { id: string; code: string }[];
  return Object.fromEntries(tiers.map((tier) => [tier.code, tier.id]));
}

export async function setTier(api: TestApi, p: RewardsProgram, memberId: string, tierCode: string) {
  const response = await api.call("POST", `${p.base}/members/${memberId}/tier`, {
    key: p.admin,
    body: { tierCode, reason: "test" },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
}

const rewardTables = [
  "rewards",
  "vouchers",
  "voucher_uses",
  "reward_codes",
  "coupon_batches",
  "stored_value_accounts",
  "stored_value_movements",
  "donations",
] as const;

/** Like expectNothingWritten, also over the rewards tables. */
export async function expectNothingWrittenHere<T>(api: TestApi, act: () => Promise<T>): Promise<T> {
  const counts = () =>
    Promise.all(
      rewardTables.map(async (table) => {
        const row = await api.ctx.db.kysely
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as("count"))
          .executeTakeFirstOrThrow();
        return Number(row.count);
      }),
    );
  const before = await counts();
  const result = await expectNothingWritten(api, act);
  expect(await counts()).toEqual(before);
  return result;
}
