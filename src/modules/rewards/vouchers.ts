import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { fromMinor, toMinor } from "../../lib/money.ts";
import { refundRedemption, settleHold } from "../ledger/index.ts";
import { emit } from "../outbox/index.ts";
import type { Program } from "../programs/index.ts";
import { benefitOf, defaultVoucherValidDays, findReward, rewardView } from "./catalog.ts";
import { normalizeCode } from "./codes.ts";
import type { RewardsTable, VoucherState, VouchersTable } from "./tables.ts";

const dayMs = 86_400_000;
export const reservationTtlSecondsDefault = 900;
/** Vouchers handled per database transaction by the expiry job. */
export const voucherJobBatchSizeMax = 200;

export const voucherSchema = z
  .object({
    id: z.string(),
    code: z.string(),
    rewardId: z.string(),
    memberId: z.string().nullable(),
    batchId: z.string().nullable(),
    source: z.enum(["redemption", "campaign", "coupon"]),
    mode: z.enum(["direct", "hold"]),
    state: z.enum(["issued", "reserved", "used", "expired", "cancelled"]),
    points: z.number().int().describe("Points the member paid (0 for grants and coupons)"),
    cashDue: z.string().describe("Money to collect at the till with this voucher"),
    holdId: z.string().nullable(),
    partnerCode: z
      .string()
      .nullable()
      .describe("The partner's gift card code, for partner rewards"),
    storedValueId: z.string().nullable().describe("The gift card or wallet it loaded"),
    usesMax: z.number().int(),
    usesCount: z.number().int(),
    validFrom: z.string().nullable(),
    expiresAt: z.string().nullable(),
    reservedUntil: z.string().nullable(),
    usedAt: z.string().nullable(),
    cancelledAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "Voucher" });
export type VoucherView = z.infer<typeof voucherSchema>;

