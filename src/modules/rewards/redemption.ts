import type { WriteBatch } from "../../db/batch.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { type BalanceRow, createHold, lockMembers, readBalance, redeem } from "../ledger/index.ts";
import { findMemberRow } from "../members/index.ts";
import type { Program } from "../programs/index.ts";
import { grantTier } from "../tiers/index.ts";
import { benefitOf, grantableTypes, invalid, lockReward, voucherTypes } from "./catalog.ts";
import { newCode } from "./codes.ts";
import { recordDonation } from "./donations.ts";
import {
  type IneligibleReason,
  type Standing,
  standingOf,
  tagsOf,
  tierCodeOf,
  usageOf,
} from "./eligibility.ts";
import { creditWallet, issueGiftCard } from "./stored-value.ts";
import type { RewardsTable, VouchersTable } from "./tables.ts";
import { emitVoucher, type VoucherView, voucherExpiry, voucherView } from "./vouchers.ts";

const dayMs = 86_400_000;

/** The error for the first reason a member may not redeem a reward, with every reason listed. */
function refusal(reward: RewardsTable, standing: Standing): DomainError {
  const reasons = standing.reasons;
  const first = reasons[0] as IneligibleReason;
  const details = { rewardId: reward.id, reasons };
  if (first === "member_blocked") {
    return new DomainError("member_blocked", "the member is blocked", details);
  }
  if (first === "tier_not_eligible" || first === "tags_missing") {
    return new DomainError(
      "reward_not_eligible",
      `the member may not redeem this reward (${reasons.join(", ")})`,
      details,
    );
  }
  if (first === "member_limit_reached" || first === "period_limit_reached") {
    return new DomainError(
      "reward_limit_reached",
      `the member reached this reward's limit (${first})`,
      details,
    );
  }
  return new DomainError(
    "reward_unavailable",
    `reward ${reward.id} is not available (${first})`,
    details,
  );
}

export interface RedemptionResult {
  voucher: VoucherView;
  pointsSpent: number;
  balance: BalanceRow;
}

/**
 * Redeems a reward for a member. Locks the member (ledger order) and then the reward, so stock
 * and per-member limits are decided one redemption at a time; debits the points at once
 * ("direct") or holds them until the voucher is consumed ("hold"); issues the voucher and
 * carries out what the reward type does at once (gift card, cashback, donation, tier upgrade).
 */
