import fastifySwagger from "@fastify/swagger";
import Fastify, { type FastifyBaseLogger, type FastifyRequest } from "fastify";
import {
  hasZodFastifySchemaValidationErrors,
  isResponseSerializationError,
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Ctx } from "../context.ts";
import { InvariantError } from "../lib/assert.ts";
import { DomainError, type ErrorCode } from "../lib/errors.ts";
import { newId } from "../lib/ids.ts";
import { authorize, keyCache } from "../modules/auth/index.ts";
import { assertStoreScope, authenticateStaff, hasSessionCookie } from "../modules/staff/index.ts";
import { openApiWebhooks } from "../modules/webhooks/index.ts";
import { type ErrorBody, httpStatusOf } from "./errors.ts";
import type { App } from "./kit.ts";
import { registerRateLimits } from "./rate-limit.ts";
import { registerAbuseRoutes } from "./routes/abuse.ts";
import { registerAuditRoutes } from "./routes/audit.ts";
import { registerCommunicationRoutes } from "./routes/communications.ts";
import { registerKeyRoutes } from "./routes/keys.ts";
import { registerLedgerRoutes } from "./routes/ledger.ts";
import { registerMemberRoutes } from "./routes/members.ts";
import { registerPortalRoutes } from "./routes/portal.ts";
import { registerPrivacyRoutes } from "./routes/privacy.ts";
import { registerProgramRoutes } from "./routes/programs.ts";
import { registerPurchaseRoutes } from "./routes/purchases.ts";
import { registerReferralRoutes } from "./routes/referrals.ts";
import { registerRewardRoutes } from "./routes/rewards.ts";
import { registerRulesRoutes } from "./routes/rules.ts";
import { registerSimulationRoutes } from "./routes/simulation.ts";
import { registerStaffRoutes } from "./routes/staff.ts";
import { registerStoreRoutes } from "./routes/stores.ts";
import { registerSystemRoutes } from "./routes/system.ts";
import { registerTierRoutes } from "./routes/tiers.ts";
import { registerWebhookRoutes } from "./routes/webhooks.ts";
import { registerWebRoutes } from "./web.ts";

export const bodyLimitBytes = 1_048_576;

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "invalid_json",
  FST_ERR_CTP_EMPTY_JSON_BODY: "invalid_json",
  FST_ERR_CTP_BODY_TOO_LARGE: "payload_too_large",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "unsupported_media_type",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "validation_failed",
};

/**
 * Path parameters and query fields that carry bearer values (invitation, unsubscribe, voucher)
 * or a member's personal data (search and look-up by name, phone, email or card number).
 */
const secretFields = new Set([
  "token",
  "code",
  "secret",
  "password",
  "q",
  "phone",
  "email",
  "card",
]);

/**
 * The request as the request log shows it: Fastify's fields, with the values of secret path
 * parameters and query fields replaced, so links that grant access never reach the logs.
 */
