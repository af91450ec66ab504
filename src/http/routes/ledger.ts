import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { notFound } from "../../lib/errors.ts";
import {
  adjustmentRequestSchema,
  checkVelocity,
  needsApproval,
  requestAdjustment,
} from "../../modules/abuse/index.ts";
import {
  adjust,
  createHold,
  expiringPoints,
  holdView,
  memberHistory,
  pointsMax,
  programAccounts,
  readBalance,
  redeem,
  settleHold,
  transfer,
  verifyLedger,
} from "../../modules/ledger/index.ts";
import { findMemberRow } from "../../modules/members/index.ts";
import { listEvents } from "../../modules/outbox/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  type App,
  decodeCursor,
  errorResponses,
  idempotencyHeaders,
  page,
  pageOf,
  pageQuery,
  pageSizeMax,
  programParams,
  secured,
  write,
} from "../kit.ts";
import { attemptSource } from "./abuse.ts";
import { balanceOf, balanceSchema, memberParams } from "./members.ts";

const points = z.number().int().positive().max(pointsMax);
const holdSchema = z
  .object({
    id: z.string(),
    memberId: z.string(),
    points: z.number().int(),
    state: z.enum(["active", "confirmed", "cancelled", "expired"]),
    reference: z.string().nullable(),
    expiresAt: z.string(),
    createdAt: z.string(),
    settledAt: z.string().nullable(),
  })
  .meta({ id: "Hold" });
export const entrySchema = z.object({
  id: z.string(),
  kind: z.string(),
  points: z.object({
    pending: z.number().int(),
    available: z.number().int(),
    held: z.number().int(),
  }),
  transactionId: z.string().nullable(),
  refundId: z.string().nullable(),
  holdId: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: z.string(),
});
const entryResult = z.object({ entryId: z.string(), balance: balanceSchema });
const holdParams = programParams.extend({ holdId: z.string().max(64) });

