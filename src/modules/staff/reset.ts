import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { sha256Hex } from "../../lib/json.ts";
import { emit } from "../outbox/index.ts";
import { assertMayManage, normalizeEmail, passwordSchema, programMembership } from "./accounts.ts";
import {
  accountKey,
  addressKey,
  assertNotLocked,
  clearFailures,
  policies,
  recordFailure,
} from "./failures.ts";
import { deliverPasswordReset, staffLink } from "./mail.ts";
import { assertStrongPassword, hashPassword, hashToken, newToken } from "./secrets.ts";
import { assertSameOrigin, endSessionsOf } from "./sessions.ts";

/** A reset link works once and for 30 minutes (decision 0055). */
export const resetTtlMs = 30 * 60_000;

export const forgotPasswordSchema = z.object({ email: z.email().max(254) }).strict();

export const resetPasswordSchema = z
  .object({ token: z.string().min(1).max(200), password: passwordSchema })
  .strict();

export const resetSentSchema = z.object({ sent: z.literal(true), expiresAt: z.string() });

/** A reset link ready to email: the token exists only here and in the mail. */
export interface IssuedReset {
  id: string;
  email: string;
  token: string;
  expiresAt: Date;
  byAdmin: boolean;
}

const invalidLink = () =>
  new DomainError("password_reset_invalid", "this reset link is unknown, used or expired");

/** Stores a new link (its hash) and retires the account's earlier ones. */
async function issueReset(
  tx: Tx,
  input: { staffId: string | null; requestedBy: string | null; now: Date },
): Promise<{ id: string; token: string; expiresAt: Date }> {
  const token = newToken();
  const id = newId("passwordReset");
  const expiresAt = new Date(input.now.getTime() + resetTtlMs);
  // Run for unknown addresses too (matching nothing), so both answers do the same work.
  await tx
    .updateTable("staff_password_resets")
    .set({ used_at: input.now })
    .where("staff_id", "=", input.staffId ?? "")
    .where("used_at", "is", null)
    .execute();
  await tx
    .insertInto("staff_password_resets")
    .values({
      id,
      token_hash: hashToken(token),
      staff_id: input.staffId,
      requested_by: input.requestedBy,
      expires_at: expiresAt,
      used_at: null,
      created_at: input.now,
    })
    .execute();
  return { id, token, expiresAt };
}

/** Emails an issued link; answers whether the mail server took it. */
export function emailPasswordReset(ctx: Ctx, issued: IssuedReset): Promise<boolean> {
  return deliverPasswordReset(ctx, {
    email: issued.email,
    url: staffLink(ctx, "reset-password", issued.token),
    ttlMinutes: resetTtlMs / 60_000,
    byAdmin: issued.byAdmin,
  });
}

/** The counter of reset links sent to one (normalised) address, whoever asked for them. */
const resetRequestsKey = (email: string) => `reset-requests:${sha256Hex(email)}`;

/**
 * "Forgot password": the same answer whether or not the email has an active account (no
 * enumeration), at most 5 requests an hour per email and 100 per 15 minutes per client address.
 */
export async function requestPasswordReset(
  ctx: Ctx,
  request: FastifyRequest,
  input: z.infer<typeof forgotPasswordSchema>,
): Promise<z.infer<typeof resetSentSchema>> {
  assertSameOrigin(request);
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  const email = normalizeEmail(input.email);
  const requestsKey = resetRequestsKey(email);
  await assertNotLocked(db, [requestsKey, addressKey(request)], now);
  await recordFailure(db, requestsKey, policies.resetRequests, now);
  await recordFailure(db, addressKey(request), policies.address, now);
  const account = await db
    .selectFrom("staff_accounts")
    .select(["id", "disabled_at"])
    .where("email", "=", email)
    .executeTakeFirst();
  const staffId = account && !account.disabled_at ? account.id : null;
  const issued = await ctx.db.transaction((tx) =>
    issueReset(tx, { staffId, requestedBy: null, now }),
  );
  if (staffId) {
    // Not awaited: a slow mail server must not make the answer for a real account slower.
    void emailPasswordReset(ctx, { ...issued, email, byAdmin: false });
  }
  return { sent: true, expiresAt: issued.expiresAt.toISOString() };
}

