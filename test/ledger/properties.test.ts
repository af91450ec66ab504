import fc from "fast-check";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import { runJobsOnce } from "../../src/jobs/index.ts";
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
  expiryFor,
  getProgram,
  type Program,
  type ProgramCreate,
  programCreateSchema,
} from "../../src/modules/programs/index.ts";
import {
  type PurchaseInput,
  purchaseSchema,
  type RefundInput,
  recordPurchase,
  recordRefund,
  refundSchema,
} from "../../src/modules/purchases/index.ts";
import { createTestContext, type TestContext } from "../harness.ts";

/*
 * Model-based property test of the points ledger. Random sequences of operations run through the
 * module functions; a model that tracks every lot, hold, purchase and debt predicts each outcome
 * (including which domain error is expected), and after every step the database must agree with
 * the model and with the ledger's own invariants.
 */

const dayMs = 86_400_000;
const membersPerRun = 2;
/** 1 point per 10.00 IDR, i.e. per 1,000 minor units. */
const minorPerPoint = 1_000;
/** Modest by default to keep the suite fast; raise LEDGER_PROPERTY_RUNS for a deeper search. */
const propertyRuns = Number(process.env.LEDGER_PROPERTY_RUNS ?? 30);

type LotState = "pending" | "available" | "expired" | "reversed";

interface ModelLot {
  seq: number;
  state: LotState;
  remaining: number;
  availableAtMs: number;
  expiresAtMs: number | null;
  /** Points that expired from this lot, over all its expiries. */
  expired: number;
}

interface ModelMember {
  id: string;
  lots: ModelLot[];
  debt: number;
  /** Lifetime points earned, net of refunds (the balance's earned_total). */
  earned: number;
}

interface ModelHold {
  id: string;
  member: ModelMember;
  points: number;
  state: "active" | "confirmed" | "cancelled" | "expired";
  expiresAtMs: number;
  allocations: { lot: ModelLot; points: number }[];
}

interface ModelPurchase {
  id: string;
  input: PurchaseInput;
  member: ModelMember;
  totalMinor: number;
  pointsEarned: number;
  refundedMinor: number;
  pointsReversed: number;
  /** Points refunds took from the lot's expired part, which never exceeds what expired. */
  expiredReversed: number;
  lot: ModelLot | null;
}

interface ModelRefund {
  id: string;
  input: RefundInput;
}

interface Run {
  program: Program;
  members: ModelMember[];
  holds: ModelHold[];
  purchases: ModelPurchase[];
  refunds: ModelRefund[];
  /** The program's issued points (-program:issued): earns less refunds. */
  issued: number;
  nextSeq: number;
  nextReceipt: number;
}

type Step =
  | { op: "purchase"; member: number; points: number; extraMinor: number; ageMinutes: number }
  | { op: "replayPurchase"; pick: number; changed: boolean }
  | { op: "redeem"; member: number; amount: Amount }
  | { op: "invalidRedeem"; member: number; points: number }
  | { op: "hold"; member: number; amount: Amount; ttlSeconds: number | undefined }
  | { op: "settle"; pick: number; outcome: "confirmed" | "cancelled" }
  | { op: "refund"; pick: number; kind: "part" | "rest" | "exceed"; percent: number }
  | { op: "replayRefund"; pick: number }
  | { op: "adjust"; member: number; credit: boolean; amount: Amount }
  | { op: "transfer"; from: number; toOffset: number; amount: Amount }
  | { op: "advance"; ms: number };

const memberArb = fc.nat({ max: membersPerRun - 1 });
/** Points to spend: a fixed number, or a share of what the member has when the step runs. */
type Amount = { points: number } | { percent: number };
const amountArb: fc.Arbitrary<Amount> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ points: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 3, arbitrary: fc.record({ percent: fc.constantFrom(30, 50, 100) }) },
  { weight: 1, arbitrary: fc.record({ percent: fc.constant(101) }) },
);

