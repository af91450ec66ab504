/**
 * What-if simulation: replays a window of a program's past purchases under the live
 * configuration and under a draft one (campaigns, tier ladder) and reports points, liability and
 * tier movements for both. It runs in one read-only transaction: nothing is ever written.
 */
import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { findMemberRows } from "../members/index.ts";
import { basePoints, getProgram, moneyInput, type Program } from "../programs/index.ts";
import {
  builtinActivityTypes,
  type CampaignRecord,
  type CompiledCampaign,
  campaignCreateSchema,
  compileCampaigns,
  getCampaign,
  listActivityTypes,
  loadActiveCampaigns,
  validateDefinition,
} from "../rules/index.ts";
import {
  activityOf,
  ladderFrom,
  ladderInputSchema,
  loadLadder,
  type TierActivity,
  type TierLadder,
  windowStart,
} from "../tiers/index.ts";
import { type ReplayPurchase, Scenario, type SharedFacts } from "./replay.ts";

const dayMs = 86_400_000;
export const simulationWindowDaysMax = 400;
export const draftCampaignsMax = 20;
/** Purchases read per round trip: memory holds one chunk (plus small per-member state). */
export const simulationChunkSize = 2_000;
/** Visit conditions look back at most this far (the rules engine's limit for windowDays). */
const visitLookbackDays = 366;

export const simulationInputSchema = z
  .object({
    window: z
      .object({
        from: z.iso.datetime({ offset: true }),
        to: z.iso.datetime({ offset: true }),
      })
      .strict()
      .describe(`Past purchases occurred in [from, to), at most ${simulationWindowDaysMax} days`),
    campaigns: z
      .array(campaignCreateSchema)
      .max(draftCampaignsMax)
      .default([])
      .describe("Draft campaign definitions, in the format of POST …/campaigns"),
    campaignIds: z
      .array(z.string().max(64))
      .max(draftCampaignsMax)
      .default([])
      .describe("Stored campaigns (usually drafts) to add to the draft configuration"),
    replaceLiveCampaigns: z
      .boolean()
      .default(false)
      .describe("true: the draft runs only its own campaigns; false: live campaigns plus these"),
    tierLadder: ladderInputSchema
      .optional()
      .describe("Draft tier ladder; omitted: the live ladder (if any) in both configurations"),
    pointValue: moneyInput.describe("What one point costs the program, for the liability"),
  })
  .strict();
export type SimulationInput = z.infer<typeof simulationInputSchema>;

const campaignTotalSchema = z.object({
  campaignId: z.string(),
  name: z.string(),
  origin: z.enum(["live", "draft"]),
  points: z.number().int(),
  transactions: z.number().int(),
  members: z.number().int(),
});

const scenarioSchema = z.object({
  pointsIssued: z.number().int().describe("Net of refunds"),
  pointsBeforeRefunds: z.number().int(),
  basePoints: z.number().int(),
  tierPoints: z.number().int(),
  campaignPoints: z.number().int(),
  campaigns: z.array(campaignTotalSchema),
  membersEarning: z.number().int(),
  liabilityChange: z.string().describe("pointsIssued × pointValue, in the program's currency"),
  tiers: z
    .object({
      atEnd: z.array(z.object({ code: z.string().nullable(), members: z.number().int() })),
      upgrades: z.number().int(),
      downgrades: z.number().int(),
    })
    .nullable(),
});

export const simulationReportSchema = z
  .object({
    programId: z.string(),
    window: z.object({ from: z.string(), to: z.string() }),
    currency: z.string(),
    pointValue: z.string(),
    transactions: z.object({
      total: z.number().int(),
      withMember: z.number().int(),
      refunded: z.number().int(),
    }),
    members: z.number().int().describe("Members with purchases in the window"),
    live: scenarioSchema,
    draft: scenarioSchema,
    delta: z.object({
      pointsIssued: z.number().int(),
      liabilityChange: z.string(),
      membersAffected: z.number().int().describe("Members whose points differ"),
      membersGaining: z.number().int(),
      membersLosing: z.number().int(),
      tiers: z.array(z.object({ code: z.string().nullable(), members: z.number().int() })),
    }),
    durationMs: z.number().int(),
  })
  .meta({ id: "SimulationReport" });
