/**
 * Tiers: a versioned ladder per program, qualification recomputed from transactions and refunds,
 * upgrades as soon as a threshold is crossed, reviews at period end (one level down at most,
 * after the grace period), history and `tier.changed` events. The pure functions are what the
 * what-if simulation replays with.
 */
export {
  earnMultiplierPercentMax,
  type LadderInput,
  type LadderTier,
  ladderFrom,
  ladderInputSchema,
  type TierLadder,
  type TierMetric,
  tierMetrics,
  tiersMax,
} from "./ladder.ts";
export {
  afterPurchases,
  getMemberTiers,
  grantTier,
  type MemberTier,
  type MemberTierView,
  memberTierView,
  reviewDueTiers,
  type TierReviewReport,
} from "./live.ts";
export {
  activityOf,
  initialState,
  metricValue,
  nextPeriodEnd,
  type PurchaseFacts,
  qualifyingTier,
  reviewStep,
  reviewWindow,
  type TierActivity,
  type TierChange,
  type TierState,
  tierTimeline,
  upgradeStep,
  upgradeWindow,
  windowStart,
} from "./qualification.ts";
export {
  forgetLadder,
  listLadderVersions,
  loadLadder,
  requireLadder,
  saveLadder,
} from "./store.ts";
