import { randomInt } from "node:crypto";
import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { sha256Hex } from "../../lib/json.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { findMemberRow } from "../members/index.ts";
import { emit } from "../outbox/index.ts";
import { getProgram, moneyInput } from "../programs/index.ts";
import { grantReferralPoints } from "./grant.ts";
import type { ReferralSettingsTable, ReferralsTable, RejectionReason } from "./tables.ts";
import { rejectionReasons } from "./tables.ts";

export { rejectionReasons } from "./tables.ts";

/** Unambiguous characters only: no 0/O, 1/I/L, so a code read aloud at the till survives. */
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const codeLength = 8;
export const referralCodeLengthMax = 32;
export const deviceFingerprintLengthMax = 256;
const referralPointsMax = 1_000_000;
const referralLimitMax = 100_000;
/** Pending referrals looked at per database round trip by the completion job. */
export const referralJobChunkSize = 200;

export const referralSettingsInputSchema = z
  .object({
    enabled: z.boolean(),
    referrerPoints: z.number().int().min(0).max(referralPointsMax),
    refereePoints: z.number().int().min(0).max(referralPointsMax),
    qualifyingMinimum: moneyInput.describe(
      "Least total (net of refunds) of the referee's qualifying purchase",
    ),
    perReferrerMonthMax: z
      .number()
      .int()
      .min(1)
      .max(referralLimitMax)
      .nullable()
      .default(null)
      .describe("Accepted referrals per referrer per calendar month (program timezone)"),
    perReferrerTotalMax: z.number().int().min(1).max(referralLimitMax).nullable().default(null),
    shareBaseUrl: z
      .url({ protocol: /^https?$/ })
      .max(500)
      .nullable()
      .default(null)
      .describe("Share links are this URL with ?ref=CODE"),
  })
  .strict();
export type ReferralSettingsInput = z.infer<typeof referralSettingsInputSchema>;

