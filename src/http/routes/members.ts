import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { invariant } from "../../lib/assert.ts";
import { readBalance, readBalances } from "../../modules/ledger/index.ts";
import {
  enrolMember,
  getMember,
  listMembers,
  lookupMember,
  type MemberView,
  memberEnrolSchema,
  memberLookupSchema,
  memberSchema,
  memberUpdateSchema,
  nameSearchLimitMax,
  searchMembers,
  setMemberStatus,
  updateMember,
} from "../../modules/members/index.ts";
import { attachReferral } from "../../modules/referrals/index.ts";
import { profileComplete, recordAutomaticActivity } from "../../modules/rules/index.ts";
import { getMemberTiers } from "../../modules/tiers/index.ts";
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

const memberListItem = memberSchema
  .extend({
    balance: balanceSchema,
    tier: z
      .object({ code: z.string(), rank: z.number().int() })
      .nullable()
      .describe("The member's tier; null when the program has no tier ladder"),
  })
  .meta({ id: "MemberListItem" });

const memberListQuery = pageQuery
  .extend({
    q: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .optional()
      .describe(
        'Search: a phone number (any format), an email, a card number, or the beginnings of the words of a name (at least 3 letters, e.g. "budi san"); at most 50 results, no cursor',
      ),
  })
  .refine((query) => query.q === undefined || query.cursor === undefined, {
    message: "a search (q) has no cursor: type more of the name instead",
    path: ["cursor"],
  })
  .refine((query) => query.q === undefined || query.limit <= nameSearchLimitMax, {
    message: `a search (q) answers at most ${nameSearchLimitMax} members`,
    path: ["limit"],
  });

export function registerMemberRoutes(app: App, ctx: Ctx): void {
  const tags = ["members"];
  const withBalance = async <T extends { id: string }>(member: T) => {
    const balance = await readBalance(ctx.db.kysely, member.id);
    return { ...member, balance: balanceOf(balance) };
  };
  // Lists and search results show balance and tier, each read for the whole page at once.
  const listItems = async (programId: string, members: MemberView[]) => {
    const ids = members.map((member) => member.id);
    const [balances, tiers] = await Promise.all([
      readBalances(ctx.db.kysely, ids),
      getMemberTiers(ctx.db.kysely, programId, ids),
    ]);
    return members.map((member) => {
      const tier = tiers.get(member.id);
      const balance = balances.get(member.id);
      invariant(balance, `member ${member.id} has no balance row`);
      return {
        ...member,
        balance: balanceOf(balance),
        tier: tier ? { code: tier.code, rank: tier.rank } : null,
      };
    });
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
        summary: "List members, oldest first, or search them by phone, email, card or name (q)",
        tags,
        security: secured,
        params: programParams,
        querystring: memberListQuery,
        response: {
          200: pageOf(memberListItem).extend({
            more: z
              .boolean()
              .describe("More members than this page: follow nextCursor, or refine q"),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { programId } = request.params;
      const { limit, cursor, q } = request.query;
      if (q !== undefined) {
        const found = await searchMembers(ctx, programId, q, limit);
        return {
          data: await listItems(programId, found.members),
          nextCursor: null,
          more: found.more,
        };
      }
      const rows = await listMembers(ctx, programId, { limit, after: decodeCursor(cursor) });
      const listed = page(await listItems(programId, rows), limit);
      return { ...listed, more: listed.nextCursor !== null };
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
