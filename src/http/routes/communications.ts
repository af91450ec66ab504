import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import {
  addPushSubscription,
  builtinTemplates,
  commSettingsSchema,
  commSettingsUpdateSchema,
  createTemplate,
  deleteTemplate,
  escapeHtml,
  getPreferences,
  getSettings,
  getTemplate,
  listMessages,
  listPushSubscriptions,
  listTemplates,
  memberLocale,
  messageFilterSchema,
  messageSchema,
  preferencesSchema,
  previewMessage,
  previewResultSchema,
  previewSchema,
  pushSubscriptionCreateSchema,
  pushSubscriptionSchema,
  readUnsubscribeToken,
  removePushSubscription,
  setPreferences,
  signatureHeader,
  templateCreateSchema,
  templateSchema,
  templateUpdateSchema,
  templateVariables,
  triggers,
  updateSettings,
  updateTemplate,
  vapidKeys,
  verifySignature,
} from "../../modules/communications/index.ts";
import { findMemberRow, updateMember } from "../../modules/members/index.ts";
import { getProgram } from "../../modules/programs/index.ts";
import { errorBodySchema } from "../errors.ts";
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

const settingsView = commSettingsSchema
  .extend({
    vapidPublicKey: z.string().describe("Application server key for PushManager.subscribe()"),
  })
  .meta({ id: "CommunicationSettingsView" });

