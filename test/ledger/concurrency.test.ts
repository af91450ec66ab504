import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import { type Db, openDb } from "../../src/db/client.ts";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { DomainError } from "../../src/lib/errors.ts";
import { fromMinor } from "../../src/lib/money.ts";
import {
  adjust,
  createHold,
  programAccounts,
  redeem,
  settleHold,
  transfer,
  verifyLedger,
} from "../../src/modules/ledger/index.ts";
import { enrolMember, memberEnrolSchema } from "../../src/modules/members/index.ts";
import {
  createProgram,
  getProgram,
  type Program,
  type ProgramCreate,
  programCreateSchema,
} from "../../src/modules/programs/index.ts";
import {
  purchaseSchema,
  recordPurchase,
  recordRefund,
  refundSchema,
} from "../../src/modules/purchases/index.ts";
import { createTestApi, onPostgres, openTestDb, purchase, type TestApi } from "../harness.ts";

/*
 * Races that only a real multi-connection database can produce. PGlite runs one statement at a
 * time, so these run on PostgreSQL only.
 */

const start = "2026-03-02T03:00:00Z";
const silentLog = pino({ level: "silent" });

/** Postings of every entry sum to zero, and so do all postings together. */
async function expectBalancedJournal(db: Db): Promise<void> {
  const unbalanced = await sql<{ entry_id: string }>`
    select entry_id from postings group by entry_id having sum(points) <> 0`.execute(db.kysely);
  expect(unbalanced.rows).toEqual([]);
  const total = await sql<{ total: number }>`
    select coalesce(sum(points), 0)::bigint as total from postings`.execute(db.kysely);
  expect(total.rows[0]?.total).toBe(0);
  const report = await verifyLedger(db.kysely);
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
}

/** A small deterministic random source, so a failing interleaving of choices can be rerun. */
function randomSource(seed: number): (max: number) => number {
  let state = seed >>> 0;
  return (max) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % max) as number;
  };
}

async function newProgram(ctx: Ctx, settings: Partial<ProgramCreate>): Promise<Program> {
  const view = await createProgram(
    ctx,
    programCreateSchema.parse({ name: "Toko Balapan", ...settings }),
  );
  return getProgram(ctx.db.kysely, view.id);
}

async function newMembers(ctx: Ctx, programId: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let index = 0; index < count; index++) {
    const enrol = memberEnrolSchema.parse({
      email: `race${index}.${programId}@example.com`,
      consents: { terms: true },
    });
    const view = await ctx.db.transaction((tx) =>
      enrolMember(tx, ctx.clock.now(), programId, enrol),
    );
    ids.push(view.id);
  }
  return ids;
}

