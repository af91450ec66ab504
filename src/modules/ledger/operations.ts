import { sql } from "kysely";
import { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import type { HoldsTable } from "../../db/schema.ts";
import { invariant } from "../../lib/assert.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { expiryFor, type Program } from "../programs/index.ts";
import {
  assertSpendable,
  type BalanceRow,
  balanceAfter,
  type EntryInput,
  lockBalance,
  lockBalances,
  pointsMax,
  postEntry,
  toBalance,
} from "./journal.ts";
import {
  type Allocation,
  allocated,
  allocationsOf,
  consumeLots,
  createLot,
  moveLot,
  planConsumption,
  restoreLots,
} from "./lots.ts";

const dayMs = 86_400_000;

/** Locks the member's balance and refuses blocked members, in one statement. */
async function lockActive(tx: Tx, programId: string, memberId: string): Promise<BalanceRow> {
  const locked = (await lockMembers(tx, programId, [memberId])).get(memberId);
  if (!locked) throw notFound("member_not_found", memberId);
  if (locked.status !== "active") {
    throw new DomainError("member_blocked", `member ${memberId} is blocked`, { memberId });
  }
  return locked.balance;
}

/**
 * Locks members' balances in id order with one statement and reads their status: the start of
 * every write that credits or debits several members at once (a batch of purchases).
 */
export async function lockMembers(
  tx: Tx,
  programId: string,
  memberIds: string[],
): Promise<Map<string, { balance: BalanceRow; status: string }>> {
  const locked = new Map<string, { balance: BalanceRow; status: string }>();
  const ids = [...new Set(memberIds)];
  if (ids.length === 0) return locked;
  const { rows } = await sql<{
    member_id: string;
    program_id: string;
    pending: number;
    available: number;
    held: number;
    debt: number;
    earned_total: number;
    status: string;
  }>`
    select b.member_id, b.program_id, b.pending, b.available, b.held, b.debt, b.earned_total, m.status
    from member_balances b join members m on m.id = b.member_id
    where b.member_id in (${sql.join(ids)}) and b.program_id = ${programId}
    order by b.member_id
    for update of b`.execute(tx);
  for (const row of rows)
    locked.set(row.member_id, { balance: toBalance(row), status: row.status });
  return locked;
}

function assertPoints(points: number, field = "points"): void {
  if (!Number.isSafeInteger(points) || points <= 0 || points > pointsMax) {
    throw new DomainError("validation_failed", `${field} must be a positive whole number`, {
      field,
    });
  }
}

/**
 * Plans spending `points` of a locked balance: refused when the balance is short, and an
 * invariant that the lots hold what the balance says.
 */
async function planSpend(tx: Tx, balance: BalanceRow, points: number): Promise<Allocation[]> {
  assertSpendable(balance, points);
  const allocations = await planConsumption(tx, balance.memberId, points);
  invariant(allocated(allocations) === points, "available lots do not cover the available balance");
  return allocations;
}

/**
 * Credits new available points to a member as one lot; an outstanding debt (from a refund after
 * the points were spent) is paid from the new lot first.
 */
function grantAvailable(
  batch: WriteBatch,
  memberId: string,
  lot: {
    entryId: string;
    points: number;
    expiresAt: Date | null;
    source: "earn" | "adjust" | "transfer";
    transactionId?: string;
    at: Date;
    programId: string;
  },
  repay: number,
): string {
  return createLot(
    batch,
    {
      programId: lot.programId,
      memberId,
      entryId: lot.entryId,
      transactionId: lot.transactionId ?? null,
      source: lot.source,
      state: "available",
      points: lot.points,
      availableAt: lot.at,
      expiresAt: lot.expiresAt,
      at: lot.at,
    },
    repay,
  );
}

export interface EarnResult {
  /** null when the purchase earned no points. */
  lot: {
    entryId: string;
    lotId: string;
    state: "pending" | "available";
    availableAt: Date;
    expiresAt: Date | null;
  } | null;
  balance: BalanceRow;
}

/**
 * Earns points for a purchase: pending through the returns window, then available. The caller
 * has locked the member (lockMembers) and passes the balance as it stands; the writes go into the
 * caller's batch, and the answer carries the balance after them.
 */
export async function earnForPurchase(
  batch: WriteBatch,
  balance: BalanceRow,
  input: {
    program: Program;
    memberId: string;
    points: number;
    transactionId: string;
    occurredAt: Date;
    at: Date;
  },
): Promise<EarnResult> {
  const { program, memberId, points, at } = input;
  invariant(balance.memberId === memberId, "earning on the balance of another member");
  if (points === 0) return { lot: null, balance };
  assertPoints(points);
  const availableAt = new Date(input.occurredAt.getTime() + program.returns_window_days * dayMs);
  const expiresAt = expiryFor(program, input.occurredAt);
  const pending = availableAt > at;
  const repay = pending ? 0 : Math.min(balance.debt, points);
  const entry: EntryInput = {
    programId: program.id,
    kind: "earn",
    memberId,
    at,
    transactionId: input.transactionId,
    postings: [
      { account: pending ? "member:pending" : "member:available", memberId, points },
      { account: "program:issued", points: -points },
    ],
    debtDelta: { memberId, points: -repay },
    earnedDelta: { memberId, points },
  };
  const entryId = postEntry(batch, entry);
  const lotId = pending
    ? createLot(batch, {
        programId: program.id,
        memberId,
        entryId,
        transactionId: input.transactionId,
        source: "earn",
        state: "pending",
        points,
        availableAt,
        expiresAt,
        at,
      })
    : grantAvailable(
        batch,
        memberId,
        {
          entryId,
          points,
          expiresAt,
          source: "earn",
          transactionId: input.transactionId,
          at,
          programId: program.id,
        },
        repay,
      );
  await emit(batch, {
    programId: program.id,
    type: pending ? "points.pending" : "points.earned",
    payload: {
      memberId,
      points,
      transactionId: input.transactionId,
      entryId,
      availableAt,
      expiresAt,
    },
    at,
  });
  return {
    lot: { entryId, lotId, state: pending ? "pending" : "available", availableAt, expiresAt },
    balance: balanceAfter(balance, entry),
  };
}

/**
 * Takes back points earned by a purchase after a refund, in this order: what is left of the
 * purchase's own lot (pending or available); then the part of that lot that already expired,
 * which left the member at expiry and moves from program:expired back to program:issued; then the
 * member's other available lots, earliest expiry first; what is still missing follows the
 * program's refund policy: the balance goes negative (a debt paid from future earns) or the rest
 * is forfeited. `expiredReversed` is what earlier refunds of the purchase already took from the
 * expired part, so it is counted once. Adds its writes to the caller's batch.
 */
export async function reverseEarn(
  batch: WriteBatch,
  input: {
    program: Program;
    memberId: string;
    transactionId: string;
    refundId: string;
    points: number;
    expiredReversed: number;
    at: Date;
  },
): Promise<{ reversed: number; alreadyExpired: number; forfeited: number; balance: BalanceRow }> {
  const { program, memberId, points, at } = input;
  const { tx } = batch;
  const balance = await lockBalance(tx, program.id, memberId);
  if (points === 0) return { reversed: 0, alreadyExpired: 0, forfeited: 0, balance };
  const lot = await tx
    .selectFrom("point_lots")
    .selectAll()
    .where("transaction_id", "=", input.transactionId)
    .where("source", "=", "earn")
    .executeTakeFirst();
  invariant(lot, `earn lot of ${input.transactionId} missing`);
  const base = {
    programId: program.id,
    kind: "reverse" as const,
    memberId,
    at,
    transactionId: input.transactionId,
    refundId: input.refundId,
  };

  if (lot.state === "pending") {
    const take = Math.min(points, lot.points_remaining);
    const entry: EntryInput = {
      ...base,
      postings: [
        { account: "member:pending", memberId, points: -take },
        { account: "program:issued", points: take },
      ],
      earnedDelta: { memberId, points: -take },
    };
    const entryId = postEntry(batch, entry);
    moveLot(batch, {
      programId: program.id,
      entryId,
      lotId: lot.id,
      points: -take,
      ...(take === lot.points_remaining && { state: "reversed" as const }),
    });
    await emitReversed(batch, program.id, memberId, input, take, 0, 0, at);
    return {
      reversed: take,
      alreadyExpired: 0,
      forfeited: points - take,
      balance: balanceAfter(balance, entry),
    };
  }

  const fromLot = lot.state === "available" ? Math.min(points, lot.points_remaining) : 0;
  const expiredLeft =
    points > fromLot ? (await expiredFromLot(tx, lot.id)) - input.expiredReversed : 0;
  invariant(expiredLeft >= 0, "refunds took more from a lot's expiry than expired");
  const alreadyExpired = Math.min(points - fromLot, expiredLeft);
  const others = await planConsumption(tx, memberId, points - fromLot - alreadyExpired, lot.id);
  const short = points - fromLot - alreadyExpired - allocated(others);
  const debt = program.refund_policy === "allow_negative" ? short : 0;
  const forfeited = short - debt;
  const reversed = points - alreadyExpired - forfeited;
  invariant(
    balance.available - reversed >= -(balance.debt + debt),
    "reversal leaves balance below its debt",
  );
  const entries: EntryInput[] = [];
  if (reversed > 0) {
    const entry: EntryInput = {
      ...base,
      postings: [
        { account: "member:available", memberId, points: -reversed },
        { account: "program:issued", points: reversed },
      ],
      debtDelta: { memberId, points: debt },
      earnedDelta: { memberId, points: -reversed },
    };
    entries.push(entry);
    const entryId = postEntry(batch, entry);
    if (fromLot > 0)
      moveLot(batch, { programId: program.id, entryId, lotId: lot.id, points: -fromLot });
    consumeLots(batch, program.id, entryId, others);
  }
  if (alreadyExpired > 0) {
    // Already gone from the member: only the program's totals change, no lot moves.
    const entry: EntryInput = {
      ...base,
      postings: [
        { account: "program:expired", points: -alreadyExpired },
        { account: "program:issued", points: alreadyExpired },
      ],
      earnedDelta: { memberId, points: -alreadyExpired },
    };
    entries.push(entry);
    postEntry(batch, entry);
  }
  if (entries.length > 0) {
    await emitReversed(batch, program.id, memberId, input, reversed, forfeited, alreadyExpired, at);
  }
  return { reversed, alreadyExpired, forfeited, balance: balanceAfter(balance, ...entries) };
}

/** Points that expired from a lot, over all its expiries (a hold may hand some back first). */
async function expiredFromLot(tx: Tx, lotId: string): Promise<number> {
  const row = await tx
    .selectFrom("lot_movements as m")
    .innerJoin("journal_entries as e", "e.id", "m.entry_id")
    .select(sql<number | string>`coalesce(-sum(m.points), 0)`.as("points"))
    .where("m.lot_id", "=", lotId)
    .where("e.kind", "=", "expire")
    .executeTakeFirstOrThrow();
  return Number(row.points);
}

async function emitReversed(
  batch: WriteBatch,
  programId: string,
  memberId: string,
  input: { transactionId: string; refundId: string },
  points: number,
  forfeited: number,
  alreadyExpired: number,
  at: Date,
) {
  await emit(batch, {
    programId,
    type: "points.reversed",
    payload: {
      memberId,
      points,
      forfeited,
      alreadyExpired,
      transactionId: input.transactionId,
      refundId: input.refundId,
    },
    at,
  });
}

/**
 * Locks the members owning the lots (in id order, one statement), then reads those lots again:
 * the second read, under the locks, is the one to trust — another runner may have got there first.
 */
async function lockLots(tx: Tx, lotIds: string[]) {
  const owners = await tx
    .selectFrom("point_lots")
    .select("member_id")
    .where("id", "in", lotIds)
    .execute();
  const balances = await lockBalances(
    tx,
    null,
    owners.map((owner) => owner.member_id),
  );
  const lots = await tx
    .selectFrom("point_lots")
    .selectAll()
    .where("id", "in", lotIds)
    .orderBy("id")
    .execute();
  return { balances, lots };
}

export interface LotsDone {
  lots: number;
  points: number;
}

/** Moves pending lots whose returns window has passed to available, as one write. */
export async function releaseLots(tx: Tx, lotIds: string[], at: Date): Promise<LotsDone> {
  const done: LotsDone = { lots: 0, points: 0 };
  if (lotIds.length === 0) return done;
  const { balances, lots } = await lockLots(tx, lotIds);
  const batch = new WriteBatch(tx);
  for (const lot of lots) {
    if (lot.state !== "pending" || lot.available_at > at) continue;
    const points = lot.points_remaining;
    if (points === 0) {
      moveLot(batch, {
        programId: lot.program_id,
        entryId: lot.entry_id,
        lotId: lot.id,
        points: 0,
        state: "reversed",
      });
      continue;
    }
    const balance = balances.get(lot.member_id);
    invariant(balance, `balance of ${lot.member_id} is locked`);
    // Several lots of one member in one pass: each repays from the debt the previous one left.
    const repay = Math.min(balance.debt, points);
    const entry: EntryInput = {
      programId: lot.program_id,
      kind: "release",
      memberId: lot.member_id,
      at,
      transactionId: lot.transaction_id ?? undefined,
      postings: [
        { account: "member:pending", memberId: lot.member_id, points: -points },
        { account: "member:available", memberId: lot.member_id, points },
      ],
      debtDelta: { memberId: lot.member_id, points: -repay },
    };
    const entryId = postEntry(batch, entry);
    balances.set(lot.member_id, balanceAfter(balance, entry));
    moveLot(batch, {
      programId: lot.program_id,
      entryId,
      lotId: lot.id,
      points: -repay,
      state: "available",
    });
    await emit(batch, {
      programId: lot.program_id,
      type: "points.released",
      payload: {
        memberId: lot.member_id,
        points,
        lotId: lot.id,
        transactionId: lot.transaction_id,
      },
      at,
    });
    done.lots++;
    done.points += points;
  }
  await batch.flush();
  return done;
}

/** Expires what is left of lots whose expiry has passed, as one write. */
export async function expireLots(tx: Tx, lotIds: string[], at: Date): Promise<LotsDone> {
  const done: LotsDone = { lots: 0, points: 0 };
  if (lotIds.length === 0) return done;
  const { lots } = await lockLots(tx, lotIds);
  const batch = new WriteBatch(tx);
  for (const lot of lots) {
    if (lot.state !== "available" || lot.points_remaining === 0) continue;
    if (!lot.expires_at || lot.expires_at > at) continue;
    const points = lot.points_remaining;
    const entryId = postEntry(batch, {
      programId: lot.program_id,
      kind: "expire",
      memberId: lot.member_id,
      at,
      postings: [
        { account: "member:available", memberId: lot.member_id, points: -points },
        { account: "program:expired", points },
      ],
    });
    moveLot(batch, {
      programId: lot.program_id,
      entryId,
      lotId: lot.id,
      points: -points,
      state: "expired",
    });
    await emit(batch, {
      programId: lot.program_id,
      type: "points.expired",
      payload: { memberId: lot.member_id, points, lotId: lot.id, expiredAt: lot.expires_at },
      at,
    });
    done.lots++;
    done.points += points;
  }
  await batch.flush();
  return done;
}

/** Redeems points at once (a reward, a discount): available → program:redeemed. */
export async function redeem(
  tx: Tx,
  input: {
    programId: string;
    memberId: string;
    points: number;
    reason?: string | undefined;
    at: Date;
  },
): Promise<{ entryId: string; balance: BalanceRow }> {
  const { programId, memberId, points, at } = input;
  assertPoints(points);
  const balance = await lockActive(tx, programId, memberId);
  const allocations = await planSpend(tx, balance, points);
  const batch = new WriteBatch(tx);
  const entry: EntryInput = {
    programId,
    kind: "redeem",
    memberId,
    at,
    ...(input.reason !== undefined && { reason: input.reason }),
    postings: [
      { account: "member:available", memberId, points: -points },
      { account: "program:redeemed", points },
    ],
  };
  const entryId = postEntry(batch, entry);
  consumeLots(batch, programId, entryId, allocations);
  await emit(batch, {
    programId,
    type: "points.redeemed",
    payload: { memberId, points, entryId, reason: input.reason ?? null },
    at,
  });
  await batch.flush();
  return { entryId, balance: balanceAfter(balance, entry) };
}

/** Manual correction by staff: a new entry with a reason, never an edit. */
export async function adjust(
  tx: Tx,
  input: {
    program: Program;
    memberId: string;
    points: number;
    reason: string;
    expiresAt?: Date | null;
    at: Date;
  },
): Promise<{ entryId: string; balance: BalanceRow }> {
  const { program, memberId, points, at } = input;
  assertPoints(Math.abs(points));
  const balance = await lockBalance(tx, program.id, memberId);
  const batch = new WriteBatch(tx);
  const credit = points > 0;
  const repay = credit ? Math.min(balance.debt, points) : 0;
  const allocations = credit ? [] : await planSpend(tx, balance, -points);
  const entry: EntryInput = {
    programId: program.id,
    kind: "adjust",
    memberId,
    at,
    reason: input.reason,
    postings: [
      { account: "member:available", memberId, points },
      { account: "program:adjustments", points: -points },
    ],
    debtDelta: { memberId, points: -repay },
  };
  const entryId = postEntry(batch, entry);
  if (credit) {
    const expiresAt = input.expiresAt === undefined ? expiryFor(program, at) : input.expiresAt;
    grantAvailable(
      batch,
      memberId,
      { entryId, points, expiresAt, source: "adjust", at, programId: program.id },
      repay,
    );
  } else {
    consumeLots(batch, program.id, entryId, allocations);
  }
  await emit(batch, {
    programId: program.id,
    type: "points.adjusted",
    payload: { memberId, points, reason: input.reason, entryId },
    at,
  });
  await batch.flush();
  return { entryId, balance: balanceAfter(balance, entry) };
}

/** Moves available points between two members of one program; received lots keep their expiry. */
export async function transfer(
  tx: Tx,
  input: {
    programId: string;
    fromMemberId: string;
    toMemberId: string;
    points: number;
    reason?: string | undefined;
    at: Date;
  },
): Promise<{ entryId: string; from: BalanceRow; to: BalanceRow }> {
  const { programId, fromMemberId, toMemberId, points, at } = input;
  assertPoints(points);
  if (fromMemberId === toMemberId) {
    throw new DomainError("transfer_same_member", "a member cannot transfer points to themselves");
  }
  const locked = await lockBalances(tx, programId, [fromMemberId, toMemberId]);
  const statuses = await tx
    .selectFrom("members")
    .select(["id", "status"])
    .where("id", "in", [fromMemberId, toMemberId])
    .execute();
  for (const member of statuses) {
    if (member.status !== "active") {
      throw new DomainError("member_blocked", `member ${member.id} is blocked`, {
        memberId: member.id,
      });
    }
  }
  const from = locked.get(fromMemberId);
  const to = locked.get(toMemberId);
  if (!from) throw notFound("member_not_found", fromMemberId);
  if (!to) throw notFound("member_not_found", toMemberId);
  const allocations = await planSpend(tx, from, points);
  const repay = Math.min(to.debt, points);
  const batch = new WriteBatch(tx);
  const entry: EntryInput = {
    programId,
    kind: "transfer",
    memberId: fromMemberId,
    at,
    ...(input.reason !== undefined && { reason: input.reason }),
    postings: [
      { account: "member:available", memberId: fromMemberId, points: -points },
      { account: "member:available", memberId: toMemberId, points },
    ],
    debtDelta: { memberId: toMemberId, points: -repay },
  };
  const entryId = postEntry(batch, entry);
  consumeLots(batch, programId, entryId, allocations);
  // One received lot per expiry date, so the receiver cannot extend the points' life.
  const byExpiry = new Map<number | null, number>();
  for (const allocation of allocations) {
    const key = allocation.expiresAt?.getTime() ?? null;
    byExpiry.set(key, (byExpiry.get(key) ?? 0) + allocation.points);
  }
  let repayLeft = repay;
  for (const [expiresMs, lotPoints] of byExpiry) {
    const lotRepay = Math.min(repayLeft, lotPoints);
    repayLeft -= lotRepay;
    grantAvailable(
      batch,
      toMemberId,
      {
        entryId,
        points: lotPoints,
        expiresAt: expiresMs === null ? null : new Date(expiresMs),
        source: "transfer",
        at,
        programId,
      },
      lotRepay,
    );
  }
  await emit(batch, {
    programId,
    type: "points.transferred",
    payload: { fromMemberId, toMemberId, points, entryId },
    at,
  });
  await batch.flush();
  return { entryId, from: balanceAfter(from, entry), to: balanceAfter(to, entry) };
}

export interface HoldView {
  id: string;
  memberId: string;
  points: number;
  state: HoldsTable["state"];
  reference: string | null;
  expiresAt: string;
  createdAt: string;
  settledAt: string | null;
}

/** First phase of a till redemption: the points leave "available" and wait in "held". */
export async function createHold(
  tx: Tx,
  input: {
    program: Program;
    memberId: string;
    points: number;
    reference?: string | undefined;
    ttlSeconds?: number | undefined;
    at: Date;
  },
): Promise<HoldView> {
  const { program, memberId, points, at } = input;
  assertPoints(points);
  const balance = await lockActive(tx, program.id, memberId);
  const allocations = await planSpend(tx, balance, points);
  const holdId = newId("hold");
  const batch = new WriteBatch(tx);
  const entryId = postEntry(batch, {
    programId: program.id,
    kind: "hold",
    memberId,
    at,
    holdId,
    postings: [
      { account: "member:available", memberId, points: -points },
      { account: "member:held", memberId, points },
    ],
  });
  consumeLots(batch, program.id, entryId, allocations);
  const row: HoldsTable = {
    id: holdId,
    program_id: program.id,
    member_id: memberId,
    points,
    state: "active",
    reference: input.reference ?? null,
    entry_id: entryId,
    expires_at: new Date(at.getTime() + (input.ttlSeconds ?? program.hold_ttl_seconds) * 1000),
    created_at: at,
    settled_at: null,
  };
  batch.add(tx.insertInto("holds").values(row));
  await emit(batch, {
    programId: program.id,
    type: "points.held",
    payload: { memberId, points, holdId },
    at,
  });
  await batch.flush();
  return holdView(row);
}

/** Second phase: confirm (points are redeemed), cancel or expire (points go back to their lots). */
export async function settleHold(
  tx: Tx,
  input: {
    programId: string;
    holdId: string;
    outcome: "confirmed" | "cancelled" | "expired";
    at: Date;
  },
): Promise<HoldView> {
  const { programId, holdId, outcome, at } = input;
  const found = await tx
    .selectFrom("holds")
    .select("member_id")
    .where("id", "=", holdId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!found) throw notFound("hold_not_found", holdId);
  const balance = await lockBalance(tx, programId, found.member_id);
  const hold = await tx
    .selectFrom("holds")
    .selectAll()
    .where("id", "=", holdId)
    .executeTakeFirstOrThrow();
  // Settling twice the same way answers the settled hold: retries from a till are safe.
  if (hold.state === outcome) return holdView(hold);
  if (hold.state !== "active") {
    throw new DomainError("hold_not_active", `hold ${holdId} is ${hold.state}`, {
      state: hold.state,
    });
  }
  if (outcome === "confirmed" && hold.expires_at <= at) {
    throw new DomainError(
      "hold_not_active",
      `hold ${holdId} expired at ${hold.expires_at.toISOString()}`,
      { state: "expired" },
    );
  }
  if (outcome === "expired" && hold.expires_at > at) return holdView(hold);
  const memberId = hold.member_id;
  // Points coming back while a refund left a debt pay that debt first, as any other credit does.
  const repay = outcome === "confirmed" ? 0 : Math.min(balance.debt, hold.points);
  const batch = new WriteBatch(tx);
  const entryId = postEntry(batch, {
    programId,
    kind:
      outcome === "confirmed"
        ? "hold_confirm"
        : outcome === "cancelled"
          ? "hold_cancel"
          : "hold_expire",
    memberId,
    at,
    holdId,
    postings:
      outcome === "confirmed"
        ? [
            { account: "member:held", memberId, points: -hold.points },
            { account: "program:redeemed", points: hold.points },
          ]
        : [
            { account: "member:held", memberId, points: -hold.points },
            { account: "member:available", memberId, points: hold.points },
          ],
    debtDelta: { memberId, points: -repay },
  });
  if (outcome !== "confirmed") {
    // A debt means no other lot has points left, so the repayment is kept back from the restored
    // lots, earliest expiry first; each lot is written once with its net change.
    restoreLots(batch, programId, entryId, keepBack(await allocationsOf(tx, hold.entry_id), repay));
  }
  batch.add(
    tx.updateTable("holds").set({ state: outcome, settled_at: at }).where("id", "=", holdId),
  );
  await emit(batch, {
    programId,
    type: `points.hold_${outcome}`,
    payload: { memberId, points: hold.points, holdId },
    at,
  });
  await batch.flush();
  return holdView({ ...hold, state: outcome, settled_at: at });
}

/** Allocations less `points` taken from those expiring first (never-expiring last). */
export function keepBack(allocations: Allocation[], points: number): Allocation[] {
  const order = [...allocations].sort(
    (a, b) =>
      (a.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY) -
        (b.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY) || (a.lotId < b.lotId ? -1 : 1),
  );
  let left = points;
  return order.map((allocation) => {
    const kept = Math.min(left, allocation.points);
    left -= kept;
    return { ...allocation, points: allocation.points - kept };
  });
}

export function holdView(row: HoldsTable): HoldView {
  return {
    id: row.id,
    memberId: row.member_id,
    points: row.points,
    state: row.state,
    reference: row.reference,
    expiresAt: row.expires_at.toISOString(),
    createdAt: row.created_at.toISOString(),
    settledAt: row.settled_at?.toISOString() ?? null,
  };
}

export async function readBalance(tx: Tx | Queryable, memberId: string): Promise<BalanceRow> {
  const row = await tx
    .selectFrom("member_balances")
    .selectAll()
    .where("member_id", "=", memberId)
    .executeTakeFirst();
  if (!row) throw notFound("member_not_found", memberId);
  return toBalance(row);
}

/** Balances of several members in one query, by member id (for lists and search results). */
export async function readBalances(
  db: Queryable,
  memberIds: string[],
): Promise<Map<string, BalanceRow>> {
  if (memberIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("member_balances")
    .selectAll()
    .where("member_id", "in", memberIds)
    .execute();
  return new Map(rows.map((row) => [row.member_id, toBalance(row)]));
}
