import { sql } from "kysely";
import type { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import type { MembersTable } from "../../db/schema.ts";
import { emit } from "../outbox/index.ts";
import { getMemberTiers } from "../tiers/index.ts";
import {
  type CompiledCampaign,
  capPeriodKeys,
  type Evaluation,
  type EvaluationInput,
  type Explain,
  evaluate,
  type MemberFacts,
} from "./evaluate.ts";
import { localTime } from "./time.ts";

/** One event to evaluate: a purchase or an activity, before member facts and usage are added. */
export type EarnEvent = Omit<EvaluationInput, "member" | "memberUsage" | "budgetRemaining"> & {
  member: MembersTable | null;
};

const dayMs = 86_400_000;

/**
 * The database side of evaluating a set of events (a batch of purchases, an activity, a preview):
 * member facts, cap usage and budgets are read set-wise once, each event is evaluated in turn
 * with what the earlier ones used, and the counters go out with the caller's batch. With
 * `lock`, the budgets of the campaigns that match are locked in campaign id order (after the
 * members, which the caller locked), so a budget is never exceeded; a preview reads without locks.
 * `explain` says which campaigns the evaluations list (see Explain): all for a preview, the
 * matched ones for an earn.
 */
export class EarnSession {
  readonly #campaigns: CompiledCampaign[];
  readonly #facts: Map<string, MemberFacts>;
  /** Per member: `${campaignId}|${periodKey}` → points used. */
  readonly #usage: Map<string, Map<string, number>>;
  readonly #budgets: Map<string, { remaining: number; max: number }>;
  /** Usage rows to add at the next write: key member|campaign|period → points. */
  readonly #usageDelta = new Map<string, number>();
  readonly #budgetDelta = new Map<string, number>();
  readonly #programId: string;
  /** Campaigns with a budget. */
  readonly #budgeted: Set<string>;
  readonly #explain: Explain;
  #firstPass = true;

  private constructor(
    programId: string,
    campaigns: CompiledCampaign[],
    facts: Map<string, MemberFacts>,
    usage: Map<string, Map<string, number>>,
    budgets: Map<string, { remaining: number; max: number }>,
    explain: Explain,
  ) {
    this.#programId = programId;
    this.#explain = explain;
    this.#campaigns = campaigns;
    this.#facts = facts;
    this.#usage = usage;
    this.#budgets = budgets;
    this.#budgeted = new Set(
      campaigns.flatMap((campaign) => (campaign.budgetPoints === null ? [] : [campaign.id])),
    );
  }

  static async open(
    db: Tx | Queryable,
    programId: string,
    campaigns: CompiledCampaign[],
    events: EarnEvent[],
    options: { lock: boolean; explain: Explain },
  ): Promise<EarnSession> {
    const members = new Map<string, MembersTable>();
    for (const event of events) if (event.member) members.set(event.member.id, event.member);
    const triggers = new Set(events.map((event) => event.trigger));
    const relevant = campaigns.filter((campaign) =>
      [...campaign.triggers].some((trigger) => triggers.has(trigger)),
    );
    const facts = await gatherFacts(db, programId, [...members.values()], relevant, events);
    const session = new EarnSession(
      programId,
      relevant,
      facts,
      new Map(),
      new Map(),
      options.explain,
    );
    // A first pass finds the campaigns these events match (matching never depends on caps or
    // budgets), on a copy of the facts that moves on as the real pass will; only those
    // campaigns' usage and budgets are read, and nothing when none matched.
    const matched = new Set<string>();
    if (relevant.length > 0) {
      const trial = new Map(
        [...facts].map(([id, fact]) => [
          id,
          { ...fact, recentPurchasesMs: [...fact.recentPurchasesMs] },
        ]),
      );
      for (const event of events) {
        const input = session.#input(event, trial);
        for (const outcome of evaluate(input, relevant, "matched").campaigns) {
          matched.add(outcome.campaignId);
        }
        noteEvent(input.member, event);
      }
    }
    session.#firstPass = false;
    const usage = await readUsage(
      db,
      relevant.filter((campaign) => matched.has(campaign.id)),
      events,
      facts,
    );
    for (const [memberId, used] of usage) session.#usage.set(memberId, used);
    const budgeted = [...session.#budgeted].filter((campaignId) => matched.has(campaignId));
    if (budgeted.length > 0) {
      let query = db
        .selectFrom("campaign_budgets")
        .select(["campaign_id", "points_max", "points_used"])
        .where("campaign_id", "in", budgeted.sort())
        .orderBy("campaign_id");
      if (options.lock) query = query.forUpdate();
      for (const row of await query.execute()) {
        session.#budgets.set(row.campaign_id, {
          remaining: row.points_max - row.points_used,
          max: row.points_max,
        });
      }
    }
    return session;
  }

  /** An event's full evaluation input: its facts and the usage so far, earlier events included. */
  #input(event: EarnEvent, facts = this.#facts): EvaluationInput {
    const member = event.member ? (facts.get(event.member.id) ?? null) : null;
    const memberUsage = member ? this.#usage.get(member.memberId) : undefined;
    // A budget not read under lock gives nothing: only the first pass may assume a full budget.
    const budgetRemaining = new Map<string, number>();
    for (const campaignId of this.#budgeted) {
      budgetRemaining.set(
        campaignId,
        this.#budgets.get(campaignId)?.remaining ?? (this.#firstPass ? Number.MAX_SAFE_INTEGER : 0),
      );
    }
    const { member: _row, ...rest } = event;
    return { ...rest, member, ...(memberUsage && { memberUsage }), budgetRemaining };
  }

  /**
   * Evaluates one event and counts what it used, so the next event of the session sees it.
   * Campaigns whose budget was not read (they did not match in the first pass) give nothing.
   */
  evaluate(event: EarnEvent): Evaluation {
    const input = this.#input(event);
    const evaluation = evaluate(input, this.#campaigns, this.#explain);
    const member = input.member;
    const local = localTime(event.occurredAt, event.timezone);
    const periods = capPeriodKeys(local);
    for (const { campaignId, points } of evaluation.usage) {
      const campaign = this.#campaigns.find((item) => item.id === campaignId);
      if (!campaign) continue;
      if (member) {
        for (const [cap, periodKey] of Object.entries(periods)) {
          if (campaign.caps[cap as keyof typeof periods] === undefined) continue;
          const key = `${campaignId}|${periodKey}`;
          const used = this.#usage.get(member.memberId) ?? new Map<string, number>();
          used.set(key, (used.get(key) ?? 0) + points);
          this.#usage.set(member.memberId, used);
          const row = `${member.memberId}|${key}`;
          this.#usageDelta.set(row, (this.#usageDelta.get(row) ?? 0) + points);
        }
      }
      const budget = this.#budgets.get(campaignId);
      if (budget) {
        budget.remaining -= points;
        this.#budgetDelta.set(campaignId, (this.#budgetDelta.get(campaignId) ?? 0) + points);
      }
    }
    noteEvent(member, event);
    return evaluation;
  }

  /** Adds the counters used since the last call to the batch: one upsert, one budget update. */
  async addWrites(batch: WriteBatch, at: Date): Promise<void> {
    const { tx } = batch;
    if (this.#usageDelta.size > 0) {
      const rows = [...this.#usageDelta].map(([key, points]) => {
        const [memberId, campaignId, periodKey] = key.split("|") as [string, string, string];
        return {
          member_id: memberId,
          campaign_id: campaignId,
          period_key: periodKey,
          program_id: this.#programId,
          points,
        };
      });
      batch.add(
        tx
          .insertInto("campaign_member_usage")
          .values(rows)
          .onConflict((conflict) =>
            conflict
              .columns(["member_id", "campaign_id", "period_key"])
              .doUpdateSet({ points: sql`campaign_member_usage.points + excluded.points` }),
          ),
      );
      this.#usageDelta.clear();
    }
    if (this.#budgetDelta.size > 0) {
      const values = [...this.#budgetDelta].map(
        ([campaignId, points]) => sql`(${campaignId}::text, ${points}::bigint)`,
      );
      batch.add(
        sql`update campaign_budgets as b set points_used = b.points_used + v.points, updated_at = ${at}
          from (values ${sql.join(values)}) as v(campaign_id, points)
          where b.campaign_id = v.campaign_id`,
      );
      for (const [campaignId] of this.#budgetDelta) {
        const budget = this.#budgets.get(campaignId);
        if (budget && budget.remaining === 0) {
          await emit(batch, {
            programId: this.#programId,
            type: "campaign.budget_exhausted",
            payload: { campaignId, budgetPoints: budget.max },
            at,
          });
        }
      }
      this.#budgetDelta.clear();
    }
  }
}

