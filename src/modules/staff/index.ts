/**
 * Staff accounts and web sign-in (P25, P27): invitations, argon2id passwords with strength checks,
 * TOTP two-factor sign-in with recovery codes, cookie sessions with CSRF tokens, lockout, the
 * role map for every route; member portal sign-in by one-time code; program branding; the admin
 * overview report.
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
