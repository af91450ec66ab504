import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { payloadHash } from "../../lib/json.ts";
import { earnBonus, lockMembers } from "../ledger/index.ts";
import { activeMembersBornOn, birthdaysOn, findMemberRows } from "../members/index.ts";
import { emit } from "../outbox/index.ts";
import { getProgram, getProgramCached } from "../programs/index.ts";
import { grantReward } from "../rewards/index.ts";
import { loadActiveCampaigns } from "./campaigns.ts";
import { activityTypeCode, builtinActivityTypes } from "./definition.ts";
import { EarnSession } from "./earning.ts";
import type { ActivityTypesTable } from "./tables.ts";
import { localTime } from "./time.ts";
import { breakdownLineSchema } from "./views.ts";

/** How far ahead of the server clock an activity's time may be. */
const clockSkewMs = 5 * 60_000;
export const customActivityTypesMax = 100;
const attributesMax = 50;

export const activityTypeCreateSchema = z
  .object({
    code: activityTypeCode,
    name: z.string().trim().min(1).max(120),
    description: z.string().trim().max(1000).nullable().optional(),
  })
  .strict();
export const activityTypeUpdateSchema = z
  .object({
    name: z.string().trim().min(1).max(120).optional(),
    description: z.string().trim().max(1000).nullable().optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });
export const activityTypeSchema = z.object({
  code: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  builtin: z.boolean(),
  createdAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
});
type ActivityTypeView = z.infer<typeof activityTypeSchema>;

const builtinNames: Record<(typeof builtinActivityTypes)[number], string> = {
  signup: "Signed up (fires on enrolment)",
  profile_completed:
    "Completed the profile (fires when name, birthday, city, gender and age band are all set)",
  birthday: "Birthday (fires from the daily job on the member's birthday, program time)",
  review_written: "Wrote a review",
  survey_answered: "Answered a survey",
  social_share: "Shared on social media",
  referral: "Referred a friend",
};

