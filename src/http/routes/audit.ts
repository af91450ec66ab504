import { Readable } from "node:stream";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { exportAudit, publicKeyOf, verifyAudit } from "../../modules/audit/index.ts";
import {
  type App,
  decodeCursor,
  errorResponses,
  page,
  pageOf,
  pageQuery,
  programParams,
  secured,
} from "../kit.ts";

const brokenSchema = z.object({
  seq: z.number().int(),
  problem: z.enum([
    "seq_gap",
    "link_broken",
    "hash_mismatch",
    "source_missing",
    "content_changed",
    "checkpoint_mismatch",
    "signature_invalid",
    "unknown_signing_key",
  ]),
  table: z.string().nullable().describe("Table of the record's content"),
  rowId: z.string().nullable().describe("Row of that table"),
  expected: z.string().nullable(),
  actual: z.string().nullable(),
});

export const auditVerifySchema = z
  .object({
    ok: z.boolean(),
    chained: z.number().int(),
    pending: z
      .number()
      .int()
      .describe("Entries and actions not chained yet (chained within seconds)"),
    head: z.object({ seq: z.number().int(), hash: z.string() }).nullable(),
    checkpoints: z.object({ count: z.number().int(), lastSeq: z.number().int().nullable() }),
    signingPublicKey: z
      .string()
      .nullable()
      .describe("Base64 SPKI of the configured checkpoint key; null when none is configured"),
    firstBroken: brokenSchema.nullable(),
  })
  .meta({ id: "AuditVerifyReport" });

const actionSchema = z
  .object({
    id: z.string(),
    actor: z.object({ type: z.string(), id: z.string(), role: z.string() }),
    action: z.string(),
    subject: z.unknown(),
    details: z.unknown(),
    requestId: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "AuditAction" });

/** The configured key's public half, the one every checkpoint must be signed with. */
export function trustedPublicKey(ctx: Ctx): string | null {
  const key = ctx.audit?.signingKey ?? null;
  return key ? publicKeyOf(key) : null;
}

export function registerAuditRoutes(app: App, ctx: Ctx): void {
  const tags = ["audit"];

  app.get(
    "/v1/audit/verify",
    {
      config: { access: "owner" },
      schema: {
        summary:
          "Check the audit hash chain, recompute every record from the live rows, check checkpoints",
        tags,
        security: secured,
        response: { 200: auditVerifySchema, ...errorResponses },
      },
    },
    async () => {
      const signingPublicKey = trustedPublicKey(ctx);
      const report = await verifyAudit(ctx.db.kysely, { trustedPublicKey: signingPublicKey });
      return { ...report, signingPublicKey };
    },
  );

  app.get(
    "/v1/audit/export",
    {
      config: { access: "owner" },
      schema: {
        summary:
          "The audit chain as JSON Lines (header, records with content, signed checkpoints); see docs/audit.md",
        tags,
        security: secured,
        response: {
          200: z.string().describe("application/x-ndjson: one JSON document per line"),
          ...errorResponses,
        },
      },
    },
    async (_request, reply) =>
      reply
        .type("application/x-ndjson")
        .header("content-disposition", 'attachment; filename="setia-audit.jsonl"')
        // A stream is piped as it is, never serialised; the schema above documents it.
        .send(Readable.from(exportAudit(ctx)) as unknown as string),
  );

  app.get(
    "/v1/programs/:programId/audit/actions",
    {
      config: { access: "admin" },
      schema: {
        summary: "Admin actions on this program, newest first (who, which route, what it did)",
        tags,
        security: secured,
        params: programParams,
        querystring: pageQuery,
        response: { 200: pageOf(actionSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      let query = ctx.db.kysely
        .selectFrom("audit_actions")
        .selectAll()
        .where("program_id", "=", request.params.programId)
        .orderBy("id", "desc")
        .limit(limit);
      const before = decodeCursor(cursor);
      if (before) query = query.where("id", "<", before);
      const rows = await query.execute();
      return page(
        rows.map((row) => ({
          id: row.id,
          actor: { type: row.actor_type, id: row.actor_id, role: row.actor_role },
          action: row.action,
          subject: row.subject,
          details: row.details,
          requestId: row.request_id,
          createdAt: row.created_at.toISOString(),
        })),
        limit,
      );
    },
  );
}
