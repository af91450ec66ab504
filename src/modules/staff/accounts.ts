import type { FastifyRequest } from "fastify";
import { generateSecret, generateURI, verify as verifyTotp } from "otplib";
import QRCode from "qrcode";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { assertActiveStores } from "../stores/index.ts";
import {
  accountKey,
  addressKey,
  assertNotLocked,
  clearFailures,
  policies,
  recordFailure,
} from "./failures.ts";
import { deliverInvitation, staffLink } from "./mail.ts";
import {
  assertStrongPassword,
  decoyPasswordHash,
  hashPassword,
  hashToken,
  newRecoveryCode,
  newToken,
  normalizeRecoveryCode,
  passwordLengthMax,
  verifyPassword,
} from "./secrets.ts";
import {
  assertCsrf,
  assertSameOrigin,
  endSession,
  endSessionsOf,
  findSession,
  type StartedSession,
  startSession,
} from "./sessions.ts";
import {
  type StaffAccountsTable,
  type StaffMembershipsTable,
  type StaffRole,
  staffRoles,
  type WebSessionsTable,
} from "./tables.ts";
import { openTotpSecret, sealTotpSecret } from "./totp-secrets.ts";

export const invitationTtlMs = 7 * 86_400_000;
export const recoveryCodeCount = 10;
export const storeIdsMax = 200;
const totpToleranceSeconds = 30;
const totpPeriodSeconds = 30;

const storeIdsSchema = z.array(z.string().trim().min(1).max(64)).max(storeIdsMax);

export const invitationCreateSchema = z
  .object({
    email: z.email().max(254),
    role: z.enum(staffRoles),
    storeIds: storeIdsSchema.optional(),
  })
  .strict()
  .refine((value) => value.role !== "cashier" || (value.storeIds?.length ?? 0) > 0, {
    message: "a cashier needs at least one store id",
    path: ["storeIds"],
  });
export type InvitationCreate = z.infer<typeof invitationCreateSchema>;

export const ownerInvitationSchema = z.object({ email: z.email().max(254) }).strict();

export const invitationSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: z.enum(staffRoles),
  programId: z.string().nullable(),
  storeIds: z.array(z.string()),
  expiresAt: z.string(),
  createdAt: z.string(),
});

export const passwordSchema = z.string().min(1).max(passwordLengthMax);

export const invitationAcceptSchema = z
  .object({
    token: z.string().min(1).max(200),
    password: passwordSchema,
    displayName: z.string().trim().min(1).max(120).optional(),
  })
  .strict();

export const signInSchema = z
  .object({ email: z.email().max(254), password: passwordSchema })
  .strict();

export const secondFactorSchema = z.union([
  z.object({ code: z.string().regex(/^\d{6}$/) }).strict(),
  z.object({ recoveryCode: z.string().min(1).max(40) }).strict(),
]);

export const passwordChangeSchema = z
  .object({ currentPassword: passwordSchema, newPassword: passwordSchema })
  .strict();

export const membershipUpdateSchema = z
  .object({ role: z.enum(staffRoles).optional(), storeIds: storeIdsSchema.optional() })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });

const membershipSchema = z.object({
  programId: z.string().nullable(),
  role: z.enum(staffRoles),
  storeIds: z.array(z.string()),
});

export const staffSchema = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string(),
  totpEnabled: z.boolean(),
  status: z.enum(["active", "disabled"]),
  memberships: z.array(membershipSchema),
  createdAt: z.string(),
});
export type StaffView = z.infer<typeof staffSchema>;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

function toView(account: StaffAccountsTable, memberships: StaffMembershipsTable[]): StaffView {
  return {
    id: account.id,
    email: account.email,
    displayName: account.display_name,
    totpEnabled: account.totp_enabled_at !== null,
    status: account.disabled_at ? "disabled" : "active",
    memberships: memberships.map((m) => ({
      programId: m.program_id === "" ? null : m.program_id,
      role: m.role,
      storeIds: m.store_ids,
    })),
    createdAt: account.created_at.toISOString(),
  };
}

