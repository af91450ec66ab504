import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import type { ProgramsTable } from "../../db/schema.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { fromMinor, isCurrency, toMinor } from "../../lib/money.ts";
import { emit } from "../outbox/index.ts";

export const moneyInput = z
  .union([z.string().max(40), z.number().nonnegative()])
  .describe('Decimal amount in major units of the currency, e.g. "250000" or "12.50"');

export const timezoneSchema = z
  .string()
  .max(64)
  .refine(isTimezone, { message: "unknown IANA timezone" });

export const expirySchema = z.discriminatedUnion("policy", [
  z.object({ policy: z.literal("none") }).strict(),
  z
    .object({ policy: z.literal("months_after_earn"), months: z.number().int().min(1).max(120) })
    .strict(),
  z
    .object({
      policy: z.literal("end_of_year"),
      years: z
        .number()
        .int()
        .min(1)
        .max(10)
        .describe("1 = end of the calendar year of the earn, 2 = end of the next year, …"),
    })
    .strict(),
]);

export const earnRateSchema = z
  .object({
    points: z.number().int().min(0).max(1_000_000),
    per: moneyInput.describe("Money amount that earns `points`, in major units"),
    rounding: z.enum(["floor", "round", "ceil"]).default("floor"),
  })
  .strict();

const settingsFields = {
  name: z.string().trim().min(1).max(120),
  timezone: timezoneSchema,
  locale: z.enum(["id", "en"]),
  earnRate: earnRateSchema,
  expiry: expirySchema,
  returnsWindowDays: z.number().int().min(0).max(365),
  refundPolicy: z.enum(["allow_negative", "forfeit"]),
  holdTtlSeconds: z.number().int().min(10).max(86_400),
};

export const programCreateSchema = z
  .object({
    name: settingsFields.name,
    currency: z
      .string()
      .refine(isCurrency, { message: "unknown ISO 4217 currency code" })
      .default("IDR"),
    timezone: settingsFields.timezone.default("Asia/Jakarta"),
    locale: settingsFields.locale.default("id"),
    earnRate: earnRateSchema.default({ points: 1, per: "10000", rounding: "floor" }),
    expiry: expirySchema.default({ policy: "months_after_earn", months: 12 }),
    returnsWindowDays: settingsFields.returnsWindowDays.default(0),
    refundPolicy: settingsFields.refundPolicy.default("allow_negative"),
    holdTtlSeconds: settingsFields.holdTtlSeconds.default(900),
  })
  .strict();

// Built from the fields without defaults: a partial of the create schema would fill every
// omitted setting with its default and so reset it.
export const programUpdateSchema = z
  .object(settingsFields)
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

export type ProgramCreate = z.infer<typeof programCreateSchema>;
export type ProgramUpdate = z.infer<typeof programUpdateSchema>;

