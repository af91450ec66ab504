import { sql } from "kysely";
import type { Queryable, Tx } from "../../db/client.ts";
import { newId } from "../../lib/ids.ts";
import { fromMinor } from "../../lib/money.ts";
import { emit } from "../outbox/index.ts";
import type { Program } from "../programs/index.ts";
import { benefitOf } from "./catalog.ts";
import type { RewardsTable } from "./tables.ts";

/** YYYY-MM of an instant in a time zone. */
export function monthIn(at: Date, timezone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: timezone,
    year: "numeric",
    month: "2-digit",
  }).formatToParts(at);
  const part = (type: string) => parts.find((candidate) => candidate.type === type)?.value ?? "";
  return `${part("year")}-${part("month")}`;
}

/** A donation made with points, valued at the reward's configured money value. */
export async function recordDonation(
  tx: Tx,
  input: {
    program: Program;
    reward: RewardsTable;
    memberId: string;
    voucherId: string;
    points: number;
    valueMinor: number;
    at: Date;
  },
): Promise<void> {
  const { program, reward, at } = input;
  const id = newId("donation");
  await tx
    .insertInto("donations")
    .values({
      id,
      program_id: program.id,
      reward_id: reward.id,
      member_id: input.memberId,
      voucher_id: input.voucherId,
      points: input.points,
      value_minor: input.valueMinor,
      month: monthIn(at, program.timezone),
      created_at: at,
    })
    .execute();
  await emit(tx, {
    programId: program.id,
    type: "donation.recorded",
    payload: {
      donationId: id,
      rewardId: reward.id,
      memberId: input.memberId,
      voucherId: input.voucherId,
      charity: benefitOf(reward).charity ?? null,
      points: input.points,
      value: fromMinor(input.valueMinor, program.currency),
      currency: program.currency,
    },
    at,
  });
}

/** Donations per reward and month (program time zone), between two months inclusive. */
export async function donationReport(
  db: Queryable,
  program: Program,
  range: { fromMonth?: string | undefined; toMonth?: string | undefined },
) {
  const { rows } = await sql<{
    reward_id: string;
    month: string;
    donations: number;
    points: number;
    value_minor: number;
    benefit: unknown;
  }>`
    select d.reward_id, d.month, count(*)::int as donations, sum(d.points)::bigint as points,
      sum(d.value_minor)::bigint as value_minor, r.benefit
    from donations d join rewards r on r.id = d.reward_id
    where d.program_id = ${program.id}
      ${range.fromMonth ? sql`and d.month >= ${range.fromMonth}` : sql``}
      ${range.toMonth ? sql`and d.month <= ${range.toMonth}` : sql``}
    group by d.reward_id, d.month, r.benefit
    order by d.month, d.reward_id`.execute(db);
  return rows.map((row) => ({
    rewardId: row.reward_id,
    charity:
      (benefitOf({ benefit: row.benefit } as RewardsTable).charity as string | undefined) ?? null,
    month: row.month,
    donations: row.donations,
    points: Number(row.points),
    value: fromMinor(Number(row.value_minor), program.currency),
  }));
}