/** What a purchase changes in its member's facts for the next events of the session. */
function noteEvent(member: MemberFacts | null, event: EarnEvent): void {
  if (member && event.trigger === "purchase") {
    member.hasPurchasedBefore = true;
    member.recentPurchasesMs.push(event.occurredAt.getTime());
  }
}

/**
 * Member facts for all members of the events, in at most three queries: tiers, and (only when a
 * campaign asks for first purchase or visits) purchase history.
 */
async function gatherFacts(
  db: Tx | Queryable,
  programId: string,
  members: MembersTable[],
  campaigns: CompiledCampaign[],
  events: EarnEvent[],
): Promise<Map<string, MemberFacts>> {
  const facts = new Map<string, MemberFacts>();
  if (members.length === 0) return facts;
  const ids = members.map((member) => member.id);
  const tiers = await getMemberTiers(db, programId, ids);
  let windowDays = 0;
  let needsHistory = false;
  for (const campaign of campaigns) {
    for (const rule of campaign.rules) {
      for (const condition of rule.conditions) {
        if (condition.type.code === "first_purchase") needsHistory = true;
        if (condition.type.code === "nth_visit") {
          needsHistory = true;
          windowDays = Math.max(windowDays, (condition.args as { windowDays: number }).windowDays);
        }
      }
    }
  }
  for (const member of members) {
    const tier = tiers.get(member.id);
    facts.set(member.id, {
      memberId: member.id,
      tags: member.tags ?? [],
      tierCode: tier?.code ?? null,
      tierMultiplierPercent: tier?.earnMultiplierPercent ?? 100,
      birthday: member.birthday,
      city: member.city,
      ageBand: member.age_band,
      hasPurchasedBefore: false,
      recentPurchasesMs: [],
    });
  }
  if (!needsHistory) return facts;
  const before = await sql<{ member_id: string }>`
    select ids.id as member_id from unnest(${sql.val(ids)}::text[]) as ids(id)
    where exists (select 1 from transactions t where t.member_id = ids.id)`.execute(db);
  for (const row of before.rows) {
    const fact = facts.get(row.member_id);
    if (fact) fact.hasPurchasedBefore = true;
  }
  if (windowDays > 0) {
    const earliestMs = Math.min(...events.map((event) => event.occurredAt.getTime()));
    const since = new Date(earliestMs - windowDays * dayMs);
    const recent = await db
      .selectFrom("transactions")
      .select(["member_id", "occurred_at"])
      .where("member_id", "in", ids)
      .where("occurred_at", ">", since)
      .execute();
    for (const row of recent) {
      if (row.member_id)
        facts.get(row.member_id)?.recentPurchasesMs.push(row.occurred_at.getTime());
    }
  }
  return facts;
}

