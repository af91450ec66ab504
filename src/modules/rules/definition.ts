import { z } from "zod";
import { DomainError } from "../../lib/errors.ts";
import { actionTypes, conditionTypes } from "./registry.ts";

export const rulesPerCampaignMax = 20;
export const conditionsPerRuleMax = 20;
export const actionsPerRuleMax = 10;
export const activeCampaignsMax = 200;

/** Events a rule can react to: purchases, built-in activities, or a program's custom activity type. */
export const builtinActivityTypes = [
  "signup",
  "profile_completed",
  "birthday",
  "review_written",
  "survey_answered",
  "social_share",
  "referral",
] as const;
export const activityTypeCode = z
  .string()
  .regex(
    /^[a-z][a-z0-9_]{0,39}$/,
    "lowercase letters, digits and _, at most 40, starting with a letter",
  );

const capsFields = {
  perTransaction: "Points one purchase or activity may get from the campaign",
  perMemberPerDay: "Points per member per local day",
  perMemberPerWeek: "Points per member per ISO week (Monday first)",
  perMemberPerMonth: "Points per member per calendar month",
  perMemberPerCampaign: "Points per member over the campaign's life",
} as const;
export type CapName = keyof typeof capsFields;
export const capNames = Object.keys(capsFields) as CapName[];

const capValue = (description: string) =>
  z
    .number()
    .int()
    .positive("a cap must be greater than zero")
    .max(1_000_000_000_000)
    .describe(description);

export const capsSchema = z
  .object(
    Object.fromEntries(
      capNames.map((name) => [name, capValue(capsFields[name]).optional()]),
    ) as Record<CapName, z.ZodOptional<z.ZodNumber>>,
  )
  .strict();

/**
 * A condition or action as sent: its type code and its arguments, one closed object per type of
 * the registry, so the OpenAPI document describes every argument.
 */
function step(types: ReadonlyMap<string, { code: string; description: string; args: z.ZodType }>) {
  const options = [...types.values()].map((type) =>
    z
      .object({ type: z.literal(type.code), args: type.args.default({} as never) })
      .strict()
      .describe(type.description),
  );
  return z.discriminatedUnion("type", options as unknown as [z.ZodObject, ...z.ZodObject[]]);
}

export const ruleInputSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9_-]{1,40}$/, "rule ids are lowercase letters, digits, - and _")
      .optional()
      .describe("Stable id of the rule inside the campaign; generated when omitted"),
    description: z.string().trim().min(1).max(200).nullable().optional(),
    trigger: z
      .string()
      .max(40)
      .default("purchase")
      .describe("purchase, a built-in activity type or a custom activity type code"),
    conditions: z.array(step(conditionTypes)).max(conditionsPerRuleMax).default([]),
    actions: z.array(step(actionTypes)).min(1).max(actionsPerRuleMax),
  })
  .strict();

const campaignFields = {
  name: z.string().trim().min(1).max(120),
  description: z.string().trim().max(1000).nullable().optional(),
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }).nullable().optional(),
  priority: z.number().int().min(0).max(1000).default(0).describe("Higher goes first"),
  stacking: z
    .enum(["stack", "first_match_wins", "best_for_member"])
    .default("stack")
    .describe(
      "stack: adds to the others; first_match_wins: only the first (by priority) of these applies; best_for_member: only the one giving most points of these applies",
    ),
  exclusive: z
    .boolean()
    .default(false)
    .describe("When it applies, every other campaign is suppressed"),
  caps: capsSchema.default({}),
  budgetPoints: z
    .number()
    .int()
    .positive("a budget must be greater than zero")
    .max(1_000_000_000_000)
    .nullable()
    .optional()
    .describe("Total points the campaign may ever give; never exceeded"),
  rules: z.array(ruleInputSchema).min(1).max(rulesPerCampaignMax),
};

