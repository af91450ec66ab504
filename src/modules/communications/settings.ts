import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { findMemberRow } from "../members/index.ts";
import { getProgram } from "../programs/index.ts";
import type { MessageTemplatesTable } from "./tables.ts";
import {
  builtinTemplates,
  checkTemplate,
  type Locale,
  locales,
  type TemplateText,
  type Tone,
  type Trigger,
  tones,
  triggers,
} from "./templates.ts";

export const messageChannels = ["email", "sms", "whatsapp", "push"] as const;

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: "a time of day as HH:MM (24 h)" });

const settingsFields = {
  channels: z
    .array(z.enum(messageChannels))
    .max(messageChannels.length)
    .refine((list) => new Set(list).size === list.length, { message: "a channel is listed twice" })
    .describe("Channels a triggered message goes out on, each if the member consented to it"),
  quietHours: z
    .object({ start: clockTime, end: clockTime })
    .strict()
    .refine((value) => value.start !== value.end, { message: "start and end must differ" })
    .nullable()
    .describe("Local time window (program timezone) in which messages wait; null = none"),
  marketingMessagesPerDayMax: z
    .number()
    .int()
    .min(0)
    .max(50)
    .describe("Marketing messages per member per local day; more are suppressed"),
  expiringNoticeDays: z
    .number()
    .int()
    .min(1)
    .max(365)
    .describe("Days before expiry that the points-expiring message goes out"),
  winbackAfterDays: z
    .number()
    .int()
    .min(7)
    .max(730)
    .describe("Days without activity after which the win-back message goes out"),
  senderName: z.string().trim().min(1).max(120).nullable().describe("Email From name"),
  senderEmail: z.email().max(254).nullable().describe("Email From address"),
  tone: z.enum(tones),
  disabledTriggers: z.array(z.enum(triggers)).max(triggers.length),
};

export const commSettingsSchema = z.object(settingsFields).meta({ id: "CommunicationSettings" });
export type CommSettings = z.infer<typeof commSettingsSchema>;

export const commSettingsUpdateSchema = z
  .object(settingsFields)
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

export const defaultSettings: CommSettings = {
  channels: ["email", "push"],
  quietHours: { start: "21:00", end: "08:00" },
  marketingMessagesPerDayMax: 2,
  expiringNoticeDays: 14,
  winbackAfterDays: 90,
  senderName: null,
  senderEmail: null,
  tone: "friendly",
  disabledTriggers: [],
};

export async function getSettings(db: Queryable | Tx, programId: string): Promise<CommSettings> {
  const row = await db
    .selectFrom("comm_settings")
    .select("settings")
    .where("program_id", "=", programId)
    .executeTakeFirst();
  return { ...defaultSettings, ...((row?.settings as Partial<CommSettings>) ?? {}) };
}

export async function updateSettings(
  tx: Tx,
  now: Date,
  programId: string,
  input: z.infer<typeof commSettingsUpdateSchema>,
): Promise<CommSettings> {
  await getProgram(tx, programId);
  const next = { ...(await getSettings(tx, programId)), ...input };
  await tx
    .insertInto("comm_settings")
    .values({ program_id: programId, settings: JSON.stringify(next), updated_at: now })
    .onConflict((oc) =>
      oc.column("program_id").doUpdateSet({ settings: JSON.stringify(next), updated_at: now }),
    )
    .execute();
  return next;
}

export const templateSchema = z
  .object({
    id: z.string(),
    trigger: z.enum(triggers),
    locale: z.enum(locales),
    tone: z.enum(["any", ...tones]),
    subject: z.string(),
    body: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "MessageTemplate" });
export type TemplateView = z.infer<typeof templateSchema>;

const subjectText = z.string().trim().min(1).max(300);
const bodyText = z.string().trim().min(1).max(10_000);

export const templateCreateSchema = z
  .object({
    trigger: z.enum(triggers),
    locale: z.enum(locales),
    tone: z
      .enum(["any", ...tones])
      .default("any")
      .describe("'any' serves every tone"),
    subject: subjectText.describe("Email subject and push title"),
    body: bodyText.describe("Plain text with {{variables}}; HTML-escaped in email"),
  })
  .strict();

export const templateUpdateSchema = z
  .object({ subject: subjectText, body: bodyText })
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

