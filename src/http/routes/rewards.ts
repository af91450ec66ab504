import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { toMinor } from "../../lib/money.ts";
import { findMemberRow } from "../../modules/members/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  addPartnerCodes,
  basketSchema,
  cancelVoucher,
  changeBalance,
  consumeVoucher,
  couponBatchCreateSchema,
  couponBatchSchema,
  couponBatchView,
  createCouponBatch,
  createReward,
  donationReport,
  findCouponBatch,
  findReward,
  findStoredValue,
  findVoucher,
  ineligibleReasons,
  listBatchCodes,
  listCouponBatches,
  listMemberVouchers,
  listMovements,
  listRewards,
  memberRewardOptions,
  movementView,
  partnerCodeCounts,
  partnerCodesPerUploadMax,
  type RewardCreate,
  redeemReward,
  releaseVoucher,
  reserveVoucher,
  rewardCreateSchema,
  rewardSchema,
  rewardTypeSchema,
  rewardTypesView,
  rewardUpdateSchema,
  rewardView,
  storedValueMovementSchema,
  storedValueSchema,
  storedValueView,
  updateReward,
  validateVoucher,
  voucherSchema,
  voucherView,
} from "../../modules/rewards/index.ts";
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
import { balanceOf, balanceSchema, memberParams } from "./members.ts";

const rewardParams = programParams.extend({ rewardId: z.string().max(64) });
const codeParams = programParams.extend({
  code: z.string().max(80).describe("Voucher or coupon code; case, spaces and dashes ignored"),
});
const batchParams = programParams.extend({ batchId: z.string().max(64) });
const accountParams = programParams.extend({ accountId: z.string().max(64) });
const reference = z.string().trim().min(1).max(200);
const amount = z
  .union([z.string().max(40), z.number().positive()])
  .describe('Decimal amount in major units, e.g. "50000"');
const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, { message: "YYYY-MM" });

export const redemptionResult = z.object({
  voucher: voucherSchema,
  pointsSpent: z.number().int(),
  balance: balanceSchema,
});
export const optionSchema = z.object({
  reward: rewardSchema,
  pointsCost: z.number().int().describe("The member's price (their tier's cost, if any)"),
  cash: z.string(),
  eligible: z.boolean(),
  affordable: z.boolean(),
  pointsMissing: z.number().int(),
  reasons: z.array(z.enum(ineligibleReasons)).describe("Why the member may not take it"),
});
const validationResult = z.object({
  valid: z.boolean(),
  reason: z
    .string()
    .nullable()
    .describe(
      "used, cancelled, expired, not_yet_valid, reservation_expired, reserved, product_not_in_basket",
    ),
  rewardType: z.string(),
  benefit: z.record(z.string(), z.unknown()),
  discount: z.string().nullable().describe("What the voucher takes off the basket"),
  voucher: voucherSchema,
});