const purchaseArb = fc.record({
  op: fc.constant("purchase" as const),
  member: memberArb,
  points: fc.integer({ min: 0, max: 300 }),
  extraMinor: fc.integer({ min: 0, max: minorPerPoint - 1 }),
  ageMinutes: fc.integer({ min: 0, max: 5 * 24 * 60 }),
});

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: purchaseArb },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("replayPurchase" as const),
      pick: fc.nat(),
      changed: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("redeem" as const),
      member: memberArb,
      amount: amountArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("invalidRedeem" as const),
      member: memberArb,
      points: fc.constantFrom(0, -5, 2.5, Number.NaN, 2 ** 60),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("hold" as const),
      member: memberArb,
      amount: amountArb,
      ttlSeconds: fc.option(fc.integer({ min: 60, max: 3_600 }), { nil: undefined }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("settle" as const),
      pick: fc.nat(),
      outcome: fc.constantFrom("confirmed" as const, "cancelled" as const),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("refund" as const),
      pick: fc.nat(),
      kind: fc.constantFrom("part" as const, "part" as const, "rest" as const, "exceed" as const),
      percent: fc.integer({ min: 1, max: 99 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("replayRefund" as const), pick: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("adjust" as const),
      member: memberArb,
      credit: fc.boolean(),
      amount: amountArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("transfer" as const),
      from: memberArb,
      // Mostly another member; now and then the same one, which must be refused.
      toOffset: fc.oneof(
        { weight: 1, arbitrary: fc.constant(0) },
        { weight: 8, arbitrary: fc.integer({ min: 1, max: membersPerRun - 1 }) },
      ),
      amount: amountArb,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      ms: fc.constantFrom(
        60_000,
        20 * 60_000,
        dayMs,
        4 * dayMs,
        20 * dayMs,
        45 * dayMs,
        200 * dayMs,
      ),
    }),
  },
);

const programArb: fc.Arbitrary<ProgramSettings> = fc.record({
  returnsWindowDays: fc.constantFrom(0, 3),
  refundPolicy: fc.constantFrom("allow_negative" as const, "forfeit" as const),
  expiry: fc.constantFrom(
    { policy: "months_after_earn" as const, months: 1 },
    { policy: "months_after_earn" as const, months: 2 },
    { policy: "end_of_year" as const, years: 1 },
    { policy: "none" as const },
  ),
});

/** How often each kind of step ran and how it ended; printed with LEDGER_PROPERTY_STATS=1. */
const coverage = new Map<string, number>();
function count(key: string): void {
  coverage.set(key, (coverage.get(key) ?? 0) + 1);
}

// --- The model -------------------------------------------------------------------------------

function lotsAvailable(member: ModelMember): number {
  return member.lots
    .filter((lot) => lot.state === "available")
    .reduce((sum, lot) => sum + lot.remaining, 0);
}

function available(member: ModelMember): number {
  return lotsAvailable(member) - member.debt;
}

function pending(member: ModelMember): number {
  return member.lots
    .filter((lot) => lot.state === "pending")
    .reduce((sum, lot) => sum + lot.remaining, 0);
}

function held(run: Run, member: ModelMember): number {
  return run.holds
    .filter((hold) => hold.member === member && hold.state === "active")
    .reduce((sum, hold) => sum + hold.points, 0);
}

function resolve(amount: Amount, member: ModelMember): number {
  if ("points" in amount) return amount.points;
  return Math.max(1, Math.ceil((available(member) * amount.percent) / 100));
}

function newLot(run: Run, member: ModelMember, lot: Omit<ModelLot, "seq" | "expired">): ModelLot {
  const created = { ...lot, seq: run.nextSeq++, expired: 0 };
  member.lots.push(created);
  return created;
}

/** Takes points from available lots, earliest expiry first, never-expiring last, then oldest. */
function consume(
  member: ModelMember,
  points: number,
  exclude?: ModelLot,
): { lot: ModelLot; points: number }[] {
  const candidates = member.lots
    .filter((lot) => lot.state === "available" && lot.remaining > 0 && lot !== exclude)
    .sort(
      (a, b) =>
        (a.expiresAtMs ?? Number.POSITIVE_INFINITY) - (b.expiresAtMs ?? Number.POSITIVE_INFINITY) ||
        a.seq - b.seq,
    );
  const allocations: { lot: ModelLot; points: number }[] = [];
  let left = points;
  for (const lot of candidates) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    lot.remaining -= take;
    allocations.push({ lot, points: take });
    left -= take;
  }
  return allocations;
}

/** New available points: an outstanding debt is paid from them first. */
function grant(
  run: Run,
  member: ModelMember,
  points: number,
  expiresAtMs: number | null,
  nowMs: number,
  repay = Math.min(member.debt, points),
): ModelLot {
  member.debt -= repay;
  return newLot(run, member, {
    state: "available",
    remaining: points - repay,
    availableAtMs: nowMs,
    expiresAtMs,
  });
}

