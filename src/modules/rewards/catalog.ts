import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { pointsMax } from "../ledger/index.ts";
import { moneyInput, type Program } from "../programs/index.ts";
import type { LimitPeriod, RewardsTable, RewardType } from "./tables.ts";

/** A program's catalog holds at most this many rewards (archived ones count). */
export const rewardsPerProgramMax = 1_000;
export const stockMax = 10_000_000;
const countMax = 100_000;

export const rewardTypes = [
  "discount_amount",
  "discount_percent",
  "free_product",
  "webshop_voucher",
  "gift_card",
  "partner_gift_card",
  "experience",
  "cashback",
  "charity_donation",
  "tier_upgrade",
] as const satisfies readonly RewardType[];

/** Rewards the member takes to a till or web shop: their voucher stays open until consumed. */
export const voucherTypes: ReadonlySet<RewardType> = new Set([
  "discount_amount",
  "discount_percent",
  "free_product",
  "webshop_voucher",
  "partner_gift_card",
  "experience",
]);

/** Rewards a campaign may hand out or a coupon batch may carry: no stock, no side effects. */
export const grantableTypes: ReadonlySet<RewardType> = new Set([
  "discount_amount",
  "discount_percent",
  "free_product",
  "webshop_voucher",
]);

const label = z.string().trim().min(1).max(120);
// Each schema carries one valid example: GET /v1/reward-types publishes it with the schema.
export const benefitSchemas = {
  discount_amount: z
    .object({ amount: moneyInput })
    .strict()
    .meta({ examples: [{ amount: "25000" }] }),
  discount_percent: z
    .object({
      percent: z.number().int().min(1).max(100),
      cap: moneyInput.nullable().optional().describe("Largest discount; null = no cap"),
    })
    .strict()
    .meta({ examples: [{ percent: 10, cap: "50000" }] }),
  free_product: z
    .object({ sku: z.string().trim().min(1).max(64) })
    .strict()
    .meta({ examples: [{ sku: "KOPI-SUSU" }] }),
  webshop_voucher: z
    .object({ amount: moneyInput })
    .strict()
    .meta({ examples: [{ amount: "15000" }] }),
  gift_card: z
    .object({ amount: moneyInput.describe("Value loaded on the card") })
    .strict()
    .meta({ examples: [{ amount: "100000" }] }),
  partner_gift_card: z
    .object({ partner: label })
    .strict()
    .meta({ examples: [{ partner: "Kopi Kenangan" }] }),
  experience: z
    .object({ eventAt: z.iso.datetime({ offset: true }), venue: label.optional() })
    .strict()
    .meta({ examples: [{ eventAt: "2026-06-01T19:00:00+07:00", venue: "Jakarta" }] }),
  cashback: z
    .object({ amount: moneyInput.describe("Credited to the member's wallet") })
    .strict()
    .meta({ examples: [{ amount: "10000" }] }),
  charity_donation: z
    .object({
      charity: label,
      value: moneyInput.describe("Money the program donates per redemption (for reports)"),
    })
    .strict()
    .meta({ examples: [{ charity: "Rumah Zakat", value: "5000" }] }),
  tier_upgrade: z
    .object({
      tierId: z.string().max(64).describe("Id of a tier on the program's ladder (tir_…)"),
      days: z.number().int().min(1).max(3660).nullable().describe("null = no end"),
    })
    .strict()
    .meta({ examples: [{ tierId: "tir_01jq7m5v2k8x9c3d4e5f6g7h8j", days: 90 }] }),
} satisfies Record<RewardType, z.ZodType>;

/** Benefit fields that are money: stored in minor units as `<name>Minor`. */
export const moneyFields: Partial<Record<RewardType, string[]>> = {
  discount_amount: ["amount"],
  discount_percent: ["cap"],
  webshop_voucher: ["amount"],
  gift_card: ["amount"],
  cashback: ["amount"],
  charity_donation: ["value"],
};

const localizedText = z
  .object({
    name: label,
    description: z.string().trim().max(2000).optional(),
    terms: z.string().trim().max(4000).optional(),
  })
  .strict();
const points = z.number().int().min(0).max(pointsMax);
const tierCode = z.string().trim().min(1).max(40);
const when = z.iso.datetime({ offset: true }).nullable();

