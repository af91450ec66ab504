import { sql } from "kysely";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { expiringLotBatches, inactiveMembers } from "../ledger/index.ts";
import { activeMembersBornOn, birthdaysOn } from "../members/index.ts";
import { readCommittedEvents } from "../outbox/index.ts";
import { getProgram, listPrograms, type ProgramView } from "../programs/index.ts";
import { findReward } from "../rewards/index.ts";
import { loadLadder } from "../tiers/index.ts";
import { enqueue, type MessageVariables, type NewMessage } from "./queue.ts";
import { type CommSettings, getSettings } from "./settings.ts";
import type { Trigger } from "./templates.ts";
import { localDay, localDayStart } from "./time.ts";

/** Outbox events read per consumer transaction, and transactions per pass. */
export const eventBatchMax = 200;
const eventRoundsMax = 25;
const cursorName = "communications";
const scanPageMax = 200;

type EventTrigger = { trigger: Trigger; memberId: string; variables: MessageVariables };

/** What each event means for members; events not named here send nothing. */
const eventTriggers: Record<string, (payload: Record<string, unknown>) => EventTrigger | null> = {
  "member.enrolled": (p) => ({ trigger: "welcome", memberId: String(p.memberId), variables: {} }),
  "points.earned": (p) => ({
    trigger: "points_earned",
    memberId: String(p.memberId),
    variables: { points: Number(p.points), expiresAt: stringOrNull(p.expiresAt) },
  }),
  "points.pending": (p) => ({
    trigger: "points_earned",
    memberId: String(p.memberId),
    variables: {
      points: Number(p.points),
      pending: true,
      availableAt: stringOrNull(p.availableAt),
    },
  }),
  "points.released": (p) => ({
    trigger: "points_released",
    memberId: String(p.memberId),
    variables: { points: Number(p.points) },
  }),
  "reward.redeemed": (p) =>
    typeof p.memberId === "string"
      ? {
          trigger: "reward_redeemed",
          memberId: p.memberId,
          variables: {
            points: Number(p.points ?? 0),
          },
        }
      : null,
  // The payload names tiers by code; a change for a tier-less member sends nothing.
  "tier.changed": (p) =>
    typeof p.toTier === "string"
      ? {
          trigger: "tier_changed",
          memberId: String(p.memberId),
          variables: { tierName: p.toTier, tierUp: p.reason !== "period_end_downgrade" },
        }
      : null,
  "referral.completed": (p) =>
    typeof p.referrerId === "string"
      ? {
          trigger: "referral_completed",
          memberId: p.referrerId,
          variables: { points: Number(p.referrerPoints ?? 0) || null },
        }
      : null,
};

/** The reward's catalogue name per language (the member's is picked at send time). */
async function rewardNames(
  tx: Tx,
  programId: string,
  rewardId: unknown,
): Promise<Record<string, string>> {
  if (typeof rewardId !== "string") return {};
  try {
    const texts = (await findReward(tx, programId, rewardId)).texts as Record<
      string,
      { name?: string }
    >;
    return Object.fromEntries(
      Object.entries(texts ?? {}).flatMap(([locale, text]) =>
        text?.name ? [[locale, text.name]] : [],
      ),
    );
  } catch (error) {
    if (error instanceof DomainError) return {};
    throw error;
  }
}

/** The new tier's names per language and whether it ranks above the old one. */
async function tierFacts(
  tx: Tx,
  programId: string,
  payload: Record<string, unknown>,
): Promise<MessageVariables> {
  const ladder = await loadLadder(tx, await getProgram(tx, programId));
  const tierOf = (code: unknown) => ladder?.tiers.find((tier) => tier.code === code);
  const to = tierOf(payload.toTier);
  if (!to) return {};
  const from = tierOf(payload.fromTier);
  return { tierNames: to.names, tierUp: from === undefined || to.rank > from.rank };
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? value : value instanceof Date ? value.toISOString() : null;
}

/** One message per enabled channel; the gates at send time decide which of them go out. */
function fanOut(
  programId: string,
  settings: CommSettings,
  found: EventTrigger,
  dedupeKey: string,
): NewMessage[] {
  if (settings.disabledTriggers.includes(found.trigger)) return [];
  return settings.channels.map((channel) => ({
    programId,
    memberId: found.memberId,
    trigger: found.trigger,
    channel,
    variables: found.variables,
    dedupeKey: `${dedupeKey}:${channel}`,
  }));
}

export interface ConsumeReport {
  eventsRead: number;
  queued: number;
}

/**
 * Reads the outbox after commit with this module's own cursor and queues the messages events
 * call for, in the transaction that moves the cursor: each event is handled exactly once. The
 * cursor row is taken with SKIP LOCKED, so a second process simply leaves the work to the first.
 */
export async function consumeOutbox(ctx: Ctx, report: ConsumeReport): Promise<void> {
  for (let round = 0; round < eventRoundsMax; round++) {
    const more = await ctx.db.transaction((tx) => consumeBatch(ctx, tx, report));
    if (!more) return;
  }
}