/** A cancelled or expired hold puts its points back into their lots, then pays any debt. */
function restore(hold: ModelHold): void {
  for (const allocation of hold.allocations) {
    allocation.lot.remaining += allocation.points;
    allocation.lot.state = "available";
  }
  const repay = Math.min(hold.member.debt, hold.points);
  hold.member.debt -= repay;
  consume(hold.member, repay);
}

/** What one runJobsOnce pass does to this run's members: release, then expire, then holds. */
function modelJobs(run: Run, nowMs: number): void {
  const lots = run.members
    .flatMap((member) => member.lots.map((lot) => ({ member, lot })))
    .sort((a, b) => a.lot.seq - b.lot.seq);
  for (const { member, lot } of lots) {
    if (lot.state !== "pending" || lot.availableAtMs > nowMs) continue;
    if (lot.remaining === 0) {
      lot.state = "reversed";
      continue;
    }
    const repay = Math.min(member.debt, lot.remaining);
    member.debt -= repay;
    lot.remaining -= repay;
    lot.state = "available";
  }
  for (const { lot } of lots) {
    if (lot.state !== "available" || lot.remaining === 0) continue;
    if (lot.expiresAtMs === null || lot.expiresAtMs > nowMs) continue;
    lot.expired += lot.remaining;
    lot.remaining = 0;
    lot.state = "expired";
  }
  for (const hold of run.holds) {
    if (hold.state !== "active" || hold.expiresAtMs > nowMs) continue;
    if (hold.member.debt > 0) count("hold expired while in debt");
    restore(hold);
    hold.state = "expired";
  }
}

// --- Database checks ---------------------------------------------------------------------------

/** Row counts and sums that any write changes: equal before and after means nothing was written. */
async function fingerprint(ctx: Ctx): Promise<unknown> {
  const result = await sql`
    select
      (select count(*) from journal_entries)::int as entries,
      (select count(*) from postings)::int as postings,
      (select count(*) from point_lots)::int as lots,
      (select coalesce(sum(points_remaining), 0) from point_lots)::bigint as lot_points,
      (select count(*) from lot_movements)::int as movements,
      (select count(*) from holds)::int as holds,
      (select count(*) from holds where state = 'active')::int as holds_active,
      (select count(*) from transactions)::int as transactions,
      (select coalesce(sum(refunded_minor), 0) from transactions)::bigint as refunded,
      (select count(*) from refunds)::int as refunds,
      (select count(*) from outbox_events)::int as events,
      (select string_agg(concat_ws('/', member_id, pending, available, held, debt, earned_total),
        ',' order by member_id) from member_balances) as balances`.execute(ctx.db.kysely);
  return result.rows[0];
}

/**
 * The ledger's invariants, checked over this run's program after each step (cheap) or over the
 * whole database (at the end of a run).
 */