/** Cap usage of the members of the events for the periods their events fall in: one query. */
async function readUsage(
  db: Tx | Queryable,
  campaigns: CompiledCampaign[],
  events: EarnEvent[],
  facts: Map<string, MemberFacts>,
): Promise<Map<string, Map<string, number>>> {
  const usage = new Map<string, Map<string, number>>();
  const capped = campaigns.filter((campaign) =>
    Object.keys(campaign.caps).some((cap) => cap !== "perTransaction"),
  );
  if (capped.length === 0 || facts.size === 0) return usage;
  const periods = new Set<string>();
  for (const event of events) {
    for (const key of Object.values(capPeriodKeys(localTime(event.occurredAt, event.timezone)))) {
      periods.add(key);
    }
  }
  const rows = await db
    .selectFrom("campaign_member_usage")
    .select(["member_id", "campaign_id", "period_key", "points"])
    .where("member_id", "in", [...facts.keys()])
    .where(
      "campaign_id",
      "in",
      capped.map((campaign) => campaign.id),
    )
    .where("period_key", "in", [...periods])
    .execute();
  for (const row of rows) {
    const used = usage.get(row.member_id) ?? new Map<string, number>();
    used.set(`${row.campaign_id}|${row.period_key}`, Number(row.points));
    usage.set(row.member_id, used);
  }
  return usage;
}