const customView = (row: ActivityTypesTable): ActivityTypeView => ({
  code: row.code,
  name: row.name,
  description: row.description,
  builtin: false,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

export async function listActivityTypes(
  db: Queryable,
  programId: string,
): Promise<ActivityTypeView[]> {
  await getProgram(db, programId);
  const rows = await db
    .selectFrom("activity_types")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("code")
    .execute();
  return [
    ...builtinActivityTypes.map((code) => ({
      code,
      name: builtinNames[code],
      description: null,
      builtin: true,
      createdAt: null,
      updatedAt: null,
    })),
    ...rows.map(customView),
  ];
}

export async function createActivityType(
  tx: Tx,
  now: Date,
  programId: string,
  input: z.infer<typeof activityTypeCreateSchema>,
): Promise<ActivityTypeView> {
  await getProgram(tx, programId);
  if (
    input.code === "purchase" ||
    (builtinActivityTypes as readonly string[]).includes(input.code)
  ) {
    throw new DomainError("validation_failed", `code: ${input.code} is a built-in type`, {
      field: "code",
    });
  }
  const count = await tx
    .selectFrom("activity_types")
    .select(sql<number>`count(*)::int`.as("count"))
    .where("program_id", "=", programId)
    .executeTakeFirstOrThrow();
  if (count.count >= customActivityTypesMax) {
    throw new DomainError(
      "validation_failed",
      `a program has at most ${customActivityTypesMax} custom activity types`,
      {
        field: "code",
      },
    );
  }
  const row: ActivityTypesTable = {
    program_id: programId,
    code: input.code,
    name: input.name,
    description: input.description ?? null,
    created_at: now,
    updated_at: now,
  };
  const inserted = await tx
    .insertInto("activity_types")
    .values(row)
    .onConflict((conflict) => conflict.columns(["program_id", "code"]).doNothing())
    .returning("code")
    .executeTakeFirst();
  if (!inserted) {
    throw new DomainError("validation_failed", `code: activity type ${input.code} exists`, {
      field: "code",
    });
  }
  return customView(row);
}

export async function updateActivityType(
  tx: Tx,
  now: Date,
  programId: string,
  code: string,
  input: z.infer<typeof activityTypeUpdateSchema>,
): Promise<ActivityTypeView> {
  const row = await tx
    .updateTable("activity_types")
    .set({
      ...(input.name !== undefined && { name: input.name }),
      ...(input.description !== undefined && { description: input.description }),
      updated_at: now,
    })
    .where("program_id", "=", programId)
    .where("code", "=", code)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound("activity_type_not_found", code);
  return customView(row);
}

/** Removes a custom type; activities already recorded keep it, rules naming it no longer fire. */
export async function deleteActivityType(tx: Tx, programId: string, code: string): Promise<void> {
  const row = await tx
    .deleteFrom("activity_types")
    .where("program_id", "=", programId)
    .where("code", "=", code)
    .returning("code")
    .executeTakeFirst();
  if (!row) throw notFound("activity_type_not_found", code);
}

const attributeValue = z.union([z.string().max(200), z.number(), z.boolean()]);
export const activityInputSchema = z
  .object({
    memberId: z.string().max(64),
    type: z.string().max(40).describe("Built-in type or a custom type code of the program"),
    externalId: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .describe("Your id of the event, unique per member and type: the same again is a replay"),
    occurredAt: z.iso.datetime({ offset: true }),
    attributes: z
      .array(z.object({ name: z.string().trim().min(1).max(64), value: attributeValue }).strict())
      .max(attributesMax)
      .default([])
      .describe("Facts about the event that rules can test (activity_attribute), e.g. rating 5"),
  })
  .strict();
export type ActivityInput = z.infer<typeof activityInputSchema>;

export const activityResultSchema = z.object({
  activityId: z.string(),
  memberId: z.string(),
  type: z.string(),
  externalId: z.string(),
  occurredAt: z.string(),
  pointsEarned: z.number().int(),
  expiresAt: z.string().nullable(),
  breakdown: z.array(breakdownLineSchema),
  vouchers: z.array(
    z.object({
      campaignId: z.string(),
      rewardId: z.string(),
      voucherId: z.string(),
      code: z.string(),
    }),
  ),
  balance: z.object({
    pending: z.number().int(),
    available: z.number().int(),
    held: z.number().int(),
  }),
  replayed: z.boolean(),
});
export type ActivityResult = z.infer<typeof activityResultSchema>;

async function assertKnownType(db: Tx, programId: string, type: string): Promise<void> {
  if ((builtinActivityTypes as readonly string[]).includes(type)) return;
  const custom = await db
    .selectFrom("activity_types")
    .select("code")
    .where("program_id", "=", programId)
    .where("code", "=", type)
    .executeTakeFirst();
  if (!custom) throw notFound("activity_type_not_found", type);
}

/**
 * Records a non-purchase event of a member and earns what the campaigns with a rule for its type
 * give (points as a bonus, vouchers). The same member + type + externalId again answers the first
 * result; with different content it is refused.
 */
export async function recordActivity(
  tx: Tx,
  ctx: Pick<Ctx, "clock">,
  programId: string,
  input: ActivityInput,
): Promise<ActivityResult> {
  const result = await record(tx, ctx.clock.now(), programId, input, false);
  if (!result) throw new Error("unreachable: a requested activity always answers");
  return result;
}

/**
 * Fires a built-in activity from inside another write (signup on enrolment, profile completed,
 * birthday): only when an active campaign has a rule for it, and only once per externalId.
 */
export async function recordAutomaticActivity(
  tx: Tx,
  now: Date,
  programId: string,
  input: { memberId: string; type: (typeof builtinActivityTypes)[number]; externalId: string },
): Promise<ActivityResult | null> {
  const campaigns = await loadActiveCampaigns(tx, programId, now);
  if (!campaigns.some((campaign) => campaign.triggers.has(input.type))) return null;
  return record(
    tx,
    now,
    programId,
    { ...input, occurredAt: now.toISOString(), attributes: [] },
    true,
  );
}

async function record(
  tx: Tx,
  now: Date,
  programId: string,
  input: ActivityInput,
  automatic: boolean,
): Promise<ActivityResult | null> {
  const program = await getProgramCached(tx, programId);
  await assertKnownType(tx, programId, input.type);
  const occurredAt = new Date(input.occurredAt);
  if (occurredAt.getTime() > now.getTime() + clockSkewMs) {
    throw new DomainError("occurred_in_future", "occurredAt is in the future", {
      field: "occurredAt",
    });
  }
  const requestHash = payloadHash(input);
  const locked = (await lockMembers(tx, programId, [input.memberId])).get(input.memberId);
  if (!locked) throw notFound("member_not_found", input.memberId);
  // Checked under the member's lock, so two copies of one activity cannot both pass.
  const existing = await tx
    .selectFrom("activities")
    .select(["id", "request_hash", "result"])
    .where("program_id", "=", programId)
    .where("member_id", "=", input.memberId)
    .where("type", "=", input.type)
    .where("external_id", "=", input.externalId)
    .executeTakeFirst();
  if (existing) {
    if (automatic) return null;
    if (existing.request_hash !== requestHash) {
      throw new DomainError(
        "duplicate_activity",
        `activity ${input.type} ${input.externalId} of member ${input.memberId} was already recorded with different content`,
        { activityId: existing.id },
      );
    }
    const stored = (
      typeof existing.result === "string" ? JSON.parse(existing.result) : existing.result
    ) as ActivityResult;
    return { ...stored, replayed: true };
  }
  if (locked.status !== "active") {
    throw new DomainError("member_blocked", `member ${input.memberId} is blocked`, {
      memberId: input.memberId,
    });
  }
  const [member] = await findMemberRows(tx, programId, [{ id: input.memberId }]);
  if (!member || member instanceof DomainError) throw notFound("member_not_found", input.memberId);
  const campaigns = await loadActiveCampaigns(tx, programId, now);
  const event = {
    trigger: input.type,
    occurredAt,
    timezone: program.timezone,
    currency: program.currency,
    channel: null,
    storeId: null,
    totalMinor: 0,
    lines: [],
    basePoints: 0,
    baseDescription: "",
    member,
    attributes: Object.fromEntries(input.attributes.map((item) => [item.name, item.value])),
  };
  const session = await EarnSession.open(tx, programId, campaigns, [event], {
    lock: true,
    explain: "matched",
  });
  const evaluation = session.evaluate(event);
  const activityId = newId("activity");
  const batch = new WriteBatch(tx);
  const earned =
    evaluation.points > 0
      ? await earnBonus(batch, locked.balance, {
          program,
          memberId: input.memberId,
          points: evaluation.points,
          source: `activity:${input.type}`,
          reason: `${input.type} ${input.externalId}`,
          activityId,
          at: now,
        })
      : null;
  const vouchers: ActivityResult["vouchers"] = [];
  for (const reward of evaluation.rewards) {
    const voucher = await grantReward(batch, {
      programId,
      memberId: input.memberId,
      rewardId: reward.rewardId,
      source: { campaignId: reward.campaignId, activityId },
      at: now,
    });
    vouchers.push({ campaignId: reward.campaignId, rewardId: reward.rewardId, ...voucher });
  }
  await session.addWrites(batch, now);
  const balance = earned?.balance ?? locked.balance;
  const result: ActivityResult = {
    activityId,
    memberId: input.memberId,
    type: input.type,
    externalId: input.externalId,
    occurredAt: occurredAt.toISOString(),
    pointsEarned: evaluation.points,
    expiresAt: earned?.expiresAt?.toISOString() ?? null,
    breakdown: evaluation.breakdown,
    vouchers,
    balance: { pending: balance.pending, available: balance.available, held: balance.held },
    replayed: false,
  };
  batch.insertRow("activities", {
    id: activityId,
    program_id: programId,
    member_id: input.memberId,
    type: input.type,
    external_id: input.externalId,
    occurred_at: occurredAt,
    attributes: JSON.stringify(input.attributes),
    points: evaluation.points,
    entry_id: earned?.entryId ?? null,
    request_hash: requestHash,
    result: JSON.stringify(result),
    created_at: now,
  });
  await emit(batch, {
    programId,
    type: "activity.recorded",
    payload: {
      activityId,
      memberId: input.memberId,
      type: input.type,
      externalId: input.externalId,
      pointsEarned: evaluation.points,
      campaignIds: evaluation.usage.map((item) => item.campaignId),
    },
    at: now,
  });
  await batch.flush();
  return result;
}

/** Whether a member's profile is complete, for the profile_completed activity. */
export function profileComplete(member: {
  name: string | null;
  birthday: string | null;
  city: string | null;
  gender: string | null;
  ageBand: string | null;
}): boolean {
  return [member.name, member.birthday, member.city, member.gender, member.ageBand].every(
    (value) => value !== null,
  );
}

/** Programs already scanned for birthdays on a local date, so a scheduler tick every minute scans once a day. */
const birthdaysDone = new Map<string, string>();
const birthdayPageSize = 200;

/**
 * Fires the birthday activity for members whose birthday is today in their program's timezone,
 * for programs with an active birthday rule. Each member is one transaction; the externalId
 * birthday-YYYY makes a second run (another process, a restart) a no-op.
 */
export async function runBirthdayActivities(ctx: Ctx): Promise<number> {
  const now = ctx.clock.now();
  const programs = await ctx.db.kysely
    .selectFrom("campaigns")
    .select("program_id")
    .distinct()
    .where("status", "=", "active")
    .where(sql<boolean>`definition @> '{"rules":[{"trigger":"birthday"}]}'::jsonb`)
    .execute();
  let fired = 0;
  for (const { program_id: programId } of programs) {
    const program = await getProgram(ctx.db.kysely, programId);
    const today = localTime(now, program.timezone);
    if (birthdaysDone.get(programId) === today.date) continue;
    let after: string | undefined;
    for (;;) {
      // Birthdays are encrypted: the members module selects today's by their blind index.
      const page = await activeMembersBornOn(ctx.db.kysely, programId, birthdaysOn(today.date), {
        limit: birthdayPageSize,
        after,
      });
      for (const memberId of page) {
        const done = await ctx.db.transaction((tx) =>
          recordAutomaticActivity(tx, now, programId, {
            memberId,
            type: "birthday",
            externalId: `birthday-${today.year}`,
          }),
        );
        if (done) fired++;
      }
      if (page.length < birthdayPageSize) break;
      after = page.at(-1);
    }
    birthdaysDone.set(programId, today.date);
  }
  return fired;
}