async function checkInvariants(
  ctx: Ctx,
  run: Run,
  label: string,
  scope: "program" | "database" = "program",
): Promise<void> {
  const db = ctx.db.kysely;
  const programId = scope === "program" ? run.program.id : undefined;
  const report = await verifyLedger(db, programId);
  expect(report.problems, `${label}: verifyLedger`).toEqual([]);
  expect(report.ok).toBe(true);

  // Every entry has postings and they sum to zero (verifyLedger cannot see an entry without any).
  const inProgram = (column: string) =>
    programId ? sql`and ${sql.ref(column)} = ${programId}` : sql``;
  const unbalanced = await sql<{ id: string; postings: number; total: number }>`
    select e.id, count(p.id)::int as postings, coalesce(sum(p.points), 0)::bigint as total
    from journal_entries e left join postings p on p.entry_id = e.id
    where true ${inProgram("e.program_id")}
    group by e.id having count(p.id) < 2 or coalesce(sum(p.points), 0) <> 0`.execute(db);
  expect(unbalanced.rows, `${label}: unbalanced entries`).toEqual([]);

  const badLots = await sql<{ id: string }>`
    select id from point_lots
    where (points_remaining < 0 or points_remaining > points_original)
      ${inProgram("program_id")}`.execute(db);
  expect(badLots.rows, `${label}: lots out of range`).toEqual([]);

  // Points that expired and were later refunded went back from program:expired to issued.
  const expired =
    run.members.flatMap((member) => member.lots).reduce((sum, lot) => sum + lot.expired, 0) -
    run.purchases.reduce((sum, purchase) => sum + purchase.expiredReversed, 0);
  const accounts = await programAccounts(db, run.program.id);
  expect(
    // `|| 0`: the sums come back as -0 when there are none, which toEqual tells from 0.
    { issued: accounts.issued || 0, expired: accounts.expired || 0 },
    `${label}: program totals`,
  ).toEqual({ issued: run.issued, expired });

  const memberIds = run.members.map((member) => member.id);
  const balances = await db
    .selectFrom("member_balances")
    .selectAll()
    .where("member_id", "in", memberIds)
    .execute();
  const lots = await db
    .selectFrom("point_lots")
    .select(["member_id", "state", "points_remaining", "expires_at", "available_at"])
    .where("member_id", "in", memberIds)
    .orderBy("id")
    .execute();

  for (const [index, member] of run.members.entries()) {
    const balance = balances.find((row) => row.member_id === member.id);
    if (!balance) throw new Error(`balance row of ${member.id} missing`);
    if (run.program.refund_policy === "forfeit") {
      expect(
        balance.available,
        `${label}: forfeit member ${index} below zero`,
      ).toBeGreaterThanOrEqual(0);
      expect(balance.debt).toBe(0);
    } else if (balance.available < 0) {
      // A negative balance is only ever refund debt.
      expect(balance.available, `${label}: member ${index} negative beyond debt`).toBe(
        -balance.debt,
      );
    }
    const expected = {
      total: pending(member) + available(member) + held(run, member),
      pending: pending(member),
      available: available(member),
      held: held(run, member),
      debt: member.debt,
      earned: member.earned,
    };
    const actual = {
      total: balance.pending + balance.available + balance.held,
      pending: balance.pending,
      available: balance.available,
      held: balance.held,
      debt: balance.debt,
      earned: balance.earned_total,
    };
    expect(actual, `${label}: member ${index} balance`).toEqual(expected);

    const actualLots = lots
      .filter((lot) => lot.member_id === member.id)
      .map((lot) => ({
        state: lot.state,
        remaining: lot.points_remaining,
        expiresAtMs: lot.expires_at?.getTime() ?? null,
        availableAtMs: lot.available_at.getTime(),
      }));
    const expectedLots = member.lots.map((lot) => ({
      state: lot.state,
      remaining: lot.remaining,
      expiresAtMs: lot.expiresAtMs,
      availableAtMs: lot.availableAtMs,
    }));
    expect(actualLots, `${label}: member ${index} lots`).toEqual(expectedLots);
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false; code: string };

async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    if (error instanceof DomainError) return { ok: false, code: error.code };
    throw error;
  }
}

// --- One step ---------------------------------------------------------------------------------

