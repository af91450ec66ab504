import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../api/support.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";

type Json = Record<string, unknown>;

/**
 * A small program whose report is computed by hand: earn 1 point per Rp 10.000 (floor), no
 * returns window, Asia/Jakarta. Purchases (local time 10:00):
 *   A  Sat 7 Mar  250.000 beras   base 25
 *   B  Sun 8 Mar  120.000 beras   base 12
 *   A  Mon 9 Mar  100.000 minyak  base 10, half refunded
 *   -  Mon 9 Mar   90.000         anonymous: earns nothing
 *   B  Tue 10 Mar  55.000 snack   base 5
 */
describe("what-if simulation over HTTP", () => {
  let api: TestApi;
  let programId: string;
  let memberA: string;
  let memberB: string;
  const window = { from: "2026-03-01T00:00:00+07:00", to: "2026-03-11T00:00:00+07:00" };

  const weekendDouble = {
    name: "Weekend double",
    startsAt: "2026-01-01T00:00:00Z",
    rules: [
      {
        conditions: [{ type: "day_of_week", args: { days: [6, 7] } }],
        actions: [{ type: "multiplier", args: { percent: 200 } }],
      },
    ],
  };
  const berasBonus = {
    name: "Beras bonus",
    startsAt: "2026-01-01T00:00:00Z",
    caps: { perMemberPerMonth: 40 },
    rules: [
      {
        conditions: [{ type: "category_in_basket", args: { values: ["beras"] } }],
        actions: [
          {
            type: "points_per_amount",
            args: { points: 2, per: "10000", scope: "matching_lines" },
          },
        ],
      },
    ],
  };
  const ladder = {
    qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
    tiers: [
      {
        code: "silver",
        rank: 1,
        names: { id: "Perak", en: "Silver" },
        threshold: 20_000_000,
        benefits: { earnMultiplierPercent: 150 },
      },
      {
        code: "gold",
        rank: 2,
        names: { id: "Emas", en: "Gold" },
        threshold: 50_000_000,
        benefits: { earnMultiplierPercent: 200 },
      },
    ],
  };

  const simulate = (body: Json, key?: string) =>
    api.call("POST", `/v1/programs/${programId}/simulations`, {
      body: { window, pointValue: "2.50", ...body },
      ...(key !== undefined && { key }),
    });

  async function buy(
    externalId: string,
    memberId: string | null,
    at: string,
    total: string,
    category: string,
  ) {
    const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase(externalId, {
        ...(memberId && { member: { id: memberId } }),
        occurredAt: at,
        total,
        lines: [{ sku: `${category}-1`, category, quantity: 1, unitPrice: total }],
      }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  }

  /** Rows in every table of the schema, so a simulation can be shown to write nothing at all. */
  async function everyTableCount(): Promise<Record<string, number>> {
    const tables = await sql<{ name: string }>`
      select table_name as name from information_schema.tables
      where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`.execute(
      api.ctx.db.kysely,
    );
    const counts: Record<string, number> = {};
    for (const { name } of tables.rows) {
      const { rows } = await sql<{
        count: number;
      }>`select count(*)::int as count from ${sql.table(name)}`.execute(api.ctx.db.kysely);
      counts[name] = rows[0]?.count ?? 0;
    }
    return counts;
  }

  beforeAll(async () => {
    api = await createTestApi("2026-03-12T00:00:00Z");
    programId = await api.program({ returnsWindowDays: 0 });
    memberA = await api.member(programId);
    memberB = await api.member(programId);
    await buy("A-1", memberA, "2026-03-07T10:00:00+07:00", "250000", "beras");
    await buy("B-1", memberB, "2026-03-08T10:00:00+07:00", "120000", "beras");
    await buy("A-2", memberA, "2026-03-09T10:00:00+07:00", "100000", "minyak");
    await buy("X-1", null, "2026-03-09T11:00:00+07:00", "90000", "snack");
    await buy("B-2", memberB, "2026-03-10T10:00:00+07:00", "55000", "snack");
    // Outside the window: counts for nothing.
    await buy("A-0", memberA, "2026-02-20T10:00:00+07:00", "10000", "snack");
    const refund = await api.call("POST", `/v1/programs/${programId}/refunds`, {
      body: {
        externalId: "RF-1",
        transaction: { storeId: "S1", externalId: "A-2" },
        amount: "50000",
      },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
  });
  afterAll(() => api.close());

  it("reports live and draft as computed by hand, and writes nothing", async () => {
    const before = await everyTableCount();
    const response = await simulate({ campaigns: [weekendDouble, berasBonus], tierLadder: ladder });
    expect(await everyTableCount()).toEqual(before);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const report = response.body as Json;
    expect(report.transactions).toEqual({ total: 5, withMember: 4, refunded: 1 });
    expect(report.members).toBe(2);
    // Live: base points only (52), the refund takes back 5 of A's 10.
    expect(report.live).toEqual({
      pointsIssued: 47,
      pointsBeforeRefunds: 52,
      basePoints: 52,
      tierPoints: 0,
      campaignPoints: 0,
      campaigns: [],
      membersEarning: 2,
      liabilityChange: "117.50",
      tiers: null,
    });
    // Draft: weekend double +25 (A) +12 (B); beras 2 per 10.000: A 50 capped at 40, B 24.
    // A reaches silver (spend 250.000) after Saturday: Monday's 10 base get +5 (×1.5), and the
    // half refund takes back 7 of those 15.
    expect(report.draft).toEqual({
      pointsIssued: 151,
      pointsBeforeRefunds: 158,
      basePoints: 52,
      tierPoints: 5,
      campaignPoints: 101,
      campaigns: [
        {
          campaignId: "draft-1",
          name: "Weekend double",
          origin: "draft",
          points: 37,
          transactions: 2,
          members: 2,
        },
        {
          campaignId: "draft-2",
          name: "Beras bonus",
          origin: "draft",
          points: 64,
          transactions: 2,
          members: 2,
        },
      ],
      membersEarning: 2,
      liabilityChange: "377.50",
      tiers: {
        atEnd: expect.arrayContaining([
          { code: "silver", members: 1 },
          { code: null, members: 1 },
        ]),
        upgrades: 1,
        downgrades: 0,
      },
    });
    expect(report.delta).toEqual({
      pointsIssued: 104,
      liabilityChange: "260.00",
      membersAffected: 2,
      membersGaining: 2,
      membersLosing: 0,
      tiers: expect.arrayContaining([
        { code: null, members: -1 },
        { code: "silver", members: 1 },
      ]),
    });
  });

  it("compares with the live campaigns, adds stored drafts by id, or replaces the live ones", async () => {
    const live = await api.call("POST", `/v1/programs/${programId}/campaigns`, {
      body: {
        name: "Minyak bonus",
        startsAt: "2026-01-01T00:00:00Z",
        status: "active",
        rules: [
          {
            conditions: [{ type: "category_in_basket", args: { values: ["minyak"] } }],
            actions: [{ type: "fixed_bonus", args: { points: 4 } }],
          },
        ],
      },
    });
    expect(live.status, JSON.stringify(live.body)).toBe(201);
    const stored = await api.call("POST", `/v1/programs/${programId}/campaigns`, {
      body: { ...weekendDouble, status: "draft" },
    });
    expect(stored.status, JSON.stringify(stored.body)).toBe(201);

    const added = await simulate({ campaignIds: [stored.body.id] });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    // Live: 52 base + 4 on A's Monday purchase; its half refund takes back 7 of 14.
    expect(added.body.live).toMatchObject({
      pointsBeforeRefunds: 56,
      pointsIssued: 49,
      campaigns: [{ campaignId: live.body.id, origin: "live", points: 4 }],
    });
    // Draft: the live campaign plus weekend double (+37).
    expect(added.body.draft).toMatchObject({ pointsBeforeRefunds: 93, pointsIssued: 86 });
    expect(added.body.delta).toMatchObject({ pointsIssued: 37, liabilityChange: "92.50" });

    const replaced = await simulate({ campaignIds: [stored.body.id], replaceLiveCampaigns: true });
    expect(replaced.body.draft).toMatchObject({
      pointsBeforeRefunds: 89,
      pointsIssued: 84,
      campaigns: [{ campaignId: stored.body.id, origin: "draft", points: 37 }],
    });
    expect(replaced.body.delta).toMatchObject({ pointsIssued: 35 });
  });

  it("refuses bad input with the path of the problem", async () => {
    const cases: [Json, number, string, string | undefined][] = [
      [
        { window: { from: "2025-01-01T00:00:00Z", to: "2026-02-06T00:00:00Z" } },
        400,
        "validation_failed",
        "window.to",
      ],
      [
        { window: { from: "2026-03-10T00:00:00Z", to: "2026-03-01T00:00:00Z" } },
        400,
        "validation_failed",
        "window.to",
      ],
      [
        { window: { from: "2026-03-10T00:00:00Z", to: "2026-04-01T00:00:00Z" } },
        400,
        "validation_failed",
        "window.to",
      ],
      [
        {
          campaigns: [
            weekendDouble,
            {
              ...berasBonus,
              rules: [{ actions: [{ type: "multiplier", args: { percent: 50 } }] }],
            },
          ],
        },
        400,
        "validation_failed",
        "campaigns.1.rules.0.actions.0.args.percent",
      ],
      [
        {
          campaigns: [{ ...weekendDouble, rules: [{ actions: [{ type: "teleport", args: {} }] }] }],
        },
        400,
        "validation_failed",
        "campaigns.0.rules.0.actions.0.type",
      ],
      [{ campaignIds: ["cmp_00000000000000000000000000"] }, 404, "campaign_not_found", undefined],
      [{ pointValue: "0.001" }, 422, "amount_precision", "pointValue"],
      [
        { tierLadder: { ...ladder, tiers: [ladder.tiers[0], ladder.tiers[0]] } },
        400,
        "validation_failed",
        undefined,
      ],
      [{ window: { from: "yesterday", to: "today" } }, 400, "validation_failed", undefined],
      [{ surprise: true }, 400, "validation_failed", undefined],
    ];
    for (const [body, status, code, field] of cases) {
      const before = await everyTableCount();
      const response = await simulate(body);
      expect(await everyTableCount()).toEqual(before);
      expectError(response, status, code);
      // The path of the problem, as details.field or in details.issues (schema checks).
      if (field) expect(JSON.stringify(response.body.error?.details)).toContain(field);
    }
  });

  it("is for admins of the program only", async () => {
    const pos = await api.key(programId, "pos");
    expectError(await simulate({}, pos), 403, "forbidden");
    const other = await api.program();
    const otherAdmin = await api.key(other, "admin");
    expectError(await simulate({}, otherAdmin), 403, "forbidden");
    const admin = await api.key(programId, "admin");
    expect((await simulate({}, admin)).status).toBe(200);
  });
});
