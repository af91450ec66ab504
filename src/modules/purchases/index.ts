import type { Selectable } from "kysely";
import { sql } from "kysely";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import type { TransactionsTable } from "../../db/schema.ts";

type TransactionRow = Selectable<TransactionsTable>;

import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { payloadHash } from "../../lib/json.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { earnForPurchase, lockBalances, reverseEarn } from "../ledger/index.ts";
import { findMemberRow, memberRefSchema, normalizePhone } from "../members/index.ts";
import { emit } from "../outbox/index.ts";
import { basePoints, getProgram, moneyInput, type Program } from "../programs/index.ts";

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
  breakdown: z.array(
    z.object({ source: z.string(), description: z.string(), points: z.number().int() }),
  ),
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
  pointsReversed: z.number().int(),
  pointsForfeited: z.number().int(),
  refundedTotal: z.string(),
  balance: balanceSchema.nullable(),
  replayed: z.boolean(),
});
export type RefundResult = z.infer<typeof refundResultSchema>;

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
  const now = ctx.clock.now();
  const program = await getProgram(tx, programId);
  const requestHash = payloadHash(input);
  if (input.currency !== program.currency) {
    throw new DomainError("currency_mismatch", `program ${programId} runs in ${program.currency}`, {
      field: "currency",
      expected: program.currency,
    });
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
  const member = input.member ? await findMemberRow(tx, programId, input.member) : null;

  const transactionId = newId("transaction");
  const inserted = await tx
    .insertInto("transactions")
    .values({
      id: transactionId,
      program_id: programId,
      member_id: member?.id ?? null,
      store_id: input.storeId,
      external_id: input.externalId,
      channel: input.channel,
      occurred_at: occurredAt,
      currency: program.currency,
      total_minor: totalMinor,
      request_hash: requestHash,
      result: null,
      created_at: now,
    })
    .onConflict((oc) => oc.columns(["program_id", "store_id", "external_id"]).doNothing())
    .returning("id")
    .executeTakeFirst();
  if (!inserted) {
    // The receipt was recorded before (or by a concurrent request that committed first).
    const existing = await findTransaction(tx, programId, input.storeId, input.externalId);
    if (!existing)
      throw new DomainError("duplicate_transaction", "receipt is being recorded concurrently");
    return replayPurchase(existing, requestHash);
  }
  const batch = new WriteBatch(tx);
  if (lines.length > 0) {
    batch.add(
      tx.insertInto("transaction_lines").values(
        lines.map((line, index) => ({
          transaction_id: transactionId,
          line_no: index + 1,
          program_id: programId,
          sku: line.sku,
          category: line.category ?? null,
          quantity: String(line.quantity),
          unit_price_minor: line.unitPriceMinor,
          amount_minor: line.amountMinor,
        })),
      ),
    );
  }

  const points = member ? basePoints(program, totalMinor) : 0;
  const earned = member
    ? await earnForPurchase(batch, {
        program,
        memberId: member.id,
        points,
        transactionId,
        occurredAt,
        at: now,
      })
    : null;
  const lot = earned?.lot ?? null;
  const result: PurchaseResult = {
    transactionId,
    externalId: input.externalId,
    storeId: input.storeId,
    memberId: member?.id ?? null,
    total: fromMinor(totalMinor, program.currency),
    currency: program.currency,
    pointsEarned: points,
    pointsState: lot?.state ?? "none",
    availableAt: lot?.availableAt.toISOString() ?? null,
    expiresAt: lot?.expiresAt?.toISOString() ?? null,
    breakdown: member
      ? [{ source: "base", description: baseRateDescription(program), points }]
      : [],
    balance: earned && {
      pending: earned.balance.pending,
      available: earned.balance.available,
      held: earned.balance.held,
    },
    replayed: false,
  };
  batch.add(
    tx
      .updateTable("transactions")
      .set({ points_earned: points, result: JSON.stringify(result) })
      .where("id", "=", transactionId),
  );
  await emit(batch, {
    programId,
    type: "transaction.recorded",
    payload: {
      transactionId,
      memberId: member?.id ?? null,
      storeId: input.storeId,
      channel: input.channel,
      totalMinor,
      currency: program.currency,
      pointsEarned: points,
    },
    at: now,
  });
  await batch.flush();
  return result;
}

function baseRateDescription(program: Program): string {
  return `${program.earn_points} point(s) per ${fromMinor(program.earn_amount_minor, program.currency)} ${program.currency}, rounded ${program.earn_rounding}`;
}

async function findTransaction(tx: Tx, programId: string, storeId: string, externalId: string) {
  return tx
    .selectFrom("transactions")
    .selectAll()
    .where("program_id", "=", programId)
    .where("store_id", "=", storeId)
    .where("external_id", "=", externalId)
    .executeTakeFirst();
}

