import { currencyDigits as lookupDigits } from "../../lib/money.ts";
import { type CampaignDefinition, type CapName, capNames } from "./definition.ts";
import {
  type ActionDef,
  actionTypes,
  type ConditionDef,
  conditionTypes,
  type EvalContext,
  type EvalLine,
  type MemberFacts,
  mulDiv,
  spread,
} from "./registry.ts";
import { type LocalTime, localTime } from "./time.ts";

export type { EvalLine, MemberFacts } from "./registry.ts";

/** A stored campaign as compileCampaigns takes it. */
export interface CampaignRecord {
  id: string;
  programId: string;
  currency: string;
  status: "draft" | "active" | "paused" | "ended";
  version: number;
  definition: CampaignDefinition;
}

interface CompiledRule {
  id: string;
  description: string;
  trigger: string;
  /** Line conditions first (they narrow the lines), each with its index in the definition. */
  conditions: { index: number; type: ConditionDef; args: unknown }[];
  actions: { type: ActionDef; args: unknown }[];
}

export interface CompiledCampaign {
  id: string;
  name: string;
  version: number;
  startsAtMs: number;
  endsAtMs: number | null;
  priority: number;
  stacking: CampaignDefinition["stacking"];
  exclusive: boolean;
  caps: Partial<Record<CapName, number>>;
  budgetPoints: number | null;
  currencyDigits: number;
  triggers: Set<string>;
  rules: CompiledRule[];
}