export async function staffView(db: Queryable | Tx, staffId: string): Promise<StaffView> {
  const account = await db
    .selectFrom("staff_accounts")
    .selectAll()
    .where("id", "=", staffId)
    .executeTakeFirst();
  if (!account) throw notFound("staff_not_found", staffId);
  const memberships = await db
    .selectFrom("staff_memberships")
    .selectAll()
    .where("staff_id", "=", staffId)
    .orderBy("created_at")
    .execute();
  return toView(account, memberships);
}

/** Staff of a program, and deployment owners, who act on every program. */
export async function listProgramStaff(ctx: Ctx, programId: string): Promise<StaffView[]> {
  const ids = await ctx.db.kysely
    .selectFrom("staff_memberships")
    .select("staff_id")
    .where("program_id", "in", [programId, ""])
    .orderBy("staff_id")
    .limit(1000)
    .execute();
  return Promise.all(
    [...new Set(ids.map((r) => r.staff_id))].map((id) => staffView(ctx.db.kysely, id)),
  );
}

// ---- Invitations -------------------------------------------------------------------------------

/**
 * Invites someone to a program (programId "" = the deployment, owners only). The link works once
 * and for 7 days; only its hash is stored.
 */
export async function createInvitation(
  ctx: Ctx,
  input: {
    programId: string;
    email: string;
    role: StaffRole;
    storeIds: string[];
    invitedBy: string;
  },
): Promise<{ invitation: z.infer<typeof invitationSchema>; inviteUrl: string }> {
  // A cashier is invited to registered open stores, as updateMembership checks on a change.
  if (input.role === "cashier") {
    await assertActiveStores(ctx.db.kysely, input.programId, input.storeIds, "body.storeIds");
  }
  const now = ctx.clock.now();
  const token = newToken();
  const row = {
    id: newId("staffInvitation"),
    token_hash: hashToken(token),
    email: normalizeEmail(input.email),
    program_id: input.programId,
    role: input.role,
    store_ids: input.role === "cashier" ? input.storeIds : [],
    invited_by: input.invitedBy,
    expires_at: new Date(now.getTime() + invitationTtlMs),
    accepted_at: null,
    created_at: now,
  };
  await ctx.db.transaction(async (tx) => {
    await tx.insertInto("staff_invitations").values(row).execute();
    await emit(tx, {
      programId: input.programId || null,
      type: "staff.invited",
      payload: { invitationId: row.id, role: row.role },
      at: now,
    });
  });
  const url = staffLink(ctx, "accept-invite", token);
  await deliverInvitation(ctx, { email: row.email, role: row.role, url });
  return {
    invitation: {
      id: row.id,
      email: row.email,
      role: row.role,
      programId: row.program_id || null,
      storeIds: row.store_ids,
      expiresAt: row.expires_at.toISOString(),
      createdAt: now.toISOString(),
    },
    inviteUrl: url,
  };
}

async function openInvitation(db: Queryable | Tx, token: string, now: Date) {
  const row = await db
    .selectFrom("staff_invitations")
    .selectAll()
    .where("token_hash", "=", hashToken(token))
    .executeTakeFirst();
  if (!row || row.accepted_at || row.expires_at <= now) {
    throw new DomainError(
      "staff_invitation_invalid",
      "this invitation is unknown, used or expired",
    );
  }
  return row;
}

export async function readInvitation(ctx: Ctx, token: string) {
  const row = await openInvitation(ctx.db.kysely, token, ctx.clock.now());
  return {
    email: row.email,
    role: row.role,
    programId: row.program_id || null,
    expiresAt: row.expires_at.toISOString(),
  };
}

/**
 * Accepts an invitation: a new account gets the password (if strong enough); someone who already
 * has an account proves it with their current password and gains the role.
 */
