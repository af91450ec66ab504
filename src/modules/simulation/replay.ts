/**
 * One configuration replayed in memory: campaigns, a tier ladder, the member state they need
 * (tier, cap usage, budgets) and the totals of the report. No I/O: the caller feeds purchases in
 * time order, with the member facts and tier activity read once for both configurations.
 */
import {
  type CompiledCampaign,
  capPeriodKeys,
  type Evaluation,
  type EvaluationInput,
  evaluate,
  localTime,
  type MemberFacts,
} from "../rules/index.ts";
import {
  activityOf,
  metricValue,
  reviewStep,
  reviewWindow,
  type TierActivity,
  type TierLadder,
  type TierState,
  tierTimeline,
  upgradeStep,
  upgradeWindow,
  windowStart,
} from "../tiers/index.ts";

const dayMs = 86_400_000;
/** Activity older than the windows still needed is dropped past this many items per member. */
const activityPruneAt = 64;

/** A purchase of the window as the replay sees it (money in minor units). */
export interface ReplayPurchase {
  id: string;
  memberId: string | null;
  occurredAt: Date;
  channel: string;
  storeId: string;
  totalMinor: number;
  lines: EvaluationInput["lines"];
  basePoints: number;
  /** Refunds known now, oldest first. */
  refunds: { recordedAt: Date; amountMinor: number }[];
}

/** Member facts that do not depend on the configuration. */
export type SharedFacts = Omit<MemberFacts, "tierCode" | "tierMultiplierPercent">;

interface MemberState {
  tier: TierState;
  activity: TierActivity[];
  /** `${campaignId}|${periodKey}` → points; only the current period of each cap is kept. */
  usage: Map<string, number>;
  points: number;
}

export interface CampaignTotal {
  campaignId: string;
  name: string;
  origin: "live" | "draft";
  points: number;
  transactions: number;
  members: Set<string>;
}

export class Scenario {
  readonly #members = new Map<string, MemberState>();
  readonly #budgets = new Map<string, number>();
  readonly #tierCode: Map<string, { code: string; percent: number }>;
  readonly campaignTotals = new Map<string, CampaignTotal>();
  pointsBeforeRefunds = 0;
  pointsReversed = 0;
  basePoints = 0;
  tierPoints = 0;
  upgrades = 0;
  downgrades = 0;

