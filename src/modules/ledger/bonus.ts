import type { WriteBatch } from "../../db/batch.ts";
import { invariant } from "../../lib/assert.ts";
import { emit } from "../outbox/index.ts";
import { expiryFor, type Program } from "../programs/index.ts";
import { type BalanceRow, balanceAfter, type EntryInput, pointsMax, postEntry } from "./journal.ts";
import { createLot } from "./lots.ts";

/**
 * Credits points for a non-purchase reason (signup, review, birthday, …): available at once, one
 * lot under the program's expiry policy; an outstanding refund debt is paid from it first. The
 * caller has locked the member (lockMembers) and passes the balance; the writes go into its batch.
 */
export async function earnBonus(
  batch: WriteBatch,
  balance: BalanceRow,
  input: {
    program: Program;
    memberId: string;
    points: number;
    /** What earned the points, e.g. "activity:review_written"; carried by the event. */
    source: string;
    reason: string;
    activityId?: string;
    at: Date;
  },
): Promise<{ entryId: string; lotId: string; expiresAt: Date | null; balance: BalanceRow }> {
  const { program, memberId, points, at } = input;
  invariant(balance.memberId === memberId, "bonus on the balance of another member");
  invariant(
    Number.isSafeInteger(points) && points > 0 && points <= pointsMax,
    "bonus points out of range",
  );
  const repay = Math.min(balance.debt, points);
  const expiresAt = expiryFor(program, at);
  const entry: EntryInput = {
    programId: program.id,
    kind: "bonus",
    memberId,
    at,
    reason: input.reason,
    postings: [
      { account: "member:available", memberId, points },
      { account: "program:issued", points: -points },
    ],
    debtDelta: { memberId, points: -repay },
    earnedDelta: { memberId, points },
  };
  const entryId = postEntry(batch, entry);
  const lotId = createLot(
    batch,
    {
      programId: program.id,
      memberId,
      entryId,
      source: "bonus",
      state: "available",
      points,
      availableAt: at,
      expiresAt,
      at,
    },
    repay,
  );
  await emit(batch, {
    programId: program.id,
    type: "points.earned",
    payload: {
      memberId,
      points,
      entryId,
      source: input.source,
      activityId: input.activityId ?? null,
      transactionId: null,
      availableAt: at,
      expiresAt,
    },
    at,
  });
  return { entryId, lotId, expiresAt, balance: balanceAfter(balance, entry) };
}