export async function acceptInvitation(
  ctx: Ctx,
  input: z.infer<typeof invitationAcceptSchema>,
): Promise<StaffView> {
  const now = ctx.clock.now();
  const preview = await openInvitation(ctx.db.kysely, input.token, now);
  const existing = await ctx.db.kysely
    .selectFrom("staff_accounts")
    .selectAll()
    .where("email", "=", preview.email)
    .executeTakeFirst();
  let passwordHash: string | null = null;
  if (existing) {
    if (!(await verifyPassword(existing.password_hash, input.password))) {
      throw new DomainError("unauthorized", "this email has an account: give its current password");
    }
  } else {
    assertStrongPassword(input.password, [preview.email, input.displayName ?? ""]);
    passwordHash = await hashPassword(input.password);
  }
  const staffId = await ctx.db.transaction(async (tx) => {
    // Claiming the invitation in the same statement that checks it makes it single-use.
    const invitation = await tx
      .updateTable("staff_invitations")
      .set({ accepted_at: now })
      .where("id", "=", preview.id)
      .where("accepted_at", "is", null)
      .returningAll()
      .executeTakeFirst();
    if (!invitation) {
      throw new DomainError(
        "staff_invitation_invalid",
        "this invitation is unknown, used or expired",
      );
    }
    let id = existing?.id;
    if (!id) {
      id = newId("staff");
      await tx
        .insertInto("staff_accounts")
        .values({
          id,
          email: invitation.email,
          display_name: input.displayName ?? invitation.email,
          password_hash: passwordHash as string,
          totp_secret_enc: null,
          totp_enabled_at: null,
          totp_last_step: null,
          disabled_at: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.column("email").doNothing())
        .execute();
    }
    await tx
      .insertInto("staff_memberships")
      .values({
        staff_id: id,
        program_id: invitation.program_id,
        role: invitation.role,
        store_ids: invitation.store_ids,
        created_at: now,
      })
      .onConflict((oc) =>
        oc.columns(["staff_id", "program_id"]).doUpdateSet({
          role: invitation.role,
          store_ids: invitation.store_ids,
        }),
      )
      .execute();
    await emit(tx, {
      programId: invitation.program_id || null,
      type: "staff.joined",
      payload: { staffId: id, invitationId: invitation.id, role: invitation.role },
      at: now,
    });
    return id;
  });
  return staffView(ctx.db.kysely, staffId);
}

// ---- Sign-in -----------------------------------------------------------------------------------

export interface SignInResult {
  stage: "totp_required" | "signed_in";
  session: StartedSession;
  staff: StaffView | null;
}

/**
 * Password step. A new session is always minted (any session the browser brought is ended), so
 * an id planted before sign-in never becomes an authenticated one.
 */
export async function signIn(
  ctx: Ctx,
  request: FastifyRequest,
  input: z.infer<typeof signInSchema>,
): Promise<SignInResult> {
  assertSameOrigin(request);
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  const account = await db
    .selectFrom("staff_accounts")
    .selectAll()
    .where("email", "=", normalizeEmail(input.email))
    .executeTakeFirst();
  const keys = [addressKey(request), ...(account ? [accountKey(account.id)] : [])];
  await assertNotLocked(db, keys, now);
  const passwordOk = await verifyPassword(
    account?.password_hash ?? (await decoyPasswordHash()),
    input.password,
  );
  if (!account || !passwordOk) {
    for (const [key, policy] of [
      [addressKey(request), policies.address],
      ...(account ? [[accountKey(account.id), policies.staffAccount] as const] : []),
    ] as const) {
      await recordFailure(db, key, policy, now);
    }
    throw new DomainError("unauthorized", "email or password is wrong");
  }
  if (account.disabled_at) throw new DomainError("unauthorized", "this staff account is disabled");
  const twoStep = account.totp_enabled_at !== null;
  const session = await ctx.db.transaction(async (tx) => {
    await endBroughtSession(tx, request, now);
    return startSession(tx, {
      kind: "staff",
      subjectId: account.id,
      programId: null,
      stage: twoStep ? "partial" : "full",
      now,
    });
  });
  if (!twoStep) await clearFailures(db, accountKey(account.id));
  return {
    stage: twoStep ? "totp_required" : "signed_in",
    session,
    staff: twoStep ? null : await staffView(db, account.id),
  };
}

async function endBroughtSession(tx: Tx, request: FastifyRequest, now: Date): Promise<void> {
  const brought = await findSession(tx, request, "staff", now);
  if (brought) await endSession(tx, brought.id, now);
}

/** The staff session of a request for the account's own routes (CSRF checked on writes). */
export async function requireStaffSession(
  ctx: Ctx,
  request: FastifyRequest,
  stage: "partial" | "full",
): Promise<{ session: WebSessionsTable; account: StaffAccountsTable }> {
  const now = ctx.clock.now();
  const session = await findSession(ctx.db.kysely, request, "staff", now);
  if (!session || session.stage !== stage) {
    throw new DomainError(
      "unauthorized",
      stage === "partial" ? "sign in with your password first" : "sign in first",
    );
  }
  const account = await ctx.db.kysely
    .selectFrom("staff_accounts")
    .selectAll()
    .where("id", "=", session.subject_id)
    .executeTakeFirst();
  if (!account || account.disabled_at) {
    throw new DomainError("unauthorized", "this staff account is disabled");
  }
  assertCsrf(request, session);
  return { session, account };
}

/** Checks a TOTP code and remembers its time step, so the same code never works twice. */
async function acceptTotp(
  db: Queryable | Tx,
  account: StaffAccountsTable,
  secret: string,
  code: string,
  now: Date,
): Promise<boolean> {
  const epoch = Math.floor(now.getTime() / 1000);
  const result = await verifyTotp({
    secret,
    token: code,
    epoch,
    epochTolerance: totpToleranceSeconds,
    ...(account.totp_last_step !== null && { afterTimeStep: Number(account.totp_last_step) }),
  }).catch(() => ({ valid: false as const }));
  if (!result.valid) return false;
  const timeStep = Math.floor(epoch / totpPeriodSeconds) + result.delta;
  const updated = await db
    .updateTable("staff_accounts")
    .set({ totp_last_step: timeStep })
    .where("id", "=", account.id)
    .where((eb) => eb.or([eb("totp_last_step", "is", null), eb("totp_last_step", "<", timeStep)]))
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) === 1;
}