describe.runIf(onPostgres)("ledger under concurrent requests (HTTP)", () => {
  let api: TestApi;
  let programId: string;
  beforeAll(async () => {
    api = await createTestApi(start);
    programId = await api.program({ returnsWindowDays: 0 });
  });
  afterAll(() => api.close());

  async function fundedMember(points: number): Promise<string> {
    const memberId = await api.member(programId);
    const credit = await api.call(
      "POST",
      `/v1/programs/${programId}/members/${memberId}/adjustments`,
      {
        body: { points, reason: "opening balance" },
      },
    );
    expect(credit.status).toBe(201);
    return memberId;
  }

  async function balanceOf(memberId: string) {
    const response = await api.call("GET", `/v1/programs/${programId}/members/${memberId}/balance`);
    expect(response.status).toBe(200);
    return response.body as { pending: number; available: number; held: number };
  }

  it("lets exactly 10 of 50 parallel 100-point redemptions through a 1,000-point balance", async () => {
    const memberId = await fundedMember(1_000);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        api.call("POST", `/v1/programs/${programId}/members/${memberId}/redemptions`, {
          body: { points: 100 },
        }),
      ),
    );
    const succeeded = responses.filter((response) => response.status === 201);
    const refused = responses.filter((response) => response.status !== 201);
    expect(succeeded).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const response of refused) {
      expect(response.status).toBe(409);
      expect(response.body.error?.code).toBe("insufficient_points");
    }
    expect(await balanceOf(memberId)).toMatchObject({ available: 0, held: 0, pending: 0 });
    const redeems = await api.ctx.db.kysely
      .selectFrom("journal_entries")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("member_id", "=", memberId)
      .where("kind", "=", "redeem")
      .executeTakeFirstOrThrow();
    expect(Number(redeems.count)).toBe(10);
    await expectBalancedJournal(api.ctx.db);
  });

  it("earns once for 20 parallel copies of one receipt, all answering the same transaction", async () => {
    const memberId = await api.member(programId);
    const body = purchase("RACE-1", { total: "250000", member: { id: memberId } });
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call("POST", `/v1/programs/${programId}/transactions`, { body }),
      ),
    );
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(1);
    expect(statuses.filter((status) => status === 200)).toHaveLength(19);
    const transactionIds = new Set(responses.map((response) => response.body.transactionId));
    expect(transactionIds.size).toBe(1);

    const rows = await api.ctx.db.kysely
      .selectFrom("transactions")
      .select("id")
      .where("program_id", "=", programId)
      .where("store_id", "=", "S1")
      .where("external_id", "=", "RACE-1")
      .execute();
    expect(rows.map((row) => row.id)).toEqual([...transactionIds]);
    const earns = await api.ctx.db.kysely
      .selectFrom("journal_entries")
      .select("id")
      .where("member_id", "=", memberId)
      .where("kind", "=", "earn")
      .execute();
    expect(earns).toHaveLength(1);
    expect(await balanceOf(memberId)).toMatchObject({ available: 25 });
    await expectBalancedJournal(api.ctx.db);
  });

  it("debits once for 20 parallel redemptions sent with one Idempotency-Key", async () => {
    const memberId = await fundedMember(1_000);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        api.call("POST", `/v1/programs/${programId}/members/${memberId}/redemptions`, {
          body: { points: 100 },
          headers: { "idempotency-key": `redeem-${memberId}` },
        }),
      ),
    );
    const first = responses.filter(
      (response) => response.status === 201 && response.headers["idempotent-replayed"] !== "true",
    );
    expect(first).toHaveLength(1);
    const entryId = first[0]?.body.entryId;
    for (const response of responses) {
      if (response.status === 201) {
        expect(response.body.entryId).toBe(entryId);
      } else {
        expect(response.status).toBe(409);
        expect(response.body.error?.code).toBe("idempotency_in_progress");
      }
    }
    const redeems = await api.ctx.db.kysely
      .selectFrom("journal_entries")
      .select("id")
      .where("member_id", "=", memberId)
      .where("kind", "=", "redeem")
      .execute();
    expect(redeems.map((row) => row.id)).toEqual([entryId]);
    expect(await balanceOf(memberId)).toMatchObject({ available: 900 });
    await expectBalancedJournal(api.ctx.db);
  });

  it("survives 40 parallel transfers in opposite directions between two members", async () => {
    const first = await fundedMember(300);
    const second = await fundedMember(300);
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        api.call("POST", `/v1/programs/${programId}/transfers`, {
          body:
            index % 2 === 0
              ? { fromMemberId: first, toMemberId: second, points: 40 }
              : { fromMemberId: second, toMemberId: first, points: 40 },
        }),
      ),
    );
    for (const response of responses) {
      if (response.status !== 201) {
        expect(response.status).toBe(409);
        expect(response.body.error?.code).toBe("insufficient_points");
      }
    }
    expect(responses.filter((response) => response.status === 201).length).toBeGreaterThan(0);
    const balances = [await balanceOf(first), await balanceOf(second)];
    expect(balances[0]?.available).toBeGreaterThanOrEqual(0);
    expect(balances[1]?.available).toBeGreaterThanOrEqual(0);
    expect((balances[0]?.available ?? 0) + (balances[1]?.available ?? 0)).toBe(600);
    const transfers = await api.ctx.db.kysely
      .selectFrom("journal_entries")
      .select("id")
      .where("kind", "=", "transfer")
      .where("member_id", "in", [first, second])
      .execute();
    expect(transfers).toHaveLength(responses.filter((response) => response.status === 201).length);
    await expectBalancedJournal(api.ctx.db);
  });
});