export async function redeemReward(
  tx: Tx,
  input: {
    program: Program;
    rewardId: string;
    memberId: string;
    mode: "direct" | "hold";
    holdTtlSeconds?: number | undefined;
    at: Date;
  },
): Promise<RedemptionResult> {
  const { program, memberId, at } = input;
  const locked = (await lockMembers(tx, program.id, [memberId])).get(memberId);
  if (!locked) throw notFound("member_not_found", memberId);
  const reward = await lockReward(tx, program.id, input.rewardId);
  const opensVoucher = voucherTypes.has(reward.type);
  if (input.mode === "hold" && !opensVoucher) {
    throw invalid("body.mode", `a ${reward.type} reward takes effect at once and cannot be held`);
  }
  const member = await findMemberRow(tx, program.id, { id: memberId });
  const usage = (await usageOf(tx, memberId, [reward], program.timezone, at)).get(reward.id);
  const standing = standingOf(
    reward,
    {
      status: locked.status,
      tierCode: await tierCodeOf(tx, program.id, memberId),
      tags: tagsOf(member),
      pointsAvailable: locked.balance.available,
    },
    usage ?? { total: 0, inPeriod: 0 },
    at,
  );
  if (!standing.eligible) throw refusal(reward, standing);
  const points = standing.pointsCost;
  if (!standing.affordable) {
    throw new DomainError(
      "insufficient_points",
      `member has ${Math.max(locked.balance.available, 0)} points available, ${points} needed`,
      { available: locked.balance.available, needed: points, missing: standing.pointsMissing },
    );
  }
  const voucherId = newId("voucher");
  const code = newCode();
  const partnerCode =
    reward.type === "partner_gift_card" ? await takePartnerCode(tx, reward) : null;

  let entryId: string | null = null;
  let hold: { id: string; expiresAt: Date } | null = null;
  if (points > 0 && input.mode === "hold") {
    const view = await createHold(tx, {
      program,
      memberId,
      points,
      reference: voucherId,
      ttlSeconds: input.holdTtlSeconds,
      at,
    });
    hold = { id: view.id, expiresAt: new Date(view.expiresAt) };
  } else if (points > 0) {
    entryId = (
      await redeem(tx, {
        programId: program.id,
        memberId,
        points,
        reason: `reward ${reward.id}`,
        at,
      })
    ).entryId;
  }
  if (reward.stock_remaining !== null) {
    await tx
      .updateTable("rewards")
      .set((eb) => ({ stock_remaining: eb("stock_remaining", "-", 1) }))
      .where("id", "=", reward.id)
      .execute();
  }
  const benefit = benefitOf(reward);
  const storedValueId =
    reward.type === "gift_card"
      ? await issueGiftCard(tx, {
          program,
          code,
          amountMinor: benefit.amountMinor ?? 0,
          voucherId,
          at,
        })
      : null;
  const row: VouchersTable = {
    id: voucherId,
    program_id: program.id,
    code,
    reward_id: reward.id,
    member_id: memberId,
    batch_id: null,
    source: "redemption",
    mode: hold ? "hold" : "direct",
    // Rewards that take effect at once are used the moment they are redeemed.
    state: !opensVoucher ? "used" : hold ? "reserved" : "issued",
    points,
    cash_minor: reward.cash_minor,
    entry_id: entryId,
    hold_id: hold?.id ?? null,
    campaign_id: null,
    source_transaction_id: null,
    source_activity_id: null,
    partner_code: partnerCode?.code ?? null,
    stored_value_id: storedValueId,
    uses_max: 1,
    uses_count: opensVoucher ? 0 : 1,
    valid_from: null,
    expires_at: opensVoucher ? voucherExpiry(reward, at) : null,
    reserved_until: hold?.expiresAt ?? null,
    reservation_reference: null,
    used_at: opensVoucher ? null : at,
    cancelled_at: null,
    created_at: at,
    updated_at: at,
  };
  await tx.insertInto("vouchers").values(row).execute();
  if (partnerCode) {
    await tx
      .updateTable("reward_codes")
      .set({ voucher_id: voucherId })
      .where("id", "=", partnerCode.id)
      .execute();
  }
  await fulfil(tx, { program, reward, memberId, voucherId, points, at });
  await emitVoucher(tx, "reward.redeemed", row, at, {
    points,
    mode: row.mode,
    rewardType: reward.type,
    holdId: row.hold_id,
    entryId,
  });
  await emitVoucher(tx, "voucher.issued", row, at, { expiresAt: row.expires_at });
  return {
    voucher: voucherView(row, program.currency),
    pointsSpent: points,
    balance: await readBalance(tx, memberId),
  };
}

/** What the instant reward types do besides issuing their (already used) voucher. */
async function fulfil(
  tx: Tx,
  input: {
    program: Program;
    reward: RewardsTable;
    memberId: string;
    voucherId: string;
    points: number;
    at: Date;
  },
): Promise<void> {
  const { program, reward, memberId, voucherId, at } = input;
  const benefit = benefitOf(reward);
  if (reward.type === "cashback") {
    await creditWallet(tx, {
      program,
      memberId,
      amountMinor: benefit.amountMinor ?? 0,
      voucherId,
      at,
    });
  } else if (reward.type === "charity_donation") {
    await recordDonation(tx, {
      program,
      reward,
      memberId,
      voucherId,
      points: input.points,
      valueMinor: benefit.valueMinor ?? 0,
      at,
    });
  } else if (reward.type === "tier_upgrade") {
    await grantTier(tx, {
      programId: program.id,
      memberId,
      tierId: benefit.tierId as string,
      until: benefit.days ? new Date(at.getTime() + benefit.days * dayMs) : null,
      reason: `reward ${reward.id}`,
      at,
      kind: "reward",
    });
  }
}

