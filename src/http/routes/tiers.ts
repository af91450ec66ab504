import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  forgetLadder,
  grantTier,
  ladderInputSchema,
  listLadderVersions,
  memberTierView,
  requireLadder,
  saveLadder,
  type TierLadder,
  tierMetrics,
} from "../../modules/tiers/index.ts";
import type { App } from "../kit.ts";
import {
  errorResponses,
  idempotencyHeaders,
  pageQuery,
  programParams,
  secured,
  write,
} from "../kit.ts";
import { memberParams } from "./members.ts";

const localized = z.object({ id: z.string(), en: z.string() });

const tierSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    rank: z.number().int(),
    names: localized,
    threshold: z.number().int(),
    benefits: z.object({
      earnMultiplierPercent: z.number().int(),
      perks: z.array(localized),
      freeShipping: z.boolean(),
    }),
  })
  .meta({ id: "Tier" });

const ladderSchema = z
  .object({
    programId: z.string(),
    version: z.number().int(),
    qualification: z.object({
      metric: z.enum(tierMetrics),
      window: z.discriminatedUnion("kind", [
        z.object({ kind: z.literal("rolling_months"), months: z.number().int() }),
        z.object({ kind: z.literal("calendar_year") }),
      ]),
    }),
    gracePeriodDays: z.number().int(),
    lowestTierAutomatic: z.boolean(),
    tiers: z.array(tierSchema).describe("By rank, lowest first"),
  })
  .meta({ id: "TierLadder" });

const ladderVersionSchema = ladderSchema
  .extend({ createdAt: z.string().describe("When this version was saved") })
  .meta({ id: "TierLadderVersion" });

export const memberTierSchema = z
  .object({
    memberId: z.string(),
    ladderVersion: z.number().int(),
    metric: z.enum(tierMetrics),
    tier: tierSchema.nullable(),
    since: z.string().nullable(),
    metricValue: z
      .number()
      .int()
      .describe("Metric in the current window: points, spend in minor units, or visits"),
    window: z.object({ from: z.string(), to: z.string().nullable() }),
    nextTier: z
      .object({ tier: tierSchema, threshold: z.number().int(), missing: z.number().int() })
      .nullable()
      .describe("The next tier up and how much of the metric is still missing"),
    keepTier: z
      .object({ needed: z.number().int(), by: z.string() })
      .nullable()
      .describe("What is still needed by the period end to keep the tier at the review"),
    periodEnd: z.string().nullable(),
    reviewAt: z.string().nullable().describe("Period end + grace: when a downgrade can happen"),
    history: z.array(
      z.object({
        id: z.string(),
        fromTier: z.string().nullable(),
        toTier: z.string().nullable(),
        reason: z.enum(["threshold_crossed", "period_end_downgrade", "manual", "reward"]),
        note: z.string().nullable(),
        metricValue: z.number().int().nullable(),
        at: z.string(),
      }),
    ),
  })
  .meta({ id: "MemberTier" });

const tierSetSchema = z
  .object({
    tierCode: z.string().max(32),
    until: z.iso
      .datetime({ offset: true })
      .optional()
      .describe("Held until this date, then reviewed; default one full period"),
    reason: z.string().trim().min(1).max(500),
  })
  .strict();

function ladderView(programId: string, ladder: TierLadder) {
  return {
    programId,
    version: ladder.version,
    qualification: { metric: ladder.metric, window: ladder.window },
    gracePeriodDays: ladder.gracePeriodDays,
    lowestTierAutomatic: ladder.lowestTierAutomatic,
    tiers: ladder.tiers,
  };
}

export function registerTierRoutes(app: App, ctx: Ctx): void {
  const tags = ["tiers"];
  const ladderPath = "/v1/programs/:programId/tier-ladder";

  app.put(
    ladderPath,
    {
      config: { access: "admin" },
      schema: {
        summary: "Save the tier ladder: a new version; earlier versions are kept",
        description:
          "Tiers by code, rank (1 = lowest), localized names, threshold (points, spend in minor units or visits within the window) and benefits. Thresholds must rise with rank, codes and ranks be unique, at most 10 tiers. A tier that members hold cannot be dropped (409 tier_in_use).",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: ladderInputSchema,
        response: { 200: ladderSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId } = request.params;
      const ladder = await write(ctx, request, reply, 200, async (tx) =>
        ladderView(programId, await saveLadder(tx, programId, request.body, ctx.clock.now())),
      );
      forgetLadder(programId);
      return ladder;
    },
  );

  app.get(
    ladderPath,
    {
      config: { access: "read" },
      schema: {
        summary: "The tier ladder in force, or an earlier version",
        tags,
        security: secured,
        params: programParams,
        querystring: z.object({ version: z.coerce.number().int().min(1).optional() }),
        response: { 200: ladderSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const program = await getProgram(ctx.db.kysely, programId);
      return ladderView(
        programId,
        await requireLadder(ctx.db.kysely, program, request.query.version),
      );
    },
  );

  app.get(
    `${ladderPath}/versions`,
    {
      config: { access: "read" },
      schema: {
        summary: "Every saved version of the tier ladder, newest first",
        tags,
        security: secured,
        params: programParams,
        querystring: z.object({
          limit: pageQuery.shape.limit,
          cursor: z
            .string()
            .regex(/^[1-9][0-9]{0,8}$/, "nextCursor of the previous page")
            .optional()
            .describe("nextCursor of the previous page"),
        }),
        response: {
          200: z.object({ data: z.array(ladderVersionSchema), nextCursor: z.string().nullable() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { limit, cursor } = request.query;
      const program = await getProgram(ctx.db.kysely, programId);
      const versions = await listLadderVersions(ctx.db.kysely, program, {
        limit,
        before: cursor === undefined ? undefined : Number(cursor),
      });
      const last = versions.at(-1);
      return {
        data: versions.map((ladder) => ({
          ...ladderView(programId, ladder),
          createdAt: ladder.createdAt.toISOString(),
        })),
        nextCursor: versions.length === limit && last ? String(last.version) : null,
      };
    },
  );

  const memberTierPath = "/v1/programs/:programId/members/:memberId/tier";

  app.get(
    memberTierPath,
    {
      config: { access: "read" },
      schema: {
        summary: "A member's tier, progress to the next tier, what keeps it, and its history",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: memberTierSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId, memberId } = request.params;
      return memberTierView(ctx.db.kysely, programId, memberId, ctx.clock.now());
    },
  );

  app.post(
    memberTierPath,
    {
      config: { access: "admin" },
      schema: {
        summary: "Set a member's tier by hand (with a reason); reviewed at its period end",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: tierSetSchema,
        response: { 200: memberTierSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, memberId } = request.params;
      const body = request.body;
      return write(ctx, request, reply, 200, async (tx) => {
        const at = ctx.clock.now();
        const program = await getProgram(tx, programId);
        const ladder = await requireLadder(tx, program);
        const tier = ladder.tiers.find((candidate) => candidate.code === body.tierCode);
        if (!tier) {
          throw new DomainError("tier_not_found", `tier ${body.tierCode} is not on the ladder`, {
            field: "tierCode",
            code: body.tierCode,
          });
        }
        await grantTier(tx, {
          programId,
          memberId,
          tierId: tier.id,
          until: body.until ? new Date(body.until) : null,
          reason: body.reason,
          at,
          kind: "manual",
        });
        return memberTierView(tx, programId, memberId, at);
      });
    },
  );
}