async function consumeBatch(ctx: Ctx, tx: Tx, report: ConsumeReport): Promise<boolean> {
  const now = ctx.clock.now();
  const cursor = await tx
    .selectFrom("comm_outbox_cursor")
    .selectAll()
    .where("name", "=", cursorName)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!cursor) return false;
  const taken = await readCommittedEvents(
    tx,
    { txid: cursor.txid, seq: Number(cursor.seq) },
    eventBatchMax,
  );
  const settingsOf = new Map<string, CommSettings>();
  const messages: NewMessage[] = [];
  for (const row of taken) {
    const map = eventTriggers[row.type];
    if (!map || !row.program_id) continue;
    const payload = row.payload as Record<string, unknown>;
    const found = map(payload);
    if (!found) continue;
    if (found.trigger === "reward_redeemed") {
      found.variables.rewardNames = await rewardNames(tx, row.program_id, payload.rewardId);
    }
    if (found.trigger === "tier_changed") {
      Object.assign(found.variables, await tierFacts(tx, row.program_id, payload));
    }
    let settings = settingsOf.get(row.program_id);
    if (!settings) {
      settings = await getSettings(tx, row.program_id);
      settingsOf.set(row.program_id, settings);
    }
    messages.push(...fanOut(row.program_id, settings, found, row.id));
  }
  report.eventsRead += taken.length;
  report.queued += (await enqueue(tx, now, messages)).length;
  const last = taken.at(-1);
  if (!last) return false;
  await tx
    .updateTable("comm_outbox_cursor")
    .set({ txid: sql`${last.txid}::xid8`, seq: last.seq })
    .where("name", "=", cursorName)
    .execute();
  return taken.length === eventBatchMax;
}

export interface ScanReport {
  programs: number;
  queued: number;
}

type ScanName = "points_expiring" | "birthday" | "winback";

/**
 * Daily scans per program, once per local day in the program's timezone: birthdays, points about
 * to expire, members gone quiet. Messages are keyed so a scan run twice (two processes, a crash
 * before it was marked done) queues nothing twice.
 */
export async function runDailyScans(ctx: Ctx, report: ScanReport): Promise<void> {
  for (const program of await listPrograms(ctx)) {
    const now = ctx.clock.now();
    const today = localDay(now, program.timezone);
    const done = await ctx.db.kysely
      .selectFrom("comm_scans")
      .select(["scan", "last_day"])
      .where("program_id", "=", program.id)
      .execute();
    const due = (scan: ScanName) => (done.find((row) => row.scan === scan)?.last_day ?? "") < today;
    const scans: ScanName[] = (["points_expiring", "birthday", "winback"] as const).filter(due);
    if (scans.length === 0) continue;
    report.programs++;
    const settings = await getSettings(ctx.db.kysely, program.id);
    for (const scan of scans) {
      if (!settings.disabledTriggers.includes(scan)) {
        report.queued += await scanners[scan](ctx, program, settings, now);
      }
      await ctx.db.kysely
        .insertInto("comm_scans")
        .values({ program_id: program.id, scan, last_day: today })
        .onConflict((oc) => oc.columns(["program_id", "scan"]).doUpdateSet({ last_day: today }))
        .execute();
    }
  }
}

type Scanner = (
  ctx: Ctx,
  program: ProgramView,
  settings: CommSettings,
  now: Date,
) => Promise<number>;

const dayMs = 86_400_000;

async function queueAll(
  ctx: Ctx,
  found: (EventTrigger & { key: string })[],
  program: string,
  settings: CommSettings,
) {
  if (found.length === 0) return 0;
  const messages = found.flatMap((item) => fanOut(program, settings, item, item.key));
  return ctx.db.transaction(async (tx) => (await enqueue(tx, ctx.clock.now(), messages)).length);
}

const scanners: Record<ScanName, Scanner> = {
  // One message per member and expiry instant: lots expiring together are one batch.
  async points_expiring(ctx, program, settings, now) {
    let queued = 0;
    let after: { memberId: string; expiresAt: Date } | null = null;
    for (;;) {
      const batches = await expiringLotBatches(ctx.db.kysely, program.id, {
        from: now,
        until: new Date(now.getTime() + settings.expiringNoticeDays * dayMs),
        after,
        limit: scanPageMax,
      });
      queued += await queueAll(
        ctx,
        batches.map((batch) => ({
          trigger: "points_expiring" as const,
          memberId: batch.memberId,
          variables: { points: batch.points, expiresAt: batch.expiresAt.toISOString() },
          key: `expiring:${batch.memberId}:${batch.expiresAt.toISOString()}`,
        })),
        program.id,
        settings,
      );
      const last = batches.at(-1);
      if (!last || batches.length < scanPageMax) return queued;
      after = last;
    }
  },
  // Birthdays are encrypted: the members module selects today's by their blind index.
  async birthday(ctx, program, settings, now) {
    const today = localDay(now, program.timezone);
    let queued = 0;
    let after: string | undefined;
    for (;;) {
      const born = await activeMembersBornOn(ctx.db.kysely, program.id, birthdaysOn(today), {
        limit: scanPageMax,
        after,
      });
      queued += await queueAll(
        ctx,
        born.map((memberId) => ({
          trigger: "birthday" as const,
          memberId,
          variables: {},
          key: `birthday:${today.slice(0, 4)}:${memberId}`,
        })),
        program.id,
        settings,
      );
      const last = born.at(-1);
      if (!last || born.length < scanPageMax) return queued;
      after = last;
    }
  },
  // Once per quiet spell: the key carries the last activity, so a member who comes back and
  // goes quiet again is messaged again.
  async winback(ctx, program, settings, now) {
    const since = new Date(
      localDayStart(now, program.timezone).getTime() - settings.winbackAfterDays * dayMs,
    );
    let queued = 0;
    let after = "";
    for (;;) {
      const quiet = await inactiveMembers(ctx.db.kysely, program.id, {
        since,
        after,
        limit: scanPageMax,
      });
      queued += await queueAll(
        ctx,
        quiet.map((member) => ({
          trigger: "winback" as const,
          memberId: member.memberId,
          variables: {
            days: Math.floor((now.getTime() - member.lastActivityAt.getTime()) / dayMs),
          },
          key: `winback:${member.memberId}:${member.lastActivityAt.toISOString()}`,
        })),
        program.id,
        settings,
      );
      const last = quiet.at(-1);
      if (!last || quiet.length < scanPageMax) return queued;
      after = last.memberId;
    }
  },
};
