import { sql } from "kysely";
import { z } from "zod";
import type { Queryable } from "../../db/client.ts";
import { fromMinor } from "../../lib/money.ts";

export const figuresDaysMax = 366;

export const storeFiguresSchema = z
  .object({
    days: z.number().int().describe("The window: purchases that occurred in the last `days` days"),
    purchases: z.number().int(),
    members: z.number().int().describe("Distinct members among those purchases"),
    salesTotal: z.string().describe("Sum of the purchases' totals, before refunds"),
    pointsIssued: z.number().int().describe("Points the purchases earned"),
    lastPurchaseAt: z.string().nullable(),
  })
  .meta({ id: "StoreFigures" });
export type StoreFigures = z.infer<typeof storeFiguresSchema>;

interface FiguresRow {
  store_id: string;
  purchases: number | string;
  members: number | string;
  total_minor: number | string;
  points: number | string;
  last_at: Date | null;
}

/** The figures of a group of receipts, as FiguresRow names them. */
const figuresColumns = sql`count(*) as purchases, count(distinct member_id) as members,
  coalesce(sum(total_minor), 0) as total_minor, coalesce(sum(points_earned), 0) as points,
  max(occurred_at) as last_at`;

function figuresOf(row: FiguresRow | undefined, days: number, currency: string): StoreFigures {
  return {
    days,
    purchases: Number(row?.purchases ?? 0),
    members: Number(row?.members ?? 0),
    salesTotal: fromMinor(Number(row?.total_minor ?? 0), currency),
    pointsIssued: Number(row?.points ?? 0),
    lastPurchaseAt: row?.last_at ? new Date(row.last_at).toISOString() : null,
  };
}

/**
 * Purchases, members, sales and points of each store in the last `days` days: one grouped
 * query, one index range per store (transactions_store_time).
 */
export async function storeFigures(
  db: Queryable,
  program: { id: string; currency: string },
  codes: string[],
  days: number,
  now: Date,
): Promise<Map<string, StoreFigures>> {
  if (codes.length === 0) return new Map();
  const since = new Date(now.getTime() - days * 86_400_000);
  const { rows } = await sql<FiguresRow>`
    select store_id, ${figuresColumns}
    from transactions
    where program_id = ${program.id} and store_id = any(${codes}::text[])
      and occurred_at >= ${since}
    group by store_id`.execute(db);
  const found = new Map(rows.map((row) => [row.store_id, row]));
  return new Map(codes.map((code) => [code, figuresOf(found.get(code), days, program.currency)]));
}

export const unregisteredStoreSchema = z
  .object({
    code: z.string().describe("A storeId purchases carry that no registered store has"),
    figures: storeFiguresSchema,
  })
  .meta({ id: "UnregisteredStore" });

/**
 * Store codes purchases carry that are not registered, in code order, with their figures.
 * The distinct codes are walked along the receipts' unique index (one probe per code, not one
 * row per receipt), so the answer stays quick however many purchases a store has; figures are
 * computed for the page's codes only.
 */
export async function unregisteredStores(
  db: Queryable,
  program: { id: string; currency: string },
  options: { limit: number; after?: string | undefined; days: number; now: Date },
): Promise<{ code: string; figures: StoreFigures }[]> {
  const since = new Date(options.now.getTime() - options.days * 86_400_000);
  const { rows } = await sql<FiguresRow>`
    with recursive codes (store_id) as (
      (select store_id from transactions
        where program_id = ${program.id} and store_id > ${options.after ?? ""}
        order by store_id limit 1)
      union all
      select (select t.store_id from transactions t
          where t.program_id = ${program.id} and t.store_id > c.store_id
          order by t.store_id limit 1)
      from codes c where c.store_id is not null
    ),
    -- The page first, so figures are computed for its codes only.
    unregistered as (
      select store_id from codes c
      where c.store_id is not null
        and not exists (
          select 1 from stores s where s.program_id = ${program.id} and s.code = c.store_id)
      order by store_id
      limit ${options.limit}
    )
    select u.store_id, f.purchases, f.members, f.total_minor, f.points, f.last_at
    from unregistered u
    cross join lateral (
      select ${figuresColumns}
      from transactions t
      where t.program_id = ${program.id} and t.store_id = u.store_id and t.occurred_at >= ${since}
    ) f
    order by u.store_id`.execute(db);
  return rows.map((row) => ({
    code: row.store_id,
    figures: figuresOf(row, options.days, program.currency),
  }));
}
