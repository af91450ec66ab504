import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  claimReferral,
  getMemberReferral,
  getReferralSettings,
  listReferrals,
  memberReferralSchema,
  putReferralSettings,
  referralClaimSchema,
  referralListQuery,
  referralSchema,
  referralSettingsInputSchema,
  referralSettingsSchema,
} from "../../modules/referrals/index.ts";
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

const memberParams = programParams.extend({ memberId: z.string().max(64) });

export function registerReferralRoutes(app: App, ctx: Ctx): void {
  const tags = ["referrals"];

  app.put(
    "/v1/programs/:programId/referral-settings",
    {
      config: { access: "admin" },
      schema: {
        summary: "Set the program's referral rewards, qualifying purchase, limits and share link",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: referralSettingsInputSchema,
        response: { 200: referralSettingsSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        putReferralSettings(tx, ctx.clock.now(), request.params.programId, request.body),
      ),
  );

  app.get(
    "/v1/programs/:programId/referral-settings",
    {
      config: { access: "read" },
      schema: {
        summary: "Read the program's referral settings (disabled until set)",
        tags,
        security: secured,
        params: programParams,
        response: { 200: referralSettingsSchema, ...errorResponses },
      },
    },
    async (request) => getReferralSettings(ctx, request.params.programId),
  );

  app.get(
    "/v1/programs/:programId/members/:memberId/referral",
    {
      // Creates the member's code on first use, hence pos rather than read.
      config: { access: "pos" },
      schema: {
        summary: "A member's referral code and share link, how they were referred, their counts",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: memberReferralSchema, ...errorResponses },
      },
    },
    async (request) => getMemberReferral(ctx, request.params.programId, request.params.memberId),
  );

  app.post(
    "/v1/programs/:programId/members/:memberId/referral/claim",
    {
      config: { access: "pos" },
      schema: {
        summary:
          "Apply a referral code to an existing member: recorded and rejected (already_member)",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: referralClaimSchema,
        response: { 201: referralSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, (tx) =>
        claimReferral(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.memberId,
          request.body,
        ),
      ),
  );

  app.get(
    "/v1/programs/:programId/referrals",
    {
      config: { access: "read" },
      schema: {
        summary: "List referrals, oldest first; rejected ones carry their reason",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery.extend(referralListQuery.shape),
        response: { 200: pageOf(referralSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, status, referrerId } = request.query;
      const rows = await listReferrals(ctx, request.params.programId, {
        limit,
        after: decodeCursor(cursor),
        status,
        referrerId,
      });
      return page(rows, limit);
    },
  );
}
