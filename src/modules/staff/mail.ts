import nodemailer from "nodemailer";
import type { Ctx } from "../../context.ts";

/**
 * Secrets (invitation and reset links, portal codes) go to the server log only when no channel
 * can carry them and the process runs in development or test (decision 0044); never in production.
 */
export function mayLogSecrets(): boolean {
  const env = process.env.NODE_ENV;
  return env === "development" || env === "test";
}

/** A link to a page of the admin app carrying a one-time token. */
export function staffLink(
  ctx: Ctx,
  page: "accept-invite" | "reset-password",
  token: string,
): string {
  const base = (ctx.communications?.publicUrl ?? "http://localhost:8080").replace(/\/$/, "");
  // The token goes in the fragment: it never reaches server logs or Referer headers.
  return `${base}/admin/${page}#token=${token}`;
}

/**
 * Emails a one-time link to a staff member through SMTP when configured; else logs it in
 * development (under `urlField`). Answers whether the mail server took it.
 */
async function deliverLink(
  ctx: Ctx,
  input: {
    email: string;
    what: string;
    urlField: string;
    url: string;
    subject: string;
    text: string;
  },
): Promise<boolean> {
  const smtpUrl = ctx.communications?.smtpUrl;
  if (!smtpUrl) {
    if (mayLogSecrets()) {
      ctx.log.info(
        { email: input.email, [input.urlField]: input.url },
        `${input.what} (no SMTP set)`,
      );
    } else {
      ctx.log.warn({ email: input.email }, `${input.what} not emailed: SETIA_SMTP_URL is not set`);
    }
    return false;
  }
  try {
    await nodemailer.createTransport(smtpUrl).sendMail({
      from: ctx.communications?.emailFrom ?? "Setia <no-reply@localhost>",
      to: input.email,
      subject: input.subject,
      text: input.text,
    });
    return true;
  } catch (error) {
    ctx.log.error({ err: error, email: input.email }, `${input.what} email failed`);
    return false;
  }
}

/** Emails an invitation link; the inviter also gets it in the response, so a failure is not fatal. */
export async function deliverInvitation(
  ctx: Ctx,
  input: { email: string; role: string; url: string },
): Promise<void> {
  await deliverLink(ctx, {
    email: input.email,
    what: "staff invitation",
    urlField: "inviteUrl",
    url: input.url,
    subject: "You are invited to Setia",
    text: `You were invited as ${input.role}. Set your password within 7 days: ${input.url}`,
  });
}

/** Emails a password reset link (self-service, or sent by an owner or admin). */
export function deliverPasswordReset(
  ctx: Ctx,
  input: { email: string; url: string; ttlMinutes: number; byAdmin: boolean },
): Promise<boolean> {
  const why = input.byAdmin
    ? "An administrator of your Setia program sent you a link to set a new password."
    : "Someone (hopefully you) asked to reset the password of your Setia staff account.";
  return deliverLink(ctx, {
    email: input.email,
    what: "staff password reset",
    urlField: "resetUrl",
    url: input.url,
    subject: "Reset your Setia password",
    text: [
      why,
      `Choose a new one within ${input.ttlMinutes} minutes (the link works once): ${input.url}`,
      "Your authenticator app is still asked at sign-in.",
      "If you did not ask for this, ignore this email: your password stays as it is.",
    ].join("\n\n"),
  });
}
