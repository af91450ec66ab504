import QRCode from "qrcode";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { payloadHash } from "../../lib/json.ts";
import { withIdempotency } from "../../modules/idempotency/index.ts";
import { expiringPoints, memberHistory, readBalance } from "../../modules/ledger/index.ts";
import {
  enrolMember,
  findMemberRow,
  getMember,
  memberSchema,
  updateMember,
} from "../../modules/members/index.ts";
import { exportMember } from "../../modules/privacy/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  attachReferral,
  getMemberReferral,
  memberReferralSchema,
} from "../../modules/referrals/index.ts";
import {
  listMemberVouchers,
  memberRewardOptions,
  redeemReward,
  rewardView,
  voucherSchema,
  voucherView,
} from "../../modules/rewards/index.ts";
import { recordAutomaticActivity } from "../../modules/rules/index.ts";
import {
  brandingSchema,
  csrfCookie,
  endSession,
  getBranding,
  getLogo,
  identifierSchema,
  requireMember,
  setSessionCookies,
  startPortalSignIn,
  verifyPortalSignIn,
  verifySchema,
} from "../../modules/staff/index.ts";
import { memberTierView } from "../../modules/tiers/index.ts";
import {
  type App,
  decodeCursor,
  errorResponses,
  idempotencyHeaders,
  memberSecured,
  page,
  pageOf,
  pageQuery,
  programParams,
  unsecured,
} from "../kit.ts";
import { entrySchema } from "./ledger.ts";
import { balanceOf } from "./members.ts";
import { memberExportSchema } from "./privacy.ts";
import { optionSchema, redemptionResult } from "./rewards.ts";
import { memberTierSchema } from "./tiers.ts";

/** Points that expire within this many days count as "expiring soon" on the portal. */
const expiringSoonDays = 30;

const codeSent = z.object({ sent: z.literal(true), expiresAt: z.string() });
const memberWithCsrf = z.object({ member: memberSchema, csrfToken: z.string() });
const marketing = z
  .object({
    email: z.boolean().optional(),
    sms: z.boolean().optional(),
    whatsapp: z.boolean().optional(),
    push: z.boolean().optional(),
  })
  .strict();

const portalEnrolSchema = z
  .object({
    phone: z.string().max(40).optional(),
    email: z.email().max(254).optional(),
    name: z.string().trim().min(1).max(120).optional(),
    birthday: z.iso.date().optional(),
    consents: z
      .object({
        terms: z.literal(true, { message: "the member must accept the terms" }),
        marketing: marketing.default({}),
      })
      .strict(),
    referralCode: z.string().trim().min(1).max(32).optional(),
  })
  .strict()
  .refine((value) => (value.phone === undefined) !== (value.email === undefined), {
    message: "give exactly one of phone or email to sign in with",
    path: ["phone"],
  });