/** Applies one step to the database and to the model, and checks the step's own outcome. */
async function applyStep(
  testContext: TestContext,
  run: Run,
  step: Step,
  label: string,
): Promise<void> {
  const { ctx, clock } = testContext;
  const { program } = run;
  const now = clock.now();
  const nowMs = now.getTime();
  const before = await fingerprint(ctx);
  /** The step must fail with `code` and leave the database as it was. */
  const expectRefused = async (outcome: Outcome<unknown>, code: string) => {
    count(`${step.op} refused ${code}`);
    expect(outcome, label).toEqual({ ok: false, code });
    expect(await fingerprint(ctx), `${label}: refused step wrote`).toEqual(before);
  };
  const expectDone = <T>(outcome: Outcome<T>): T => {
    count(`${step.op} done`);
    if (!outcome.ok) throw new Error(`${label}: unexpected ${outcome.code}`);
    return outcome.value;
  };

  switch (step.op) {
    case "purchase": {
      const member = run.members[step.member];
      if (!member) throw new Error("member index out of range");
      const totalMinor = step.points * minorPerPoint + step.extraMinor;
      const occurredAtMs = nowMs - step.ageMinutes * 60_000;
      const input = purchaseSchema.parse({
        externalId: `R-${run.nextReceipt++}`,
        storeId: "S1",
        channel: "pos",
        occurredAt: new Date(occurredAtMs).toISOString(),
        currency: "IDR",
        total: fromMinor(totalMinor, "IDR"),
        member: { id: member.id },
      });
      const result = expectDone(
        await attempt(() => ctx.db.transaction((tx) => recordPurchase(tx, ctx, program.id, input))),
      );
      expect(result.pointsEarned).toBe(step.points);
      const purchase: ModelPurchase = {
        id: result.transactionId,
        input,
        member,
        totalMinor,
        pointsEarned: step.points,
        refundedMinor: 0,
        pointsReversed: 0,
        expiredReversed: 0,
        lot: null,
      };
      member.earned += step.points;
      run.issued += step.points;
      if (step.points > 0) {
        const availableAtMs = occurredAtMs + program.returns_window_days * dayMs;
        const expiresAtMs = expiryFor(program, new Date(occurredAtMs))?.getTime() ?? null;
        if (availableAtMs > nowMs) {
          purchase.lot = newLot(run, member, {
            state: "pending",
            remaining: step.points,
            availableAtMs,
            expiresAtMs,
          });
        } else {
          purchase.lot = grant(run, member, step.points, expiresAtMs, nowMs);
        }
        expect(result.pointsState).toBe(purchase.lot.state);
      }
      run.purchases.push(purchase);
      return;
    }
    case "replayPurchase": {
      const purchase = run.purchases[step.pick % Math.max(run.purchases.length, 1)];
      if (!purchase) return;
      const input = step.changed
        ? { ...purchase.input, total: fromMinor(purchase.totalMinor + 100, "IDR") }
        : purchase.input;
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) => recordPurchase(tx, ctx, program.id, input)),
      );
      if (step.changed) return expectRefused(outcome, "duplicate_transaction");
      const replay = expectDone(outcome);
      expect(replay).toMatchObject({ replayed: true, transactionId: purchase.id });
      expect(await fingerprint(ctx), `${label}: replay wrote`).toEqual(before);
      return;
    }
    case "redeem": {
      const member = run.members[step.member];
      if (!member) throw new Error("member index out of range");
      const points = resolve(step.amount, member);
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          redeem(tx, { programId: program.id, memberId: member.id, points, at: now }),
        ),
      );
      if (available(member) < points) return expectRefused(outcome, "insufficient_points");
      expectDone(outcome);
      consume(member, points);
      return;
    }
    case "invalidRedeem": {
      const member = run.members[step.member];
      if (!member) throw new Error("member index out of range");
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          redeem(tx, { programId: program.id, memberId: member.id, points: step.points, at: now }),
        ),
      );
      return expectRefused(outcome, "validation_failed");
    }
    case "hold": {
      const member = run.members[step.member];
      if (!member) throw new Error("member index out of range");
      const points = resolve(step.amount, member);
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          createHold(tx, {
            program,
            memberId: member.id,
            points,
            ttlSeconds: step.ttlSeconds,
            at: now,
          }),
        ),
      );
      if (available(member) < points) return expectRefused(outcome, "insufficient_points");
      const hold = expectDone(outcome);
      const expiresAtMs = nowMs + (step.ttlSeconds ?? program.hold_ttl_seconds) * 1000;
      expect(new Date(hold.expiresAt).getTime()).toBe(expiresAtMs);
      run.holds.push({
        id: hold.id,
        member,
        points,
        state: "active",
        expiresAtMs,
        allocations: consume(member, points),
      });
      return;
    }
    case "settle": {
      const hold = run.holds[step.pick % Math.max(run.holds.length, 1)];
      if (!hold) return;
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          settleHold(tx, {
            programId: program.id,
            holdId: hold.id,
            outcome: step.outcome,
            at: now,
          }),
        ),
      );
      if (hold.state === step.outcome) {
        // Settling twice the same way answers the settled hold and writes nothing.
        expect(expectDone(outcome).state).toBe(step.outcome);
        expect(await fingerprint(ctx), `${label}: repeated settle wrote`).toEqual(before);
        return;
      }
      const expired = step.outcome === "confirmed" && hold.expiresAtMs <= nowMs;
      if (hold.state !== "active" || expired) return expectRefused(outcome, "hold_not_active");
      expect(expectDone(outcome).state).toBe(step.outcome);
      if (step.outcome === "cancelled" && hold.member.debt > 0)
        count("hold cancelled while in debt");
      if (step.outcome === "cancelled") restore(hold);
      hold.state = step.outcome;
      return;
    }
    case "refund": {
      const purchase = run.purchases[step.pick % Math.max(run.purchases.length, 1)];
      if (!purchase) return;
      const leftMinor = purchase.totalMinor - purchase.refundedMinor;
      const amountMinor =
        step.kind === "rest"
          ? leftMinor
          : step.kind === "part"
            ? Math.floor((leftMinor * step.percent) / 100)
            : leftMinor + 1 + step.percent;
      if (amountMinor <= 0) return;
      const input = refundSchema.parse({
        externalId: `F-${run.nextReceipt++}`,
        transaction: { id: purchase.id },
        amount: fromMinor(amountMinor, "IDR"),
      });
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) => recordRefund(tx, ctx, program.id, input)),
      );
      if (amountMinor > leftMinor) return expectRefused(outcome, "refund_exceeds_total");
      const result = expectDone(outcome);

      // The model's own account of the reversal.
      const refundedAfter = purchase.refundedMinor + amountMinor;
      const target =
        refundedAfter === purchase.totalMinor
          ? purchase.pointsEarned
          : Math.floor((purchase.pointsEarned * refundedAfter) / purchase.totalMinor);
      const points = target - purchase.pointsReversed;
      const member = purchase.member;
      let reversed = 0;
      let forfeited = 0;
      let alreadyExpired = 0;
      const lot = purchase.lot;
      if (points > 0 && lot) {
        if (lot.state === "pending") {
          reversed = Math.min(points, lot.remaining);
          forfeited = points - reversed;
          if (reversed === lot.remaining) lot.state = "reversed";
          lot.remaining -= reversed;
        } else {
          // The lot's own points, then its expired part (counted once over all refunds of the
          // purchase), then other lots, then the refund policy.
          const fromLot = lot.state === "available" ? Math.min(points, lot.remaining) : 0;
          lot.remaining -= fromLot;
          alreadyExpired = Math.min(points - fromLot, lot.expired - purchase.expiredReversed);
          purchase.expiredReversed += alreadyExpired;
          if (alreadyExpired > 0) count("refund of expired points");
          const others = consume(member, points - fromLot - alreadyExpired, lot);
          const short =
            points - fromLot - alreadyExpired - others.reduce((sum, a) => sum + a.points, 0);
          const debt = program.refund_policy === "allow_negative" ? short : 0;
          member.debt += debt;
          if (debt > 0) count("refund into debt");
          if (short > debt) count("refund forfeited points");
          forfeited = short - debt;
          reversed = points - alreadyExpired - forfeited;
        }
      }
      member.earned -= reversed + alreadyExpired;
      run.issued -= reversed + alreadyExpired;
      expect(
        {
          reversed: result.pointsReversed,
          forfeited: result.pointsForfeited,
          alreadyExpired: result.pointsAlreadyExpired,
        },
        `${label}: refund`,
      ).toEqual({ reversed, forfeited, alreadyExpired });
      purchase.refundedMinor = refundedAfter;
      purchase.pointsReversed = target;
      run.refunds.push({ id: result.refundId, input });
      return;
    }
    case "replayRefund": {
      const refund = run.refunds[step.pick % Math.max(run.refunds.length, 1)];
      if (!refund) return;
      const replay = expectDone(
        await attempt(() =>
          ctx.db.transaction((tx) => recordRefund(tx, ctx, program.id, refund.input)),
        ),
      );
      expect(replay).toMatchObject({ replayed: true, refundId: refund.id });
      expect(await fingerprint(ctx), `${label}: refund replay wrote`).toEqual(before);
      return;
    }
    case "adjust": {
      const member = run.members[step.member];
      if (!member) throw new Error("member index out of range");
      const points = step.credit ? resolve(step.amount, member) : -resolve(step.amount, member);
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          adjust(tx, {
            program,
            memberId: member.id,
            points,
            reason: "property test",
            at: now,
          }),
        ),
      );
      if (points < 0 && available(member) < -points) {
        return expectRefused(outcome, "insufficient_points");
      }
      expectDone(outcome);
      if (points > 0) {
        grant(run, member, points, expiryFor(program, now)?.getTime() ?? null, nowMs);
      } else {
        consume(member, -points);
      }
      return;
    }
    case "transfer": {
      const from = run.members[step.from];
      const to = run.members[(step.from + step.toOffset) % membersPerRun];
      if (!from || !to) throw new Error("member index out of range");
      const points = resolve(step.amount, from);
      const outcome = await attempt(() =>
        ctx.db.transaction((tx) =>
          transfer(tx, {
            programId: program.id,
            fromMemberId: from.id,
            toMemberId: to.id,
            points,
            at: now,
          }),
        ),
      );
      if (from === to) return expectRefused(outcome, "transfer_same_member");
      if (available(from) < points) return expectRefused(outcome, "insufficient_points");
      expectDone(outcome);
      const allocations = consume(from, points);
      // The receiver gets one lot per expiry instant, in the order the sender's lots were taken.
      const byExpiry = new Map<number | null, number>();
      for (const allocation of allocations) {
        const key = allocation.lot.expiresAtMs;
        byExpiry.set(key, (byExpiry.get(key) ?? 0) + allocation.points);
      }
      let repayLeft = Math.min(to.debt, points);
      for (const [expiresAtMs, lotPoints] of byExpiry) {
        const repay = Math.min(repayLeft, lotPoints);
        repayLeft -= repay;
        grant(run, to, lotPoints, expiresAtMs, nowMs, repay);
      }
      return;
    }
    case "advance": {
      count("advance");
      clock.advance(step.ms);
      await runJobsOnce(ctx);
      modelJobs(run, clock.now().getTime());
      return;
    }
  }
}

