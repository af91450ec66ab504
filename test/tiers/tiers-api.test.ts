import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { getMemberTiers, grantTier } from "../../src/modules/tiers/index.ts";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";

type Json = Record<string, unknown>;
interface MemberTierBody {
  tier: { code: string; rank: number } | null;
  since: string | null;
  metricValue: number;
  nextTier: { tier: { code: string }; threshold: number; missing: number } | null;
  keepTier: { needed: number; by: string } | null;
  periodEnd: string | null;
  reviewAt: string | null;
  history: {
    fromTier: string | null;
    toTier: string | null;
    reason: string;
    note: string | null;
  }[];
}

const dayMs = 86_400_000;
/** IDR has 2 minor digits: Rp 1,000,000 = 100,000,000 minor units. */
const rupiah = (amount: number) => amount * 100;

const tier = (code: string, rank: number, threshold: number, extra: Json = {}) => ({
  code,
  rank,
  names: { id: `Tingkat ${code}`, en: `Tier ${code}` },
  threshold,
  ...extra,
});

/** Bronze (automatic) < Silver (Rp 1 jt) < Gold (Rp 5 jt) < Platinum (Rp 10 jt), by spend. */
const spendLadder = (overrides: Json = {}): Json => ({
  qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
  gracePeriodDays: 30,
  lowestTierAutomatic: true,
  tiers: [
    tier("bronze", 1, 0),
    tier("silver", 2, rupiah(1_000_000), { benefits: { earnMultiplierPercent: 125 } }),
    tier("gold", 3, rupiah(5_000_000), {
      benefits: {
        earnMultiplierPercent: 150,
        perks: [{ id: "Gratis ongkir", en: "Free shipping" }],
        freeShipping: true,
      },
    }),
    tier("platinum", 4, rupiah(10_000_000), { benefits: { earnMultiplierPercent: 200 } }),
  ],
  ...overrides,
});

