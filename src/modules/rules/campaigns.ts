import { sql } from "kysely";
import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { getProgram } from "../programs/index.ts";
import { assertRewardGrantable } from "../rewards/index.ts";
import {
  activeCampaignsMax,
  builtinActivityTypes,
  type CampaignDefinition,
  rewardIdsOf,
  validateDefinition,
} from "./definition.ts";
import { type CampaignRecord, type CompiledCampaign, compileCampaigns } from "./evaluate.ts";
import type { CampaignStatus, CampaignsTable } from "./tables.ts";

export const campaignStatuses = ["draft", "active", "paused", "ended"] as const;

/** Allowed status changes; ended is final. */
const transitions: Record<CampaignStatus, CampaignStatus[]> = {
  draft: ["active", "ended"],
  active: ["paused", "ended"],
  paused: ["active", "ended"],
  ended: [],
};

const capsView = z.object({
  perTransaction: z.number().int().optional(),
  perMemberPerDay: z.number().int().optional(),
  perMemberPerWeek: z.number().int().optional(),
  perMemberPerMonth: z.number().int().optional(),
  perMemberPerCampaign: z.number().int().optional(),
});
const stepView = z.object({ type: z.string(), args: z.record(z.string(), z.unknown()) });
export const campaignDefinitionSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  startsAt: z.string(),
  endsAt: z.string().nullable(),
  priority: z.number().int(),
  stacking: z.enum(["stack", "first_match_wins", "best_for_member"]),
  exclusive: z.boolean(),
  caps: capsView,
  budgetPoints: z.number().int().nullable(),
  rules: z.array(
    z.object({
      id: z.string(),
      description: z.string().nullable(),
      trigger: z.string(),
      conditions: z.array(stepView),
      actions: z.array(stepView),
    }),
  ),
});

