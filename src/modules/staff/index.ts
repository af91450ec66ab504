/**
 * Staff accounts and web sign-in (P25, P27): invitations, argon2id passwords with strength checks,
 * password reset links, TOTP two-factor sign-in with recovery codes (secrets encrypted at rest),
 * cookie sessions with CSRF tokens, lockout, the role map for every route, the cleanup of spent
 * sign-in records; member portal sign-in by one-time code; program branding; the admin overview
 * report.
 */
export {
  type Area,
  areaOf,
  areas,
  assertStoreScope,
  authenticateStaff,
  type StaffPrincipal,
  staffMayAccess,
} from "./access.ts";
export * from "./accounts.ts";
export {
  brandingSchema,
  brandingUpdateSchema,
  getBranding,
  getLogo,
  logoBytesMax,
  setLogo,
  updateBranding,
} from "./branding.ts";
export { type AuthPurgeReport, purgeAuthRecords } from "./cleanup.ts";
export { policies } from "./failures.ts";
export {
  codeAttemptsMax,
  codeTtlMs,
  identifierSchema,
  requireMember,
  startPortalSignIn,
  verifyPortalSignIn,
  verifySchema,
} from "./portal.ts";
export {
  granularities,
  type Overview,
  overviewQuery,
  overviewSchema,
  programOverview,
} from "./reports.ts";
export {
  emailPasswordReset,
  forgotPasswordSchema,
  type IssuedReset,
  requestPasswordReset,
  resetPassword,
  resetPasswordSchema,
  resetSentSchema,
  resetTtlMs,
  sendPasswordReset,
} from "./reset.ts";
export { passwordLengthMin, passwordScoreMin } from "./secrets.ts";
export {
  csrfCookie,
  csrfHeader,
  endSession,
  endSessionsOf,
  hasSessionCookie,
  type SessionKind,
  sessionPolicies,
  setSessionCookies,
} from "./sessions.ts";
export { type StaffRole, staffRoles } from "./tables.ts";
export {
  encryptLegacyTotpSecrets,
  rotateTotpSecrets,
  totpBatchSizeMax,
  totpSecretKeyUsage,
} from "./totp-secrets.ts";