describe.runIf(onPostgres)("ledger under concurrent workers (modules)", () => {
  let db: Db;
  let url: string;
  let drop: () => Promise<void>;
  const clock = new ManualClock(start);
  let ctx: Ctx;
  beforeAll(async () => {
    const opened = await openTestDb();
    if (!opened.url) throw new Error("PostgreSQL test database has no url");
    db = opened.db;
    url = opened.url;
    drop = opened.drop;
    ctx = { db, clock, log: silentLog };
  });
  afterAll(() => drop());

  it("releases, expires and ends holds once when two job runners race", async () => {
    // A second process: its own pool on the same database.
    const otherDb = await openDb({ databaseUrl: url, poolSizeMax: 10 });
    const otherCtx: Ctx = { db: otherDb, clock, log: silentLog };
    try {
      const random = randomSource(7);
      const expiring = await newProgram(ctx, {
        returnsWindowDays: 0,
        expiry: { policy: "months_after_earn", months: 12 },
      });
      const pendingProgram = await newProgram(ctx, {
        returnsWindowDays: 3,
        expiry: { policy: "none" },
        earnRate: { points: 1, per: "10", rounding: "floor" },
      });
      const now = clock.now();
      const expiringMembers = await newMembers(ctx, expiring.id, 20);
      for (const [index, memberId] of expiringMembers.entries()) {
        await db.transaction(async (tx) => {
          for (let lot = 0; lot < 15; lot++) {
            await adjust(tx, {
              program: expiring,
              memberId,
              points: 1 + random(50),
              reason: "expiring lot",
              expiresAt: new Date(now.getTime() + (1 + random(10)) * 86_400_000),
              at: now,
            });
          }
          // Some lots are partly spent before they expire.
          if (index % 3 === 0) {
            await redeem(tx, { programId: expiring.id, memberId, points: 40, at: now });
          }
        });
      }
      const pendingMembers = await newMembers(ctx, pendingProgram.id, 10);
      const holdIds: string[] = [];
      for (const [index, memberId] of pendingMembers.entries()) {
        await db.transaction(async (tx) => {
          for (let receipt = 0; receipt < 10; receipt++) {
            await recordPurchase(
              tx,
              ctx,
              pendingProgram.id,
              purchaseSchema.parse({
                externalId: `P-${index}-${receipt}`,
                storeId: "S1",
                channel: "pos",
                occurredAt: now.toISOString(),
                currency: "IDR",
                total: fromMinor((1 + random(200)) * 1_000, "IDR"),
                member: { id: memberId },
              }),
            );
          }
          await adjust(tx, {
            program: pendingProgram,
            memberId,
            points: 100,
            reason: "for holds",
            at: now,
          });
          for (let hold = 0; hold < 3; hold++) {
            const created = await createHold(tx, {
              program: pendingProgram,
              memberId,
              points: 20,
              ttlSeconds: 60,
              at: now,
            });
            holdIds.push(created.id);
          }
        });
      }

      clock.advance(30 * 86_400_000);
      const due = await sql<{
        expire_lots: number;
        expire_points: number;
        release_lots: number;
        release_points: number;
      }>`
        select
          count(*) filter (where state = 'available' and points_remaining > 0 and expires_at <= ${clock.now()})::int as expire_lots,
          coalesce(sum(points_remaining) filter (where state = 'available' and expires_at <= ${clock.now()}), 0)::bigint as expire_points,
          count(*) filter (where state = 'pending')::int as release_lots,
          coalesce(sum(points_remaining) filter (where state = 'pending'), 0)::bigint as release_points
        from point_lots`.execute(db.kysely);
      const expected = due.rows[0];
      if (!expected) throw new Error("no due counts");
      expect(expected.expire_lots).toBeGreaterThan(250);
      expect(expected.release_lots).toBe(100);

      const reports = await Promise.all([runJobsOnce(ctx), runJobsOnce(otherCtx)]);
      const sum = (pick: (report: (typeof reports)[number]) => number) =>
        reports.reduce((total, report) => total + pick(report), 0);
      expect(sum((report) => report.expired.points)).toBe(expected.expire_points);
      expect(sum((report) => report.expired.lots)).toBe(expected.expire_lots);
      expect(sum((report) => report.released.points)).toBe(expected.release_points);
      expect(sum((report) => report.released.lots)).toBe(expected.release_lots);
      expect(sum((report) => report.holdsExpired)).toBe(holdIds.length);

      // Each lot and hold was handled by exactly one entry.
      const expires = await sql<{ lot_id: string; n: number }>`
        select m.lot_id, count(*)::int as n
        from lot_movements m join journal_entries e on e.id = m.entry_id
        where e.kind = 'expire' group by m.lot_id`.execute(db.kysely);
      expect(expires.rows).toHaveLength(expected.expire_lots);
      expect(expires.rows.filter((row) => row.n !== 1)).toEqual([]);
      const expireEntries = await db.kysely
        .selectFrom("journal_entries")
        .select("id")
        .where("kind", "=", "expire")
        .execute();
      expect(expireEntries).toHaveLength(expected.expire_lots);
      const releases = await sql<{ lot_id: string; n: number }>`
        select l.id as lot_id, count(e.id)::int as n
        from point_lots l
          left join journal_entries e on e.transaction_id = l.transaction_id and e.kind = 'release'
        where l.program_id = ${pendingProgram.id} and l.source = 'earn'
        group by l.id having count(e.id) <> 1`.execute(db.kysely);
      expect(releases.rows).toEqual([]);
      const holdEnds = await sql<{ hold_id: string; n: number }>`
        select h.id as hold_id, count(e.id)::int as n
        from holds h left join journal_entries e on e.hold_id = h.id and e.kind = 'hold_expire'
        where h.program_id = ${pendingProgram.id}
        group by h.id having count(e.id) <> 1 or bool_or(h.state <> 'expired')`.execute(db.kysely);
      expect(holdEnds.rows).toEqual([]);

      // Nothing is left for a later pass.
      const again = await Promise.all([runJobsOnce(ctx), runJobsOnce(otherCtx)]);
      for (const report of again) {
        expect(report).toMatchObject({
          released: { lots: 0, points: 0 },
          expired: { lots: 0, points: 0 },
          holdsExpired: 0,
        });
      }
      await expectBalancedJournal(db);
    } finally {
      await otherDb.close();
    }
  });

  it("keeps the books balanced for every reader while workers earn, spend and move points", async () => {
    const program = await newProgram(ctx, {
      returnsWindowDays: 0,
      refundPolicy: "allow_negative",
      expiry: { policy: "months_after_earn", months: 12 },
      earnRate: { points: 1, per: "10", rounding: "floor" },
    });
    const memberIds = await newMembers(ctx, program.id, 10);
    await db.transaction(async (tx) => {
      for (const memberId of memberIds) {
        await adjust(tx, { program, memberId, points: 500, reason: "opening", at: clock.now() });
      }
    });

    const allowed = new Set(["insufficient_points", "hold_not_active", "refund_exceeds_total"]);
    const outcomes = new Map<string, number>();
    const note = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    /** Runs one write; expected refusals are counted, anything else fails the test. */
    const attempt = async <T>(name: string, write: () => Promise<T>): Promise<T | null> => {
      try {
        const value = await write();
        note(`${name} ok`);
        return value;
      } catch (error) {
        if (error instanceof DomainError && allowed.has(error.code)) {
          note(`${name} ${error.code}`);
          return null;
        }
        throw error;
      }
    };

    const workerCount = 6;
    const stepsPerWorker = 40;
    const worker = async (workerIndex: number) => {
      const random = randomSource(1_000 + workerIndex);
      const pick = () => memberIds[random(memberIds.length)] as string;
      const purchases: { id: string; leftMinor: number }[] = [];
      for (let step = 0; step < stepsPerWorker; step++) {
        const at = clock.now();
        const choice = random(7);
        if (choice === 0) {
          const totalMinor = (1 + random(300)) * 1_000;
          const result = await attempt("purchase", () =>
            db.transaction((tx) =>
              recordPurchase(
                tx,
                ctx,
                program.id,
                purchaseSchema.parse({
                  externalId: `W${workerIndex}-${step}`,
                  storeId: "S1",
                  channel: "pos",
                  occurredAt: at.toISOString(),
                  currency: "IDR",
                  total: fromMinor(totalMinor, "IDR"),
                  member: { id: pick() },
                }),
              ),
            ),
          );
          if (result) purchases.push({ id: result.transactionId, leftMinor: totalMinor });
        } else if (choice === 1 && purchases.length > 0) {
          const bought = purchases[random(purchases.length)];
          if (!bought || bought.leftMinor === 0) continue;
          const amountMinor = Math.max(1, random(bought.leftMinor + 1));
          const refunded = await attempt("refund", () =>
            db.transaction((tx) =>
              recordRefund(
                tx,
                ctx,
                program.id,
                refundSchema.parse({
                  externalId: `WF${workerIndex}-${step}`,
                  transaction: { id: bought.id },
                  amount: fromMinor(amountMinor, "IDR"),
                }),
              ),
            ),
          );
          if (refunded) bought.leftMinor -= amountMinor;
        } else if (choice === 2) {
          await attempt("redeem", () =>
            db.transaction((tx) =>
              redeem(tx, { programId: program.id, memberId: pick(), points: 1 + random(120), at }),
            ),
          );
        } else if (choice === 3 || choice === 4) {
          const from = pick();
          let to = pick();
          while (to === from) to = pick();
          await attempt("transfer", () =>
            db.transaction((tx) =>
              transfer(tx, {
                programId: program.id,
                fromMemberId: from,
                toMemberId: to,
                points: 1 + random(120),
                at,
              }),
            ),
          );
        } else if (choice === 5) {
          const hold = await attempt("hold", () =>
            db.transaction((tx) =>
              createHold(tx, {
                program,
                memberId: pick(),
                points: 1 + random(120),
                ttlSeconds: 60,
                at,
              }),
            ),
          );
          if (hold) {
            const outcome = random(2) === 0 ? "confirmed" : "cancelled";
            await attempt(`hold ${outcome}`, () =>
              db.transaction((tx) =>
                settleHold(tx, {
                  programId: program.id,
                  holdId: hold.id,
                  outcome,
                  at: clock.now(),
                }),
              ),
            );
          }
        } else {
          const credit = random(2) === 0;
          await attempt(credit ? "adjust credit" : "adjust debit", () =>
            db.transaction((tx) =>
              adjust(tx, {
                program,
                memberId: pick(),
                points: credit ? 1 + random(100) : -(1 + random(100)),
                reason: "bank test",
                at,
              }),
            ),
          );
        }
      }
    };

    // The scheduler's part: time moves in small steps, so holds expire while tills settle them.
    const jobs = async () => {
      for (let pass = 0; pass < 20; pass++) {
        clock.advance(20_000);
        await runJobsOnce(ctx);
      }
    };

    let writing = true;
    let reads = 0;
    const unbalancedReads: unknown[] = [];
    const reader = async () => {
      while (writing) {
        // One statement, one snapshot: the books must balance at every instant a reader can see.
        const result = await sql<{
          postings_total: number;
          member_postings: number;
          member_cache: number;
          bad_rows: number;
        }>`
          select
            (select coalesce(sum(points), 0) from postings)::bigint as postings_total,
            (select coalesce(sum(points), 0) from postings where member_id is not null)::bigint
              as member_postings,
            (select coalesce(sum(pending + available + held), 0) from member_balances)::bigint
              as member_cache,
            (select count(*) from member_balances
              where available < -debt or pending < 0 or held < 0)::int as bad_rows`.execute(
          db.kysely,
        );
        const row = result.rows[0];
        if (!row) throw new Error("the reader's statement returned no row");
        if (
          row.postings_total !== 0 ||
          row.bad_rows !== 0 ||
          row.member_cache !== row.member_postings
        ) {
          unbalancedReads.push(row);
        }
        reads++;
      }
    };

    const readers = Promise.all([reader(), reader()]);
    // Settled rather than all: a failing worker must not leave others writing after the test ends.
    const results = await Promise.allSettled([
      ...Array.from({ length: workerCount }, (_, index) => worker(index)),
      jobs(),
    ]);
    writing = false;
    await readers;
    for (const result of results) if (result.status === "rejected") throw result.reason;
    expect(unbalancedReads).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    // The mix really ran: points were earned, spent, moved, held and refused.
    for (const key of ["purchase ok", "redeem ok", "transfer ok", "hold ok", "refund ok"]) {
      expect(outcomes.get(key) ?? 0, key).toBeGreaterThan(0);
    }

    await expectBalancedJournal(db);
    const accounts = await programAccounts(db.kysely, program.id);
    const members = await db.kysely
      .selectFrom("member_balances")
      .select((eb) => eb.fn.sum<number>(sql`pending + available + held`).as("total"))
      .where("program_id", "=", program.id)
      .executeTakeFirstOrThrow();
    const programSide = await sql<{ total: number }>`
      select coalesce(sum(points), 0)::bigint as total from postings
      where member_id is null and program_id = ${program.id}`.execute(db.kysely);
    expect(Number(members.total)).toBe(-(programSide.rows[0]?.total ?? Number.NaN));
    const outstanding =
      accounts.outstanding.pending + accounts.outstanding.available + accounts.outstanding.held;
    expect(Number(members.total)).toBe(outstanding);
    // Program accounts hold the opposite of what members hold.
    expect(outstanding).toBe(
      accounts.issued + accounts.adjusted - accounts.redeemed - accounts.expired,
    );
  });
});
