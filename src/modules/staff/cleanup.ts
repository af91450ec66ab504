import { sql } from "kysely";
import type { Ctx } from "../../context.ts";
import type { Queryable } from "../../db/client.ts";
import { failureWindowMaxMs } from "./failures.ts";

/** Rows deleted per statement: bounded so a backlog never holds locks for long. */
export const purgeBatchSizeMax = 500;

export interface AuthPurgeReport {
  sessions: number;
  portalCodes: number;
  invitations: number;
  passwordResets: number;
  authFailures: number;
}

/** Deletes, a batch per statement, until it deletes less than a full batch; answers the total. */
async function drain(deleteBatch: () => Promise<bigint | undefined>): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = Number((await deleteBatch()) ?? 0n);
    total += deleted;
    if (deleted < purgeBatchSizeMax) return total;
  }
}

/** Tables of one-time records: dead once expired or once their "spent" column is set. */
const spentColumn = {
  web_sessions: "ended_at",
  portal_codes: "used_at",
  staff_invitations: "accepted_at",
  staff_password_resets: "used_at",
} as const;

function purgeSpent(db: Queryable, table: keyof typeof spentColumn, now: Date): Promise<number> {
  return drain(
    async () =>
      (
        await sql`delete from ${sql.table(table)} where id in (
          select id from ${sql.table(table)}
          where expires_at <= ${now} or ${sql.ref(spentColumn[table])} is not null
          limit ${purgeBatchSizeMax})`.execute(db)
      ).numAffectedRows,
  );
}

/**
 * Deletes sign-in records that can no longer do anything (decision 0057): ended or expired
 * sessions, used or expired portal codes, invitations and reset links, and failure counters
 * whose window and lock are both over (the next failure would start from zero anyway).
 */
export async function purgeAuthRecords(ctx: Ctx): Promise<AuthPurgeReport> {
  const db = ctx.db.kysely;
  const now = ctx.clock.now();
  const windowStart = new Date(now.getTime() - failureWindowMaxMs);
  return {
    sessions: await purgeSpent(db, "web_sessions", now),
    portalCodes: await purgeSpent(db, "portal_codes", now),
    invitations: await purgeSpent(db, "staff_invitations", now),
    passwordResets: await purgeSpent(db, "staff_password_resets", now),
    authFailures: await drain(
      async () =>
        (
          await db
            .deleteFrom("auth_failures")
            .where("key", "in", (eb) =>
              eb
                .selectFrom("auth_failures")
                .select("key")
                .where("window_started_at", "<", windowStart)
                .where((w) => w.or([w("locked_until", "is", null), w("locked_until", "<=", now)]))
                .limit(purgeBatchSizeMax),
            )
            .executeTakeFirst()
        ).numDeletedRows,
    ),
  };
}
