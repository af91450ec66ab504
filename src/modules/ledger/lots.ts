import { sql } from "kysely";
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
  source: "earn" | "adjust" | "transfer";
  state: "pending" | "available";
  points: number;
  availableAt: Date;
  expiresAt: Date | null;
  at: Date;
}

export async function createLot(tx: Tx, input: LotInput): Promise<string> {
  invariant(input.points > 0, "a lot holds a positive number of points");
  const id = newId("lot");
  await tx
    .insertInto("point_lots")
    .values({
      id,
      program_id: input.programId,
      member_id: input.memberId,
      entry_id: input.entryId,
      transaction_id: input.transactionId ?? null,
      source: input.source,
      state: input.state,
      points_original: input.points,
      points_remaining: input.points,
      available_at: input.availableAt,
      expires_at: input.expiresAt,
      created_at: input.at,
    })
    .execute();
  return id;
}

/** Records a change of one lot's remaining points, with the entry that caused it. */
export async function moveLot(
  tx: Tx,
  move: {
    programId: string;
    entryId: string;
    lotId: string;
    points: number;
    state?: "available" | "expired" | "reversed";
  },
): Promise<void> {
  if (move.points === 0 && !move.state) return;
  await tx
    .updateTable("point_lots")
    .set({
      points_remaining: sql`points_remaining + ${move.points}`,
      ...(move.state && { state: move.state }),
    })
    .where("id", "=", move.lotId)
    .execute();
  if (move.points !== 0) {
    await tx
      .insertInto("lot_movements")
      .values({
        entry_id: move.entryId,
        lot_id: move.lotId,
        program_id: move.programId,
        points: move.points,
      })
      .execute();
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

export async function consumeLots(
  tx: Tx,
  programId: string,
  entryId: string,
  allocations: Allocation[],
): Promise<void> {
  await applyAllocations(tx, programId, entryId, allocations, -1);
}

/** Puts consumed points back into the lots they came from (a cancelled hold). */
export async function restoreLots(
  tx: Tx,
  programId: string,
  entryId: string,
  allocations: Allocation[],
): Promise<void> {
  await applyAllocations(tx, programId, entryId, allocations, 1);
}

async function applyAllocations(
  tx: Tx,
  programId: string,
  entryId: string,
  allocations: Allocation[],
  sign: 1 | -1,
): Promise<void> {
  if (allocations.length === 0) return;
  for (const allocation of allocations) {
    await tx
      .updateTable("point_lots")
      .set({
        points_remaining: sql`points_remaining + ${sign * allocation.points}`,
        // A lot that expired while its points were held takes them back and expires on the next run.
        ...(sign === 1 && { state: "available" as const }),
      })
      .where("id", "=", allocation.lotId)
      .execute();
  }
  await tx
    .insertInto("lot_movements")
    .values(
      allocations.map((allocation) => ({
        entry_id: entryId,
        lot_id: allocation.lotId,
        program_id: programId,
        points: sign * allocation.points,
      })),
    )
    .execute();
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
