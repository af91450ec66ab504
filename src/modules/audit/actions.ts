import { sql } from "kysely";
import type { Tx } from "../../db/client.ts";
import { newId } from "../../lib/ids.ts";

/** Who acted: an API key or a signed-in staff account. */
export interface Actor {
  type: "api_key" | "staff";
  id: string;
  role: string;
}

export interface ActionInput {
  programId: string | null;
  actor: Actor;
  /** Method and route pattern, e.g. "POST /v1/programs/:programId/api-keys". */
  action: string;
  /** The route's parameters: which program, member, key or request was acted on. */
  subject: Record<string, unknown>;
  /** The request body with personal data and secrets redacted. */
  request: unknown;
  requestId: string | null;
  at: Date;
}

/** Events an action may carry into its audit record; more are counted, not copied. */
export const actionEventsMax = 50;

/**
 * Personal data stays out of the audit log (it must be erasable, the log is not) and so do
 * secrets: such fields are kept as "[redacted]", so the record still says they were sent.
 */
const redactedFields = new Set([
  "phone",
  "email",
  "name",
  "birthday",
  "city",
  "gender",
  "ageBand",
  "deviceFingerprint",
  "secret",
  "password",
  "token",
  "code",
]);

export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, field]) => [
        key,
        redactedFields.has(key) && field !== null ? "[redacted]" : redact(field),
      ]),
    );
  }
  return value;
}

/**
 * Runs an admin action in the caller's transaction and records it there: who, which route, the
 * redacted request and the domain events it emitted. The record commits exactly when the action
 * does; the chainer adds it to the hash chain shortly after.
 */
export async function withAction<T>(
  tx: Tx,
  input: ActionInput,
  run: (tx: Tx) => Promise<T>,
): Promise<T> {
  const before = await tx
    .selectFrom("outbox_events")
    .select(sql<number>`coalesce(max(seq), 0)::bigint`.as("seq"))
    .executeTakeFirstOrThrow();
  const result = await run(tx);
  // Events of this transaction only: written after `before`, by this transaction's id (rows
  // written inside a savepoint would carry a subtransaction id; Setia uses none).
  const events = await tx
    .selectFrom("outbox_events")
    .select(["id", "type", "payload"])
    .where("seq", ">", Number(before.seq))
    .where(sql<boolean>`xmin = pg_current_xact_id()::xid`)
    .orderBy("seq")
    .limit(actionEventsMax + 1)
    .execute();
  await tx
    .insertInto("audit_actions")
    .values({
      id: newId("auditAction"),
      program_id: input.programId,
      actor_type: input.actor.type,
      actor_id: input.actor.id,
      actor_role: input.actor.role,
      action: input.action,
      subject: JSON.stringify(input.subject),
      details: JSON.stringify({
        request: redact(input.request ?? null),
        events: events
          .slice(0, actionEventsMax)
          .map((event) => ({ id: event.id, type: event.type, payload: redact(event.payload) })),
        eventsTruncated: events.length > actionEventsMax,
      }),
      request_id: input.requestId,
      created_at: input.at,
    })
    .execute();
  return result;
}
