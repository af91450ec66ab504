import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { Webhook } from "standardwebhooks";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { type CommittedEvent, readCommittedEvents } from "../outbox/index.ts";
import type { AddressPolicy } from "./address.ts";
import { disableGoneEndpoint, matchesFilters } from "./endpoints.ts";
import { send } from "./send.ts";
import type { WebhookEndpointsTable, WebhookMessagesTable } from "./tables.ts";

export interface WebhookSettings extends AddressPolicy {
  /** Longest wait for a receiver's answer, connection included. */
  timeoutMs: number;
}

export const defaultWebhookSettings: WebhookSettings = {
  allowPrivate: false,
  allowedHosts: [],
  timeoutMs: 10_000,
};

/** Outbox events read per fan-out transaction. */
export const fanoutBatchSizeMax = 500;
/** Messages claimed (and sent in parallel) per claim. */
export const claimBatchSizeMax = 20;
/** Events one range replay may queue; a larger range is refused, to be split. */
export const replayMessagesMax = 10_000;
/** Delivered and failed messages (with their attempts) are kept this long, then purged. */
export const messageRetentionDays = 30;
const purgeBatchSizeMax = 1_000;

/**
 * Waits after a failed attempt, from the Standard Webhooks schedule: the first attempt is
 * immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h. After the eighth the message fails.
 */
export const retryDelaysMs = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
] as const;
export const attemptsMax = retryDelaysMs.length + 1;
/** Up to this fraction is added to each delay, so failed messages do not all return at once. */
export const retryJitterFraction = 0.1;

/** The delay after the `attempts`-th failed attempt of a round, or null when it was the last. */
export function retryDelayMs(attempts: number, random: () => number = Math.random): number | null {
  const base = retryDelaysMs[attempts - 1];
  if (base === undefined) return null;
  return base + Math.floor(random() * base * retryJitterFraction);
}

function settingsOf(ctx: Ctx): WebhookSettings {
  return ctx.webhooks ?? defaultWebhookSettings;
}

/** The request body: the Standard Webhooks envelope (type, timestamp, data) with the event id. */
function messageBody(event: {
  id: string;
  type: string;
  program_id: string | null;
  payload: unknown;
  created_at: Date;
}): string {
  const payload = typeof event.payload === "string" ? JSON.parse(event.payload) : event.payload;
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: new Date(event.created_at).toISOString(),
    programId: event.program_id,
    data: payload,
  });
}

type OutboxRow = CommittedEvent;

/**
 * Turns new outbox events into one message per matching endpoint. Events are read in the order
 * (writing transaction id, seq), and only those written by transactions older than every one of
 * this database still running: no event can later appear behind the cursor, so none is skipped
 * (decision 0030). One process at a time moves the cursor (its row is locked; others skip), and the
 * unique (endpoint, event) key makes a repeated fan-out harmless.
 */
export async function fanOut(ctx: Ctx): Promise<number> {
  let created = 0;
  for (;;) {
    const step = await ctx.db.transaction(async (tx) => {
      const cursor = await sql<{ txid: string; seq: number }>`
        select txid::text as txid, seq from webhook_fanout_cursor where id = 1
        for update skip locked`.execute(tx);
      const at = cursor.rows[0];
      if (!at) return { events: 0, messages: 0 };
      const events = await readCommittedEvents(tx, at, fanoutBatchSizeMax);
      const last = events.at(-1);
      if (!last) return { events: 0, messages: 0 };
      const messages = await queueMessages(tx, ctx.clock.now(), events);
      await sql`update webhook_fanout_cursor set txid = ${last.txid}::xid8, seq = ${last.seq}
        where id = 1`.execute(tx);
      return { events: events.length, messages };
    });
    created += step.messages;
    if (step.events < fanoutBatchSizeMax) return created;
  }
}

async function queueMessages(tx: Tx, now: Date, events: OutboxRow[]): Promise<number> {
  const programIds = [...new Set(events.flatMap((event) => event.program_id ?? []))];
  if (programIds.length === 0) return 0;
  const endpoints = await tx
    .selectFrom("webhook_endpoints")
    .select(["id", "program_id", "event_types", "created_at"])
    .where("status", "=", "enabled")
    .where("program_id", "in", programIds)
    .execute();
  const rows: WebhookMessagesTable[] = [];
  for (const event of events) {
    for (const endpoint of endpoints) {
      if (endpoint.program_id !== event.program_id) continue;
      // An endpoint receives what happened from its creation on; older events only by replay.
      if (new Date(event.created_at) < endpoint.created_at) continue;
      if (!matchesFilters(endpoint.event_types, event.type)) continue;
      rows.push(messageRow(endpoint.id, event, now));
    }
  }
  return insertMessages(tx, rows, null);
}