export type SimulationReport = z.infer<typeof simulationReportSchema>;
type ScenarioReport = z.infer<typeof scenarioSchema>;

interface Prepared {
  from: Date;
  to: Date;
  pointValueMinor: number;
  live: { campaigns: CompiledCampaign[]; ladder: TierLadder | null };
  draft: { campaigns: CompiledCampaign[]; ladder: TierLadder | null };
  origins: Map<string, "live" | "draft">;
}

/** Runs a simulation; bad input is refused before any purchase is read. */
export async function runSimulation(
  ctx: Ctx,
  programId: string,
  input: SimulationInput,
): Promise<SimulationReport> {
  const startedMs = performance.now();
  // One snapshot for the whole replay, and the database refuses any write in it.
  return ctx.db.kysely
    .transaction()
    .setIsolationLevel("repeatable read")
    .execute(async (tx) => {
      await sql`set transaction read only`.execute(tx);
      const program = await getProgram(tx, programId);
      const prepared = await prepare(tx, ctx.clock.now(), program, input);
      const report = await replay(tx, program, prepared);
      return { ...report, durationMs: Math.round(performance.now() - startedMs) };
    });
}

async function prepare(
  tx: Tx,
  now: Date,
  program: Program,
  input: SimulationInput,
): Promise<Prepared> {
  const from = new Date(input.window.from);
  const to = new Date(input.window.to);
  const refuse = (field: string, message: string) =>
    new DomainError("validation_failed", message, { field });
  if (to <= from) throw refuse("window.to", "window.to must be after window.from");
  if (to.getTime() - from.getTime() > simulationWindowDaysMax * dayMs) {
    throw refuse("window.to", `the window spans at most ${simulationWindowDaysMax} days`);
  }
  if (to > now)
    throw refuse("window.to", "the window replays the past: window.to is in the future");
  const pointValueMinor = toMinor(input.pointValue, program.currency, "pointValue");

  const triggers = new Set<string>([
    "purchase",
    ...builtinActivityTypes,
    ...(await listActivityTypes(tx, program.id)).map((type) => type.code),
  ]);
  const records: CampaignRecord[] = input.campaigns.map((raw, index) => {
    let ruleCount = 0;
    try {
      const definition = validateDefinition(raw, triggers, () => `rule-${++ruleCount}`);
      return draftRecord(program, `draft-${index + 1}`, definition);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      // The engine's paths are relative to one definition: say which draft it was.
      const prefix = (path: unknown) => `campaigns.${index}.${String(path ?? "")}`;
      const issues = error.details?.issues as { path: string; message: string }[] | undefined;
      throw new DomainError(error.code, `campaigns.${index}.${error.message}`, {
        ...error.details,
        field: prefix(error.details?.field),
        ...(issues && { issues: issues.map((issue) => ({ ...issue, path: prefix(issue.path) })) }),
      });
    }
  });
  for (const campaignId of new Set(input.campaignIds)) {
    const stored = await getCampaign(tx, program.id, campaignId);
    const { id, status, version, ...definition } = stored;
    records.push({ ...draftRecord(program, id, definition), status, version });
  }
  const liveCampaigns = await loadActiveCampaigns(tx, program.id, now);
  const drafts = compileCampaigns(records);
  const draftIds = new Set(drafts.map((campaign) => campaign.id));
  const origins = new Map<string, "live" | "draft">();
  for (const campaign of liveCampaigns) origins.set(campaign.id, "live");
  for (const campaign of drafts) origins.set(campaign.id, "draft");
  const liveLadder = await loadLadder(tx, program);
  const draftLadder = input.tierLadder
    ? ladderFrom(input.tierLadder, {
        version: 0,
        timezone: program.timezone,
        idOf: (code) => `draft:${code}`,
      })
    : liveLadder;
  return {
    from,
    to,
    pointValueMinor,
    live: { campaigns: liveCampaigns, ladder: liveLadder },
    draft: {
      // The engine takes campaigns highest priority first: compile them together.
      campaigns: input.replaceLiveCampaigns
        ? drafts
        : [...liveCampaigns.filter((campaign) => !draftIds.has(campaign.id)), ...drafts].sort(
            (a, b) => b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
          ),
      ladder: draftLadder,
    },
    origins,
  };
}

