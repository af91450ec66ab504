import { sql } from "kysely";
import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import type {
  VelocityAction,
  VelocityBlocksTable,
  VelocityRulesTable,
  VelocityScope,
} from "../audit/tables.ts";
import { lockBalances, pointsMax } from "../ledger/index.ts";

export const velocityActions = ["redeem", "transfer", "referral", "signup_bonus"] as const;
export const velocityScopes = ["member", "device", "ip"] as const;
export const rulesPerProgramMax = 50;

const unitSeconds = { minutes: 60, hours: 3_600, days: 86_400 } as const;
type WindowUnit = keyof typeof unitSeconds;

export const velocityRuleInputSchema = z
  .object({
    action: z.enum(velocityActions),
    scope: z
      .enum(velocityScopes)
      .default("member")
      .describe("Whose attempts are counted: the member's, one device's or one IP address's"),
    countMax: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe("Most attempts per window"),
    pointsMax: z.number().int().min(1).max(pointsMax).optional().describe("Most points per window"),
    window: z
      .object({
        amount: z.number().int().min(1).max(366),
        unit: z.enum(["minutes", "hours", "days"]),
      })
      .strict()
      .refine((window) => window.amount * unitSeconds[window.unit] <= 366 * 86_400, {
        message: "window is at most 366 days",
      })
      .refine((window) => window.amount * unitSeconds[window.unit] >= 60, {
        message: "window is at least 1 minute",
      }),
  })
  .strict()
  .refine((rule) => rule.countMax !== undefined || rule.pointsMax !== undefined, {
    message: "a rule needs countMax, pointsMax or both",
  });
export type VelocityRuleInput = z.infer<typeof velocityRuleInputSchema>;

export const velocityRuleSchema = z
  .object({
    id: z.string(),
    action: z.enum(velocityActions),
    scope: z.enum(velocityScopes),
    countMax: z.number().int().nullable(),
    pointsMax: z.number().int().nullable(),
    window: z.object({ amount: z.number().int(), unit: z.enum(["minutes", "hours", "days"]) }),
    createdAt: z.string(),
  })
  .meta({ id: "VelocityRule" });
export type VelocityRuleView = z.infer<typeof velocityRuleSchema>;

function windowOf(seconds: number): { amount: number; unit: WindowUnit } {
  for (const unit of ["days", "hours", "minutes"] as const) {
    if (seconds % unitSeconds[unit] === 0) return { amount: seconds / unitSeconds[unit], unit };
  }
  return { amount: Math.ceil(seconds / 60), unit: "minutes" };
}

function ruleView(row: VelocityRulesTable): VelocityRuleView {
  return {
    id: row.id,
    action: row.action,
    scope: row.scope,
    countMax: row.count_max,
    pointsMax: row.points_max === null ? null : Number(row.points_max),
    window: windowOf(row.window_seconds),
    createdAt: row.created_at.toISOString(),
  };
}

export async function listVelocityRules(
  db: Tx | Queryable,
  programId: string,
): Promise<VelocityRuleView[]> {
  const rows = await db
    .selectFrom("velocity_rules")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .execute();
  return rows.map(ruleView);
}

/** Replaces the program's whole rule set (an empty list removes every limit). */
export async function replaceVelocityRules(
  tx: Tx,
  programId: string,
  rules: VelocityRuleInput[],
  at: Date,
): Promise<VelocityRuleView[]> {
  if (rules.length > rulesPerProgramMax) {
    throw new DomainError("validation_failed", `at most ${rulesPerProgramMax} velocity rules`, {
      field: "rules",
    });
  }
  // Serialises two replacements of one program's rules.
  await tx.selectFrom("programs").select("id").where("id", "=", programId).forUpdate().execute();
  await tx.deleteFrom("velocity_rules").where("program_id", "=", programId).execute();
  if (rules.length > 0) {
    await tx
      .insertInto("velocity_rules")
      .values(
        rules.map((rule) => ({
          id: newId("velocityRule"),
          program_id: programId,
          action: rule.action,
          scope: rule.scope,
          count_max: rule.countMax ?? null,
          points_max: rule.pointsMax ?? null,
          window_seconds: rule.window.amount * unitSeconds[rule.window.unit],
          created_at: at,
        })),
      )
      .execute();
  }
  return listVelocityRules(tx, programId);
}

export interface VelocityInput {
  programId: string;
  memberId: string;
  action: VelocityAction;
  /** Points the action moves; 0 when it moves none (counted by count limits only). */
  points: number;
  at: Date;
  deviceId?: string | null | undefined;
  ip?: string | null | undefined;
  /** Other members the action locks (a transfer's receiver), locked with the member in id order. */
  alsoLocks?: string[];
}

export type BlockedAttempt = Omit<VelocityBlocksTable, "id" | "request_id" | "created_at"> & {
  at: Date;
};

/** A refused attempt: the action's transaction rolls back, then the attempt is recorded apart. */
export class VelocityLimitedError extends DomainError {
  constructor(readonly attempt: BlockedAttempt) {
    super(
      "velocity_limited",
      `${attempt.action.replace("_", " ")} limit reached for this ${attempt.scope}; try again later`,
      {
        ruleId: attempt.rule_id,
        action: attempt.action,
        scope: attempt.scope,
        countInWindow: attempt.count_in_window,
        pointsInWindow: attempt.points_in_window,
      },
    );
  }
}