function messageRow(
  endpointId: string,
  event: Omit<OutboxRow, "seq" | "txid">,
  now: Date,
): WebhookMessagesTable {
  return {
    id: newId("webhookMessage"),
    program_id: event.program_id ?? "",
    endpoint_id: endpointId,
    event_id: event.id,
    event_type: event.type,
    body: messageBody(event),
    state: "pending",
    attempts: 0,
    next_attempt_at: now,
    lease_token: null,
    lease_until: null,
    event_created_at: new Date(event.created_at),
    created_at: now,
    delivered_at: null,
  };
}

/**
 * Inserts messages; an existing (endpoint, event) is kept as it is, or with `requeueAt` (a
 * replay) queued again from its first attempt.
 */
async function insertMessages(
  tx: Tx,
  rows: WebhookMessagesTable[],
  requeueAt: Date | null,
): Promise<number> {
  let count = 0;
  for (let start = 0; start < rows.length; start += 500) {
    const chunk = rows.slice(start, start + 500);
    const inserted = await tx
      .insertInto("webhook_messages")
      .values(chunk)
      .onConflict((conflict) => {
        const target = conflict.columns(["endpoint_id", "event_id"]);
        return requeueAt ? target.doUpdateSet(requeued(requeueAt)) : target.doNothing();
      })
      .returning("id")
      .execute();
    count += inserted.length;
  }
  return count;
}

function requeued(at: Date) {
  return {
    state: "pending" as const,
    attempts: 0,
    next_attempt_at: at,
    lease_token: null,
    lease_until: null,
  };
}

interface Claimed {
  id: string;
  program_id: string;
  endpoint_id: string;
  event_type: string;
  body: string;
  attempts: number;
  lease_token: string;
}

/**
 * Claims due messages of enabled endpoints with a lease: rows locked by another claimer are
 * skipped, and a claimed row is not due again until its lease ends, so two workers do not send
 * the same message (a worker that dies mid-send loses its lease, and the message goes again).
 */
async function claimDue(ctx: Ctx): Promise<Claimed[]> {
  const now = ctx.clock.now();
  const token = randomUUID();
  const leaseUntil = new Date(now.getTime() + settingsOf(ctx).timeoutMs + 60_000);
  const claimed = await sql<Claimed>`
    update webhook_messages set lease_token = ${token}, lease_until = ${leaseUntil},
      attempts = attempts + 1
    where id in (
      select m.id from webhook_messages m
      join webhook_endpoints e on e.id = m.endpoint_id
      where m.state = 'pending' and m.next_attempt_at <= ${now}
        and (m.lease_until is null or m.lease_until <= ${now})
        and e.status = 'enabled'
      order by m.next_attempt_at, m.id
      limit ${claimBatchSizeMax}
      for update of m skip locked)
    returning id, program_id, endpoint_id, event_type, body, attempts, lease_token`.execute(
    ctx.db.kysely,
  );
  return claimed.rows;
}

/** Signatures with the current secret, and with the previous one while a rotation lasts. */
export function signatures(
  endpoint: { secret: string; previous_secret: string | null; previous_secret_until: Date | null },
  messageId: string,
  at: Date,
  body: string,
): string {
  const secrets = [endpoint.secret];
  if (
    endpoint.previous_secret &&
    endpoint.previous_secret_until &&
    endpoint.previous_secret_until > at
  ) {
    secrets.push(endpoint.previous_secret);
  }
  return secrets.map((secret) => new Webhook(secret).sign(messageId, at, body)).join(" ");
}

type Outcome = "delivered" | "retry" | "failed" | "gone";

type Target = Pick<
  WebhookEndpointsTable,
  "id" | "url" | "secret" | "previous_secret" | "previous_secret_until"
>;

