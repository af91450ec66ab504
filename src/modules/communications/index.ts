/**
 * Member communications: email (SMTP), web push (VAPID) and SMS/WhatsApp (generic HTTP gateway),
 * from templates per program, trigger, language and tone. Triggers come from the outbox (own
 * cursor) and from daily scans; a worker sends from the queue table with consent, quiet hours
 * and caps checked at send time.
 */
import type { Ctx } from "../../context.ts";
import { type DeliveryReport, deliverDue } from "./queue.ts";
import { type ConsumeReport, consumeOutbox, runDailyScans, type ScanReport } from "./triggers.ts";

export {
  type CommunicationsConfig,
  communicationsConfig,
  sign,
  signatureHeader,
  vapidKeys,
  verifySignature,
} from "./channels.ts";
export { previewMessage, previewResultSchema, previewSchema } from "./preview.ts";
export {
  listMessages,
  messageFilterSchema,
  messageSchema,
  readUnsubscribeToken,
  sendOneTimeCode,
  startMessageWorker,
  unsubscribeUrlFor,
} from "./queue.ts";
export * from "./settings.ts";
export { builtinTemplates, escapeHtml, templateVariables, triggers } from "./templates.ts";

export interface CommunicationsReport {
  events: ConsumeReport;
  scans: ScanReport;
  messages: DeliveryReport;
}

/**
 * One pass: queue messages for new outbox events, run the daily scans that are due, send what is
 * due. Safe in several processes at once (cursor and queue rows are claimed with SKIP LOCKED).
 */
export async function runCommunicationsOnce(
  ctx: Ctx,
  options: { outboxHoleGraceMs?: number } = {},
): Promise<CommunicationsReport> {
  const report: CommunicationsReport = {
    events: { eventsRead: 0, queued: 0 },
    scans: { programs: 0, queued: 0 },
    messages: { sent: 0, failed: 0, retried: 0, deferred: 0, suppressed: 0 },
  };
  await consumeOutbox(ctx, report.events, options.outboxHoleGraceMs);
  await runDailyScans(ctx, report.scans);
  await deliverDue(ctx, report.messages);
  return report;
}
