import { createHmac, timingSafeEqual } from "node:crypto";
import { type Selectable, sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { idPrefixes, newId } from "../../lib/ids.ts";
import { readBalance } from "../ledger/index.ts";
import { findMemberRow, findMemberRows, type MemberView, toView } from "../members/index.ts";
import { getProgram, type Program } from "../programs/index.ts";
import {
  closeTransports,
  defaultPublicUrl,
  type PushTarget,
  SendError,
  sendEmail,
  sendPush,
  sendViaProvider,
  unsubscribeSecret,
  vapidKeys,
} from "./channels.ts";
import {
  type CommSettings,
  getSettings,
  memberLocale,
  messageChannels,
  resolveTemplate,
} from "./settings.ts";
import type { CommMessagesTable, MessageCategory, MessageChannel, MessageState } from "./tables.ts";
import {
  Formatter,
  type Locale,
  type RenderedMessage,
  render,
  type TemplateText,
  type Tone,
  type Trigger,
  toneLines,
  triggerCategories,
  triggers,
} from "./templates.ts";
import { localDayStart, quietUntil } from "./time.ts";

/** Messages claimed per worker transaction. */
export const claimBatchMax = 20;
/** Claim batches per pass; the next pass continues. */
const claimRoundsMax = 50;
/** A claimed message not finished within this (a crashed worker) is claimed again. */
export const sendLeaseMs = 120_000;
export const attemptsMax = 5;
/** Wait before attempt n+1 after a retryable failure of attempt n. */
const backoffMs = [60_000, 300_000, 1_800_000, 7_200_000];
const redacted = "••••••";

type MessageRow = Selectable<CommMessagesTable>;

/** Trigger-specific values stored with a message, formatted at send time in the member's language. */
export interface MessageVariables {
  points?: number | null;
  pending?: boolean;
  expiresAt?: string | null;
  availableAt?: string | null;
  days?: number;
  tierName?: string;
  tierNames?: Record<string, string>;
  tierUp?: boolean;
  rewardName?: string;
  /** Catalogue names by language; the member's language wins, then any. */
  rewardNames?: Record<string, string>;
  amountMinor?: number;
  code?: string;
}

export interface NewMessage {
  programId: string;
  memberId: string;
  trigger: Trigger;
  channel: MessageChannel;
  variables: MessageVariables;
  /** Makes enqueueing idempotent: the same key in a program is queued once. */
  dedupeKey: string | null;
  secret?: string;
}

/** Queues messages; answers the ids of those queued (a known dedupe key queues nothing). */
export async function enqueue(tx: Tx, now: Date, messages: NewMessage[]): Promise<string[]> {
  if (messages.length === 0) return [];
  const rows = await tx
    .insertInto("comm_messages")
    .values(
      messages.map((message) => ({
        id: newId("commMessage"),
        program_id: message.programId,
        member_id: message.memberId,
        trigger: message.trigger,
        channel: message.channel,
        category: triggerCategories[message.trigger],
        state: "queued" as const,
        reason: null,
        variables: JSON.stringify(message.variables),
        secret: message.secret ?? null,
        dedupe_key: message.dedupeKey,
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })),
    )
    .onConflict((oc) =>
      oc.columns(["program_id", "dedupe_key"]).where("dedupe_key", "is not", null).doNothing(),
    )
    .returning("id")
    .execute();
  return rows.map((row) => row.id);
}

export interface DeliveryReport {
  sent: number;
  failed: number;
  retried: number;
  deferred: number;
  suppressed: number;
}

type Decision =
  | { kind: "suppress"; reason: string }
  | { kind: "fail"; reason: string }
  | { kind: "defer"; until: Date; reason: string }
  | { kind: "send"; delivery: Delivery };

type Delivery =
  | { channel: "email"; from: { name: string; address: string }; to: string; content: Content }
  | { channel: "sms" | "whatsapp"; to: string; content: Content }
  | { channel: "push"; targets: (PushTarget & { id: string })[]; content: Content };

type Content = RenderedMessage & { unsubscribeUrl: string | null };

interface Claimed {
  id: string;
  programId: string;
  attempts: number;
  delivery: Delivery;
}

let deliveriesRunning = 0;

/**
 * Sends every due message: claims a batch, decides each under lock, sends after commit. Pooled
 * SMTP connections are closed when no pass is running, so `jobs run-once` can exit.
 */
export async function deliverDue(ctx: Ctx, report: DeliveryReport): Promise<void> {
  deliveriesRunning++;
  try {
    for (let round = 0; round < claimRoundsMax; round++) {
      const { seen, ready } = await ctx.db.transaction((tx) => claim(ctx, tx, report));
      // The batch goes out in parallel: each message's outcome is recorded on its own row.
      await Promise.all(ready.map((message) => deliver(ctx, message, report)));
      if (seen < claimBatchMax) return;
    }
  } finally {
    deliveriesRunning--;
    if (deliveriesRunning === 0) closeTransports();
  }
}

async function claim(
  ctx: Ctx,
  tx: Tx,
  report: DeliveryReport,
): Promise<{ seen: number; ready: Claimed[] }> {
  const now = ctx.clock.now();
  // SKIP LOCKED: another worker's batch is left to it, so processes never wait on each other.
  const rows = await tx
    .selectFrom("comm_messages")
    .selectAll()
    .where("state", "in", ["queued", "deferred", "sending"])
    .where("next_attempt_at", "<=", now)
    .orderBy("next_attempt_at")
    .orderBy("id")
    .limit(claimBatchMax)
    .forUpdate()
    .skipLocked()
    .execute();
  rows.sort((a, b) => (a.member_id < b.member_id ? -1 : a.member_id > b.member_id ? 1 : 0));
  // Marketing messages of one member are decided one worker at a time, so two workers cannot
  // both pass the daily cap; members are locked in id order, so workers never deadlock.
  const marketingMembers = [
    ...new Set(rows.filter((row) => row.category === "marketing").map((row) => row.member_id)),
  ];
  for (const memberId of marketingMembers) {
    await sql`select pg_advisory_xact_lock(hashtext(${`comm:${memberId}`}))`.execute(tx);
  }
  const scope = new ClaimScope(ctx, tx);
  await scope.readMembers(rows);
  const ready: Claimed[] = [];
  // Messages that end here (failed, suppressed) are closed set-wise: one update per outcome.
  const closed = new Map<string, { state: MessageState; reason: string; ids: string[] }>();
  for (const row of rows) {
    const decision = await scope.decide(row, now);
    const base = { updated_at: now, reason: null as string | null };
    if (decision.kind === "send") {
      await tx
        .updateTable("comm_messages")
        .set({
          ...base,
          state: "sending",
          attempts: row.attempts + 1,
          next_attempt_at: new Date(now.getTime() + sendLeaseMs),
          subject: row.secret
            ? decision.delivery.content.subject.replaceAll(row.secret, redacted)
            : decision.delivery.content.subject,
        })
        .where("id", "=", row.id)
        .execute();
      ready.push({
        id: row.id,
        programId: row.program_id,
        attempts: row.attempts + 1,
        delivery: decision.delivery,
      });
    } else if (decision.kind === "defer") {
      report.deferred++;
      await tx
        .updateTable("comm_messages")
        .set({
          ...base,
          state: "deferred",
          reason: decision.reason,
          next_attempt_at: decision.until,
        })
        .where("id", "=", row.id)
        .execute();
    } else {
      report[decision.kind === "fail" ? "failed" : "suppressed"]++;
      const state = decision.kind === "fail" ? "failed" : "suppressed";
      const key = `${state} ${decision.reason}`;
      const group = closed.get(key) ?? { state, reason: decision.reason, ids: [] };
      group.ids.push(row.id);
      closed.set(key, group);
    }
  }
  for (const { state, reason, ids } of closed.values()) {
    await tx
      .updateTable("comm_messages")
      .set({ updated_at: now, state, reason, secret: null })
      .where("id", "in", ids)
      .execute();
  }
  return { seen: rows.length, ready };
}

/** Program, settings, members and subscriptions read once per claim transaction. */
class ClaimScope {
  readonly #programs = new Map<string, { program: Program; settings: CommSettings }>();
  /** Members of the claimed messages by "programId memberId"; null when not found. */
  readonly #members = new Map<string, MemberView | null>();
  constructor(
    readonly ctx: Ctx,
    readonly tx: Tx,
  ) {}

  async program(programId: string) {
    let hit = this.#programs.get(programId);
    if (!hit) {
      hit = {
        program: await getProgram(this.tx, programId),
        settings: await getSettings(this.tx, programId),
      };
      this.#programs.set(programId, hit);
    }
    return hit;
  }

  /** Reads the members of a claimed batch in one query per program, not one per message. */
  async readMembers(rows: MessageRow[]): Promise<void> {
    const byProgram = new Map<string, Set<string>>();
    for (const row of rows) {
      const ids = byProgram.get(row.program_id) ?? new Set();
      byProgram.set(row.program_id, ids.add(row.member_id));
    }
    for (const [programId, ids] of byProgram) {
      const wanted = [...ids];
      const found = await findMemberRows(
        this.tx,
        programId,
        wanted.map((id) => ({ id })),
      );
      wanted.forEach((id, index) => {
        const member = found[index];
        this.#members.set(
          `${programId} ${id}`,
          member === undefined || member instanceof DomainError ? null : toView(member),
        );
      });
    }
  }

  async decide(row: MessageRow, now: Date): Promise<Decision> {
    const { program, settings } = await this.program(row.program_id);
    // Read by readMembers for the whole claimed batch.
    const member = this.#members.get(`${row.program_id} ${row.member_id}`) ?? null;
    if (member === null) return { kind: "suppress", reason: "member_not_found" };
    const security = row.category === "security";
    if (!security) {
      if (member.status !== "active")
        return { kind: "suppress", reason: `member_${member.status}` };
      if (settings.disabledTriggers.includes(row.trigger as Trigger)) {
        return { kind: "suppress", reason: "trigger_disabled" };
      }
      // Consent is read now, not when the message was queued: a withdrawal in between counts.
      if (member.consents.marketing[row.channel]?.granted !== true) {
        return { kind: "suppress", reason: "no_consent" };
      }
    }
    const config = this.ctx.communications ?? {};
    const address = await this.address(row, member);
    if (address === null) return { kind: "suppress", reason: "no_address" };
    if (row.channel === "email" && !config.smtpUrl) {
      return { kind: "fail", reason: "channel_not_configured: SETIA_SMTP_URL is not set" };
    }
    if ((row.channel === "sms" || row.channel === "whatsapp") && !config.provider) {
      return {
        kind: "fail",
        reason: "channel_not_configured: SETIA_MESSAGING_PROVIDER_URL is not set",
      };
    }
    if (!security) {
      const until = quietUntil(now, program.timezone, settings.quietHours);
      if (until) return { kind: "defer", until, reason: "quiet_hours" };
    }
    if (row.category === "marketing") {
      const sentToday = await this.tx
        .selectFrom("comm_messages")
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .where("member_id", "=", row.member_id)
        .where("category", "=", "marketing")
        .where("id", "!=", row.id)
        .where((eb) =>
          eb.or([
            eb("state", "=", "sending"),
            eb.and([
              eb("state", "=", "sent"),
              eb("sent_at", ">=", localDayStart(now, program.timezone)),
            ]),
          ]),
        )
        .executeTakeFirstOrThrow();
      if (Number(sentToday.count) >= settings.marketingMessagesPerDayMax) {
        return { kind: "suppress", reason: "frequency_cap" };
      }
    }
    const content = await composeFor(this.ctx, this.tx, {
      program,
      settings,
      member,
      trigger: row.trigger as Trigger,
      channel: row.channel,
      variables: row.variables as MessageVariables,
      secret: row.secret,
      withUnsubscribe: !security,
    });
    const channel = row.channel;
    if (channel === "push") {
      return {
        kind: "send",
        delivery: { channel, targets: address as (PushTarget & { id: string })[], content },
      };
    }
    const to = address as string;
    if (channel === "email") {
      const from = {
        name: settings.senderName ?? program.name,
        address: settings.senderEmail ?? fromAddress(config.emailFrom),
      };
      return { kind: "send", delivery: { channel, from, to, content } };
    }
    return { kind: "send", delivery: { channel, to, content } };
  }

  async address(row: MessageRow, member: MemberView) {
    if (row.channel === "email") return member.email;
    if (row.channel === "sms" || row.channel === "whatsapp") return member.phone;
    const targets = await this.tx
      .selectFrom("push_subscriptions")
      .select(["id", "endpoint", "p256dh", "auth"])
      .where("member_id", "=", row.member_id)
      .orderBy("id")
      .execute();
    return targets.length > 0 ? targets : null;
  }
}

