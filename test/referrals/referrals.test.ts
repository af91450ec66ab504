import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { expectError, rowCounts } from "../api/support.ts";
import { createTestApi, nextPhone, onPostgres, purchase, type TestApi } from "../harness.ts";

type Json = Record<string, unknown>;
const dayMs = 86_400_000;

describe("referrals over HTTP", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await createTestApi("2026-03-02T03:00:00Z");
  });
  afterAll(() => api.close());

  const base = (programId: string) => `/v1/programs/${programId}`;
  const settings = {
    enabled: true,
    referrerPoints: 500,
    refereePoints: 200,
    qualifyingMinimum: "100000",
    shareBaseUrl: "https://tokomaju.example/join",
  };

  async function program(extra: Json = {}, settingsExtra: Json = {}): Promise<string> {
    const id = await api.program({ returnsWindowDays: 14, ...extra });
    const response = await api.call("PUT", `${base(id)}/referral-settings`, {
      body: { ...settings, ...settingsExtra },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return id;
  }

  async function codeOf(programId: string, memberId: string): Promise<string> {
    const response = await api.call("GET", `${base(programId)}/members/${memberId}/referral`);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body.code as string;
  }

  /** Enrols a member with a referral code and answers the referral recorded for them. */
  async function referred(programId: string, code: string, fields: Json = {}) {
    const refereeId = await api.member(programId, { referralCode: code, ...fields });
    const response = await api.call("GET", `${base(programId)}/members/${refereeId}/referral`);
    expect(response.status).toBe(200);
    return { refereeId, referral: response.body.referredBy as Json };
  }

  async function buy(programId: string, memberId: string, externalId: string, total: string) {
    const response = await api.call("POST", `${base(programId)}/transactions`, {
      body: purchase(externalId, {
        member: { id: memberId },
        total,
        occurredAt: api.clock.now().toISOString(),
      }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  }

  /** Lifetime points earned: moves with bonuses only, not with pending points released. */
  async function earned(programId: string, memberId: string): Promise<number> {
    const response = await api.call("GET", `${base(programId)}/members/${memberId}/balance`);
    return response.body.earnedTotal as number;
  }

  async function referralCounts() {
    const { rows } = await sql<{ referrals: number; codes: number; devices: number }>`
      select (select count(*) from referrals)::int as referrals,
             (select count(*) from referral_codes)::int as codes,
             (select count(*) from referral_devices)::int as devices`.execute(api.ctx.db.kysely);
    return rows[0];
  }

  /** Asserts that neither the foundation's tables nor the referral tables changed. */
  async function expectUnchanged<T>(act: () => Promise<T>): Promise<T> {
    const before = [await rowCounts(api), await referralCounts()];
    const result = await act();
    expect([await rowCounts(api), await referralCounts()]).toEqual(before);
    return result;
  }

  it("settings are disabled until set, then read back as written", async () => {
    const programId = await api.program();
    const empty = await api.call("GET", `${base(programId)}/referral-settings`);
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ enabled: false, referrerPoints: 0, updatedAt: null });
    const put = await api.call("PUT", `${base(programId)}/referral-settings`, {
      body: { ...settings, perReferrerMonthMax: 5, perReferrerTotalMax: 20 },
    });
    expect(put.status).toBe(200);
    const read = await api.call("GET", `${base(programId)}/referral-settings`);
    expect(read.body).toEqual({
      ...settings,
      qualifyingMinimum: "100000.00",
      perReferrerMonthMax: 5,
      perReferrerTotalMax: 20,
      updatedAt: api.clock.now().toISOString(),
    });
  });

  it("rewards both sides once the referee's first qualifying purchase passes the returns window", async () => {
    const programId = await program();
    const referrerId = await api.member(programId);
    const code = await codeOf(programId, referrerId);
    expect(code).toMatch(/^[2-9A-HJKMNP-Z]{8}$/);
    expect(await codeOf(programId, referrerId)).toBe(code);
    const link = await api.call("GET", `${base(programId)}/members/${referrerId}/referral`);
    expect(link.body.shareUrl).toBe(`https://tokomaju.example/join?ref=${code}`);

    // Codes are typed at the till: case and dashes do not matter.
    const spaced = `${code.slice(0, 4).toLowerCase()}-${code.slice(4)}`;
    const { refereeId, referral } = await referred(programId, spaced);
    expect(referral).toMatchObject({
      code,
      referrerId,
      refereeId,
      status: "pending",
      reason: null,
      referrerPoints: 500,
      refereePoints: 200,
      qualifyingMinimum: "100000.00",
    });

    // A small purchase does not qualify; a later big one does, once the window has passed.
    await buy(programId, refereeId, "R-small", "50000");
    await buy(programId, refereeId, "R-big", "150000");
    expect((await runJobsOnce(api.ctx)).referrals).toEqual({ completed: 0, points: 0 });
    api.clock.advanceDays(15);
    const before = {
      referrer: await earned(programId, referrerId),
      referee: await earned(programId, refereeId),
    };
    const run = await runJobsOnce(api.ctx);
    expect(run.referrals).toEqual({ completed: 1, points: 700 });
    expect(await earned(programId, referrerId)).toBe(before.referrer + 500);
    expect(await earned(programId, refereeId)).toBe(before.referee + 200);

    // A second run, and a second runner at once, find nothing left to do.
    const again = await Promise.all([runJobsOnce(api.ctx), runJobsOnce(api.ctx)]);
    expect(again.map((report) => report.referrals.completed)).toEqual([0, 0]);
    expect(await earned(programId, referrerId)).toBe(before.referrer + 500);

    const done = await api.call("GET", `${base(programId)}/referrals?status=completed`);
    expect(done.body.data).toEqual([
      expect.objectContaining({
        id: referral.id,
        status: "completed",
        completedAt: expect.any(String),
      }),
    ]);
    const bigId = (
      await api.ctx.db.kysely
        .selectFrom("transactions")
        .select("id")
        .where("external_id", "=", "R-big")
        .where("program_id", "=", programId)
        .executeTakeFirstOrThrow()
    ).id;
    expect((done.body.data as Json[])[0]?.qualifyingTransactionId).toBe(bigId);
    const stats = await api.call("GET", `${base(programId)}/members/${referrerId}/referral`);
    expect(stats.body.referrals).toEqual({ pending: 0, completed: 1, rejected: 0 });

    const events = await api.call("GET", `${base(programId)}/events?limit=200`);
    const types = (events.body.data as { type: string; payload: Json }[]).filter((event) =>
      event.type.startsWith("referral."),
    );
    expect(types.map((event) => event.type)).toEqual(["referral.created", "referral.completed"]);
    expect(types[1]?.payload).toMatchObject({
      referralId: referral.id,
      referrerId,
      refereeId,
      transactionId: bigId,
      referrerPoints: 500,
      refereePoints: 200,
    });
  });

  it("posts the referrer's referral activity, so a campaign can add to the reward", async () => {
    const programId = await program({ returnsWindowDays: 0 });
    const campaign = await api.call("POST", `${base(programId)}/campaigns`, {
      body: {
        name: "Referral booster",
        startsAt: "2026-01-01T00:00:00Z",
        status: "active",
        rules: [{ trigger: "referral", actions: [{ type: "fixed_bonus", args: { points: 100 } }] }],
      },
    });
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
    const referrerId = await api.member(programId);
    const { refereeId } = await referred(programId, await codeOf(programId, referrerId));
    const before = await earned(programId, referrerId);
    await buy(programId, refereeId, "R-1", "100000");
    api.clock.advance(60_000);
    expect((await runJobsOnce(api.ctx)).referrals.completed).toBe(1);
    expect(await earned(programId, referrerId)).toBe(before + 500 + 100);
  });

  it("a purchase refunded below the minimum does not qualify; a later one does", async () => {
    const programId = await program();
    const referrerId = await api.member(programId);
    const { refereeId, referral } = await referred(programId, await codeOf(programId, referrerId));
    await buy(programId, refereeId, "R-1", "120000");
    const refund = await api.call("POST", `${base(programId)}/refunds`, {
      body: {
        externalId: "RF-1",
        transaction: { storeId: "S1", externalId: "R-1" },
        amount: "30000",
      },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);
    api.clock.advanceDays(15);
    expect((await runJobsOnce(api.ctx)).referrals.completed).toBe(0);
    await buy(programId, refereeId, "R-2", "100000");
    api.clock.advanceDays(15);
    expect((await runJobsOnce(api.ctx)).referrals.completed).toBe(1);
    const list = await api.call("GET", `${base(programId)}/referrals?referrerId=${referrerId}`);
    expect(list.body.data).toEqual([
      expect.objectContaining({ id: referral.id, status: "completed" }),
    ]);
  });

  it("rejects an unknown code but still enrols the member", async () => {
    const programId = await program();
    const { refereeId, referral } = await referred(programId, "NOPE2345");
    expect(referral).toMatchObject({
      status: "rejected",
      reason: "unknown_code",
      referrerId: null,
      refereeId,
      referrerPoints: 0,
      refereePoints: 0,
    });
    const rejected = await api.call("GET", `${base(programId)}/referrals?status=rejected`);
    expect(rejected.body.data).toEqual([expect.objectContaining({ reason: "unknown_code" })]);
    const events = await api.call("GET", `${base(programId)}/events?limit=200`);
    expect(
      (events.body.data as { type: string; payload: Json }[]).find(
        (event) => event.type === "referral.rejected",
      )?.payload,
    ).toMatchObject({ refereeId, reason: "unknown_code" });
  });

  it("rejects self-referral by the same email written differently", async () => {
    const programId = await program();
    const referrerId = await api.member(programId, { email: "budi.santoso+promo@gmail.com" });
    const code = await codeOf(programId, referrerId);
    const { referral } = await referred(programId, code, {
      phone: undefined,
      email: "BudiSantoso@googlemail.com",
    });
    expect(referral).toMatchObject({ status: "rejected", reason: "self_referral", referrerId });
  });

  it("rejects self-referral from the referrer's device", async () => {
    const programId = await program();
    const referrerId = await api.member(programId, { deviceFingerprint: "device-abc" });
    const code = await codeOf(programId, referrerId);
    const same = await referred(programId, code, { deviceFingerprint: "device-abc" });
    expect(same.referral).toMatchObject({ status: "rejected", reason: "self_referral" });
    const other = await referred(programId, code, { deviceFingerprint: "device-xyz" });
    expect(other.referral).toMatchObject({ status: "pending" });
    // Fingerprints are stored hashed only.
    const stored = await api.ctx.db.kysely
      .selectFrom("referral_devices")
      .select("fingerprint_hash")
      .where("member_id", "=", referrerId)
      .execute();
    expect(stored).toEqual([{ fingerprint_hash: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  });

  it("rejects the code of a blocked referrer", async () => {
    const programId = await program();
    const referrerId = await api.member(programId);
    const code = await codeOf(programId, referrerId);
    const block = await api.call("POST", `${base(programId)}/members/${referrerId}/block`, {
      body: { reason: "fraud" },
    });
    expect(block.status, JSON.stringify(block.body)).toBe(200);
    const { referral } = await referred(programId, code);
    expect(referral).toMatchObject({ status: "rejected", reason: "referrer_blocked" });
  });

  it("rejects a code applied to an existing member and stores the attempt", async () => {
    const programId = await program();
    const referrerId = await api.member(programId);
    const code = await codeOf(programId, referrerId);
    const memberId = await api.member(programId);
    const claim = await api.call("POST", `${base(programId)}/members/${memberId}/referral/claim`, {
      body: { code },
    });
    expect(claim.status, JSON.stringify(claim.body)).toBe(201);
    expect(claim.body).toMatchObject({
      status: "rejected",
      reason: "already_member",
      source: "claim",
      referrerId,
      refereeId: memberId,
    });
    // The referrer's own code on themself is self-referral, whatever the route.
    const own = await api.call("POST", `${base(programId)}/members/${referrerId}/referral/claim`, {
      body: { code },
    });
    expect(own.body).toMatchObject({ status: "rejected", reason: "self_referral" });
    api.clock.advanceDays(30);
    expect((await runJobsOnce(api.ctx)).referrals.completed).toBe(0);
  });

  it("enforces the per-referrer total and monthly limits", async () => {
    const totalProgram = await program({}, { perReferrerTotalMax: 2 });
    const referrerId = await api.member(totalProgram);
    const code = await codeOf(totalProgram, referrerId);
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await referred(totalProgram, code)).referral);
    expect(outcomes.map((r) => r.reason)).toEqual([null, null, "limit_reached"]);

    api.clock.set("2026-05-20T03:00:00Z");
    const monthProgram = await program({}, { perReferrerMonthMax: 1 });
    const monthly = await api.member(monthProgram);
    const monthlyCode = await codeOf(monthProgram, monthly);
    expect((await referred(monthProgram, monthlyCode)).referral.status).toBe("pending");
    expect((await referred(monthProgram, monthlyCode)).referral.reason).toBe("limit_reached");
    // 1 June 00:30 in Jakarta is still 31 May in UTC: the month follows the program's timezone.
    api.clock.set("2026-05-31T17:30:00Z");
    expect((await referred(monthProgram, monthlyCode)).referral.status).toBe("pending");
  });

  it.runIf(onPostgres)(
    "counts concurrent referrals of one referrer against the limit",
    async () => {
      const programId = await program({}, { perReferrerTotalMax: 2 });
      const referrerId = await api.member(programId);
      const code = await codeOf(programId, referrerId);
      await Promise.all(
        Array.from({ length: 6 }, () => api.member(programId, { referralCode: code })),
      );
      const list = await api.call("GET", `${base(programId)}/referrals?referrerId=${referrerId}`);
      const statuses = (list.body.data as Json[]).map((referral) => referral.reason ?? "pending");
      expect(statuses.sort()).toEqual([
        "limit_reached",
        "limit_reached",
        "limit_reached",
        "limit_reached",
        "pending",
        "pending",
      ]);
    },
  );

  it("rejects every code while referrals are disabled", async () => {
    const programId = await program({}, { enabled: false });
    const referrerId = await api.member(programId);
    const { referral } = await referred(programId, await codeOf(programId, referrerId));
    expect(referral).toMatchObject({ status: "rejected", reason: "referrals_disabled" });
  });

  it("refuses bad input with a clear error and writes nothing", async () => {
    const programId = await program();
    const referrerId = await api.member(programId);
    await codeOf(programId, referrerId);
    const enrol = (extra: Json) =>
      api.call("POST", `${base(programId)}/members`, {
        body: { phone: nextPhone(), consents: { terms: true }, ...extra },
      });
    const cases: [string, () => ReturnType<TestApi["call"]>][] = [
      ["code too long", () => enrol({ referralCode: "A".repeat(33) })],
      ["empty code", () => enrol({ referralCode: "  " })],
      ["fingerprint too long", () => enrol({ deviceFingerprint: "x".repeat(257) })],
      ["code not a string", () => enrol({ referralCode: 12345 })],
      [
        "negative points",
        () =>
          api.call("PUT", `${base(programId)}/referral-settings`, {
            body: { ...settings, referrerPoints: -1 },
          }),
      ],
      [
        "too many decimals",
        () =>
          api.call("PUT", `${base(programId)}/referral-settings`, {
            body: { ...settings, qualifyingMinimum: "100.555" },
          }),
      ],
      [
        "not a web link",
        () =>
          api.call("PUT", `${base(programId)}/referral-settings`, {
            body: { ...settings, shareBaseUrl: "javascript:alert(1)" },
          }),
      ],
      [
        "unknown field",
        () =>
          api.call("PUT", `${base(programId)}/referral-settings`, {
            body: { ...settings, bonus: 1 },
          }),
      ],
      [
        "claim without code",
        () =>
          api.call("POST", `${base(programId)}/members/${referrerId}/referral/claim`, {
            body: {},
          }),
      ],
      ["bad status filter", () => api.call("GET", `${base(programId)}/referrals?status=won`)],
    ];
    for (const [name, act] of cases) {
      const response = await expectUnchanged(act);
      expect([400, 422], `${name}: ${JSON.stringify(response.body)}`).toContain(response.status);
      expectError(
        response,
        response.status,
        response.status === 400 ? "validation_failed" : "amount_precision",
      );
    }
    const missing = await expectUnchanged(() =>
      api.call("GET", `${base(programId)}/members/mbr_00000000000000000000000000/referral`),
    );
    expectError(missing, 404, "member_not_found");
  });

  it("keeps programs and roles apart", async () => {
    const programA = await program();
    const programB = await program();
    const referrerA = await api.member(programA);
    const codeA = await codeOf(programA, referrerA);
    const keyB = await api.key(programB, "admin");
    const posA = await api.key(programA, "pos");
    const readA = await api.key(programA, "read");
    for (const [method, url] of [
      ["GET", `${base(programA)}/referral-settings`],
      ["GET", `${base(programA)}/referrals`],
      ["GET", `${base(programA)}/members/${referrerA}/referral`],
    ] as const) {
      expectError(await api.call(method, url, { key: keyB }), 403, "forbidden");
    }
    expectError(
      await api.call("PUT", `${base(programA)}/referral-settings`, { key: posA, body: settings }),
      403,
      "forbidden",
    );
    expectError(
      await api.call("GET", `${base(programA)}/members/${referrerA}/referral`, { key: readA }),
      403,
      "forbidden",
    );
    expectError(
      await api.call("GET", `${base(programA)}/referrals`, { key: null }),
      401,
      "unauthorized",
    );
    // A member of program A does not exist in program B, and A's codes mean nothing there.
    expectError(
      await api.call("GET", `${base(programB)}/members/${referrerA}/referral`, { key: keyB }),
      404,
      "member_not_found",
    );
    const { referral } = await referred(programB, codeA);
    expect(referral).toMatchObject({ status: "rejected", reason: "unknown_code" });
    const listB = await api.call("GET", `${base(programB)}/referrals`, { key: keyB });
    expect((listB.body.data as Json[]).every((r) => r.referrerId === null)).toBe(true);
  });

  it("with no returns window a qualifying purchase completes the referral on the next run", async () => {
    const programId = await program({ returnsWindowDays: 0 });
    const referrerId = await api.member(programId);
    const { refereeId } = await referred(programId, await codeOf(programId, referrerId));
    await buy(programId, refereeId, "R-now", "100000");
    api.clock.advance(dayMs / 24);
    expect((await runJobsOnce(api.ctx)).referrals.completed).toBe(1);
  });
});
