import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Ctx } from "../context.ts";
import type { Tx } from "../db/client.ts";
import { DomainError } from "../lib/errors.ts";
import { payloadHash } from "../lib/json.ts";
import { withAction } from "../modules/audit/index.ts";
import type { Principal, Role } from "../modules/auth/index.ts";
import { withIdempotency } from "../modules/idempotency/index.ts";
import { errorBodySchema } from "./errors.ts";

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

declare module "fastify" {
  interface FastifyContextConfig {
    /** Least role the route needs; "public" routes need no key. */
    access?: Role | "public";
    /** Record writes of every role in the audit log (writes by admin and owner keys always are). */
    audit?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

export const pageSizeMax = 200;

export const programParams = z.object({ programId: z.string().max(64) });

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(pageSizeMax).default(50),
  cursor: z.string().max(200).optional().describe("nextCursor of the previous page"),
});

export function pageOf<T>(schema: z.ZodType<T>) {
  return z.object({ data: z.array(schema), nextCursor: z.string().nullable() });
}

/** Cursors are opaque to clients: the last id of the page, encoded. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!/^[a-z]{3}_[0-9a-z]{26}$/.test(id)) {
    throw new DomainError("validation_failed", "cursor is not valid", { field: "cursor" });
  }
  return id;
}

export function page<T extends { id: string }>(rows: T[], limit: number) {
  const last = rows.at(-1);
  return { data: rows, nextCursor: rows.length === limit && last ? encodeCursor(last.id) : null };
}

/** Error responses every authenticated route can give, for the OpenAPI document. */
export const errorResponses = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
  413: errorBodySchema,
  415: errorBodySchema,
  422: errorBodySchema,
  429: errorBodySchema,
  500: errorBodySchema,
} as const;

/** Program routes take an API key or a staff session cookie. */
export const secured: Record<string, string[]>[] = [{ bearerAuth: [] }, { staffSession: [] }];
/** Staff account routes (/v1/staff/me…) take the staff session only. */
export const staffSecured = [{ staffSession: [] }];
/** Member portal routes (/v1/portal/…/me…) take the member session only. */
export const memberSecured = [{ memberSession: [] }];
/** Routes anyone may call (sign-in, public branding): an explicit empty requirement. */
export const unsecured: [] = [];

export const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe("Makes the write safe to retry: a replay answers the first response"),
});

/**
 * Runs a write in one database transaction. With an Idempotency-Key header the response is stored
 * with the write and replayed for the same key; without one the write simply runs.
 */
export async function write<T>(
  ctx: Ctx,
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  run: (tx: Tx) => Promise<T>,
): Promise<T> {
  const key = request.headers["idempotency-key"];
  if (typeof key !== "string" || key === "") {
    const body = await ctx.db.transaction(audited(ctx, request, run));
    reply.code(status);
    return body;
  }
  const principal = request.principal;
  const scope = principal?.programId ?? "deployment";
  const requestHash = payloadHash({
    method: request.method,
    url: request.url.split("?")[0],
    body: request.body ?? null,
  });
  const result = await withIdempotency(ctx, { scope, key, requestHash }, async (tx) => ({
    status,
    body: await audited(ctx, request, run)(tx),
  }));
  if (result.replayed) reply.header("idempotent-replayed", "true");
  reply.code(result.status);
  return result.body as T;
}

/**
 * The audit record of a write, or null: writes by admin and owner keys, by staff sessions, and
 * routes marked `audit`.
 */
function auditedAction(ctx: Ctx, request: FastifyRequest) {
  const principal = request.principal;
  if (!principal) return null;
  const marked = request.routeOptions.config.audit === true;
  const staff = request.staff;
  if (!marked && !staff && principal.role !== "admin" && principal.role !== "owner") return null;
  return {
    programId: (request.params as { programId?: string } | undefined)?.programId ?? null,
    actor: staff
      ? { type: "staff" as const, id: staff.staffId, role: staff.role }
      : { type: "api_key" as const, id: principal.keyId, role: principal.role },
    action: `${request.method} ${request.routeOptions.url ?? request.url.split("?")[0]}`,
    subject: (request.params ?? {}) as Record<string, unknown>,
    request: request.body ?? null,
    requestId: request.id,
    at: ctx.clock.now(),
  };
}

/** Wraps a write so its audit record is written in the same transaction. */
function audited<T>(ctx: Ctx, request: FastifyRequest, run: (tx: Tx) => Promise<T>) {
  const action = auditedAction(ctx, request);
  return action ? (tx: Tx) => withAction(tx, action, run) : run;
}

/**
 * The context to hand a module that opens its own transaction (programs, API keys): the write's
 * audit record goes into that transaction.
 */
export function auditedCtx(ctx: Ctx, request: FastifyRequest): Ctx {
  if (!auditedAction(ctx, request)) return ctx;
  return {
    ...ctx,
    db: {
      ...ctx.db,
      transaction: (fn) => ctx.db.transaction(audited(ctx, request, fn)),
    },
  };
}