function fromAddress(configured: string | undefined): string {
  if (!configured) return "no-reply@localhost";
  return /<([^>]+)>/.exec(configured)?.[1] ?? configured;
}

async function deliver(ctx: Ctx, message: Claimed, report: DeliveryReport): Promise<void> {
  const config = ctx.communications ?? {};
  const { delivery } = message;
  let providerMessageId: string | null = null;
  let failure: SendError | null = null;
  try {
    if (delivery.channel === "email") {
      providerMessageId = await sendEmail(config, {
        from: delivery.from,
        to: delivery.to,
        subject: delivery.content.subject,
        text: delivery.content.text,
        html: delivery.content.html,
        unsubscribeUrl: delivery.content.unsubscribeUrl,
      });
    } else if (delivery.channel === "push") {
      failure = await pushAll(ctx, message.id, delivery);
    } else {
      providerMessageId = await sendViaProvider(
        config,
        {
          to: delivery.to,
          channel: delivery.channel,
          body: delivery.content.text,
          messageId: message.id,
        },
        ctx.clock.now(),
      );
    }
  } catch (error) {
    failure = error instanceof SendError ? error : new SendError((error as Error).message, true);
  }
  const now = ctx.clock.now();
  const retry = failure?.retryable === true && message.attempts < attemptsMax;
  const state: MessageState = failure === null ? "sent" : retry ? "queued" : "failed";
  if (failure) {
    ctx.log.warn({ messageId: message.id, err: failure.message, retry }, "message not delivered");
  }
  report[failure === null ? "sent" : retry ? "retried" : "failed"]++;
  // Guarded by the claim: if the lease ran out and another worker claimed it, its answer counts.
  await ctx.db.kysely
    .updateTable("comm_messages")
    .set({
      state,
      reason: failure ? failure.message.slice(0, 500) : null,
      provider_message_id: providerMessageId,
      updated_at: now,
      ...(state === "sent" && { sent_at: now }),
      ...(state === "queued" && {
        next_attempt_at: new Date(now.getTime() + (backoffMs[message.attempts - 1] ?? 7_200_000)),
      }),
      ...(state !== "queued" && { secret: null }),
    })
    .where("id", "=", message.id)
    .where("state", "=", "sending")
    .where("attempts", "=", message.attempts)
    .execute();
}

