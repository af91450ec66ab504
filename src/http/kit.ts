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
  500: errorBodySchema,
} as const;

export const secured = [{ bearerAuth: [] }];

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
    const body = await ctx.db.transaction(run);
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
    body: await run(tx),
  }));
  if (result.replayed) reply.header("idempotent-replayed", "true");
  reply.code(result.status);
  return result.body as T;
}
