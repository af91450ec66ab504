import { randomUUID } from "node:crypto";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";

/** How long a request may own its key before a retry may take it over (a crashed process). */
export const leaseMs = 30_000;
/** Keys are kept at least 24 hours; the purge job removes them after this. */
export const retentionMs = 48 * 3_600_000;

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Runs a write at most once per (scope, key), following the IETF Idempotency-Key draft: a replay
 * answers the stored response, the same key with another payload is refused, and a replay while
 * the first request runs is told so. The response is stored in the write's own transaction, so a
 * crash leaves either both or neither.
 */
export async function withIdempotency(
  ctx: Ctx,
  request: { scope: string; key: string; requestHash: string },
  run: (tx: Tx) => Promise<StoredResponse>,
): Promise<StoredResponse & { replayed: boolean }> {
  const { scope, key, requestHash } = request;
  const token = randomUUID();
  const now = ctx.clock.now();
  const leaseUntil = new Date(now.getTime() + (ctx.idempotencyLeaseMs ?? leaseMs));
  const claimed = await ctx.db.kysely
    .insertInto("idempotency_keys")
    .values({
      scope,
      key,
      request_hash: requestHash,
      state: "in_progress",
      lease_token: token,
      lease_until: leaseUntil,
      response_status: null,
      response_body: null,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(["scope", "key"]).doNothing())
    .returning("key")
    .executeTakeFirst();

  if (!claimed) {
    const existing = await ctx.db.kysely
      .selectFrom("idempotency_keys")
      .selectAll()
      .where("scope", "=", scope)
      .where("key", "=", key)
      .executeTakeFirst();
    if (!existing) throw inProgress(key); // Released by a failed first attempt a moment ago.
    if (existing.request_hash !== requestHash) {
      throw new DomainError(
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request",
        { key },
      );
    }
    if (existing.state === "done") {
      return {
        status: existing.response_status ?? 200,
        body: existing.response_body,
        replayed: true,
      };
    }
    if (existing.lease_until && existing.lease_until > now) throw inProgress(key);
    const taken = await ctx.db.kysely
      .updateTable("idempotency_keys")
      .set({ lease_token: token, lease_until: leaseUntil })
      .where("scope", "=", scope)
      .where("key", "=", key)
      .where("state", "=", "in_progress")
      .where("lease_token", "=", existing.lease_token)
      .returning("key")
      .executeTakeFirst();
    if (!taken) throw inProgress(key);
  }

  try {
    const response = await ctx.db.transaction(async (tx) => {
      const result = await run(tx);
      const done = await tx
        .updateTable("idempotency_keys")
        .set({
          state: "done",
          response_status: result.status,
          response_body: JSON.stringify(result.body),
          lease_token: null,
          lease_until: null,
        })
        .where("scope", "=", scope)
        .where("key", "=", key)
        .where("lease_token", "=", token)
        .returning("key")
        .executeTakeFirst();
      // Our lease ran out and another attempt took the key: roll back rather than write twice.
      if (!done) throw inProgress(key);
      return result;
    });
    return { ...response, replayed: false };
  } catch (error) {
    // Nothing was written: free the key so the client may retry it (e.g. after a top-up).
    await ctx.db.kysely
      .deleteFrom("idempotency_keys")
      .where("scope", "=", scope)
      .where("key", "=", key)
      .where("lease_token", "=", token)
      .execute();
    throw error;
  }
}

function inProgress(key: string): DomainError {
  return new DomainError(
    "idempotency_in_progress",
    "a request with this Idempotency-Key is still being processed",
    { key },
  );
}

/** Deletes keys older than the retention period; returns how many. */
export async function purgeIdempotencyKeys(ctx: Ctx): Promise<number> {
  const cutoff = new Date(ctx.clock.now().getTime() - retentionMs);
  const result = await ctx.db.kysely
    .deleteFrom("idempotency_keys")
    .where("created_at", "<", cutoff)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
