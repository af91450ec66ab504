import type { Ctx } from "../context.ts";
import type { Tx } from "../db/client.ts";
import { chainPending } from "../modules/audit/index.ts";
import {
  type CommunicationsReport,
  runCommunicationsOnce,
} from "../modules/communications/index.ts";
import { purgeIdempotencyKeys } from "../modules/idempotency/index.ts";
import {
  expireLots,
  type LotsDone,
  lockBalance,
  releaseLots,
  settleHold,
} from "../modules/ledger/index.ts";
import { completeDueReferrals, type ReferralJobReport } from "../modules/referrals/index.ts";
import { expireVouchers } from "../modules/rewards/index.ts";
import { runBirthdayActivities } from "../modules/rules/index.ts";
import { type AuthPurgeReport, purgeAuthRecords } from "../modules/staff/index.ts";
import { reviewDueTiers, type TierReviewReport } from "../modules/tiers/index.ts";
import { runWebhooksOnce, type WebhookReport } from "../modules/webhooks/index.ts";

/** Rows handled per database transaction: bounded so one run never holds locks for long. */
export const jobBatchSizeMax = 200;

export interface JobReport {
  released: { lots: number; points: number };
  expired: { lots: number; points: number };
  holdsExpired: number;
  idempotencyKeysPurged: number;
  /** Members whose birthday activity fired (birthday campaigns). */
  birthdayActivities: number;
  referrals: ReferralJobReport;
  tiers: TierReviewReport;
  webhooks: WebhookReport;
  communications?: CommunicationsReport;
  vouchers?: { expired: number; lapsed: number };
  /** Spent sign-in records deleted: sessions, portal codes, invitations, reset links, counters. */
  authPurged?: AuthPurgeReport;
}

/**
 * One pass of scheduled work: release pending points whose returns window passed, expire lots
 * and holds past their time, purge old idempotency keys and spent sign-in records. Every step re-checks its row under the
 * member's lock: a second runner that reaches the same row waits for the lock, then finds it
 * already done, so several processes can run it at once without releasing or expiring twice.
 */
export async function runJobsOnce(ctx: Ctx): Promise<JobReport> {
  const report: JobReport = {
    released: { lots: 0, points: 0 },
    expired: { lots: 0, points: 0 },
    holdsExpired: 0,
    idempotencyKeysPurged: 0,
    birthdayActivities: 0,
    referrals: { completed: 0, points: 0 },
    tiers: { reviewed: 0, changed: 0 },
    webhooks: {
      messagesQueued: 0,
      delivered: 0,
      retrying: 0,
      failed: 0,
      endpointsDisabled: 0,
      messagesPurged: 0,
    },
  };
  const add = (total: LotsDone, done: LotsDone) => {
    total.lots += done.lots;
    total.points += done.points;
  };
  await drain(ctx, dueLots(ctx, "release"), async (tx, ids, at) => {
    add(report.released, await releaseLots(tx, ids, at));
  });
  await drain(ctx, dueLots(ctx, "expire"), async (tx, ids, at) => {
    add(report.expired, await expireLots(tx, ids, at));
  });
  await drain(ctx, dueHolds(ctx), async (tx, ids, at) => {
    for (const id of ids) await expireHold(tx, id, at, report);
  });
  report.vouchers = await expireVouchers(ctx);
  report.idempotencyKeysPurged = await purgeIdempotencyKeys(ctx);
  report.authPurged = await purgeAuthRecords(ctx);
  report.birthdayActivities = await runBirthdayActivities(ctx);
  report.referrals = await completeDueReferrals(ctx);
  report.tiers = await reviewDueTiers(ctx);
  report.communications = await runCommunicationsOnce(ctx);
  // After every other step, so the entries this pass wrote are chained in the same pass.
  await chainPending(ctx);
  // Last, so the events of this pass's work go out in the same pass.
  report.webhooks = await runWebhooksOnce(ctx);
  return report;
}

/** Expires one hold past its time, unless a till or another runner settled it since the scan. */
async function expireHold(tx: Tx, id: string, at: Date, report: JobReport): Promise<void> {
  const [programId, holdId] = id.split(" ") as [string, string];
  // Re-read under the member's lock: since the scan a till may have confirmed or cancelled the
  // hold, or another runner expired it. Then there is nothing to do, and nothing to count.
  const found = await tx
    .selectFrom("holds")
    .select("member_id")
    .where("id", "=", holdId)
    .executeTakeFirstOrThrow();
  await lockBalance(tx, programId, found.member_id);
  const current = await tx
    .selectFrom("holds")
    .select("state")
    .where("id", "=", holdId)
    .executeTakeFirstOrThrow();
  if (current.state !== "active") return;
  const hold = await settleHold(tx, { programId, holdId, outcome: "expired", at });
  if (hold.state === "expired") report.holdsExpired++;
}

type Scan = (after: string) => Promise<string[]>;

async function drain(
  ctx: Ctx,
  scan: Scan,
  step: (tx: Tx, ids: string[], at: Date) => Promise<void>,
): Promise<void> {
  let after = "";
  for (;;) {
    const ids = await scan(after);
    if (ids.length === 0) return;
    await ctx.db.transaction((tx) => step(tx, ids, ctx.clock.now()));
    after = ids[ids.length - 1] ?? after;
  }
}

function dueLots(ctx: Ctx, kind: "release" | "expire"): Scan {
  return async (after) => {
    const now = ctx.clock.now();
    let query = ctx.db.kysely.selectFrom("point_lots").select("id").where("id", ">", after);
    query =
      kind === "release"
        ? query.where("state", "=", "pending").where("available_at", "<=", now)
        : query
            .where("state", "=", "available")
            .where("points_remaining", ">", 0)
            .where("expires_at", "<=", now);
    const rows = await query.orderBy("id").limit(jobBatchSizeMax).execute();
    return rows.map((row) => row.id);
  };
}

function dueHolds(ctx: Ctx): Scan {
  return async (after) => {
    const rows = await ctx.db.kysely
      .selectFrom("holds")
      .select(["id", "program_id"])
      .where("state", "=", "active")
      .where("expires_at", "<=", ctx.clock.now())
      .where("id", ">", after.split(" ")[1] ?? "")
      .orderBy("id")
      .limit(jobBatchSizeMax)
      .execute();
    return rows.map((row) => `${row.program_id} ${row.id}`);
  };
}

/** Runs the jobs every intervalMs in this process until stopped. */
export function startScheduler(ctx: Ctx, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const tick = () => {
    // A slow pass is not overlapped by the next one; the next tick simply finds less to do.
    if (running) return;
    running = runJobsOnce(ctx)
      .then((report) => {
        if (report.released.lots + report.expired.lots + report.holdsExpired > 0) {
          ctx.log.info({ jobs: report }, "scheduled jobs ran");
        }
      })
      .catch((error) => ctx.log.error({ err: error }, "scheduled jobs failed"))
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
