import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  apiKeyCreateSchema,
  apiKeySchema,
  createApiKey,
  listApiKeys,
  revokeApiKey,
} from "../../modules/auth/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
import { type App, auditedCtx, errorResponses, programParams, secured } from "../kit.ts";

export function registerKeyRoutes(app: App, ctx: Ctx, clearKeyCache: () => void): void {
  const tags = ["api keys"];
  app.post(
    "/v1/programs/:programId/api-keys",
    {
      config: { access: "admin" },
      schema: {
        summary: "Create an API key for this program; the secret is shown only in this response",
        tags,
        security: secured,
        params: programParams,
        body: apiKeyCreateSchema,
        response: { 201: z.object({ key: apiKeySchema, secret: z.string() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      await getProgram(ctx.db.kysely, request.params.programId);
      reply.code(201);
      return createApiKey(auditedCtx(ctx, request), request.params.programId, request.body);
    },
  );

  app.get(
    "/v1/programs/:programId/api-keys",
    {
      config: { access: "admin" },
      schema: {
        summary: "List this program's API keys (never their secrets)",
        tags,
        security: secured,
        params: programParams,
        response: { 200: z.object({ data: z.array(apiKeySchema) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await listApiKeys(ctx, request.params.programId) }),
  );

  app.post(
    "/v1/programs/:programId/api-keys/:keyId/revoke",
    {
      config: { access: "admin" },
      schema: {
        summary: "Revoke an API key at once",
        tags,
        security: secured,
        params: programParams.extend({ keyId: z.string().max(64) }),
        response: { 200: apiKeySchema, ...errorResponses },
      },
    },
    async (request) => {
      const key = await revokeApiKey(
        auditedCtx(ctx, request),
        request.params.programId,
        request.params.keyId,
      );
      clearKeyCache();
      return key;
    },
  );
}