/** Body of POST …/campaigns (shape only; arguments are checked against the registry by validateDefinition). */
export const campaignCreateSchema = z.object(campaignFields).strict();
export const campaignUpdateSchema = z
  .object({
    ...Object.fromEntries(
      Object.entries(campaignFields).map(([key, schema]) => [
        key,
        // Defaults would reset omitted settings on a partial update.
        (schema instanceof z.ZodDefault ? schema.removeDefault() : schema).optional(),
      ]),
    ),
    status: z.enum(["draft", "active", "paused", "ended"]).optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

export type CampaignInput = z.input<typeof campaignCreateSchema>;

export interface StepDefinition {
  type: string;
  args: Record<string, unknown>;
}
export interface RuleDefinition {
  id: string;
  description: string | null;
  trigger: string;
  conditions: StepDefinition[];
  actions: StepDefinition[];
}
/** A campaign's full definition: what each version stores. */
export interface CampaignDefinition {
  name: string;
  description: string | null;
  startsAt: string;
  endsAt: string | null;
  priority: number;
  stacking: "stack" | "first_match_wins" | "best_for_member";
  exclusive: boolean;
  caps: Partial<Record<CapName, number>>;
  budgetPoints: number | null;
  rules: RuleDefinition[];
}

export interface Issue {
  path: string;
  message: string;
}

const pathOf = (path: PropertyKey[]) => path.map(String).join(".");

/**
 * Checks a full definition against the registry and the program's activity types and returns it
 * normalised (argument defaults filled in, rule ids given). Every problem is reported with its
 * path, e.g. rules.0.conditions.1.args.days; the first problem names the error.
 */
export function validateDefinition(
  raw: unknown,
  knownTriggers: ReadonlySet<string>,
  newRuleId: () => string,
): CampaignDefinition {
  const issues: Issue[] = [];
  const parsed = campaignCreateSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      issues.push({ path: pathOf(issue.path), message: issue.message });
    throw validationError(issues);
  }
  const input = parsed.data;
  if (input.endsAt && Date.parse(input.endsAt) <= Date.parse(input.startsAt)) {
    issues.push({ path: "endsAt", message: "endsAt must be after startsAt" });
  }
  const ids = new Set<string>();
  const rules = input.rules.map((rule, ruleIndex): RuleDefinition => {
    const at = `rules.${ruleIndex}`;
    if (!knownTriggers.has(rule.trigger)) {
      issues.push({ path: `${at}.trigger`, message: `unknown trigger ${rule.trigger}` });
    }
    const id = rule.id ?? newRuleId();
    if (ids.has(id)) issues.push({ path: `${at}.id`, message: `rule id ${id} is used twice` });
    ids.add(id);
    return {
      id,
      description: rule.description ?? null,
      trigger: rule.trigger,
      conditions: rule.conditions as unknown as StepDefinition[],
      actions: rule.actions as unknown as StepDefinition[],
    };
  });
  if (issues.length > 0) throw validationError(issues);
  return {
    name: input.name,
    description: input.description ?? null,
    startsAt: new Date(input.startsAt).toISOString(),
    endsAt: input.endsAt ? new Date(input.endsAt).toISOString() : null,
    priority: input.priority,
    stacking: input.stacking,
    exclusive: input.exclusive,
    caps: input.caps,
    budgetPoints: input.budgetPoints ?? null,
    rules,
  };
}

function validationError(issues: Issue[]): DomainError {
  const first = issues[0] as Issue;
  return new DomainError("validation_failed", `${first.path}: ${first.message}`, {
    field: first.path,
    issues,
  });
}

/** The reward ids a definition awards, for the check that they exist when it is saved. */
export function rewardIdsOf(definition: CampaignDefinition): string[] {
  return definition.rules.flatMap(ruleRewardIds);
}

/** The reward ids one rule awards when it matches. */
export function ruleRewardIds(rule: RuleDefinition): string[] {
  return rule.actions.flatMap((action) =>
    action.type === "award_reward" ? [String(action.args.rewardId)] : [],
  );
}