/** One unassigned partner code, skipping codes other redemptions are taking right now. */
async function takePartnerCode(
  tx: Tx,
  reward: RewardsTable,
): Promise<{ id: string; code: string }> {
  const row = await tx
    .selectFrom("reward_codes")
    .select(["id", "code"])
    .where("reward_id", "=", reward.id)
    .where("voucher_id", "is", null)
    .orderBy("id")
    .limit(1)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!row) {
    throw new DomainError("reward_unavailable", `reward ${reward.id} has no partner codes left`, {
      rewardId: reward.id,
      reasons: ["codes_exhausted"],
    });
  }
  return row;
}

/** The reward, when a campaign may hand it out: active, and of a type with no stock or side effect. */
export async function grantableReward(
  db: Queryable | Tx,
  programId: string,
  rewardId: string,
): Promise<RewardsTable> {
  const reward = await db
    .selectFrom("rewards")
    .selectAll()
    .where("id", "=", rewardId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!reward) throw notFound("reward_not_found", rewardId);
  if (reward.status !== "active" || !grantableTypes.has(reward.type)) {
    const reason = reward.status !== "active" ? "archived" : "type_not_grantable";
    throw new DomainError(
      "reward_unavailable",
      `reward ${rewardId} cannot be granted (${reason}); grantable types: ${[...grantableTypes].join(", ")}`,
      { rewardId, reasons: [reason] },
    );
  }
  return reward;
}

/** Checks that a campaign may hand out this reward (called when a campaign is saved). */
export async function assertRewardGrantable(
  db: Queryable | Tx,
  programId: string,
  rewardId: string,
): Promise<void> {
  await grantableReward(db, programId, rewardId);
}

/**
 * A free voucher awarded by a campaign: no points, no stock (a campaign's own caps bound it).
 * Its writes go into the caller's batch, so they commit with the purchase or activity.
 */
export async function grantReward(
  batch: WriteBatch,
  input: {
    programId: string;
    memberId: string;
    rewardId: string;
    source: { campaignId: string; transactionId?: string; activityId?: string };
    at: Date;
  },
): Promise<{ voucherId: string; code: string }> {
  const { programId, at } = input;
  const reward = await grantableReward(batch.tx, programId, input.rewardId);
  const row: VouchersTable = {
    id: newId("voucher"),
    program_id: programId,
    code: newCode(),
    reward_id: reward.id,
    member_id: input.memberId,
    batch_id: null,
    source: "campaign",
    mode: "direct",
    state: "issued",
    points: 0,
    cash_minor: reward.cash_minor,
    entry_id: null,
    hold_id: null,
    campaign_id: input.source.campaignId,
    source_transaction_id: input.source.transactionId ?? null,
    source_activity_id: input.source.activityId ?? null,
    partner_code: null,
    stored_value_id: null,
    uses_max: 1,
    uses_count: 0,
    valid_from: null,
    expires_at: voucherExpiry(reward, at),
    reserved_until: null,
    reservation_reference: null,
    used_at: null,
    cancelled_at: null,
    created_at: at,
    updated_at: at,
  };
  batch.insertRow("vouchers", row as unknown as Record<string, unknown>);
  await emitVoucher(batch, "voucher.issued", row, at, {
    expiresAt: row.expires_at,
    campaignId: input.source.campaignId,
    transactionId: input.source.transactionId ?? null,
    activityId: input.source.activityId ?? null,
  });
  return { voucherId: row.id, code: row.code };
}
