import { WriteBatch } from "../../db/batch.ts";
import type { Tx } from "../../db/client.ts";
import { velocityBlocked } from "../abuse/index.ts";
import { earnBonus, lockMembers } from "../ledger/index.ts";
import { getProgram } from "../programs/index.ts";
import { recordAutomaticActivity } from "../rules/index.ts";

/**
 * Grants a completed referral's points as bonus points (available at once, program expiry
 * applies) and posts the referrer's `referral` activity, so campaigns can add to it. Members are
 * locked in id order; one who is not active (blocked, erased) gets nothing. Answers the points
 * each member got.
 */
export async function grantReferralPoints(
  tx: Tx,
  input: {
    programId: string;
    referralId: string;
    referrer: { memberId: string | null; points: number };
    referee: { memberId: string; points: number };
    at: Date;
  },
): Promise<{ referrerPoints: number; refereePoints: number }> {
  const program = await getProgram(tx, input.programId);
  const sides = [
    { role: "referee", ...input.referee },
    ...(input.referrer.memberId === null
      ? []
      : [{ role: "referrer", memberId: input.referrer.memberId, points: input.referrer.points }]),
  ];
  const locked = await lockMembers(
    tx,
    program.id,
    sides.map((side) => side.memberId),
  );
  const batch = new WriteBatch(tx);
  const granted = new Map<string, number>();
  for (const side of sides) {
    const member = locked.get(side.memberId);
    if (member?.status !== "active" || side.points <= 0) continue;
    // The program's referral velocity rules cap what a referrer collects; the referee still earns.
    if (
      side.role === "referrer" &&
      (await velocityBlocked(tx, {
        programId: program.id,
        memberId: side.memberId,
        action: "referral",
        points: side.points,
        at: input.at,
      }))
    )
      continue;
    await earnBonus(batch, member.balance, {
      program,
      memberId: side.memberId,
      points: side.points,
      source: `referral:${side.role}`,
      reason: `referral ${input.referralId} (${side.role})`,
      at: input.at,
    });
    granted.set(side.role, side.points);
  }
  await batch.flush();
  const referrerId = input.referrer.memberId;
  if (referrerId !== null && locked.get(referrerId)?.status === "active") {
    await recordAutomaticActivity(tx, input.at, program.id, {
      memberId: referrerId,
      type: "referral",
      externalId: input.referralId,
    });
  }
  return {
    referrerPoints: granted.get("referrer") ?? 0,
    refereePoints: granted.get("referee") ?? 0,
  };
}
