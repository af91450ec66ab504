import type { Selectable } from "kysely";
import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { valuesPerFlushMax, WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import type { MembersTable, TransactionsTable } from "../../db/schema.ts";
import { invariant } from "../../lib/assert.ts";

type TransactionRow = Selectable<TransactionsTable>;

import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { payloadHash } from "../../lib/json.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { type BalanceRow, earnForPurchase, lockMembers, reverseEarn } from "../ledger/index.ts";
import { findMemberRows, memberRefSchema } from "../members/index.ts";
import { emit } from "../outbox/index.ts";
import {
  basePoints,
  getProgram,
  getProgramCached,
  moneyInput,
  type Program,
} from "../programs/index.ts";
import { grantReward } from "../rewards/index.ts";
import {
  breakdownLineSchema,
  campaignOutcomeSchema,
  type EarnEvent,
  EarnSession,
  type Evaluation,
  loadActiveCampaigns,
} from "../rules/index.ts";
import { closedStores, storeClosed } from "../stores/index.ts";
import { afterPurchases } from "../tiers/index.ts";

/** How far ahead of the server clock a till's clock may run before its receipts are refused. */
const clockSkewMs = 5 * 60_000;
export const linesMax = 500;
export const batchSizeMax = 500;

const quantitySchema = z
  .number()
  .positive()
  .max(1_000_000)
  .refine(
    (value) =>
      Number.isInteger(Math.round(value * 1000)) &&
      Math.abs(value * 1000 - Math.round(value * 1000)) < 1e-6,
    {
      message: "quantity has at most 3 decimals",
    },
  );

export const lineSchema = z
  .object({
    sku: z.string().trim().min(1).max(64),
    category: z.string().trim().min(1).max(64).optional(),
    brand: z.string().trim().min(1).max(64).optional(),
    kind: z
      .enum(["product", "reward"])
      .default("product")
      .describe("reward: a line paid with a reward or voucher; it never earns points"),
    quantity: quantitySchema,
    unitPrice: moneyInput,
  })
  .strict();

export const purchaseSchema = z
  .object({
    externalId: z.string().trim().min(1).max(100).describe("Receipt number, unique per store"),
    storeId: z.string().trim().min(1).max(64),
    channel: z.enum(["pos", "online", "app"]),
    occurredAt: z.iso.datetime({ offset: true }),
    currency: z.string().length(3),
    total: moneyInput,
    member: memberRefSchema
      .optional()
      .describe("Omit for an anonymous basket: recorded, earns nothing"),
    lines: z.array(lineSchema).max(linesMax).default([]),
  })
  .strict();
export type PurchaseInput = z.infer<typeof purchaseSchema>;

export const refundSchema = z
  .object({
    externalId: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .describe("Refund receipt number, unique per store"),
    storeId: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .optional()
      .describe("Defaults to the purchase's store"),
    transaction: z.union([
      z.object({ id: z.string().max(64) }).strict(),
      z.object({ storeId: z.string().max(64), externalId: z.string().max(100) }).strict(),
    ]),
    amount: moneyInput.optional(),
    lines: z
      .array(z.object({ lineNo: z.number().int().min(1), quantity: quantitySchema }).strict())
      .min(1)
      .max(linesMax)
      .optional(),
  })
  .strict()
  .refine((value) => (value.amount === undefined) !== (value.lines === undefined), {
    message: "give either amount or lines",
    path: ["amount"],
  });
export type RefundInput = z.infer<typeof refundSchema>;

const balanceSchema = z.object({
  pending: z.number().int(),
  available: z.number().int(),
  held: z.number().int(),
});

export const purchaseResultSchema = z.object({
  transactionId: z.string(),
  externalId: z.string(),
  storeId: z.string(),
  memberId: z.string().nullable(),
  total: z.string(),
  currency: z.string(),
  pointsEarned: z.number().int(),
  pointsState: z.enum(["pending", "available", "none"]),
  availableAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
  breakdown: z
    .array(breakdownLineSchema)
    .describe("Which rule gave which points: base rate, tier multiplier, each campaign rule"),
  vouchers: z
    .array(
      z.object({
        campaignId: z.string(),
        rewardId: z.string(),
        voucherId: z.string(),
        code: z.string(),
      }),
    )
    .optional()
    .describe("Free rewards awarded by campaigns"),
  balance: balanceSchema.nullable(),
  replayed: z.boolean(),
});
export type PurchaseResult = z.infer<typeof purchaseResultSchema>;

export const refundResultSchema = z.object({
  refundId: z.string(),
  transactionId: z.string(),
  externalId: z.string(),
  storeId: z.string(),
  amount: z.string(),
  currency: z.string(),
  pointsReversed: z.number().int().describe("Points taken from the member"),
  pointsForfeited: z.number().int(),
  pointsAlreadyExpired: z
    .number()
    .int()
    .describe("Points of the purchase that had already expired: nothing more taken for them"),
  refundedTotal: z.string(),
  balance: balanceSchema.nullable(),
  replayed: z.boolean(),
});
export type RefundResult = z.infer<typeof refundResultSchema>;

/** The balance a till shows after a purchase or refund. */
function balanceView(balance: BalanceRow) {
  return { pending: balance.pending, available: balance.available, held: balance.held };
}

function lineAmountMinor(quantity: number, unitPriceMinor: number): number {
  const milli = BigInt(Math.round(quantity * 1000));
  return Number((milli * BigInt(unitPriceMinor) + 500n) / 1000n);
}

/** Records a purchase and earns its points; the same receipt sent again answers the first result. */
export async function recordPurchase(
  tx: Tx,
  ctx: Pick<Ctx, "clock">,
  programId: string,
  input: PurchaseInput,
): Promise<PurchaseResult> {
  const [outcome] = await recordPurchases(tx, ctx.clock.now(), programId, [input]);
  invariant(outcome !== undefined, "one purchase, one outcome");
  if (outcome instanceof DomainError) throw outcome;
  return outcome;
}

interface PreparedPurchase {
  input: PurchaseInput;
  requestHash: string;
  occurredAt: Date;
  totalMinor: number;
  lines: (PurchaseInput["lines"][number] & { unitPriceMinor: number; amountMinor: number })[];
}

/** A purchase as the rules engine sees it; the same for the real earn and the preview. */
function earnEvent(
  program: Program,
  purchase: PreparedPurchase,
  member: MembersTable | null,
): EarnEvent {
  const rewardMinor = purchase.lines.reduce(
    (sum, line) => sum + (line.kind === "reward" ? line.amountMinor : 0),
    0,
  );
  return {
    trigger: "purchase",
    occurredAt: purchase.occurredAt,
    timezone: program.timezone,
    currency: program.currency,
    channel: purchase.input.channel,
    storeId: purchase.input.storeId,
    totalMinor: purchase.totalMinor,
    lines: purchase.lines.map((line, index) => ({
      lineNo: index + 1,
      sku: line.sku,
      category: line.category ?? null,
      brand: line.brand ?? null,
      kind: line.kind,
      quantityMilli: Math.round(line.quantity * 1000),
      amountMinor: line.amountMinor,
    })),
    // Reward lines were paid with a reward, not money: they never earn.
    basePoints: basePoints(program, Math.max(0, purchase.totalMinor - rewardMinor)),
    baseDescription: baseRateDescription(program),
    member,
  };
}

/** Checks one purchase against its program without touching the database. */
function preparePurchase(program: Program, input: PurchaseInput, now: Date): PreparedPurchase {
  if (input.currency !== program.currency) {
    throw new DomainError(
      "currency_mismatch",
      `program ${program.id} runs in ${program.currency}`,
      {
        field: "currency",
        expected: program.currency,
      },
    );
  }
  const occurredAt = new Date(input.occurredAt);
  if (occurredAt.getTime() > now.getTime() + clockSkewMs) {
    throw new DomainError("occurred_in_future", "occurredAt is in the future", {
      field: "occurredAt",
    });
  }
  const totalMinor = toMinor(input.total, program.currency, "total");
  const lines = input.lines.map((line, index) => {
    const unitPriceMinor = toMinor(line.unitPrice, program.currency, `lines.${index}.unitPrice`);
    return { ...line, unitPriceMinor, amountMinor: lineAmountMinor(line.quantity, unitPriceMinor) };
  });
  return { input, requestHash: payloadHash(input), occurredAt, totalMinor, lines };
}

const receiptKey = (storeId: string, externalId: string) => JSON.stringify([storeId, externalId]);

/**
 * Records purchases set-wise: a handful of statements whatever their number. Receipts already
 * stored (or repeated in the same call) answer as replays; members are locked in id order, and
 * the rest are written in one statement, so the locks are held for one write and the commit. Each purchase's answer
 * is its result or the domain error that refused it; a refused purchase writes nothing.
 * A receipt raced by a concurrent request fails the unique index, and the transaction retries.
 */
async function recordPurchases(
  tx: Tx,
  now: Date,
  programId: string,
  inputs: PurchaseInput[],
): Promise<(PurchaseResult | DomainError)[]> {
  const program = await getProgramCached(tx, programId);
  const outcomes: (PurchaseResult | DomainError | PreparedPurchase)[] = inputs.map((input) => {
    try {
      return preparePurchase(program, input, now);
    } catch (error) {
      if (error instanceof DomainError) return error;
      throw error;
    }
  });
  const withMember = outcomes.flatMap((outcome, index) =>
    !isPrepared(outcome) || !outcome.input.member ? [] : [{ index, ref: outcome.input.member }],
  );
  const members = new Map<number, MembersTable>();
  const found = await findMemberRows(
    tx,
    programId,
    withMember.map((item) => item.ref),
  );
  withMember.forEach((item, position) => {
    const row = found[position];
    if (row instanceof DomainError) outcomes[item.index] = row;
    else if (row) members.set(item.index, row);
  });
  const prepared = outcomes.filter(isPrepared);
  const stored = new Map<
    string,
    { request_hash: string; result: unknown; id: string; store_id: string; external_id: string }
  >();
  if (prepared.length > 0) {
    const rows = await tx
      .selectFrom("transactions")
      .select(["id", "store_id", "external_id", "request_hash", "result"])
      .where("program_id", "=", programId)
      .where(
        // Two array parameters whatever the batch size: a long row list of pairs breaks PGlite's
        // commit past ~280 pairs (test/db/large-batch.test.ts).
        sql<boolean>`(store_id, external_id) in (select * from unnest(${prepared.map(
          (item) => item.input.storeId,
        )}::text[], ${prepared.map((item) => item.input.externalId)}::text[]))`,
      )
      .execute();
    for (const row of rows) stored.set(receiptKey(row.store_id, row.external_id), row);
  }
  // A new receipt at a store registered as closed is refused; replays still answer (decision 0050).
  const closed = await closedStores(
    tx,
    programId,
    prepared.map((item) => item.input.storeId),
  );
  for (const [index, outcome] of outcomes.entries()) {
    if (!isPrepared(outcome) || !closed.has(outcome.input.storeId)) continue;
    if (stored.has(receiptKey(outcome.input.storeId, outcome.input.externalId))) continue;
    outcomes[index] = storeClosed(outcome.input.storeId);
    members.delete(index);
  }

  const locked = await lockMembers(
    tx,
    programId,
    [...members.values()].map((member) => member.id),
  );

  // The rules see each new receipt of an active member once, in order, before anything is written.
  const events = new Map<number, EarnEvent>();
  const fresh = new Set<string>();
  for (const [index, outcome] of outcomes.entries()) {
    if (!isPrepared(outcome)) continue;
    const key = receiptKey(outcome.input.storeId, outcome.input.externalId);
    if (stored.has(key) || fresh.has(key)) continue;
    fresh.add(key);
    const member = members.get(index);
    if (member && locked.get(member.id)?.status === "active") {
      events.set(index, earnEvent(program, outcome, member));
    }
  }
  const campaigns = events.size > 0 ? await loadActiveCampaigns(tx, programId, now) : [];
  const session = await EarnSession.open(tx, programId, campaigns, [...events.values()], {
    lock: true,
    explain: "matched",
  });

  const batch = new WriteBatch(tx);
  for (const [index, outcome] of outcomes.entries()) {
    if (!isPrepared(outcome)) continue;
    const { input } = outcome;
    const key = receiptKey(input.storeId, input.externalId);
    const earlier = stored.get(key);
    if (earlier) {
      outcomes[index] = replayOutcome(earlier, outcome.requestHash);
      continue;
    }
    const member = members.get(index) ?? null;
    const lock = member ? locked.get(member.id) : undefined;
    if (member && lock?.status !== "active") {
      outcomes[index] = new DomainError("member_blocked", `member ${member.id} is blocked`, {
        memberId: member.id,
      });
      continue;
    }
    // A large batch goes out in several statements; balances and receipts carry over in memory.
    if (batch.valueCount > valuesPerFlushMax) {
      await session.addWrites(batch, now);
      await batch.flush();
    }
    const event = events.get(index);
    const evaluation = event ? session.evaluate(event) : null;
    const written = await writePurchase(
      batch,
      program,
      outcome,
      lock?.balance ?? null,
      evaluation,
      now,
    );
    if (lock && written.balance) lock.balance = written.balance;
    stored.set(key, {
      id: written.result.transactionId,
      store_id: input.storeId,
      external_id: input.externalId,
      request_hash: outcome.requestHash,
      result: written.result,
    });
    outcomes[index] = written.result;
  }
  await session.addWrites(batch, now);
  await batch.flush();
  // Tiers move up as soon as a purchase crosses a threshold; replays add nothing to count.
  await afterPurchases(
    tx,
    program,
    outcomes.flatMap((outcome) =>
      "transactionId" in outcome && !outcome.replayed && outcome.memberId ? [outcome.memberId] : [],
    ),
    now,
  );
  return outcomes as (PurchaseResult | DomainError)[];
}

export const previewResultSchema = z.object({
  memberId: z.string().nullable().describe("null: the member-less estimate"),
  total: z.string(),
  currency: z.string(),
  pointsEarned: z.number().int(),
  pointsState: z.enum(["pending", "available", "none"]),
  breakdown: z.array(breakdownLineSchema),
  rewards: z.array(z.object({ campaignId: z.string(), ruleId: z.string(), rewardId: z.string() })),
  lines: z.array(z.object({ lineNo: z.number().int(), points: z.number().int() })),
  campaigns: z
    .array(campaignOutcomeSchema)
    .describe("Every campaign with a purchase rule: matched or not (which condition failed), caps"),
});
export type PreviewResult = z.infer<typeof previewResultSchema>;

/**
 * The points a purchase would earn now, computed exactly as the real earn does, without writing
 * anything or taking locks. Without a member it estimates for a member with no tier, tags or
 * history: rules about the member do not match.
 */
export async function previewPurchase(
  db: Queryable,
  now: Date,
  programId: string,
  input: PurchaseInput,
): Promise<PreviewResult> {
  const program = await getProgramCached(db, programId);
  const purchase = preparePurchase(program, input, now);
  let member: MembersTable | null = null;
  if (input.member) {
    const [found] = await findMemberRows(db, programId, [input.member]);
    if (found instanceof DomainError) throw found;
    if (!found) throw notFound("member_not_found", "");
    if (found.status !== "active") {
      throw new DomainError("member_blocked", `member ${found.id} is blocked`, {
        memberId: found.id,
      });
    }
    member = found;
  }
  const event = earnEvent(program, purchase, member);
  const campaigns = await loadActiveCampaigns(db, programId, now);
  const session = await EarnSession.open(db, programId, campaigns, [event], {
    lock: false,
    explain: "full",
  });
  const evaluation = session.evaluate(event);
  const availableAt = purchase.occurredAt.getTime() + program.returns_window_days * 86_400_000;
  return {
    memberId: member?.id ?? null,
    total: fromMinor(purchase.totalMinor, program.currency),
    currency: program.currency,
    pointsEarned: evaluation.points,
    pointsState:
      evaluation.points === 0 ? "none" : availableAt > now.getTime() ? "pending" : "available",
    breakdown: evaluation.breakdown,
    rewards: evaluation.rewards,
    lines: evaluation.linePoints.map((points, index) => ({ lineNo: index + 1, points })),
    campaigns: evaluation.campaigns,
  };
}

function isPrepared(
  outcome: PurchaseResult | DomainError | PreparedPurchase,
): outcome is PreparedPurchase {
  return !(outcome instanceof DomainError) && "requestHash" in outcome;
}

function replayOutcome(
  existing: {
    id: string;
    store_id: string;
    external_id: string;
    request_hash: string;
    result: unknown;
  },
  requestHash: string,
): PurchaseResult | DomainError {
  if (existing.request_hash !== requestHash) {
    return new DomainError(
      "duplicate_transaction",
      `receipt ${existing.external_id} of store ${existing.store_id} was already recorded with different content`,
      { transactionId: existing.id },
    );
  }
  return { ...(existing.result as PurchaseResult), replayed: true };
}

/**
 * Adds one new purchase to the batch: its row (with its answer), lines with the points each
 * earned, points, vouchers the campaigns awarded, and its event. No evaluation: an anonymous
 * basket, which earns nothing.
 */
async function writePurchase(
  batch: WriteBatch,
  program: Program,
  purchase: PreparedPurchase,
  balance: BalanceRow | null,
  evaluation: Evaluation | null,
  now: Date,
): Promise<{ result: PurchaseResult; balance: BalanceRow | null }> {
  const { input, totalMinor } = purchase;
  const transactionId = newId("transaction");
  const points = balance && evaluation ? evaluation.points : 0;
  const earned = balance
    ? await earnForPurchase(batch, balance, {
        program,
        memberId: balance.memberId,
        points,
        transactionId,
        occurredAt: purchase.occurredAt,
        at: now,
      })
    : null;
  const lot = earned?.lot ?? null;
  const vouchers: NonNullable<PurchaseResult["vouchers"]> = [];
  for (const reward of balance ? (evaluation?.rewards ?? []) : []) {
    const voucher = await grantReward(batch, {
      programId: program.id,
      memberId: balance?.memberId as string,
      rewardId: reward.rewardId,
      source: { campaignId: reward.campaignId, transactionId },
      at: now,
    });
    vouchers.push({ campaignId: reward.campaignId, rewardId: reward.rewardId, ...voucher });
  }
  const result: PurchaseResult = {
    transactionId,
    externalId: input.externalId,
    storeId: input.storeId,
    memberId: balance?.memberId ?? null,
    total: fromMinor(totalMinor, program.currency),
    currency: program.currency,
    pointsEarned: points,
    pointsState: lot?.state ?? "none",
    availableAt: lot?.availableAt.toISOString() ?? null,
    expiresAt: lot?.expiresAt?.toISOString() ?? null,
    breakdown: balance && evaluation ? evaluation.breakdown : [],
    ...(vouchers.length > 0 && { vouchers }),
    balance: earned && balanceView(earned.balance),
    replayed: false,
  };
  batch.insertRow("transactions", {
    id: transactionId,
    program_id: program.id,
    member_id: balance?.memberId ?? null,
    store_id: input.storeId,
    external_id: input.externalId,
    channel: input.channel,
    occurred_at: purchase.occurredAt,
    currency: program.currency,
    total_minor: totalMinor,
    points_earned: points,
    request_hash: purchase.requestHash,
    result: JSON.stringify(result),
    created_at: now,
  });
  for (const [index, line] of purchase.lines.entries()) {
    batch.insertRow("transaction_lines", {
      transaction_id: transactionId,
      line_no: index + 1,
      program_id: program.id,
      sku: line.sku,
      category: line.category ?? null,
      brand: line.brand ?? null,
      kind: line.kind,
      quantity: String(line.quantity),
      unit_price_minor: line.unitPriceMinor,
      amount_minor: line.amountMinor,
      points_earned: balance && evaluation ? (evaluation.linePoints[index] ?? 0) : 0,
    });
  }
  await emit(batch, {
    programId: program.id,
    type: "transaction.recorded",
    payload: {
      transactionId,
      memberId: balance?.memberId ?? null,
      storeId: input.storeId,
      channel: input.channel,
      totalMinor,
      currency: program.currency,
      pointsEarned: points,
    },
    at: now,
  });
  return { result, balance: earned?.balance ?? null };
}

/** Points already given back for a line by earlier entries of the same refund. */
function sumBack(updates: { lineNo: number; pointsBack: number }[], lineNo: number): number {
  return updates.reduce(
    (sum, update) => sum + (update.lineNo === lineNo ? update.pointsBack : 0),
    0,
  );
}

function baseRateDescription(program: Program): string {
  return `${program.earn_points} point(s) per ${fromMinor(program.earn_amount_minor, program.currency)} ${program.currency}, rounded ${program.earn_rounding}`;
}

/** Refunds all or part of a purchase and takes back the points in proportion. */
export async function recordRefund(
  tx: Tx,
  ctx: Pick<Ctx, "clock">,
  programId: string,
  input: RefundInput,
): Promise<RefundResult> {
  const now = ctx.clock.now();
  const program = await getProgram(tx, programId);
  const requestHash = payloadHash(input);
  const original = await tx
    .selectFrom("transactions")
    .selectAll()
    .where("program_id", "=", programId)
    .$call((query) =>
      "id" in input.transaction
        ? query.where("id", "=", input.transaction.id)
        : query
            .where("store_id", "=", input.transaction.storeId)
            .where("external_id", "=", input.transaction.externalId),
    )
    .forUpdate()
    .executeTakeFirst();
  if (!original) {
    throw notFound(
      "transaction_not_found",
      "id" in input.transaction ? input.transaction.id : input.transaction.externalId,
    );
  }
  const storeId = input.storeId ?? original.store_id;
  // Checked under the purchase's row lock, so two copies of one refund cannot both pass.
  const existing = await tx
    .selectFrom("refunds")
    .selectAll()
    .where("program_id", "=", programId)
    .where("store_id", "=", storeId)
    .where("external_id", "=", input.externalId)
    .executeTakeFirst();
  if (existing) {
    if (existing.request_hash !== requestHash) {
      throw new DomainError(
        "duplicate_transaction",
        `refund ${input.externalId} was already recorded with different content`,
        {
          refundId: existing.id,
        },
      );
    }
    // Refunds stored before pointsAlreadyExpired existed answer it from their column (0).
    const stored = existing.result as Omit<RefundResult, "pointsAlreadyExpired"> &
      Partial<Pick<RefundResult, "pointsAlreadyExpired">>;
    return {
      ...stored,
      pointsAlreadyExpired: stored.pointsAlreadyExpired ?? existing.points_already_expired,
      replayed: true,
    };
  }

  let amountMinor: number;
  const lineUpdates: { lineNo: number; quantity: number; pointsBack: number }[] = [];
  /** Points the refunded lines earned; null when refunding by amount or lines from before 004. */
  let linePointsBack: number | null = null;
  if (input.amount !== undefined) {
    amountMinor = toMinor(input.amount, program.currency, "amount");
  } else {
    const lines = await tx
      .selectFrom("transaction_lines")
      .selectAll()
      .where("transaction_id", "=", original.id)
      .forUpdate()
      .execute();
    amountMinor = 0;
    linePointsBack = lines.some((line) => line.points_earned === null) ? null : 0;
    const asked = new Map<number, number>();
    for (const [index, wanted] of (input.lines ?? []).entries()) {
      const line = lines.find((candidate) => candidate.line_no === wanted.lineNo);
      const askedBefore = asked.get(wanted.lineNo) ?? 0;
      asked.set(wanted.lineNo, askedBefore + wanted.quantity);
      const left = line ? Number(line.quantity) - Number(line.refunded_quantity) - askedBefore : 0;
      if (!line || wanted.quantity > left + 1e-9) {
        throw new DomainError(
          "refund_line_invalid",
          `line ${wanted.lineNo} has ${left} left to refund`,
          {
            field: `lines.${index}`,
            lineNo: wanted.lineNo,
            quantityLeft: left,
          },
        );
      }
      amountMinor += Math.round((line.amount_minor * wanted.quantity) / Number(line.quantity));
      // A line gives back what it earned in proportion to its refunded quantity (rounded down);
      // the refund that empties it gives back the rest exactly.
      const quantityMilli = Math.round(Number(line.quantity) * 1000);
      const refundedMilli = Math.round(
        (Number(line.refunded_quantity) + askedBefore + wanted.quantity) * 1000,
      );
      const linePoints = line.points_earned ?? 0;
      const targetBack =
        refundedMilli >= quantityMilli
          ? linePoints
          : Number((BigInt(linePoints) * BigInt(refundedMilli)) / BigInt(quantityMilli));
      const reversedBefore = line.points_reversed + sumBack(lineUpdates, wanted.lineNo);
      const pointsBack = Math.max(0, targetBack - reversedBefore);
      if (linePointsBack !== null) linePointsBack += pointsBack;
      lineUpdates.push({ ...wanted, pointsBack });
    }
  }
  if (amountMinor <= 0) {
    throw new DomainError("validation_failed", "refund amount must be greater than zero", {
      field: "amount",
    });
  }
  const refundedAfter = original.refunded_minor + amountMinor;
  if (refundedAfter > original.total_minor) {
    throw new DomainError("refund_exceeds_total", "refunds would exceed the purchase total", {
      total: fromMinor(original.total_minor, program.currency),
      refundedBefore: fromMinor(original.refunded_minor, program.currency),
    });
  }
  // By lines: exactly what those lines earned. By amount: in proportion, rounded down and
  // cumulative. Either way the refund that completes the total takes back the rest exactly (points
  // too small to split over lines stay with the receipt until then).
  const reversedTarget =
    refundedAfter === original.total_minor
      ? original.points_earned
      : linePointsBack !== null
        ? Math.min(original.points_earned, original.points_reversed + linePointsBack)
        : Math.max(
            original.points_reversed,
            Number(
              (BigInt(original.points_earned) * BigInt(refundedAfter)) /
                BigInt(original.total_minor),
            ),
          );
  const points = reversedTarget - original.points_reversed;
  const refundId = newId("refund");
  const batch = new WriteBatch(tx);
  const reversal = original.member_id
    ? await reverseEarn(batch, {
        program,
        memberId: original.member_id,
        transactionId: original.id,
        refundId,
        points,
        expiredReversed: original.points_expired_reversed,
        at: now,
      })
    : null;
  const alreadyExpired = reversal?.alreadyExpired ?? 0;
  // One update per line: a statement may change a row only once.
  const perLine = new Map<number, { quantity: number; pointsBack: number }>();
  for (const update of lineUpdates) {
    const sum = perLine.get(update.lineNo) ?? { quantity: 0, pointsBack: 0 };
    perLine.set(update.lineNo, {
      quantity: sum.quantity + update.quantity,
      pointsBack: sum.pointsBack + update.pointsBack,
    });
  }
  for (const [lineNo, update] of perLine) {
    batch.add(
      tx
        .updateTable("transaction_lines")
        .set({
          refunded_quantity: sql`refunded_quantity + ${update.quantity.toFixed(3)}::numeric`,
          points_reversed: sql`points_reversed + ${update.pointsBack}`,
        })
        .where("transaction_id", "=", original.id)
        .where("line_no", "=", lineNo),
    );
  }
  batch.add(
    tx
      .updateTable("transactions")
      .set({
        refunded_minor: refundedAfter,
        points_reversed: reversedTarget,
        points_expired_reversed: original.points_expired_reversed + alreadyExpired,
      })
      .where("id", "=", original.id),
  );
  const result: RefundResult = {
    refundId,
    transactionId: original.id,
    externalId: input.externalId,
    storeId,
    amount: fromMinor(amountMinor, program.currency),
    currency: program.currency,
    pointsReversed: reversal?.reversed ?? 0,
    pointsForfeited: reversal?.forfeited ?? 0,
    pointsAlreadyExpired: alreadyExpired,
    refundedTotal: fromMinor(refundedAfter, program.currency),
    balance: reversal && balanceView(reversal.balance),
    replayed: false,
  };
  batch.add(
    tx.insertInto("refunds").values({
      id: refundId,
      program_id: programId,
      transaction_id: original.id,
      store_id: storeId,
      external_id: input.externalId,
      amount_minor: amountMinor,
      points_reversed: result.pointsReversed,
      points_forfeited: result.pointsForfeited,
      points_already_expired: alreadyExpired,
      request_hash: requestHash,
      result: JSON.stringify(result),
      created_at: now,
    }),
  );
  await emit(batch, {
    programId,
    type: "transaction.refunded",
    payload: {
      transactionId: original.id,
      refundId,
      memberId: original.member_id,
      amountMinor,
      pointsReversed: result.pointsReversed,
      pointsAlreadyExpired: alreadyExpired,
    },
    at: now,
  });
  await batch.flush();
  return result;
}

export interface BatchItemResult {
  index: number;
  status: "created" | "replayed" | "failed";
  result?: PurchaseResult;
  error?: { code: string; message: string; details?: Record<string, unknown> };
}

/**
 * Records many purchases in one database transaction and a handful of statements; each purchase
 * succeeds or fails alone. Replays of purchases already recorded answer as replays.
 */
export async function recordPurchaseBatch(
  ctx: Ctx,
  programId: string,
  items: PurchaseInput[],
): Promise<BatchItemResult[]> {
  const outcomes = await ctx.db.transaction((tx) =>
    recordPurchases(tx, ctx.clock.now(), programId, items),
  );
  return outcomes.map((outcome, index) =>
    outcome instanceof DomainError
      ? {
          index,
          status: "failed" as const,
          error: {
            code: outcome.code,
            message: outcome.message,
            ...(outcome.details && { details: outcome.details }),
          },
        }
      : {
          index,
          status: outcome.replayed ? ("replayed" as const) : ("created" as const),
          result: outcome,
        },
  );
}

export const transactionSchema = z.object({
  id: z.string(),
  externalId: z.string(),
  storeId: z.string(),
  channel: z.string(),
  memberId: z.string().nullable(),
  occurredAt: z.string(),
  currency: z.string(),
  total: z.string(),
  refunded: z.string(),
  pointsEarned: z.number().int(),
  pointsReversed: z.number().int(),
  lines: z.array(
    z.object({
      lineNo: z.number().int(),
      sku: z.string(),
      category: z.string().nullable(),
      brand: z.string().nullable(),
      kind: z.enum(["product", "reward"]),
      quantity: z.number(),
      unitPrice: z.string(),
      amount: z.string(),
      refundedQuantity: z.number(),
      pointsEarned: z
        .number()
        .int()
        .nullable()
        .describe("Points the line earned; null for lines recorded before per-line points"),
      pointsReversed: z.number().int(),
    }),
  ),
});
export type TransactionView = z.infer<typeof transactionSchema>;

export async function getTransaction(
  ctx: Ctx,
  programId: string,
  transactionId: string,
): Promise<TransactionView> {
  const row = await ctx.db.kysely
    .selectFrom("transactions")
    .selectAll()
    .where("id", "=", transactionId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("transaction_not_found", transactionId);
  const lines = await ctx.db.kysely
    .selectFrom("transaction_lines")
    .selectAll()
    .where("transaction_id", "=", transactionId)
    .orderBy("line_no")
    .execute();
  return {
    ...transactionSummary(row),
    lines: lines.map((line) => ({
      lineNo: line.line_no,
      sku: line.sku,
      category: line.category,
      brand: line.brand,
      kind: line.kind,
      quantity: Number(line.quantity),
      unitPrice: fromMinor(line.unit_price_minor, row.currency),
      amount: fromMinor(line.amount_minor, row.currency),
      refundedQuantity: Number(line.refunded_quantity),
      pointsEarned: line.points_earned === null ? null : Number(line.points_earned),
      pointsReversed: Number(line.points_reversed),
    })),
  };
}

export async function listTransactions(
  ctx: Ctx,
  programId: string,
  filter: { memberId?: string | undefined; limit: number; before?: string | undefined },
): Promise<Omit<TransactionView, "lines">[]> {
  let query = ctx.db.kysely
    .selectFrom("transactions")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id", "desc")
    .limit(filter.limit);
  if (filter.memberId) query = query.where("member_id", "=", filter.memberId);
  if (filter.before) query = query.where("id", "<", filter.before);
  return (await query.execute()).map(transactionSummary);
}

function transactionSummary(row: TransactionRow): Omit<TransactionView, "lines"> {
  return {
    id: row.id,
    externalId: row.external_id,
    storeId: row.store_id,
    channel: row.channel,
    memberId: row.member_id,
    occurredAt: row.occurred_at.toISOString(),
    currency: row.currency,
    total: fromMinor(row.total_minor, row.currency),
    refunded: fromMinor(row.refunded_minor, row.currency),
    pointsEarned: row.points_earned,
    pointsReversed: row.points_reversed,
  };
}