const commonFields = {
  status: z.enum(["active", "archived"]),
  priority: z
    .number()
    .int()
    .min(-1000)
    .max(1000)
    .describe("Higher first among rewards the member can afford"),
  pointsCost: points,
  tierCosts: z
    .array(z.object({ tierCode, points }).strict())
    .max(50)
    .refine((costs) => new Set(costs.map((cost) => cost.tierCode)).size === costs.length, {
      message: "a tier code appears twice",
    })
    .describe("Points for members of these tiers, instead of pointsCost"),
  cash: moneyInput.describe("Money paid at the till on top of the points (0 = points only)"),
  stock: z.number().int().min(0).max(stockMax).nullable().describe("null = unlimited"),
  limits: z
    .object({
      perMember: z.number().int().min(1).max(countMax).nullable().optional(),
      perPeriod: z
        .object({
          count: z.number().int().min(1).max(countMax),
          period: z.enum(["day", "week", "month", "year"]),
        })
        .strict()
        .nullable()
        .optional()
        .describe("Calendar periods in the program's time zone; weeks start on Monday"),
    })
    .strict(),
  eligibility: z
    .object({
      tierCodes: z.array(tierCode).max(50).optional().describe("Empty = every tier"),
      tags: z.array(z.string().trim().min(1).max(64)).max(50).optional().describe("All required"),
    })
    .strict(),
  availableFrom: when,
  availableUntil: when,
  voucherValidity: z
    .union([
      z.object({ days: z.number().int().min(1).max(3660) }).strict(),
      z.object({ until: z.iso.datetime({ offset: true }) }).strict(),
    ])
    .describe("Days after issue, or a fixed date"),
  imageUrls: z.array(z.url().max(2000)).max(10),
  texts: z
    .object({ id: localizedText.optional(), en: localizedText.optional() })
    .strict()
    .refine((value) => value.id !== undefined || value.en !== undefined, {
      message: "give the texts in at least one language (id or en)",
    }),
};

export const rewardCreateSchema = z.discriminatedUnion(
  "type",
  rewardTypes.map((type) =>
    z
      .object({
        type: z.literal(type),
        benefit: benefitSchemas[type],
        ...commonFields,
        status: commonFields.status.optional(),
        priority: commonFields.priority.optional(),
        tierCosts: commonFields.tierCosts.optional(),
        cash: commonFields.cash.optional(),
        stock: commonFields.stock.optional(),
        limits: commonFields.limits.optional(),
        eligibility: commonFields.eligibility.optional(),
        availableFrom: commonFields.availableFrom.optional(),
        availableUntil: commonFields.availableUntil.optional(),
        voucherValidity: commonFields.voucherValidity.optional(),
        imageUrls: commonFields.imageUrls.optional(),
      })
      .strict(),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);
export type RewardCreate = {
  type: RewardType;
  benefit: Record<string, unknown>;
} & Partial<z.infer<z.ZodObject<typeof commonFields>>> & { pointsCost: number };

// Built from the fields without defaults, so an omitted field keeps its value.
export const rewardUpdateSchema = z
  .object({
    ...commonFields,
    benefit: z
      .union(Object.values(benefitSchemas) as unknown as [z.ZodObject, ...z.ZodObject[]])
      .describe("The benefit of the reward's type, whole (see the create body)"),
  })
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });
export type RewardUpdate = z.infer<typeof rewardUpdateSchema>;

