/** Row types of the staff module's tables (migrations 012, 014), as the query layer sees them. */
import type { ColumnType, Generated } from "kysely";

export const staffRoles = ["owner", "admin", "marketer", "analyst", "support", "cashier"] as const;
export type StaffRole = (typeof staffRoles)[number];

export interface StaffAccountsTable {
  id: string;
  email: string;
  display_name: string;
  password_hash: string;
  /** The TOTP secret encrypted under the data keyring (totp-secrets.ts); null before enrolment. */
  totp_secret_enc: string | null;
  totp_enabled_at: Date | null;
  totp_last_step: number | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface StaffMembershipsTable {
  staff_id: string;
  /** "" for the deployment: the role then holds in every program. */
  program_id: string;
  role: StaffRole;
  store_ids: string[];
  created_at: Date;
}

export interface StaffInvitationsTable {
  id: string;
  token_hash: string;
  email: string;
  program_id: string;
  role: StaffRole;
  store_ids: string[];
  invited_by: string;
  expires_at: Date;
  accepted_at: Date | null;
  created_at: Date;
}

export interface StaffRecoveryCodesTable {
  staff_id: string;
  code_hash: string;
  used_at: Date | null;
}

export interface StaffPasswordResetsTable {
  id: string;
  token_hash: string;
  /** Null when the email named no active account (the row makes both answers alike). */
  staff_id: string | null;
  requested_by: string | null;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
}

/** TOTP secrets found in clear by migration 014, until they are encrypted at start. */
export interface StaffTotpPlaintextLegacyTable {
  staff_id: string;
  totp_secret: string;
}

export interface WebSessionsTable {
  id: string;
  kind: "staff" | "member";
  token_hash: string;
  csrf_hash: string;
  subject_id: string;
  program_id: string | null;
  stage: "partial" | "full";
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  ended_at: Date | null;
}

export interface PortalCodesTable {
  id: string;
  program_id: string;
  identifier_hash: string;
  member_id: string | null;
  code_hash: string;
  attempts: Generated<number>;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
}

export interface AuthFailuresTable {
  key: string;
  failures: number;
  window_started_at: Date;
  locked_until: Date | null;
}

export interface ProgramBrandingTable {
  program_id: string;
  display_name: string | null;
  /** jsonb: written as JSON text. */
  colors: ColumnType<Record<string, string>, string | undefined, string>;
  tone: Generated<string>;
  locale: string | null;
  logo: Buffer | Uint8Array | null;
  logo_type: string | null;
  updated_at: Date;
}

export interface StaffTables {
  staff_accounts: StaffAccountsTable;
  staff_memberships: StaffMembershipsTable;
  staff_invitations: StaffInvitationsTable;
  staff_recovery_codes: StaffRecoveryCodesTable;
  staff_password_resets: StaffPasswordResetsTable;
  staff_totp_plaintext_legacy: StaffTotpPlaintextLegacyTable;
  web_sessions: WebSessionsTable;
  portal_codes: PortalCodesTable;
  auth_failures: AuthFailuresTable;
  program_branding: ProgramBrandingTable;
}
