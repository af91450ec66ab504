import { sql } from "kysely";
import type { Queryable } from "../../db/client.ts";

export interface EntryView {
  id: string;
  kind: string;
  points: { pending: number; available: number; held: number };
  transactionId: string | null;
  refundId: string | null;
  holdId: string | null;
  reason: string | null;
  createdAt: string;
}

/** A member's journal, newest first, with what each entry did to each of their accounts. */
export async function memberHistory(
  db: Queryable,
  programId: string,
  memberId: string,
  page: { limit: number; before?: string | undefined },
): Promise<EntryView[]> {
  const rows = await sql<{
    id: string;
    kind: string;
    transaction_id: string | null;
    refund_id: string | null;
    hold_id: string | null;
    reason: string | null;
    created_at: Date;
    pending: number;
    available: number;
    held: number;
  }>`
    select e.id, e.kind, e.transaction_id, e.refund_id, e.hold_id, e.reason, e.created_at,
      coalesce(sum(p.points) filter (where p.account = 'member:pending'), 0)::bigint as pending,
      coalesce(sum(p.points) filter (where p.account = 'member:available'), 0)::bigint as available,
      coalesce(sum(p.points) filter (where p.account = 'member:held'), 0)::bigint as held
    from postings p join journal_entries e on e.id = p.entry_id
    where p.member_id = ${memberId} and p.program_id = ${programId}
      ${page.before ? sql`and e.id < ${page.before}` : sql``}
    group by e.id
    order by e.id desc
    limit ${page.limit}`.execute(db);
  return rows.rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    points: {
      pending: Number(row.pending),
      available: Number(row.available),
      held: Number(row.held),
    },
    transactionId: row.transaction_id,
    refundId: row.refund_id,
    holdId: row.hold_id,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
  }));
}

/** Points that will expire, grouped by expiry instant, soonest first. */
export async function expiringPoints(
  db: Queryable,
  memberId: string,
  until: Date,
): Promise<{ points: number; expiresAt: string }[]> {
  const rows = await db
    .selectFrom("point_lots")
    .select(["expires_at", (eb) => eb.fn.sum<number>("points_remaining").as("points")])
    .where("member_id", "=", memberId)
    .where("state", "=", "available")
    .where("points_remaining", ">", 0)
    .where("expires_at", "is not", null)
    .where("expires_at", "<=", until)
    .groupBy("expires_at")
    .orderBy("expires_at")
    .limit(50)
    .execute();
  return rows.map((row) => ({
    points: Number(row.points),
    expiresAt: (row.expires_at as Date).toISOString(),
  }));
}

/** Program-level account balances, derived from the journal (never a cached hot row). */
export async function programAccounts(db: Queryable, programId: string) {
  const rows = await db
    .selectFrom("postings")
    .select(["account", (eb) => eb.fn.sum<number>("points").as("points")])
    .where("program_id", "=", programId)
    .groupBy("account")
    .execute();
  const sums = Object.fromEntries(rows.map((row) => [row.account, Number(row.points)]));
  const get = (account: string) => sums[account] ?? 0;
  return {
    issued: -get("program:issued"),
    redeemed: get("program:redeemed"),
    expired: get("program:expired"),
    adjusted: -get("program:adjustments"),
    outstanding: {
      pending: get("member:pending"),
      available: get("member:available"),
      held: get("member:held"),
    },
  };
}
