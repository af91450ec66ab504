/**
 * Tier qualification as pure functions: no I/O, no clock. The live paths (purchases, the review
 * job, the member view) and the what-if simulation both move a member's tier with these steps,
 * so a replay of a member's activity gives exactly the tier the database holds.
 */
import { invariant } from "../../lib/assert.ts";
import { addMonths, startOfYearIn, yearIn } from "../programs/index.ts";
import type { LadderTier, TierLadder } from "./ladder.ts";

const dayMs = 86_400_000;

/** Where a member stands: the tier (null = none), since when, and the end of its period. */
export interface TierState {
  tierId: string | null;
  /** When the tier was reached or last changed; null for the implicit automatic lowest tier. */
  since: Date | null;
  /** The review is due at periodEnd + grace; null when nothing is ever reviewed. */
  periodEnd: Date | null;
}

export type TierChangeReason = "threshold_crossed" | "period_end_downgrade" | "manual" | "reward";

export interface TierChange {
  at: Date;
  fromTierId: string | null;
  toTierId: string | null;
  reason: TierChangeReason;
  metricValue: number | null;
}

/**
 * The activity that counts toward a metric, window by window. A refund is its own item with the
 * purchase's occurredAt (it lowers that purchase's contribution) and its own recordedAt (it is
 * only known from then on); only purchases trigger an upgrade check.
 */
export interface TierActivity {
  occurredAt: Date;
  recordedAt: Date;
  points: number;
  spendMinor: number;
  visits: number;
  upgradeCheck: boolean;
}

/** Activity occurred in [from, to) (no upper end when to is null), as known at knownAt. */
export interface MetricWindow {
  from: Date;
  to: Date | null;
  knownAt: Date;
}

/** The highest tier whose threshold the metric value reaches, or null. */
export function qualifyingTier(ladder: TierLadder, metricValue: number): LadderTier | null {
  let found: LadderTier | null = null;
  for (const tier of ladder.tiers) if (metricValue >= tier.threshold) found = tier;
  return found;
}

export function tierById(ladder: TierLadder, tierId: string | null): LadderTier | null {
  if (tierId === null) return null;
  const tier = ladder.tiers.find((candidate) => candidate.id === tierId);
  invariant(tier, `tier ${tierId} is not on ladder version ${ladder.version}`);
  return tier;
}

function isAutomatic(ladder: TierLadder, tier: LadderTier): boolean {
  return ladder.lowestTierAutomatic && tier === ladder.tiers[0];
}

/** A member with no stored tier: the automatic lowest tier, or none. */
export function initialState(ladder: TierLadder): TierState {
  const lowest = ladder.tiers[0];
  return {
    tierId: ladder.lowestTierAutomatic && lowest ? lowest.id : null,
    since: null,
    periodEnd: null,
  };
}

/** Start of the qualification window that contains `at`. */
export function windowStart(ladder: TierLadder, at: Date): Date {
  return ladder.window.kind === "rolling_months"
    ? addMonths(at, -ladder.window.months)
    : startOfYearIn(ladder.timezone, yearIn(ladder.timezone, at));
}

/** The end of the period that starts at `from`: N months later, or the next 1 January. */
export function nextPeriodEnd(ladder: TierLadder, from: Date): Date {
  return ladder.window.kind === "rolling_months"
    ? addMonths(from, ladder.window.months)
    : startOfYearIn(ladder.timezone, yearIn(ladder.timezone, from) + 1);
}

/** The review of a period ending at periodEnd happens once its grace period has passed. */
export function reviewAt(ladder: TierLadder, periodEnd: Date): Date {
  return new Date(periodEnd.getTime() + ladder.gracePeriodDays * dayMs);
}

/** What an upgrade check at `at` counts: the current window, everything recorded so far. */
export function upgradeWindow(ladder: TierLadder, at: Date): MetricWindow {
  return { from: windowStart(ladder, at), to: null, knownAt: at };
}

/**
 * What the review of a period counts: the window ending at periodEnd (the N months before it, or
 * the calendar year it closes), extended by the grace period (purchases in the grace period
 * still count), as known at the review.
 */
export function reviewWindow(ladder: TierLadder, periodEnd: Date): MetricWindow {
  const at = reviewAt(ladder, periodEnd);
  const from =
    ladder.window.kind === "rolling_months"
      ? addMonths(periodEnd, -ladder.window.months)
      : startOfYearIn(ladder.timezone, yearIn(ladder.timezone, new Date(periodEnd.getTime() - 1)));
  return { from, to: at, knownAt: at };
}

export function periodEndFor(ladder: TierLadder, tier: LadderTier | null, from: Date): Date | null {
  return tier === null || isAutomatic(ladder, tier) ? null : nextPeriodEnd(ladder, from);
}

export interface Step {
  state: TierState;
  change: TierChange | null;
}

/** After purchases: a member whose metric reaches a higher tier moves up at once. */
export function upgradeStep(
  ladder: TierLadder,
  state: TierState,
  metricValue: number,
  at: Date,
): Step {
  const current = tierById(ladder, state.tierId);
  const qualified = qualifyingTier(ladder, metricValue);
  if (!qualified || (current && qualified.rank <= current.rank)) return { state, change: null };
  return {
    state: { tierId: qualified.id, since: at, periodEnd: periodEndFor(ladder, qualified, at) },
    change: {
      at,
      fromTierId: state.tierId,
      toTierId: qualified.id,
      reason: "threshold_crossed",
      metricValue,
    },
  };
}

