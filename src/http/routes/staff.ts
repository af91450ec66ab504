import fastifyCookie from "@fastify/cookie";
import multipart from "@fastify/multipart";
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import { getProgram } from "../../modules/programs/index.ts";
import {
  acceptInvitation,
  brandingSchema,
  brandingUpdateSchema,
  changePassword,
  completeSecondFactor,
  confirmTotpEnrolment,
  createInvitation,
  csrfCookie,
  emailPasswordReset,
  endSession,
  forgotPasswordSchema,
  type IssuedReset,
  invitationAcceptSchema,
  invitationCreateSchema,
  invitationSchema,
  listProgramStaff,
  logoBytesMax,
  membershipUpdateSchema,
  overviewQuery,
  overviewSchema,
  ownerInvitationSchema,
  passwordChangeSchema,
  programOverview,
  readInvitation,
  removeMembership,
  requestPasswordReset,
  requireStaffSession,
  resetPassword,
  resetPasswordSchema,
  resetSentSchema,
  secondFactorSchema,
  sendPasswordReset,
  setAccountDisabled,
  setLogo,
  setSessionCookies,
  signIn,
  signInSchema,
  signOutEverywhere,
  staffRoles,
  staffSchema,
  staffView,
  startTotpEnrolment,
  updateBranding,
  updateMembership,
} from "../../modules/staff/index.ts";
import {
  type App,
  auditedCtx,
  errorResponses,
  idempotencyHeaders,
  programParams,
  secured,
  staffSecured,
  unsecured,
  write,
} from "../kit.ts";

const staffParams = programParams.extend({ staffId: z.string().max(64) });
const signedIn = z.object({
  stage: z.literal("signed_in"),
  staff: staffSchema,
  csrfToken: z.string(),
});
const invitationCreated = z.object({ invitation: invitationSchema, inviteUrl: z.string() });

/** Owners (deployment owner key, or a staff owner) may invite and change owners. */
function actorIsOwner(request: FastifyRequest): boolean {
  return request.staff ? request.staff.role === "owner" : request.principal?.role === "owner";
}

function inviter(request: FastifyRequest): string {
  return request.staff?.staffId ?? request.principal?.keyId ?? "";
}