/** Second step: a TOTP code or an unused recovery code turns the partial session into a new one. */
export async function completeSecondFactor(
  ctx: Ctx,
  request: FastifyRequest,
  input: z.infer<typeof secondFactorSchema>,
): Promise<{ session: StartedSession; staff: StaffView }> {
  const now = ctx.clock.now();
  const db = ctx.db.kysely;
  const { session, account } = await requireStaffSession(ctx, request, "partial");
  await assertNotLocked(db, [addressKey(request), accountKey(account.id)], now);
  let ok = false;
  if ("code" in input) {
    const secret = openTotpSecret(account);
    ok = secret !== null && (await acceptTotp(db, account, secret, input.code, now));
  } else {
    const used = await db
      .updateTable("staff_recovery_codes")
      .set({ used_at: now })
      .where("staff_id", "=", account.id)
      .where("code_hash", "=", hashToken(normalizeRecoveryCode(input.recoveryCode)))
      .where("used_at", "is", null)
      .executeTakeFirst();
    ok = Number(used.numUpdatedRows) === 1;
  }
  if (!ok) {
    await recordFailure(db, accountKey(account.id), policies.staffAccount, now);
    await recordFailure(db, addressKey(request), policies.address, now);
    throw new DomainError("unauthorized", "the code is wrong or was used already");
  }
  await clearFailures(db, accountKey(account.id));
  const fresh = await ctx.db.transaction(async (tx) => {
    await endSession(tx, session.id, now);
    return startSession(tx, {
      kind: "staff",
      subjectId: account.id,
      programId: null,
      stage: "full",
      now,
    });
  });
  return { session: fresh, staff: await staffView(db, account.id) };
}