/**
 * The review at the end of a period: a member who still reaches the tier keeps it (or gains a
 * higher one); one who does not moves down ONE level, never more, whatever the metric.
 */
export function reviewStep(ladder: TierLadder, state: TierState, metricValue: number): Step {
  const periodEnd = state.periodEnd;
  invariant(periodEnd, "a review needs a period end");
  const current = tierById(ladder, state.tierId);
  invariant(current, "a member without a tier has no review");
  const at = reviewAt(ladder, periodEnd);
  const nextEnd = nextPeriodEnd(ladder, periodEnd);
  const qualified = qualifyingTier(ladder, metricValue);
  if (qualified?.rank === current.rank) {
    return { state: { ...state, periodEnd: nextEnd }, change: null };
  }
  const raised = qualified !== null && qualified.rank > current.rank;
  const target = raised ? qualified : (ladder.tiers[ladder.tiers.indexOf(current) - 1] ?? null);
  return {
    state: {
      tierId: target?.id ?? null,
      since: at,
      periodEnd: target && !isAutomatic(ladder, target) ? nextEnd : null,
    },
    change: {
      at,
      fromTierId: current.id,
      toTierId: target?.id ?? null,
      reason: raised ? "threshold_crossed" : "period_end_downgrade",
      metricValue,
    },
  };
}

/** A review is due when its grace period has passed by `until`. */
export function reviewDue(ladder: TierLadder, state: TierState, until: Date): boolean {
  return state.periodEnd !== null && reviewAt(ladder, state.periodEnd) <= until;
}

const metricOf = {
  points_earned: (item: TierActivity) => item.points,
  spend: (item: TierActivity) => item.spendMinor,
  visits: (item: TierActivity) => item.visits,
} as const;

/** The ladder's metric over a window, from a member's activity. */
export function metricValue(
  ladder: TierLadder,
  activity: readonly TierActivity[],
  window: MetricWindow,
): number {
  const value = metricOf[ladder.metric];
  let total = 0;
  for (const item of activity) {
    if (item.recordedAt > window.knownAt || item.occurredAt < window.from) continue;
    if (window.to !== null && item.occurredAt >= window.to) continue;
    total += value(item);
  }
  return total;
}

/** A purchase with its refunds, as the tiers module reads them from transactions and refunds. */
export interface PurchaseFacts {
  occurredAt: Date;
  recordedAt: Date;
  totalMinor: number;
  pointsEarned: number;
  refunds: { recordedAt: Date; amountMinor: number; points: number }[];
}

/**
 * A purchase and its refunds as activity: each refund takes back its amount and points, and the
 * refund that leaves nothing of the purchase takes back its visit.
 */
export function activityOf(purchase: PurchaseFacts): TierActivity[] {
  const items: TierActivity[] = [
    {
      occurredAt: purchase.occurredAt,
      recordedAt: purchase.recordedAt,
      points: purchase.pointsEarned,
      spendMinor: purchase.totalMinor,
      visits: purchase.totalMinor > 0 ? 1 : 0,
      upgradeCheck: true,
    },
  ];
  let left = purchase.totalMinor;
  const refunds = [...purchase.refunds].sort((a, b) => +a.recordedAt - +b.recordedAt);
  for (const refund of refunds) {
    const before = left;
    left -= refund.amountMinor;
    items.push({
      occurredAt: purchase.occurredAt,
      recordedAt: refund.recordedAt,
      points: -refund.points,
      spendMinor: -refund.amountMinor,
      visits: before > 0 && left <= 0 ? -1 : 0,
      upgradeCheck: false,
    });
  }
  return items;
}

/**
 * Replays a member's activity: upgrade checks when purchases are recorded, reviews when their
 * grace period ends (a review due at the same moment as a check comes first, as in the live
 * path), up to `until`. Returns the final state and every change on the way.
 */
export function tierTimeline(
  ladder: TierLadder,
  activity: readonly TierActivity[],
  options: { until: Date; initial?: TierState },
): { state: TierState; changes: TierChange[] } {
  const checks = [
    ...new Set(
      activity
        .filter((item) => item.upgradeCheck && item.recordedAt <= options.until)
        .map((item) => item.recordedAt.getTime()),
    ),
  ].sort((a, b) => a - b);
  let state = options.initial ?? initialState(ladder);
  const changes: TierChange[] = [];
  let next = 0;
  for (;;) {
    const checkAt = checks[next];
    const dueBy = checkAt === undefined ? options.until : new Date(checkAt);
    let step: Step;
    if (state.periodEnd && reviewDue(ladder, state, dueBy)) {
      step = reviewStep(
        ladder,
        state,
        metricValue(ladder, activity, reviewWindow(ladder, state.periodEnd)),
      );
    } else if (checkAt !== undefined) {
      const at = new Date(checkAt);
      step = upgradeStep(
        ladder,
        state,
        metricValue(ladder, activity, upgradeWindow(ladder, at)),
        at,
      );
      next += 1;
    } else {
      return { state, changes };
    }
    state = step.state;
    if (step.change) changes.push(step.change);
  }
}