function draftRecord(
  program: Program,
  id: string,
  definition: CampaignRecord["definition"],
): CampaignRecord {
  return {
    id,
    programId: program.id,
    currency: program.currency,
    status: "draft",
    version: 1,
    definition,
  };
}

interface PurchaseRow {
  id: string;
  member_id: string | null;
  occurred_at: Date;
  channel: string;
  store_id: string;
  total_minor: number;
  points_earned: number;
}

/**
 * Streams the purchases through a server-side cursor (one sort, chunks of
 * simulationChunkSize), so memory holds one chunk however long the window.
 */
async function* purchases(
  tx: Tx,
  name: string,
  programId: string,
  from: Date,
  to: Date,
): AsyncGenerator<PurchaseRow[]> {
  await sql`declare ${sql.raw(name)} no scroll cursor for
    select id, member_id, occurred_at, channel, store_id, total_minor, points_earned
    from transactions
    where program_id = ${programId} and occurred_at >= ${from} and occurred_at < ${to}
    order by occurred_at, id`.execute(tx);
  for (;;) {
    const { rows } = await sql<PurchaseRow>`fetch forward ${sql.raw(String(simulationChunkSize))}
      from ${sql.raw(name)}`.execute(tx);
    if (rows.length === 0) break;
    yield rows;
  }
  await sql`close ${sql.raw(name)}`.execute(tx);
}

/**
 * Refunds of the chunk's purchases, by purchase, oldest first: every refund known now, also
 * those recorded after the window (they take back the window's points all the same). Tier
 * activity counts each from its own time.
 */
async function refundsOf(tx: Tx, ids: string[]): Promise<Map<string, ReplayPurchase["refunds"]>> {
  const byPurchase = new Map<string, ReplayPurchase["refunds"]>();
  if (ids.length === 0) return byPurchase;
  const rows = await tx
    .selectFrom("refunds")
    .select(["transaction_id", "amount_minor", "created_at"])
    .where("transaction_id", "in", ids)
    .orderBy("created_at")
    .execute();
  for (const row of rows) {
    const list = byPurchase.get(row.transaction_id) ?? [];
    list.push({ recordedAt: row.created_at, amountMinor: row.amount_minor });
    byPurchase.set(row.transaction_id, list);
  }
  return byPurchase;
}

