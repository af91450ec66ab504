import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  previewPurchase,
  previewResultSchema,
  purchaseSchema,
} from "../../modules/purchases/index.ts";
import {
  activityInputSchema,
  activityResultSchema,
  activityTypeCreateSchema,
  activityTypeSchema,
  activityTypeUpdateSchema,
  campaignCreateSchema,
  campaignSchema,
  campaignStatuses,
  campaignUpdateSchema,
  campaignVersionSchema,
  createActivityType,
  createCampaign,
  deleteActivityType,
  getCampaign,
  listActivityTypes,
  listCampaigns,
  listCampaignVersions,
  recordActivity,
  registryView,
  updateActivityType,
  updateCampaign,
} from "../../modules/rules/index.ts";
import {
  type App,
  decodeCursor,
  errorResponses,
  idempotencyHeaders,
  page,
  pageOf,
  pageQuery,
  programParams,
  secured,
  write,
} from "../kit.ts";

const campaignParams = programParams.extend({ campaignId: z.string().max(64) });
const typeParams = programParams.extend({ code: z.string().max(40) });
const jsonSchema = z.record(z.string(), z.unknown());

export function registerRulesRoutes(app: App, ctx: Ctx): void {
  const tags = ["rules"];
  const actor = (request: { principal?: { keyId: string } }) => ({
    at: ctx.clock.now(),
    by: request.principal?.keyId ?? null,
  });

  app.get(
    "/v1/rule-registry",
    {
      config: { access: "read" },
      schema: {
        summary:
          "Condition and action types a campaign rule can use, with JSON Schemas of their arguments",
        tags,
        security: secured,
        response: {
          200: z.object({
            conditions: z.array(
              z.object({
                code: z.string(),
                description: z.string(),
                scope: z.enum(["lines", "event"]),
                argsSchema: jsonSchema,
              }),
            ),
            actions: z.array(
              z.object({
                code: z.string(),
                description: z.string(),
                rounding: z.string(),
                argsSchema: jsonSchema,
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async () => registryView(),
  );

  app.post(
    "/v1/programs/:programId/campaigns",
    {
      config: { access: "admin" },
      schema: {
        summary: "Create a campaign (draft unless status is active)",
        description:
          "Rules are checked against GET /v1/rule-registry; a problem answers 400 validation_failed with details.issues[].path such as rules.0.conditions.1.args.days.",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: campaignCreateSchema.extend({ status: z.enum(["draft", "active"]).default("draft") }),
        response: { 201: campaignSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, (tx) =>
        createCampaign(tx, actor(request), request.params.programId, request.body),
      ),
  );

  app.get(
    "/v1/programs/:programId/campaigns",
    {
      config: { access: "read" },
      schema: {
        summary: "List campaigns, oldest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend({ status: z.enum(campaignStatuses).optional() }),
        response: { 200: pageOf(campaignSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, status } = request.query;
      const rows = await listCampaigns(ctx.db.kysely, request.params.programId, {
        status,
        limit,
        after: decodeCursor(cursor),
      });
      return page(rows, limit);
    },
  );

  app.get(
    "/v1/programs/:programId/campaigns/:campaignId",
    {
      config: { access: "read" },
      schema: {
        summary: "Read a campaign with its budget use",
        tags,
        security: secured,
        params: campaignParams,
        response: { 200: campaignSchema, ...errorResponses },
      },
    },
    async (request) =>
      getCampaign(ctx.db.kysely, request.params.programId, request.params.campaignId),
  );

  app.patch(
    "/v1/programs/:programId/campaigns/:campaignId",
    {
      config: { access: "admin" },
      schema: {
        summary: "Change a campaign's definition or status; every change is a new version",
        description:
          "status moves draft → active | ended, active → paused | ended, paused → active | ended; ended is final.",
        tags,
        security: secured,
        params: campaignParams,
        headers: idempotencyHeaders,
        body: campaignUpdateSchema,
        response: { 200: campaignSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        updateCampaign(
          tx,
          actor(request),
          request.params.programId,
          request.params.campaignId,
          request.body,
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/campaigns/:campaignId/versions",
    {
      config: { access: "read" },
      schema: {
        summary: "A campaign's versions, newest first: full definition, who and when",
        tags,
        security: secured,
        params: campaignParams,
        querystring: z.object({
          limit: pageQuery.shape.limit,
          before: z.coerce.number().int().min(1).optional().describe("Versions before this one"),
        }),
        response: { 200: z.object({ data: z.array(campaignVersionSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      data: await listCampaignVersions(
        ctx.db.kysely,
        request.params.programId,
        request.params.campaignId,
        request.query,
      ),
    }),
  );

  app.get(
    "/v1/programs/:programId/activity-types",
    {
      config: { access: "read" },
      schema: {
        summary: "Activity types: the built-in ones and the program's custom ones",
        tags,
        security: secured,
        params: programParams,
        response: { 200: z.object({ data: z.array(activityTypeSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      data: await listActivityTypes(ctx.db.kysely, request.params.programId),
    }),
  );

  app.post(
    "/v1/programs/:programId/activity-types",
    {
      config: { access: "admin" },
      schema: {
        summary: "Define a custom activity type (e.g. bring_own_bag)",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: activityTypeCreateSchema,
        response: { 201: activityTypeSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, (tx) =>
        createActivityType(tx, ctx.clock.now(), request.params.programId, request.body),
      ),
  );

  app.patch(
    "/v1/programs/:programId/activity-types/:code",
    {
      config: { access: "admin" },
      schema: {
        summary: "Rename or describe a custom activity type",
        tags,
        security: secured,
        params: typeParams,
        headers: idempotencyHeaders,
        body: activityTypeUpdateSchema,
        response: { 200: activityTypeSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        updateActivityType(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.code,
          request.body,
        ),
      ),
  );

  app.delete(
    "/v1/programs/:programId/activity-types/:code",
    {
      config: { access: "admin" },
      schema: {
        summary: "Remove a custom activity type; rules naming it stop firing",
        tags,
        security: secured,
        params: typeParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await ctx.db.transaction((tx) =>
        deleteActivityType(tx, request.params.programId, request.params.code),
      );
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/programs/:programId/activities",
    {
      config: { access: "pos" },
      schema: {
        summary: "Record a member's activity (review, survey, share, custom …) and earn its points",
        description:
          "201 with the points, their breakdown and the balance. The same memberId + type + externalId again answers the first result with replayed: true (200); with different content it is 409 duplicate_activity.",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: activityInputSchema,
        response: { 200: activityResultSchema, 201: activityResultSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await write(ctx, request, reply, 201, (tx) =>
        recordActivity(tx, ctx, request.params.programId, request.body),
      );
      if (result.replayed) reply.code(200);
      return result;
    },
  );

  app.post(
    "/v1/programs/:programId/transactions/preview",
    {
      config: { access: "pos" },
      schema: {
        summary: "How many points would this purchase earn? Writes nothing",
        description:
          "Same body as POST …/transactions; answers the points and breakdown the real earn would give now, with every campaign's explanation. Without `member`: an estimate for a member with no tier, tags or history.",
        tags: ["transactions", ...tags],
        security: secured,
        params: programParams,
        body: purchaseSchema,
        response: { 200: previewResultSchema, ...errorResponses },
      },
    },
    async (request) =>
      previewPurchase(ctx.db.kysely, ctx.clock.now(), request.params.programId, request.body),
  );
}
