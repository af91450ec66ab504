import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  adjustmentPolicySchema,
  adjustmentRequestSchema,
  decideAdjustment,
  getAdjustmentPolicy,
  getAdjustmentRequest,
  listAdjustmentRequests,
  listVelocityBlocks,
  listVelocityRules,
  recordBlockedAttempt,
  replaceVelocityRules,
  rulesPerProgramMax,
  setAdjustmentPolicy,
  VelocityLimitedError,
  velocityBlockSchema,
  velocityRuleInputSchema,
  velocityRuleSchema,
} from "../../modules/abuse/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
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

/** Where an attempt comes from, for device and IP velocity rules. */
export function attemptSource(request: FastifyRequest): { deviceId: string | null; ip: string } {
  const device = request.headers["x-device-id"];
  return {
    deviceId: typeof device === "string" && device !== "" ? device.slice(0, 200) : null,
    ip: request.ip,
  };
}

const rulesBody = z
  .object({ rules: z.array(velocityRuleInputSchema).max(rulesPerProgramMax) })
  .strict();
const rulesResponse = z.object({ rules: z.array(velocityRuleSchema) });
const requestParams = programParams.extend({ requestId: z.string().max(64) });

export function registerAbuseRoutes(app: App, ctx: Ctx): void {
  const tags = ["abuse limits"];

  // A refused attempt rolled back with its action; it is recorded here, on its own, for staff.
  app.addHook("onError", async (request, _reply, error) => {
    if (!(error instanceof VelocityLimitedError)) return;
    try {
      await recordBlockedAttempt(ctx.db.kysely, error.attempt, request.id);
    } catch (failure) {
      request.log.error({ err: failure }, "could not record a blocked attempt");
    }
  });

  app.get(
    "/v1/programs/:programId/velocity-rules",
    {
      config: { access: "admin" },
      schema: {
        summary:
          "The program's velocity rules (limits on redeem, transfer, referral, signup bonus)",
        tags,
        security: secured,
        params: programParams,
        response: { 200: rulesResponse, ...errorResponses },
      },
    },
    async (request) => {
      await getProgram(ctx.db.kysely, request.params.programId);
      return { rules: await listVelocityRules(ctx.db.kysely, request.params.programId) };
    },
  );

  app.put(
    "/v1/programs/:programId/velocity-rules",
    {
      config: { access: "admin" },
      schema: {
        summary: "Replace the program's velocity rules (an empty list removes every limit)",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: rulesBody,
        response: { 200: rulesResponse, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) => ({
        rules: await replaceVelocityRules(
          tx,
          request.params.programId,
          request.body.rules,
          ctx.clock.now(),
        ),
      })),
  );

  app.get(
    "/v1/programs/:programId/velocity-blocks",
    {
      config: { access: "read" },
      schema: {
        summary: "Attempts refused by a velocity rule, newest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend({ memberId: z.string().max(64).optional() }),
        response: { 200: pageOf(velocityBlockSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, memberId } = request.query;
      return page(
        await listVelocityBlocks(ctx.db.kysely, request.params.programId, {
          limit,
          before: decodeCursor(cursor),
          memberId,
        }),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/adjustment-policy",
    {
      config: { access: "admin" },
      schema: {
        summary: "Threshold above which a manual adjustment needs a second admin",
        tags,
        security: secured,
        params: programParams,
        response: { 200: adjustmentPolicySchema, ...errorResponses },
      },
    },
    async (request) => {
      await getProgram(ctx.db.kysely, request.params.programId);
      return getAdjustmentPolicy(ctx.db.kysely, request.params.programId);
    },
  );

  app.put(
    "/v1/programs/:programId/adjustment-policy",
    {
      config: { access: "admin" },
      schema: {
        summary: "Set the threshold above which a manual adjustment needs a second admin",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: adjustmentPolicySchema,
        response: { 200: adjustmentPolicySchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        setAdjustmentPolicy(tx, request.params.programId, request.body, ctx.clock.now()),
      ),
  );

  app.get(
    "/v1/programs/:programId/adjustment-requests",
    {
      config: { access: "admin" },
      schema: {
        summary: "Adjustments waiting for (or decided by) a second admin, newest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend({
          state: z.enum(["pending", "approved", "rejected"]).optional(),
        }),
        response: { 200: pageOf(adjustmentRequestSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, state } = request.query;
      return page(
        await listAdjustmentRequests(ctx.db.kysely, request.params.programId, {
          limit,
          before: decodeCursor(cursor),
          state,
        }),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/adjustment-requests/:requestId",
    {
      config: { access: "admin" },
      schema: {
        summary: "Read an adjustment request",
        tags,
        security: secured,
        params: requestParams,
        response: { 200: adjustmentRequestSchema, ...errorResponses },
      },
    },
    async (request) =>
      getAdjustmentRequest(ctx.db.kysely, request.params.programId, request.params.requestId),
  );

  for (const [verb, decision] of [
    ["approve", "approved"],
    ["reject", "rejected"],
  ] as const) {
    app.post(
      `/v1/programs/:programId/adjustment-requests/:requestId/${verb}`,
      {
        config: { access: "admin" },
        schema: {
          summary:
            verb === "approve"
              ? "Approve an adjustment: it is posted once; the requesting key cannot approve"
              : "Reject (or, by its requester, withdraw) an adjustment request",
          tags,
          security: secured,
          params: requestParams,
          headers: idempotencyHeaders,
          body: z
            .object({ note: z.string().trim().min(1).max(500).optional() })
            .strict()
            .optional(),
          response: { 200: adjustmentRequestSchema, ...errorResponses },
        },
      },
      async (request, reply) =>
        write(ctx, request, reply, 200, (tx) =>
          decideAdjustment(tx, {
            ...request.params,
            decision,
            decidedBy: request.principal?.keyId ?? "",
            note: request.body?.note,
            at: ctx.clock.now(),
          }),
        ),
    );
  }
}