/** The endpoints of a claimed batch, read once. */
async function targetsOf(ctx: Ctx, claimed: Claimed[]): Promise<Map<string, Target>> {
  const rows = await ctx.db.kysely
    .selectFrom("webhook_endpoints")
    .select(["id", "url", "secret", "previous_secret", "previous_secret_until"])
    .where("id", "in", [...new Set(claimed.map((message) => message.endpoint_id))])
    .execute();
  return new Map(rows.map((row) => [row.id, row]));
}

async function attempt(ctx: Ctx, message: Claimed, endpoint: Target | undefined): Promise<Outcome> {
  // Deleted since the claim: its messages went with it.
  if (!endpoint) return "failed";
  const startedAt = ctx.clock.now();
  const result = await send(settingsOf(ctx), {
    url: endpoint.url,
    body: message.body,
    timeoutMs: settingsOf(ctx).timeoutMs,
    headers: {
      "webhook-id": message.id,
      "webhook-timestamp": String(Math.floor(startedAt.getTime() / 1000)),
      "webhook-signature": signatures(endpoint, message.id, startedAt, message.body),
    },
  });
  const ok = result.status !== null && result.status >= 200 && result.status < 300;
  const gone = result.status === 410;
  const delay = ok || gone ? null : retryDelayMs(message.attempts);
  const outcome: Outcome = ok ? "delivered" : gone ? "gone" : delay === null ? "failed" : "retry";
  await ctx.db.transaction(async (tx) => {
    const now = ctx.clock.now();
    await tx
      .insertInto("webhook_attempts")
      .values({
        id: newId("webhookAttempt"),
        program_id: message.program_id,
        endpoint_id: message.endpoint_id,
        message_id: message.id,
        event_type: message.event_type,
        url: endpoint.url,
        started_at: startedAt,
        duration_ms: result.durationMs,
        response_status: result.status,
        response_body: result.body,
        error: result.error ?? (ok ? null : `receiver answered ${result.status}`),
        outcome: ok ? "succeeded" : "failed",
      })
      .execute();
    // Only the lease holder settles the message: after a lost lease another worker owns it.
    await tx
      .updateTable("webhook_messages")
      .set({
        state: outcome === "delivered" ? "delivered" : outcome === "retry" ? "pending" : "failed",
        delivered_at: ok ? now : null,
        next_attempt_at: new Date(now.getTime() + (delay ?? 0)),
        lease_token: null,
        lease_until: null,
      })
      .where("id", "=", message.id)
      .where("lease_token", "=", message.lease_token)
      .execute();
    if (gone) await disableGoneEndpoint(tx, now, message.endpoint_id);
  });
  return outcome;
}

export interface WebhookReport {
  messagesQueued: number;
  delivered: number;
  retrying: number;
  failed: number;
  endpointsDisabled: number;
  messagesPurged: number;
}

/** Deletes settled messages past retention, in bounded batches; their attempts go with them. */
async function purgeSettled(ctx: Ctx): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - messageRetentionDays * 86_400_000);
  let purged = 0;
  for (;;) {
    const deleted = await sql<{ id: string }>`
      delete from webhook_messages where id in (
        select id from webhook_messages
        where state <> 'pending' and created_at < ${before}
        limit ${purgeBatchSizeMax})
      returning id`.execute(ctx.db.kysely);
    purged += deleted.rows.length;
    if (deleted.rows.length < purgeBatchSizeMax) return purged;
  }
}

/**
 * One pass: fan new events out into messages, purge old settled ones, then send every due
 * message until none is left.
 * Safe to run in several processes at once (see fanOut and claimDue).
 */
export async function runWebhooksOnce(ctx: Ctx): Promise<WebhookReport> {
  const report: WebhookReport = {
    messagesQueued: await fanOut(ctx),
    delivered: 0,
    retrying: 0,
    failed: 0,
    endpointsDisabled: 0,
    messagesPurged: await purgeSettled(ctx),
  };
  for (;;) {
    const claimed = await claimDue(ctx);
    if (claimed.length === 0) return report;
    const targets = await targetsOf(ctx, claimed);
    const outcomes = await Promise.all(
      claimed.map((message) => attempt(ctx, message, targets.get(message.endpoint_id))),
    );
    for (const outcome of outcomes) {
      if (outcome === "delivered") report.delivered++;
      else if (outcome === "retry") report.retrying++;
      else if (outcome === "failed") report.failed++;
      else report.endpointsDisabled++;
    }
  }
}