/** Sends to every subscription of the member; one success is a sent message. */
async function pushAll(
  ctx: Ctx,
  messageId: string,
  delivery: Extract<Delivery, { channel: "push" }>,
): Promise<SendError | null> {
  const vapid = await vapidKeys(ctx);
  let delivered = 0;
  let lastError: SendError | null = null;
  let retryable = false;
  for (const target of delivery.targets) {
    try {
      await sendPush(vapid, target, {
        title: delivery.content.subject,
        body: delivery.content.text,
        messageId,
      });
      delivered++;
    } catch (error) {
      const failure =
        error instanceof SendError ? error : new SendError((error as Error).message, true);
      lastError = failure;
      retryable ||= failure.retryable;
      // The browser dropped the subscription: forget it so no one sends to it again.
      if (failure.gone) {
        await ctx.db.kysely.deleteFrom("push_subscriptions").where("id", "=", target.id).execute();
      }
    }
  }
  if (delivered > 0 || !lastError) return null;
  return new SendError(lastError.message, retryable);
}

export interface ComposeInput {
  program: Program;
  settings: CommSettings;
  member: Pick<MemberView, "id" | "name">;
  trigger: Trigger;
  channel: MessageChannel;
  variables: MessageVariables;
  secret: string | null;
  withUnsubscribe: boolean;
  locale?: Locale;
  tone?: Tone;
  template?: TemplateText;
  /** Sample data for a preview without a member. */
  balance?: number;
}

