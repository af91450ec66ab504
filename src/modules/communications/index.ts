/**
 * Member communications: email (SMTP), web push (VAPID) and SMS/WhatsApp (generic HTTP gateway),
 * from templates per program, trigger, language and tone. Triggers come from the outbox (own
 * cursor) and from daily scans; a worker sends from the queue table with consent, quiet hours
 * and caps checked at send time.
 */
import type { Ctx } from "../../context.ts";
import { type DeliveryReport, deliverDue, onWake } from "./queue.ts";
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
  onWake,
  readUnsubscribeToken,
  sendOneTimeCode,
  unsubscribeUrlFor,
  wakeWorker,
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
export async function runCommunicationsOnce(ctx: Ctx): Promise<CommunicationsReport> {
  const report: CommunicationsReport = {
    events: { eventsRead: 0, queued: 0 },
    scans: { programs: 0, queued: 0 },
    messages: { sent: 0, failed: 0, retried: 0, deferred: 0, suppressed: 0 },
  };
  await consumeOutbox(ctx, report.events);
  await runDailyScans(ctx, report.scans);
  await deliverDue(ctx, report.messages);
  return report;
}

/**
 * Reads new events and delivers due messages every intervalMs (or at once when a sign-in code
 * wakes it), so triggered messages do not wait for the job loop; daily scans stay in the job loop.
 */
export function startMessageWorker(ctx: Ctx, intervalMs: number): { stop(): Promise<void> } {
  let stopped = false;
  let wake: () => void = () => {};
  const loop = (async () => {
    while (!stopped) {
      try {
        const events = { eventsRead: 0, queued: 0 };
        const messages = { sent: 0, failed: 0, retried: 0, deferred: 0, suppressed: 0 };
        await consumeOutbox(ctx, events);
        await deliverDue(ctx, messages);
        if (messages.sent + messages.failed + messages.retried > 0) {
          ctx.log.info({ messages }, "messages delivered");
        }
      } catch (error) {
        ctx.log.error({ err: error }, "message worker pass failed");
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        timer.unref();
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        onWake(wake);
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake();
      await loop;
      onWake(null);
    },
  };
}