export function registerStaffRoutes(app: App, ctx: Ctx): void {
  const tags = ["staff"];
  // Loads the cookie codec that src/modules/staff/sessions.ts parses and serializes with.
  app.register(fastifyCookie);

  app.post(
    "/v1/staff/invitations",
    {
      config: { access: "owner" },
      schema: {
        summary: "Invite a deployment owner (the first staff account); the link works once, 7 days",
        tags,
        security: secured,
        body: ownerInvitationSchema,
        response: { 201: invitationCreated, ...errorResponses },
      },
    },
    async (request, reply) => {
      reply.code(201);
      return createInvitation(auditedCtx(ctx, request), {
        programId: "",
        email: request.body.email,
        role: "owner",
        storeIds: [],
        invitedBy: inviter(request),
      });
    },
  );

  app.post(
    "/v1/programs/:programId/staff/invitations",
    {
      config: { access: "admin", area: "staff" },
      schema: {
        summary: "Invite someone to the program's staff with a role (cashiers: with store ids)",
        tags,
        security: secured,
        params: programParams,
        body: invitationCreateSchema,
        response: { 201: invitationCreated, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId } = request.params;
      await getProgram(ctx.db.kysely, programId);
      if (request.body.role === "owner" && !actorIsOwner(request)) {
        throw new DomainError("forbidden", "only an owner may invite an owner");
      }
      reply.code(201);
      return createInvitation(auditedCtx(ctx, request), {
        programId,
        email: request.body.email,
        role: request.body.role,
        storeIds: request.body.storeIds ?? [],
        invitedBy: inviter(request),
      });
    },
  );

  app.get(
    "/v1/staff/invitations/:token",
    {
      config: { access: "public" },
      schema: {
        summary: "What an invitation is for (to show before accepting it)",
        tags,
        security: unsecured,
        params: z.object({ token: z.string().max(200) }),
        response: {
          200: z.object({
            email: z.string(),
            role: z.enum(staffRoles),
            programId: z.string().nullable(),
            expiresAt: z.string(),
          }),
          ...errorResponses,
        },
      },
    },
    async (request) => readInvitation(ctx, request.params.token),
  );

  app.post(
    "/v1/staff/invitations/accept",
    {
      config: { access: "public" },
      schema: {
        summary: "Accept an invitation with a password (new account) or the current password",
        tags,
        security: unsecured,
        body: invitationAcceptSchema,
        response: { 201: z.object({ staff: staffSchema }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const staff = await acceptInvitation(ctx, request.body);
      reply.code(201);
      return { staff };
    },
  );

  app.post(
    "/v1/staff/sign-in",
    {
      config: { access: "public" },
      schema: {
        summary: "Password step of staff sign-in; sets the session cookie",
        tags,
        security: unsecured,
        body: signInSchema,
        response: {
          200: z.union([
            signedIn,
            z.object({ stage: z.literal("totp_required"), csrfToken: z.string() }),
          ]),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const result = await signIn(ctx, request, request.body);
      const { token, csrfToken } = result.session;
      setSessionCookies(request, reply, "staff", { session: token, csrf: csrfToken });
      if (result.stage === "totp_required" || !result.staff) {
        return { stage: "totp_required" as const, csrfToken };
      }
      return { stage: "signed_in" as const, staff: result.staff, csrfToken };
    },
  );

  app.post(
    "/v1/staff/sign-in/totp",
    {
      config: { access: "public" },
      schema: {
        summary: "Second step: a TOTP code or a recovery code; the session id is replaced",
        tags,
        security: unsecured,
        body: secondFactorSchema,
        response: { 200: signedIn, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session, staff } = await completeSecondFactor(ctx, request, request.body);
      setSessionCookies(request, reply, "staff", {
        session: session.token,
        csrf: session.csrfToken,
      });
      return { stage: "signed_in" as const, staff, csrfToken: session.csrfToken };
    },
  );

  app.post(
    "/v1/staff/sign-in/forgot-password",
    {
      config: { access: "public" },
      schema: {
        summary:
          "Email a password reset link (30 minutes, once); the same answer for unknown addresses",
        tags,
        security: unsecured,
        body: forgotPasswordSchema,
        response: { 202: resetSentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const sent = await requestPasswordReset(ctx, request, request.body);
      reply.code(202);
      return sent;
    },
  );

  app.post(
    "/v1/staff/sign-in/reset-password",
    {
      config: { access: "public" },
      schema: {
        summary: "Set a new password with a reset link's token; every session of the account ends",
        tags,
        security: unsecured,
        body: resetPasswordSchema,
        response: { 200: z.object({ email: z.string() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const result = await resetPassword(ctx, request, request.body);
      // This browser's session, if any, ended with the others.
      setSessionCookies(request, reply, "staff", null);
      return result;
    },
  );

  app.get(
    "/v1/staff/me",
    {
      config: { access: "public" },
      schema: {
        summary: "The signed-in staff account, its roles, and the session's CSRF token",
        tags,
        security: staffSecured,
        response: {
          200: z.object({ staff: staffSchema, csrfToken: z.string() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { account } = await requireStaffSession(ctx, request, "full");
      return {
        staff: await staffView(ctx.db.kysely, account.id),
        csrfToken: csrfCookie(request, "staff"),
      };
    },
  );

  app.post(
    "/v1/staff/me/totp/enrol",
    {
      config: { access: "public" },
      schema: {
        summary: "Start two-factor enrolment: a secret, its otpauth URI and a QR code",
        tags,
        security: staffSecured,
        response: {
          200: z.object({ secret: z.string(), otpauthUri: z.string(), qrDataUrl: z.string() }),
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const { account } = await requireStaffSession(ctx, request, "full");
      return startTotpEnrolment(ctx, account);
    },
  );

  app.post(
    "/v1/staff/me/totp/confirm",
    {
      config: { access: "public" },
      schema: {
        summary: "Confirm enrolment with a code: ten recovery codes (shown once); new session id",
        tags,
        security: staffSecured,
        body: z.object({ code: z.string().regex(/^\d{6}$/) }).strict(),
        response: {
          200: z.object({ recoveryCodes: z.array(z.string()), csrfToken: z.string() }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { session, account } = await requireStaffSession(ctx, request, "full");
      const result = await confirmTotpEnrolment(ctx, session, account, request.body.code);
      setSessionCookies(request, reply, "staff", {
        session: result.session.token,
        csrf: result.session.csrfToken,
      });
      return { recoveryCodes: result.recoveryCodes, csrfToken: result.session.csrfToken };
    },
  );

  app.post(
    "/v1/staff/me/password",
    {
      config: { access: "public" },
      schema: {
        summary: "Change the password; the account's other sessions end",
        tags,
        security: staffSecured,
        body: passwordChangeSchema,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session, account } = await requireStaffSession(ctx, request, "full");
      await changePassword(ctx, session, account, request.body);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/staff/sign-out",
    {
      config: { access: "public" },
      schema: {
        summary: "End this session",
        tags,
        security: staffSecured,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session } = await requireStaffSession(ctx, request, "full").catch(() =>
        requireStaffSession(ctx, request, "partial"),
      );
      await endSession(ctx.db.kysely, session.id, ctx.clock.now());
      setSessionCookies(request, reply, "staff", null);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/staff/sign-out-everywhere",
    {
      config: { access: "public" },
      schema: {
        summary: "End every session of this account",
        tags,
        security: staffSecured,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { account } = await requireStaffSession(ctx, request, "full");
      await signOutEverywhere(ctx, account.id);
      setSessionCookies(request, reply, "staff", null);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/programs/:programId/staff",
    {
      config: { access: "admin", area: "staff" },
      schema: {
        summary: "The program's staff (and deployment owners)",
        tags,
        security: secured,
        params: programParams,
        response: { 200: z.object({ data: z.array(staffSchema) }), ...errorResponses },
      },
    },
    async (request) => ({ data: await listProgramStaff(ctx, request.params.programId) }),
  );

  app.patch(
    "/v1/programs/:programId/staff/:staffId",
    {
      config: { access: "admin", area: "staff" },
      schema: {
        summary: "Change a staff member's role or stores in this program",
        tags,
        security: secured,
        params: staffParams,
        body: membershipUpdateSchema,
        response: { 200: staffSchema, ...errorResponses },
      },
    },
    async (request) => {
      const { programId, staffId } = request.params;
      return updateMembership(
        auditedCtx(ctx, request),
        programId,
        staffId,
        request.body,
        actorIsOwner(request),
      );
    },
  );

  app.delete(
    "/v1/programs/:programId/staff/:staffId",
    {
      config: { access: "admin", area: "staff" },
      schema: {
        summary: "Remove a staff member from this program",
        tags,
        security: secured,
        params: staffParams,
        response: { 204: z.null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, staffId } = request.params;
      await removeMembership(auditedCtx(ctx, request), programId, staffId, actorIsOwner(request));
      return reply.code(204).send(null);
    },
  );

  for (const action of ["disable", "enable"] as const) {
    app.post(
      `/v1/programs/:programId/staff/:staffId/${action}`,
      {
        config: { access: "admin", area: "staff" },
        schema: {
          summary:
            action === "disable"
              ? "Disable a staff account: every session of it ends at once"
              : "Enable a disabled staff account",
          tags,
          security: secured,
          params: staffParams,
          response: { 200: staffSchema, ...errorResponses },
        },
      },
      async (request) =>
        setAccountDisabled(
          auditedCtx(ctx, request),
          request.params.programId,
          request.params.staffId,
          action === "disable",
          actorIsOwner(request),
        ),
    );
  }

  app.post(
    "/v1/programs/:programId/staff/:staffId/password-reset",
    {
      config: { access: "admin", area: "staff" },
      schema: {
        summary: "Email a staff member a password reset link (30 minutes, once; TOTP stays on)",
        tags,
        security: secured,
        params: staffParams,
        headers: idempotencyHeaders,
        response: { 202: resetSentSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { programId, staffId } = request.params;
      // Set only when the write ran (not on a replay): the link is emailed after the commit.
      const issued: { reset?: IssuedReset } = {};
      const body = await write(ctx, request, reply, 202, async (tx) => {
        issued.reset = await sendPasswordReset(tx, {
          programId,
          staffId,
          actorIsOwner: actorIsOwner(request),
          requestedBy: inviter(request),
          now: ctx.clock.now(),
        });
        return { sent: true as const, expiresAt: issued.reset.expiresAt.toISOString() };
      });
      if (issued.reset) await emailPasswordReset(ctx, issued.reset);
      return body;
    },
  );

  app.get(
    "/v1/programs/:programId/reports/overview",
    {
      config: { access: "read", area: "reports" },
      schema: {
        summary: "Admin home page figures: members, activity, points and liability over time",
        tags: ["reports"],
        security: secured,
        params: programParams,
        querystring: overviewQuery,
        response: { 200: overviewSchema, ...errorResponses },
      },
    },
    async (request) => programOverview(ctx, request.params.programId, request.query),
  );

  app.put(
    "/v1/programs/:programId/branding",
    {
      config: { access: "admin", area: "settings" },
      schema: {
        summary: "Set the program's branding for the portal and POS pages",
        tags: ["programs"],
        security: secured,
        params: programParams,
        body: brandingUpdateSchema,
        response: { 200: brandingSchema, ...errorResponses },
      },
    },
    async (request) =>
      updateBranding(auditedCtx(ctx, request), request.params.programId, request.body),
  );

  // Multipart parsing only where a file is expected.
  app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: logoBytesMax, files: 1, fields: 0 } });
    scope.post(
      "/v1/programs/:programId/branding/logo",
      {
        config: { access: "admin", area: "settings" },
        schema: {
          summary: `Upload the program's logo: multipart field "file", PNG or JPEG, at most 512 KB`,
          tags: ["programs"],
          security: secured,
          params: programParams,
          response: { 200: brandingSchema, ...errorResponses },
        },
      },
      async (request) => {
        if (!request.isMultipart()) {
          throw new DomainError("unsupported_media_type", "send the logo as multipart/form-data");
        }
        const file = await request.file();
        if (!file) throw new DomainError("validation_failed", "no file in the upload");
        const bytes = await file.toBuffer().catch((error: { code?: string }) => {
          if (error.code === "FST_REQ_FILE_TOO_LARGE") {
            throw new DomainError("payload_too_large", `a logo is at most ${logoBytesMax} bytes`);
          }
          throw error;
        });
        return setLogo(
          auditedCtx(ctx, request),
          (request.params as { programId: string }).programId,
          bytes,
        );
      },
    );
  });
}