/** Renders a message for a member: their language, the program's tone and template, now's balance. */
export async function composeFor(
  ctx: Ctx,
  db: Tx | Queryable,
  input: ComposeInput,
): Promise<Content> {
  const { program, settings, member } = input;
  const locale = input.locale ?? (await memberLocale(db, member.id, program.locale));
  const tone = input.tone ?? settings.tone;
  const template =
    input.template ?? (await resolveTemplate(db, program.id, input.trigger, locale, tone));
  const balance =
    input.balance === undefined ? await readBalance(db, member.id) : { available: input.balance };
  const unsubscribeUrl = input.withUnsubscribe
    ? await unsubscribeUrlFor(ctx, db, {
        programId: program.id,
        memberId: member.id,
        channel: input.channel,
      })
    : null;
  const view = buildView({
    formatter: new Formatter(locale, program.timezone, program.currency),
    tone,
    programName: program.name,
    memberName: member.name,
    balance: balance.available,
    variables: input.variables,
    secret: input.secret,
    unsubscribeUrl,
  });
  const footer =
    input.channel === "email" && unsubscribeUrl
      ? {
          text: locale === "id" ? "Berhenti berlangganan email" : "Unsubscribe from emails",
          url: unsubscribeUrl,
        }
      : null;
  return { ...render(template, view, footer), unsubscribeUrl };
}