export function registerRewardRoutes(app: App, ctx: Ctx): void {
  const tags = ["rewards"];
  const program = (programId: string) => getProgram(ctx.db.kysely, programId);

  app.get(
    "/v1/reward-types",
    {
      config: { access: "read" },
      schema: {
        summary:
          "Reward types a catalog can hold, with the JSON Schema of each type's benefit (the admin builds its forms from it)",
        tags,
        security: secured,
        response: { 200: z.object({ types: z.array(rewardTypeSchema) }), ...errorResponses },
      },
    },
    async () => ({ types: rewardTypesView() }),
  );

  app.post(
    "/v1/programs/:programId/rewards",
    {
      config: { access: "admin" },
      schema: {
        summary: "Add a reward to the catalog",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: rewardCreateSchema,
        response: { 201: rewardSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) =>
        createReward(
          tx,
          await getProgram(tx, request.params.programId),
          request.body as RewardCreate,
          ctx.clock.now(),
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/rewards",
    {
      config: { access: "read" },
      schema: {
        summary: "The catalog, oldest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend({ status: z.enum(["active", "archived"]).optional() }),
        response: { 200: pageOf(rewardSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { currency } = await program(request.params.programId);
      const { limit, cursor, status } = request.query;
      const rows = await listRewards(ctx.db.kysely, request.params.programId, {
        limit,
        after: decodeCursor(cursor),
        status,
      });
      return page(
        rows.map((row) => rewardView(row, currency)),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/rewards/:rewardId",
    {
      config: { access: "read" },
      schema: {
        summary: "A reward",
        tags,
        security: secured,
        params: rewardParams,
        response: { 200: rewardSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { currency } = await program(request.params.programId);
      const row = await findReward(
        ctx.db.kysely,
        request.params.programId,
        request.params.rewardId,
      );
      return rewardView(row, currency);
    },
  );

  app.patch(
    "/v1/programs/:programId/rewards/:rewardId",
    {
      config: { access: "admin" },
      schema: {
        summary: "Change a reward (only the fields named; the type cannot change)",
        tags,
        security: secured,
        params: rewardParams,
        headers: idempotencyHeaders,
        body: rewardUpdateSchema,
        response: { 200: rewardSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        updateReward(
          tx,
          await getProgram(tx, request.params.programId),
          request.params.rewardId,
          request.body,
          ctx.clock.now(),
        ),
      ),
  );

  app.delete(
    "/v1/programs/:programId/rewards/:rewardId",
    {
      config: { access: "admin" },
      schema: {
        summary: "Archive a reward: no new redemptions; its vouchers stay valid",
        tags,
        security: secured,
        params: rewardParams,
        headers: idempotencyHeaders,
        response: { 200: rewardSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        updateReward(
          tx,
          await getProgram(tx, request.params.programId),
          request.params.rewardId,
          { status: "archived" },
          ctx.clock.now(),
        ),
      ),
  );

  app.post(
    "/v1/programs/:programId/rewards/:rewardId/codes",
    {
      config: { access: "admin" },
      schema: {
        summary: "Upload partner gift card codes to a partner reward's pool",
        tags,
        security: secured,
        params: rewardParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            codes: z.array(z.string().trim().min(1).max(200)).min(1).max(partnerCodesPerUploadMax),
          })
          .strict(),
        response: {
          200: z.object({
            added: z.number().int(),
            duplicates: z.number().int().describe("Codes already in the pool, skipped"),
            available: z.number().int(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        addPartnerCodes(
          tx,
          request.params.programId,
          request.params.rewardId,
          request.body.codes,
          ctx.clock.now(),
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/rewards/:rewardId/codes",
    {
      config: { access: "read" },
      schema: {
        summary: "How many partner codes are left in a reward's pool",
        tags,
        security: secured,
        params: rewardParams,
        response: {
          200: z.object({ available: z.number().int(), assigned: z.number().int() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      await findReward(ctx.db.kysely, request.params.programId, request.params.rewardId);
      return partnerCodeCounts(ctx.db.kysely, request.params.rewardId);
    },
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/rewards",
    {
      config: { access: "read" },
      schema: {
        summary:
          "What the member can get now: affordable first, then by points missing; ineligible ones only with include=ineligible",
        tags,
        security: secured,
        params: memberParams,
        querystring: z.object({
          include: z.enum(["ineligible"]).optional(),
          limit: z.coerce.number().int().min(1).max(pageSizeMax).default(50),
        }),
        response: { 200: z.object({ data: z.array(optionSchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const found = await program(request.params.programId);
      const options = await memberRewardOptions(
        ctx.db.kysely,
        found,
        request.params.memberId,
        { includeIneligible: request.query.include === "ineligible", limit: request.query.limit },
        ctx.clock.now(),
      );
      return {
        data: options.map(({ reward, standing }) => {
          const view = rewardView(reward, found.currency);
          return {
            reward: view,
            pointsCost: standing.pointsCost,
            cash: view.cash,
            eligible: standing.eligible,
            affordable: standing.affordable,
            pointsMissing: standing.pointsMissing,
            reasons: standing.reasons,
          };
        }),
      };
    },
  );

  app.post(
    "/v1/programs/:programId/rewards/:rewardId/redemptions",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Redeem a reward for a member: points debited now (direct) or held until the voucher is consumed (hold)",
        tags,
        security: secured,
        params: rewardParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            memberId: z.string().max(64),
            mode: z.enum(["direct", "hold"]).default("direct"),
            holdTtlSeconds: z
              .number()
              .int()
              .min(10)
              .max(86_400)
              .optional()
              .describe("hold mode: how long the points wait (default: the program's hold TTL)"),
          })
          .strict(),
        response: { 201: redemptionResult, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) => {
        const result = await redeemReward(tx, {
          program: await getProgram(tx, request.params.programId),
          rewardId: request.params.rewardId,
          memberId: request.body.memberId,
          mode: request.body.mode,
          holdTtlSeconds: request.body.holdTtlSeconds,
          at: ctx.clock.now(),
        });
        return { ...result, balance: balanceOf(result.balance) };
      }),
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/vouchers",
    {
      config: { access: "read" },
      schema: {
        summary: "A member's vouchers, newest first",
        tags,
        security: secured,
        params: memberParams,
        querystring: pageQuery.extend({
          state: z.enum(["issued", "reserved", "used", "expired", "cancelled"]).optional(),
        }),
        response: { 200: pageOf(voucherSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId, memberId } = request.params;
      const { currency } = await program(programId);
      await findMemberRow(ctx.db.kysely, programId, { id: memberId });
      const { limit, cursor, state } = request.query;
      const rows = await listMemberVouchers(ctx.db.kysely, memberId, {
        limit,
        after: decodeCursor(cursor),
        state,
      });
      return page(
        rows.map((row) => voucherView(row, currency)),
        limit,
      );
    },
  );

  app.post(
    "/v1/programs/:programId/vouchers/validate",
    {
      config: { access: "pos" },
      schema: {
        summary: "Check a voucher or coupon code, and what it takes off a basket (changes nothing)",
        tags,
        security: secured,
        params: programParams,
        body: z
          .object({
            code: z.string().max(80),
            basket: basketSchema.optional(),
            reservationReference: reference.optional(),
          })
          .strict(),
        response: { 200: validationResult, ...errorResponses },
      },
    },
    async (request) =>
      validateVoucher(
        ctx.db.kysely,
        await program(request.params.programId),
        request.body,
        ctx.clock.now(),
      ),
  );

  app.get(
    "/v1/programs/:programId/vouchers/:code",
    {
      config: { access: "read" },
      schema: {
        summary: "A voucher or coupon by its code",
        tags,
        security: secured,
        params: codeParams,
        response: { 200: voucherSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { currency } = await program(request.params.programId);
      return voucherView(
        await findVoucher(ctx.db.kysely, request.params.programId, request.params.code),
        currency,
      );
    },
  );

  app.post(
    "/v1/programs/:programId/vouchers/:code/reserve",
    {
      config: { access: "pos" },
      schema: {
        summary: "Keep a voucher for one checkout for a while (the same reference extends it)",
        tags,
        security: secured,
        params: codeParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            reference: reference.optional().describe("Checkout, cart or till session"),
            ttlSeconds: z.number().int().min(10).max(86_400).optional(),
          })
          .strict()
          .default({}),
        response: { 200: voucherSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        reserveVoucher(
          tx,
          await getProgram(tx, request.params.programId),
          { code: request.params.code, ...request.body },
          ctx.clock.now(),
        ),
      ),
  );

  app.post(
    "/v1/programs/:programId/vouchers/:code/consume",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Use a voucher, once per reference (a retry with the same reference answers the first use)",
        tags,
        security: secured,
        params: codeParams,
        headers: idempotencyHeaders,
        body: z
          .object({
            reference: reference.describe("Transaction id or receipt reference"),
            reservationReference: reference.optional(),
          })
          .strict(),
        response: {
          200: z.object({ voucher: voucherSchema, replayed: z.boolean() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        consumeVoucher(
          tx,
          await getProgram(tx, request.params.programId),
          { code: request.params.code, ...request.body },
          ctx.clock.now(),
        ),
      ),
  );

  app.post(
    "/v1/programs/:programId/vouchers/:code/release",
    {
      config: { access: "pos" },
      schema: {
        summary: "End a reservation; a held redemption is called off (points and stock return)",
        tags,
        security: secured,
        params: codeParams,
        headers: idempotencyHeaders,
        response: { 200: voucherSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        releaseVoucher(
          tx,
          await getProgram(tx, request.params.programId),
          request.params.code,
          ctx.clock.now(),
        ),
      ),
  );

  app.post(
    "/v1/programs/:programId/vouchers/:code/cancel",
    {
      config: { access: "admin" },
      schema: {
        summary: "Cancel an unused voucher: its points return to the member as a new ledger entry",
        tags,
        security: secured,
        params: codeParams,
        headers: idempotencyHeaders,
        body: z
          .object({ reason: z.string().trim().min(1).max(500).optional() })
          .strict()
          .default({}),
        response: { 200: voucherSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) =>
        cancelVoucher(
          tx,
          await getProgram(tx, request.params.programId),
          { code: request.params.code, reason: request.body.reason },
          ctx.clock.now(),
        ),
      ),
  );

  app.post(
    "/v1/programs/:programId/coupon-batches",
    {
      config: { access: "admin" },
      schema: {
        summary: "Generate (count, with a prefix) or import (codes) up to 100,000 coupon codes",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: couponBatchCreateSchema,
        response: { 201: couponBatchSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) =>
        createCouponBatch(
          tx,
          await getProgram(tx, request.params.programId),
          request.body,
          ctx.clock.now(),
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/coupon-batches",
    {
      config: { access: "read" },
      schema: {
        summary: "Coupon batches, oldest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(couponBatchSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      return page(
        await listCouponBatches(ctx.db.kysely, request.params.programId, {
          limit,
          after: decodeCursor(cursor),
        }),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/coupon-batches/:batchId",
    {
      config: { access: "read" },
      schema: {
        summary: "A coupon batch",
        tags,
        security: secured,
        params: batchParams,
        response: { 200: couponBatchSchema, ...errorResponses },
      },
    },
    async (request) =>
      couponBatchView(
        await findCouponBatch(ctx.db.kysely, request.params.programId, request.params.batchId),
      ),
  );

  app.get(
    "/v1/programs/:programId/coupon-batches/:batchId/codes",
    {
      config: { access: "admin" },
      schema: {
        summary: "A batch's codes with their state (to export or print)",
        tags,
        security: secured,
        params: batchParams,
        querystring: pageQuery,
        response: { 200: pageOf(voucherSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId, batchId } = request.params;
      const { currency } = await program(programId);
      await findCouponBatch(ctx.db.kysely, programId, batchId);
      const { limit, cursor } = request.query;
      const rows = await listBatchCodes(ctx.db.kysely, batchId, {
        limit,
        after: decodeCursor(cursor),
      });
      return page(
        rows.map((row) => voucherView(row, currency)),
        limit,
      );
    },
  );

  app.get(
    "/v1/programs/:programId/gift-cards/:code",
    {
      config: { access: "read" },
      schema: {
        summary: "A gift card's balance by its code",
        tags,
        security: secured,
        params: codeParams,
        response: { 200: storedValueSchema, ...errorResponses },
      },
    },
    async (request) =>
      storedValueView(
        await findStoredValue(ctx.db.kysely, request.params.programId, {
          code: request.params.code.replace(/[\s-]/g, "").toUpperCase(),
        }),
      ),
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/wallet",
    {
      config: { access: "read" },
      schema: {
        summary: "The member's stored-value wallet (cashback lands here)",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: storedValueSchema, ...errorResponses },
      },
    },
    async (request) =>
      storedValueView(
        await findStoredValue(ctx.db.kysely, request.params.programId, {
          memberId: request.params.memberId,
        }),
      ),
  );

  app.get(
    "/v1/programs/:programId/stored-value/:accountId",
    {
      config: { access: "read" },
      schema: {
        summary: "A gift card or wallet",
        tags,
        security: secured,
        params: accountParams,
        response: { 200: storedValueSchema, ...errorResponses },
      },
    },
    async (request) =>
      storedValueView(
        await findStoredValue(ctx.db.kysely, request.params.programId, {
          id: request.params.accountId,
        }),
      ),
  );

  app.get(
    "/v1/programs/:programId/stored-value/:accountId/movements",
    {
      config: { access: "read" },
      schema: {
        summary: "A gift card's or wallet's movements, oldest first (append-only)",
        tags,
        security: secured,
        params: accountParams,
        querystring: pageQuery,
        response: { 200: pageOf(storedValueMovementSchema), ...errorResponses },
      },
    },
    async (request) => {
      const account = await findStoredValue(ctx.db.kysely, request.params.programId, {
        id: request.params.accountId,
      });
      const { limit, cursor } = request.query;
      const rows = await listMovements(ctx.db.kysely, account.id, {
        limit,
        after: decodeCursor(cursor),
      });
      return page(
        rows.map((row) => movementView(row, account.currency)),
        limit,
      );
    },
  );

  for (const [path, kind, summary] of [
    ["charge", "charge", "Pay with a gift card or wallet (refused beyond its balance)"],
    ["top-up", "top_up", "Add money to a gift card or wallet"],
  ] as const) {
    app.post(
      `/v1/programs/:programId/stored-value/:accountId/${path}`,
      {
        config: { access: "pos" },
        schema: {
          summary,
          tags,
          security: secured,
          params: accountParams,
          headers: idempotencyHeaders,
          body: z.object({ amount, reference: reference.optional() }).strict(),
          response: {
            200: z.object({ account: storedValueSchema, movementId: z.string() }),
            ...errorResponses,
          },
        },
      },
      async (request, reply) =>
        write(ctx, request, reply, 200, async (tx) => {
          const { currency } = await getProgram(tx, request.params.programId);
          return changeBalance(tx, {
            programId: request.params.programId,
            accountId: request.params.accountId,
            kind,
            amountMinor: toMinor(request.body.amount, currency, "body.amount"),
            reference: request.body.reference ?? null,
            at: ctx.clock.now(),
          });
        }),
    );
  }

  app.get(
    "/v1/programs/:programId/reports/donations",
    {
      config: { access: "read" },
      schema: {
        summary: "Donations per reward and month (program time zone), in money at the set value",
        tags,
        security: secured,
        params: programParams,
        querystring: z.object({ from: month.optional(), to: month.optional() }),
        response: {
          200: z.object({
            currency: z.string(),
            data: z.array(
              z.object({
                rewardId: z.string(),
                charity: z.string().nullable(),
                month: z.string(),
                donations: z.number().int(),
                points: z.number().int(),
                value: z.string(),
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const found = await program(request.params.programId);
      return {
        currency: found.currency,
        data: await donationReport(ctx.db.kysely, found, {
          fromMonth: request.query.from,
          toMonth: request.query.to,
        }),
      };
    },
  );
}