describe("tiers over HTTP", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await createTestApi("2026-03-02T03:00:00Z");
  });
  afterAll(() => api.close());
  beforeEach(() => api.clock.set("2026-03-02T03:00:00Z"));

  const base = (programId: string) => `/v1/programs/${programId}`;
  let receipt = 0;

  async function putLadder(programId: string, body: Json, key?: string) {
    return api.call("PUT", `${base(programId)}/tier-ladder`, { body, ...(key && { key }) });
  }

  async function ladderProgram(ladder: Json, settings: Json = {}) {
    const programId = await api.program(settings);
    const response = await putLadder(programId, ladder);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return programId;
  }

  async function buy(programId: string, memberId: string, total: string, fields: Json = {}) {
    receipt += 1;
    const externalId = `T-${receipt}`;
    const response = await api.call("POST", `${base(programId)}/transactions`, {
      body: purchase(externalId, {
        member: { id: memberId },
        total,
        occurredAt: api.clock.now().toISOString(),
        ...fields,
      }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return externalId;
  }

  async function refund(programId: string, externalId: string, amount: string) {
    receipt += 1;
    const response = await api.call("POST", `${base(programId)}/refunds`, {
      body: { externalId: `RF-${receipt}`, transaction: { storeId: "S1", externalId }, amount },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  }

  async function memberTier(programId: string, memberId: string): Promise<MemberTierBody> {
    const response = await api.call("GET", `${base(programId)}/members/${memberId}/tier`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body as unknown as MemberTierBody;
  }

  async function tierEvents(programId: string) {
    const response = await api.call("GET", `${base(programId)}/events?limit=200`);
    return (response.body.data as { type: string; payload: Json }[])
      .filter((event) => event.type === "tier.changed")
      .map((event) => event.payload);
  }

  describe("the ladder", () => {
    it("is saved as a new version each time, tiers keeping their id by code", async () => {
      const programId = await api.program();
      const missing = await api.call("GET", `${base(programId)}/tier-ladder`);
      expectError(missing, 404, "tier_ladder_not_found");

      const first = await putLadder(programId, spendLadder());
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({
        version: 1,
        qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
        gracePeriodDays: 30,
        lowestTierAutomatic: true,
      });
      const tiers = first.body.tiers as { id: string; code: string; benefits: Json }[];
      expect(tiers.map((t) => t.code)).toEqual(["bronze", "silver", "gold", "platinum"]);
      expect(tiers[0]?.id).toMatch(/^tir_[0-9a-z]{26}$/);
      expect(tiers[0]?.benefits).toEqual({
        earnMultiplierPercent: 100,
        perks: [],
        freeShipping: false,
      });

      // Tiers may come in any order; they are kept by rank.
      const second = await putLadder(
        programId,
        spendLadder({
          tiers: [tier("gold", 2, rupiah(5_000_000)), tier("bronze", 1, 0)],
        }),
      );
      expect(second.status).toBe(200);
      expect(second.body.version).toBe(2);
      const secondTiers = second.body.tiers as { id: string; code: string }[];
      expect(secondTiers.map((t) => [t.code, t.id])).toEqual([
        ["bronze", tiers[0]?.id],
        ["gold", tiers[2]?.id],
      ]);

      const current = await api.call("GET", `${base(programId)}/tier-ladder`);
      expect(current.body.version).toBe(2);
      const old = await api.call("GET", `${base(programId)}/tier-ladder?version=1`);
      expect((old.body.tiers as unknown[]).length).toBe(4);
      expectError(
        await api.call("GET", `${base(programId)}/tier-ladder?version=9`),
        404,
        "tier_ladder_not_found",
      );
    });

    const badLadders: [string, Json, string][] = [
      [
        "thresholds that do not rise with rank",
        spendLadder({
          tiers: [tier("bronze", 1, 0), tier("silver", 2, 500), tier("gold", 3, 500)],
        }),
        "body.tiers.2.threshold",
      ],
      [
        "a duplicate code",
        spendLadder({ tiers: [tier("bronze", 1, 0), tier("bronze", 2, 500)] }),
        "body.tiers.1.code",
      ],
      [
        "a duplicate rank",
        spendLadder({ tiers: [tier("bronze", 1, 0), tier("silver", 1, 500)] }),
        "body.tiers.1.rank",
      ],
      [
        "more than 10 tiers",
        spendLadder({ tiers: Array.from({ length: 11 }, (_, i) => tier(`t${i}`, i + 1, i * 10)) }),
        "body.tiers",
      ],
      [
        "a multiplier below 100",
        spendLadder({
          tiers: [tier("bronze", 1, 0, { benefits: { earnMultiplierPercent: 90 } })],
        }),
        "body.tiers.0.benefits.earnMultiplierPercent",
      ],
      [
        "an automatic lowest tier with a threshold",
        spendLadder({ tiers: [tier("bronze", 1, 10)] }),
        "body.tiers.0.threshold",
      ],
      [
        "threshold 0 without the automatic lowest tier",
        spendLadder({ lowestTierAutomatic: false, tiers: [tier("bronze", 1, 0)] }),
        "body.tiers.0.threshold",
      ],
      [
        "a grace period longer than the period",
        spendLadder({
          qualification: { metric: "visits", window: { kind: "rolling_months", months: 1 } },
          gracePeriodDays: 40,
        }),
        "body.gracePeriodDays",
      ],
      [
        "an unknown metric",
        spendLadder({ qualification: { metric: "smiles", window: { kind: "calendar_year" } } }),
        "body.qualification.metric",
      ],
      [
        "a code with spaces",
        spendLadder({ tiers: [tier("Gold Tier", 1, 0)] }),
        "body.tiers.0.code",
      ],
      [
        "a missing English name",
        spendLadder({ tiers: [{ ...tier("bronze", 1, 0), names: { id: "Perunggu" } }] }),
        "body.tiers.0.names.en",
      ],
      ["an unknown field", spendLadder({ colour: "gold" }), "body"],
    ];
    for (const [name, body, path] of badLadders) {
      it(`refuses ${name} at ${path}, writing nothing`, async () => {
        const programId = await api.program();
        const response = await expectNothingWritten(api, () => putLadder(programId, body));
        expectError(response, 400, "validation_failed");
        const issues = response.body.error?.details?.issues as { path: string }[];
        expect(issues.map((issue) => issue.path)).toContain(path);
        const stored = await api.ctx.db.kysely
          .selectFrom("tier_ladders")
          .select("version")
          .where("program_id", "=", programId)
          .execute();
        expect(stored).toEqual([]);
      });
    }

    it("lets only admins of the program change it; read keys may look", async () => {
      const programId = await ladderProgram(spendLadder());
      const other = await api.program();
      const pos = await api.key(programId, "pos");
      const read = await api.key(programId, "read");
      const otherAdmin = await api.key(other, "admin");
      const admin = await api.key(programId, "admin");
      await expectNothingWritten(api, async () => {
        expectError(await putLadder(programId, spendLadder(), pos), 403, "forbidden");
        expectError(await putLadder(programId, spendLadder(), read), 403, "forbidden");
        expectError(await putLadder(programId, spendLadder(), otherAdmin), 403, "forbidden");
        expectError(
          await api.call("GET", `${base(programId)}/tier-ladder`, { key: otherAdmin }),
          403,
          "forbidden",
        );
        expectError(
          await api.call("PUT", `${base(programId)}/tier-ladder`, {
            body: spendLadder(),
            key: null,
          }),
          401,
          "unauthorized",
        );
      });
      expect((await api.call("GET", `${base(programId)}/tier-ladder`, { key: read })).status).toBe(
        200,
      );
      expect((await putLadder(programId, spendLadder(), admin)).body.version).toBe(2);
    });

    it("refuses to drop a tier members hold", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      await buy(programId, memberId, "1000000");
      const response = await expectNothingWritten(api, () =>
        putLadder(programId, spendLadder({ tiers: [tier("bronze", 1, 0), tier("gold", 2, 900)] })),
      );
      expectError(response, 409, "tier_in_use");
      expect(response.body.error?.details).toEqual({ code: "silver", members: 1 });
    });
  });

  describe("qualification", () => {
    it("upgrades as soon as a purchase crosses a threshold, with history and an event", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      // The automatic lowest tier is every member's from the start.
      const fresh = await memberTier(programId, memberId);
      expect(fresh).toMatchObject({
        tier: { code: "bronze" },
        metricValue: 0,
        nextTier: { tier: { code: "silver" }, missing: rupiah(1_000_000) },
        keepTier: null,
        history: [],
      });
      await buy(programId, memberId, "600000");
      expect((await memberTier(programId, memberId)).tier?.code).toBe("bronze");
      await buy(programId, memberId, "500000");
      const silver = await memberTier(programId, memberId);
      expect(silver).toMatchObject({
        tier: { code: "silver", rank: 2 },
        since: api.clock.now().toISOString(),
        metricValue: rupiah(1_100_000),
        nextTier: { tier: { code: "gold" }, missing: rupiah(3_900_000) },
        periodEnd: "2027-03-02T03:00:00.000Z",
        reviewAt: "2027-04-01T03:00:00.000Z",
        history: [{ fromTier: "bronze", toTier: "silver", reason: "threshold_crossed" }],
      });
      // Jumping two tiers at once is one change.
      await buy(programId, memberId, "9000000");
      expect((await memberTier(programId, memberId)).tier?.code).toBe("platinum");
      expect(await tierEvents(programId)).toEqual([
        expect.objectContaining({
          memberId,
          fromTier: "bronze",
          toTier: "silver",
          reason: "threshold_crossed",
        }),
        expect.objectContaining({
          memberId,
          fromTier: "silver",
          toTier: "platinum",
          reason: "threshold_crossed",
        }),
      ]);
      const tiers = await getMemberTiers(api.ctx.db.kysely, programId, [memberId]);
      expect(tiers.get(memberId)).toMatchObject({ code: "platinum", earnMultiplierPercent: 200 });
    });

    it("counts visits", async () => {
      const programId = await ladderProgram({
        qualification: { metric: "visits", window: { kind: "rolling_months", months: 3 } },
        tiers: [tier("regular", 1, 2), tier("loyal", 2, 4)],
      });
      const memberId = await api.member(programId);
      await buy(programId, memberId, "1000");
      expect((await memberTier(programId, memberId)).tier).toBeNull();
      expect(await getMemberTiers(api.ctx.db.kysely, programId, [memberId])).toEqual(new Map());
      await buy(programId, memberId, "1000");
      expect((await memberTier(programId, memberId)).tier?.code).toBe("regular");
      await buy(programId, memberId, "1000");
      await buy(programId, memberId, "1000");
      expect(await memberTier(programId, memberId)).toMatchObject({
        tier: { code: "loyal" },
        metricValue: 4,
        nextTier: null,
      });
    });

    it("counts points earned net of refunds", async () => {
      // 1 point per Rp 10,000: Rp 1 jt = 100 points.
      const programId = await ladderProgram({
        qualification: { metric: "points_earned", window: { kind: "calendar_year" } },
        tiers: [tier("silver", 1, 100), tier("gold", 2, 500)],
      });
      const memberId = await api.member(programId);
      const first = await buy(programId, memberId, "800000");
      expect((await memberTier(programId, memberId)).metricValue).toBe(80);
      await refund(programId, first, "400000");
      expect((await memberTier(programId, memberId)).metricValue).toBe(40);
      await buy(programId, memberId, "600000");
      expect(await memberTier(programId, memberId)).toMatchObject({
        tier: { code: "silver" },
        metricValue: 100,
        nextTier: { missing: 400 },
      });
    });

    it("lowers the metric on a refund without an immediate downgrade", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      const big = await buy(programId, memberId, "1200000");
      expect((await memberTier(programId, memberId)).tier?.code).toBe("silver");
      await refund(programId, big, "1200000");
      const after = await memberTier(programId, memberId);
      expect(after).toMatchObject({
        tier: { code: "silver" },
        metricValue: 0,
        keepTier: { needed: rupiah(1_000_000) },
      });
      // At the review (period end + grace) the member moves down one level.
      api.clock.set(new Date(Date.parse(after.reviewAt as string) + 1000));
      const report = await runJobsOnce(api.ctx);
      expect(report.tiers.changed).toBeGreaterThanOrEqual(1);
      expect(await memberTier(programId, memberId)).toMatchObject({
        tier: { code: "bronze" },
        periodEnd: null,
        history: [
          { fromTier: "silver", toTier: "bronze", reason: "period_end_downgrade" },
          { fromTier: "bronze", toTier: "silver", reason: "threshold_crossed" },
        ],
      });
      api.clock.set("2026-03-02T03:00:00Z");
    });
  });

  describe("windows and reviews", () => {
    it("counts a rolling window: purchases older than N months drop out", async () => {
      api.clock.set("2026-01-10T03:00:00Z");
      const programId = await ladderProgram(
        spendLadder({
          qualification: { metric: "spend", window: { kind: "rolling_months", months: 6 } },
        }),
      );
      const memberId = await api.member(programId);
      await buy(programId, memberId, "700000");
      api.clock.advance(120 * dayMs);
      expect((await memberTier(programId, memberId)).metricValue).toBe(rupiah(700_000));
      api.clock.advance(70 * dayMs);
      const view = await memberTier(programId, memberId);
      expect(view.metricValue).toBe(0);
      // The purchase left the window: this one alone does not reach silver.
      await buy(programId, memberId, "700000");
      expect((await memberTier(programId, memberId)).tier?.code).toBe("bronze");
      api.clock.set("2026-03-02T03:00:00Z");
    });

    it("counts the calendar year in the program's timezone and reviews at its end", async () => {
      // 23:30 on 31 December in Jakarta is still 2026 there (16:30 UTC).
      api.clock.set("2026-12-31T16:30:00Z");
      const programId = await ladderProgram(
        spendLadder({
          qualification: { metric: "spend", window: { kind: "calendar_year" } },
          gracePeriodDays: 0,
        }),
      );
      const memberId = await api.member(programId);
      await buy(programId, memberId, "1000000");
      const silver = await memberTier(programId, memberId);
      expect(silver).toMatchObject({
        tier: { code: "silver" },
        periodEnd: "2026-12-31T17:00:00.000Z",
        keepTier: { needed: 0 },
      });
      // Midnight in Jakarta: a new year, a new window; 2026's spend kept the tier through 2027.
      api.clock.set("2026-12-31T17:00:01Z");
      await runJobsOnce(api.ctx);
      expect(await memberTier(programId, memberId)).toMatchObject({
        tier: { code: "silver" },
        metricValue: 0,
        periodEnd: "2027-12-31T17:00:00.000Z",
        keepTier: { needed: rupiah(1_000_000) },
      });
      // Nothing spent in 2027: one level down at its end.
      api.clock.set("2027-12-31T17:00:01Z");
      await runJobsOnce(api.ctx);
      expect((await memberTier(programId, memberId)).tier?.code).toBe("bronze");
      api.clock.set("2026-03-02T03:00:00Z");
    });

    it("downgrades one level per period, only after the grace period", async () => {
      api.clock.set("2026-03-02T03:00:00Z");
      const programId = await ladderProgram(
        spendLadder({
          qualification: { metric: "spend", window: { kind: "rolling_months", months: 3 } },
          gracePeriodDays: 10,
        }),
      );
      const memberId = await api.member(programId);
      // Bought an hour before it reached the till's batch: outside the next period's window.
      await buy(programId, memberId, "11000000", { occurredAt: "2026-03-02T02:00:00Z" });
      const platinum = await memberTier(programId, memberId);
      expect(platinum).toMatchObject({
        tier: { code: "platinum" },
        periodEnd: "2026-06-02T03:00:00.000Z",
        reviewAt: "2026-06-12T03:00:00.000Z",
      });
      // Period over, grace not yet: nothing moves.
      api.clock.set("2026-06-05T03:00:00Z");
      expect((await runJobsOnce(api.ctx)).tiers.changed).toBe(0);
      expect((await memberTier(programId, memberId)).tier?.code).toBe("platinum");
      // After the grace: one level down, whatever the metric (0 here).
      api.clock.set("2026-06-12T03:00:01Z");
      await runJobsOnce(api.ctx);
      const gold = await memberTier(programId, memberId);
      expect(gold).toMatchObject({
        tier: { code: "gold" },
        since: "2026-06-12T03:00:00.000Z",
        periodEnd: "2026-09-02T03:00:00.000Z",
      });
      // A second run at the same time does nothing more.
      expect((await runJobsOnce(api.ctx)).tiers.changed).toBe(0);
      // A job that did not run for two periods still goes one level per period.
      api.clock.set("2026-12-20T00:00:00Z");
      await runJobsOnce(api.ctx);
      const view = await memberTier(programId, memberId);
      expect(view.tier?.code).toBe("bronze");
      expect(view.history.map((change) => change.toTier)).toEqual([
        "bronze",
        "silver",
        "gold",
        "platinum",
      ]);
      expect((await tierEvents(programId)).map((event) => event.toTier)).toEqual([
        "platinum",
        "gold",
        "silver",
        "bronze",
      ]);
      api.clock.set("2026-03-02T03:00:00Z");
    });

    it("keeps the tier of a member who still qualifies, counting purchases in the grace", async () => {
      api.clock.set("2026-03-02T03:00:00Z");
      const programId = await ladderProgram(
        spendLadder({
          qualification: { metric: "spend", window: { kind: "rolling_months", months: 3 } },
          gracePeriodDays: 10,
        }),
      );
      const memberId = await api.member(programId);
      await buy(programId, memberId, "600000");
      api.clock.set("2026-03-20T03:00:00Z");
      await buy(programId, memberId, "500000");
      // The review counts the 3 months before the period end: the purchase of 2 March is out.
      api.clock.set("2026-05-01T03:00:00Z");
      expect((await memberTier(programId, memberId)).keepTier).toEqual({
        needed: rupiah(500_000),
        by: "2026-06-20T03:00:00.000Z",
      });
      await buy(programId, memberId, "400000");
      // In the grace period: still counts toward the period that ended.
      api.clock.set("2026-06-25T03:00:00Z");
      await buy(programId, memberId, "100000");
      api.clock.set("2026-07-01T00:00:00Z");
      await runJobsOnce(api.ctx);
      expect(await memberTier(programId, memberId)).toMatchObject({
        tier: { code: "silver" },
        periodEnd: "2026-09-20T03:00:00.000Z",
        history: [{ toTier: "silver" }],
      });
      api.clock.set("2026-03-02T03:00:00Z");
    });

    it("settles a review that fell due before the next purchase, even without the job", async () => {
      api.clock.set("2026-03-02T03:00:00Z");
      const programId = await ladderProgram(
        spendLadder({
          qualification: { metric: "spend", window: { kind: "rolling_months", months: 3 } },
          gracePeriodDays: 0,
        }),
      );
      const memberId = await api.member(programId);
      await buy(programId, memberId, "5000000", { occurredAt: "2026-03-02T02:00:00Z" });
      api.clock.set("2026-06-03T03:00:00Z");
      await buy(programId, memberId, "10000");
      const view = await memberTier(programId, memberId);
      expect(view.history.map((change) => [change.toTier, change.reason])).toEqual([
        ["silver", "period_end_downgrade"],
        ["gold", "threshold_crossed"],
      ]);
      api.clock.set("2026-03-02T03:00:00Z");
    });
  });

  describe("manual setting", () => {
    it("sets a tier with a reason, held until a date, then reviewed", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      const admin = await api.key(programId, "admin");
      const pos = await api.key(programId, "pos");
      const body = { tierCode: "gold", until: "2026-04-01T00:00:00Z", reason: "VIP complaint" };
      await expectNothingWritten(api, async () => {
        expectError(
          await api.call("POST", `${base(programId)}/members/${memberId}/tier`, { body, key: pos }),
          403,
          "forbidden",
        );
        expectError(
          await api.call("POST", `${base(programId)}/members/${memberId}/tier`, {
            body: { ...body, tierCode: "diamond" },
          }),
          404,
          "tier_not_found",
        );
        expectError(
          await api.call("POST", `${base(programId)}/members/${memberId}/tier`, {
            body: { ...body, until: "2020-01-01T00:00:00Z" },
          }),
          400,
          "validation_failed",
        );
        expectError(
          await api.call("POST", `${base(programId)}/members/mbr_01jzzzzzzzzzzzzzzzzzzzzzzz/tier`, {
            body,
          }),
          404,
          "member_not_found",
        );
        expectError(
          await api.call("POST", `${base(programId)}/members/${memberId}/tier`, {
            body: { tierCode: "gold" },
          }),
          400,
          "validation_failed",
        );
      });
      const set = await api.call("POST", `${base(programId)}/members/${memberId}/tier`, {
        body,
        key: admin,
      });
      expect(set.status, JSON.stringify(set.body)).toBe(200);
      expect(set.body).toMatchObject({
        tier: { code: "gold" },
        periodEnd: "2026-04-01T00:00:00.000Z",
        history: [{ fromTier: "bronze", toTier: "gold", reason: "manual", note: "VIP complaint" }],
      });
      expect(await tierEvents(programId)).toEqual([
        expect.objectContaining({ memberId, fromTier: "bronze", toTier: "gold", reason: "manual" }),
      ]);
      // Reviewed after until + grace like any tier: one level down.
      api.clock.set("2026-05-02T00:00:00Z");
      await runJobsOnce(api.ctx);
      expect((await memberTier(programId, memberId)).tier?.code).toBe("silver");
      api.clock.set("2026-03-02T03:00:00Z");
    });

    it("replays a setting sent twice with one Idempotency-Key, changing the tier once", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      const send = () =>
        api.call("POST", `${base(programId)}/members/${memberId}/tier`, {
          body: { tierCode: "silver", reason: "welcome gift" },
          headers: { "idempotency-key": "set-silver-1" },
        });
      const first = await send();
      const second = await send();
      expect(first.status).toBe(200);
      expect(second.headers["idempotent-replayed"]).toBe("true");
      expect(second.body).toEqual(first.body);
      expect((await memberTier(programId, memberId)).history).toHaveLength(1);
    });

    it("grants a tier as a reward without ever moving a member down", async () => {
      const programId = await ladderProgram(spendLadder());
      const memberId = await api.member(programId);
      await buy(programId, memberId, "5000000");
      const ladder = await api.call("GET", `${base(programId)}/tier-ladder`);
      const idOf = (code: string) =>
        (ladder.body.tiers as { id: string; code: string }[]).find((t) => t.code === code)?.id ??
        "";
      const grant = (code: string) =>
        api.ctx.db.transaction((tx) =>
          grantTier(tx, {
            programId,
            memberId,
            tierId: idOf(code),
            until: null,
            reason: "reward rwd_test",
            at: api.clock.now(),
            kind: "reward",
          }),
        );
      expect(await grant("silver")).toMatchObject({ changed: false, tierId: idOf("gold") });
      expect(await grant("platinum")).toMatchObject({ changed: true, tierId: idOf("platinum") });
      expect((await memberTier(programId, memberId)).history[0]).toMatchObject({
        fromTier: "gold",
        toTier: "platinum",
        reason: "reward",
        note: "reward rwd_test",
      });
    });

    it("answers 404 for the member tier of a program without a ladder or another program's member", async () => {
      const programId = await api.program();
      const memberId = await api.member(programId);
      expectError(
        await api.call("GET", `${base(programId)}/members/${memberId}/tier`),
        404,
        "tier_ladder_not_found",
      );
      const other = await ladderProgram(spendLadder());
      expectError(
        await api.call("GET", `${base(other)}/members/${memberId}/tier`),
        404,
        "member_not_found",
      );
    });
  });
});