function templateView(row: MessageTemplatesTable): TemplateView {
  return {
    id: row.id,
    trigger: row.trigger as Trigger,
    locale: row.locale,
    tone: row.tone,
    subject: row.subject,
    body: row.body,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export async function listTemplates(db: Queryable, programId: string): Promise<TemplateView[]> {
  await getProgram(db, programId);
  const rows = await db
    .selectFrom("message_templates")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("trigger")
    .orderBy("locale")
    .orderBy("tone")
    .execute();
  return rows.map(templateView);
}

export async function getTemplate(
  db: Queryable | Tx,
  programId: string,
  templateId: string,
): Promise<TemplateView> {
  const row = await db
    .selectFrom("message_templates")
    .selectAll()
    .where("program_id", "=", programId)
    .where("id", "=", templateId)
    .executeTakeFirst();
  if (!row) throw notFound("message_template_not_found", templateId);
  return templateView(row);
}

export async function createTemplate(
  tx: Tx,
  now: Date,
  programId: string,
  input: z.infer<typeof templateCreateSchema>,
): Promise<TemplateView> {
  checkTemplate(input.subject, "subject");
  checkTemplate(input.body, "body");
  await getProgram(tx, programId);
  const row: MessageTemplatesTable = {
    id: newId("messageTemplate"),
    program_id: programId,
    trigger: input.trigger,
    locale: input.locale,
    tone: input.tone,
    subject: input.subject,
    body: input.body,
    created_at: now,
    updated_at: now,
  };
  const inserted = await tx
    .insertInto("message_templates")
    .values(row)
    .onConflict((oc) => oc.columns(["program_id", "trigger", "locale", "tone"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (!inserted) {
    throw new DomainError(
      "message_template_exists",
      `a template for ${input.trigger} (${input.locale}, ${input.tone}) exists; change it with PATCH`,
      { trigger: input.trigger, locale: input.locale, tone: input.tone },
    );
  }
  return templateView(row);
}

export async function updateTemplate(
  tx: Tx,
  now: Date,
  programId: string,
  templateId: string,
  input: z.infer<typeof templateUpdateSchema>,
): Promise<TemplateView> {
  if (input.subject !== undefined) checkTemplate(input.subject, "subject");
  if (input.body !== undefined) checkTemplate(input.body, "body");
  const row = await tx
    .updateTable("message_templates")
    .set({ ...input, updated_at: now })
    .where("program_id", "=", programId)
    .where("id", "=", templateId)
    .returningAll()
    .executeTakeFirst();
  if (!row) throw notFound("message_template_not_found", templateId);
  return templateView(row);
}

export async function deleteTemplate(tx: Tx, programId: string, templateId: string): Promise<void> {
  const row = await tx
    .deleteFrom("message_templates")
    .where("program_id", "=", programId)
    .where("id", "=", templateId)
    .returning("id")
    .executeTakeFirst();
  if (!row) throw notFound("message_template_not_found", templateId);
}

/** The text a message uses: the program's override for the tone, then for any tone, then built-in. */
export async function resolveTemplate(
  db: Queryable | Tx,
  programId: string,
  trigger: Trigger,
  locale: Locale,
  tone: Tone,
): Promise<TemplateText & { source: "program" | "builtin" }> {
  const rows = await db
    .selectFrom("message_templates")
    .select(["tone", "subject", "body"])
    .where("program_id", "=", programId)
    .where("trigger", "=", trigger)
    .where("locale", "=", locale)
    .where("tone", "in", [tone, "any"])
    .execute();
  const chosen = rows.find((row) => row.tone === tone) ?? rows[0];
  if (chosen) return { subject: chosen.subject, body: chosen.body, source: "program" };
  return { ...builtinTemplates[trigger][locale], source: "builtin" };
}

export const preferencesSchema = z
  .object({ locale: z.enum(locales).describe("Language of the member's messages") })
  .strict()
  .meta({ id: "CommunicationPreferences" });

/** A member's message language: their own choice, else the program's. */
export async function memberLocale(
  db: Queryable | Tx,
  memberId: string,
  programLocale: string,
): Promise<Locale> {
  const row = await db
    .selectFrom("comm_member_prefs")
    .select("locale")
    .where("member_id", "=", memberId)
    .executeTakeFirst();
  return row?.locale ?? (programLocale === "en" ? "en" : "id");
}

export async function setPreferences(
  tx: Tx,
  now: Date,
  programId: string,
  memberId: string,
  input: z.infer<typeof preferencesSchema>,
): Promise<z.infer<typeof preferencesSchema>> {
  await findMemberRow(tx, programId, { id: memberId });
  await tx
    .insertInto("comm_member_prefs")
    .values({ member_id: memberId, program_id: programId, locale: input.locale, updated_at: now })
    .onConflict((oc) =>
      oc.column("member_id").doUpdateSet({ locale: input.locale, updated_at: now }),
    )
    .execute();
  return input;
}

export async function getPreferences(ctx: Ctx, programId: string, memberId: string) {
  const program = await getProgram(ctx.db.kysely, programId);
  await findMemberRow(ctx.db.kysely, programId, { id: memberId });
  return { locale: await memberLocale(ctx.db.kysely, memberId, program.locale) };
}

const base64url = z.string().regex(/^[A-Za-z0-9_-]+={0,2}$/, { message: "base64url" });

export const pushSubscriptionCreateSchema = z
  .object({
    endpoint: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .describe("PushSubscription.endpoint"),
    keys: z
      .object({
        p256dh: base64url.min(80).max(100).describe("P-256 public key, uncompressed, base64url"),
        auth: base64url.min(16).max(32).describe("16-byte auth secret, base64url"),
      })
      .strict(),
  })
  .strict()
  .describe("The browser's PushSubscription.toJSON() without expirationTime");

export const pushSubscriptionSchema = z
  .object({ id: z.string(), memberId: z.string(), endpoint: z.string(), createdAt: z.string() })
  .meta({ id: "PushSubscription" });

/** Push subscriptions per member are bounded; the oldest goes when a new one would exceed it. */
export const pushSubscriptionsPerMemberMax = 10;

export async function addPushSubscription(
  tx: Tx,
  now: Date,
  programId: string,
  memberId: string,
  input: z.infer<typeof pushSubscriptionCreateSchema>,
): Promise<z.infer<typeof pushSubscriptionSchema>> {
  await findMemberRow(tx, programId, { id: memberId });
  const row = {
    id: newId("pushSubscription"),
    program_id: programId,
    member_id: memberId,
    endpoint: input.endpoint,
    p256dh: input.keys.p256dh,
    auth: input.keys.auth,
    created_at: now,
  };
  // Registering the same endpoint again refreshes its keys and keeps its id.
  const saved = await tx
    .insertInto("push_subscriptions")
    .values(row)
    .onConflict((oc) =>
      oc.columns(["member_id", "endpoint"]).doUpdateSet({ p256dh: row.p256dh, auth: row.auth }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
  const all = await tx
    .selectFrom("push_subscriptions")
    .select("id")
    .where("member_id", "=", memberId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .execute();
  const surplus = all.slice(pushSubscriptionsPerMemberMax).map((r) => r.id);
  if (surplus.length > 0)
    await tx.deleteFrom("push_subscriptions").where("id", "in", surplus).execute();
  return pushView(saved);
}

function pushView(row: { id: string; member_id: string; endpoint: string; created_at: Date }) {
  return {
    id: row.id,
    memberId: row.member_id,
    endpoint: row.endpoint,
    createdAt: row.created_at.toISOString(),
  };
}

export async function listPushSubscriptions(ctx: Ctx, programId: string, memberId: string) {
  await findMemberRow(ctx.db.kysely, programId, { id: memberId });
  const rows = await ctx.db.kysely
    .selectFrom("push_subscriptions")
    .selectAll()
    .where("program_id", "=", programId)
    .where("member_id", "=", memberId)
    .orderBy("id")
    .execute();
  return rows.map(pushView);
}

export async function removePushSubscription(
  tx: Tx,
  programId: string,
  memberId: string,
  subscriptionId: string,
): Promise<void> {
  const row = await tx
    .deleteFrom("push_subscriptions")
    .where("program_id", "=", programId)
    .where("member_id", "=", memberId)
    .where("id", "=", subscriptionId)
    .returning("id")
    .executeTakeFirst();
  if (!row) throw notFound("push_subscription_not_found", subscriptionId);
}