const moneyOut = z.string();
export const rewardSchema = z
  .object({
    id: z.string(),
    programId: z.string(),
    type: z.enum(rewardTypes),
    status: z.enum(["active", "archived"]),
    priority: z.number().int(),
    benefit: z.record(z.string(), z.unknown()),
    pointsCost: z.number().int(),
    tierCosts: z.array(z.object({ tierCode: z.string(), points: z.number().int() })),
    cash: moneyOut,
    stock: z.number().int().nullable(),
    limits: z.object({
      perMember: z.number().int().nullable(),
      perPeriod: z
        .object({ count: z.number().int(), period: z.enum(["day", "week", "month", "year"]) })
        .nullable(),
    }),
    eligibility: z.object({ tierCodes: z.array(z.string()), tags: z.array(z.string()) }),
    availableFrom: z.string().nullable(),
    availableUntil: z.string().nullable(),
    voucherValidity: z.union([
      z.object({ days: z.number().int() }),
      z.object({ until: z.string() }),
    ]),
    imageUrls: z.array(z.string()),
    texts: z.record(z.string(), localizedText),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Reward" });
export type RewardView = z.infer<typeof rewardSchema>;

export const defaultVoucherValidDays = 30;

/** Validation failure in the shape the HTTP layer gives schema errors: path + message. */
export function invalid(path: string, message: string): DomainError {
  return new DomainError("validation_failed", `invalid request: ${path}: ${message}`, {
    issues: [{ path, message }],
  });
}

function money(value: unknown, currency: string, path: string): number {
  try {
    return toMinor(value as string | number, currency, path);
  } catch (error) {
    if (error instanceof DomainError && error.code === "validation_failed") {
      throw invalid(path, error.message);
    }
    throw error;
  }
}

/** Checks a benefit against its type's schema and turns its money into minor units. */
export function storedBenefit(
  type: RewardType,
  input: unknown,
  currency: string,
): Record<string, unknown> {
  const parsed = benefitSchemas[type].safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(
      ["body", "benefit", ...(issue?.path ?? [])].join("."),
      issue?.message ?? "invalid",
    );
  }
  const stored: Record<string, unknown> = { ...parsed.data };
  for (const field of moneyFields[type] ?? []) {
    const value = stored[field];
    delete stored[field];
    stored[`${field}Minor`] =
      value === undefined || value === null
        ? null
        : money(value, currency, `body.benefit.${field}`);
  }
  if (type === "discount_amount" && stored.amountMinor === 0) {
    throw invalid("body.benefit.amount", "must be more than zero");
  }
  return stored;
}

function benefitView(type: RewardType, stored: unknown, currency: string): Record<string, unknown> {
  const view: Record<string, unknown> = { ...(stored as Record<string, unknown>) };
  for (const field of moneyFields[type] ?? []) {
    const minor = view[`${field}Minor`] as number | null | undefined;
    delete view[`${field}Minor`];
    view[field] = minor === null || minor === undefined ? null : fromMinor(minor, currency);
  }
  return view;
}

/** The stored terms of a benefit, in minor units. */
export interface StoredBenefit {
  amountMinor?: number;
  percent?: number;
  capMinor?: number | null;
  sku?: string;
  partner?: string;
  eventAt?: string;
  charity?: string;
  valueMinor?: number;
  tierId?: string;
  days?: number | null;
}

export function benefitOf(row: RewardsTable): StoredBenefit {
  return parseJson(row.benefit) as StoredBenefit;
}

/** jsonb comes back parsed from pg and PGlite alike; text is accepted for safety. */
export function parseJson(value: unknown): unknown {
  return typeof value === "string" ? JSON.parse(value) : value;
}

export function tierCostsOf(row: RewardsTable): Record<string, number> {
  return parseJson(row.tier_costs) as Record<string, number>;
}

export function eligibilityOf(row: RewardsTable): { tierCodes: string[]; tags: string[] } {
  return {
    tierCodes: parseJson(row.eligible_tier_codes) as string[],
    tags: parseJson(row.eligible_tags) as string[],
  };
}

type Columns = Omit<RewardsTable, "id" | "program_id" | "type" | "created_at" | "updated_at">;

/** The columns a create or update sets, from the API fields it names. */
function columnsOf(
  type: RewardType,
  input: Partial<RewardCreate> | RewardUpdate,
  currency: string,
): Partial<Columns> {
  const columns: Partial<Columns> = {};
  if (input.status !== undefined) columns.status = input.status;
  if (input.priority !== undefined) columns.priority = input.priority;
  if (input.benefit !== undefined) columns.benefit = storedBenefit(type, input.benefit, currency);
  if (input.pointsCost !== undefined) columns.points_cost = input.pointsCost;
  if (input.tierCosts !== undefined) {
    const byTier = Object.fromEntries(input.tierCosts.map((cost) => [cost.tierCode, cost.points]));
    columns.tier_costs = JSON.stringify(byTier);
  }
  if (input.cash !== undefined) columns.cash_minor = money(input.cash, currency, "body.cash");
  if (input.stock !== undefined) columns.stock_remaining = input.stock;
  if (input.limits !== undefined) {
    columns.limit_per_member = input.limits.perMember ?? null;
    columns.limit_per_period = input.limits.perPeriod?.count ?? null;
    columns.limit_period = (input.limits.perPeriod?.period ?? null) as LimitPeriod | null;
  }
  if (input.eligibility !== undefined) {
    columns.eligible_tier_codes = JSON.stringify(input.eligibility.tierCodes ?? []);
    columns.eligible_tags = JSON.stringify(input.eligibility.tags ?? []);
  }
  if (input.availableFrom !== undefined)
    columns.available_from = input.availableFrom === null ? null : new Date(input.availableFrom);
  if (input.availableUntil !== undefined)
    columns.available_until = input.availableUntil === null ? null : new Date(input.availableUntil);
  if (input.voucherValidity !== undefined) {
    const validity = input.voucherValidity;
    columns.voucher_valid_days = "days" in validity ? validity.days : null;
    columns.voucher_valid_until = "until" in validity ? new Date(validity.until) : null;
  }
  if (input.imageUrls !== undefined) columns.image_urls = JSON.stringify(input.imageUrls);
  if (input.texts !== undefined) columns.texts = JSON.stringify(input.texts);
  if (columns.benefit !== undefined) columns.benefit = JSON.stringify(columns.benefit);
  return columns;
}

/** Rules that span fields, checked on the reward as it will be after the write. */
function assertConsistent(row: Pick<RewardsTable, "available_from" | "available_until">): void {
  if (row.available_from && row.available_until && row.available_from >= row.available_until) {
    throw invalid("body.availableUntil", "must be after availableFrom");
  }
}

export async function createReward(
  tx: Tx,
  program: Program,
  input: RewardCreate,
  at: Date,
): Promise<RewardView> {
  // The program row's lock serialises creations, so the catalog limit holds under concurrency.
  await tx.selectFrom("programs").select("id").where("id", "=", program.id).forUpdate().execute();
  const count = await tx
    .selectFrom("rewards")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .where("program_id", "=", program.id)
    .executeTakeFirstOrThrow();
  if (Number(count.count) >= rewardsPerProgramMax) {
    throw new DomainError(
      "catalog_full",
      `a program holds at most ${rewardsPerProgramMax} rewards; archive and reuse one instead`,
      { limit: rewardsPerProgramMax },
    );
  }
  const row: RewardsTable = {
    id: newId("reward"),
    program_id: program.id,
    type: input.type,
    status: "active",
    priority: 0,
    benefit: "{}",
    points_cost: input.pointsCost,
    tier_costs: "{}",
    cash_minor: 0,
    stock_remaining: null,
    limit_per_member: null,
    limit_per_period: null,
    limit_period: null,
    eligible_tier_codes: "[]",
    eligible_tags: "[]",
    available_from: null,
    available_until: null,
    voucher_valid_days: defaultVoucherValidDays,
    voucher_valid_until: null,
    image_urls: "[]",
    texts: "{}",
    ...columnsOf(input.type, input, program.currency),
    created_at: at,
    updated_at: at,
  };
  assertConsistent(row);
  await tx.insertInto("rewards").values(row).execute();
  return rewardView(row, program.currency);
}

export async function updateReward(
  tx: Tx,
  program: Program,
  rewardId: string,
  input: RewardUpdate,
  at: Date,
): Promise<RewardView> {
  const current = await lockReward(tx, program.id, rewardId);
  const columns = columnsOf(current.type, input, program.currency);
  const next = { ...current, ...columns, updated_at: at };
  assertConsistent(next);
  await tx
    .updateTable("rewards")
    .set({ ...columns, updated_at: at })
    .where("id", "=", rewardId)
    .execute();
  return rewardView(next, program.currency);
}

export async function findReward(
  db: Queryable | Tx,
  programId: string,
  rewardId: string,
): Promise<RewardsTable> {
  const row = await db
    .selectFrom("rewards")
    .selectAll()
    .where("id", "=", rewardId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("reward_not_found", rewardId);
  return row;
}

/** The reward row under lock: stock changes and edits of one reward happen one at a time. */
export async function lockReward(tx: Tx, programId: string, rewardId: string) {
  const row = await tx
    .selectFrom("rewards")
    .selectAll()
    .where("id", "=", rewardId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("reward_not_found", rewardId);
  return row;
}

export async function listRewards(
  db: Queryable,
  programId: string,
  options: {
    limit: number;
    after?: string | undefined;
    status?: "active" | "archived" | undefined;
  },
): Promise<RewardsTable[]> {
  let query = db
    .selectFrom("rewards")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .limit(options.limit);
  if (options.after) query = query.where("id", ">", options.after);
  if (options.status) query = query.where("status", "=", options.status);
  return query.execute();
}

export function rewardView(row: RewardsTable, currency: string): RewardView {
  return {
    id: row.id,
    programId: row.program_id,
    type: row.type,
    status: row.status,
    priority: row.priority,
    benefit: benefitView(row.type, parseJson(row.benefit), currency),
    pointsCost: row.points_cost,
    tierCosts: Object.entries(tierCostsOf(row)).map(([tierCode, points]) => ({ tierCode, points })),
    cash: fromMinor(row.cash_minor, currency),
    stock: row.stock_remaining,
    limits: {
      perMember: row.limit_per_member,
      perPeriod:
        row.limit_per_period !== null && row.limit_period !== null
          ? { count: row.limit_per_period, period: row.limit_period }
          : null,
    },
    eligibility: eligibilityOf(row),
    availableFrom: row.available_from?.toISOString() ?? null,
    availableUntil: row.available_until?.toISOString() ?? null,
    voucherValidity: row.voucher_valid_until
      ? { until: row.voucher_valid_until.toISOString() }
      : { days: row.voucher_valid_days ?? defaultVoucherValidDays },
    imageUrls: parseJson(row.image_urls) as string[],
    texts: parseJson(row.texts) as RewardView["texts"],
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