async function replay(
  tx: Tx,
  program: Program,
  prepared: Prepared,
): Promise<Omit<SimulationReport, "durationMs">> {
  const { from, to } = prepared;
  const live = new Scenario(
    prepared.live.campaigns,
    prepared.live.ladder,
    prepared.origins,
    program.timezone,
    program.currency,
  );
  const draft = new Scenario(
    prepared.draft.campaigns,
    prepared.draft.ladder,
    prepared.origins,
    program.timezone,
    program.currency,
  );

  // Before the window: the activity tiers qualify on and the visits conditions count.
  const lookbackFrom = new Date(
    Math.min(
      from.getTime() - visitLookbackDays * dayMs,
      ...[prepared.live.ladder, prepared.draft.ladder].map((ladder) =>
        ladder ? windowStart(ladder, windowStart(ladder, from)).getTime() : from.getTime(),
      ),
    ),
  );
  const before = new Map<string, TierActivity[]>();
  const recent = new Map<string, number[]>();
  for await (const rows of purchases(tx, "simulation_before", program.id, lookbackFrom, from)) {
    const refunds = await refundsOf(
      tx,
      rows.map((row) => row.id),
    );
    for (const row of rows) {
      if (row.member_id === null) continue;
      const activity = before.get(row.member_id) ?? [];
      activity.push(
        ...activityOf({
          occurredAt: row.occurred_at,
          recordedAt: row.occurred_at,
          totalMinor: row.total_minor,
          pointsEarned: row.points_earned,
          refunds: (refunds.get(row.id) ?? []).map((refund) => ({
            ...refund,
            points: Math.floor(
              (row.points_earned * Math.min(refund.amountMinor, row.total_minor)) /
                Math.max(1, row.total_minor),
            ),
          })),
        }),
      );
      before.set(row.member_id, activity);
      if (row.occurred_at.getTime() > from.getTime() - visitLookbackDays * dayMs) {
        const list = recent.get(row.member_id) ?? [];
        list.push(row.occurred_at.getTime());
        recent.set(row.member_id, list);
      }
    }
  }
  const buyers = await sql<{ member_id: string }>`
    select distinct member_id from transactions
    where program_id = ${program.id} and member_id is not null and occurred_at < ${from}`.execute(
    tx,
  );
  const boughtBefore = new Set(buyers.rows.map((row) => row.member_id));

  const facts = new Map<string, SharedFacts>();
  const totals = { total: 0, withMember: 0, refunded: 0 };
  for await (const rows of purchases(tx, "simulation_window", program.id, from, to)) {
    const ids = rows.map((row) => row.id);
    const [lines, refunds] = await Promise.all([linesOf(tx, ids), refundsOf(tx, ids)]);
    const unseen = [
      ...new Set(
        rows.flatMap((row) => (row.member_id && !facts.has(row.member_id) ? [row.member_id] : [])),
      ),
    ];
    const members = await findMemberRows(
      tx,
      program.id,
      unseen.map((id) => ({ id })),
    );
    for (const member of members) {
      if (member instanceof DomainError) continue;
      facts.set(member.id, {
        memberId: member.id,
        tags: member.tags ?? [],
        birthday: member.birthday,
        city: member.city,
        ageBand: member.age_band,
        hasPurchasedBefore: boughtBefore.has(member.id),
        recentPurchasesMs: recent.get(member.id) ?? [],
      });
    }
    for (const row of rows) {
      totals.total += 1;
      const memberFacts = row.member_id === null ? undefined : facts.get(row.member_id);
      if (row.member_id === null || memberFacts === undefined) continue;
      totals.withMember += 1;
      const purchaseLines = lines.get(row.id) ?? [];
      const rewardMinor = purchaseLines.reduce(
        (sum, line) => sum + (line.kind === "reward" ? line.amountMinor : 0),
        0,
      );
      const purchase: ReplayPurchase = {
        id: row.id,
        memberId: row.member_id,
        occurredAt: row.occurred_at,
        channel: row.channel,
        storeId: row.store_id,
        totalMinor: row.total_minor,
        lines: purchaseLines,
        basePoints: basePoints(program, Math.max(0, row.total_minor - rewardMinor)),
        refunds: refunds.get(row.id) ?? [],
      };
      if (purchase.refunds.length > 0) totals.refunded += 1;
      const history = before.get(row.member_id) ?? [];
      live.apply(purchase, memberFacts, history, from);
      draft.apply(purchase, memberFacts, history, from);
      before.delete(row.member_id);
      // What both configurations saw; the next purchase counts this one.
      memberFacts.hasPurchasedBefore = true;
      const visits = memberFacts.recentPurchasesMs;
      visits.push(row.occurred_at.getTime());
      if (visits.length > 64) {
        const since = row.occurred_at.getTime() - visitLookbackDays * dayMs;
        memberFacts.recentPurchasesMs = visits.filter((ms) => ms > since);
      }
    }
  }

  const liveTiers = live.finish(to, before, from);
  const draftTiers = draft.finish(to, before, from);
  let membersGaining = 0;
  let membersLosing = 0;
  for (const memberId of facts.keys()) {
    const difference = draft.pointsOf(memberId) - live.pointsOf(memberId);
    if (difference > 0) membersGaining++;
    else if (difference < 0) membersLosing++;
  }
  const liveReport = scenarioReport(live, liveTiers, prepared, program);
  const draftReport = scenarioReport(draft, draftTiers, prepared, program);
  const codes = new Set([...liveTiers.keys(), ...draftTiers.keys()]);
  return {
    programId: program.id,
    window: { from: from.toISOString(), to: to.toISOString() },
    currency: program.currency,
    pointValue: fromMinor(prepared.pointValueMinor, program.currency),
    transactions: totals,
    members: facts.size,
    live: liveReport,
    draft: draftReport,
    delta: {
      pointsIssued: draftReport.pointsIssued - liveReport.pointsIssued,
      liabilityChange: fromMinor(
        (draftReport.pointsIssued - liveReport.pointsIssued) * prepared.pointValueMinor,
        program.currency,
      ),
      membersAffected: membersGaining + membersLosing,
      membersGaining,
      membersLosing,
      tiers: [...codes].map((code) => ({
        code,
        members: (draftTiers.get(code) ?? 0) - (liveTiers.get(code) ?? 0),
      })),
    },
  };
}

