import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  batchSizeMax,
  getTransaction,
  listTransactions,
  purchaseResultSchema,
  purchaseSchema,
  recordPurchase,
  recordPurchaseBatch,
  recordRefund,
  refundResultSchema,
  refundSchema,
  transactionSchema,
} from "../../modules/purchases/index.ts";
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

export function registerPurchaseRoutes(app: App, ctx: Ctx): void {
  const tags = ["transactions"];
  app.post(
    "/v1/programs/:programId/transactions",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Record a purchase and earn its points; the same store + receipt again is a replay",
        description:
          "201 with the points earned, their breakdown and the new balance. Sending the same receipt (storeId + externalId) with the same content answers the first result with `replayed: true` (200); with different content it is 409 duplicate_transaction.",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: purchaseSchema,
        response: { 200: purchaseResultSchema, 201: purchaseResultSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await write(ctx, request, reply, 201, (tx) =>
        recordPurchase(tx, ctx, request.params.programId, request.body),
      );
      if (result.replayed) reply.code(200);
      return result;
    },
  );

  app.post(
    "/v1/programs/:programId/transactions/batch",
    {
      config: { access: "pos" },
      schema: {
        summary: `Record up to ${batchSizeMax} purchases in one call (one commit); each item succeeds or fails alone`,
        tags,
        security: secured,
        params: programParams,
        body: z.object({ transactions: z.array(purchaseSchema).min(1).max(batchSizeMax) }).strict(),
        response: {
          200: z.object({
            created: z.number().int(),
            replayed: z.number().int(),
            failed: z.number().int(),
            results: z.array(
              z.object({
                index: z.number().int(),
                status: z.enum(["created", "replayed", "failed"]),
                result: purchaseResultSchema.optional(),
                error: z
                  .object({
                    code: z.string(),
                    message: z.string(),
                    details: z.record(z.string(), z.unknown()).optional(),
                  })
                  .optional(),
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const results = await recordPurchaseBatch(
        ctx,
        request.params.programId,
        request.body.transactions,
      );
      const count = (status: string) => results.filter((item) => item.status === status).length;
      return {
        created: count("created"),
        replayed: count("replayed"),
        failed: count("failed"),
        results,
      };
    },
  );

  app.get(
    "/v1/programs/:programId/transactions",
    {
      config: { access: "read" },
      schema: {
        summary: "List purchases, newest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend({ memberId: z.string().max(64).optional() }),
        response: { 200: pageOf(transactionSchema.omit({ lines: true })), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, memberId } = request.query;
      const rows = await listTransactions(ctx, request.params.programId, {
        memberId,
        limit,
        before: decodeCursor(cursor),
      });
      return page(rows, limit);
    },
  );

  app.get(
    "/v1/programs/:programId/transactions/:transactionId",
    {
      config: { access: "read" },
      schema: {
        summary: "Read a purchase with its lines",
        tags,
        security: secured,
        params: programParams.extend({ transactionId: z.string().max(64) }),
        response: { 200: transactionSchema, ...errorResponses },
      },
    },
    async (request) => getTransaction(ctx, request.params.programId, request.params.transactionId),
  );

  app.post(
    "/v1/programs/:programId/refunds",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Refund all or part of a purchase (by amount or by lines); points are reversed in proportion",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: refundSchema,
        response: { 200: refundResultSchema, 201: refundResultSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await write(ctx, request, reply, 201, (tx) =>
        recordRefund(tx, ctx, request.params.programId, request.body),
      );
      if (result.replayed) reply.code(200);
      return result;
    },
  );
}