function scopeValue(input: VelocityInput, scope: VelocityScope): string | null {
  if (scope === "member") return input.memberId;
  return (scope === "device" ? input.deviceId : input.ip) ?? null;
}

/**
 * Checks the program's velocity rules for an action in the action's own transaction, and counts
 * the attempt when it passes. Runs under the member's lock (taken here, first, in id order with
 * `alsoLocks`), then one advisory lock per device or IP value, so parallel attempts are counted
 * one after the other and never pass a limit together. A program without rules for the action
 * costs one read and writes nothing. Throws VelocityLimitedError when a rule would be exceeded.
 */
export async function checkVelocity(tx: Tx, input: VelocityInput): Promise<void> {
  const refused = await attempt(tx, input);
  if (refused) throw new VelocityLimitedError(refused);
}

/**
 * The same check for work that goes on without the limited part (a referral bonus granted by a
 * purchase or a job): a refused attempt is recorded in the caller's transaction, which commits,
 * and its id is answered; null when the attempt passed (and was counted).
 */
export async function velocityBlocked(tx: Tx, input: VelocityInput): Promise<string | null> {
  const refused = await attempt(tx, input);
  return refused ? recordBlockedAttempt(tx, refused, null) : null;
}

async function attempt(tx: Tx, input: VelocityInput): Promise<BlockedAttempt | null> {
  const rules = await tx
    .selectFrom("velocity_rules")
    .selectAll()
    .where("program_id", "=", input.programId)
    .where("action", "=", input.action)
    .orderBy("id")
    .execute();
  if (rules.length === 0) return null;
  await lockBalances(tx, input.programId, [input.memberId, ...(input.alsoLocks ?? [])]);
  const sharedKeys = [
    ...new Set(
      rules
        .filter((rule) => rule.scope !== "member" && scopeValue(input, rule.scope) !== null)
        .map(
          (rule) =>
            `velocity ${input.programId} ${input.action} ${rule.scope} ${scopeValue(input, rule.scope)}`,
        ),
    ),
  ].sort();
  for (const key of sharedKeys)
    await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(tx);

  for (const rule of rules) {
    const value = scopeValue(input, rule.scope);
    if (value === null) continue;
    const column =
      rule.scope === "member" ? "member_id" : rule.scope === "device" ? "device_id" : "ip";
    const since = new Date(input.at.getTime() - rule.window_seconds * 1000);
    const used = await tx
      .selectFrom("velocity_events")
      .select([
        sql<number>`count(*)::int`.as("count"),
        sql<number>`coalesce(sum(points), 0)::bigint`.as("points"),
      ])
      .where("program_id", "=", input.programId)
      .where("action", "=", input.action)
      .where(column, "=", value)
      .where("occurred_at", ">", since)
      .executeTakeFirstOrThrow();
    const count = Number(used.count);
    const points = Number(used.points);
    const overCount = rule.count_max !== null && count + 1 > rule.count_max;
    const overPoints = rule.points_max !== null && points + input.points > Number(rule.points_max);
    if (overCount || overPoints) {
      return {
        program_id: input.programId,
        rule_id: rule.id,
        action: input.action,
        scope: rule.scope,
        member_id: input.memberId,
        device_id: input.deviceId ?? null,
        ip: input.ip ?? null,
        points: input.points,
        count_in_window: count,
        points_in_window: points,
        at: input.at,
      };
    }
  }
  await tx
    .insertInto("velocity_events")
    .values({
      program_id: input.programId,
      action: input.action,
      member_id: input.memberId,
      device_id: input.deviceId ?? null,
      ip: input.ip ?? null,
      points: input.points,
      occurred_at: input.at,
    })
    .execute();
  return null;
}

/** Stores a refused attempt, in its own transaction (the refused one rolled back). */
export async function recordBlockedAttempt(
  db: Tx | Queryable,
  attempt: BlockedAttempt,
  requestId: string | null,
): Promise<string> {
  const { at, ...columns } = attempt;
  const id = newId("velocityBlock");
  await db
    .insertInto("velocity_blocks")
    .values({ ...columns, id, request_id: requestId, created_at: at })
    .execute();
  return id;
}

export const velocityBlockSchema = z
  .object({
    id: z.string(),
    ruleId: z.string(),
    action: z.enum(velocityActions),
    scope: z.enum(velocityScopes),
    memberId: z.string(),
    deviceId: z.string().nullable(),
    ip: z.string().nullable(),
    points: z.number().int(),
    countInWindow: z.number().int(),
    pointsInWindow: z.number().int(),
    requestId: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "VelocityBlock" });

export async function listVelocityBlocks(
  db: Queryable,
  programId: string,
  options: { limit: number; before?: string | undefined; memberId?: string | undefined },
) {
  let query = db
    .selectFrom("velocity_blocks")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id", "desc")
    .limit(options.limit);
  if (options.before) query = query.where("id", "<", options.before);
  if (options.memberId) query = query.where("member_id", "=", options.memberId);
  const rows = await query.execute();
  return rows.map((row) => ({
    id: row.id,
    ruleId: row.rule_id,
    action: row.action,
    scope: row.scope,
    memberId: row.member_id,
    deviceId: row.device_id,
    ip: row.ip,
    points: Number(row.points),
    countInWindow: row.count_in_window,
    pointsInWindow: Number(row.points_in_window),
    requestId: row.request_id,
    createdAt: row.created_at.toISOString(),
  }));
}
