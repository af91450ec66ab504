import type { Queryable } from "../../db/client.ts";

/**
 * Points about to expire, per member and expiry instant (lots that expire together are one
 * batch), for the points-expiring message. Paged by (member, expiry).
 */
export async function expiringLotBatches(
  db: Queryable,
  programId: string,
  range: {
    from: Date;
    until: Date;
    after: { memberId: string; expiresAt: Date } | null;
    limit: number;
  },
): Promise<{ memberId: string; expiresAt: Date; points: number }[]> {
  let query = db
    .selectFrom("point_lots")
    .select(["member_id", "expires_at", (eb) => eb.fn.sum<number>("points_remaining").as("points")])
    .where("program_id", "=", programId)
    .where("state", "=", "available")
    .where("points_remaining", ">", 0)
    .where("expires_at", ">", range.from)
    .where("expires_at", "<=", range.until);
  const after = range.after;
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb("member_id", ">", after.memberId),
        eb.and([eb("member_id", "=", after.memberId), eb("expires_at", ">", after.expiresAt)]),
      ]),
    );
  }
  const rows = await query
    .groupBy(["member_id", "expires_at"])
    .orderBy("member_id")
    .orderBy("expires_at")
    .limit(range.limit)
    .execute();
  return rows.map((row) => ({
    memberId: row.member_id,
    expiresAt: row.expires_at as Date,
    points: Number(row.points),
  }));
}

/** Entry kinds that a member's own action makes; releases, expiries and corrections are not. */
const activityKinds = ["earn", "redeem", "hold", "transfer"];

/** Members whose last own activity in the ledger (earn, spend, hold, transfer) is before `since`. */
export async function inactiveMembers(
  db: Queryable,
  programId: string,
  page: { since: Date; after: string; limit: number },
): Promise<{ memberId: string; lastActivityAt: Date }[]> {
  const rows = await db
    .selectFrom("journal_entries")
    .select(["member_id", (eb) => eb.fn.max("created_at").as("last_at")])
    .where("program_id", "=", programId)
    .where("member_id", "is not", null)
    .where("kind", "in", activityKinds)
    .where("member_id", ">", page.after)
    .groupBy("member_id")
    .having((eb) => eb.fn.max("created_at"), "<", page.since)
    .orderBy("member_id")
    .limit(page.limit)
    .execute();
  return rows.map((row) => ({
    memberId: row.member_id as string,
    lastActivityAt: new Date(row.last_at as unknown as string),
  }));
}
