import { currencyDigits as lookupDigits } from "../../lib/money.ts";
import { type CampaignDefinition, type CapName, capNames, ruleRewardIds } from "./definition.ts";
import {
  type ActionRun,
  actionTypes,
  type ConditionDef,
  type ConditionTest,
  conditionTypes,
  type EvalContext,
  type EvalLine,
  LineIndex,
  type MemberFacts,
  mulDiv,
  spreadInto,
  zeros,
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

/**
 * A condition's test, shared by every identical condition (same type and arguments) of a
 * compiled campaign set, so each distinct condition runs once per evaluation.
 */
interface SharedTest {
  test: ConditionTest;
  /** Whether the result depends on the lines in play (line conditions, quantities). */
  readsLines: boolean;
  /** The evaluation the memo belongs to, and the result on the event's product lines. */
  epoch: number;
  value: number[] | null;
}

interface CompiledCondition {
  /** Index in the rule's definition, for the explanation. */
  index: number;
  type: ConditionDef;
  args: unknown;
  shared: SharedTest;
}

interface CompiledRule {
  id: string;
  description: string;
  /** The breakdown text: campaign name and rule description. */
  label: string;
  trigger: string;
  /** Line conditions first (they narrow the lines). */
  conditions: CompiledCondition[];
  actions: ActionRun[];
  /** Rewards the rule grants when it matches (award_reward actions). */
  rewardIds: string[];
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
  /** Caps counted per member and period, in capNames order. */
  memberCaps: MemberCap[];
  budgetPoints: number | null;
  currencyDigits: number;
  triggers: Set<string>;
  rules: CompiledRule[];
}

type MemberCap = Exclude<CapName, "perTransaction">;

/**
 * Turns stored definitions into ready-to-run campaigns, highest priority first (then oldest):
 * every condition and action is compiled once here (sets, masks, minutes, money in minor units).
 */
export function compileCampaigns(records: CampaignRecord[]): CompiledCampaign[] {
  const tests = new Map<string, SharedTest>();
  const sharedTest = (type: ConditionDef, args: unknown): SharedTest => {
    const key = `${type.code}|${JSON.stringify(args)}`;
    let shared = tests.get(key);
    if (!shared) {
      shared = {
        test: type.compile(args),
        readsLines: type.scope === "lines" || type.readsLines === true,
        epoch: 0,
        value: null,
      };
      tests.set(key, shared);
    }
    return shared;
  };
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
        memberCaps: capNames.filter(
          (name): name is MemberCap =>
            name !== "perTransaction" && definition.caps[name] !== undefined,
        ),
        budgetPoints: definition.budgetPoints,
        currencyDigits: currencyDigits(record.currency),
        triggers: new Set(definition.rules.map((rule) => rule.trigger)),
        rules: definition.rules.map((rule) => {
          const description =
            rule.description ?? describeRule(rule.actions.map((action) => action.type));
          return {
            id: rule.id,
            description,
            label: `${definition.name}: ${description}`,
            trigger: rule.trigger,
            conditions: rule.conditions
              .map((condition, index) => {
                const type = lookup(conditionTypes, condition.type);
                return {
                  index,
                  type,
                  args: condition.args,
                  shared: sharedTest(type, condition.args),
                };
              })
              .sort((a, b) => rank(a.type) - rank(b.type) || a.index - b.index),
            actions: rule.actions.map((action) =>
              lookup(actionTypes, action.type).compile(action.args),
            ),
            rewardIds: ruleRewardIds(rule),
          };
        }),
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

/** A rule that matched: its points before caps, their split over the lines, what caps cut. */
interface MatchedRule {
  rule: CompiledRule;
  points: number;
  /** Points per basket line (indexed like the lines), the split of the rule's points. */
  weights: number[];
  rewards: string[];
  capped: CapCut[];
}

interface Working {
  campaign: CompiledCampaign;
  outcome: CampaignOutcome;
  rules: MatchedRule[];
  gives: boolean;
}

/**
 * How much of the campaigns' reasoning an evaluation returns: "full" lists every campaign with a
 * rule for the event, with each rule's outcome and which condition failed (previews); "matched"
 * lists only the campaigns that matched, without per-rule outcomes (the earn path, which stores
 * only the breakdown), so no failure text is built.
 */
export type Explain = "full" | "matched";

/** Numbers each evaluation, so a memo on a shared test knows whether it is from this one. */
let evaluationSeq = 0;
const noTags: ReadonlySet<string> = new Set();

/**
 * Computes the points of one event under the given campaigns. Pure: everything it needs (member
 * facts, cap usage, budgets) comes in the input, so the same input always gives the same answer.
 * Every amount is whole points, each action rounding down.
 */
export function evaluate(
  input: EvaluationInput,
  campaigns: CompiledCampaign[],
  explain: Explain = "full",
): Evaluation {
  const epoch = ++evaluationSeq;
  const { lines } = input;
  const productLines: number[] = [];
  const amounts: number[] = [];
  let rewardMinor = 0;
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as EvalLine;
    amounts.push(line.amountMinor);
    if (line.kind === "product") productLines.push(index);
    else rewardMinor += line.amountMinor;
  }
  const context: EvalContext = {
    trigger: input.trigger,
    occurredAtMs: input.occurredAt.getTime(),
    local: localTime(input.occurredAt, input.timezone),
    channel: input.channel,
    storeId: input.storeId,
    earnableMinor: Math.max(0, input.totalMinor - rewardMinor),
    lines,
    amounts,
    productLines,
    lineIndex: new LineIndex(lines, productLines),
    member: input.member,
    memberTags: input.member ? new Set(input.member.tags) : noTags,
    attributes: input.attributes ?? {},
    currencyDigits: currencyDigits(input.currency),
  };
  const linePoints = zeros(lines.length);
  const breakdown: BreakdownLine[] = [];
  const basePoints = input.basePoints;
  if (basePoints > 0 || input.trigger === "purchase") {
    breakdown.push({ source: "base", description: input.baseDescription, points: basePoints });
    spreadInto(basePoints, amounts, productLines, linePoints);
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
    spreadInto(tierPoints, amounts, productLines, linePoints);
    points += tierPoints;
  }

  const run = new Runner(context, input, epoch, explain === "full");
  const working: Working[] = [];
  for (const campaign of campaigns) {
    if (!campaign.triggers.has(input.trigger)) continue;
    const item = run.campaign(campaign);
    if (item) working.push(item);
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
      spreadInto(given, rule.weights, productLines, linePoints);
      const line: BreakdownLine = {
        source: "campaign",
        description: rule.rule.label,
        points: given,
        campaignId: item.campaign.id,
        ruleId: rule.rule.id,
      };
      if (cut > 0) {
        line.pointsBeforeCaps = rule.points;
        line.capped = rule.capped;
      }
      if (rule.rewards.length > 0) line.rewardId = rule.rewards.join(",");
      breakdown.push(line);
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

/** Runs the campaigns of one evaluation against its context. */
class Runner {
  readonly #context: EvalContext;
  readonly #input: EvaluationInput;
  readonly #epoch: number;
  readonly #explainAll: boolean;
  #periodKeys: ReturnType<typeof capPeriodKeys> | null = null;

  constructor(context: EvalContext, input: EvaluationInput, epoch: number, explainAll: boolean) {
    this.#context = context;
    this.#input = input;
    this.#epoch = epoch;
    this.#explainAll = explainAll;
  }

  /**
   * One condition on the lines in play: the lines left, or null. A condition's result on the
   * product lines (or, when it does not read lines, on any) is computed once per evaluation.
   */
  #check(condition: CompiledCondition, lines: number[]): number[] | null {
    const { shared } = condition;
    const { productLines } = this.#context;
    if (lines !== productLines && shared.readsLines) return shared.test.test(this.#context, lines);
    if (shared.epoch !== this.#epoch) {
      shared.value = shared.test.test(this.#context, productLines);
      shared.epoch = this.#epoch;
    }
    if (shared.value === null) return null;
    return shared.readsLines ? shared.value : lines;
  }

  /** The lines a rule works on when all its conditions hold, else null. */
  #match(rule: CompiledRule): number[] | null {
    let lines: number[] | null = this.#context.productLines;
    for (const condition of rule.conditions) {
      lines = this.#check(condition, lines);
      if (lines === null) return null;
    }
    return lines;
  }

  /** The first condition of a rule that fails, with why. */
  #failure(rule: CompiledRule): RuleOutcome["failed"] {
    let lines = this.#context.productLines;
    for (const condition of rule.conditions) {
      const next = this.#check(condition, lines);
      if (next === null) {
        return {
          index: condition.index,
          type: condition.type.code,
          reason: condition.shared.test.reason(this.#context, lines),
        };
      }
      lines = next;
    }
    return undefined;
  }

  /** Each rule of the campaign for this event: matched with its points, or the condition that failed. */
  #ruleOutcomes(campaign: CompiledCampaign, matched: MatchedRule[]): RuleOutcome[] {
    const outcomes: RuleOutcome[] = [];
    let next = 0;
    for (const rule of campaign.rules) {
      if (rule.trigger !== this.#context.trigger) continue;
      const hit = matched[next];
      if (hit?.rule === rule) {
        next++;
        outcomes.push({
          ruleId: rule.id,
          description: rule.description,
          matched: true,
          points: hit.points,
        });
      } else {
        outcomes.push({
          ruleId: rule.id,
          description: rule.description,
          matched: false,
          failed: this.#failure(rule),
          points: 0,
        });
      }
    }
    return outcomes;
  }

  #outcome(campaign: CompiledCampaign, matched: MatchedRule[], reason: string | null) {
    return {
      campaignId: campaign.id,
      name: campaign.name,
      version: campaign.version,
      matched: matched.length > 0,
      applied: false,
      reason,
      pointsBeforeCaps: 0,
      points: 0,
      capped: [],
      rules:
        reason === scheduleReason || !this.#explainAll ? [] : this.#ruleOutcomes(campaign, matched),
    } satisfies CampaignOutcome;
  }

  /** Runs one campaign's rules for the event and applies its caps; null when unmatched and not explained. */
  campaign(campaign: CompiledCampaign): Working | null {
    const context = this.#context;
    const at = context.occurredAtMs;
    if (at < campaign.startsAtMs || (campaign.endsAtMs !== null && at >= campaign.endsAtMs)) {
      if (!this.#explainAll) return null;
      return this.#unmatched(campaign, scheduleReason);
    }
    let matched: MatchedRule[] | null = null;
    for (const rule of campaign.rules) {
      if (rule.trigger !== context.trigger) continue;
      const lines = this.#match(rule);
      if (lines === null) continue;
      const weights = zeros(context.lines.length);
      let points = 0;
      for (const action of rule.actions) {
        points += action.apply(context, lines, this.#input.basePoints, weights);
      }
      matched ??= [];
      matched.push({ rule, points, weights, rewards: rule.rewardIds, capped: noCuts });
    }
    if (matched === null) {
      if (!this.#explainAll) return null;
      const working = this.#unmatched(campaign, "no rule matched");
      if (working.outcome.rules.length === 0) working.outcome.reason = "no rule for this event";
      return working;
    }
    const outcome: CampaignOutcome = this.#outcome(campaign, matched, null);
    const working: Working = { campaign, outcome, rules: matched, gives: false };
    const raw = matched.reduce((sum, rule) => sum + rule.points, 0);
    outcome.pointsBeforeCaps = raw;
    let left = raw;
    if (campaign.caps.perTransaction !== undefined)
      left = cutTo(working, left, "perTransaction", campaign.caps.perTransaction);
    if (campaign.memberCaps.length > 0) {
      this.#periodKeys ??= capPeriodKeys(context.local);
      for (const name of campaign.memberCaps) {
        const used = this.#input.memberUsage?.get(`${campaign.id}|${this.#periodKeys[name]}`) ?? 0;
        left = cutTo(working, left, name, Math.max(0, (campaign.caps[name] as number) - used));
      }
    }
    if (campaign.budgetPoints !== null) {
      const remaining = this.#input.budgetRemaining?.get(campaign.id) ?? campaign.budgetPoints;
      left = cutTo(working, left, "budget", Math.max(0, remaining));
    }
    outcome.points = left;
    working.gives = left > 0 || matched.some((rule) => rule.rewards.length > 0);
    if (!working.gives)
      outcome.reason = raw > 0 ? "caps left nothing to give" : "matched, but gives nothing";
    return working;
  }

  #unmatched(campaign: CompiledCampaign, reason: string): Working {
    return { campaign, outcome: this.#outcome(campaign, [], reason), rules: [], gives: false };
  }
}

const scheduleReason = "outside the campaign's schedule";
/** The cuts of a rule no cap touched; shared, replaced on the first cut. */
const noCuts: CapCut[] = [];

/** Applies one cap to a campaign's points so far; answers the points left. */
function cutTo(working: Working, left: number, cap: CapCut["cap"], limit: number): number {
  if (left <= limit) return left;
  const cut = left - limit;
  working.outcome.capped.push({ cap, points: cut });
  // The last rule gives up its points first, so the earlier (usually main) rules keep theirs.
  let toCut = cut;
  for (let index = working.rules.length - 1; index >= 0 && toCut > 0; index--) {
    const rule = working.rules[index] as MatchedRule;
    const has = rule.points - rule.capped.reduce((sum, item) => sum + item.points, 0);
    const take = Math.min(has, toCut);
    if (take > 0) {
      if (rule.capped === noCuts) rule.capped = [];
      rule.capped.push({ cap, points: take });
      toCut -= take;
    }
  }
  return limit;
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
