import { sql } from "kysely";
import type { Queryable, Tx } from "../../db/client.ts";
import type { MembersTable } from "../../db/schema.ts";
import { readBalance } from "../ledger/index.ts";
import { findMemberRow } from "../members/index.ts";
import type { Program } from "../programs/index.ts";
import { getMemberTiers } from "../tiers/index.ts";
import { eligibilityOf, tierCostsOf } from "./catalog.ts";
import type { LimitPeriod, RewardsTable } from "./tables.ts";

export const ineligibleReasons = [
  "archived",
  "not_yet_available",
  "no_longer_available",
  "out_of_stock",
  "tier_not_eligible",
  "tags_missing",
  "member_limit_reached",
  "period_limit_reached",
  "member_blocked",
] as const;
export type IneligibleReason = (typeof ineligibleReasons)[number];

/** What the catalog needs to know about a member to judge a reward. */
export interface MemberFacts {
  status: string;
  tierCode: string | null;
  tags: string[];
  pointsAvailable: number;
}

/** Redemptions of one reward by one member that count against its limits. */
export interface Usage {
  total: number;
  inPeriod: number;
}

export interface Standing {
  eligible: boolean;
  reasons: IneligibleReason[];
  pointsCost: number;
  affordable: boolean;
  pointsMissing: number;
}

/** The member's price: the cost for their tier when the reward names one, else the base cost. */
export function pointsCostFor(reward: RewardsTable, tierCode: string | null): number {
  const byTier = tierCostsOf(reward);
  return tierCode !== null && byTier[tierCode] !== undefined
    ? byTier[tierCode]
    : reward.points_cost;
}

/** Pure: whether a member may redeem a reward now, and whether they can afford it. */
export function standingOf(
  reward: RewardsTable,
  member: MemberFacts,
  usage: Usage,
  at: Date,
): Standing {
  const reasons: IneligibleReason[] = [];
  if (reward.status !== "active") reasons.push("archived");
  if (member.status !== "active") reasons.push("member_blocked");
  if (reward.available_from && reward.available_from > at) reasons.push("not_yet_available");
  if (reward.available_until && reward.available_until <= at) reasons.push("no_longer_available");
  if (reward.stock_remaining !== null && reward.stock_remaining <= 0) reasons.push("out_of_stock");
  const { tierCodes, tags } = eligibilityOf(reward);
  if (tierCodes.length > 0 && (member.tierCode === null || !tierCodes.includes(member.tierCode))) {
    reasons.push("tier_not_eligible");
  }
  if (tags.some((tag) => !member.tags.includes(tag))) reasons.push("tags_missing");
  if (reward.limit_per_member !== null && usage.total >= reward.limit_per_member) {
    reasons.push("member_limit_reached");
  }
  if (reward.limit_per_period !== null && usage.inPeriod >= reward.limit_per_period) {
    reasons.push("period_limit_reached");
  }
  const pointsCost = pointsCostFor(reward, member.tierCode);
  const pointsMissing = Math.max(0, pointsCost - Math.max(0, member.pointsAvailable));
  return {
    eligible: reasons.length === 0,
    reasons,
    pointsCost,
    affordable: pointsMissing === 0,
    pointsMissing,
  };
}

/**
 * Orders a member's options: what they can take now first (higher priority, then higher cost),
 * then what they are saving for (fewest points missing first), then what they may not take.
 */
export function compareStandings(
  a: { reward: RewardsTable; standing: Standing },
  b: { reward: RewardsTable; standing: Standing },
): number {
  const group = (s: Standing) => (!s.eligible ? 2 : s.affordable ? 0 : 1);
  const byGroup = group(a.standing) - group(b.standing);
  if (byGroup !== 0) return byGroup;
  if (group(a.standing) === 0) {
    return (
      b.reward.priority - a.reward.priority ||
      b.standing.pointsCost - a.standing.pointsCost ||
      (a.reward.id < b.reward.id ? -1 : 1)
    );
  }
  return (
    a.standing.pointsMissing - b.standing.pointsMissing ||
    b.reward.priority - a.reward.priority ||
    (a.reward.id < b.reward.id ? -1 : 1)
  );
}

