import { sql } from "kysely";
import type { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import { invariant } from "../../lib/assert.ts";
import { newId } from "../../lib/ids.ts";

export interface Allocation {
  lotId: string;
  points: number;
  expiresAt: Date | null;
}

export interface LotInput {
  programId: string;
  memberId: string;
  entryId: string;
  transactionId?: string | null;
  source: "earn" | "adjust" | "transfer" | "bonus";
  state: "pending" | "available";
  points: number;
  availableAt: Date;
  expiresAt: Date | null;
  at: Date;
}

/**
 * Adds a new lot to the batch. `repay` points go straight to an outstanding debt: the lot starts
 * with fewer remaining points and a movement records why (one row written once, as batches need).
 */
export function createLot(batch: WriteBatch, input: LotInput, repay = 0): string {
  invariant(input.points > 0, "a lot holds a positive number of points");
  invariant(repay >= 0 && repay <= input.points, "a lot repays at most its own points");
  const id = newId("lot");
  batch.insertRow("point_lots", {
    id,
    program_id: input.programId,
    member_id: input.memberId,
    entry_id: input.entryId,
    transaction_id: input.transactionId ?? null,
    source: input.source,
    state: input.state,
    points_original: input.points,
    points_remaining: input.points - repay,
    available_at: input.availableAt,
    expires_at: input.expiresAt,
    created_at: input.at,
  });
  if (repay > 0)
    addMovements(batch, input.programId, input.entryId, [{ lotId: id, points: -repay }]);
  return id;
}

/** Records a change of one lot's remaining points (and state), with the entry that caused it. */
export function moveLot(
  batch: WriteBatch,
  move: {
    programId: string;
    entryId: string;
    lotId: string;
    points: number;
    state?: "available" | "expired" | "reversed";
  },
): void {
  if (move.points === 0 && !move.state) return;
  batch.add(
    batch.tx
      .updateTable("point_lots")
      .set({
        points_remaining: sql`points_remaining + ${move.points}`,
        ...(move.state && { state: move.state }),
      })
      .where("id", "=", move.lotId),
  );
  if (move.points !== 0) {
    addMovements(batch, move.programId, move.entryId, [{ lotId: move.lotId, points: move.points }]);
  }
}

function addMovements(
  batch: WriteBatch,
  programId: string,
  entryId: string,
  moves: { lotId: string; points: number }[],
): void {
  for (const move of moves) {
    batch.insertRow("lot_movements", {
      entry_id: entryId,
      lot_id: move.lotId,
      program_id: programId,
      points: move.points,
    });
  }
}

/**
 * Plans taking up to `points` from the member's available lots, the earliest expiry first (lots
 * that never expire last). Reads only; the caller applies the plan under the entry it posts.
 */
export async function planConsumption(
  tx: Tx,
  memberId: string,
  points: number,
  excludeLotId?: string,
): Promise<Allocation[]> {
  if (points <= 0) return [];
  let query = tx
    .selectFrom("point_lots")
    .select(["id", "points_remaining", "expires_at"])
    .where("member_id", "=", memberId)
    .where("state", "=", "available")
    .where("points_remaining", ">", 0)
    .orderBy(sql`expires_at asc nulls last`)
    .orderBy("id");
  if (excludeLotId) query = query.where("id", "<>", excludeLotId);
  const allocations: Allocation[] = [];
  let left = points;
  for (const lot of await query.execute()) {
    if (left === 0) break;
    const take = Math.min(left, lot.points_remaining);
    allocations.push({ lotId: lot.id, points: take, expiresAt: lot.expires_at });
    left -= take;
  }
  return allocations;
}

export function allocated(allocations: Allocation[]): number {
  return allocations.reduce((sum, allocation) => sum + allocation.points, 0);
}

export function consumeLots(
  batch: WriteBatch,
  programId: string,
  entryId: string,
  allocations: Allocation[],
): void {
  applyAllocations(batch, programId, entryId, allocations, -1);
}

/** Puts consumed points back into the lots they came from (a cancelled hold). */
export function restoreLots(
  batch: WriteBatch,
  programId: string,
  entryId: string,
  allocations: Allocation[],
): void {
  applyAllocations(batch, programId, entryId, allocations, 1);
}

function applyAllocations(
  batch: WriteBatch,
  programId: string,
  entryId: string,
  allocations: Allocation[],
  sign: 1 | -1,
): void {
  const moves = allocations.filter((allocation) => allocation.points !== 0);
  for (const allocation of moves) {
    batch.add(
      batch.tx
        .updateTable("point_lots")
        .set({
          points_remaining: sql`points_remaining + ${sign * allocation.points}`,
          // A lot that expired while its points were held takes them back and expires on the next run.
          ...(sign === 1 && { state: "available" as const }),
        })
        .where("id", "=", allocation.lotId),
    );
  }
  addMovements(
    batch,
    programId,
    entryId,
    moves.map((allocation) => ({ lotId: allocation.lotId, points: sign * allocation.points })),
  );
}

/** The allocations an entry took, to undo them exactly. */
export async function allocationsOf(tx: Tx, entryId: string): Promise<Allocation[]> {
  const rows = await tx
    .selectFrom("lot_movements")
    .innerJoin("point_lots", "point_lots.id", "lot_movements.lot_id")
    .select(["lot_movements.lot_id", "lot_movements.points", "point_lots.expires_at"])
    .where("lot_movements.entry_id", "=", entryId)
    .orderBy("lot_movements.id")
    .execute();
  return rows.map((row) => ({ lotId: row.lot_id, points: -row.points, expiresAt: row.expires_at }));
}
