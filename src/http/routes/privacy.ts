import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { findMemberRow, memberSchema, toView } from "../../modules/members/index.ts";
import {
  eraseMember,
  erasureRequestSchema,
  erasureSchema,
  exportMember,
  listErasures,
} from "../../modules/privacy/index.ts";
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
import { memberParams } from "./members.ts";

export const memberExportSchema = z
  .object({
    format: z.string().describe('"setia.member-export/1"'),
    exportedAt: z.string(),
    programId: z.string(),
    memberId: z.string(),
    sections: z
      .record(z.string(), z.record(z.string(), z.unknown()))
      .describe("One section per module: profile, ledger, purchases, referrals, events, …"),
  })
  .meta({ id: "MemberExport" });

const erasureResultSchema = z
  .object({ erasure: erasureSchema, member: memberSchema })
  .meta({ id: "ErasureResult" });

export function registerPrivacyRoutes(app: App, ctx: Ctx): void {
  const tags = ["privacy"];

  app.get(
    "/v1/programs/:programId/members/:memberId/export",
    {
      config: { access: "admin" },
      schema: {
        summary: "Export everything the platform holds about a member (JSON download)",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: memberExportSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, memberId } = request.params;
      const document = await exportMember(ctx.db.kysely, programId, memberId, ctx.clock.now());
      reply.header("content-disposition", `attachment; filename="${memberId}.json"`);
      // Personal data: no cache, proxy or browser, keeps a copy.
      reply.header("cache-control", "no-store");
      return document;
    },
  );

  app.post(
    "/v1/programs/:programId/members/:memberId/erase",
    {
      config: { access: "admin" },
      schema: {
        summary: "Erase a member's personal data everywhere; the ledger keeps the pseudonymous id",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: erasureRequestSchema,
        response: { 200: erasureResultSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, async (tx) => {
        const { programId, memberId } = request.params;
        const { erasure } = await eraseMember(tx, {
          programId,
          memberId,
          reason: request.body.reason,
          requestedBy: request.principal?.keyId ?? null,
          at: ctx.clock.now(),
        });
        return { erasure, member: toView(await findMemberRow(tx, programId, { id: memberId })) };
      }),
  );

  app.get(
    "/v1/programs/:programId/erasures",
    {
      config: { access: "admin" },
      schema: {
        summary: "The program's erasure log, oldest first (no personal data)",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(erasureSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await listErasures(ctx.db.kysely, {
        programId: request.params.programId,
        after: decodeCursor(cursor),
        limit,
      });
      return page(rows, limit);
    },
  );
}
