import { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
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