export const campaignSchema = campaignDefinitionSchema
  .extend({
    id: z.string(),
    programId: z.string(),
    status: z.enum(campaignStatuses),
    version: z.number().int(),
    budgetUsedPoints: z.number().int().nullable().describe("Points given so far under the budget"),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Campaign" });
export type CampaignView = z.infer<typeof campaignSchema>;

export const campaignVersionSchema = z.object({
  version: z.number().int(),
  status: z.enum(campaignStatuses),
  change: z.string(),
  changedBy: z.string().nullable(),
  createdAt: z.string(),
  definition: campaignDefinitionSchema,
});

interface Actor {
  at: Date;
  /** API key id (or staff id) that made the change. */
  by: string | null;
}

function definitionOf(row: Pick<CampaignsTable, "definition">): CampaignDefinition {
  return (
    typeof row.definition === "string" ? JSON.parse(row.definition) : row.definition
  ) as CampaignDefinition;
}

function view(row: CampaignsTable, budgetUsed: number | null): CampaignView {
  return {
    id: row.id,
    programId: row.program_id,
    status: row.status,
    version: row.version,
    ...definitionOf(row),
    budgetUsedPoints: budgetUsed,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Triggers a rule of this program may name: purchase, the built-in activities, its custom types. */
async function knownTriggers(tx: Tx, programId: string): Promise<Set<string>> {
  const custom = await tx
    .selectFrom("activity_types")
    .select("code")
    .where("program_id", "=", programId)
    .execute();
  return new Set(["purchase", ...builtinActivityTypes, ...custom.map((row) => row.code)]);
}

async function checkedDefinition(
  tx: Tx,
  programId: string,
  raw: unknown,
): Promise<CampaignDefinition> {
  const definition = validateDefinition(raw, await knownTriggers(tx, programId), () =>
    newId("campaignRule"),
  );
  for (const rewardId of new Set(rewardIdsOf(definition))) {
    await assertRewardGrantable(tx, programId, rewardId);
  }
  return definition;
}

/** Refuses activating past the limit; the program row lock makes concurrent activations count in turn. */
async function assertActiveRoom(tx: Tx, programId: string): Promise<void> {
  await tx.selectFrom("programs").select("id").where("id", "=", programId).forUpdate().execute();
  const row = await tx
    .selectFrom("campaigns")
    .select(sql<number>`count(*)::int`.as("count"))
    .where("program_id", "=", programId)
    .where("status", "=", "active")
    .executeTakeFirstOrThrow();
  if (row.count >= activeCampaignsMax) {
    throw new DomainError(
      "campaign_limit_reached",
      `a program runs at most ${activeCampaignsMax} active campaigns; pause or end one first`,
      { activeMax: activeCampaignsMax },
    );
  }
}

export async function createCampaign(
  tx: Tx,
  actor: Actor,
  programId: string,
  input: { status?: "draft" | "active" | undefined } & Record<string, unknown>,
): Promise<CampaignView> {
  const { status = "draft", ...raw } = input;
  await getProgram(tx, programId);
  const definition = await checkedDefinition(tx, programId, raw);
  if (status === "active") await assertActiveRoom(tx, programId);
  const row: CampaignsTable = {
    id: newId("campaign"),
    program_id: programId,
    status,
    version: 1,
    definition: JSON.stringify(definition),
    created_at: actor.at,
    updated_at: actor.at,
  };
  await tx.insertInto("campaigns").values(row).execute();
  await writeVersion(tx, row, definition, actor, "created");
  if (definition.budgetPoints !== null) {
    await tx
      .insertInto("campaign_budgets")
      .values({
        campaign_id: row.id,
        program_id: programId,
        points_max: definition.budgetPoints,
        points_used: 0,
        updated_at: actor.at,
      })
      .execute();
  }
  await emit(tx, {
    programId,
    type: "campaign.created",
    payload: { campaignId: row.id, version: 1, status },
    at: actor.at,
  });
  clearCampaignCache(programId);
  return view({ ...row, definition }, definition.budgetPoints === null ? null : 0);
}

async function writeVersion(
  tx: Tx,
  row: CampaignsTable,
  definition: CampaignDefinition,
  actor: Actor,
  change: string,
): Promise<void> {
  await tx
    .insertInto("campaign_versions")
    .values({
      campaign_id: row.id,
      version: row.version,
      program_id: row.program_id,
      status: row.status,
      definition: JSON.stringify(definition),
      changed_by: actor.by,
      change,
      created_at: actor.at,
    })
    .execute();
}

async function lockCampaign(
  tx: Tx,
  programId: string,
  campaignId: string,
): Promise<CampaignsTable> {
  const row = await tx
    .selectFrom("campaigns")
    .selectAll()
    .where("id", "=", campaignId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("campaign_not_found", campaignId);
  return row;
}

/**
 * Changes a campaign's definition and/or status; every change is a new version. The merged
 * definition is validated whole, so a change cannot leave a contradictory campaign behind.
 */
export async function updateCampaign(
  tx: Tx,
  actor: Actor,
  programId: string,
  campaignId: string,
  patch: { status?: CampaignStatus | undefined } & Record<string, unknown>,
): Promise<CampaignView> {
  const current = await lockCampaign(tx, programId, campaignId);
  const { status: wanted, ...changes } = patch;
  const before = definitionOf(current);
  const status = wanted ?? current.status;
  if (current.status === "ended") {
    throw new DomainError(
      "campaign_status_invalid",
      `campaign ${campaignId} has ended and cannot change`,
      {
        status: current.status,
      },
    );
  }
  if (status !== current.status && !transitions[current.status].includes(status)) {
    throw new DomainError(
      "campaign_status_invalid",
      `a ${current.status} campaign cannot become ${status}`,
      { status: current.status, allowed: transitions[current.status] },
    );
  }
  const definition =
    Object.keys(changes).length > 0
      ? await checkedDefinition(tx, programId, { ...before, ...changes })
      : before;
  if (status === "active" && current.status !== "active") await assertActiveRoom(tx, programId);
  const budgetUsed = await syncBudget(tx, current, definition, actor.at);
  const row: CampaignsTable = {
    ...current,
    status,
    version: current.version + 1,
    definition: JSON.stringify(definition),
    updated_at: actor.at,
  };
  await tx
    .updateTable("campaigns")
    .set({ status, version: row.version, definition: row.definition, updated_at: actor.at })
    .where("id", "=", campaignId)
    .execute();
  const change = [
    ...(status !== current.status ? [`status ${current.status} → ${status}`] : []),
    ...(Object.keys(changes).length > 0
      ? [`changed ${Object.keys(changes).sort().join(", ")}`]
      : []),
  ].join("; ");
  await writeVersion(tx, row, definition, actor, change || "no change");
  await emit(tx, {
    programId,
    type: status !== current.status ? "campaign.status_changed" : "campaign.updated",
    payload: {
      campaignId,
      version: row.version,
      status,
      previousStatus: current.status,
      fields: Object.keys(changes),
    },
    at: actor.at,
  });
  clearCampaignCache(programId);
  return view({ ...row, definition }, budgetUsed);
}

/** Keeps the budget row in step with the definition; a budget cannot drop below what was given. */
async function syncBudget(
  tx: Tx,
  campaign: CampaignsTable,
  definition: CampaignDefinition,
  at: Date,
): Promise<number | null> {
  const budget = await tx
    .selectFrom("campaign_budgets")
    .selectAll()
    .where("campaign_id", "=", campaign.id)
    .forUpdate()
    .executeTakeFirst();
  const wanted = definition.budgetPoints;
  if (wanted === null) {
    if (budget)
      await tx.deleteFrom("campaign_budgets").where("campaign_id", "=", campaign.id).execute();
    return null;
  }
  const used = budget?.points_used ?? 0;
  if (wanted < used) {
    throw new DomainError("validation_failed", `budgetPoints: ${used} points were already given`, {
      field: "budgetPoints",
      issues: [
        { path: "budgetPoints", message: `must be at least ${used}, the points already given` },
      ],
    });
  }
  if (!budget) {
    await tx
      .insertInto("campaign_budgets")
      .values({
        campaign_id: campaign.id,
        program_id: campaign.program_id,
        points_max: wanted,
        points_used: 0,
        updated_at: at,
      })
      .execute();
  } else if (budget.points_max !== wanted) {
    await tx
      .updateTable("campaign_budgets")
      .set({ points_max: wanted, updated_at: at })
      .where("campaign_id", "=", campaign.id)
      .execute();
  }
  return used;
}

export async function getCampaign(
  db: Queryable,
  programId: string,
  campaignId: string,
): Promise<CampaignView> {
  const row = await db
    .selectFrom("campaigns as c")
    .leftJoin("campaign_budgets as b", "b.campaign_id", "c.id")
    .selectAll("c")
    .select("b.points_used")
    .where("c.id", "=", campaignId)
    .where("c.program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("campaign_not_found", campaignId);
  return view(row, row.points_used);
}

export async function listCampaigns(
  db: Queryable,
  programId: string,
  filter: { status?: CampaignStatus | undefined; limit: number; after?: string | undefined },
): Promise<CampaignView[]> {
  let query = db
    .selectFrom("campaigns as c")
    .leftJoin("campaign_budgets as b", "b.campaign_id", "c.id")
    .selectAll("c")
    .select("b.points_used")
    .where("c.program_id", "=", programId)
    .orderBy("c.id")
    .limit(filter.limit);
  if (filter.status) query = query.where("c.status", "=", filter.status);
  if (filter.after) query = query.where("c.id", ">", filter.after);
  return (await query.execute()).map((row) => view(row, row.points_used));
}

export async function listCampaignVersions(
  db: Queryable,
  programId: string,
  campaignId: string,
  page: { limit: number; before?: number | undefined },
) {
  await getCampaign(db, programId, campaignId);
  let query = db
    .selectFrom("campaign_versions")
    .selectAll()
    .where("campaign_id", "=", campaignId)
    .orderBy("version", "desc")
    .limit(page.limit);
  if (page.before !== undefined) query = query.where("version", "<", page.before);
  const rows = await query.execute();
  return rows.map((row) => ({
    version: row.version,
    status: row.status,
    change: row.change,
    changedBy: row.changed_by,
    createdAt: row.created_at.toISOString(),
    definition: definitionOf(row),
  }));
}

/** How long a process reuses a program's active campaigns; a change made here clears it at once. */
export const campaignCacheTtlMs = 1_000;
const campaignCache = new Map<string, { campaigns: CompiledCampaign[]; untilMs: number }>();

export function clearCampaignCache(programId: string): void {
  campaignCache.delete(programId);
}

/**
 * A program's active campaigns, compiled, read at most once a second per process (`at` is the
 * caller's clock): every purchase needs them, and they change rarely.
 */
export async function loadActiveCampaigns(
  db: Queryable | Tx,
  programId: string,
  at: Date,
): Promise<CompiledCampaign[]> {
  const hit = campaignCache.get(programId);
  if (hit && hit.untilMs > at.getTime()) return hit.campaigns;
  const rows = await db
    .selectFrom("campaigns as c")
    .innerJoin("programs as p", "p.id", "c.program_id")
    .select(["c.id", "c.program_id", "c.status", "c.version", "c.definition", "p.currency"])
    .where("c.program_id", "=", programId)
    .where("c.status", "=", "active")
    .execute();
  const campaigns = compileCampaigns(
    rows.map(
      (row): CampaignRecord => ({
        id: row.id,
        programId: row.program_id,
        currency: row.currency,
        status: row.status,
        version: row.version,
        definition: definitionOf(row),
      }),
    ),
  );
  if (campaignCache.size > 1_000) campaignCache.clear();
  campaignCache.set(programId, { campaigns, untilMs: at.getTime() + campaignCacheTtlMs });
  return campaigns;
}