/** Turns stored definitions into ready-to-run campaigns, highest priority first (then oldest). */
export function compileCampaigns(records: CampaignRecord[]): CompiledCampaign[] {
  return records
    .map((record): CompiledCampaign => {
      const { definition } = record;
      return {
        id: record.id,
        name: definition.name,
        version: record.version,
        startsAtMs: Date.parse(definition.startsAt),
        endsAtMs: definition.endsAt ? Date.parse(definition.endsAt) : null,
        priority: definition.priority,
        stacking: definition.stacking,
        exclusive: definition.exclusive,
        caps: definition.caps,
        budgetPoints: definition.budgetPoints,
        currencyDigits: currencyDigits(record.currency),
        triggers: new Set(definition.rules.map((rule) => rule.trigger)),
        rules: definition.rules.map((rule) => ({
          id: rule.id,
          description: rule.description ?? describeRule(rule.actions.map((action) => action.type)),
          trigger: rule.trigger,
          conditions: rule.conditions
            .map((condition, index) => ({
              index,
              type: lookup(conditionTypes, condition.type),
              args: condition.args,
            }))
            .sort((a, b) => rank(a.type) - rank(b.type) || a.index - b.index),
          actions: rule.actions.map((action) => ({
            type: lookup(actionTypes, action.type),
            args: action.args,
          })),
        })),
      };
    })
    .sort((a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The currency table is a linear list; programs use a handful of currencies. */
const digitsCache = new Map<string, number>();
function currencyDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    digits = lookupDigits(currency);
    digitsCache.set(currency, digits);
  }
  return digits;
}

const rank = (type: ConditionDef) => (type.scope === "lines" ? 0 : 1);

function lookup<T>(types: ReadonlyMap<string, T>, code: string): T {
  const type = types.get(code);
  // Stored definitions were validated against the registry; a code removed since is a bug.
  if (!type) throw new Error(`rule type ${code} is not in the registry`);
  return type;
}

function describeRule(actions: string[]): string {
  return actions.join(" + ").replaceAll("_", " ");
}

/** Caps per member are counted per period; the key of each period holding `at`. */
export function capPeriodKeys(
  local: LocalTime,
): Record<Exclude<CapName, "perTransaction">, string> {
  return {
    perMemberPerDay: `d:${local.date}`,
    perMemberPerWeek: `w:${local.isoWeek}`,
    perMemberPerMonth: `m:${local.date.slice(0, 7)}`,
    perMemberPerCampaign: "c",
  };
}

export interface EvaluationInput {
  /** "purchase" or an activity type. */
  trigger: string;
  occurredAt: Date;
  timezone: string;
  currency: string;
  channel: string | null;
  storeId: string | null;
  totalMinor: number;
  lines: EvalLine[];
  /** The program's base earn on the earnable amount. */
  basePoints: number;
  baseDescription: string;
  member: MemberFacts | null;
  attributes?: Record<string, unknown>;
  /** Points the member already got from a campaign in a period: key `${campaignId}|${periodKey}`. */
  memberUsage?: ReadonlyMap<string, number>;
  /** Points left in campaign budgets; a budgeted campaign absent here counts its full budget. */
  budgetRemaining?: ReadonlyMap<string, number>;
}

export interface CapCut {
  cap: CapName | "budget";
  points: number;
}

export interface BreakdownLine {
  source: "base" | "tier" | "campaign";
  description: string;
  points: number;
  campaignId?: string;
  ruleId?: string;
  pointsBeforeCaps?: number;
  capped?: CapCut[];
  rewardId?: string;
}

export interface RuleOutcome {
  ruleId: string;
  description: string;
  matched: boolean;
  failed?: { index: number; type: string; reason: string };
  points: number;
}

export interface CampaignOutcome {
  campaignId: string;
  name: string;
  version: number;
  matched: boolean;
  applied: boolean;
  /** Why a matched campaign gave nothing, or why an unmatched one did not match. */
  reason: string | null;
  pointsBeforeCaps: number;
  points: number;
  capped: CapCut[];
  rules: RuleOutcome[];
}

export interface Evaluation {
  points: number;
  basePoints: number;
  breakdown: BreakdownLine[];
  campaigns: CampaignOutcome[];
  /** Points per input line (same order as input.lines); what cannot be split stays with the receipt. */
  linePoints: number[];
  rewards: { campaignId: string; ruleId: string; rewardId: string }[];
  /** Campaign points given, for cap and budget counters. */
  usage: { campaignId: string; points: number }[];
}

interface Working {
  campaign: CompiledCampaign;
  outcome: CampaignOutcome;
  rules: {
    rule: CompiledRule;
    points: number;
    weights: Map<number, number>;
    rewards: string[];
    capped: CapCut[];
  }[];
  gives: boolean;
}

/**
 * Computes the points of one event under the given campaigns. Pure: everything it needs (member
 * facts, cap usage, budgets) comes in the input, so the same input always gives the same answer.
 * Every amount is whole points, each action rounding down.
 */
export function evaluate(input: EvaluationInput, campaigns: CompiledCampaign[]): Evaluation {
  const local = localTime(input.occurredAt, input.timezone);
  const productLines = input.lines.flatMap((line, index) =>
    line.kind === "product" ? [index] : [],
  );
  const rewardMinor = input.lines.reduce(
    (sum, line) => sum + (line.kind === "reward" ? line.amountMinor : 0),
    0,
  );
  const amountWeights = new Map(
    productLines.map((index) => [index, input.lines[index]?.amountMinor ?? 0]),
  );
  const context: EvalContext = {
    trigger: input.trigger,
    occurredAt: input.occurredAt,
    local,
    channel: input.channel,
    storeId: input.storeId,
    earnableMinor: Math.max(0, input.totalMinor - rewardMinor),
    lines: input.lines,
    productLines,
    productWeights: amountWeights,
    member: input.member,
    attributes: input.attributes ?? {},
    currencyDigits: currencyDigits(input.currency),
  };
  const linePoints = input.lines.map(() => 0);
  const addShares = (shares: Map<number, number>) => {
    for (const [index, points] of shares) linePoints[index] = (linePoints[index] ?? 0) + points;
  };
  const breakdown: BreakdownLine[] = [];
  const basePoints = input.basePoints;
  if (basePoints > 0 || input.trigger === "purchase") {
    breakdown.push({ source: "base", description: input.baseDescription, points: basePoints });
    addShares(spread(basePoints, amountWeights));
  }
  let points = basePoints;
  const tierPercent = input.member?.tierMultiplierPercent ?? 100;
  if (input.member?.tierCode && tierPercent > 100 && basePoints > 0) {
    const tierPoints = mulDiv(basePoints, tierPercent - 100, 100);
    breakdown.push({
      source: "tier",
      description: `tier ${input.member.tierCode}: base × ${tierPercent / 100}`,
      points: tierPoints,
    });
    addShares(spread(tierPoints, amountWeights));
    points += tierPoints;
  }

  const periodKeys = capPeriodKeys(local);
  const working: Working[] = [];
  for (const campaign of campaigns) {
    if (!campaign.triggers.has(input.trigger)) continue;
    working.push(run(campaign, context, input, periodKeys));
  }

  select(working);

  const rewards: Evaluation["rewards"] = [];
  const usage: Evaluation["usage"] = [];
  for (const item of working) {
    if (!item.outcome.applied) continue;
    if (item.outcome.points > 0)
      usage.push({ campaignId: item.campaign.id, points: item.outcome.points });
    points += item.outcome.points;
    for (const rule of item.rules) {
      for (const rewardId of rule.rewards) {
        rewards.push({ campaignId: item.campaign.id, ruleId: rule.rule.id, rewardId });
      }
      if (rule.points === 0 && rule.capped.length === 0 && rule.rewards.length === 0) continue;
      const cut = rule.capped.reduce((sum, cap) => sum + cap.points, 0);
      const given = rule.points - cut;
      addShares(spread(given, rule.weights));
      breakdown.push({
        source: "campaign",
        description: `${item.campaign.name}: ${rule.rule.description}`,
        points: given,
        campaignId: item.campaign.id,
        ruleId: rule.rule.id,
        ...(cut > 0 && { pointsBeforeCaps: rule.points, capped: rule.capped }),
        ...(rule.rewards.length > 0 && { rewardId: rule.rewards.join(",") }),
      });
    }
  }
  return {
    points,
    basePoints,
    breakdown,
    campaigns: working.map((item) => item.outcome),
    linePoints,
    rewards,
    usage,
  };
}

/** Runs one campaign's rules for the event and applies its caps. */
function run(
  campaign: CompiledCampaign,
  context: EvalContext,
  input: EvaluationInput,
  periodKeys: ReturnType<typeof capPeriodKeys>,
): Working {
  const outcome: CampaignOutcome = {
    campaignId: campaign.id,
    name: campaign.name,
    version: campaign.version,
    matched: false,
    applied: false,
    reason: null,
    pointsBeforeCaps: 0,
    points: 0,
    capped: [],
    rules: [],
  };
  const working: Working = { campaign, outcome, rules: [], gives: false };
  const at = context.occurredAt.getTime();
  if (at < campaign.startsAtMs || (campaign.endsAtMs !== null && at >= campaign.endsAtMs)) {
    outcome.reason = "outside the campaign's schedule";
    return working;
  }
  for (const rule of campaign.rules) {
    if (rule.trigger !== context.trigger) continue;
    let lines = context.productLines;
    let failed: RuleOutcome["failed"];
    for (const condition of rule.conditions) {
      const result = condition.type.test(condition.args, context, lines);
      if (!result.ok) {
        failed = { index: condition.index, type: condition.type.code, reason: result.reason };
        break;
      }
      if (result.lines) lines = result.lines;
    }
    if (failed) {
      outcome.rules.push({
        ruleId: rule.id,
        description: rule.description,
        matched: false,
        failed,
        points: 0,
      });
      continue;
    }
    let rulePoints = 0;
    const weights = new Map<number, number>();
    const rewards: string[] = [];
    for (const action of rule.actions) {
      const result = action.type.apply(action.args, context, lines, input.basePoints);
      rulePoints += result.points;
      for (const [index, weight] of result.weights)
        weights.set(index, (weights.get(index) ?? 0) + weight);
      if (result.rewardId) rewards.push(result.rewardId);
    }
    outcome.rules.push({
      ruleId: rule.id,
      description: rule.description,
      matched: true,
      points: rulePoints,
    });
    working.rules.push({ rule, points: rulePoints, weights, rewards, capped: [] });
    outcome.matched = true;
  }
  if (!outcome.matched) {
    outcome.reason = outcome.rules.length === 0 ? "no rule for this event" : "no rule matched";
    return working;
  }
  const raw = working.rules.reduce((sum, rule) => sum + rule.points, 0);
  outcome.pointsBeforeCaps = raw;
  let left = raw;
  const limits: [CapCut["cap"], number][] = [];
  if (campaign.caps.perTransaction !== undefined)
    limits.push(["perTransaction", campaign.caps.perTransaction]);
  for (const name of capNames) {
    if (name === "perTransaction") continue;
    const cap = campaign.caps[name];
    if (cap === undefined) continue;
    const used = input.memberUsage?.get(`${campaign.id}|${periodKeys[name]}`) ?? 0;
    limits.push([name, Math.max(0, cap - used)]);
  }
  if (campaign.budgetPoints !== null) {
    limits.push([
      "budget",
      Math.max(0, input.budgetRemaining?.get(campaign.id) ?? campaign.budgetPoints),
    ]);
  }
  for (const [cap, limit] of limits) {
    if (left <= limit) continue;
    const cut = left - limit;
    outcome.capped.push({ cap, points: cut });
    // The last rule gives up its points first, so the earlier (usually main) rules keep theirs.
    let toCut = cut;
    for (let index = working.rules.length - 1; index >= 0 && toCut > 0; index--) {
      const rule = working.rules[index];
      if (!rule) continue;
      const has = rule.points - rule.capped.reduce((sum, item) => sum + item.points, 0);
      const take = Math.min(has, toCut);
      if (take > 0) {
        rule.capped.push({ cap, points: take });
        toCut -= take;
      }
    }
    left = limit;
  }
  outcome.points = left;
  working.gives = left > 0 || working.rules.some((rule) => rule.rewards.length > 0);
  if (!working.gives)
    outcome.reason = raw > 0 ? "caps left nothing to give" : "matched, but gives nothing";
  return working;
}

/** Decides which matched campaigns apply: exclusive first, then each stacking mode. */
function select(working: Working[]): void {
  const candidates = working.filter((item) => item.gives);
  const exclusive = candidates.find((item) => item.campaign.exclusive);
  if (exclusive) {
    for (const item of candidates) {
      if (item === exclusive) continue;
      item.outcome.reason = `suppressed by exclusive campaign ${exclusive.campaign.id}`;
    }
    exclusive.outcome.applied = true;
    return;
  }
  const firstMatch = candidates.find((item) => item.campaign.stacking === "first_match_wins");
  let best: Working | undefined;
  for (const item of candidates) {
    if (
      item.campaign.stacking === "best_for_member" &&
      (!best || item.outcome.points > best.outcome.points)
    ) {
      best = item;
    }
  }
  for (const item of candidates) {
    const mode = item.campaign.stacking;
    if (mode === "stack" || item === firstMatch || item === best) {
      item.outcome.applied = true;
    } else if (mode === "first_match_wins") {
      item.outcome.reason = `first_match_wins: campaign ${firstMatch?.campaign.id} applied first`;
    } else {
      item.outcome.reason = `best_for_member: campaign ${best?.campaign.id} gives more`;
    }
  }
}
