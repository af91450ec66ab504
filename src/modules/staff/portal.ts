import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { sha256Hex } from "../../lib/json.ts";
import { sendOneTimeCode } from "../communications/index.ts";
import { findMemberRow, normalizePhone } from "../members/index.ts";
import {
  assertNotLocked,
  clearFailures,
  clientAddress,
  policies,
  recordFailure,
} from "./failures.ts";
import { mayLogSecrets } from "./mail.ts";
import { newNumericCode, sameToken } from "./secrets.ts";
import {
  assertCsrf,
  assertSameOrigin,
  endSession,
  findSession,
  type StartedSession,
  startSession,
} from "./sessions.ts";
import type { WebSessionsTable } from "./tables.ts";

export const codeTtlMs = 10 * 60_000;
export const codeAttemptsMax = 5;

export const identifierSchema = z.union([
  z.object({ phone: z.string().min(1).max(40) }).strict(),
  z.object({ email: z.email().max(254) }).strict(),
]);
export type PortalIdentifier = z.infer<typeof identifierSchema>;

export const verifySchema = z.union([
  z.object({ phone: z.string().min(1).max(40), code: z.string().regex(/^\d{6}$/) }).strict(),
  z.object({ email: z.email().max(254), code: z.string().regex(/^\d{6}$/) }).strict(),
]);

/** The identifier as one stable string; a bad phone number is refused like any bad input. */
function canonical(identifier: { phone?: string; email?: string }): string {
  if (identifier.phone !== undefined) return `phone:${normalizePhone(identifier.phone)}`;
  return `email:${(identifier.email ?? "").trim().toLowerCase()}`;
}

function identifierHash(programId: string, identifier: { phone?: string; email?: string }) {
  return sha256Hex(`${programId}\n${canonical(identifier)}`);
}

// The code is salted with its row id: equal codes of different rows hash differently.
function codeHash(codeId: string, code: string): string {
  return sha256Hex(`${codeId}\n${code}`);
}

const addressKey = (request: FastifyRequest) => `portal-ip:${clientAddress(request)}`;

async function memberIdFor(
  ctx: Ctx,
  programId: string,
  identifier: { id?: string; phone?: string; email?: string },
): Promise<string | null> {
  try {
    const row = await findMemberRow(ctx.db.kysely, programId, identifier);
    return row.status === "active" ? row.id : null;
  } catch (error) {
    if (error instanceof DomainError && error.code === "member_not_found") return null;
    throw error;
  }
}

/**
 * Issues a 6-digit code for a phone or email. The answer is the same whether or not a member has
 * it; codes for unknown identifiers are stored too (never sent), so timing and rows look alike.
 */
export async function startPortalSignIn(
  ctx: Ctx,
  request: FastifyRequest,
  programId: string,
  identifier: PortalIdentifier,
): Promise<{ sent: true; expiresAt: string }> {
  assertSameOrigin(request);
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  const hash = identifierHash(programId, identifier);
  const requestsKey = `portal-requests:${hash}`;
  await assertNotLocked(db, [requestsKey, addressKey(request)], now);
  await recordFailure(db, requestsKey, policies.codeRequests, now);
  await recordFailure(db, addressKey(request), policies.address, now);
  const memberId = await memberIdFor(ctx, programId, identifier);
  const code = newNumericCode();
  const id = newId("oneTimeCode");
  const expiresAt = new Date(now.getTime() + codeTtlMs);
  await ctx.db.transaction(async (tx) => {
    // A new code replaces the previous ones of the identifier.
    await tx
      .updateTable("portal_codes")
      .set({ used_at: now })
      .where("program_id", "=", programId)
      .where("identifier_hash", "=", hash)
      .where("used_at", "is", null)
      .execute();
    await tx
      .insertInto("portal_codes")
      .values({
        id,
        program_id: programId,
        identifier_hash: hash,
        member_id: memberId,
        code_hash: codeHash(id, code),
        expires_at: expiresAt,
        used_at: null,
        created_at: now,
      })
      .execute();
  });
  if (memberId) {
    const channel = "phone" in identifier ? "sms" : "email";
    try {
      await sendOneTimeCode(ctx, { programId, memberId, channel, code });
    } catch (error) {
      ctx.log.error({ err: error, memberId }, "portal sign-in code could not be queued");
    }
    if (mayLogSecrets()) {
      ctx.log.info({ programId, memberId, channel, code }, "portal sign-in code (development)");
    }
  }
  return { sent: true, expiresAt: expiresAt.toISOString() };
}

/** Checks a code (5 tries per code, 10 wrong codes an hour per identifier) and starts a session. */
export async function verifyPortalSignIn(
  ctx: Ctx,
  request: FastifyRequest,
  programId: string,
  input: z.infer<typeof verifySchema>,
): Promise<{ memberId: string; session: StartedSession }> {
  assertSameOrigin(request);
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  const hash = identifierHash(programId, input);
  const failuresKey = `portal-failures:${hash}`;
  await assertNotLocked(db, [failuresKey, addressKey(request)], now);
  const refuse = async (): Promise<never> => {
    await recordFailure(db, failuresKey, policies.codeFailures, now);
    await recordFailure(db, addressKey(request), policies.address, now);
    throw new DomainError("unauthorized", "the code is wrong or expired; ask for a new one");
  };
  // Each try is counted before the code is compared, so parallel guesses cannot exceed the limit.
  const current = await db
    .updateTable("portal_codes")
    .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
    .where("program_id", "=", programId)
    .where("identifier_hash", "=", hash)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .where("attempts", "<", codeAttemptsMax)
    .returning(["id", "code_hash", "member_id"])
    .executeTakeFirst();
  if (!current || !sameToken(codeHash(current.id, input.code), current.code_hash)) {
    return refuse();
  }
  const claimed = await db
    .updateTable("portal_codes")
    .set({ used_at: now })
    .where("id", "=", current.id)
    .where("used_at", "is", null)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) !== 1 || !current.member_id) return refuse();
  const memberId = current.member_id;
  await clearFailures(db, failuresKey);
  const session = await ctx.db.transaction(async (tx) => {
    const brought = await findSession(tx, request, "member", now);
    if (brought) await endSession(tx, brought.id, now);
    return startSession(tx, {
      kind: "member",
      subjectId: memberId,
      programId,
      stage: "full",
      now,
    });
  });
  return { memberId, session };
}

/**
 * The signed-in member of a portal request. The member id comes only from the session, and the
 * session belongs to one program: no URL can point it at another member.
 */
export async function requireMember(
  ctx: Ctx,
  request: FastifyRequest,
  programId: string,
): Promise<{ memberId: string; session: WebSessionsTable }> {
  const session = await findSession(ctx.db.kysely, request, "member", ctx.clock.now());
  if (!session || session.program_id !== programId) {
    throw new DomainError("unauthorized", "sign in to the portal first");
  }
  const memberId = await memberIdFor(ctx, programId, { id: session.subject_id });
  if (!memberId) throw new DomainError("unauthorized", "this membership is no longer active");
  assertCsrf(request, session);
  return { memberId, session };
}