export function registerCommunicationRoutes(app: App, ctx: Ctx): void {
  const tags = ["communications"];
  const base = "/v1/programs/:programId";
  const withKey = async (settings: z.infer<typeof commSettingsSchema>) => ({
    ...settings,
    vapidPublicKey: (await vapidKeys(ctx)).publicKey,
  });

  app.get(
    `${base}/communication-settings`,
    {
      config: { access: "read" },
      schema: {
        summary: "Communication settings: channels, quiet hours, caps, sender, tone",
        tags,
        security: secured,
        params: programParams,
        response: { 200: settingsView, ...errorResponses },
      },
    },
    async (request) => {
      await getProgram(ctx.db.kysely, request.params.programId);
      return withKey(await getSettings(ctx.db.kysely, request.params.programId));
    },
  );

  app.patch(
    `${base}/communication-settings`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Change communication settings (only the fields sent)",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: commSettingsUpdateSchema,
        response: { 200: settingsView, ...errorResponses },
      },
    },
    async (request, reply) =>
      withKey(
        await write(ctx, request, reply, 200, (tx) =>
          updateSettings(tx, ctx.clock.now(), request.params.programId, request.body),
        ),
      ),
  );

  const templateParams = programParams.extend({ templateId: z.string().max(64) });
  const builtinSchema = z.object({
    trigger: z.enum(triggers),
    locale: z.enum(["id", "en"]),
    subject: z.string(),
    body: z.string(),
  });

  app.get(
    `${base}/message-templates`,
    {
      config: { access: "read" },
      schema: {
        summary: "The program's template overrides, the built-in defaults and the variables",
        tags,
        security: secured,
        params: programParams,
        response: {
          200: z.object({
            data: z.array(templateSchema),
            builtin: z.array(builtinSchema),
            variables: z.array(z.string()),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => ({
      data: await listTemplates(ctx.db.kysely, request.params.programId),
      builtin: triggers.flatMap((trigger) =>
        (["id", "en"] as const).map((locale) => ({
          trigger,
          locale,
          ...builtinTemplates[trigger][locale],
        })),
      ),
      variables: [...templateVariables],
    }),
  );

  app.post(
    `${base}/message-templates`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Override a built-in template for a trigger, language and tone",
        tags,
        security: secured,
        params: programParams,
        headers: idempotencyHeaders,
        body: templateCreateSchema,
        response: { 201: templateSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, (tx) =>
        createTemplate(tx, ctx.clock.now(), request.params.programId, request.body),
      ),
  );

  app.post(
    `${base}/message-templates/preview`,
    {
      config: { access: "read" },
      schema: {
        summary: "Render a template for a member or sample data (nothing is sent)",
        tags,
        security: secured,
        params: programParams,
        body: previewSchema,
        response: { 200: previewResultSchema, ...errorResponses },
      },
    },
    async (request) => previewMessage(ctx, request.params.programId, request.body),
  );

  app.get(
    `${base}/message-templates/:templateId`,
    {
      config: { access: "read" },
      schema: {
        summary: "Read a template override",
        tags,
        security: secured,
        params: templateParams,
        response: { 200: templateSchema, ...errorResponses },
      },
    },
    async (request) =>
      getTemplate(ctx.db.kysely, request.params.programId, request.params.templateId),
  );

  app.patch(
    `${base}/message-templates/:templateId`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Change a template override's subject or body",
        tags,
        security: secured,
        params: templateParams,
        headers: idempotencyHeaders,
        body: templateUpdateSchema,
        response: { 200: templateSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        updateTemplate(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.templateId,
          request.body,
        ),
      ),
  );

  app.delete(
    `${base}/message-templates/:templateId`,
    {
      config: { access: "admin" },
      schema: {
        summary: "Delete a template override (the built-in text applies again)",
        tags,
        security: secured,
        params: templateParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      await ctx.db.transaction((tx) =>
        deleteTemplate(tx, request.params.programId, request.params.templateId),
      );
      reply.code(204);
      return null;
    },
  );

  const subscriptionParams = memberParams.extend({ subscriptionId: z.string().max(64) });

  app.post(
    `${base}/members/:memberId/push-subscriptions`,
    {
      config: { access: "pos" },
      schema: {
        summary: "Register a browser's web push subscription for a member",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: pushSubscriptionCreateSchema,
        response: { 201: pushSubscriptionSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 201, (tx) =>
        addPushSubscription(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.memberId,
          request.body,
        ),
      ),
  );

  app.get(
    `${base}/members/:memberId/push-subscriptions`,
    {
      config: { access: "read" },
      schema: {
        summary: "A member's push subscriptions",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: z.object({ data: z.array(pushSubscriptionSchema) }), ...errorResponses },
      },
    },
    async (request) => ({
      data: await listPushSubscriptions(ctx, request.params.programId, request.params.memberId),
    }),
  );

  app.delete(
    `${base}/members/:memberId/push-subscriptions/:subscriptionId`,
    {
      config: { access: "pos" },
      schema: {
        summary: "Remove a push subscription",
        tags,
        security: secured,
        params: subscriptionParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, memberId, subscriptionId } = request.params;
      await ctx.db.transaction((tx) =>
        removePushSubscription(tx, programId, memberId, subscriptionId),
      );
      reply.code(204);
      return null;
    },
  );

  app.get(
    `${base}/members/:memberId/communication-preferences`,
    {
      config: { access: "read" },
      schema: {
        summary: "A member's message language",
        tags,
        security: secured,
        params: memberParams,
        response: { 200: preferencesSchema, ...errorResponses },
      },
    },
    async (request) => getPreferences(ctx, request.params.programId, request.params.memberId),
  );

  app.put(
    `${base}/members/:memberId/communication-preferences`,
    {
      config: { access: "pos" },
      schema: {
        summary: "Set a member's message language",
        tags,
        security: secured,
        params: memberParams,
        headers: idempotencyHeaders,
        body: preferencesSchema,
        response: { 200: preferencesSchema, ...errorResponses },
      },
    },
    async (request, reply) =>
      write(ctx, request, reply, 200, (tx) =>
        setPreferences(
          tx,
          ctx.clock.now(),
          request.params.programId,
          request.params.memberId,
          request.body,
        ),
      ),
  );

  const messagesQuery = pageQuery.extend(messageFilterSchema.shape);

  app.get(
    `${base}/members/:memberId/messages`,
    {
      config: { access: "read" },
      schema: {
        summary: "A member's messages, newest first, with state and reason",
        tags,
        security: secured,
        params: memberParams,
        querystring: messagesQuery,
        response: { 200: pageOf(messageSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const rows = await listMessages(
        ctx,
        request.params.programId,
        { ...filter, memberId: request.params.memberId },
        { limit, before: decodeCursor(cursor) },
      );
      return page(rows, limit);
    },
  );

  app.get(
    `${base}/messages`,
    {
      config: { access: "read" },
      schema: {
        summary: "The program's message log, newest first (filter by state, trigger, channel)",
        tags,
        security: secured,
        params: programParams,
        querystring: messagesQuery,
        response: { 200: pageOf(messageSchema), ...errorResponses },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const rows = await listMessages(ctx, request.params.programId, filter, {
        limit,
        before: decodeCursor(cursor),
      });
      return page(rows, limit);
    },
  );

  registerPublicRoutes(app, ctx);
}

const publicErrors = { 400: errorBodySchema, 401: errorBodySchema, 404: errorBodySchema };

const pageTexts = {
  id: {
    title: "Berhenti berlangganan",
    done: (channel: string, program: string) =>
      `Anda tidak akan lagi menerima pesan ${channel} dari ${program}. Anda bisa berlangganan lagi kapan saja di toko atau aplikasi kami.`,
  },
  en: {
    title: "Unsubscribed",
    done: (channel: string, program: string) =>
      `You will no longer receive ${channel} messages from ${program}. You can subscribe again at any time in our shop or app.`,
  },
};

/** Routes members and gateways reach without an API key: unsubscribe links and inbound SMS. */
function registerPublicRoutes(app: App, ctx: Ctx): void {
  const tags = ["communications"];
  const tokenParams = z.object({ token: z.string().min(1).max(400) });

  // GET is what a click sends; POST is RFC 8058 one-click unsubscribe from the mail client.
  for (const method of ["get", "post"] as const) {
    app[method](
      "/u/:token",
      {
        config: { access: "public" },
        schema: {
          summary: "Unsubscribe link from a message: withdraws that channel's consent",
          tags,
          params: tokenParams,
          response: publicErrors,
        },
      },
      async (request, reply) => {
        const target = await readUnsubscribeToken(ctx, request.params.token);
        const program = await getProgram(ctx.db.kysely, target.programId);
        const locale = await ctx.db.transaction(async (tx) => {
          await updateMember(tx, ctx.clock.now(), target.programId, target.memberId, {
            marketing: { [target.channel]: false },
          });
          return memberLocale(tx, target.memberId, program.locale);
        });
        const text = pageTexts[locale];
        const html = `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${text.title}</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem"><h1>${text.title}</h1><p>${escapeHtml(text.done(target.channel, program.name))}</p></body></html>`;
        // A page, not JSON: sent raw, past the schema serializer.
        return reply.type("text/html; charset=utf-8").send(html as never);
      },
    );
  }

  // The provider's inbound webhook needs the exact bytes it signed, so this scope keeps them.
  app.register(async (scope) => {
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
      (request as { rawBody?: string }).rawBody = body as string;
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(new DomainError("invalid_json", "body is not valid JSON"), undefined);
      }
    });
    scope.withTypeProvider<ZodTypeProvider>().post(
      "/inbound/programs/:programId/messages",
      {
        config: { access: "public" },
        schema: {
          summary: "Inbound SMS/WhatsApp from the provider (signed); STOP withdraws consent",
          description: `Signed like outbound requests: header \`${signatureHeader}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">\` with the provider secret.`,
          tags,
          params: programParams,
          body: z
            .object({
              from: z.string().min(1).max(40),
              channel: z.enum(["sms", "whatsapp"]),
              body: z.string().max(2000),
            })
            .strict(),
          response: {
            200: z.object({
              action: z.enum(["unsubscribed", "ignored"]),
              reason: z.string().nullable(),
            }),
            ...publicErrors,
          },
        },
      },
      async (request) => {
        const secret = ctx.communications?.provider?.secret;
        const header = request.headers[signatureHeader];
        const raw = (request as { rawBody?: string }).rawBody ?? "";
        if (
          !secret ||
          typeof header !== "string" ||
          !verifySignature(secret, raw, header, ctx.clock.now())
        ) {
          throw new DomainError("signature_invalid", `missing or wrong ${signatureHeader} header`);
        }
        const { programId } = request.params;
        const command = request.body.body.trim().toUpperCase();
        if (!stopWords.has(command)) return { action: "ignored" as const, reason: "not_a_command" };
        return ctx.db.transaction(async (tx) => {
          let memberId: string;
          try {
            memberId = (await findMemberRow(tx, programId, { phone: request.body.from })).id;
          } catch (error) {
            if (error instanceof DomainError) {
              return { action: "ignored" as const, reason: "unknown_sender" };
            }
            throw error;
          }
          await updateMember(tx, ctx.clock.now(), programId, memberId, {
            marketing: { [request.body.channel]: false },
          });
          return { action: "unsubscribed" as const, reason: null };
        });
      },
    );
  });
}

/** Replies that withdraw consent, in Indonesian and English. */
const stopWords = new Set(["STOP", "BERHENTI", "UNSUBSCRIBE", "UNREG"]);