export const referralSettingsSchema = z
  .object({
    enabled: z.boolean(),
    referrerPoints: z.number().int(),
    refereePoints: z.number().int(),
    qualifyingMinimum: z.string(),
    perReferrerMonthMax: z.number().int().nullable(),
    perReferrerTotalMax: z.number().int().nullable(),
    shareBaseUrl: z.string().nullable(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: "ReferralSettings" });
export type ReferralSettingsView = z.infer<typeof referralSettingsSchema>;

export const referralStatuses = ["pending", "completed", "rejected"] as const;

export const referralSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    referrerId: z.string().nullable(),
    refereeId: z.string(),
    status: z.enum(referralStatuses),
    reason: z.enum(rejectionReasons).nullable(),
    source: z.enum(["enrolment", "claim"]),
    referrerPoints: z.number().int().describe("Points the referrer gets (or got) on completion"),
    refereePoints: z.number().int(),
    qualifyingMinimum: z.string(),
    qualifyingTransactionId: z.string().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .meta({ id: "Referral" });
export type ReferralView = z.infer<typeof referralSchema>;

export const memberReferralSchema = z
  .object({
    memberId: z.string(),
    code: z.string(),
    shareUrl: z.string().nullable(),
    referredBy: referralSchema.nullable().describe("How this member was referred, if they were"),
    referrals: z.object({
      pending: z.number().int(),
      completed: z.number().int(),
      rejected: z.number().int(),
    }),
  })
  .meta({ id: "MemberReferral" });
export type MemberReferralView = z.infer<typeof memberReferralSchema>;

export const referralClaimSchema = z
  .object({
    code: z.string().trim().min(1).max(referralCodeLengthMax),
    deviceFingerprint: z.string().min(1).max(deviceFingerprintLengthMax).optional(),
  })
  .strict();

export const referralListQuery = z.object({
  status: z.enum(referralStatuses).optional(),
  referrerId: z.string().max(64).optional(),
});

const disabledSettings = (programId: string): ReferralSettingsTable => ({
  program_id: programId,
  enabled: false,
  referrer_points: 0,
  referee_points: 0,
  qualifying_total_minor: 0,
  per_referrer_month_max: null,
  per_referrer_total_max: null,
  share_base_url: null,
  updated_at: new Date(0),
});

async function loadSettings(db: Queryable | Tx, programId: string): Promise<ReferralSettingsTable> {
  const row = await db
    .selectFrom("referral_settings")
    .selectAll()
    .where("program_id", "=", programId)
    .executeTakeFirst();
  return row ?? disabledSettings(programId);
}

function settingsView(row: ReferralSettingsTable, currency: string): ReferralSettingsView {
  return {
    enabled: row.enabled,
    referrerPoints: row.referrer_points,
    refereePoints: row.referee_points,
    qualifyingMinimum: fromMinor(row.qualifying_total_minor, currency),
    perReferrerMonthMax: row.per_referrer_month_max,
    perReferrerTotalMax: row.per_referrer_total_max,
    shareBaseUrl: row.share_base_url,
    updatedAt: row.updated_at.getTime() === 0 ? null : row.updated_at.toISOString(),
  };
}

export async function getReferralSettings(
  ctx: Ctx,
  programId: string,
): Promise<ReferralSettingsView> {
  const program = await getProgram(ctx.db.kysely, programId);
  return settingsView(await loadSettings(ctx.db.kysely, programId), program.currency);
}

/** Replaces the program's referral settings; referrals already accepted keep their terms. */
export async function putReferralSettings(
  tx: Tx,
  now: Date,
  programId: string,
  input: ReferralSettingsInput,
): Promise<ReferralSettingsView> {
  const program = await getProgram(tx, programId);
  const row: ReferralSettingsTable = {
    program_id: programId,
    enabled: input.enabled,
    referrer_points: input.referrerPoints,
    referee_points: input.refereePoints,
    qualifying_total_minor: toMinor(input.qualifyingMinimum, program.currency, "qualifyingMinimum"),
    per_referrer_month_max: input.perReferrerMonthMax,
    per_referrer_total_max: input.perReferrerTotalMax,
    share_base_url: input.shareBaseUrl,
    updated_at: now,
  };
  const { program_id: _key, ...changes } = row;
  await tx
    .insertInto("referral_settings")
    .values(row)
    .onConflict((oc) => oc.column("program_id").doUpdateSet(changes))
    .execute();
  return settingsView(row, program.currency);
}

/** Codes are compared in their printed form: upper case, without spaces or dashes. */
export function normalizeReferralCode(code: string): string {
  return code.replace(/[\s-]/g, "").toUpperCase();
}

function newReferralCode(): string {
  let code = "";
  for (let i = 0; i < codeLength; i++) code += codeAlphabet[randomInt(codeAlphabet.length)];
  return code;
}

/** The member's code, created on first use; a rare clash with another member's code retries. */
async function ensureCode(tx: Tx, programId: string, memberId: string, now: Date): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await tx
      .selectFrom("referral_codes")
      .select("code")
      .where("member_id", "=", memberId)
      .executeTakeFirst();
    if (existing) return existing.code;
    await tx
      .insertInto("referral_codes")
      .values({
        program_id: programId,
        member_id: memberId,
        code: newReferralCode(),
        created_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  throw new Error("could not create a unique referral code");
}

function shareUrl(base: string | null, code: string): string | null {
  if (base === null) return null;
  const url = new URL(base);
  url.searchParams.set("ref", code);
  return url.toString();
}

function referralView(row: ReferralsTable, currency: string): ReferralView {
  return {
    id: row.id,
    code: row.code,
    referrerId: row.referrer_member_id,
    refereeId: row.referee_member_id,
    status: row.status,
    reason: row.reason,
    source: row.source,
    referrerPoints: row.referrer_points,
    refereePoints: row.referee_points,
    qualifyingMinimum: fromMinor(row.qualifying_total_minor, currency),
    qualifyingTransactionId: row.qualifying_transaction_id,
    createdAt: row.created_at.toISOString(),
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}

/** A member's referral code and share link (the code is created on the first call). */
export async function getMemberReferral(
  ctx: Ctx,
  programId: string,
  memberId: string,
): Promise<MemberReferralView> {
  return ctx.db.transaction(async (tx) => {
    const program = await getProgram(tx, programId);
    await findMemberRow(tx, programId, { id: memberId });
    const code = await ensureCode(tx, programId, memberId, ctx.clock.now());
    const settings = await loadSettings(tx, programId);
    const referredBy = await tx
      .selectFrom("referrals")
      .selectAll()
      .where("referee_member_id", "=", memberId)
      .orderBy(sql`status = 'rejected'`)
      .orderBy("id", "desc")
      .limit(1)
      .executeTakeFirst();
    const counts = await tx
      .selectFrom("referrals")
      .select(["status", (eb) => eb.fn.countAll<number>().as("count")])
      .where("referrer_member_id", "=", memberId)
      .groupBy("status")
      .execute();
    const count = (status: string) => Number(counts.find((c) => c.status === status)?.count ?? 0);
    return {
      memberId,
      code,
      shareUrl: shareUrl(settings.share_base_url, code),
      referredBy: referredBy ? referralView(referredBy, program.currency) : null,
      referrals: {
        pending: count("pending"),
        completed: count("completed"),
        rejected: count("rejected"),
      },
    };
  });
}

export async function listReferrals(
  ctx: Ctx,
  programId: string,
  filter: z.infer<typeof referralListQuery> & { limit: number; after?: string | undefined },
): Promise<ReferralView[]> {
  const program = await getProgram(ctx.db.kysely, programId);
  let query = ctx.db.kysely
    .selectFrom("referrals")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .limit(filter.limit);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.referrerId) query = query.where("referrer_member_id", "=", filter.referrerId);
  if (filter.after) query = query.where("id", ">", filter.after);
  return (await query.execute()).map((row) => referralView(row, program.currency));
}

/** The person behind a member record, as far as the self-referral check compares them. */
export interface ReferralParty {
  id: string;
  phone: string | null;
  email: string | null;
}

/**
 * One mailbox, however it is spelled: plus-addressing is dropped, and Gmail ignores dots. Two
 * enrolments with these variants of one address are the same person.
 */
export function canonicalEmail(email: string): string {
  const [local = "", domain = ""] = email.toLowerCase().split("@");
  const gmail = domain === "gmail.com" || domain === "googlemail.com";
  const bare = local.split("+")[0] ?? "";
  return `${gmail ? bare.replaceAll(".", "") : bare}@${gmail ? "gmail.com" : domain}`;
}

const fingerprintHash = (programId: string, fingerprint: string) =>
  sha256Hex(`${programId}\n${fingerprint}`);

/** Start of the calendar month containing `at`, in the program's timezone. */
export function monthStart(at: Date, timezone: string): Date {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      hourCycle: "h23",
    })
      .formatToParts(at)
      .map((part) => [part.type, Number(part.value)]),
  ) as Record<string, number>;
  const localAsUtc = Date.UTC(
    parts.year ?? 0,
    (parts.month ?? 1) - 1,
    parts.day,
    parts.hour,
    parts.minute,
    parts.second,
  );
  const offsetMs = localAsUtc - Math.floor(at.getTime() / 1000) * 1000;
  return new Date(Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, 1) - offsetMs);
}

