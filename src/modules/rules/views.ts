import { z } from "zod";

const capCutSchema = z.object({
  cap: z.enum([
    "perTransaction",
    "perMemberPerDay",
    "perMemberPerWeek",
    "perMemberPerMonth",
    "perMemberPerCampaign",
    "budget",
  ]),
  points: z.number().int().describe("Points this cap cut"),
});

/** One line of an earn's explanation. */
export const breakdownLineSchema = z
  .object({
    source: z.enum(["base", "tier", "campaign"]),
    description: z.string(),
    points: z.number().int(),
    campaignId: z.string().optional(),
    ruleId: z.string().optional(),
    pointsBeforeCaps: z.number().int().optional(),
    capped: z.array(capCutSchema).optional(),
    rewardId: z.string().optional(),
  })
  .meta({ id: "BreakdownLine" });

/** What one campaign did with an event: matched or not (and why), points, caps that cut. */
export const campaignOutcomeSchema = z
  .object({
    campaignId: z.string(),
    name: z.string(),
    version: z.number().int(),
    matched: z.boolean(),
    applied: z.boolean(),
    reason: z.string().nullable(),
    pointsBeforeCaps: z.number().int(),
    points: z.number().int(),
    capped: z.array(capCutSchema),
    rules: z.array(
      z.object({
        ruleId: z.string(),
        description: z.string(),
        matched: z.boolean(),
        failed: z
          .object({
            index: z.number().int().describe("Index of the failing condition in the rule"),
            type: z.string(),
            reason: z.string(),
          })
          .optional(),
        points: z.number().int(),
      }),
    ),
  })
  .meta({ id: "CampaignOutcome" });
