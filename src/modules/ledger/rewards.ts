import { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import { invariant } from "../../lib/assert.ts";
import { emit } from "../outbox/index.ts";
import {
  type BalanceRow,
  balanceAfter,
  type EntryInput,
  lockBalance,
  postEntry,
} from "./journal.ts";
import { allocated, allocationsOf, restoreLots } from "./lots.ts";
import { keepBack } from "./operations.ts";

/**
 * Gives back the points of a redemption whose reward was cancelled unused: a new entry
 * (program:redeemed → member:available), never an edit of the redemption. The points return to
 * the lots they were taken from, so they keep their expiry; a lot that expired meanwhile takes
 * them back and expires on the next run. An outstanding debt is paid from them first.
 */
export async function refundRedemption(
  tx: Tx,
  input: {
    programId: string;
    memberId: string;
    /** The `redeem` entry that took the points. */
    redeemEntryId: string;
    reason: string;
    at: Date;
  },
): Promise<{ entryId: string; points: number; balance: BalanceRow }> {
  const { programId, memberId, at } = input;
  const balance = await lockBalance(tx, programId, memberId);
  const allocations = await allocationsOf(tx, input.redeemEntryId);
  const points = allocated(allocations);
  invariant(points > 0, `redemption entry ${input.redeemEntryId} took no points`);
  const repay = Math.min(balance.debt, points);
  const batch = new WriteBatch(tx);
  const entry: EntryInput = {
    programId,
    kind: "redeem_refund",
    memberId,
    at,
    reason: input.reason,
    postings: [
      { account: "program:redeemed", points: -points },
      { account: "member:available", memberId, points },
    ],
    debtDelta: { memberId, points: -repay },
  };
  const entryId = postEntry(batch, entry);
  restoreLots(batch, programId, entryId, keepBack(allocations, repay));
  await emit(batch, {
    programId,
    type: "points.redeem_refunded",
    payload: {
      memberId,
      points,
      entryId,
      redeemEntryId: input.redeemEntryId,
      reason: input.reason,
    },
    at,
  });
  await batch.flush();
  return { entryId, points, balance: balanceAfter(balance, entry) };
}