/**
 * Applies a referral code for a member: called in the enrolment's transaction right after the
 * member is written, or by a claim. The attempt is always stored: accepted as pending, or
 * rejected with its reason. It never throws for a bad code, so a wrong code cannot cost the shop
 * a new member. The referrer's code row is locked so concurrent referrals respect the limits.
 */
export async function attachReferral(
  tx: Tx,
  now: Date,
  programId: string,
  referee: ReferralParty,
  input: {
    referralCode?: string | undefined;
    deviceFingerprint?: string | undefined;
    source?: "enrolment" | "claim";
  },
): Promise<ReferralView | null> {
  // Most enrolments bring neither: they cost no query here.
  if (input.referralCode === undefined && input.deviceFingerprint === undefined) return null;
  const refereeDevice =
    input.deviceFingerprint === undefined
      ? null
      : fingerprintHash(programId, input.deviceFingerprint);
  const source = input.source ?? "enrolment";
  if (refereeDevice !== null && source === "enrolment") {
    await tx
      .insertInto("referral_devices")
      .values({
        program_id: programId,
        member_id: referee.id,
        fingerprint_hash: refereeDevice,
        created_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
  if (input.referralCode === undefined) return null;
  const program = await getProgram(tx, programId);
  const code = normalizeReferralCode(input.referralCode);
  const settings = await loadSettings(tx, programId);
  const owner = await tx
    .selectFrom("referral_codes")
    .select("member_id")
    .where("program_id", "=", programId)
    .where("code", "=", code)
    .forUpdate()
    .executeTakeFirst();
  const referrer = owner ? await findMemberRow(tx, programId, { id: owner.member_id }) : null;
  const reason = await rejectionOf(tx, {
    program,
    settings,
    referee,
    refereeDevice,
    source,
    now,
    referrer: referrer && {
      id: referrer.id,
      phone: referrer.phone_e164,
      email: referrer.email,
      status: referrer.status,
    },
  });
  const row: ReferralsTable = {
    id: newId("referral"),
    program_id: programId,
    code,
    referrer_member_id: referrer?.id ?? null,
    referee_member_id: referee.id,
    status: reason === null ? "pending" : "rejected",
    reason,
    source,
    qualifying_transaction_id: null,
    referrer_points: reason === null ? settings.referrer_points : 0,
    referee_points: reason === null ? settings.referee_points : 0,
    qualifying_total_minor: settings.qualifying_total_minor,
    created_at: now,
    completed_at: null,
  };
  await tx.insertInto("referrals").values(row).execute();
  await emit(tx, {
    programId,
    type: reason === null ? "referral.created" : "referral.rejected",
    payload: {
      referralId: row.id,
      referrerId: row.referrer_member_id,
      refereeId: row.referee_member_id,
      source,
      ...(reason === null
        ? { referrerPoints: row.referrer_points, refereePoints: row.referee_points }
        : { reason }),
    },
    at: now,
  });
  return referralView(row, program.currency);
}

/** The first fraud or eligibility check the referral fails, or null when it is accepted. */
async function rejectionOf(
  tx: Tx,
  input: {
    program: { timezone: string };
    settings: ReferralSettingsTable;
    referee: ReferralParty;
    refereeDevice: string | null;
    source: "enrolment" | "claim";
    now: Date;
    referrer: (ReferralParty & { status: string }) | null;
  },
): Promise<RejectionReason | null> {
  const { settings, referee, referrer } = input;
  if (!settings.enabled) return "referrals_disabled";
  if (referrer === null) return "unknown_code";
  if (await isSamePerson(tx, settings.program_id, referrer, referee, input.refereeDevice)) {
    return "self_referral";
  }
  if (referrer.status !== "active") return "referrer_blocked";
  if (input.source === "claim") return "already_member";
  const limits: [number | null, Date | null][] = [
    [settings.per_referrer_total_max, null],
    [settings.per_referrer_month_max, monthStart(input.now, input.program.timezone)],
  ];
  for (const [max, since] of limits) {
    if (max === null) continue;
    let query = tx
      .selectFrom("referrals")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("referrer_member_id", "=", referrer.id)
      .where("status", "<>", "rejected");
    if (since) query = query.where("created_at", ">=", since);
    const { count } = await query.executeTakeFirstOrThrow();
    if (Number(count) >= max) return "limit_reached";
  }
  return null;
}

async function isSamePerson(
  tx: Tx,
  programId: string,
  referrer: ReferralParty,
  referee: ReferralParty,
  refereeDevice: string | null,
): Promise<boolean> {
  if (referrer.id === referee.id) return true;
  if (referrer.phone !== null && referrer.phone === referee.phone) return true;
  if (
    referrer.email !== null &&
    referee.email !== null &&
    canonicalEmail(referrer.email) === canonicalEmail(referee.email)
  ) {
    return true;
  }
  if (refereeDevice === null) return false;
  const shared = await tx
    .selectFrom("referral_devices")
    .select("member_id")
    .where("program_id", "=", programId)
    .where("member_id", "=", referrer.id)
    .where("fingerprint_hash", "=", refereeDevice)
    .executeTakeFirst();
  return shared !== undefined;
}

/** Applies a code to an existing member: recorded, and always rejected (see decision 0026). */
export async function claimReferral(
  tx: Tx,
  now: Date,
  programId: string,
  memberId: string,
  input: z.infer<typeof referralClaimSchema>,
): Promise<ReferralView> {
  const member = await findMemberRow(tx, programId, { id: memberId });
  const view = await attachReferral(
    tx,
    now,
    programId,
    { id: member.id, phone: member.phone_e164, email: member.email },
    { ...input, referralCode: input.code, source: "claim" },
  );
  if (view === null) throw new DomainError("validation_failed", "code is required");
  return view;
}

export interface ReferralJobReport {
  completed: number;
  points: number;
}

/**
 * Completes pending referrals whose referee has a purchase past the returns window with a total,
 * net of refunds, of at least the promised minimum: both members get their points. Each referral
 * is completed in its own transaction under a lock on its row and only while still pending (its
 * natural key), so two runners never reward one referral twice.
 */
export async function completeDueReferrals(ctx: Ctx): Promise<ReferralJobReport> {
  const report: ReferralJobReport = { completed: 0, points: 0 };
  let after = "";
  for (;;) {
    const now = ctx.clock.now();
    const { rows } = await sql<{ id: string; transaction_id: string | null }>`
      select r.id, (
        select t.id from transactions t
        where t.program_id = r.program_id and t.member_id = r.referee_member_id
          and t.total_minor - t.refunded_minor >= r.qualifying_total_minor
          and t.occurred_at + make_interval(days => p.returns_window_days) <= ${now}
        order by t.occurred_at, t.id limit 1) as transaction_id
      from referrals r join programs p on p.id = r.program_id
      where r.status = 'pending' and r.id > ${after}
      order by r.id limit ${referralJobChunkSize}`.execute(ctx.db.kysely);
    if (rows.length === 0) return report;
    for (const row of rows) {
      if (row.transaction_id === null) continue;
      const points = await ctx.db.transaction((tx) =>
        completeReferral(tx, row.id, row.transaction_id as string, now),
      );
      if (points !== null) {
        report.completed += 1;
        report.points += points;
      }
    }
    after = rows.at(-1)?.id ?? after;
  }
}

/** Completes one referral unless another runner already did; answers the points granted. */
async function completeReferral(
  tx: Tx,
  referralId: string,
  transactionId: string,
  now: Date,
): Promise<number | null> {
  const referral = await tx
    .selectFrom("referrals")
    .selectAll()
    .where("id", "=", referralId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (referral.status !== "pending") return null;
  const programId = referral.program_id;
  const { referrerPoints, refereePoints } = await grantReferralPoints(tx, {
    programId,
    referralId,
    referrer: { memberId: referral.referrer_member_id, points: referral.referrer_points },
    referee: { memberId: referral.referee_member_id, points: referral.referee_points },
    at: now,
  });
  await tx
    .updateTable("referrals")
    .set({
      status: "completed",
      qualifying_transaction_id: transactionId,
      referee_points: refereePoints,
      referrer_points: referrerPoints,
      completed_at: now,
    })
    .where("id", "=", referralId)
    .execute();
  await emit(tx, {
    programId,
    type: "referral.completed",
    payload: {
      referralId,
      referrerId: referral.referrer_member_id,
      refereeId: referral.referee_member_id,
      transactionId,
      referrerPoints,
      refereePoints,
    },
    at: now,
  });
  return refereePoints + referrerPoints;
}
