import { sql } from "kysely";
import type { Queryable } from "../../db/client.ts";

export interface VerifyReport {
  ok: boolean;
  checked: { entries: number; members: number; lots: number };
  problems: { check: string; id: string; detail: string }[];
}

const problemsMax = 100;

/**
 * Checks the ledger's invariants against its own journal: every entry sums to zero, every cached
 * balance equals the sum of its postings, lots agree with their movements and with the balances.
 */
export async function verifyLedger(db: Queryable, programId?: string): Promise<VerifyReport> {
  const scope = programId ? sql`and program_id = ${programId}` : sql``;
  const problems: VerifyReport["problems"] = [];
  const add = (check: string, rows: { id: string; detail: string }[]) => {
    for (const row of rows) if (problems.length < problemsMax) problems.push({ check, ...row });
  };

  const unbalanced = await sql<{ id: string; detail: string }>`
    select entry_id as id, 'postings sum to ' || sum(points) as detail
    from postings where true ${scope} group by entry_id having sum(points) <> 0`.execute(db);
  add("entry_sums_to_zero", unbalanced.rows);

  const cache = await sql<{ id: string; detail: string }>`
    with sums as (
      select member_id,
        coalesce(sum(points) filter (where account = 'member:pending'), 0) as pending,
        coalesce(sum(points) filter (where account = 'member:available'), 0) as available,
        coalesce(sum(points) filter (where account = 'member:held'), 0) as held
      from postings where member_id is not null ${scope} group by member_id)
    select b.member_id as id,
      format('cached %s/%s/%s, journal %s/%s/%s', b.pending, b.available, b.held,
        coalesce(s.pending, 0), coalesce(s.available, 0), coalesce(s.held, 0)) as detail
    from member_balances b left join sums s on s.member_id = b.member_id
    where (b.pending, b.available, b.held) is distinct from
      (coalesce(s.pending, 0), coalesce(s.available, 0), coalesce(s.held, 0))
      ${programId ? sql`and b.program_id = ${programId}` : sql``}`.execute(db);
  add("balance_equals_journal", cache.rows);

  const lotSums = await sql<{ id: string; detail: string }>`
    with lots as (
      select member_id,
        coalesce(sum(points_remaining) filter (where state = 'pending'), 0) as pending,
        coalesce(sum(points_remaining) filter (where state = 'available'), 0) as available
      from point_lots where true ${scope} group by member_id),
    held as (
      select member_id, sum(points) as held from holds where state = 'active' ${scope} group by member_id)
    select b.member_id as id,
      format('balance pending %s available %s debt %s held %s; lots pending %s available %s; holds %s',
        b.pending, b.available, b.debt, b.held, coalesce(l.pending, 0), coalesce(l.available, 0),
        coalesce(h.held, 0)) as detail
    from member_balances b
      left join lots l on l.member_id = b.member_id
      left join held h on h.member_id = b.member_id
    where (b.pending <> coalesce(l.pending, 0)
      or b.available + b.debt <> coalesce(l.available, 0)
      or b.held <> coalesce(h.held, 0)
      or (b.debt > 0 and coalesce(l.available, 0) > 0))
      ${programId ? sql`and b.program_id = ${programId}` : sql``}`.execute(db);
  add("balance_equals_lots", lotSums.rows);

  const lotMoves = await sql<{ id: string; detail: string }>`
    select l.id, format('original %s + movements %s <> remaining %s', l.points_original,
      coalesce(m.moved, 0), l.points_remaining) as detail
    from point_lots l
      left join (select lot_id, sum(points) as moved from lot_movements group by lot_id) m on m.lot_id = l.id
    where l.points_original + coalesce(m.moved, 0) <> l.points_remaining
      ${programId ? sql`and l.program_id = ${programId}` : sql``}`.execute(db);
  add("lot_equals_movements", lotMoves.rows);

  const counts = await sql<{ entries: number; members: number; lots: number }>`
    select (select count(*) from journal_entries where true ${scope})::int as entries,
      (select count(*) from member_balances where true ${scope})::int as members,
      (select count(*) from point_lots where true ${scope})::int as lots`.execute(db);
  const checked = counts.rows[0] ?? { entries: 0, members: 0, lots: 0 };
  return { ok: problems.length === 0, checked, problems };
}