// ---- Two-factor enrolment ----------------------------------------------------------------------

export async function startTotpEnrolment(ctx: Ctx, account: StaffAccountsTable) {
  if (account.totp_enabled_at) {
    throw new DomainError("validation_failed", "two-factor sign-in is already on for this account");
  }
  const secret = generateSecret();
  await ctx.db.kysely
    .updateTable("staff_accounts")
    .set({ totp_secret_enc: sealTotpSecret(account.id, secret), updated_at: ctx.clock.now() })
    .where("id", "=", account.id)
    .execute();
  const otpauthUri = generateURI({ issuer: "Setia", label: account.email, secret });
  const qrDataUrl = await QRCode.toDataURL(otpauthUri, { errorCorrectionLevel: "M", margin: 1 });
  return { secret, otpauthUri, qrDataUrl };
}

/** Turns TOTP on after the first good code, hands out ten recovery codes and rotates the session. */
export async function confirmTotpEnrolment(
  ctx: Ctx,
  session: WebSessionsTable,
  account: StaffAccountsTable,
  code: string,
): Promise<{ recoveryCodes: string[]; session: StartedSession }> {
  const now = ctx.clock.now();
  const secret = openTotpSecret(account);
  if (account.totp_enabled_at || secret === null) {
    throw new DomainError("validation_failed", "start the enrolment first");
  }
  if (!(await acceptTotp(ctx.db.kysely, account, secret, code, now))) {
    throw new DomainError("unauthorized", "the code is wrong; check the device's clock");
  }
  const recoveryCodes = Array.from({ length: recoveryCodeCount }, newRecoveryCode);
  const fresh = await ctx.db.transaction(async (tx) => {
    await tx
      .updateTable("staff_accounts")
      .set({ totp_enabled_at: now, updated_at: now })
      .where("id", "=", account.id)
      .execute();
    await tx.deleteFrom("staff_recovery_codes").where("staff_id", "=", account.id).execute();
    await tx
      .insertInto("staff_recovery_codes")
      .values(
        recoveryCodes.map((c) => ({
          staff_id: account.id,
          code_hash: hashToken(c),
          used_at: null,
        })),
      )
      .execute();
    await endSession(tx, session.id, now);
    await emit(tx, {
      programId: null,
      type: "staff.two_factor_enabled",
      payload: { staffId: account.id },
      at: now,
    });
    return startSession(tx, {
      kind: "staff",
      subjectId: account.id,
      programId: null,
      stage: "full",
      now,
    });
  });
  return { recoveryCodes, session: fresh };
}

export async function changePassword(
  ctx: Ctx,
  session: WebSessionsTable,
  account: StaffAccountsTable,
  input: z.infer<typeof passwordChangeSchema>,
): Promise<void> {
  const now = ctx.clock.now();
  if (!(await verifyPassword(account.password_hash, input.currentPassword))) {
    await recordFailure(ctx.db.kysely, accountKey(account.id), policies.staffAccount, now);
    throw new DomainError("unauthorized", "the current password is wrong");
  }
  assertStrongPassword(input.newPassword, [account.email, account.display_name]);
  const hash = await hashPassword(input.newPassword);
  await ctx.db.transaction(async (tx) => {
    await tx
      .updateTable("staff_accounts")
      .set({ password_hash: hash, updated_at: now })
      .where("id", "=", account.id)
      .execute();
    // Other sessions end: a changed password is often a suspected leak.
    await tx
      .updateTable("web_sessions")
      .set({ ended_at: now })
      .where("kind", "=", "staff")
      .where("subject_id", "=", account.id)
      .where("id", "!=", session.id)
      .where("ended_at", "is", null)
      .execute();
  });
}

