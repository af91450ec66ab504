import type { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import type { MemberBalancesTable } from "../../db/schema.ts";
import { invariant } from "../../lib/assert.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";

export type MemberAccount = "member:pending" | "member:available" | "member:held";
export type ProgramAccount =
  | "program:issued"
  | "program:redeemed"
  | "program:expired"
  | "program:adjustments";

export type Posting =
  | { account: MemberAccount; memberId: string; points: number }
  | { account: ProgramAccount; points: number };

export type EntryKind =
  | "earn"
  | "release"
  | "redeem"
  | "hold"
  | "hold_confirm"
  | "hold_cancel"
  | "hold_expire"
  | "reverse"
  | "adjust"
  | "transfer"
  | "expire"
  | "bonus"
  | "redeem_refund";

export interface EntryInput {
  programId: string;
  kind: EntryKind;
  memberId: string | null;
  at: Date;
  postings: Posting[];
  transactionId?: string;
  refundId?: string;
  holdId?: string;
  reason?: string;
  /** Changes to cached columns that are not account balances. */
  debtDelta?: { memberId: string; points: number };
  earnedDelta?: { memberId: string; points: number };
}

export interface BalanceRow {
  memberId: string;
  programId: string;
  pending: number;
  available: number;
  held: number;
  debt: number;
  earnedTotal: number;
}

/** Points per entry and per posting are bounded so sums never leave the safe-integer range. */
export const pointsMax = 1_000_000_000_000;

const columnOf: Record<MemberAccount, "pending" | "available" | "held"> = {
  "member:pending": "pending",
  "member:available": "available",
  "member:held": "held",
};

type Delta = Record<"pending" | "available" | "held" | "debt" | "earned_total", number>;

/** What an entry does to each member's cached balance columns. */
function memberDeltas(input: EntryInput): Map<string, Delta> {
  const deltas = new Map<string, Delta>();
  const deltaFor = (memberId: string) => {
    let delta = deltas.get(memberId);
    if (!delta) {
      delta = { pending: 0, available: 0, held: 0, debt: 0, earned_total: 0 };
      deltas.set(memberId, delta);
    }
    return delta;
  };
  for (const posting of input.postings) {
    if ("memberId" in posting)
      deltaFor(posting.memberId)[columnOf[posting.account]] += posting.points;
  }
  if (input.debtDelta) deltaFor(input.debtDelta.memberId).debt += input.debtDelta.points;
  if (input.earnedDelta)
    deltaFor(input.earnedDelta.memberId).earned_total += input.earnedDelta.points;
  return deltas;
}

/**
 * Appends one journal entry to the batch. Its postings must sum to zero; the members' cached
 * balances are updated in the same statement, so the cache can never drift from the journal.
 * The caller holds the lock on every member it posts to and flushes the batch.
 */
export function postEntry(batch: WriteBatch, input: EntryInput): string {
  const postings = input.postings.filter((posting) => posting.points !== 0);
  invariant(postings.length >= 2, `entry ${input.kind} needs two or more postings`);
  let sum = 0;
  for (const posting of postings) {
    invariant(Number.isSafeInteger(posting.points), "posting points must be integers");
    invariant(Math.abs(posting.points) <= pointsMax, "posting points out of range");
    sum += posting.points;
  }
  invariant(sum === 0, `entry ${input.kind} postings sum to ${sum}, not zero`);

  const entryId = newId("entry");
  batch.insertRow("journal_entries", {
    id: entryId,
    program_id: input.programId,
    kind: input.kind,
    member_id: input.memberId,
    transaction_id: input.transactionId ?? null,
    refund_id: input.refundId ?? null,
    hold_id: input.holdId ?? null,
    reason: input.reason ?? null,
    created_at: input.at,
  });
  for (const posting of postings) {
    batch.insertRow("postings", {
      entry_id: entryId,
      program_id: input.programId,
      account: posting.account,
      member_id: "memberId" in posting ? posting.memberId : null,
      points: posting.points,
    });
  }
  for (const [memberId, delta] of memberDeltas({ ...input, postings })) {
    batch.addDelta("member_balances", memberId, delta, input.at);
  }
  return entryId;
}

/** A locked balance as it will be once the entries are written. */
export function balanceAfter(balance: BalanceRow, ...entries: EntryInput[]): BalanceRow {
  const next = { ...balance };
  for (const entry of entries) {
    const delta = memberDeltas(entry).get(balance.memberId);
    if (!delta) continue;
    next.pending += delta.pending;
    next.available += delta.available;
    next.held += delta.held;
    next.debt += delta.debt;
    next.earnedTotal += delta.earned_total;
  }
  return next;
}

/** Locks one member's balance row: the single point of serialisation for a member's points. */
export async function lockBalance(
  tx: Tx,
  programId: string,
  memberId: string,
): Promise<BalanceRow> {
  const row = await tx
    .selectFrom("member_balances")
    .selectAll()
    .where("member_id", "=", memberId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("member_not_found", memberId);
  return toBalance(row);
}

/**
 * Locks several members in id order in one statement (rows are locked as the sorted scan returns
 * them), so two writers over overlapping members cannot deadlock.
 */
export async function lockBalances(
  tx: Tx,
  /** null for system work (jobs) that holds member ids from the database itself. */
  programId: string | null,
  memberIds: string[],
): Promise<Map<string, BalanceRow>> {
  const locked = new Map<string, BalanceRow>();
  const ids = [...new Set(memberIds)];
  if (ids.length === 0) return locked;
  let query = tx.selectFrom("member_balances").selectAll().where("member_id", "in", ids);
  if (programId !== null) query = query.where("program_id", "=", programId);
  const rows = await query.orderBy("member_id").forUpdate().execute();
  for (const row of rows) locked.set(row.member_id, toBalance(row));
  return locked;
}

export function assertSpendable(balance: BalanceRow, points: number): void {
  if (balance.available < points) {
    throw new DomainError(
      "insufficient_points",
      `member has ${Math.max(balance.available, 0)} points available, ${points} needed`,
      { available: balance.available, needed: points },
    );
  }
}

export function toBalance(
  row: Pick<MemberBalancesTable, "member_id" | "program_id"> & {
    pending: number;
    available: number;
    held: number;
    debt: number;
    earned_total: number;
  },
): BalanceRow {
  return {
    memberId: row.member_id,
    programId: row.program_id,
    pending: row.pending,
    available: row.available,
    held: row.held,
    debt: row.debt,
    earnedTotal: row.earned_total,
  };
}