function buildView(input: {
  formatter: Formatter;
  tone: Tone;
  programName: string;
  memberName: string | null;
  balance: number;
  variables: MessageVariables;
  secret: string | null;
  unsubscribeUrl: string | null;
}): Record<string, unknown> {
  const { formatter: f, variables: v } = input;
  const lines = toneLines(f.locale, input.tone, input.memberName, input.programName);
  return {
    member: { name: input.memberName ?? "", firstName: input.memberName?.split(/\s+/)[0] ?? "" },
    program: { name: input.programName },
    points: v.points === undefined || v.points === null ? null : f.number(v.points),
    balance: f.number(input.balance),
    expiresAt: v.expiresAt ? f.date(v.expiresAt) : null,
    availableAt: v.availableAt ? f.date(v.availableAt) : null,
    pending: v.pending === true,
    days: v.days === undefined ? null : f.number(v.days),
    tier: { name: v.tierNames?.[f.locale] ?? v.tierName ?? "", up: v.tierUp === true },
    reward: {
      name:
        v.rewardNames?.[f.locale] ?? Object.values(v.rewardNames ?? {})[0] ?? v.rewardName ?? "",
    },
    amount: v.amountMinor === undefined ? null : f.money(v.amountMinor),
    code: input.secret ?? "",
    greeting: lines.greeting,
    signoff: lines.signoff,
    unsubscribeUrl: input.unsubscribeUrl ?? "",
  };
}

const crockford = "0123456789abcdefghjkmnpqrstvwxyz";

/** An id's ULID as 16 bytes, so a token fits in one URL path segment. */
function idBytes(id: string): Buffer {
  let value = 0n;
  for (const char of id.slice(4)) value = value * 32n + BigInt(crockford.indexOf(char));
  return Buffer.from(value.toString(16).padStart(32, "0"), "hex");
}

function idFrom(prefix: string, bytes: Buffer): string {
  let value = BigInt(`0x${bytes.toString("hex")}`);
  let text = "";
  for (let i = 0; i < 26; i++) {
    text = crockford[Number(value % 32n)] + text;
    value /= 32n;
  }
  return `${prefix}_${text}`;
}

async function tokenMac(ctx: Ctx, db: Queryable | Tx, payload: Buffer): Promise<Buffer> {
  return createHmac("sha256", await unsubscribeSecret(ctx, db))
    .update(payload)
    .digest()
    .subarray(0, 16);
}

/** Unsubscribe tokens: program, member and channel, signed; they do not expire. */
export async function unsubscribeUrlFor(
  ctx: Ctx,
  db: Queryable | Tx,
  target: { programId: string; memberId: string; channel: MessageChannel },
): Promise<string> {
  const payload = Buffer.concat([
    idBytes(target.programId),
    idBytes(target.memberId),
    Buffer.from([messageChannels.indexOf(target.channel)]),
  ]);
  const mac = await tokenMac(ctx, db, payload);
  const base = (ctx.communications?.publicUrl ?? defaultPublicUrl).replace(/\/+$/, "");
  return `${base}/u/${payload.toString("base64url")}.${mac.toString("base64url")}`;
}

export async function readUnsubscribeToken(
  ctx: Ctx,
  token: string,
): Promise<{ programId: string; memberId: string; channel: MessageChannel }> {
  const [payloadText, macText] = token.split(".");
  const payload = Buffer.from(payloadText ?? "", "base64url");
  const given = Buffer.from(macText ?? "", "base64url");
  const channel = messageChannels[payload[32] ?? -1];
  if (payload.length !== 33 || given.length !== 16 || !channel) {
    throw new DomainError("unsubscribe_token_invalid", "this unsubscribe link is not valid");
  }
  const expected = await tokenMac(ctx, ctx.db.kysely, payload);
  if (!timingSafeEqual(given, expected)) {
    throw new DomainError("unsubscribe_token_invalid", "this unsubscribe link is not valid");
  }
  return {
    programId: idFrom(idPrefixes.program, payload.subarray(0, 16)),
    memberId: idFrom(idPrefixes.member, payload.subarray(16, 32)),
    channel,
  };
}

