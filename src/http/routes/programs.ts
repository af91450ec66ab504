import { z } from "zod";
import type { Ctx } from "../../context.ts";
import {
  createProgram,
  getProgramView,
  listPrograms,
  programCreateSchema,
  programSchema,
  programUpdateSchema,
  updateProgram,
} from "../../modules/programs/index.ts";
import { type App, auditedCtx, errorResponses, programParams, secured } from "../kit.ts";

export function registerProgramRoutes(app: App, ctx: Ctx): void {
  const tags = ["programs"];
  app.post(
    "/v1/programs",
    {
      config: { access: "owner" },
      schema: {
        summary: "Create a program (a brand with its own currency, earn rate and expiry)",
        tags,
        security: secured,
        body: programCreateSchema,
        response: { 201: programSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      reply.code(201);
      return createProgram(auditedCtx(ctx, request), request.body);
    },
  );

  app.get(
    "/v1/programs",
    {
      config: { access: "read" },
      schema: {
        summary: "List the programs this key can see",
        tags,
        security: secured,
        response: { 200: z.object({ data: z.array(programSchema) }), ...errorResponses },
      },
    },
    async (request) => {
      const programId = request.principal?.programId;
      const data = programId ? [await getProgramView(ctx, programId)] : await listPrograms(ctx);
      return { data };
    },
  );

  app.get(
    "/v1/programs/:programId",
    {
      // The till reads it too (currency, locale): a cashier may.
      config: { access: "read", area: "pos" },
      schema: {
        summary: "Read a program",
        tags,
        security: secured,
        params: programParams,
        response: { 200: programSchema, ...errorResponses },
      },
    },
    async (request) => getProgramView(ctx, request.params.programId),
  );

  app.patch(
    "/v1/programs/:programId",
    {
      config: { access: "admin" },
      schema: {
        summary: "Change a program's settings (currency is fixed at creation)",
        tags,
        security: secured,
        params: programParams,
        body: programUpdateSchema,
        response: { 200: programSchema, ...errorResponses },
      },
    },
    async (request) =>
      updateProgram(auditedCtx(ctx, request), request.params.programId, request.body),
  );
}
