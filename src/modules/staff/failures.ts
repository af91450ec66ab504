import type { FastifyRequest } from "fastify";
import { sql } from "kysely";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";

/** How many failures a key may collect in a window before it is locked, and for how long. */
export interface BackoffPolicy {
  failuresMax: number;
  windowMs: number;
  /** First lock; each further failure while over the limit doubles it, up to lockMaxMs. */
  lockMs: number;
  lockMaxMs: number;
}

export const policies = {
  /** A staff account: 5 wrong passwords or codes lock it for 1 minute, doubling to 30. */
  staffAccount: { failuresMax: 5, windowMs: 3_600_000, lockMs: 60_000, lockMaxMs: 1_800_000 },
  /**
   * A client address (staff sign-in failures; portal code requests and failures): 100 in 15
   * minutes lock it for 5, doubling to 15. Generous because a shop's or office's staff and
   * customers often share one address.
   */
  address: { failuresMax: 100, windowMs: 900_000, lockMs: 300_000, lockMaxMs: 900_000 },
  /** Portal codes asked for one phone or email: 5 an hour. */
  codeRequests: { failuresMax: 5, windowMs: 3_600_000, lockMs: 900_000, lockMaxMs: 3_600_000 },
  /** Wrong portal codes for one phone or email, across codes: 10 an hour. */
  codeFailures: { failuresMax: 10, windowMs: 3_600_000, lockMs: 900_000, lockMaxMs: 3_600_000 },
  /** Password reset links asked for one email, whether or not it has an account: 5 an hour. */
  resetRequests: { failuresMax: 5, windowMs: 3_600_000, lockMs: 900_000, lockMaxMs: 3_600_000 },
} satisfies Record<string, BackoffPolicy>;

/** A counter older than the longest window counts nothing: the cleanup job may delete it. */
export const failureWindowMaxMs = Math.max(...Object.values(policies).map((p) => p.windowMs));

/**
 * The client address lockouts and quotas key on: the peer's address, or the client named in
 * X-Forwarded-For when SETIA_TRUST_PROXY trusts the proxy in between (Fastify's request.ip).
 */
export function clientAddress(request: FastifyRequest): string {
  return request.ip || "unknown";
}

export const accountKey = (staffId: string) => `staff:${staffId}`;
export const addressKey = (request: FastifyRequest) => `ip:${clientAddress(request)}`;

/** Throws rate_limited while any of the keys is locked. */
export async function assertNotLocked(
  db: Queryable | Tx,
  keys: string[],
  now: Date,
): Promise<void> {
  const locked = await db
    .selectFrom("auth_failures")
    .select(["key", "locked_until"])
    .where("key", "in", keys)
    .where("locked_until", ">", now)
    .orderBy("locked_until", "desc")
    .executeTakeFirst();
  if (locked?.locked_until) {
    const retryAfterSeconds = Math.ceil((locked.locked_until.getTime() - now.getTime()) / 1000);
    throw new DomainError("rate_limited", "too many attempts; try again later", {
      retryAfterSeconds,
    });
  }
}

/** Counts one failure (or one request, for request quotas) against a key. */
export async function recordFailure(
  db: Queryable | Tx,
  key: string,
  policy: BackoffPolicy,
  now: Date,
): Promise<void> {
  const windowStart = new Date(now.getTime() - policy.windowMs);
  // One statement, so concurrent failures never lose a count.
  await sql`
    insert into auth_failures (key, failures, window_started_at, locked_until)
    values (${key}, 1, ${now}, null)
    on conflict (key) do update set
      failures = case when auth_failures.window_started_at < ${windowStart}
        then 1 else auth_failures.failures + 1 end,
      window_started_at = case when auth_failures.window_started_at < ${windowStart}
        then ${now} else auth_failures.window_started_at end`.execute(db);
  const row = await db
    .selectFrom("auth_failures")
    .select("failures")
    .where("key", "=", key)
    .executeTakeFirstOrThrow();
  const over = row.failures - policy.failuresMax;
  if (over < 0) return;
  const lockMs = Math.min(policy.lockMs * 2 ** Math.min(over, 20), policy.lockMaxMs);
  await db
    .updateTable("auth_failures")
    .set({ locked_until: new Date(now.getTime() + lockMs) })
    .where("key", "=", key)
    .execute();
}

export async function clearFailures(db: Queryable | Tx, key: string): Promise<void> {
  await db.deleteFrom("auth_failures").where("key", "=", key).execute();
}