  constructor(
    readonly campaigns: CompiledCampaign[],
    readonly ladder: TierLadder | null,
    readonly origins: ReadonlyMap<string, "live" | "draft">,
    readonly timezone: string,
    readonly currency: string,
  ) {
    this.#tierCode = new Map(
      (ladder?.tiers ?? []).map((tier) => [
        tier.id,
        { code: tier.code, percent: tier.benefits.earnMultiplierPercent },
      ]),
    );
    for (const campaign of campaigns) {
      if (campaign.budgetPoints !== null) this.#budgets.set(campaign.id, campaign.budgetPoints);
      this.campaignTotals.set(campaign.id, {
        campaignId: campaign.id,
        name: campaign.name,
        origin: origins.get(campaign.id) ?? "live",
        points: 0,
        transactions: 0,
        members: new Set(),
      });
    }
  }

  /** The member's state, its tier recomputed from the activity before the window. */
  #member(memberId: string, before: readonly TierActivity[], from: Date): MemberState {
    let state = this.#members.get(memberId);
    if (state) return state;
    const activity = [...before];
    const tier = this.ladder
      ? tierTimeline(this.ladder, activity, { until: from }).state
      : { tierId: null, since: null, periodEnd: null };
    state = { tier, activity, usage: new Map(), points: 0 };
    this.#members.set(memberId, state);
    return state;
  }

  /** Applies the reviews due by `at`, as the review job would have. */
  #review(state: MemberState, at: Date): void {
    const ladder = this.ladder;
    if (!ladder) return;
    for (;;) {
      const periodEnd = state.tier.periodEnd;
      if (periodEnd === null) return;
      const window = reviewWindow(ladder, periodEnd);
      if (window.knownAt > at) return;
      const step = reviewStep(ladder, state.tier, metricValue(ladder, state.activity, window));
      this.#count(step.change);
      state.tier = step.state;
    }
  }

  #count(change: { fromTierId: string | null; toTierId: string | null } | null): void {
    if (!change || !this.ladder) return;
    const rank = (id: string | null) =>
      id === null ? 0 : (this.ladder?.tiers.find((tier) => tier.id === id)?.rank ?? 0);
    if (rank(change.toTierId) > rank(change.fromTierId)) this.upgrades++;
    else this.downgrades++;
  }

  /** Evaluates one purchase under this configuration; answers the member's net points. */
  apply(
    purchase: ReplayPurchase,
    facts: SharedFacts,
    before: readonly TierActivity[],
    from: Date,
  ): number {
    const memberId = purchase.memberId as string;
    const state = this.#member(memberId, before, from);
    this.#review(state, purchase.occurredAt);
    const tier = state.tier.tierId === null ? undefined : this.#tierCode.get(state.tier.tierId);
    const member: MemberFacts = {
      ...facts,
      tierCode: tier?.code ?? null,
      tierMultiplierPercent: tier?.percent ?? 100,
    };
    const evaluation = evaluate(
      {
        trigger: "purchase",
        occurredAt: purchase.occurredAt,
        timezone: this.timezone,
        currency: this.currency,
        channel: purchase.channel,
        storeId: purchase.storeId,
        totalMinor: purchase.totalMinor,
        lines: purchase.lines,
        basePoints: purchase.basePoints,
        baseDescription: "base",
        member,
        memberUsage: state.usage,
        budgetRemaining: this.#budgets,
      },
      this.campaigns,
      // The report needs points and usage, not the reasons of campaigns that did not match.
      "matched",
    );
    this.#record(purchase, state, evaluation);
    const reversed = reversedPoints(evaluation.points, purchase);
    this.pointsBeforeRefunds += evaluation.points;
    this.pointsReversed += reversed;
    state.points += evaluation.points - reversed;
    this.#addActivity(purchase, state, evaluation.points);
    return evaluation.points - reversed;
  }

  #record(purchase: ReplayPurchase, state: MemberState, evaluation: Evaluation): void {
    for (const line of evaluation.breakdown) {
      if (line.source === "base") this.basePoints += line.points;
      else if (line.source === "tier") this.tierPoints += line.points;
    }
    if (evaluation.usage.length === 0) return;
    const periods = Object.entries(
      capPeriodKeys(localTime(purchase.occurredAt, this.timezone)),
    ) as [string, string][];
    for (const { campaignId, points } of evaluation.usage) {
      const total = this.campaignTotals.get(campaignId);
      if (total) {
        total.points += points;
        total.transactions += 1;
        total.members.add(purchase.memberId as string);
      }
      const budget = this.#budgets.get(campaignId);
      if (budget !== undefined) this.#budgets.set(campaignId, budget - points);
      const campaign = this.campaigns.find((item) => item.id === campaignId);
      for (const [cap, periodKey] of periods) {
        if (campaign?.caps[cap as keyof CompiledCampaign["caps"]] === undefined) continue;
        const key = `${campaignId}|${periodKey}`;
        const used = state.usage.get(key);
        if (used === undefined) {
          // A new period of this cap: the previous one can never count again.
          const prefix = `${campaignId}|${periodKey.slice(0, 2)}`;
          for (const old of state.usage.keys()) if (old.startsWith(prefix)) state.usage.delete(old);
        }
        state.usage.set(key, (used ?? 0) + points);
      }
    }
  }

  /** The purchase (and its refunds) as tier activity, then the upgrade check it triggers. */
  #addActivity(purchase: ReplayPurchase, state: MemberState, points: number): void {
    const ladder = this.ladder;
    if (!ladder) return;
    const items = activityOf({
      occurredAt: purchase.occurredAt,
      recordedAt: purchase.occurredAt,
      totalMinor: purchase.totalMinor,
      pointsEarned: points,
      refunds: purchase.refunds.map((refund) => ({
        recordedAt: refund.recordedAt,
        amountMinor: refund.amountMinor,
        points: reversedPoints(points, { ...purchase, refunds: [refund] }),
      })),
    });
    state.activity.push(...items);
    const step = upgradeStep(
      ladder,
      state.tier,
      metricValue(ladder, state.activity, upgradeWindow(ladder, purchase.occurredAt)),
      purchase.occurredAt,
    );
    this.#count(step.change);
    state.tier = step.state;
    if (state.activity.length > activityPruneAt) {
      // Reviews look back one window from a period end at most a grace period (plus a month of
      // slack) ago; nothing older can count again.
      const keepFrom = windowStart(
        ladder,
        new Date(purchase.occurredAt.getTime() - (ladder.gracePeriodDays + 31) * dayMs),
      );
      state.activity = state.activity.filter((item) => item.occurredAt >= keepFrom);
    }
  }

  /**
   * Brings every member to the window's end (reviews due by then), including members who only
   * bought before the window; answers members per tier code (no tier: null).
   */
  finish(
    to: Date,
    before: ReadonlyMap<string, readonly TierActivity[]>,
    from: Date,
  ): Map<string | null, number> {
    if (this.ladder)
      for (const [memberId, activity] of before) this.#member(memberId, activity, from);
    const perTier = new Map<string | null, number>();
    for (const state of this.#members.values()) {
      this.#review(state, to);
      const code =
        state.tier.tierId === null ? null : (this.#tierCode.get(state.tier.tierId)?.code ?? null);
      perTier.set(code, (perTier.get(code) ?? 0) + 1);
    }
    return perTier;
  }

  get membersEarning(): number {
    let count = 0;
    for (const state of this.#members.values()) if (state.points > 0) count++;
    return count;
  }

  pointsOf(memberId: string): number {
    return this.#members.get(memberId)?.points ?? 0;
  }
}

/** Points a purchase's refunds take back: in proportion to the amount refunded, rounded down. */
export function reversedPoints(
  points: number,
  purchase: Pick<ReplayPurchase, "totalMinor" | "refunds">,
): number {
  if (points <= 0 || purchase.totalMinor <= 0) return 0;
  const refunded = purchase.refunds.reduce((sum, refund) => sum + refund.amountMinor, 0);
  return Math.floor((points * Math.min(refunded, purchase.totalMinor)) / purchase.totalMinor);
}
