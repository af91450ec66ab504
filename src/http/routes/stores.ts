import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  createStore,
  figuresDaysMax,
  getStore,
  listStores,
  storeChannels,
  storeCodeLengthMax,
  storeCreateSchema,
  storeFigures,
  storeSchema,
  storeStatuses,
  storeUpdateSchema,
  storeView,
  unregisteredStoreSchema,
  unregisteredStores,
  updateStore,
} from "../../modules/stores/index.ts";
import {
  type App,
  encodeCursor,
  errorResponses,
  idempotencyHeaders,
  pageOf,
  pageQuery,
  programParams,
  secured,
  write,
} from "../kit.ts";

const storeParams = programParams.extend({
  code: z.string().max(storeCodeLengthMax).describe("The store's code, URL-encoded"),
});
const figuresQuery = z.object({
  days: z.coerce
    .number()
    .int()
    .min(1)
    .max(figuresDaysMax)
    .default(30)
    .describe("Window of the figures in days"),
});
const listQuery = pageQuery.extend(figuresQuery.shape).extend({
  q: z.string().trim().max(120).optional().describe("Part of the code, name or city"),
  status: z.enum(storeStatuses).optional(),
  channel: z.enum(storeChannels).optional(),
  figures: z
    .enum(["true", "false"])
    .default("true")
    .describe("false: leave the figures out (a till needs only the names)"),
});
const createdSchema = storeSchema.extend({
  replayed: z.boolean().describe("true: this code was already registered with the same details"),
});

/** Store codes are the cursor: the last code of the page. */
function decodeCodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const code = Buffer.from(cursor, "base64url").toString("utf8");
  if (code === "" || code.length > storeCodeLengthMax) {
    throw new DomainError("validation_failed", "cursor is not valid", { field: "cursor" });
  }
  return code;
}

function nextCursor(codes: string[], limit: number): string | null {
  const last = codes.at(-1);
  return codes.length === limit && last !== undefined ? encodeCursor(last) : null;
}

/** A cashier reads only its own stores; everyone else who may read reads them all. */
function cashierStores(request: FastifyRequest): string[] | undefined {
  return request.staff?.role === "cashier" ? request.staff.storeIds : undefined;
}

export function registerStoreRoutes(app: App, ctx: Ctx): void {
  const tags = ["stores"];

  app.post(
    "/v1/programs/:programId/stores",
    {
      config: { access: "admin", area: "settings" },
      schema: {
        summary: "Register a store under the code its purchases carry as storeId",
        description:
          "201 with the store. The same code with the same details again answers the store with replayed: true (200); with other details it is 409 store_exists.",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: storeCreateSchema,
        response: { 200: createdSchema, 201: createdSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await write(ctx, request, reply, 201, async (tx) => {
        const { store, created } = await createStore(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.body,
        );
        return { ...storeView(store), replayed: !created };
      });
      if (result.replayed) reply.code(200);
      return result;
    },
  );

  app.get(
    "/v1/programs/:programId/stores",
    {
      // The till reads it too: a cashier gets only its own stores.
      config: { access: "read", area: "pos" },
      schema: {
        summary: "Stores in code order, with their figures over the last days",
        tags,
        security: secured,
        params: programParams,
        querystring: listQuery,
        response: { 200: pageOf(storeSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { limit, cursor, q, status, channel, days } = request.query;
      const program = await getProgram(ctx.db.kysely, programId);
      const rows = await listStores(ctx.db.kysely, programId, {
        limit,
        after: decodeCodeCursor(cursor),
        search: q || undefined,
        status,
        channel,
        codes: cashierStores(request),
      });
      const codes = rows.map((row) => row.code);
      const figures =
        request.query.figures === "true"
          ? await storeFigures(ctx.db.kysely, program, codes, days, ctx.clock.now())
          : undefined;
      return {
        data: rows.map((row) => storeView(row, figures?.get(row.code))),
        nextCursor: nextCursor(codes, limit),
      };
    },
  );

  app.get(
    "/v1/programs/:programId/stores/:code",
    {
      config: { access: "read", area: "pos" },
      schema: {
        summary: "A store with its figures",
        tags,
        security: secured,
        params: storeParams,
        querystring: figuresQuery,
        response: { 200: storeSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId, code } = request.params;
      if (cashierStores(request)?.includes(code) === false) {
        throw new DomainError("forbidden", "this cashier is not assigned to that store", {
          storeId: code,
        });
      }
      const program = await getProgram(ctx.db.kysely, programId);
      const row = await getStore(ctx.db.kysely, programId, code);
      const figures = await storeFigures(
        ctx.db.kysely,
        program,
        [code],
        request.query.days,
        ctx.clock.now(),
      );
      return storeView(row, figures.get(code));
    },
  );

  app.patch(
    "/v1/programs/:programId/stores/:code",
    {
      config: { access: "admin", area: "settings" },
      schema: {
        summary: "Change a store: name, city, address, time zone, channel, or close/reopen it",
        description:
          'Only the fields named change. `status: "closed"` is how a store is removed: its purchases stay, new ones are refused (409 store_closed).',
        tags,
        security: secured,
        params: storeParams,
        headers: idempotencyHeaders,
        body: storeUpdateSchema,
        response: { 200: storeSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        storeView(
          await updateStore(
            tx,
            ctx.clock.now(),
            request.params.programId,
            request.params.code,
            request.body,
          ),
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/unregistered-stores",
    {
      config: { access: "read", area: "settings" },
      schema: {
        summary: "Store codes purchases carry that are not registered, with their figures",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend(figuresQuery.shape),
        response: { 200: pageOf(unregisteredStoreSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, days } = request.query;
      const program = await getProgram(ctx.db.kysely, request.params.programId);
      const data = await unregisteredStores(ctx.db.kysely, program, {
        limit,
        after: decodeCodeCursor(cursor),
        days,
        now: ctx.clock.now(),
      });
      return {
        data,
        nextCursor: nextCursor(
          data.map((item) => item.code),
          limit,
        ),
      };
    },
  );
}
