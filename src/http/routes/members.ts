import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { readBalance } from "../../modules/ledger/index.ts";
import {
  enrolMember,
  getMember,
  listMembers,
  lookupMember,
  memberEnrolSchema,
  memberLookupSchema,
  memberSchema,
  memberUpdateSchema,
  setMemberStatus,
  updateMember,
} from "../../modules/members/index.ts";
import { attachReferral } from "../../modules/referrals/index.ts";
import { profileComplete, recordAutomaticActivity } from "../../modules/rules/index.ts";
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

export const balanceSchema = z
  .object({
    pending: z.number().int().describe("Earned, waiting for the returns window"),
    available: z.number().int().describe("Spendable now; negative only as a refund debt"),
    held: z.number().int().describe("Reserved by open till holds"),
    earnedTotal: z.number().int().describe("Lifetime points earned, net of refunds"),
  })
  .meta({ id: "Balance" });

const memberWithBalance = memberSchema.extend({ balance: balanceSchema }).meta({ id: "Member" });
/** A member's balance as the API shows it: the cached columns, without the internal debt. */
export function balanceOf(row: {
  pending: number;
  available: number;
  held: number;
  earnedTotal: number;
}) {
  return {
    pending: row.pending,
    available: row.available,
    held: row.held,
    earnedTotal: row.earnedTotal,
  };
}

export const memberParams = programParams.extend({ memberId: z.string().max(64) });

export function registerMemberRoutes(app: App, ctx: Ctx): void {
  const tags = ["members"];
  const withBalance = async <T extends { id: string }>(member: T) => {
    const balance = await readBalance(ctx.db.kysely, member.id);
    return { ...member, balance: balanceOf(balance) };
  };

  app.post(
    "/v1/programs/:programId/members",
    {
      // Cashiers enrol at the till (docs/web-api.md): the staff role map files this under pos.
      config: { access: "pos", area: "pos" },
      schema: {
        summary: "Enrol a member (phone or email, consent to the terms required)",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: memberEnrolSchema,
        response: { 201: memberSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, async (tx) => {
        const member = await enrolMember(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.body,
        );
        // The referral is judged in the same transaction; a bad code never refuses the member.
        await attachReferral(tx, ctx.clock.now(), request.params.programId, member, request.body);
        // Signup bonus campaigns, when the program runs one.
        await recordAutomaticActivity(tx, ctx.clock.now(), request.params.programId, {
          memberId: member.id,
          type: "signup",
          externalId: "signup",
        });
        return member;
      }),
  );

  app.get(
    "/v1/programs/:programId/members",
    {
      config: { access: "read" },
      schema: {
        summary: "List members, oldest first",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(memberSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await listMembers(ctx, request.params.programId, {
        limit,
        after: decodeCursor(cursor),
      });
      return page(rows, limit);
    },
  );

  app.get(
    "/v1/programs/:programId/members/lookup",
    {
      config: { access: "read" },
      schema: {
        summary: "Find a member by phone (any Indonesian format), email or card number / QR",
        tags,
        security: secured,
        params: programParams,
        querystring: memberLookupSchema,
        response: { 200: memberWithBalance, ...errorResponses },
      },
    },
    async (request) =>
      withBalance(await lookupMember(ctx, request.params.programId, request.query)),
  );

  app.get(
    "/v1/programs/:programId/members/:memberId",
    {
      config: { access: "read" },
      schema: {
        summary: "Read a member with their balance",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: memberWithBalance, ...errorResponses },
      },
    },
    async (request) =>
      withBalance(await getMember(ctx, request.params.programId, request.params.memberId)),
  );

  app.patch(
    "/v1/programs/:programId/members/:memberId",
    {
      config: { access: "pos", audit: true },
      schema: {
        summary: "Update a member's identifiers, profile or marketing consents",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: memberUpdateSchema,
        response: { 200: memberSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) => {
        const member = await updateMember(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.memberId,
          request.body,
        );
        // Fires once per member (its externalId is fixed), the first time the profile is complete.
        if (profileComplete(member)) {
          await recordAutomaticActivity(tx, ctx.clock.now(), request.params.programId, {
            memberId: member.id,
            type: "profile_completed",
            externalId: "profile",
          });
        }
        return member;
      }),
  );

  for (const action of ["block", "unblock"] as const) {
    app.post(
      `/v1/programs/:programId/members/:memberId/${action}`,
      {
        config: { access: "admin" },
        schema: {
          summary:
            action === "block" ? "Block a member: no earning or spending" : "Unblock a member",
          tags,
          security: secured,
          params: memberParams,
          headers: idempotencyHeaders,
          body: z
            .object({ reason: z.string().trim().min(1).max(500).optional() })
            .strict()
            .optional(),
          response: { 200: memberSchema, ...errorResponses },
        },
      },
      async (request, reply) =>
        write(ctx, request, reply, 200, (tx) =>
          setMemberStatus(
            tx,
            ctx.clock.now(),
            request.params.programId,
            request.params.memberId,
            action === "block" ? "blocked" : "active",
            request.body?.reason ?? null,
          ),
        ),
    );
  }
}
