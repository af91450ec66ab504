/** Earning rules: campaigns of conditions and actions, their evaluation, activities. */
export {
  type ActivityResult,
  activityInputSchema,
  activityResultSchema,
  activityTypeCreateSchema,
  activityTypeSchema,
  activityTypeUpdateSchema,
  createActivityType,
  deleteActivityType,
  listActivityTypes,
  profileComplete,
  recordActivity,
  recordAutomaticActivity,
  runBirthdayActivities,
  updateActivityType,
} from "./activities.ts";
export {
  type CampaignView,
  campaignSchema,
  campaignStatuses,
  campaignVersionSchema,
  createCampaign,
  getCampaign,
  listCampaigns,
  listCampaignVersions,
  loadActiveCampaigns,
  updateCampaign,
} from "./campaigns.ts";
export {
  activeCampaignsMax,
  builtinActivityTypes,
  type CampaignDefinition,
  campaignCreateSchema,
  campaignUpdateSchema,
  validateDefinition,
} from "./definition.ts";
export { type EarnEvent, EarnSession } from "./earning.ts";
export {
  type BreakdownLine,
  type CampaignOutcome,
  type CampaignRecord,
  type CompiledCampaign,
  capPeriodKeys,
  compileCampaigns,
  type EvalLine,
  type Evaluation,
  type EvaluationInput,
  type Explain,
  evaluate,
  type MemberFacts,
} from "./evaluate.ts";
export { registryView } from "./registry.ts";
export { type LocalTime, localTime } from "./time.ts";
export { breakdownLineSchema, campaignOutcomeSchema } from "./views.ts";