/** Member tags are kept by the rules module on the member row (read through members' exports). */
export function tagsOf(member: MembersTable): string[] {
  const tags = (member as MembersTable & { tags?: unknown }).tags;
  return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === "string") : [];
}

export async function tierCodeOf(
  db: Queryable | Tx,
  programId: string,
  memberId: string,
): Promise<string | null> {
  const tiers = await getMemberTiers(db, programId, [memberId]);
  return tiers.get(memberId)?.code ?? null;
}

/**
 * Start of the calendar period containing `at` in the program's time zone (weeks start on
 * Monday). The zone's offset at `at` is used for the whole period: exact for zones without
 * daylight saving, such as Indonesia's.
 */
export function periodStart(at: Date, period: LimitPeriod, timezone: string): Date {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    })
      .formatToParts(at)
      .map((part) => [part.type, part.value]),
  );
  const local = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  const offsetMs = local - Math.floor(at.getTime() / 1000) * 1000;
  const year = Number(parts.year);
  const month = Number(parts.month) - 1;
  const day = Number(parts.day);
  const weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const startLocal =
    period === "year"
      ? Date.UTC(year, 0, 1)
      : period === "month"
        ? Date.UTC(year, month, 1)
        : period === "week"
          ? Date.UTC(year, month, day - weekdays.indexOf(String(parts.weekday)))
          : Date.UTC(year, month, day);
  return new Date(startLocal - offsetMs);
}

/** Counts each reward's redemptions by the member (cancelled ones excepted), in one query. */
export async function usageOf(
  db: Queryable | Tx,
  memberId: string,
  rewards: RewardsTable[],
  timezone: string,
  at: Date,
): Promise<Map<string, Usage>> {
  const usage = new Map<string, Usage>();
  if (rewards.length === 0) return usage;
  // One period start per reward; rewards without a period limit count from the beginning.
  const starts = rewards.map((reward) => ({
    id: reward.id,
    since: reward.limit_period ? periodStart(at, reward.limit_period, timezone) : new Date(0),
  }));
  const { rows } = await sql<{ reward_id: string; total: number; in_period: number }>`
    select v.reward_id, count(*)::int as total, count(*) filter (where v.created_at >= s.since)::int as in_period
    from vouchers v join (values ${sql.join(
      starts.map((start) => sql`(${start.id}::text, ${start.since}::timestamptz)`),
    )}) as s(reward_id, since) on s.reward_id = v.reward_id
    where v.member_id = ${memberId} and v.source = 'redemption' and v.state <> 'cancelled'
    group by v.reward_id`.execute(db);
  for (const row of rows) usage.set(row.reward_id, { total: row.total, inPeriod: row.in_period });
  return usage;
}

/**
 * What a member can get now, most relevant first: each active reward with the member's price,
 * whether they can afford it, how many points they miss, and why not when they may not take it.
 */
export async function memberRewardOptions(
  db: Queryable,
  program: Program,
  memberId: string,
  options: { includeIneligible: boolean; limit: number },
  at: Date,
): Promise<{ reward: RewardsTable; standing: Standing }[]> {
  const member = await findMemberRow(db, program.id, { id: memberId });
  const balance = await readBalance(db, memberId);
  const rewards = await db
    .selectFrom("rewards")
    .selectAll()
    .where("program_id", "=", program.id)
    .where("status", "=", "active")
    .execute();
  const usage = await usageOf(db, memberId, rewards, program.timezone, at);
  const facts: MemberFacts = {
    status: member.status,
    tierCode: await tierCodeOf(db, program.id, memberId),
    tags: tagsOf(member),
    pointsAvailable: balance.available,
  };
  return rewards
    .map((reward) => ({
      reward,
      standing: standingOf(reward, facts, usage.get(reward.id) ?? { total: 0, inPeriod: 0 }, at),
    }))
    .filter((option) => options.includeIneligible || option.standing.eligible)
    .sort(compareStandings)
    .slice(0, options.limit);
}