/** Runs a pass every intervalMs in this process until stopped; a slow pass is not overlapped. */
export function startWebhookWorker(ctx: Ctx, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = runWebhooksOnce(ctx)
      .then((report) => {
        if (report.delivered + report.retrying + report.failed > 0) {
          ctx.log.info({ webhooks: report }, "webhooks sent");
        }
      })
      .catch((error) => ctx.log.error({ err: error }, "webhook pass failed"))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

export const replaySchema = z.union([
  z.object({ messageId: z.string().max(64).describe("One message to send again") }).strict(),
  z
    .object({
      since: z.iso.datetime({ offset: true }).describe("Events from this time (inclusive)"),
      until: z.iso.datetime({ offset: true }).describe("Events before this time (exclusive)"),
    })
    .strict(),
]);
export type Replay = z.infer<typeof replaySchema>;

/**
 * Queues messages again from their first attempt: one message, or every event of the program in
 * a time range that passes the endpoint's filters (events the endpoint never got included).
 * Receivers see the same webhook-id for an event they had, so they can drop duplicates.
 */
export async function replay(
  tx: Tx,
  now: Date,
  endpoint: { id: string; program_id: string; event_types: string[] },
  input: Replay,
): Promise<{ messagesQueued: number }> {
  if ("messageId" in input) {
    const row = await tx
      .updateTable("webhook_messages")
      .set(requeued(now))
      .where("id", "=", input.messageId)
      .where("endpoint_id", "=", endpoint.id)
      .returning("id")
      .executeTakeFirst();
    if (!row) throw notFound("webhook_message_not_found", input.messageId);
    return { messagesQueued: 1 };
  }
  const since = new Date(input.since);
  const until = new Date(input.until);
  if (until <= since) {
    throw new DomainError("validation_failed", "until must be after since", { field: "until" });
  }
  const events = await tx
    .selectFrom("outbox_events")
    .select(["id", "program_id", "type", "payload", "created_at"])
    .where("program_id", "=", endpoint.program_id)
    .where("created_at", ">=", since)
    .where("created_at", "<", until)
    .orderBy("seq")
    .limit(replayMessagesMax + 1)
    .execute();
  if (events.length > replayMessagesMax) {
    throw new DomainError(
      "validation_failed",
      `the range holds more than ${replayMessagesMax} events; replay it in smaller ranges`,
      { field: "until", max: replayMessagesMax },
    );
  }
  const rows = events
    .filter((event) => matchesFilters(endpoint.event_types, event.type))
    .map((event) => messageRow(endpoint.id, event, now));
  return { messagesQueued: await insertMessages(tx, rows, now) };
}

export const deliverySchema = z
  .object({
    id: z.string(),
    messageId: z.string().describe("Same as the webhook-id header; replay it by this id"),
    eventType: z.string(),
    url: z.string(),
    startedAt: z.string(),
    durationMs: z.number().int(),
    responseStatus: z.number().int().nullable(),
    responseBody: z.string().nullable().describe("The first 1 KiB of the answer"),
    error: z.string().nullable(),
    outcome: z.enum(["succeeded", "failed"]),
  })
  .meta({ id: "WebhookDelivery" });
export type DeliveryView = z.infer<typeof deliverySchema>;

/** The endpoint's delivery attempts, newest first. */
export async function listDeliveries(
  db: Queryable,
  endpointId: string,
  page: { limit: number; before?: string | undefined; messageId?: string | undefined },
): Promise<DeliveryView[]> {
  let query = db
    .selectFrom("webhook_attempts")
    .selectAll()
    .where("endpoint_id", "=", endpointId)
    .orderBy("id", "desc")
    .limit(page.limit);
  if (page.before !== undefined) query = query.where("id", "<", page.before);
  if (page.messageId !== undefined) query = query.where("message_id", "=", page.messageId);
  return (await query.execute()).map((row) => ({
    id: row.id,
    messageId: row.message_id,
    eventType: row.event_type,
    url: row.url,
    startedAt: row.started_at.toISOString(),
    durationMs: row.duration_ms,
    responseStatus: row.response_status,
    responseBody: row.response_body,
    error: row.error,
    outcome: row.outcome,
  }));
}