export async function signOutEverywhere(ctx: Ctx, staffId: string): Promise<void> {
  await endSessionsOf(ctx.db.kysely, "staff", staffId, ctx.clock.now());
}

// ---- Program staff management ------------------------------------------------------------------

export async function programMembership(db: Queryable | Tx, programId: string, staffId: string) {
  const row = await db
    .selectFrom("staff_memberships")
    .selectAll()
    .where("staff_id", "=", staffId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("staff_not_found", staffId);
  return row;
}

export function assertMayManage(actorIsOwner: boolean, ...roles: (StaffRole | undefined)[]): void {
  if (!actorIsOwner && roles.includes("owner")) {
    throw new DomainError("forbidden", "only an owner may invite or change owners");
  }
}

export async function updateMembership(
  ctx: Ctx,
  programId: string,
  staffId: string,
  input: z.infer<typeof membershipUpdateSchema>,
  actorIsOwner: boolean,
): Promise<StaffView> {
  const current = await programMembership(ctx.db.kysely, programId, staffId);
  assertMayManage(actorIsOwner, current.role, input.role);
  const role = input.role ?? current.role;
  const storeIds = role === "cashier" ? (input.storeIds ?? current.store_ids) : [];
  if (role === "cashier" && storeIds.length === 0) {
    throw new DomainError("validation_failed", "a cashier needs at least one store id", {
      field: "storeIds",
    });
  }
  // The stores a cashier ends up with must be open, also those kept when only the role changes;
  // storeIds sent for another role are ignored, not checked.
  if (role === "cashier" && (input.storeIds !== undefined || current.role !== "cashier")) {
    await assertActiveStores(ctx.db.kysely, programId, storeIds, "body.storeIds");
  }
  const now = ctx.clock.now();
  await ctx.db.transaction(async (tx) => {
    await tx
      .updateTable("staff_memberships")
      .set({ role, store_ids: storeIds })
      .where("staff_id", "=", staffId)
      .where("program_id", "=", programId)
      .execute();
    await emit(tx, {
      programId,
      type: "staff.role_changed",
      payload: { staffId, role, storeIds },
      at: now,
    });
  });
  return staffView(ctx.db.kysely, staffId);
}

export async function removeMembership(
  ctx: Ctx,
  programId: string,
  staffId: string,
  actorIsOwner: boolean,
): Promise<void> {
  const current = await programMembership(ctx.db.kysely, programId, staffId);
  assertMayManage(actorIsOwner, current.role);
  const now = ctx.clock.now();
  await ctx.db.transaction(async (tx) => {
    await tx
      .deleteFrom("staff_memberships")
      .where("staff_id", "=", staffId)
      .where("program_id", "=", programId)
      .execute();
    await emit(tx, { programId, type: "staff.removed", payload: { staffId }, at: now });
  });
}

/** Disabling ends every session of the account at once; enabling lets it sign in again. */
export async function setAccountDisabled(
  ctx: Ctx,
  programId: string,
  staffId: string,
  disabled: boolean,
  actorIsOwner: boolean,
): Promise<StaffView> {
  const current = await programMembership(ctx.db.kysely, programId, staffId);
  assertMayManage(actorIsOwner, current.role);
  const now = ctx.clock.now();
  await ctx.db.transaction(async (tx) => {
    await tx
      .updateTable("staff_accounts")
      .set({ disabled_at: disabled ? now : null, updated_at: now })
      .where("id", "=", staffId)
      .execute();
    if (disabled) await endSessionsOf(tx, "staff", staffId, now);
    await emit(tx, {
      programId,
      type: disabled ? "staff.disabled" : "staff.enabled",
      payload: { staffId },
      at: now,
    });
  });
  return staffView(ctx.db.kysely, staffId);
}