/**
 * An owner or admin sends a staff member of the program a reset link, in the caller's (audited)
 * transaction. Only owners may send one to an owner.
 */
export async function sendPasswordReset(
  tx: Tx,
  input: {
    programId: string;
    staffId: string;
    actorIsOwner: boolean;
    requestedBy: string;
    now: Date;
  },
): Promise<IssuedReset> {
  const membership = await programMembership(tx, input.programId, input.staffId);
  assertMayManage(input.actorIsOwner, membership.role);
  const account = await tx
    .selectFrom("staff_accounts")
    .select(["email", "disabled_at"])
    .where("id", "=", input.staffId)
    .executeTakeFirstOrThrow();
  if (account.disabled_at) {
    throw new DomainError("validation_failed", "this staff account is disabled; enable it first");
  }
  // The same quota as "forgot password" for that address: an admin (or a leaked admin key)
  // cannot flood a colleague's mailbox or keep cancelling the link they are about to use.
  const requestsKey = resetRequestsKey(account.email);
  await assertNotLocked(tx, [requestsKey], input.now);
  await recordFailure(tx, requestsKey, policies.resetRequests, input.now);
  const issued = await issueReset(tx, {
    staffId: input.staffId,
    requestedBy: input.requestedBy,
    now: input.now,
  });
  await emit(tx, {
    programId: input.programId,
    type: "staff.password_reset_sent",
    payload: { staffId: input.staffId, resetId: issued.id },
    at: input.now,
  });
  return { ...issued, email: account.email, byAdmin: true };
}

/**
 * Sets a new password with a reset link: the same strength rules as everywhere, every session of
 * the account ends, the link and the account's other links are spent and its lockout is cleared.
 * Two-factor stays on: the next sign-in still asks for the TOTP code.
 */
export async function resetPassword(
  ctx: Ctx,
  request: FastifyRequest,
  input: z.infer<typeof resetPasswordSchema>,
): Promise<{ email: string }> {
  assertSameOrigin(request);
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  await assertNotLocked(db, [addressKey(request)], now);
  const found = await db
    .selectFrom("staff_password_resets as r")
    .innerJoin("staff_accounts as a", "a.id", "r.staff_id")
    .select([
      "r.id",
      "r.staff_id",
      "r.requested_by",
      "r.expires_at",
      "r.used_at",
      "a.email",
      "a.display_name",
      "a.disabled_at",
    ])
    .where("r.token_hash", "=", hashToken(input.token))
    .executeTakeFirst();
  if (!found?.staff_id || found.used_at || found.expires_at <= now) {
    await recordFailure(db, addressKey(request), policies.address, now);
    throw invalidLink();
  }
  const staffId = found.staff_id;
  if (found.disabled_at) throw new DomainError("unauthorized", "this staff account is disabled");
  // Checked before the link is spent: a refused password leaves the link usable.
  assertStrongPassword(input.password, [found.email, found.display_name]);
  const hash = await hashPassword(input.password);
  await ctx.db.transaction(async (tx) => {
    // Claiming the link in the statement that checks it makes it single-use under concurrency.
    const claimed = await tx
      .updateTable("staff_password_resets")
      .set({ used_at: now })
      .where("id", "=", found.id)
      .where("used_at", "is", null)
      .where("expires_at", ">", now)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) throw invalidLink();
    await tx
      .updateTable("staff_accounts")
      .set({ password_hash: hash, updated_at: now })
      .where("id", "=", staffId)
      .execute();
    await tx
      .updateTable("staff_password_resets")
      .set({ used_at: now })
      .where("staff_id", "=", staffId)
      .where("used_at", "is", null)
      .execute();
    await endSessionsOf(tx, "staff", staffId, now);
    await emit(tx, {
      programId: null,
      type: "staff.password_reset",
      payload: { staffId, resetId: found.id, sentBy: found.requested_by },
      at: now,
    });
  });
  await clearFailures(db, accountKey(staffId));
  return { email: found.email };
}