function replayPurchase(existing: TransactionRow, requestHash: string): PurchaseResult {
  if (existing.request_hash !== requestHash) {
    throw new DomainError(
      "duplicate_transaction",
      `receipt ${existing.external_id} of store ${existing.store_id} was already recorded with different content`,
      { transactionId: existing.id },
    );
  }
  return { ...(existing.result as PurchaseResult), replayed: true };
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
    return { ...(existing.result as RefundResult), replayed: true };
  }

  let amountMinor: number;
  const lineUpdates: { lineNo: number; quantity: number }[] = [];
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
    for (const [index, wanted] of (input.lines ?? []).entries()) {
      const line = lines.find((candidate) => candidate.line_no === wanted.lineNo);
      const left = line ? Number(line.quantity) - Number(line.refunded_quantity) : 0;
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
      lineUpdates.push(wanted);
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
  // Cumulative rounding: partial refunds round down, the last refund takes back the rest exactly.
  const reversedTarget =
    refundedAfter === original.total_minor
      ? original.points_earned
      : Number(
          (BigInt(original.points_earned) * BigInt(refundedAfter)) / BigInt(original.total_minor),
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
        at: now,
      })
    : null;
  for (const update of lineUpdates) {
    batch.add(
      tx
        .updateTable("transaction_lines")
        .set({ refunded_quantity: sql`refunded_quantity + ${String(update.quantity)}::numeric` })
        .where("transaction_id", "=", original.id)
        .where("line_no", "=", update.lineNo),
    );
  }
  batch.add(
    tx
      .updateTable("transactions")
      .set({ refunded_minor: refundedAfter, points_reversed: reversedTarget })
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
    refundedTotal: fromMinor(refundedAfter, program.currency),
    balance: reversal && {
      pending: reversal.balance.pending,
      available: reversal.balance.available,
      held: reversal.balance.held,
    },
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
 * Records many purchases in one database transaction (one commit), each behind a savepoint so
 * a bad item fails alone. Replays of items already recorded answer as replays.
 */
export async function recordPurchaseBatch(
  ctx: Ctx,
  programId: string,
  items: PurchaseInput[],
): Promise<BatchItemResult[]> {
  return ctx.db.transaction(async (tx) => {
    await getProgram(tx, programId);
    await lockBatchMembers(tx, programId, items);
    const results: BatchItemResult[] = [];
    for (const [index, item] of items.entries()) {
      await sql`savepoint batch_item`.execute(tx);
      try {
        const result = await recordPurchase(tx, ctx, programId, item);
        await sql`release savepoint batch_item`.execute(tx);
        results.push({ index, status: result.replayed ? "replayed" : "created", result });
      } catch (error) {
        await sql`rollback to savepoint batch_item`.execute(tx);
        if (!(error instanceof DomainError)) throw error;
        results.push({
          index,
          status: "failed",
          error: {
            code: error.code,
            message: error.message,
            ...(error.details && { details: error.details }),
          },
        });
      }
    }
    return results;
  });
}

/**
 * Locks every member a batch names, in id order, before the first item: items then lock in
 * whatever order they come, and two batches sharing members cannot deadlock.
 */
async function lockBatchMembers(tx: Tx, programId: string, items: PurchaseInput[]): Promise<void> {
  const ids: string[] = [];
  const phones: string[] = [];
  const cards: string[] = [];
  for (const item of items) {
    if (item.member?.id) ids.push(item.member.id);
    if (item.member?.card) cards.push(item.member.card.replace(/[\s-]/g, ""));
    if (item.member?.phone) {
      try {
        phones.push(normalizePhone(item.member.phone));
      } catch {
        // A bad phone fails its own item later; it locks nothing.
      }
    }
  }
  if (ids.length + phones.length + cards.length === 0) return;
  const members = await tx
    .selectFrom("members")
    .select("id")
    .where("program_id", "=", programId)
    .where((eb) =>
      eb.or([
        ...(ids.length > 0 ? [eb("id", "in", ids)] : []),
        ...(phones.length > 0 ? [eb("phone_e164", "in", phones)] : []),
        ...(cards.length > 0 ? [eb("card_number", "in", cards)] : []),
      ]),
    )
    .execute();
  await lockBalances(
    tx,
    programId,
    members.map((member) => member.id),
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
      quantity: z.number(),
      unitPrice: z.string(),
      amount: z.string(),
      refundedQuantity: z.number(),
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
      quantity: Number(line.quantity),
      unitPrice: fromMinor(line.unit_price_minor, row.currency),
      amount: fromMinor(line.amount_minor, row.currency),
      refundedQuantity: Number(line.refunded_quantity),
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