export const programSchema = z.object({
  id: z.string(),
  name: z.string(),
  currency: z.string(),
  timezone: z.string(),
  locale: z.enum(["id", "en"]),
  earnRate: z.object({
    points: z.number().int(),
    per: z.string(),
    rounding: z.enum(["floor", "round", "ceil"]),
  }),
  expiry: expirySchema,
  returnsWindowDays: z.number().int(),
  refundPolicy: z.enum(["allow_negative", "forfeit"]),
  holdTtlSeconds: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ProgramView = z.infer<typeof programSchema>;

/** The settings other modules compute with. */
export type Program = ProgramsTable;

export async function createProgram(ctx: Ctx, input: ProgramCreate): Promise<ProgramView> {
  const now = ctx.clock.now();
  const row: ProgramsTable = {
    id: newId("program"),
    name: input.name,
    currency: input.currency,
    timezone: input.timezone,
    locale: input.locale,
    ...earnColumns(input.earnRate, input.currency),
    ...expiryColumns(input.expiry),
    returns_window_days: input.returnsWindowDays,
    refund_policy: input.refundPolicy,
    hold_ttl_seconds: input.holdTtlSeconds,
    branding: {},
    created_at: now,
    updated_at: now,
  };
  await ctx.db.transaction(async (tx) => {
    await tx.insertInto("programs").values(row).execute();
    await emit(tx, {
      programId: row.id,
      type: "program.created",
      payload: { programId: row.id },
      at: now,
    });
  });
  return toView(row);
}

export async function updateProgram(
  ctx: Ctx,
  programId: string,
  input: ProgramUpdate,
): Promise<ProgramView> {
  const view = await ctx.db.transaction(async (tx) => {
    const current = await lockProgram(tx, programId);
    const now = ctx.clock.now();
    const changes: Partial<ProgramsTable> = { updated_at: now };
    if (input.name !== undefined) changes.name = input.name;
    if (input.timezone !== undefined) changes.timezone = input.timezone;
    if (input.locale !== undefined) changes.locale = input.locale;
    if (input.earnRate !== undefined)
      Object.assign(changes, earnColumns(input.earnRate, current.currency));
    if (input.expiry !== undefined) Object.assign(changes, expiryColumns(input.expiry));
    if (input.returnsWindowDays !== undefined)
      changes.returns_window_days = input.returnsWindowDays;
    if (input.refundPolicy !== undefined) changes.refund_policy = input.refundPolicy;
    if (input.holdTtlSeconds !== undefined) changes.hold_ttl_seconds = input.holdTtlSeconds;
    const row = await tx
      .updateTable("programs")
      .set(changes)
      .where("id", "=", programId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await emit(tx, { programId, type: "program.updated", payload: { programId }, at: now });
    return toView(row);
  });
  // After the commit; a request that read the old settings a moment before keeps them ≤ 1 s.
  programCache.delete(programId);
  return view;
}

export async function getProgram(db: Queryable | Tx, programId: string): Promise<Program> {
  const row = await db
    .selectFrom("programs")
    .selectAll()
    .where("id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("program_not_found", programId);
  return row;
}

/** How long a process reuses program settings it read; a change elsewhere is seen within this. */
export const programCacheTtlMs = 1_000;
const programCache = new Map<string, { program: Program; until: number }>();

/**
 * Program settings for the purchase path, read at most once a second per process: they change
 * rarely, and every purchase needs them. A change made through this process is seen at once.
 */
export async function getProgramCached(db: Queryable | Tx, programId: string): Promise<Program> {
  const now = Date.now();
  const hit = programCache.get(programId);
  if (hit && hit.until > now) return hit.program;
  const program = await getProgram(db, programId);
  if (programCache.size > 1_000) programCache.clear();
  programCache.set(programId, { program, until: now + programCacheTtlMs });
  return program;
}

export async function getProgramView(ctx: Ctx, programId: string): Promise<ProgramView> {
  return toView(await getProgram(ctx.db.kysely, programId));
}

export async function listPrograms(ctx: Ctx): Promise<ProgramView[]> {
  const rows = await ctx.db.kysely.selectFrom("programs").selectAll().orderBy("id").execute();
  return rows.map(toView);
}

async function lockProgram(tx: Tx, programId: string): Promise<Program> {
  const row = await tx
    .selectFrom("programs")
    .selectAll()
    .where("id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("program_not_found", programId);
  return row;
}

/** Base points for a purchase total, with the program's rounding rule applied once. */
export function basePoints(program: Program, totalMinor: number): number {
  const numerator = BigInt(totalMinor) * BigInt(program.earn_points);
  const denominator = BigInt(program.earn_amount_minor);
  const floor = numerator / denominator;
  const remainder = numerator % denominator;
  if (remainder === 0n || program.earn_rounding === "floor") return Number(floor);
  if (program.earn_rounding === "ceil") return Number(floor + 1n);
  return Number(remainder * 2n >= denominator ? floor + 1n : floor);
}

/** When points earned at `earnedAt` expire under the program's policy; null when they never do. */
export function expiryFor(program: Program, earnedAt: Date): Date | null {
  if (program.expiry_kind === "none" || program.expiry_value === null) return null;
  if (program.expiry_kind === "months_after_earn") return addMonths(earnedAt, program.expiry_value);
  const year = yearIn(program.timezone, earnedAt) + program.expiry_value;
  return startOfYearIn(program.timezone, year);
}

/** `from` moved by whole months (negative goes back), the day clamped to the target month's end. */
export function addMonths(from: Date, months: number): Date {
  const at = new Date(from);
  const day = at.getUTCDate();
  at.setUTCDate(1);
  at.setUTCMonth(at.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 0)).getUTCDate();
  at.setUTCDate(Math.min(day, lastDay));
  return at;
}

function earnColumns(rate: z.infer<typeof earnRateSchema>, currency: string) {
  const amountMinor = toMinor(rate.per, currency, "earnRate.per");
  if (amountMinor <= 0) {
    throw new DomainError("validation_failed", "earnRate.per must be greater than zero", {
      field: "earnRate.per",
    });
  }
  return {
    earn_points: rate.points,
    earn_amount_minor: amountMinor,
    earn_rounding: rate.rounding,
  };
}

function expiryColumns(expiry: z.infer<typeof expirySchema>) {
  switch (expiry.policy) {
    case "none":
      return { expiry_kind: "none" as const, expiry_value: null };
    case "months_after_earn":
      return { expiry_kind: "months_after_earn" as const, expiry_value: expiry.months };
    case "end_of_year":
      return { expiry_kind: "end_of_year" as const, expiry_value: expiry.years };
  }
}

export function toView(row: ProgramsTable): ProgramView {
  const expiry: ProgramView["expiry"] =
    row.expiry_kind === "months_after_earn"
      ? { policy: "months_after_earn", months: row.expiry_value ?? 0 }
      : row.expiry_kind === "end_of_year"
        ? { policy: "end_of_year", years: row.expiry_value ?? 0 }
        : { policy: "none" };
  return {
    id: row.id,
    name: row.name,
    currency: row.currency,
    timezone: row.timezone,
    locale: row.locale as "id" | "en",
    earnRate: {
      points: row.earn_points,
      per: fromMinor(row.earn_amount_minor, row.currency),
      rounding: row.earn_rounding,
    },
    expiry,
    returnsWindowDays: row.returns_window_days,
    refundPolicy: row.refund_policy,
    holdTtlSeconds: row.hold_ttl_seconds,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function isTimezone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The calendar year of an instant in `timezone`. */
export function yearIn(timezone: string, at: Date): number {
  return Number(
    new Intl.DateTimeFormat("en-US", { timeZone: timezone, year: "numeric" }).format(at),
  );
}

/** 00:00 on 1 January of `year` in `timezone`, as an instant. */
export function startOfYearIn(timezone: string, year: number): Date {
  const guess = Date.UTC(year, 0, 1);
  const offsetMs = zoneOffsetMs(timezone, new Date(guess));
  return new Date(guess - offsetMs);
}

function zoneOffsetMs(timezone: string, at: Date): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: timezone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(at);
  const get = (type: string) => Number(parts.find((part) => part.type === type)?.value);
  const asUtc = Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour"),
    get("minute"),
    get("second"),
  );
  return asUtc - at.getTime();
}
