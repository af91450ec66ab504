import { z } from "zod";

/** Limits of a ladder: a handful of tiers is what members can tell apart. */
export const tiersMax = 10;
export const perksMax = 20;
export const rollingMonthsMax = 36;
export const gracePeriodDaysMax = 365;
/** A multiplier above ×10 is almost certainly a typo (1500 meant as 150). */
export const earnMultiplierPercentMax = 1_000;
const thresholdMax = 1_000_000_000_000_000;
const calendarGraceDaysMax = 180;

export const tierMetrics = ["points_earned", "spend", "visits"] as const;
export type TierMetric = (typeof tierMetrics)[number];

const localizedText = (lengthMax: number) =>
  z
    .object({
      id: z.string().trim().min(1).max(lengthMax),
      en: z.string().trim().min(1).max(lengthMax),
    })
    .strict();

const windowSchema = z.discriminatedUnion("kind", [
  z
    .object({
      kind: z.literal("rolling_months"),
      months: z.number().int().min(1).max(rollingMonthsMax),
    })
    .strict(),
  z.object({ kind: z.literal("calendar_year") }).strict(),
]);
export type TierWindow = z.infer<typeof windowSchema>;

const tierInputSchema = z
  .object({
    code: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "lowercase letters, digits, - and _, at most 32"),
    rank: z.number().int().min(1).max(tiersMax).describe("1 = lowest"),
    names: localizedText(60),
    threshold: z
      .number()
      .int()
      .min(0)
      .max(thresholdMax)
      .describe(
        "Metric value that reaches the tier within the window: points, spend in minor units, or visits",
      ),
    benefits: z
      .object({
        earnMultiplierPercent: z
          .number()
          .int()
          .min(100)
          .max(earnMultiplierPercentMax)
          .default(100)
          .describe("100 = no bonus, 150 = ×1.5 of base points"),
        perks: z.array(localizedText(200)).max(perksMax).default([]),
        freeShipping: z.boolean().default(false),
      })
      .strict()
      .default({ earnMultiplierPercent: 100, perks: [], freeShipping: false }),
  })
  .strict();

/** The ladder as an admin sends it. Rules across tiers are checked with exact paths. */
export const ladderInputSchema = z
  .object({
    qualification: z
      .object({
        metric: z.enum(tierMetrics),
        window: windowSchema,
      })
      .strict(),
    gracePeriodDays: z
      .number()
      .int()
      .min(0)
      .max(gracePeriodDaysMax)
      .default(0)
      .describe("Days after a period ends before a downgrade; purchases in them still count"),
    lowestTierAutomatic: z
      .boolean()
      .default(false)
      .describe("Every member holds the lowest tier (its threshold must be 0)"),
    tiers: z.array(tierInputSchema).min(1).max(tiersMax),
  })
  .strict()
  .superRefine((ladder, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message });
    const firstIndex = new Map<string, number>();
    const rankIndex = new Map<number, number>();
    for (const [index, tier] of ladder.tiers.entries()) {
      if (firstIndex.has(tier.code)) issue(["tiers", index, "code"], `duplicate code ${tier.code}`);
      else firstIndex.set(tier.code, index);
      if (rankIndex.has(tier.rank)) issue(["tiers", index, "rank"], `duplicate rank ${tier.rank}`);
      else rankIndex.set(tier.rank, index);
    }
    const byRank = [...ladder.tiers.entries()].sort(([, a], [, b]) => a.rank - b.rank);
    for (let position = 1; position < byRank.length; position++) {
      const [index, tier] = byRank[position] as [number, (typeof ladder.tiers)[number]];
      const below = byRank[position - 1]?.[1];
      if (below && below.rank !== tier.rank && tier.threshold <= below.threshold) {
        issue(
          ["tiers", index, "threshold"],
          `must be greater than ${below.threshold}, the threshold of rank ${below.rank}`,
        );
      }
    }
    const [lowestIndex, lowest] = byRank[0] ?? [];
    if (lowest && lowestIndex !== undefined) {
      if (ladder.lowestTierAutomatic && lowest.threshold !== 0) {
        issue(["tiers", lowestIndex, "threshold"], "the automatic lowest tier has threshold 0");
      }
      if (!ladder.lowestTierAutomatic && lowest.threshold === 0) {
        issue(
          ["tiers", lowestIndex, "threshold"],
          "threshold 0 makes the tier automatic: set lowestTierAutomatic or raise it",
        );
      }
    }
    const window = ladder.qualification.window;
    const graceDaysMax =
      window.kind === "rolling_months" ? window.months * 28 - 1 : calendarGraceDaysMax;
    if (ladder.gracePeriodDays > graceDaysMax) {
      issue(["gracePeriodDays"], `must be at most ${graceDaysMax}, shorter than the period`);
    }
  });
export type LadderInput = z.infer<typeof ladderInputSchema>;

export interface LadderTier {
  id: string;
  code: string;
  rank: number;
  names: { id: string; en: string };
  threshold: number;
  benefits: {
    earnMultiplierPercent: number;
    perks: { id: string; en: string }[];
    freeShipping: boolean;
  };
}

/** A ladder in force, with everything the pure functions need (tiers by ascending rank). */
export interface TierLadder {
  version: number;
  timezone: string;
  metric: TierMetric;
  window: TierWindow;
  gracePeriodDays: number;
  lowestTierAutomatic: boolean;
  tiers: LadderTier[];
}

/** A validated input as a ladder: tiers sorted by rank, ids given by `idOf(code)`. */
export function ladderFrom(
  input: LadderInput,
  options: { version: number; timezone: string; idOf: (code: string) => string },
): TierLadder {
  return {
    version: options.version,
    timezone: options.timezone,
    metric: input.qualification.metric,
    window: input.qualification.window,
    gracePeriodDays: input.gracePeriodDays,
    lowestTierAutomatic: input.lowestTierAutomatic,
    tiers: [...input.tiers]
      .sort((a, b) => a.rank - b.rank)
      .map((tier) => ({ ...tier, id: options.idOf(tier.code) })),
  };
}
