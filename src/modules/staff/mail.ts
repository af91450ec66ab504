import nodemailer from "nodemailer";
import type { Ctx } from "../../context.ts";

/**
 * Secrets (invitation links, portal codes) go to the server log only when no channel can carry
 * them and the process runs in development or test (decision 0044); never in production.
 */
export function mayLogSecrets(): boolean {
  const env = process.env.NODE_ENV;
  return env === "development" || env === "test";
}

/** Emails an invitation link through SMTP when configured; else logs it in development. */
export async function deliverInvitation(
  ctx: Ctx,
  input: { email: string; role: string; url: string },
): Promise<void> {
  const smtpUrl = ctx.communications?.smtpUrl;
  if (!smtpUrl) {
    if (mayLogSecrets()) {
      ctx.log.info({ email: input.email, inviteUrl: input.url }, "staff invitation (no SMTP set)");
    } else {
      ctx.log.warn(
        { email: input.email },
        "staff invitation not emailed: SETIA_SMTP_URL is not set",
      );
    }
    return;
  }
  try {
    await nodemailer.createTransport(smtpUrl).sendMail({
      from: ctx.communications?.emailFrom ?? "Setia <no-reply@localhost>",
      to: input.email,
      subject: "You are invited to Setia",
      text: `You were invited as ${input.role}. Set your password within 7 days: ${input.url}`,
    });
  } catch (error) {
    // The inviter also gets the link in the response, so a mail failure is not fatal.
    ctx.log.error({ err: error, email: input.email }, "staff invitation email failed");
  }
}
