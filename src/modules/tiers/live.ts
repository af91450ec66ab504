import { sql } from "kysely";
import type { Ctx } from "../../context.ts";
import { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { invariant } from "../../lib/assert.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { findMemberRow } from "../members/index.ts";
import { emit } from "../outbox/index.ts";
import { getProgram, getProgramCached, type Program } from "../programs/index.ts";
import type { LadderTier, TierLadder } from "./ladder.ts";
import {
  initialState,
  type MetricWindow,
  periodEndFor,
  reviewAt,
  reviewDue,
  reviewStep,
  reviewWindow,
  type TierChange,
  type TierChangeReason,
  type TierState,
  tierById,
  upgradeStep,
  upgradeWindow,
} from "./qualification.ts";
import { loadLadderCached, requireLadder } from "./store.ts";

type Db = Queryable | Tx;

/** Members per call of getMemberTiers / afterPurchases: a purchase batch is at most 500. */
export const membersPerCallMax = 1_000;
/** Members reviewed per job transaction: bounded so one run never holds locks for long. */
export const reviewBatchSizeMax = 200;
export const historyShownMax = 50;

const metricSql = {
  spend: sql<number>`t.total_minor - r.amount_minor`,
  visits: sql<number>`case when t.total_minor - r.amount_minor > 0 then 1 else 0 end`,
  points_earned: sql<number>`t.points_earned - r.points`,
} as const;

/**
 * The ladder's metric for many (member, window) pairs in ONE query, from transactions and the
 * refunds recorded by each window's knownAt: the same sums as `metricValue` over `activityOf`.
 */
export async function measure(
  db: Db,
  ladder: TierLadder,
  windows: { memberId: string; window: MetricWindow }[],
): Promise<number[]> {
  if (windows.length === 0) return [];
  const values = sql.join(
    windows.map(
      ({ memberId, window }, index) =>
        sql`(${index}::int, ${memberId}::text, ${window.from}::timestamptz, ${window.to}::timestamptz, ${window.knownAt}::timestamptz)`,
    ),
  );
  const result = await sql<{ position: number; value: number }>`
    select w.position, coalesce(sum(${metricSql[ladder.metric]}), 0)::bigint as value
    from (values ${values}) as w(position, member_id, from_at, to_at, known_at)
    left join transactions t
      on t.member_id = w.member_id
      and t.occurred_at >= w.from_at
      and (w.to_at is null or t.occurred_at < w.to_at)
      and t.created_at <= w.known_at
    left join lateral (
      select coalesce(sum(f.amount_minor), 0) as amount_minor,
        coalesce(sum(f.points_reversed + f.points_forfeited + f.points_already_expired), 0) as points
      from refunds f
      where f.transaction_id = t.id and f.created_at <= w.known_at
    ) r on t.id is not null
    group by w.position`.execute(db);
  const out = new Array<number>(windows.length).fill(0);
  for (const row of result.rows) out[row.position] = Number(row.value);
  return out;
}

interface Tracked {
  before: TierState;
  state: TierState;
  changes: TierChange[];
}

function stateOf(row: { tier_id: string | null; since: Date; period_end: Date | null }): TierState {
  return { tierId: row.tier_id, since: row.since, periodEnd: row.period_end };
}

/** Stored states of members, locked; members without a row start from the ladder's default. */
async function lockStates(
  tx: Tx,
  ladder: TierLadder,
  memberIds: string[],
): Promise<Map<string, Tracked>> {
  const rows =
    memberIds.length === 0
      ? []
      : await tx
          .selectFrom("member_tiers")
          .select(["member_id", "tier_id", "since", "period_end"])
          .where("member_id", "in", memberIds)
          .orderBy("member_id")
          .forUpdate()
          .execute();
  const stored = new Map(rows.map((row) => [row.member_id, stateOf(row)]));
  const tracked = new Map<string, Tracked>();
  for (const id of memberIds) {
    const state = stored.get(id) ?? initialState(ladder);
    tracked.set(id, { before: state, state, changes: [] });
  }
  return tracked;
}

/**
 * Brings members up to `until`: every review whose grace period has passed, oldest first (a
 * member idle for several periods is reviewed once per period), then, with `upgradeAt`, the
 * upgrade check after purchases. One metric query per round for all members.
 */
async function settle(
  tx: Tx,
  ladder: TierLadder,
  members: Map<string, Tracked>,
  until: Date,
  upgradeAt: Date | null,
): Promise<void> {
  for (;;) {
    const due = [...members].filter(([, member]) => reviewDue(ladder, member.state, until));
    if (due.length === 0) break;
    const values = await measure(
      tx,
      ladder,
      due.map(([memberId, member]) => ({
        memberId,
        window: reviewWindow(ladder, member.state.periodEnd as Date),
      })),
    );
    due.forEach(([, member], index) => {
      const step = reviewStep(ladder, member.state, values[index] ?? 0);
      member.state = step.state;
      if (step.change) member.changes.push(step.change);
    });
  }
  if (upgradeAt === null) return;
  const all = [...members];
  const values = await measure(
    tx,
    ladder,
    all.map(([memberId]) => ({ memberId, window: upgradeWindow(ladder, upgradeAt) })),
  );
  all.forEach(([, member], index) => {
    const step = upgradeStep(ladder, member.state, values[index] ?? 0, upgradeAt);
    member.state = step.state;
    if (step.change) member.changes.push(step.change);
  });
}

const sameState = (a: TierState, b: TierState) =>
  a.tierId === b.tierId &&
  a.since?.getTime() === b.since?.getTime() &&
  a.periodEnd?.getTime() === b.periodEnd?.getTime();

/** Writes changed states, their history and `tier.changed` events in one statement. */
async function writeStates(
  tx: Tx,
  programId: string,
  ladder: TierLadder,
  members: Map<string, Tracked>,
  at: Date,
  note: string | null = null,
): Promise<void> {
  const batch = new WriteBatch(tx);
  const rows = [];
  const codeOf = (tierId: string | null) => tierById(ladder, tierId)?.code ?? null;
  for (const [memberId, member] of members) {
    if (sameState(member.before, member.state)) continue;
    const { state } = member;
    rows.push({
      member_id: memberId,
      program_id: programId,
      tier_id: state.tierId,
      since: state.since ?? at,
      period_end: state.periodEnd,
      review_at: state.periodEnd && reviewAt(ladder, state.periodEnd),
      updated_at: at,
    });
    for (const change of member.changes) {
      const id = newId("tierChange");
      batch.insertRow("tier_changes", {
        id,
        program_id: programId,
        member_id: memberId,
        from_tier_id: change.fromTierId,
        to_tier_id: change.toTierId,
        reason: change.reason,
        note,
        metric_value: change.metricValue,
        created_at: change.at,
      });
      await emit(batch, {
        programId,
        type: "tier.changed",
        payload: {
          changeId: id,
          memberId,
          fromTier: codeOf(change.fromTierId),
          toTier: codeOf(change.toTierId),
          reason: change.reason,
        },
        at: change.at,
      });
    }
  }
  if (rows.length === 0) return;
  batch.add(
    tx
      .insertInto("member_tiers")
      .values(rows)
      .onConflict((conflict) =>
        conflict.column("member_id").doUpdateSet((eb) => ({
          tier_id: eb.ref("excluded.tier_id"),
          since: eb.ref("excluded.since"),
          period_end: eb.ref("excluded.period_end"),
          review_at: eb.ref("excluded.review_at"),
          updated_at: eb.ref("excluded.updated_at"),
        })),
      ),
  );
  await batch.flush();
}

/**
 * Called at the end of recording purchases (members already locked by the purchase): settles
 * reviews that fell due, then moves up every member whose metric crossed a threshold. Costs
 * nothing when the program has no ladder.
 */
export async function afterPurchases(
  tx: Tx,
  program: Pick<Program, "id" | "timezone">,
  memberIds: string[],
  at: Date,
): Promise<void> {
  if (memberIds.length === 0) return;
  const ladder = await loadLadderCached(tx, program);
  if (!ladder) return;
  const ids = [...new Set(memberIds)].sort();
  invariant(ids.length <= membersPerCallMax, "afterPurchases: too many members for one call");
  const members = await lockStates(tx, ladder, ids);
  await settle(tx, ladder, members, at, at);
  await writeStates(tx, program.id, ladder, members, at);
}

/**
 * Gives a member a tier (an admin's manual setting, or the reward "tier upgrade"). It is held
 * until `until` (or one full period) and then reviewed like any other. A reward never moves a
 * member down; a manual setting may.
 */
export async function grantTier(
  tx: Tx,
  input: {
    programId: string;
    memberId: string;
    tierId: string;
    until: Date | null;
    reason: string;
    at: Date;
    kind?: "manual" | "reward";
  },
): Promise<{ changed: boolean; tierId: string | null; periodEnd: Date | null }> {
  const { at } = input;
  const kind = input.kind ?? "reward";
  const program = await getProgramCached(tx, input.programId);
  const ladder = await requireLadder(tx, program);
  const tier = ladder.tiers.find((candidate) => candidate.id === input.tierId);
  if (!tier) throw notFound("tier_not_found", input.tierId);
  if (input.until && input.until <= at) {
    throw new DomainError("validation_failed", "until must be in the future", { field: "until" });
  }
  await findMemberRow(tx, input.programId, { id: input.memberId });
  const members = await lockStates(tx, ladder, [input.memberId]);
  const member = members.get(input.memberId) as Tracked;
  await settle(tx, ladder, members, at, null);
  const current = tierById(ladder, member.state.tierId);
  if (kind === "reward" && current && current.rank > tier.rank) {
    await writeStates(tx, input.programId, ladder, members, at);
    return { changed: false, tierId: current.id, periodEnd: member.state.periodEnd };
  }
  const periodEnd = input.until ?? periodEndFor(ladder, tier, at);
  const changed = member.state.tierId !== tier.id;
  member.state = { tierId: tier.id, since: changed ? at : member.state.since, periodEnd };
  if (changed) {
    member.changes.push({
      at,
      fromTierId: current?.id ?? null,
      toTierId: tier.id,
      reason: kind,
      metricValue: null,
    });
  }
  await writeStates(tx, input.programId, ladder, members, at, input.reason);
  return { changed, tierId: tier.id, periodEnd };
}

export interface MemberTier {
  tierId: string;
  code: string;
  rank: number;
  earnMultiplierPercent: number;
}

/**
 * Current tiers of members (one query); members without a tier are absent. With an automatic
 * lowest tier, members without a stored tier hold it.
 */
export async function getMemberTiers(
  db: Db,
  programId: string,
  memberIds: string[],
): Promise<Map<string, MemberTier>> {
  const tiers = new Map<string, MemberTier>();
  if (memberIds.length === 0) return tiers;
  invariant(memberIds.length <= membersPerCallMax, "getMemberTiers: too many members for one call");
  const program = await getProgramCached(db, programId);
  const ladder = await loadLadderCached(db, program);
  if (!ladder) return tiers;
  const rows = await db
    .selectFrom("member_tiers")
    .select(["member_id", "tier_id", "since", "period_end"])
    .where("program_id", "=", programId)
    .where("member_id", "in", memberIds)
    .execute();
  const stored = new Map(rows.map((row) => [row.member_id, stateOf(row)]));
  for (const memberId of memberIds) {
    const tier = tierById(ladder, (stored.get(memberId) ?? initialState(ladder)).tierId);
    if (tier) tiers.set(memberId, memberTier(tier));
  }
  return tiers;
}

const memberTier = (tier: LadderTier): MemberTier => ({
  tierId: tier.id,
  code: tier.code,
  rank: tier.rank,
  earnMultiplierPercent: tier.benefits.earnMultiplierPercent,
});

export interface MemberTierView {
  memberId: string;
  ladderVersion: number;
  metric: TierLadder["metric"];
  tier: LadderTier | null;
  since: string | null;
  metricValue: number;
  window: { from: string; to: string | null };
  nextTier: { tier: LadderTier; threshold: number; missing: number } | null;
  keepTier: { needed: number; by: string } | null;
  periodEnd: string | null;
  reviewAt: string | null;
  history: {
    id: string;
    fromTier: string | null;
    toTier: string | null;
    reason: TierChangeReason;
    note: string | null;
    metricValue: number | null;
    at: string;
  }[];
}

/** Where a member stands: tier, metric now, what is missing for the next tier and to keep it. */
export async function memberTierView(
  db: Db,
  programId: string,
  memberId: string,
  now: Date,
): Promise<MemberTierView> {
  const program = await getProgram(db, programId);
  const ladder = await requireLadder(db, program);
  await findMemberRow(db, programId, { id: memberId });
  const row = await db
    .selectFrom("member_tiers")
    .select(["tier_id", "since", "period_end"])
    .where("member_id", "=", memberId)
    .executeTakeFirst();
  const state = row ? stateOf(row) : initialState(ladder);
  const tier = tierById(ladder, state.tierId);
  const current = upgradeWindow(ladder, now);
  const periodEnd = tier ? state.periodEnd : null;
  // The period's review counts what is already recorded now; the rest is still to come.
  const keepWindow = periodEnd && { ...reviewWindow(ladder, periodEnd), knownAt: now };
  const [metricValue = 0, keepValue = 0] = await measure(db, ladder, [
    { memberId, window: current },
    ...(keepWindow ? [{ memberId, window: keepWindow }] : []),
  ]);
  const next = ladder.tiers.find((candidate) => !tier || candidate.rank > tier.rank) ?? null;
  const history = await db
    .selectFrom("tier_changes as c")
    .leftJoin("tiers as f", "f.id", "c.from_tier_id")
    .leftJoin("tiers as t", "t.id", "c.to_tier_id")
    .select([
      "c.id",
      "f.code as fromTier",
      "t.code as toTier",
      "c.reason",
      "c.note",
      "c.metric_value",
      "c.created_at",
    ])
    .where("c.member_id", "=", memberId)
    .orderBy("c.id", "desc")
    .limit(historyShownMax)
    .execute();
  return {
    memberId,
    ladderVersion: ladder.version,
    metric: ladder.metric,
    tier,
    since: state.since?.toISOString() ?? null,
    metricValue,
    window: { from: current.from.toISOString(), to: null },
    nextTier: next && {
      tier: next,
      threshold: next.threshold,
      missing: Math.max(0, next.threshold - metricValue),
    },
    keepTier:
      tier && periodEnd
        ? { needed: Math.max(0, tier.threshold - keepValue), by: periodEnd.toISOString() }
        : null,
    periodEnd: periodEnd?.toISOString() ?? null,
    reviewAt: periodEnd ? reviewAt(ladder, periodEnd).toISOString() : null,
    history: history.map((change) => ({
      id: change.id,
      fromTier: change.fromTier,
      toTier: change.toTier,
      reason: change.reason,
      note: change.note,
      metricValue: change.metric_value,
      at: change.created_at.toISOString(),
    })),
  };
}

export interface TierReviewReport {
  reviewed: number;
  changed: number;
}

/**
 * The scheduled review: members whose review fell due, in bounded batches. Each batch locks its
 * rows with SKIP LOCKED, so several runners take different members; a review moves the period
 * end forward, so a member reviewed once is not due again and a second run finds nothing.
 */
export async function reviewDueTiers(ctx: Ctx): Promise<TierReviewReport> {
  const report: TierReviewReport = { reviewed: 0, changed: 0 };
  let after = "";
  for (;;) {
    const done = await ctx.db.transaction(async (tx) => {
      const now = ctx.clock.now();
      const rows = await tx
        .selectFrom("member_tiers")
        .select(["member_id", "program_id"])
        .where("review_at", "<=", now)
        .where("member_id", ">", after)
        .orderBy("member_id")
        .limit(reviewBatchSizeMax)
        .forUpdate()
        .skipLocked()
        .execute();
      let changed = 0;
      const byProgram = new Map<string, typeof rows>();
      for (const row of rows)
        byProgram.set(row.program_id, [...(byProgram.get(row.program_id) ?? []), row]);
      for (const [programId, programRows] of byProgram) {
        const program = await getProgram(tx, programId);
        const ladder = await requireLadder(tx, program);
        const members = await lockStates(
          tx,
          ladder,
          programRows.map((row) => row.member_id),
        );
        await settle(tx, ladder, members, now, null);
        await writeStates(tx, programId, ladder, members, now);
        for (const member of members.values()) changed += member.changes.length > 0 ? 1 : 0;
      }
      return { last: rows.at(-1)?.member_id, reviewed: rows.length, changed };
    });
    if (done.last === undefined) return report;
    report.reviewed += done.reviewed;
    report.changed += done.changed;
    after = done.last;
  }
}
