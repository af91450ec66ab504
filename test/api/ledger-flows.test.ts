import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import { expectError, expectNothingWritten, rowCounts } from "./support.ts";

type Json = Record<string, unknown>;
type Balance = { pending: number; available: number; held: number; earnedTotal: number };
type Entry = {
  id: string;
  kind: string;
  points: { pending: number; available: number; held: number };
  reason: string | null;
};

const dayMs = 86_400_000;

describe("ledger flows over HTTP", () => {
  let api: TestApi;

  beforeAll(async () => {
    api = await createTestApi();
  });
  afterAll(() => api.close());

  const base = (programId: string) => `/v1/programs/${programId}`;
  const iso = (ms: number) => new Date(ms).toISOString();
  const now = () => api.clock.now().getTime();

  /** Records a purchase that happened now (unless occurredAt is given) for a member. */
  async function buy(
    programId: string,
    externalId: string,
    memberId: string,
    total: string,
    fields: Json = {},
  ) {
    const response = await api.call("POST", `${base(programId)}/transactions`, {
      body: purchase(externalId, {
        member: { id: memberId },
        total,
        occurredAt: iso(now()),
        ...fields,
      }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  }

  async function balance(programId: string, memberId: string): Promise<Balance> {
    const response = await api.call("GET", `${base(programId)}/members/${memberId}/balance`);
    expect(response.status).toBe(200);
    return response.body as Balance;
  }

  async function adjust(programId: string, memberId: string, points: number, extra: Json = {}) {
    const response = await api.call("POST", `${base(programId)}/members/${memberId}/adjustments`, {
      body: { points, reason: "test grant", ...extra },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body;
  }

  async function redeem(programId: string, memberId: string, points: number) {
    return api.call("POST", `${base(programId)}/members/${memberId}/redemptions`, {
      body: { points },
    });
  }

  async function refund(programId: string, externalId: string, body: Json) {
    return api.call("POST", `${base(programId)}/refunds`, {
      body: { externalId, transaction: { storeId: "S1", externalId: "T-1" }, ...body },
    });
  }

  /** A member's lots, oldest first, as [remaining, state, expiresAt]. */
  async function lots(memberId: string) {
    const rows = await api.ctx.db.kysely
      .selectFrom("point_lots")
      .select(["id", "source", "state", "points_original", "points_remaining", "expires_at"])
      .where("member_id", "=", memberId)
      .orderBy("id")
      .execute();
    return rows.map((row) => ({
      id: row.id,
      source: row.source,
      state: row.state,
      original: row.points_original,
      remaining: row.points_remaining,
      expiresAt: row.expires_at?.toISOString() ?? null,
    }));
  }

  async function history(programId: string, memberId: string): Promise<Entry[]> {
    const response = await api.call(
      "GET",
      `${base(programId)}/members/${memberId}/history?limit=200`,
    );
    expect(response.status).toBe(200);
    return response.body.data as Entry[];
  }

  async function expectLedgerOk(programId: string) {
    const response = await api.call("GET", `${base(programId)}/ledger/verify`);
    expect(response.body.problems).toEqual([]);
    expect(response.body.ok).toBe(true);
  }

  async function hold(programId: string, memberId: string, points: number, extra: Json = {}) {
    return api.call("POST", `${base(programId)}/members/${memberId}/holds`, {
      body: { points, ...extra },
    });
  }

  describe("pending points and the returns window", () => {
    it("keeps earned points pending for 14 days from the purchase, then releases them", async () => {
      const p = await api.program({ returnsWindowDays: 14 });
      const m = await api.member(p);
      const t0 = now();
      const earn = await buy(p, "T-1", m, "250000");
      expect(earn).toMatchObject({
        pointsEarned: 25,
        pointsState: "pending",
        availableAt: iso(t0 + 14 * dayMs),
        balance: { pending: 25, available: 0, held: 0 },
      });
      // Recorded late: the window runs from when the purchase happened, so 4 days are left.
      const late = await buy(p, "T-2", m, "100000", { occurredAt: iso(t0 - 10 * dayMs) });
      expect(late).toMatchObject({ pointsState: "pending", availableAt: iso(t0 + 4 * dayMs) });
      expectError(await redeem(p, m, 1), 409, "insufficient_points");

      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ pending: 35, available: 0 });

      api.clock.set(iso(t0 + 4 * dayMs - 1));
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ pending: 35, available: 0 });

      api.clock.set(iso(t0 + 4 * dayMs));
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ pending: 25, available: 10 });

      // A refund inside the window takes back pending points, so fewer are released.
      const back = await refund(p, "F-1", { amount: "125000" });
      expect(back.status).toBe(201);
      expect(back.body).toMatchObject({ pointsReversed: 12, pointsForfeited: 0 });
      expect(await balance(p, m)).toMatchObject({ pending: 13, available: 10 });

      api.clock.set(iso(t0 + 14 * dayMs - 1));
      const early = await runJobsOnce(api.ctx);
      expect(early.released.points).toBe(0);
      expect(await balance(p, m)).toMatchObject({ pending: 13, available: 10 });

      api.clock.set(iso(t0 + 14 * dayMs));
      const report = await runJobsOnce(api.ctx);
      expect(report.released).toEqual({ lots: 1, points: 13 });
      expect(await balance(p, m)).toEqual({ pending: 0, available: 23, held: 0, earnedTotal: 23 });
      expect((await lots(m)).map((lot) => [lot.state, lot.remaining])).toEqual([
        ["available", 13],
        ["available", 10],
      ]);
      // Running again finds nothing left to release.
      expect((await runJobsOnce(api.ctx)).released.points).toBe(0);
      expect((await history(p, m)).map((entry) => entry.kind)).toEqual([
        "release",
        "reverse",
        "release",
        "earn",
        "earn",
      ]);
      await expectLedgerOk(p);
    });
  });

  describe("expiry rules", () => {
    it("months_after_earn: the same day N months later, clamped to the month's end", async () => {
      api.clock.set("2026-03-31T10:00:00Z");
      const p = await api.program({ expiry: { policy: "months_after_earn", months: 6 } });
      const m = await api.member(p);
      expect((await buy(p, "T-1", m, "100000")).expiresAt).toBe("2026-09-30T10:00:00.000Z");
      const old = await buy(p, "T-2", m, "100000", { occurredAt: "2025-08-31T10:00:00Z" });
      expect(old.expiresAt).toBe("2026-02-28T10:00:00.000Z");
      // The old receipt's points were already past their expiry when recorded: jobs expire them.
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 10 });
      expect((await lots(m)).map((lot) => lot.state)).toEqual(["available", "expired"]);
      await expectLedgerOk(p);
    });

    it("end_of_year: the first instant of the next year in the program's timezone", async () => {
      const jakarta = await api.program({
        timezone: "Asia/Jakarta",
        expiry: { policy: "end_of_year", years: 1 },
      });
      const m = await api.member(jakarta);
      const expiryOf = async (externalId: string, occurredAt: string) =>
        (await buy(jakarta, externalId, m, "10000", { occurredAt })).expiresAt as string;

      const thisYear = await expiryOf("T-1", iso(now()));
      expect(thisYear).toBe("2026-12-31T17:00:00.000Z");
      const local = new Intl.DateTimeFormat("en-GB", {
        timeZone: "Asia/Jakarta",
        dateStyle: "short",
        timeStyle: "medium",
      });
      expect(local.format(new Date(thisYear))).toBe("01/01/2027, 00:00:00");
      // 23:59:59 on 31 December in Jakarta is still last year; a second later is the new year.
      expect(await expiryOf("T-2", "2025-12-31T16:59:59Z")).toBe("2025-12-31T17:00:00.000Z");
      expect(await expiryOf("T-3", "2025-12-31T17:00:00Z")).toBe("2026-12-31T17:00:00.000Z");

      const twoYears = await api.program({
        timezone: "Asia/Jakarta",
        expiry: { policy: "end_of_year", years: 2 },
      });
      const m2 = await api.member(twoYears);
      expect((await buy(twoYears, "T-1", m2, "10000")).expiresAt).toBe("2027-12-31T17:00:00.000Z");

      const utc = await api.program({
        timezone: "UTC",
        expiry: { policy: "end_of_year", years: 1 },
      });
      const m3 = await api.member(utc);
      expect((await buy(utc, "T-1", m3, "10000")).expiresAt).toBe("2027-01-01T00:00:00.000Z");

      const never = await api.program({ expiry: { policy: "none" } });
      const m4 = await api.member(never);
      expect((await buy(never, "T-1", m4, "10000")).expiresAt).toBeNull();
    });
  });

  describe("FIFO by expiry", () => {
    it("spends the earliest-expiring lots first and never-expiring lots last", async () => {
      const p = await api.program();
      const m = await api.member(p);
      await adjust(p, m, 30, { expiresAt: "2026-12-31T00:00:00Z" });
      await adjust(p, m, 20, { expiresAt: null });
      await adjust(p, m, 10, { expiresAt: "2026-06-30T00:00:00Z" });
      await adjust(p, m, 15, { expiresAt: "2026-09-30T00:00:00Z" });
      await buy(p, "T-1", m, "100000");
      const remaining = async () => (await lots(m)).map((lot) => [lot.expiresAt, lot.remaining]);
      const earnExpiry = (await lots(m))[4]?.expiresAt;
      expect(earnExpiry).toBe("2027-03-31T10:00:00.000Z");

      expect((await redeem(p, m, 30)).status).toBe(201);
      expect(await remaining()).toEqual([
        ["2026-12-31T00:00:00.000Z", 25],
        [null, 20],
        ["2026-06-30T00:00:00.000Z", 0],
        ["2026-09-30T00:00:00.000Z", 0],
        [earnExpiry, 10],
      ]);

      expect((await redeem(p, m, 40)).status).toBe(201);
      expect(await remaining()).toEqual([
        ["2026-12-31T00:00:00.000Z", 0],
        [null, 15],
        ["2026-06-30T00:00:00.000Z", 0],
        ["2026-09-30T00:00:00.000Z", 0],
        [earnExpiry, 0],
      ]);
      expect(await balance(p, m)).toMatchObject({ available: 15 });
      const expiring = await api.call("GET", `${base(p)}/members/${m}/expiring?days=3650`);
      expect(expiring.body.data).toEqual([]);
      await expectLedgerOk(p);
    });
  });

  describe("holds", () => {
    let p: string;
    let m: string;

    beforeAll(async () => {
      p = await api.program({ holdTtlSeconds: 300 });
      m = await api.member(p);
      await adjust(p, m, 100, { expiresAt: "2027-06-30T00:00:00Z" });
      await adjust(p, m, 50, { expiresAt: "2027-01-31T00:00:00Z" });
    });

    it("create → confirm redeems the held points", async () => {
      const created = await hold(p, m, 60, { reference: "till 1" });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        memberId: m,
        points: 60,
        state: "active",
        reference: "till 1",
        expiresAt: iso(now() + 300_000),
        settledAt: null,
      });
      expect(await balance(p, m)).toMatchObject({ available: 90, held: 60 });
      expect((await lots(m)).map((lot) => lot.remaining)).toEqual([90, 0]);
      expectError(await hold(p, m, 91), 409, "insufficient_points");

      const id = created.body.id as string;
      const confirmed = await api.call("POST", `${base(p)}/holds/${id}/confirm`);
      expect(confirmed.status).toBe(200);
      expect(confirmed.body).toMatchObject({ state: "confirmed", settledAt: iso(now()) });
      expect(await balance(p, m)).toMatchObject({ available: 90, held: 0 });
      // Confirming again is a safe retry; cancelling a confirmed hold is refused.
      const again = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/holds/${id}/confirm`),
      );
      expect(again.body).toEqual(confirmed.body);
      const cancel = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/holds/${id}/cancel`),
      );
      expectError(cancel, 409, "hold_not_active");
      const summary = await api.call("GET", `${base(p)}/ledger/summary`);
      expect(summary.body).toMatchObject({ redeemed: 60, outstanding: { held: 0, available: 90 } });
      expect((await lots(m)).map((lot) => lot.remaining)).toEqual([90, 0]);
      await expectLedgerOk(p);
    });

    it("create → cancel returns the points to the lots they came from", async () => {
      await adjust(p, m, 5, { expiresAt: "2026-12-31T00:00:00Z" });
      const before = await lots(m);
      const created = await hold(p, m, 40);
      expect((await lots(m)).map((lot) => lot.remaining)).toEqual([55, 0, 0]);
      const cancelled = await api.call("POST", `${base(p)}/holds/${created.body.id}/cancel`);
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.state).toBe("cancelled");
      expect(await lots(m)).toEqual(before);
      expect(await balance(p, m)).toMatchObject({ available: 95, held: 0 });
      const read = await api.call("GET", `${base(p)}/holds/${created.body.id}`);
      expect(read.body).toEqual(cancelled.body);
      await expectLedgerOk(p);
    });

    it("create → expire by the jobs returns the points; confirming then is refused", async () => {
      const before = await lots(m);
      const created = await hold(p, m, 30, { ttlSeconds: 60 });
      const id = created.body.id as string;
      expect(created.body.expiresAt).toBe(iso(now() + 60_000));
      api.clock.advance(59_999);
      expect((await runJobsOnce(api.ctx)).holdsExpired).toBe(0);
      expect(await balance(p, m)).toMatchObject({ available: 65, held: 30 });

      api.clock.advance(1);
      const report = await runJobsOnce(api.ctx);
      expect(report.holdsExpired).toBe(1);
      const read = await api.call("GET", `${base(p)}/holds/${id}`);
      expect(read.body).toMatchObject({ state: "expired", settledAt: iso(now()) });
      expect(await lots(m)).toEqual(before);
      expect(await balance(p, m)).toMatchObject({ available: 95, held: 0 });

      const confirm = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/holds/${id}/confirm`),
      );
      expectError(confirm, 409, "hold_not_active");
      await expectLedgerOk(p);
    });

    it("refuses to confirm a hold past its expiry even before the jobs ran", async () => {
      const created = await hold(p, m, 20, { ttlSeconds: 60 });
      api.clock.advance(60_000);
      const confirm = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/holds/${created.body.id}/confirm`),
      );
      expectError(confirm, 409, "hold_not_active");
      expect(confirm.body.error?.details).toEqual({ state: "expired" });
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 95, held: 0 });
    });
  });

  describe("refunds", () => {
    it("three partial refunds by amount reverse exactly the points earned", async () => {
      const p = await api.program();
      const m = await api.member(p);
      expect((await buy(p, "T-1", m, "250000")).pointsEarned).toBe(25);
      const reversed: number[] = [];
      for (const [id, amount] of [
        ["F-1", "83333.33"],
        ["F-2", "83333.33"],
        ["F-3", "83333.34"],
      ] as const) {
        const response = await refund(p, id, { amount });
        expect(response.status).toBe(201);
        reversed.push(response.body.pointsReversed as number);
      }
      // Cumulative rounding: floor(25 × ⅓) = 8, floor(25 × ⅔) = 16, then the rest.
      expect(reversed).toEqual([8, 8, 9]);
      expect(await balance(p, m)).toEqual({ pending: 0, available: 0, held: 0, earnedTotal: 0 });
      const view = await api.call("GET", `${base(p)}/transactions`);
      expect((view.body.data as Json[])[0]).toMatchObject({
        total: "250000.00",
        refunded: "250000.00",
        pointsEarned: 25,
        pointsReversed: 25,
      });
      expectError(await refund(p, "F-4", { amount: "0.01" }), 422, "refund_exceeds_total");
      await expectLedgerOk(p);
    });

    it("partial refunds by lines reverse in proportion and exactly in total", async () => {
      const p = await api.program({ earnRate: { points: 1, per: "3000" } });
      const m = await api.member(p);
      const earn = await buy(p, "T-1", m, "100000", {
        lines: [
          { sku: "KOPI", quantity: 3, unitPrice: "10000" },
          { sku: "BERAS", category: "staples", quantity: 1, unitPrice: "70000" },
        ],
      });
      expect(earn.pointsEarned).toBe(33);
      const steps: [string, { lineNo: number; quantity: number }[], string, number][] = [
        ["F-1", [{ lineNo: 1, quantity: 1 }], "10000.00", 3],
        ["F-2", [{ lineNo: 1, quantity: 2 }], "20000.00", 6],
        ["F-3", [{ lineNo: 2, quantity: 1 }], "70000.00", 24],
      ];
      for (const [id, lines, amount, points] of steps) {
        const response = await refund(p, id, { lines });
        expect(response.status).toBe(201);
        expect(response.body).toMatchObject({ amount, pointsReversed: points });
      }
      const again = await expectNothingWritten(api, () =>
        refund(p, "F-4", { lines: [{ lineNo: 1, quantity: 1 }] }),
      );
      expectError(again, 422, "refund_line_invalid");
      const view = await api.call("GET", `${base(p)}/transactions/${earn.transactionId}`);
      expect(view.body).toMatchObject({ refunded: "100000.00", pointsReversed: 33 });
      expect((view.body.lines as Json[]).map((line) => line.refundedQuantity)).toEqual([3, 1]);
      expect(await balance(p, m)).toMatchObject({ available: 0, earnedTotal: 0 });
      await expectLedgerOk(p);
    });

    it("allow_negative: refunding spent points leaves a debt that the next earns repay", async () => {
      const p = await api.program({ refundPolicy: "allow_negative" });
      const m = await api.member(p);
      await buy(p, "T-1", m, "250000");
      expect((await redeem(p, m, 20)).status).toBe(201);
      const back = await refund(p, "F-1", { amount: "250000" });
      expect(back.body).toMatchObject({
        pointsReversed: 25,
        pointsForfeited: 0,
        balance: { available: -20 },
      });
      expectError(await redeem(p, m, 1), 409, "insufficient_points");
      expect((await buy(p, "T-2", m, "100000")).balance).toMatchObject({ available: -10 });
      expect((await buy(p, "T-3", m, "300000")).balance).toMatchObject({ available: 20 });
      expect((await lots(m)).map((lot) => lot.remaining)).toEqual([0, 0, 20]);
      expect(await balance(p, m)).toEqual({ pending: 0, available: 20, held: 0, earnedTotal: 40 });
      await expectLedgerOk(p);
    });

    it("forfeit: refunding spent points never takes the balance below zero", async () => {
      const p = await api.program({ refundPolicy: "forfeit" });
      const m = await api.member(p);
      await buy(p, "T-1", m, "250000");
      expect((await redeem(p, m, 20)).status).toBe(201);
      const back = await refund(p, "F-1", { amount: "250000" });
      expect(back.status).toBe(201);
      expect(back.body).toMatchObject({
        pointsReversed: 5,
        pointsForfeited: 20,
        balance: { available: 0 },
      });
      expect((await buy(p, "T-2", m, "100000")).balance).toMatchObject({ available: 10 });
      await expectLedgerOk(p);
    });
  });

  describe("adjustments and transfers", () => {
    it("adjusts up and down with a reason, never below zero", async () => {
      const p = await api.program();
      const m = await api.member(p);
      const up = await adjust(p, m, 50, { reason: "goodwill: late delivery" });
      expect(up.balance).toMatchObject({ available: 50 });
      const [lot] = await lots(m);
      // Without an expiresAt, adjusted points follow the program's expiry rule (12 months).
      const inAYear = new Date(now());
      inAYear.setUTCFullYear(inAYear.getUTCFullYear() + 1);
      expect(lot?.expiresAt).toBe(inAYear.toISOString());
      const down = await adjust(p, m, -20, { reason: "correction: scanned twice" });
      expect(down.balance).toMatchObject({ available: 30 });
      const refused = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/members/${m}/adjustments`, {
          body: { points: -31, reason: "too much" },
        }),
      );
      expectError(refused, 409, "insufficient_points");
      const entries = await history(p, m);
      expect(entries.map((entry) => [entry.kind, entry.points.available, entry.reason])).toEqual([
        ["adjust", -20, "correction: scanned twice"],
        ["adjust", 50, "goodwill: late delivery"],
      ]);
      const summary = await api.call("GET", `${base(p)}/ledger/summary`);
      expect(summary.body).toMatchObject({ adjusted: 30, issued: 0 });
      await expectLedgerOk(p);
    });

    it("transfers points with the expiry of the lots they came from", async () => {
      const p = await api.program();
      const from = await api.member(p);
      const to = await api.member(p);
      await adjust(p, from, 20, { expiresAt: "2026-12-31T00:00:00Z" });
      await adjust(p, from, 5, { expiresAt: null });
      await adjust(p, from, 10, { expiresAt: "2026-06-30T00:00:00Z" });
      const response = await api.call("POST", `${base(p)}/transfers`, {
        body: { fromMemberId: from, toMemberId: to, points: 25, reason: "family" },
      });
      expect(response.status).toBe(201);
      expect(response.body).toMatchObject({ from: { available: 10 }, to: { available: 25 } });
      expect((await lots(to)).map((lot) => [lot.source, lot.expiresAt, lot.remaining])).toEqual([
        ["transfer", "2026-06-30T00:00:00.000Z", 10],
        ["transfer", "2026-12-31T00:00:00.000Z", 15],
      ]);
      expect((await lots(from)).map((lot) => lot.remaining)).toEqual([5, 5, 0]);
      const refused = await expectNothingWritten(api, () =>
        api.call("POST", `${base(p)}/transfers`, {
          body: { fromMemberId: from, toMemberId: to, points: 11 },
        }),
      );
      expectError(refused, 409, "insufficient_points");
      expect((await history(p, to))[0]).toMatchObject({
        kind: "transfer",
        points: { available: 25 },
      });
      await expectLedgerOk(p);
    });
  });

  describe("blocked members", () => {
    it("cannot earn, redeem, hold or transfer until unblocked", async () => {
      const p = await api.program();
      const m = await api.member(p);
      const friend = await api.member(p);
      await buy(p, "T-1", m, "200000");
      const blocked = await api.call("POST", `${base(p)}/members/${m}/block`, {
        body: { reason: "card reported stolen" },
      });
      expect(blocked.status).toBe(200);
      expect(blocked.body).toMatchObject({
        status: "blocked",
        blockedReason: "card reported stolen",
      });

      const attempts = [
        () =>
          api.call("POST", `${base(p)}/transactions`, {
            body: purchase("T-2", { member: { id: m }, occurredAt: iso(now()) }),
          }),
        () => redeem(p, m, 5),
        () => hold(p, m, 5),
        () =>
          api.call("POST", `${base(p)}/transfers`, {
            body: { fromMemberId: m, toMemberId: friend, points: 5 },
          }),
        () =>
          api.call("POST", `${base(p)}/transfers`, {
            body: { fromMemberId: friend, toMemberId: m, points: 1 },
          }),
      ];
      await adjust(p, friend, 10);
      for (const attempt of attempts) {
        expectError(await expectNothingWritten(api, attempt), 409, "member_blocked");
      }
      expect(await balance(p, m)).toMatchObject({ available: 20 });

      const unblocked = await api.call("POST", `${base(p)}/members/${m}/unblock`, { body: {} });
      expect(unblocked.body).toMatchObject({ status: "active", blockedReason: null });
      // The refused receipt was not burnt: the same one now records.
      const earn = await attempts[0]?.();
      expect(earn?.status).toBe(201);
      expect((await redeem(p, m, 5)).status).toBe(201);
      expect(await balance(p, m)).toMatchObject({ available: 25 });
      await expectLedgerOk(p);
    });
  });

  describe("pagination", () => {
    async function collect(url: string, limit: number) {
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor ? `&cursor=${cursor}` : "";
        const response = await api.call("GET", `${url}?limit=${limit}${query}`);
        expect(response.status).toBe(200);
        pages.push((response.body.data as { id: string }[]).map((item) => item.id));
        cursor = response.body.nextCursor as string | null;
        expect(pages.length).toBeLessThan(20);
      } while (cursor);
      return pages;
    }

    it("pages a member's history newest first with nextCursor", async () => {
      const p = await api.program();
      const m = await api.member(p);
      for (let index = 1; index <= 5; index++) await adjust(p, m, index);
      const all = (await history(p, m)).map((entry) => entry.id);
      expect(all).toHaveLength(5);
      expect([...all].sort().reverse()).toEqual(all);
      const pages = await collect(`${base(p)}/members/${m}/history`, 2);
      expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
      expect(pages.flat()).toEqual(all);
    });

    it("pages the member list oldest first, ending with an empty page when it divides evenly", async () => {
      const p = await api.program();
      const ids: string[] = [];
      for (let index = 0; index < 4; index++) ids.push(await api.member(p));
      const pages = await collect(`${base(p)}/members`, 2);
      expect(pages.map((page) => page.length)).toEqual([2, 2, 0]);
      expect(pages.flat()).toEqual(ids);
      expect((await collect(`${base(p)}/members`, 3)).flat()).toEqual(ids);
    });

    it("pages transactions newest first", async () => {
      const p = await api.program();
      const m = await api.member(p);
      const ids: string[] = [];
      for (let index = 0; index < 3; index++) {
        ids.push((await buy(p, `T-${index}`, m, "10000")).transactionId as string);
      }
      const pages = await collect(`${base(p)}/transactions`, 2);
      expect(pages.flat()).toEqual(ids.reverse());
    });
  });

  describe("identifiers", () => {
    it("finds a member by any phone format, by email in any case and by card", async () => {
      const p = await api.program();
      const enrol = await api.call("POST", `${base(p)}/members`, {
        body: {
          phone: "0812-3456-7890",
          email: "Siti.Rahma@Example.COM",
          consents: { terms: true },
        },
      });
      expect(enrol.status).toBe(201);
      expect(enrol.body).toMatchObject({
        phone: "+6281234567890",
        email: "siti.rahma@example.com",
      });
      const id = enrol.body.id as string;
      const card = enrol.body.cardNumber as string;
      expect(card).toMatch(/^8\d{15}$/);
      const spaced = card.replace(/(\d{4})(?=\d)/g, "$1 ");
      const queries = [
        "phone=0812-3456-7890",
        `phone=${encodeURIComponent("+62 812 3456 7890")}`,
        "phone=6281234567890",
        "email=siti.rahma@example.com",
        `email=${encodeURIComponent("SITI.RAHMA@EXAMPLE.COM")}`,
        `card=${card}`,
        `card=${encodeURIComponent(spaced)}`,
      ];
      for (const query of queries) {
        const response = await api.call("GET", `${base(p)}/members/lookup?${query}`);
        expect(response.status, query).toBe(200);
        expect(response.body.id).toBe(id);
        expect(response.body.balance).toEqual({
          pending: 0,
          available: 0,
          held: 0,
          earnedTotal: 0,
        });
      }
    });

    it("refuses a second enrolment of the same phone or email in any format", async () => {
      const p = await api.program();
      await api.member(p, { phone: "+62 812 3456 7890", email: "budi@example.com" });
      for (const fields of [
        { phone: "081234567890" },
        { phone: "6281234567890" },
        { phone: nextPhone(), email: "BUDI@example.com" },
      ]) {
        const response = await expectNothingWritten(api, () =>
          api.call("POST", `${base(p)}/members`, {
            body: { consents: { terms: true }, ...fields },
          }),
        );
        expectError(response, 409, "identifier_taken");
      }
      // Another program is another membership.
      const other = await api.program();
      expect(await api.member(other, { phone: "081234567890" })).toMatch(/^mbr_/);
    });
  });

  describe("transactions batch", () => {
    it("writes a batch too large for one statement's parameters in several, exactly once", async () => {
      const p = await api.program();
      const members = [await api.member(p), await api.member(p)];
      const at = iso(now());
      // 50 purchases of 300 lines: about 120,000 values, past PostgreSQL's 65,535 per statement.
      const lines = Array.from({ length: 300 }, (_, index) => ({
        sku: `SKU-${index}`,
        quantity: 1,
        unitPrice: "1000",
      }));
      const transactions = Array.from({ length: 50 }, (_, index) =>
        purchase(`BIG-${index}`, {
          member: { id: members[index % 2] },
          occurredAt: at,
          total: "300000",
          lines,
        }),
      );
      const response = await api.call("POST", `${base(p)}/transactions/batch`, {
        body: { transactions },
      });
      expect(response.status).toBe(200);
      expect(response.body.created).toBe(50);
      const lineRows = await api.ctx.db.kysely
        .selectFrom("transaction_lines")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .where("program_id", "=", p)
        .executeTakeFirstOrThrow();
      expect(Number(lineRows.n)).toBe(15_000);
      for (const memberId of members) {
        const balance = await api.call("GET", `${base(p)}/members/${memberId}/balance`);
        expect(balance.body.available).toBe(25 * 30);
      }
      const verify = await api.call("GET", `${base(p)}/ledger/verify`);
      expect(verify.body.ok).toBe(true);
    });

    it("answers per item; only the valid items are written", async () => {
      const p = await api.program();
      const m = await api.member(p);
      const at = iso(now());
      const item = (externalId: string, fields: Json = {}) =>
        purchase(externalId, { member: { id: m }, occurredAt: at, ...fields });
      await buy(p, "B-0", m, "100000", { occurredAt: at });
      const before = await rowCounts(api);
      const response = await api.call("POST", `${base(p)}/transactions/batch`, {
        body: {
          transactions: [
            item("B-1", { total: "200000" }),
            item("B-2", { currency: "USD" }),
            item("B-0", { total: "100000" }),
            item("B-3", { member: { id: "mbr_01aaaaaaaaaaaaaaaaaaaaaaaa" } }),
            item("B-0", { total: "999999" }),
            item("B-4", { total: "300000" }),
            item("B-1", { total: "200000" }),
            item("B-5", { occurredAt: iso(now() + 3_600_000) }),
            item("B-6", { total: "1.001" }),
          ],
        },
      });
      expect(response.status).toBe(200);
      const results = response.body.results as {
        index: number;
        status: string;
        result?: Json;
        error?: { code: string };
      }[];
      expect(
        results.map((r) => [r.index, r.status, r.error?.code ?? r.result?.pointsEarned]),
      ).toEqual([
        [0, "created", 20],
        [1, "failed", "currency_mismatch"],
        [2, "replayed", 10],
        [3, "failed", "member_not_found"],
        [4, "failed", "duplicate_transaction"],
        [5, "created", 30],
        [6, "replayed", 20],
        [7, "failed", "occurred_in_future"],
        [8, "failed", "amount_precision"],
      ]);
      expect(response.body).toMatchObject({ created: 2, replayed: 2, failed: 5 });
      const after = await rowCounts(api);
      expect(after.transactions - before.transactions).toBe(2);
      expect(after.journal_entries - before.journal_entries).toBe(2);
      expect(after.point_lots - before.point_lots).toBe(2);
      const list = await api.call("GET", `${base(p)}/transactions`);
      expect((list.body.data as Json[]).map((t) => t.externalId).sort()).toEqual([
        "B-0",
        "B-1",
        "B-4",
      ]);
      expect(await balance(p, m)).toMatchObject({ available: 60 });
      await expectLedgerOk(p);
    });
  });

  describe("program totals and events", () => {
    it("sums the journal into issued, redeemed, adjusted, expired and outstanding", async () => {
      const p = await api.program({ returnsWindowDays: 7 });
      const [m1, m2, m3] = [await api.member(p), await api.member(p), await api.member(p)];
      const weekAgo = iso(now() - 8 * dayMs);
      await buy(p, "T-1", m1 as string, "250000", { occurredAt: weekAgo });
      await buy(p, "T-2", m2 as string, "100000", { occurredAt: weekAgo });
      await buy(p, "T-3", m3 as string, "20000");
      expect((await redeem(p, m1 as string, 5)).status).toBe(201);
      await adjust(p, m2 as string, 7);
      await adjust(p, m1 as string, -2);
      expect((await hold(p, m1 as string, 3)).status).toBe(201);
      const held = await hold(p, m2 as string, 4);
      await api.call("POST", `${base(p)}/holds/${held.body.id}/confirm`);
      const back = await api.call("POST", `${base(p)}/refunds`, {
        body: {
          externalId: "F-1",
          transaction: { storeId: "S1", externalId: "T-2" },
          amount: "50000",
        },
      });
      expect(back.body.pointsReversed).toBe(5);
      const summary = await api.call("GET", `${base(p)}/ledger/summary`);
      expect(summary.body).toEqual({
        issued: 32,
        redeemed: 9,
        expired: 0,
        adjusted: 5,
        outstanding: { pending: 2, available: 23, held: 3 },
      });
      const { issued, adjusted, redeemed, expired, outstanding } = summary.body as {
        issued: number;
        adjusted: number;
        redeemed: number;
        expired: number;
        outstanding: { pending: number; available: number; held: number };
      };
      expect(issued + adjusted - redeemed - expired).toBe(
        outstanding.pending + outstanding.available + outstanding.held,
      );
      await expectLedgerOk(p);
    });

    it("lists the outbox in commit order and pages it with after", async () => {
      const p = await api.program();
      const m = await api.member(p);
      await buy(p, "T-1", m, "100000");
      expect((await redeem(p, m, 4)).status).toBe(201);
      const created = await hold(p, m, 3);
      await api.call("POST", `${base(p)}/holds/${created.body.id}/cancel`);
      expectError(await redeem(p, m, 100), 409, "insufficient_points");

      const response = await api.call("GET", `${base(p)}/events`);
      expect(response.status).toBe(200);
      const events = response.body.data as {
        seq: number;
        id: string;
        type: string;
        payload: Json;
        createdAt: string;
      }[];
      expect(events.map((event) => event.type)).toEqual([
        "program.created",
        "member.enrolled",
        "points.earned",
        "transaction.recorded",
        "points.redeemed",
        "points.held",
        "points.hold_cancelled",
      ]);
      const seqs = events.map((event) => event.seq);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(seqs.length);
      for (const event of events) {
        expect(event.id).toMatch(/^evt_/);
        expect(event.payload.schemaVersion).toBe(1);
      }
      expect(events.slice(1).every((event) => event.payload.memberId === m)).toBe(true);

      const after = await api.call("GET", `${base(p)}/events?after=${seqs[2]}&limit=2`);
      expect((after.body.data as { seq: number }[]).map((event) => event.seq)).toEqual(
        seqs.slice(3, 5),
      );
      const none = await api.call("GET", `${base(p)}/events?after=${seqs.at(-1)}`);
      expect(none.body.data).toEqual([]);
    });
  });

  describe("program settings", () => {
    it("changes only the settings a PATCH names, and new earns follow them", async () => {
      const p = await api.program({
        returnsWindowDays: 3,
        refundPolicy: "forfeit",
        expiry: { policy: "end_of_year", years: 2 },
        holdTtlSeconds: 120,
      });
      const before = await api.call("GET", base(p));
      const patched = await api.call("PATCH", base(p), { body: { returnsWindowDays: 0 } });
      expect(patched.status).toBe(200);
      expect(patched.body).toEqual({
        ...before.body,
        returnsWindowDays: 0,
        updatedAt: iso(now()),
      });
      const m = await api.member(p);
      expect((await buy(p, "T-1", m, "100000")).pointsState).toBe("available");
    });
  });

  describe("expiry by the jobs", () => {
    it("expires what is left of a lot at its expiry instant, not before", async () => {
      api.clock.set("2026-10-31T05:00:00Z");
      const p = await api.program({ expiry: { policy: "months_after_earn", months: 1 } });
      const m = await api.member(p);
      const earn = await buy(p, "T-1", m, "250000");
      expect(earn.expiresAt).toBe("2026-11-30T05:00:00.000Z");
      await adjust(p, m, 5, { expiresAt: null });
      expect((await redeem(p, m, 10)).status).toBe(201);
      expect(await balance(p, m)).toMatchObject({ available: 20 });

      api.clock.set("2026-11-30T04:59:59.999Z");
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 20 });

      api.clock.set("2026-11-30T05:00:00Z");
      const report = await runJobsOnce(api.ctx);
      expect(report.expired.points).toBeGreaterThanOrEqual(15);
      expect(await balance(p, m)).toMatchObject({ available: 5 });
      expect((await lots(m)).map((lot) => [lot.state, lot.remaining])).toEqual([
        ["expired", 0],
        ["available", 5],
      ]);
      expect((await history(p, m))[0]).toMatchObject({
        kind: "expire",
        points: { available: -15 },
      });
      const summary = await api.call("GET", `${base(p)}/ledger/summary`);
      expect(summary.body).toMatchObject({
        issued: 25,
        redeemed: 10,
        expired: 15,
        outstanding: { available: 5 },
      });
      // A second run has nothing left to expire.
      expect((await runJobsOnce(api.ctx)).expired.points).toBe(0);
      await expectLedgerOk(p);
    });

    it("expires end_of_year points at midnight of 1 January in Jakarta", async () => {
      const p = await api.program({
        timezone: "Asia/Jakarta",
        expiry: { policy: "end_of_year", years: 1 },
      });
      const m = await api.member(p);
      expect((await buy(p, "T-1", m, "100000")).expiresAt).toBe("2026-12-31T17:00:00.000Z");
      api.clock.set("2026-12-31T16:59:59.999Z");
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 10 });
      api.clock.set("2026-12-31T17:00:00Z");
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 0 });
      const summary = await api.call("GET", `${base(p)}/ledger/summary`);
      expect(summary.body).toMatchObject({ expired: 10 });
      await expectLedgerOk(p);
    });
  });

  describe("refunds after expiry", () => {
    const expiringMonthly = {
      returnsWindowDays: 0,
      refundPolicy: "allow_negative",
      expiry: { policy: "months_after_earn", months: 1 },
    };

    async function summary(programId: string) {
      const response = await api.call("GET", `${base(programId)}/ledger/summary`);
      expect(response.status).toBe(200);
      return response.body;
    }

    it("takes nothing more from the member for points that already expired, over partial refunds", async () => {
      const p = await api.program(expiringMonthly);
      const m = await api.member(p);
      expect((await buy(p, "T-1", m, "250000")).pointsEarned).toBe(25);
      // Points that never expire: a refund must not take the expired points again from these.
      await adjust(p, m, 10, { expiresAt: null });
      api.clock.advance(40 * dayMs);
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toEqual({ pending: 0, available: 10, held: 0, earnedTotal: 25 });
      expect(await summary(p)).toMatchObject({ issued: 25, expired: 25, adjusted: 10 });

      const first = await refund(p, "F-1", { amount: "100000" });
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({
        pointsReversed: 0,
        pointsForfeited: 0,
        pointsAlreadyExpired: 10,
        balance: { available: 10 },
      });
      const rest = await refund(p, "F-2", { amount: "150000" });
      expect(rest.body).toMatchObject({
        pointsReversed: 0,
        pointsForfeited: 0,
        pointsAlreadyExpired: 15,
        balance: { available: 10 },
      });
      // A replay answers the first result and writes nothing.
      const replay = await expectNothingWritten(api, () => refund(p, "F-1", { amount: "100000" }));
      expect(replay.body).toMatchObject({ replayed: true, pointsAlreadyExpired: 10 });

      expect(await balance(p, m)).toEqual({ pending: 0, available: 10, held: 0, earnedTotal: 0 });
      expect(await summary(p)).toEqual({
        issued: 0,
        redeemed: 0,
        expired: 0,
        adjusted: 10,
        outstanding: { pending: 0, available: 10, held: 0 },
      });
      expect((await lots(m)).map((lot) => [lot.state, lot.remaining])).toEqual([
        ["expired", 0],
        ["available", 10],
      ]);
      // The reversals of expired points touch no member account, so the history shows none.
      expect((await history(p, m)).map((entry) => entry.kind)).toEqual([
        "expire",
        "adjust",
        "earn",
      ]);
      const view = await api.call("GET", `${base(p)}/transactions`);
      expect((view.body.data as Json[])[0]).toMatchObject({
        refunded: "250000.00",
        pointsReversed: 25,
      });
      await expectLedgerOk(p);
    });

    it("part spent, part expired: the spent part comes from other lots, the expired part once", async () => {
      const p = await api.program(expiringMonthly);
      const m = await api.member(p);
      await buy(p, "T-1", m, "250000");
      await adjust(p, m, 20, { expiresAt: null });
      // Spends the purchase's lot first (it expires first): 15 of its 25 points are left to expire.
      expect((await redeem(p, m, 10)).status).toBe(201);
      api.clock.advance(40 * dayMs);
      await runJobsOnce(api.ctx);
      expect(await balance(p, m)).toMatchObject({ available: 20 });
      expect(await summary(p)).toMatchObject({ issued: 25, redeemed: 10, expired: 15 });

      // 20 points to reverse: 15 expired (nothing taken), then 5 from the other lot.
      const first = await refund(p, "F-1", { amount: "200000" });
      expect(first.body).toMatchObject({
        pointsReversed: 5,
        pointsForfeited: 0,
        pointsAlreadyExpired: 15,
        balance: { available: 15 },
      });
      // The expired part is used up: the last 5 points come from the other lot.
      const rest = await refund(p, "F-2", { amount: "50000" });
      expect(rest.body).toMatchObject({
        pointsReversed: 5,
        pointsForfeited: 0,
        pointsAlreadyExpired: 0,
        balance: { available: 10 },
      });
      expect(await balance(p, m)).toEqual({ pending: 0, available: 10, held: 0, earnedTotal: 0 });
      expect(await summary(p)).toEqual({
        issued: 0,
        redeemed: 10,
        expired: 0,
        adjusted: 20,
        outstanding: { pending: 0, available: 10, held: 0 },
      });
      await expectLedgerOk(p);

      // Without other lots, the spent part becomes debt and the expired part still costs nothing.
      const q = await api.program(expiringMonthly);
      const n = await api.member(q);
      await buy(q, "T-1", n, "250000");
      expect((await redeem(q, n, 10)).status).toBe(201);
      api.clock.advance(40 * dayMs);
      await runJobsOnce(api.ctx);
      const full = await refund(q, "F-1", { amount: "250000" });
      expect(full.body).toMatchObject({
        pointsReversed: 10,
        pointsForfeited: 0,
        pointsAlreadyExpired: 15,
        balance: { available: -10 },
      });
      expect(await summary(q)).toMatchObject({ issued: 0, redeemed: 10, expired: 0 });
      await expectLedgerOk(q);
    });
  });
});
