import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  assertEndpoint,
  assertUrlAllowed,
  createEndpoint,
  defaultWebhookSettings,
  deleteEndpoint,
  deliverySchema,
  endpointCreateSchema,
  endpointSchema,
  endpointUpdateSchema,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  parseEndpointUrl,
  replay,
  replaySchema,
  rotateSecret,
  secretRotateSchema,
  updateEndpoint,
} from "../../modules/webhooks/index.ts";
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

const endpointParams = programParams.extend({ endpointId: z.string().max(64) });
const withSecret = z.object({
  endpoint: endpointSchema,
  secret: z.string().describe("whsec_… signing secret; shown only in this response"),
});

export function registerWebhookRoutes(app: App, ctx: Ctx): void {
  const tags = ["webhooks"];
  const base = "/v1/programs/:programId/webhook-endpoints";
  /** The URL's form, then its host's addresses (DNS), before any transaction opens. */
  const checkUrl = async (value: string | undefined) => {
    if (value === undefined) return;
    await assertUrlAllowed(ctx.webhooks ?? defaultWebhookSettings, parseEndpointUrl(value));
  };

  app.post(
    base,
    {
      config: { access: "admin" },
      schema: {
        summary: "Add a webhook endpoint; its signing secret is shown only in this response",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: endpointCreateSchema,
        response: { 201: withSecret, ...errorResponses },
      },
    },
    async (request, reply) => {
      await checkUrl(request.body.url);
      return write(ctx, request, reply, 201, (tx) =>
        createEndpoint(tx, ctx.clock.now(), request.params.programId, request.body),
      );
    },
  );

  app.get(
    base,
    {
      config: { access: "admin" },
      schema: {
        summary: "List the program's webhook endpoints (never their secrets)",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(endpointSchema), ...errorResponses },
      },
    },
    async (request) => {
      const rows = await listEndpoints(ctx.db.kysely, ctx.clock.now(), request.params.programId, {
        limit: request.query.limit,
        after: decodeCursor(request.query.cursor),
      });
      return page(rows, request.query.limit);
    },
  );

  app.get(
    `${base}/:endpointId`,
    {
      config: { access: "admin" },
      schema: {
        summary: "One webhook endpoint",
        tags,
        security: secured,
        params: endpointParams,
        response: { 200: endpointSchema, ...errorResponses },
      },
    },
    async (request) =>
      getEndpoint(
        ctx.db.kysely,
        ctx.clock.now(),
        request.params.programId,
        request.params.endpointId,
      ),
  );

  app.patch(
    `${base}/:endpointId`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Change the URL, description or event filters; enable or pause deliveries",
        tags,
        security: secured,
        params: endpointParams,
        headers: idempotencyHeaders,
        body: endpointUpdateSchema,
        response: { 200: endpointSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      await checkUrl(request.body.url);
      const { programId, endpointId } = request.params;
      return write(ctx, request, reply, 200, (tx) =>
        updateEndpoint(tx, ctx.clock.now(), programId, endpointId, request.body),
      );
    },
  );

  app.delete(
    `${base}/:endpointId`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Delete an endpoint with its queued messages and delivery log",
        tags,
        security: secured,
        params: endpointParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, endpointId } = request.params;
      await ctx.db.transaction((tx) => deleteEndpoint(tx, ctx.clock.now(), programId, endpointId));
      reply.code(204);
      return null;
    },
  );

  app.post(
    `${base}/:endpointId/rotate-secret`,
    {
      config: { access: "admin" },
      schema: {
        summary: "New signing secret (shown once); the previous one keeps signing too for a while",
        tags,
        security: secured,
        params: endpointParams,
        headers: idempotencyHeaders,
        body: secretRotateSchema,
        response: { 200: withSecret, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, endpointId } = request.params;
      return write(ctx, request, reply, 200, (tx) =>
        rotateSecret(
          tx,
          ctx.clock.now(),
          programId,
          endpointId,
          request.body.previousSecretValidSeconds,
        ),
      );
    },
  );

  app.get(
    `${base}/:endpointId/deliveries`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Delivery attempts, newest first: status, duration, the start of the answer",
        tags,
        security: secured,
        params: endpointParams,
        querystring: pageQuery.extend({ messageId: z.string().max(64).optional() }),
        response: { 200: pageOf(deliverySchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId, endpointId } = request.params;
      await assertEndpoint(ctx.db.kysely, programId, endpointId);
      const rows = await listDeliveries(ctx.db.kysely, endpointId, {
        limit: request.query.limit,
        before: decodeCursor(request.query.cursor),
        messageId: request.query.messageId,
      });
      return page(rows, request.query.limit);
    },
  );

  app.post(
    `${base}/:endpointId/replay`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Send one message again, or every matching event of a time range",
        tags,
        security: secured,
        params: endpointParams,
        headers: idempotencyHeaders,
        body: replaySchema,
        response: { 202: z.object({ messagesQueued: z.number().int() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, endpointId } = request.params;
      return write(ctx, request, reply, 202, async (tx) => {
        const endpoint = await assertEndpoint(tx, programId, endpointId);
        return replay(tx, ctx.clock.now(), endpoint, request.body);
      });
    },
  );
}