const profileUpdateSchema = z
  .object({
    name: z.string().trim().min(1).max(120).nullable().optional(),
    birthday: z.iso.date().nullable().optional(),
    city: z.string().trim().min(1).max(80).nullable().optional(),
    marketing: marketing.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

/**
 * The member portal's API. Every /me route takes the member from the session cookie, never from
 * the URL or body, so one member can never name another.
 */
export function registerPortalRoutes(app: App, ctx: Ctx): void {
  const tags = ["portal"];
  const base = "/v1/portal/:programId";
  const open = { config: { access: "public" as const } };

  app.get(
    `${base}/branding`,
    {
      ...open,
      schema: {
        summary: "The program's name, logo, colours, tone and locale for its pages",
        tags,
        security: unsecured,
        params: programParams,
        response: { 200: brandingSchema, ...errorResponses },
      },
    },
    async (request) => getBranding(ctx, request.params.programId),
  );

  app.get(
    `${base}/logo`,
    {
      ...open,
      schema: { summary: "The program's logo image", tags, params: programParams, hide: true },
    },
    async (request, reply) => {
      const logo = await getLogo(ctx, request.params.programId);
      if (!logo) throw new DomainError("route_not_found", "this program has no logo");
      reply.header("cache-control", "public, max-age=86400");
      reply.header("x-content-type-options", "nosniff");
      return reply.type(logo.type).send(logo.bytes);
    },
  );

  app.post(
    `${base}/sign-in/start`,
    {
      ...open,
      schema: {
        summary: "Send a 6-digit sign-in code (same answer whether or not the member exists)",
        tags,
        security: unsecured,
        params: programParams,
        body: identifierSchema,
        response: { 202: codeSent, ...errorResponses },
      },
    },
    async (request, reply) => {
      await getProgram(ctx.db.kysely, request.params.programId);
      const result = await startPortalSignIn(ctx, request, request.params.programId, request.body);
      reply.code(202);
      return result;
    },
  );

  app.post(
    `${base}/sign-in/verify`,
    {
      ...open,
      schema: {
        summary: "Check the code and start a member session (cookie)",
        tags,
        security: unsecured,
        params: programParams,
        body: verifySchema,
        response: { 200: memberWithCsrf, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId } = request.params;
      const { memberId, session } = await verifyPortalSignIn(ctx, request, programId, request.body);
      setSessionCookies(request, reply, "member", {
        session: session.token,
        csrf: session.csrfToken,
      });
      return { member: await getMember(ctx, programId, memberId), csrfToken: session.csrfToken };
    },
  );

  app.post(
    `${base}/enrol`,
    {
      ...open,
      schema: {
        summary: "Join the program with consent; then a sign-in code is sent as for sign-in/start",
        tags,
        security: unsecured,
        params: programParams,
        body: portalEnrolSchema,
        response: { 202: codeSent, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId } = request.params;
      await getProgram(ctx.db.kysely, programId);
      const { phone, email, referralCode, ...profile } = request.body;
      const identifier = phone !== undefined ? { phone } : { email: email as string };
      const exists = await findMemberRow(ctx.db.kysely, programId, identifier).then(
        () => true,
        (error) => {
          if (error instanceof DomainError && error.code === "member_not_found") return false;
          throw error;
        },
      );
      // An existing member just gets a code: the answer never tells who is a member.
      if (!exists) {
        const at = ctx.clock.now();
        const input = { ...identifier, ...profile, channel: "online" as const, referralCode };
        await ctx.db.transaction(async (tx) => {
          const member = await enrolMember(tx, at, programId, input);
          await attachReferral(tx, at, programId, member, input);
          await recordAutomaticActivity(tx, at, programId, {
            memberId: member.id,
            type: "signup",
            externalId: "signup",
          });
        });
      }
      reply.code(202);
      return startPortalSignIn(ctx, request, programId, identifier);
    },
  );

  app.get(
    `${base}/me`,
    {
      ...open,
      schema: {
        summary: "The signed-in member",
        tags,
        security: memberSecured,
        params: programParams,
        response: { 200: memberWithCsrf, ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      return {
        member: await getMember(ctx, programId, memberId),
        csrfToken: csrfCookie(request, "member"),
      };
    },
  );

  app.patch(
    `${base}/me`,
    {
      ...open,
      schema: {
        summary: "Update the member's own profile and marketing consents",
        tags,
        security: memberSecured,
        params: programParams,
        body: profileUpdateSchema,
        response: { 200: z.object({ member: memberSchema }), ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      const member = await ctx.db.transaction((tx) =>
        updateMember(tx, ctx.clock.now(), programId, memberId, request.body),
      );
      return { member };
    },
  );

  app.get(
    `${base}/me/card`,
    {
      ...open,
      schema: {
        summary: "The member's card: number, QR payload, and the QR as SVG and data URL",
        tags,
        security: memberSecured,
        params: programParams,
        response: {
          200: z.object({
            cardNumber: z.string(),
            qrPayload: z.string(),
            qrSvg: z.string(),
            qrDataUrl: z.string(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      const { cardNumber } = await getMember(ctx, programId, memberId);
      // The QR carries just the card number: what POS lookup by card takes.
      const options = { errorCorrectionLevel: "M" as const, margin: 1 };
      return {
        cardNumber,
        qrPayload: cardNumber,
        qrSvg: await QRCode.toString(cardNumber, { ...options, type: "svg" }),
        qrDataUrl: await QRCode.toDataURL(cardNumber, options),
      };
    },
  );

  app.get(
    `${base}/me/balance`,
    {
      ...open,
      schema: {
        summary: `Balance with pending points and what expires within ${expiringSoonDays} days`,
        tags,
        security: memberSecured,
        params: programParams,
        response: {
          200: z.object({
            available: z.number().int(),
            pending: z.number().int(),
            held: z.number().int(),
            expiringSoon: z.object({ points: z.number().int(), before: z.string() }),
            expiring: z.array(z.object({ points: z.number().int(), expiresAt: z.string() })),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { memberId } = await requireMember(ctx, request, request.params.programId);
      const balance = balanceOf(await readBalance(ctx.db.kysely, memberId));
      const before = new Date(ctx.clock.now().getTime() + expiringSoonDays * 86_400_000);
      const expiring = await expiringPoints(ctx.db.kysely, memberId, before);
      return {
        available: balance.available,
        pending: balance.pending,
        held: balance.held,
        expiringSoon: {
          points: expiring.reduce((total, lot) => total + Number(lot.points), 0),
          before: before.toISOString(),
        },
        expiring: expiring.map((lot) => ({ points: Number(lot.points), expiresAt: lot.expiresAt })),
      };
    },
  );

  app.get(
    `${base}/me/history`,
    {
      ...open,
      schema: {
        summary: "The member's points history, newest first",
        tags,
        security: memberSecured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(entrySchema), ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
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
    `${base}/me/tier`,
    {
      ...open,
      schema: {
        summary: "The member's tier and progress to the next (404 when the program has no tiers)",
        tags,
        security: memberSecured,
        params: programParams,
        response: { 200: memberTierSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      return memberTierView(ctx.db.kysely, programId, memberId, ctx.clock.now());
    },
  );

  app.get(
    `${base}/me/rewards`,
    {
      ...open,
      schema: {
        summary: "Rewards the member can take now, affordable first",
        tags,
        security: memberSecured,
        params: programParams,
        response: {
          200: z.object({
            data: z.array(
              optionSchema.pick({
                reward: true,
                pointsCost: true,
                affordable: true,
                pointsMissing: true,
              }),
            ),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      const program = await getProgram(ctx.db.kysely, programId);
      const options = await memberRewardOptions(
        ctx.db.kysely,
        program,
        memberId,
        { includeIneligible: false, limit: 100 },
        ctx.clock.now(),
      );
      return {
        data: options.map(({ reward, standing }) => ({
          reward: rewardView(reward, program.currency),
          pointsCost: standing.pointsCost,
          affordable: standing.affordable,
          pointsMissing: standing.pointsMissing,
        })),
      };
    },
  );

  app.post(
    `${base}/me/rewards/:rewardId/redeem`,
    {
      ...open,
      schema: {
        summary: "Redeem a reward for points; a voucher when the reward gives one",
        tags,
        security: memberSecured,
        params: programParams.extend({ rewardId: z.string().max(64) }),
        headers: idempotencyHeaders,
        response: { 201: redemptionResult, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, rewardId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      const run = async (tx: Tx) => {
        const result = await redeemReward(tx, {
          program: await getProgram(tx, programId),
          rewardId,
          memberId,
          mode: "direct",
          at: ctx.clock.now(),
        });
        return { ...result, balance: balanceOf(result.balance) };
      };
      reply.code(201);
      const key = request.headers["idempotency-key"];
      if (typeof key !== "string" || key === "") return ctx.db.transaction(run);
      // Keys are scoped to the member: one member's key never replays another's answer.
      const requestHash = payloadHash({ url: request.url, memberId });
      const result = await withIdempotency(
        ctx,
        { scope: `member:${memberId}`, key, requestHash },
        async (tx) => ({ status: 201, body: await run(tx) }),
      );
      if (result.replayed) reply.header("idempotent-replayed", "true");
      return result.body as Awaited<ReturnType<typeof run>>;
    },
  );

  app.get(
    `${base}/me/vouchers`,
    {
      ...open,
      schema: {
        summary: "The member's vouchers, each with its code as a QR data URL",
        tags,
        security: memberSecured,
        params: programParams,
        querystring: pageQuery,
        response: {
          200: pageOf(voucherSchema.extend({ qrDataUrl: z.string() })),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      const { currency } = await getProgram(ctx.db.kysely, programId);
      const { limit, cursor } = request.query;
      const rows = await listMemberVouchers(ctx.db.kysely, memberId, {
        limit,
        after: decodeCursor(cursor),
      });
      const views = await Promise.all(
        rows.map(async (row) => ({
          ...voucherView(row, currency),
          qrDataUrl: await QRCode.toDataURL(row.code, { errorCorrectionLevel: "M", margin: 1 }),
        })),
      );
      return page(views, limit);
    },
  );

  app.get(
    `${base}/me/referral`,
    {
      ...open,
      schema: {
        summary: "The member's referral code and link",
        tags,
        security: memberSecured,
        params: programParams,
        response: { 200: memberReferralSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      return getMemberReferral(ctx, programId, memberId);
    },
  );

  app.get(
    `${base}/me/export`,
    {
      ...open,
      schema: {
        summary: "Download everything the program holds about the member (JSON)",
        tags,
        security: memberSecured,
        params: programParams,
        response: { 200: memberExportSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId } = request.params;
      const { memberId } = await requireMember(ctx, request, programId);
      reply.header("content-disposition", `attachment; filename="${memberId}.json"`);
      reply.header("cache-control", "no-store");
      return exportMember(ctx.db.kysely, programId, memberId, ctx.clock.now());
    },
  );

  app.post(
    `${base}/me/sign-out`,
    {
      ...open,
      schema: {
        summary: "End the member session",
        tags,
        security: memberSecured,
        params: programParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session } = await requireMember(ctx, request, request.params.programId);
      await endSession(ctx.db.kysely, session.id, ctx.clock.now());
      setSessionCookies(request, reply, "member", null);
      return reply.code(204).send(null);
    },
  );
}