// --- Runs ------------------------------------------------------------------------------------

type ProgramSettings = {
  returnsWindowDays: number;
  refundPolicy: "allow_negative" | "forfeit";
  expiry: ProgramCreate["expiry"];
};

let runCount = 0;

/**
 * Runs steps against a new program with fresh members, checking every invariant after each one,
 * then moves the clock past everything still due so no later run's jobs touch this program.
 */
async function runScenario(
  testContext: TestContext,
  settings: ProgramSettings,
  steps: Step[],
): Promise<Run> {
  const { ctx, clock } = testContext;
  runCount++;
  const created = await createProgram(
    ctx,
    programCreateSchema.parse({
      name: `Property ${runCount}`,
      earnRate: { points: 1, per: fromMinor(minorPerPoint, "IDR") },
      ...settings,
    }),
  );
  const program = await getProgram(ctx.db.kysely, created.id);
  try {
    const members: ModelMember[] = [];
    for (let index = 0; index < membersPerRun; index++) {
      const enrol = memberEnrolSchema.parse({
        email: `m${index}.${program.id}@example.com`,
        consents: { terms: true },
      });
      const view = await ctx.db.transaction((tx) =>
        enrolMember(tx, clock.now(), program.id, enrol),
      );
      members.push({ id: view.id, lots: [], debt: 0, earned: 0 });
    }
    const run: Run = {
      program,
      members,
      holds: [],
      purchases: [],
      refunds: [],
      issued: 0,
      nextSeq: 0,
      nextReceipt: 1,
    };
    for (const [index, step] of steps.entries()) {
      const label = `step ${index} ${JSON.stringify(step)}`;
      await applyStep(testContext, run, step, label);
      await checkInvariants(ctx, run, label);
    }
    // Two passes: a hold expiring in the first may hand points back to a lot already past expiry.
    const dueMs = Math.max(
      ...run.members.flatMap((member) =>
        member.lots.flatMap((lot) => [lot.availableAtMs, lot.expiresAtMs ?? 0]),
      ),
      ...run.holds.map((hold) => hold.expiresAtMs),
      clock.now().getTime(),
    );
    for (const ms of [dueMs - clock.now().getTime() + 60_000, 60_000]) {
      const step: Step = { op: "advance", ms };
      await applyStep(testContext, run, step, `drain ${JSON.stringify(step)}`);
    }
    await checkInvariants(ctx, run, "after the drain", "database");
    return run;
  } catch (error) {
    // A failed run may leave work due that would break later runs' jobs and mislead shrinking.
    await purgeProgram(ctx, program.id);
    throw error;
  }
}