export function registerLedgerRoutes(app: App, ctx: Ctx): void {
  const tags = ["ledger"];
  const memberOf = async (programId: string, memberId: string) =>
    findMemberRow(ctx.db.kysely, programId, { id: memberId });

  app.get(
    "/v1/programs/:programId/members/:memberId/balance",
    {
      config: { access: "read" },
      schema: {
        summary: "A member's balance (one row read; no sums over history)",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: balanceSchema, ...errorResponses },
      },
    },
    async (request) => {
      const balance = await readBalance(ctx.db.kysely, request.params.memberId);
      if (balance.programId !== request.params.programId)
        throw notFound("member_not_found", request.params.memberId);
      return balanceOf(balance);
    },
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/history",
    {
      config: { access: "read" },
      schema: {
        summary: "A member's ledger entries, newest first",
        tags,
        security: secured,
        params: memberParams,
        querystring: pageQuery,
        response: { 200: pageOf(entrySchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId, memberId } = request.params;
      await memberOf(programId, memberId);
      const { limit, cursor } = request.query;
      return page(
        await memberHistory(ctx.db.kysely, programId, memberId, {
          limit,
          before: decodeCursor(cursor),
        }),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/expiring",
    {
      config: { access: "read" },
      schema: {
        summary: "Points that expire within the next N days, by expiry date",
        tags,
        security: secured,
        params: memberParams,
        querystring: z.object({ days: z.coerce.number().int().min(1).max(3660).default(30) }),
        response: {
          200: z.object({
            data: z.array(z.object({ points: z.number().int(), expiresAt: z.string() })),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId, memberId } = request.params;
      await memberOf(programId, memberId);
      const until = new Date(ctx.clock.now().getTime() + request.query.days * 86_400_000);
      return { data: await expiringPoints(ctx.db.kysely, memberId, until) };
    },
  );

  app.post(
    "/v1/programs/:programId/members/:memberId/redemptions",
    {
      config: { access: "pos" },
      schema: {
        summary: "Spend points at once (earliest-expiring lots first)",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: z.object({ points, reason: z.string().trim().min(1).max(500).optional() }).strict(),
        response: { 201: entryResult, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) => {
        const { programId, memberId } = request.params;
        const at = ctx.clock.now();
        const { points } = request.body;
        await checkVelocity(tx, {
          programId,
          memberId,
          action: "redeem",
          points,
          at,
          ...attemptSource(request),
        });
        const result = await redeem(tx, { programId, memberId, ...request.body, at });
        return { entryId: result.entryId, balance: balanceOf(result.balance) };
      }),
  );

  app.post(
    "/v1/programs/:programId/members/:memberId/adjustments",
    {
      config: { access: "admin" },
      schema: {
        summary: "Manual correction with a reason: a new entry, never an edit",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            points: z
              .number()
              .int()
              .min(-pointsMax)
              .max(pointsMax)
              .refine((value) => value !== 0, { message: "points must not be zero" }),
            reason: z.string().trim().min(3).max(500),
            expiresAt: z.iso.datetime({ offset: true }).nullable().optional(),
          })
          .strict(),
        response: {
          201: entryResult,
          202: adjustmentRequestSchema.describe(
            "Above the program's approval threshold: waiting for a second admin",
          ),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { programId, memberId } = request.params;
      const { expiresAt, ...rest } = request.body;
      const expiry =
        expiresAt === undefined ? undefined : expiresAt === null ? null : new Date(expiresAt);
      if (await needsApproval(ctx.db.kysely, programId, rest.points)) {
        return write(ctx, request, reply, 202, (tx) =>
          requestAdjustment(tx, {
            programId,
            memberId,
            ...rest,
            expiresAt: expiry,
            requestedBy: request.principal?.keyId ?? "",
            at: ctx.clock.now(),
          }),
        );
      }
      return write(ctx, request, reply, 201, async (tx) => {
        const program = await getProgram(tx, programId);
        const result = await adjust(tx, {
          program,
          memberId,
          ...rest,
          ...(expiry !== undefined && { expiresAt: expiry }),
          at: ctx.clock.now(),
        });
        return { entryId: result.entryId, balance: balanceOf(result.balance) };
      });
    },
  );

  app.post(
    "/v1/programs/:programId/transfers",
    {
      config: { access: "admin" },
      schema: {
        summary: "Move available points between two members; received points keep their expiry",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            fromMemberId: z.string().max(64),
            toMemberId: z.string().max(64),
            points,
            reason: z.string().trim().min(1).max(500).optional(),
          })
          .strict(),
        response: {
          201: z.object({ entryId: z.string(), from: balanceSchema, to: balanceSchema }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) => {
        const { programId } = request.params;
        const at = ctx.clock.now();
        const { fromMemberId, toMemberId, points } = request.body;
        await checkVelocity(tx, {
          programId,
          memberId: fromMemberId,
          action: "transfer",
          points,
          at,
          alsoLocks: [toMemberId],
          ...attemptSource(request),
        });
        const result = await transfer(tx, { programId, ...request.body, at });
        return { entryId: result.entryId, from: balanceOf(result.from), to: balanceOf(result.to) };
      }),
  );

  app.post(
    "/v1/programs/:programId/members/:memberId/holds",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Reserve points for a till redemption (confirm or cancel it; it expires on its own)",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            points,
            reference: z.string().trim().min(1).max(200).optional(),
            ttlSeconds: z.number().int().min(10).max(86_400).optional(),
          })
          .strict(),
        response: { 201: holdSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) => {
        const { programId, memberId } = request.params;
        const program = await getProgram(tx, programId);
        const at = ctx.clock.now();
        // A hold is a redemption at the till: the redeem limits count it when it is made.
        await checkVelocity(tx, {
          programId,
          memberId,
          action: "redeem",
          points: request.body.points,
          at,
          ...attemptSource(request),
        });
        return createHold(tx, { program, memberId, ...request.body, at });
      }),
  );

  app.get(
    "/v1/programs/:programId/holds/:holdId",
    {
      config: { access: "read" },
      schema: {
        summary: "Read a hold",
        tags,
        security: secured,
        params: holdParams,
        response: { 200: holdSchema, ...errorResponses },
      },
    },
    async (request) => {
      const row = await ctx.db.kysely
        .selectFrom("holds")
        .selectAll()
        .where("id", "=", request.params.holdId)
        .where("program_id", "=", request.params.programId)
        .executeTakeFirst();
      if (!row) throw notFound("hold_not_found", request.params.holdId);
      return holdView(row);
    },
  );

  for (const [action, outcome] of [
    ["confirm", "confirmed"],
    ["cancel", "cancelled"],
  ] as const) {
    app.post(
      `/v1/programs/:programId/holds/:holdId/${action}`,
      {
        config: { access: "pos" },
        schema: {
          summary:
            action === "confirm"
              ? "Confirm a hold: the points are redeemed"
              : "Cancel a hold: the points return",
          tags,
          security: secured,
          params: holdParams,
          headers: idempotencyHeaders,
          response: { 200: holdSchema, ...errorResponses },
        },
      },
      async (request, reply) =>
        write(ctx, request, reply, 200, (tx) =>
          settleHold(tx, { ...request.params, outcome, at: ctx.clock.now() }),
        ),
    );
  }

  app.get(
    "/v1/programs/:programId/ledger/summary",
    {
      config: { access: "read" },
      schema: {
        summary: "Program totals derived from the journal: issued, redeemed, expired, outstanding",
        tags,
        security: secured,
        params: programParams,
        response: {
          200: z.object({
            issued: z.number().int(),
            redeemed: z.number().int(),
            expired: z.number().int(),
            adjusted: z.number().int(),
            outstanding: z.object({
              pending: z.number().int(),
              available: z.number().int(),
              held: z.number().int(),
            }),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => programAccounts(ctx.db.kysely, request.params.programId),
  );

  app.get(
    "/v1/programs/:programId/ledger/verify",
    {
      config: { access: "admin" },
      schema: {
        summary: "Check every ledger invariant of this program against its journal",
        tags,
        security: secured,
        params: programParams,
        response: {
          200: z.object({
            ok: z.boolean(),
            checked: z.object({ entries: z.number(), members: z.number(), lots: z.number() }),
            problems: z.array(z.object({ check: z.string(), id: z.string(), detail: z.string() })),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => verifyLedger(ctx.db.kysely, request.params.programId),
  );

  app.get(
    "/v1/programs/:programId/events",
    {
      config: { access: "read" },
      schema: {
        summary: "The program's domain events in commit order (the transactional outbox)",
        tags: ["events"],
        security: secured,
        params: programParams,
        querystring: z.object({
          after: z.coerce.number().int().min(0).default(0).describe("seq of the last event seen"),
          limit: z.coerce.number().int().min(1).max(pageSizeMax).default(100),
        }),
        response: {
          200: z.object({
            data: z.array(
              z.object({
                seq: z.number(),
                id: z.string(),
                type: z.string(),
                payload: z.unknown(),
                createdAt: z.string(),
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const rows = await listEvents(
        ctx.db.kysely,
        request.params.programId,
        request.query.after,
        request.query.limit,
      );
      return {
        data: rows.map((row) => ({
          seq: row.seq,
          id: row.id,
          type: row.type,
          payload: row.payload,
          createdAt: row.created_at.toISOString(),
        })),
      };
    },
  );
}
