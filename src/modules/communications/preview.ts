import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { findMemberRow, toView } from "../members/index.ts";
import { getProgram } from "../programs/index.ts";
import { composeFor, type MessageVariables } from "./queue.ts";
import { getSettings, memberLocale, messageChannels, resolveTemplate } from "./settings.ts";
import { checkTemplate, locales, tones, triggerCategories, triggers } from "./templates.ts";

export const previewSchema = z
  .object({
    trigger: z.enum(triggers),
    channel: z.enum(messageChannels).default("email"),
    locale: z
      .enum(locales)
      .optional()
      .describe("Default: the member's language, else the program's"),
    tone: z.enum(tones).optional().describe("Default: the program's tone"),
    memberId: z
      .string()
      .max(64)
      .optional()
      .describe("Render for this member; default: sample data"),
    template: z
      .object({ subject: z.string().min(1).max(300), body: z.string().min(1).max(10_000) })
      .strict()
      .optional()
      .describe("An unsaved template to try; default: the one the program uses"),
  })
  .strict();

export const previewResultSchema = z
  .object({
    trigger: z.enum(triggers),
    channel: z.enum(messageChannels),
    locale: z.enum(locales),
    tone: z.enum(tones),
    source: z.enum(["builtin", "program", "draft"]),
    subject: z.string(),
    text: z.string(),
    html: z.string(),
  })
  .meta({ id: "MessagePreview" });

const dayMs = 86_400_000;

/** Renders what a member (or a sample member) would receive, without queueing anything. */
export async function previewMessage(
  ctx: Ctx,
  programId: string,
  input: z.infer<typeof previewSchema>,
): Promise<z.infer<typeof previewResultSchema>> {
  if (input.template) {
    checkTemplate(input.template.subject, "subject");
    checkTemplate(input.template.body, "body");
  }
  const db = ctx.db.kysely;
  const program = await getProgram(db, programId);
  const settings = await getSettings(db, programId);
  const member = input.memberId
    ? toView(await findMemberRow(db, programId, { id: input.memberId }))
    : null;
  const locale =
    input.locale ??
    (member
      ? await memberLocale(db, member.id, program.locale)
      : program.locale === "en"
        ? "en"
        : "id");
  const tone = input.tone ?? settings.tone;
  const resolved = input.template
    ? { ...input.template, source: "draft" as const }
    : await resolveTemplate(db, programId, input.trigger, locale, tone);
  const now = ctx.clock.now();
  const sample: MessageVariables = {
    points: 25,
    expiresAt: new Date(now.getTime() + settings.expiringNoticeDays * dayMs).toISOString(),
    availableAt: new Date(now.getTime() + 7 * dayMs).toISOString(),
    days: settings.winbackAfterDays,
    tierName: "Gold",
    tierUp: true,
    rewardName: locale === "id" ? "Voucher belanja" : "Shopping voucher",
    amountMinor: 25_000_000,
  };
  const content = await composeFor(ctx, db, {
    program,
    settings,
    member: member ?? { id: "sample", name: "Budi Santoso" },
    trigger: input.trigger,
    channel: input.channel,
    variables: sample,
    secret: input.trigger === "one_time_code" ? "123456" : null,
    withUnsubscribe: member !== null && triggerCategories[input.trigger] !== "security",
    locale,
    tone,
    template: resolved,
    ...(member === null && { balance: 1250 }),
  });
  return {
    trigger: input.trigger,
    channel: input.channel,
    locale,
    tone,
    source: resolved.source,
    subject: content.subject,
    text: content.text,
    html: content.html,
  };
}