export function loggedRequest(request: FastifyRequest) {
  const queryAt = request.url.indexOf("?");
  const path = queryAt < 0 ? request.url : request.url.slice(0, queryAt);
  const pattern = (request.routeOptions?.url ?? "").split("/");
  const parts = path
    .split("/")
    .map((part, i) => (secretFields.has(pattern[i]?.slice(1) ?? "") ? "[redacted]" : part));
  const query = queryAt < 0 ? "" : request.url.slice(queryAt);
  return {
    method: request.method,
    url:
      parts.join("/") +
      query.replace(/([?&])([^=&]*)=[^&]*/g, (field, separator: string, name: string) =>
        secretFields.has(name.toLowerCase()) ? `${separator}${name}=[redacted]` : field,
      ),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

export async function buildServer(ctx: Ctx): Promise<App> {
  const trust = ctx.trustProxy ?? false;
  const app = Fastify({
    loggerInstance: ctx.log.child({}, { serializers: { req: loggedRequest } }) as FastifyBaseLogger,
    // Off unless SETIA_TRUST_PROXY says whose X-Forwarded-For to believe; a hop count becomes
    // the function Fastify itself makes of one (its types omit numbers).
    trustProxy: typeof trust === "number" ? (_address: string, hop: number) => hop < trust : trust,
    bodyLimit: bodyLimitBytes,
    genReqId: () => newId("request"),
    requestIdHeader: false,
  }).withTypeProvider<ZodTypeProvider>();
  // Bodies are JSON only: a text/plain body is refused as 415, not parsed into a string.
  app.removeContentTypeParser("text/plain");
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Setia API",
        version: "1.0.0",
        description:
          "Setia retail loyalty platform. Money is a decimal string in major units of the program's currency; points are integers. Errors are `{ error: { code, message, requestId, details? } }`.",
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: "http", scheme: "bearer", description: "API key (sk_…)" },
          staffSession: {
            type: "apiKey",
            in: "cookie",
            name: "setia_staff",
            description:
              "Staff session from /v1/staff/sign-in; unsafe methods also need x-csrf-token",
          },
          memberSession: {
            type: "apiKey",
            in: "cookie",
            name: "setia_member",
            description:
              "Member session from the portal sign-in; unsafe methods also need x-csrf-token",
          },
        },
      },
      // Event payloads as receivers of outbound webhooks get them (OpenAPI 3.1 webhooks).
      webhooks: openApiWebhooks(),
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  registerRateLimits(app, ctx);
  const keys = keyCache(ctx);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
    const access = request.routeOptions.config.access;
    if (!access || access === "public") return;
    const header = request.headers.authorization;
    // No API key but a staff session cookie: the staff role map decides (src/modules/staff).
    if (header === undefined && hasSessionCookie(request, "staff")) {
      request.principal = await authenticateStaff(ctx, request, access);
      return;
    }
    const match = typeof header === "string" ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    if (!match?.[1])
      throw new DomainError("unauthorized", "send an API key as Authorization: Bearer <key>");
    const principal = await keys.authenticate(match[1]);
    const programId = (request.params as { programId?: string } | undefined)?.programId ?? null;
    authorize(principal, access, programId);
    request.principal = principal;
  });
  // Cashiers act only for their stores; the store is in the body, parsed by now.
  app.addHook("preHandler", async (request) => assertStoreScope(request));

  app.setErrorHandler((error, request, reply) => {
    const send = (
      status: number,
      code: string,
      message: string,
      details?: Record<string, unknown>,
    ) => {
      const body: ErrorBody = {
        error: { code, message, requestId: request.id, ...(details && { details }) },
      };
      return reply.code(status).type("application/json").send(JSON.stringify(body));
    };
    if (error instanceof DomainError) {
      return send(httpStatusOf[error.code], error.code, error.message, error.details);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((issue) => ({
        path: [
          error.validationContext,
          ...String(issue.instancePath).split("/").filter(Boolean),
        ].join("."),
        message: issue.message ?? "invalid",
      }));
      return send(
        400,
        "validation_failed",
        `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        {
          issues,
        },
      );
    }
    const fastifyCode =
      typeof (error as { code?: unknown }).code === "string"
        ? (error as { code: string }).code
        : "";
    const mapped = fastifyCodes[fastifyCode];
    if (mapped) return send(httpStatusOf[mapped], mapped, (error as Error).message);
    if (isResponseSerializationError(error)) {
      request.log.error(
        { err: error, issues: error.cause.issues },
        "response did not match its schema",
      );
    } else if (error instanceof InvariantError) {
      request.log.fatal({ err: error }, "ledger invariant broken");
    } else {
      request.log.error({ err: error }, "unhandled error");
    }
    return send(500, "internal_error", "internal error; quote the request id when reporting it");
  });

  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      error: {
        code: "route_not_found",
        message: `no route ${request.method} ${request.url.split("?")[0]}`,
        requestId: request.id,
      },
    };
    return reply.code(404).send(body);
  });

  registerSystemRoutes(app, ctx);
  registerProgramRoutes(app, ctx);
  registerKeyRoutes(app, ctx, keys.clear);
  registerMemberRoutes(app, ctx);
  registerLedgerRoutes(app, ctx);
  registerPurchaseRoutes(app, ctx);
  registerRulesRoutes(app, ctx);
  registerTierRoutes(app, ctx);
  registerPrivacyRoutes(app, ctx);
  registerWebhookRoutes(app, ctx);
  registerReferralRoutes(app, ctx);
  registerSimulationRoutes(app, ctx);
  registerRewardRoutes(app, ctx);
  registerCommunicationRoutes(app, ctx);
  registerAuditRoutes(app, ctx);
  registerAbuseRoutes(app, ctx);
  registerStaffRoutes(app, ctx);
  registerStoreRoutes(app, ctx);
  registerPortalRoutes(app, ctx);
  await registerWebRoutes(app, ctx);
  await app.ready();
  return app;
}
