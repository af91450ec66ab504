import { sql } from "kysely";
import { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import { commitHorizon } from "../../db/horizon.ts";
import { newId } from "../../lib/ids.ts";

export interface DomainEvent {
  programId: string | null;
  type: string;
  payload: Record<string, unknown>;
  at: Date;
}

/**
 * Writes an event in the caller's transaction (or its write batch), so it exists exactly when the
 * change commits.
 */
export async function emit(target: Tx | WriteBatch, event: DomainEvent): Promise<string> {
  const id = newId("event");
  const row = {
    id,
    program_id: event.programId,
    type: event.type,
    payload: JSON.stringify({ ...event.payload, schemaVersion: 1 }),
    created_at: event.at,
  };
  // Events of one batch go out as one insert, so their sequence follows the order of emit calls.
  if (target instanceof WriteBatch) target.insertRow("outbox_events", row);
  else await target.insertInto("outbox_events").values(row).execute();
  return id;
}

export async function listEvents(
  tx: Tx | import("../../db/client.ts").Queryable,
  programId: string,
  afterSeq: number,
  limit: number,
) {
  return tx
    .selectFrom("outbox_events")
    .selectAll()
    .where("program_id", "=", programId)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .limit(limit)
    .execute();
}

/** Where a consumer stands in the outbox: the (writing transaction, seq) of the last event it took. */
export interface OutboxPosition {
  txid: string;
  seq: number;
}

export interface CommittedEvent extends OutboxPosition {
  id: string;
  program_id: string | null;
  type: string;
  payload: unknown;
  created_at: Date;
}

/**
 * Events after a consumer's position, in (transaction id, seq) order, written only by transactions
 * older than every one still running: an event that commits late is read later, never skipped.
 * Each consumer (webhooks, communications) keeps its own position.
 */
export async function readCommittedEvents(
  tx: Tx,
  after: OutboxPosition,
  limit: number,
): Promise<CommittedEvent[]> {
  const { rows } = await sql<CommittedEvent>`
    select seq, txid::text as txid, id, program_id, type, payload, created_at
    from outbox_events
    where txid is not null
      and (txid, seq) > (${after.txid}::xid8, ${after.seq}::bigint)
      and txid < ${commitHorizon}
    order by txid, seq
    limit ${limit}`.execute(tx);
  return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
}