/**
 * Test teardown only: removes every row of one program from every table that has a program_id
 * (modules add tables), so a failed run cannot leak into others. Foreign keys are not enforced
 * for this one transaction, so the order of tables does not matter.
 */
async function purgeProgram(ctx: Ctx, programId: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    await sql`set local session_replication_role = replica`.execute(tx);
    const { rows } = await sql<{ table_name: string }>`
      select table_name from information_schema.columns
      where column_name = 'program_id' and table_schema = current_schema()`.execute(tx);
    for (const { table_name } of rows) {
      await sql`delete from ${sql.table(table_name)} where program_id = ${programId}`.execute(tx);
    }
    await tx.deleteFrom("programs").where("id", "=", programId).execute();
  });
}

// --- Tests ------------------------------------------------------------------------------------

describe("ledger properties", () => {
  let testContext: TestContext;
  beforeAll(async () => {
    testContext = await createTestContext();
  });
  afterAll(async () => {
    if (process.env.LEDGER_PROPERTY_STATS) console.log(Object.fromEntries([...coverage].sort()));
    await testContext.close();
  });

  it(
    "keeps every invariant and agrees with the model under random operations",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          programArb,
          // A few purchases first, so most later steps have points to work with.
          fc.array(purchaseArb, { minLength: 1, maxLength: 4 }),
          fc.array(stepArb, { minLength: 5, maxLength: 26 }),
          async (settings, firstSteps, laterSteps) => {
            await runScenario(testContext, settings, [...firstSteps, ...laterSteps]);
          },
        ),
        { numRuns: propertyRuns },
      );
    },
    Math.max(180_000, propertyRuns * 6_000),
  );

  it("pays a refund debt from points that come back from a cancelled or expired hold", async () => {
    // Found by the property above: the returning points broke the balance's debt check.
    const run = await runScenario(
      testContext,
      {
        returnsWindowDays: 0,
        refundPolicy: "allow_negative",
        expiry: { policy: "months_after_earn", months: 12 },
      },
      [
        { op: "purchase", member: 0, points: 100, extraMinor: 0, ageMinutes: 0 },
        { op: "purchase", member: 1, points: 100, extraMinor: 0, ageMinutes: 0 },
        { op: "hold", member: 0, amount: { points: 60 }, ttlSeconds: undefined },
        { op: "hold", member: 1, amount: { points: 100 }, ttlSeconds: 600 },
        // Full refunds: 40 points left in member 0's lot, 60 more become debt; member 1 owes 100.
        { op: "refund", pick: 0, kind: "rest", percent: 1 },
        { op: "refund", pick: 1, kind: "rest", percent: 1 },
        { op: "settle", pick: 0, outcome: "cancelled" },
        { op: "advance", ms: 11 * 60_000 },
      ],
    );
    expect(run.holds.map((hold) => hold.state)).toEqual(["cancelled", "expired"]);
    const balances = await testContext.ctx.db.kysely
      .selectFrom("member_balances")
      .select(["pending", "available", "held", "debt"])
      .where(
        "member_id",
        "in",
        run.members.map((member) => member.id),
      )
      .execute();
    expect(balances).toEqual([
      { pending: 0, available: 0, held: 0, debt: 0 },
      { pending: 0, available: 0, held: 0, debt: 0 },
    ]);
  });

  it("refunds a purchase's expired points once, even when a hold handed some back", async () => {
    const run = await runScenario(
      testContext,
      {
        returnsWindowDays: 0,
        refundPolicy: "allow_negative",
        expiry: { policy: "months_after_earn", months: 1 },
      },
      [
        { op: "purchase", member: 0, points: 100, extraMinor: 0, ageMinutes: 0 },
        { op: "redeem", member: 0, amount: { points: 30 } },
        { op: "hold", member: 0, amount: { points: 20 }, ttlSeconds: 3_600 },
        // The lot expires with 50 points; the hold expires in the same run and hands its 20 back.
        { op: "advance", ms: 45 * dayMs },
        { op: "purchase", member: 0, points: 40, extraMinor: 0, ageMinutes: 0 },
        // 50 points: the 20 back in the lot, then 30 of the 50 expired.
        { op: "refund", pick: 0, kind: "part", percent: 50 },
        // 50 more: the last 20 expired, then 30 from the new purchase's lot.
        { op: "refund", pick: 0, kind: "rest", percent: 1 },
      ],
    );
    const [refunded] = run.purchases;
    expect(refunded).toMatchObject({ pointsReversed: 100, expiredReversed: 50 });
    // After the drain: the first lot was emptied by the refund before it could expire again; the
    // second kept 10 points, which expired.
    expect(run.members[0]?.lots.map((lot) => [lot.state, lot.remaining, lot.expired])).toEqual([
      ["available", 0, 50],
      ["expired", 0, 10],
    ]);
  });
});