/** The chunk's lines as the rules engine sees them, by purchase. */
async function linesOf(tx: Tx, ids: string[]): Promise<Map<string, ReplayPurchase["lines"]>> {
  const byPurchase = new Map<string, ReplayPurchase["lines"]>();
  if (ids.length === 0) return byPurchase;
  const rows = await tx
    .selectFrom("transaction_lines")
    .select([
      "transaction_id",
      "line_no",
      "sku",
      "category",
      "brand",
      "kind",
      "quantity",
      "amount_minor",
    ])
    .where("transaction_id", "in", ids)
    .orderBy("transaction_id")
    .orderBy("line_no")
    .execute();
  for (const row of rows) {
    const list = byPurchase.get(row.transaction_id) ?? [];
    list.push({
      lineNo: row.line_no,
      sku: row.sku,
      category: row.category,
      brand: row.brand,
      kind: row.kind,
      quantityMilli: Math.round(Number(row.quantity) * 1000),
      amountMinor: row.amount_minor,
    });
    byPurchase.set(row.transaction_id, list);
  }
  return byPurchase;
}

function scenarioReport(
  scenario: Scenario,
  tiers: Map<string | null, number>,
  prepared: Prepared,
  program: Program,
): ScenarioReport {
  const pointsIssued = scenario.pointsBeforeRefunds - scenario.pointsReversed;
  const campaigns = [...scenario.campaignTotals.values()].map((total) => ({
    campaignId: total.campaignId,
    name: total.name,
    origin: total.origin,
    points: total.points,
    transactions: total.transactions,
    members: total.members.size,
  }));
  return {
    pointsIssued,
    pointsBeforeRefunds: scenario.pointsBeforeRefunds,
    basePoints: scenario.basePoints,
    tierPoints: scenario.tierPoints,
    campaignPoints: campaigns.reduce((sum, campaign) => sum + campaign.points, 0),
    campaigns,
    membersEarning: scenario.membersEarning,
    liabilityChange: fromMinor(pointsIssued * prepared.pointValueMinor, program.currency),
    tiers: scenario.ladder
      ? {
          atEnd: [...tiers].map(([code, members]) => ({ code, members })),
          upgrades: scenario.upgrades,
          downgrades: scenario.downgrades,
        }
      : null,
  };
}