export function voucherView(row: VouchersTable, currency: string): VoucherView {
  return {
    id: row.id,
    code: row.code,
    rewardId: row.reward_id,
    memberId: row.member_id,
    batchId: row.batch_id,
    source: row.source,
    mode: row.mode,
    state: row.state,
    points: row.points,
    cashDue: fromMinor(row.cash_minor, currency),
    holdId: row.hold_id,
    partnerCode: row.partner_code,
    storedValueId: row.stored_value_id,
    usesMax: row.uses_max,
    usesCount: row.uses_count,
    validFrom: row.valid_from?.toISOString() ?? null,
    expiresAt: row.expires_at?.toISOString() ?? null,
    reservedUntil: row.reserved_until?.toISOString() ?? null,
    usedAt: row.used_at?.toISOString() ?? null,
    cancelledAt: row.cancelled_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

/** When a voucher issued now stops being valid: days after issue, or the reward's fixed date. */
export function voucherExpiry(reward: RewardsTable, at: Date): Date {
  if (reward.voucher_valid_until) return reward.voucher_valid_until;
  return new Date(at.getTime() + (reward.voucher_valid_days ?? defaultVoucherValidDays) * dayMs);
}

export async function findVoucher(
  db: Queryable | Tx,
  programId: string,
  code: string,
  options: { lock?: boolean; field?: string } = {},
): Promise<VouchersTable> {
  const normalized = normalizeCode(code, options.field ?? "params.code");
  let query = db
    .selectFrom("vouchers")
    .selectAll()
    .where("program_id", "=", programId)
    .where("code", "=", normalized);
  if (options.lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  if (!row) throw notFound("voucher_not_found", normalized);
  return row;
}

/** A live checkout reservation (not a hold): the voucher is kept for the one who made it. */
function reservedByOther(voucher: VouchersTable, reference: string | undefined, at: Date): boolean {
  return (
    voucher.state === "reserved" &&
    voucher.mode === "direct" &&
    voucher.reserved_until !== null &&
    voucher.reserved_until > at &&
    voucher.reservation_reference !== (reference ?? null)
  );
}

/** Why a voucher cannot be used now, or null when it can. */
export function unusableReason(
  voucher: VouchersTable,
  at: Date,
  reservationReference?: string,
): string | null {
  if (voucher.state === "used" || voucher.state === "cancelled" || voucher.state === "expired") {
    return voucher.state;
  }
  if (voucher.uses_count >= voucher.uses_max) return "used";
  if (voucher.expires_at && voucher.expires_at <= at) return "expired";
  if (voucher.valid_from && voucher.valid_from > at) return "not_yet_valid";
  if (voucher.mode === "hold" && voucher.reserved_until && voucher.reserved_until <= at) {
    return "reservation_expired";
  }
  if (reservedByOther(voucher, reservationReference, at)) return "reserved";
  return null;
}

function assertUsable(voucher: VouchersTable, at: Date, reservationReference?: string): void {
  const reason = unusableReason(voucher, at, reservationReference);
  if (reason !== null) {
    throw new DomainError(
      "voucher_not_usable",
      `voucher ${voucher.code} cannot be used: ${reason}`,
      {
        reason,
        state: voucher.state,
      },
    );
  }
}

export const basketSchema = z
  .object({
    total: z.union([z.string().max(40), z.number().nonnegative()]),
    lines: z
      .array(
        z
          .object({
            sku: z.string().trim().min(1).max(64),
            quantity: z.number().positive().max(1_000_000),
            unitPrice: z.union([z.string().max(40), z.number().nonnegative()]),
          })
          .strict(),
      )
      .max(500)
      .optional(),
  })
  .strict();
export type Basket = z.infer<typeof basketSchema>;

/** Discount a voucher gives on a basket, in minor units; null when the basket does not qualify. */
export function discountFor(
  reward: RewardsTable,
  basket: Basket,
  currency: string,
): { discountMinor: number; reason: string | null } {
  const totalMinor = toMinor(basket.total, currency, "body.basket.total");
  const benefit = benefitOf(reward);
  switch (reward.type) {
    case "discount_amount":
    case "webshop_voucher":
      return { discountMinor: Math.min(benefit.amountMinor ?? 0, totalMinor), reason: null };
    case "discount_percent": {
      const percentOff = Math.floor((totalMinor * (benefit.percent ?? 0)) / 100);
      const cap = benefit.capMinor ?? null;
      return { discountMinor: cap === null ? percentOff : Math.min(percentOff, cap), reason: null };
    }
    case "free_product": {
      const line = basket.lines?.find((candidate) => candidate.sku === benefit.sku);
      if (!line) return { discountMinor: 0, reason: "product_not_in_basket" };
      const unitMinor = toMinor(line.unitPrice, currency, "body.basket.lines.unitPrice");
      return { discountMinor: Math.min(unitMinor, totalMinor), reason: null };
    }
    default:
      return { discountMinor: 0, reason: null };
  }
}

/** Answers whether a code can be used now and what it would take off a basket. Reads only. */
export async function validateVoucher(
  db: Queryable,
  program: Program,
  input: { code: string; basket?: Basket | undefined; reservationReference?: string | undefined },
  at: Date,
) {
  const voucher = await findVoucher(db, program.id, input.code, { field: "body.code" });
  const reward = await findReward(db, program.id, voucher.reward_id);
  let reason = unusableReason(voucher, at, input.reservationReference);
  let discount: string | null = null;
  if (input.basket) {
    const result = discountFor(reward, input.basket, program.currency);
    discount = fromMinor(result.discountMinor, program.currency);
    reason ??= result.reason;
  }
  return {
    valid: reason === null,
    reason,
    rewardType: reward.type,
    benefit: rewardView(reward, program.currency).benefit,
    discount,
    voucher: voucherView(voucher, program.currency),
  };
}

/** Keeps a voucher for one checkout for a while; the same reference extends its reservation. */
export async function reserveVoucher(
  tx: Tx,
  program: Program,
  input: { code: string; reference?: string | undefined; ttlSeconds?: number | undefined },
  at: Date,
): Promise<VoucherView> {
  const voucher = await findVoucher(tx, program.id, input.code, { lock: true });
  assertUsable(voucher, at, input.reference);
  // A held voucher is already reserved by its hold, until the hold's end.
  if (voucher.mode === "hold") return voucherView(voucher, program.currency);
  if (voucher.uses_max > 1) {
    throw new DomainError("voucher_not_usable", "a multi-use code cannot be reserved", {
      reason: "multi_use",
      state: voucher.state,
    });
  }
  const reservedUntil = new Date(
    at.getTime() + (input.ttlSeconds ?? reservationTtlSecondsDefault) * 1000,
  );
  const next = {
    ...voucher,
    state: "reserved" as const,
    reserved_until: reservedUntil,
    reservation_reference: input.reference ?? null,
    updated_at: at,
  };
  await tx
    .updateTable("vouchers")
    .set({
      state: next.state,
      reserved_until: next.reserved_until,
      reservation_reference: next.reservation_reference,
      updated_at: at,
    })
    .where("id", "=", voucher.id)
    .execute();
  await emitVoucher(tx, "voucher.reserved", next, at, { reservedUntil });
  return voucherView(next, program.currency);
}

/**
 * Uses a voucher once per reference (a receipt or order number): a retry with the same reference
 * answers the first use; two different consumptions of a single-use voucher, even in parallel,
 * succeed once (the voucher's row lock orders them).
 */
export async function consumeVoucher(
  tx: Tx,
  program: Program,
  input: { code: string; reference: string; reservationReference?: string | undefined },
  at: Date,
): Promise<{ voucher: VoucherView; replayed: boolean }> {
  const voucher = await findVoucher(tx, program.id, input.code, { lock: true });
  const seen = await tx
    .selectFrom("voucher_uses")
    .select("reference")
    .where("voucher_id", "=", voucher.id)
    .where("reference", "=", input.reference)
    .executeTakeFirst();
  if (seen) return { voucher: voucherView(voucher, program.currency), replayed: true };
  assertUsable(voucher, at, input.reservationReference);
  if (voucher.hold_id) await settleVoucherHold(tx, voucher, "confirmed", at);
  const usesCount = voucher.uses_count + 1;
  const state: VoucherState = usesCount >= voucher.uses_max ? "used" : "issued";
  const next = { ...voucher, state, uses_count: usesCount, used_at: at, updated_at: at };
  await tx
    .insertInto("voucher_uses")
    .values({
      voucher_id: voucher.id,
      program_id: program.id,
      reference: input.reference,
      created_at: at,
    })
    .execute();
  await tx
    .updateTable("vouchers")
    .set({
      state,
      uses_count: usesCount,
      used_at: at,
      reserved_until: null,
      reservation_reference: null,
      updated_at: at,
    })
    .where("id", "=", voucher.id)
    .execute();
  await emitVoucher(tx, "voucher.used", next, at, { reference: input.reference, usesCount });
  return { voucher: voucherView(next, program.currency), replayed: false };
}

/**
 * Ends a reservation. A checkout reservation simply lapses (the voucher is issued again); a held
 * voucher's redemption is called off: the hold is cancelled, the points and the stock return.
 */
export async function releaseVoucher(
  tx: Tx,
  program: Program,
  code: string,
  at: Date,
): Promise<VoucherView> {
  const voucher = await findVoucher(tx, program.id, code, { lock: true });
  if (voucher.state === "issued") return voucherView(voucher, program.currency);
  if (voucher.state !== "reserved") assertUsable(voucher, at);
  if (voucher.mode === "hold") {
    return voucherView(await callOff(tx, voucher, "released", at), program.currency);
  }
  const next = { ...voucher, state: "issued" as const, reserved_until: null, updated_at: at };
  await tx
    .updateTable("vouchers")
    .set({ state: "issued", reserved_until: null, reservation_reference: null, updated_at: at })
    .where("id", "=", voucher.id)
    .execute();
  await emitVoucher(tx, "voucher.released", next, at, {});
  return voucherView(next, program.currency);
}

/** Cancels an unused voucher: its points go back to the member as a new ledger entry. */
export async function cancelVoucher(
  tx: Tx,
  program: Program,
  input: { code: string; reason?: string | undefined },
  at: Date,
): Promise<VoucherView> {
  const voucher = await findVoucher(tx, program.id, input.code, { lock: true });
  if (voucher.state === "cancelled") return voucherView(voucher, program.currency);
  if (voucher.state === "used" || voucher.state === "expired" || voucher.uses_count > 0) {
    throw new DomainError(
      "voucher_not_usable",
      `voucher ${voucher.code} is ${voucher.uses_count > 0 ? "partly used" : voucher.state} and cannot be cancelled`,
      { reason: voucher.uses_count > 0 ? "used" : voucher.state, state: voucher.state },
    );
  }
  return voucherView(await callOff(tx, voucher, input.reason ?? "cancelled", at), program.currency);
}

/**
 * Calls off a redemption that was not used: returns the points (settling the hold, or a new
 * refund entry for a direct redemption), puts the reward back in stock, and cancels the voucher.
 * The caller holds the voucher's lock; the member and reward locks follow, in that order.
 */
async function callOff(
  tx: Tx,
  voucher: VouchersTable,
  reason: string,
  at: Date,
): Promise<VouchersTable> {
  let pointsReturned = 0;
  if (voucher.hold_id) {
    pointsReturned = await settleVoucherHold(tx, voucher, "cancelled", at);
  } else if (voucher.entry_id && voucher.member_id) {
    const refund = await refundRedemption(tx, {
      programId: voucher.program_id,
      memberId: voucher.member_id,
      redeemEntryId: voucher.entry_id,
      reason: `voucher ${voucher.code} ${reason}`,
      at,
    });
    pointsReturned = refund.points;
  }
  if (voucher.source === "redemption") {
    await tx
      .updateTable("rewards")
      .set((eb) => ({ stock_remaining: eb("stock_remaining", "+", 1) }))
      .where("id", "=", voucher.reward_id)
      .where("stock_remaining", "is not", null)
      .execute();
  }
  const next = {
    ...voucher,
    state: "cancelled" as const,
    cancelled_at: at,
    reserved_until: null,
    updated_at: at,
  };
  await tx
    .updateTable("vouchers")
    .set({ state: "cancelled", cancelled_at: at, reserved_until: null, updated_at: at })
    .where("id", "=", voucher.id)
    .execute();
  await emitVoucher(tx, "voucher.cancelled", next, at, { reason, pointsReturned });
  return next;
}

/**
 * Settles a voucher's hold unless it is settled already (the ledger's own job may have expired
 * it); answers the points that went back to the member.
 */
async function settleVoucherHold(
  tx: Tx,
  voucher: VouchersTable,
  outcome: "confirmed" | "cancelled",
  at: Date,
): Promise<number> {
  const holdId = voucher.hold_id as string;
  const hold = await tx
    .selectFrom("holds")
    .select(["state", "points", "expires_at"])
    .where("id", "=", holdId)
    .executeTakeFirstOrThrow();
  if (hold.state !== "active" || (outcome === "confirmed" && hold.expires_at <= at)) {
    if (outcome === "confirmed") {
      throw new DomainError("voucher_not_usable", `voucher ${voucher.code}'s hold has ended`, {
        reason: "reservation_expired",
        state: voucher.state,
      });
    }
    return 0;
  }
  const settled = await settleHold(tx, {
    programId: voucher.program_id,
    holdId,
    outcome: outcome === "cancelled" && hold.expires_at <= at ? "expired" : outcome,
    at,
  });
  return settled.state === "confirmed" ? 0 : hold.points;
}

export async function emitVoucher(
  target: Tx | WriteBatch,
  type: string,
  voucher: Pick<
    VouchersTable,
    "id" | "program_id" | "code" | "reward_id" | "member_id" | "source" | "state"
  >,
  at: Date,
  extra: Record<string, unknown>,
): Promise<void> {
  await emit(target, {
    programId: voucher.program_id,
    type,
    payload: {
      voucherId: voucher.id,
      code: voucher.code,
      rewardId: voucher.reward_id,
      memberId: voucher.member_id,
      source: voucher.source,
      state: voucher.state,
      ...extra,
    },
    at,
  });
}

export async function listMemberVouchers(
  db: Queryable,
  memberId: string,
  options: { limit: number; after?: string | undefined; state?: VoucherState | undefined },
): Promise<VouchersTable[]> {
  let query = db
    .selectFrom("vouchers")
    .selectAll()
    .where("member_id", "=", memberId)
    .orderBy("id", "desc")
    .limit(options.limit);
  if (options.after) query = query.where("id", "<", options.after);
  if (options.state) query = query.where("state", "=", options.state);
  return query.execute();
}

/**
 * Scheduled: expires vouchers past their validity and lets reservations past their time lapse, in
 * bounded batches. Rows are taken with `for update skip locked`, so several runners share the work
 * and never handle one voucher twice.
 */
export async function expireVouchers(ctx: Ctx): Promise<{ expired: number; lapsed: number }> {
  const done = { expired: 0, lapsed: 0 };
  for (const kind of ["expired", "lapsed"] as const) {
    for (;;) {
      const count = await ctx.db.transaction(async (tx) => {
        const at = ctx.clock.now();
        let query = tx.selectFrom("vouchers").selectAll();
        query =
          kind === "expired"
            ? query.where("state", "in", ["issued", "reserved"]).where("expires_at", "<=", at)
            : query.where("state", "=", "reserved").where("reserved_until", "<=", at);
        const rows = await query
          .orderBy("id")
          .limit(voucherJobBatchSizeMax)
          .forUpdate()
          .skipLocked()
          .execute();
        for (const voucher of rows) await lapse(tx, voucher, kind, at);
        return rows.length;
      });
      done[kind] += count;
      if (count < voucherJobBatchSizeMax) break;
    }
  }
  return done;
}

async function lapse(
  tx: Tx,
  voucher: VouchersTable,
  kind: "expired" | "lapsed",
  at: Date,
): Promise<void> {
  // A held voucher whose time ran out never completed: the points and the stock return.
  if (voucher.mode === "hold" && voucher.state === "reserved") {
    await callOff(tx, voucher, kind === "expired" ? "expired" : "reservation_expired", at);
    return;
  }
  if (kind === "lapsed") {
    await tx
      .updateTable("vouchers")
      .set({ state: "issued", reserved_until: null, reservation_reference: null, updated_at: at })
      .where("id", "=", voucher.id)
      .execute();
    return;
  }
  await tx
    .updateTable("vouchers")
    .set({ state: "expired", reserved_until: null, updated_at: at })
    .where("id", "=", voucher.id)
    .execute();
  await emitVoucher(tx, "voucher.expired", { ...voucher, state: "expired" }, at, {
    expiresAt: voucher.expires_at,
  });
}