export const messageSchema = z
  .object({
    id: z.string(),
    memberId: z.string(),
    trigger: z.enum(triggers),
    channel: z.enum(messageChannels),
    category: z.enum(["security", "service", "marketing"]),
    state: z.enum(["queued", "deferred", "sending", "sent", "failed", "suppressed"]),
    reason: z
      .string()
      .nullable()
      .describe("Why it was deferred, suppressed or failed, or the last error before a retry"),
    attempts: z.number().int(),
    subject: z.string().nullable().describe("Rendered subject (codes redacted)"),
    variables: z.record(z.string(), z.unknown()),
    nextAttemptAt: z.string().nullable(),
    sentAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Message" });
export type MessageView = z.infer<typeof messageSchema>;

export const messageFilterSchema = z.object({
  state: z.enum(["queued", "deferred", "sending", "sent", "failed", "suppressed"]).optional(),
  trigger: z.enum(triggers).optional(),
  channel: z.enum(messageChannels).optional(),
});

function messageView(row: MessageRow): MessageView {
  const open = row.state === "queued" || row.state === "deferred" || row.state === "sending";
  return {
    id: row.id,
    memberId: row.member_id,
    trigger: row.trigger as Trigger,
    channel: row.channel,
    category: row.category as MessageCategory,
    state: row.state,
    reason: row.reason,
    attempts: row.attempts,
    subject: row.subject,
    variables: row.variables as Record<string, unknown>,
    nextAttemptAt: open ? row.next_attempt_at.toISOString() : null,
    sentAt: row.sent_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The message log, newest first. */
export async function listMessages(
  ctx: Ctx,
  programId: string,
  filter: z.infer<typeof messageFilterSchema> & { memberId?: string },
  page: { limit: number; before?: string | undefined },
): Promise<MessageView[]> {
  await getProgram(ctx.db.kysely, programId);
  if (filter.memberId) await findMemberRow(ctx.db.kysely, programId, { id: filter.memberId });
  let query = ctx.db.kysely
    .selectFrom("comm_messages")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id", "desc")
    .limit(page.limit);
  if (filter.memberId) query = query.where("member_id", "=", filter.memberId);
  if (filter.state) query = query.where("state", "=", filter.state);
  if (filter.trigger) query = query.where("trigger", "=", filter.trigger);
  if (filter.channel) query = query.where("channel", "=", filter.channel);
  if (page.before) query = query.where("id", "<", page.before);
  return (await query.execute()).map(messageView);
}

export const oneTimeCodePattern = /^[A-Za-z0-9]{4,12}$/;

/**
 * Queues a sign-in code for the member portal. It passes quiet hours, consent and caps (the member
 * asked for it) and is logged like any message, with the code redacted; the code itself is kept
 * only until the message is sent or fails.
 */
export async function sendOneTimeCode(
  ctx: Ctx,
  input: {
    programId: string;
    memberId: string;
    channel: "email" | "sms" | "whatsapp";
    code: string;
  },
): Promise<{ messageId: string }> {
  if (!oneTimeCodePattern.test(input.code)) {
    throw new DomainError("validation_failed", "a one-time code is 4 to 12 letters or digits", {
      field: "code",
    });
  }
  const [messageId] = await ctx.db.transaction(async (tx) => {
    await findMemberRow(tx, input.programId, { id: input.memberId });
    return enqueue(tx, ctx.clock.now(), [
      {
        programId: input.programId,
        memberId: input.memberId,
        trigger: "one_time_code",
        channel: input.channel,
        variables: { code: redacted },
        dedupeKey: null,
        secret: input.code,
      },
    ]);
  });
  wakeWorker();
  return { messageId: messageId as string };
}

let wakeHandler: (() => void) | null = null;

/** Asks this process's message worker (if running) to look at the queue now. */
export function wakeWorker(): void {
  wakeHandler?.();
}

/** The running worker registers how to wake it (null when it stops). */
export function onWake(handler: (() => void) | null): void {
  wakeHandler = handler;
}
