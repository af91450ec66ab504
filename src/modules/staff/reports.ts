import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { getProgram } from "../programs/index.ts";

export const granularities = ["day", "week", "month"] as const;
const bucketDays = { day: 1, week: 7, month: 31 } as const;
/** Bounded ranges: at most this many buckets (400 days, 7 years of weeks, 33 years of months). */
export const bucketsMax = 400;

export const overviewQuery = z
  .object({
    from: z.iso.date(),
    to: z.iso.date(),
    granularity: z.enum(granularities).default("day"),
  })
  .refine((value) => value.from <= value.to, {
    message: "from must not be after to",
    path: ["to"],
  });
export type OverviewQuery = z.infer<typeof overviewQuery>;

const figures = {
  newMembers: z.number().int(),
  activeMembers: z.number().int(),
  pointsIssued: z.number().int(),
  pointsRedeemed: z.number().int(),
  pointsExpired: z.number().int(),
};

export const overviewSchema = z.object({
  from: z.string(),
  to: z.string(),
  granularity: z.enum(granularities),
  timezone: z.string(),
  totals: z.object({ ...figures, members: z.number().int(), liability: z.number().int() }),
  series: z.array(z.object({ start: z.string(), ...figures, liability: z.number().int() })),
});
export type Overview = z.infer<typeof overviewSchema>;

interface BucketRow {
  start: string;
  new_members: number | string;
  active_members: number | string;
  issued: number | string;
  redeemed: number | string;
  expired: number | string;
  liability_change: number | string;
}

/**
 * The admin home page's figures, bucketed by day, week or month in the program's time zone, all
 * computed with SQL over the journal (points) and members (counts). Liability is the points
 * members hold (pending, available, held) at the end of each bucket.
 */
export async function programOverview(
  ctx: Ctx,
  programId: string,
  query: OverviewQuery,
): Promise<Overview> {
  const program = await getProgram(ctx.db.kysely, programId);
  const days = (Date.parse(query.to) - Date.parse(query.from)) / 86_400_000 + 1;
  if (days / bucketDays[query.granularity] > bucketsMax) {
    throw new DomainError(
      "validation_failed",
      `range too long: at most ${bucketsMax} ${query.granularity} buckets`,
      { field: "from" },
    );
  }
  const tz = program.timezone;
  const unit = query.granularity;
  const step = sql.lit(`1 ${unit}`);
  // Local dates of the program turned into instants; `to` is inclusive.
  const fromAt = sql`(${query.from}::timestamp at time zone ${tz})`;
  const toAt = sql`((${query.to}::date + 1)::timestamp at time zone ${tz})`;
  const local = (column: string) => sql`date_trunc(${unit}, ${sql.ref(column)} at time zone ${tz})`;
  const rows = await sql<BucketRow>`
    with buckets as (
      select generate_series(
        date_trunc(${unit}, ${query.from}::timestamp),
        ${query.to}::timestamp,
        ${step}::interval) as start
    ),
    points as (
      select ${local("e.created_at")} as start,
        coalesce(sum(case when p.account = 'program:issued' then -p.points end), 0) as issued,
        coalesce(sum(case when p.account = 'program:redeemed' then p.points end), 0) as redeemed,
        coalesce(sum(case when p.account = 'program:expired' then p.points end), 0) as expired,
        coalesce(sum(case when p.account like 'member:%' then p.points end), 0) as liability_change
      from postings p join journal_entries e on e.id = p.entry_id
      where p.program_id = ${programId} and e.created_at >= ${fromAt} and e.created_at < ${toAt}
      group by 1
    ),
    active as (
      select ${local("created_at")} as start, count(distinct member_id) as active_members
      from journal_entries
      where program_id = ${programId} and member_id is not null
        and created_at >= ${fromAt} and created_at < ${toAt}
      group by 1
    ),
    joined as (
      select ${local("created_at")} as start, count(*) as new_members
      from members
      where program_id = ${programId} and created_at >= ${fromAt} and created_at < ${toAt}
      group by 1
    )
    select to_char(b.start, 'YYYY-MM-DD') as start,
      coalesce(j.new_members, 0) as new_members,
      coalesce(a.active_members, 0) as active_members,
      coalesce(p.issued, 0) as issued,
      coalesce(p.redeemed, 0) as redeemed,
      coalesce(p.expired, 0) as expired,
      coalesce(p.liability_change, 0) as liability_change
    from buckets b
      left join points p on p.start = b.start
      left join active a on a.start = b.start
      left join joined j on j.start = b.start
    order by b.start`.execute(ctx.db.kysely);
  const before = await sql<{ liability: number | string | null; members: number | string }>`
    select
      (select coalesce(sum(p.points), 0) from postings p join journal_entries e on e.id = p.entry_id
        where p.program_id = ${programId} and p.account like 'member:%'
          and e.created_at < ${fromAt}) as liability,
      (select count(*) from members where program_id = ${programId} and created_at < ${toAt})
        as members`.execute(ctx.db.kysely);
  const totalActive = await sql<{ n: number | string }>`
    select count(distinct member_id) as n from journal_entries
    where program_id = ${programId} and member_id is not null
      and created_at >= ${fromAt} and created_at < ${toAt}`.execute(ctx.db.kysely);
  let liability = Number(before.rows[0]?.liability ?? 0);
  const series = rows.rows.map((row) => {
    liability += Number(row.liability_change);
    return {
      start: row.start,
      newMembers: Number(row.new_members),
      activeMembers: Number(row.active_members),
      pointsIssued: Number(row.issued),
      pointsRedeemed: Number(row.redeemed),
      pointsExpired: Number(row.expired),
      liability,
    };
  });
  const sum = (pick: (s: (typeof series)[number]) => number) =>
    series.reduce((total, s) => total + pick(s), 0);
  return {
    from: query.from,
    to: query.to,
    granularity: query.granularity,
    timezone: tz,
    totals: {
      members: Number(before.rows[0]?.members ?? 0),
      newMembers: sum((s) => s.newMembers),
      activeMembers: Number(totalActive.rows[0]?.n ?? 0),
      pointsIssued: sum((s) => s.pointsIssued),
      pointsRedeemed: sum((s) => s.pointsRedeemed),
      pointsExpired: sum((s) => s.pointsExpired),
      liability,
    },
    series,
  };
}
