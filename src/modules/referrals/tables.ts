/** Row types of the referrals module's tables (migration 007), as the query layer sees them. */
export interface ReferralsTables {
  referral_settings: ReferralSettingsTable;
  referral_codes: ReferralCodesTable;
  referral_devices: ReferralDevicesTable;
  referrals: ReferralsTable;
}

export interface ReferralSettingsTable {
  program_id: string;
  enabled: boolean;
  referrer_points: number;
  referee_points: number;
  qualifying_total_minor: number;
  per_referrer_month_max: number | null;
  per_referrer_total_max: number | null;
  share_base_url: string | null;
  updated_at: Date;
}

export interface ReferralCodesTable {
  program_id: string;
  member_id: string;
  code: string;
  created_at: Date;
}

export interface ReferralDevicesTable {
  program_id: string;
  member_id: string;
  fingerprint_hash: string;
  created_at: Date;
}

export interface ReferralsTable {
  id: string;
  program_id: string;
  code: string;
  referrer_member_id: string | null;
  referee_member_id: string;
  status: "pending" | "completed" | "rejected";
  reason: RejectionReason | null;
  source: "enrolment" | "claim";
  qualifying_transaction_id: string | null;
  referrer_points: number;
  referee_points: number;
  qualifying_total_minor: number;
  created_at: Date;
  completed_at: Date | null;
}

export const rejectionReasons = [
  "referrals_disabled",
  "unknown_code",
  "self_referral",
  "referrer_blocked",
  "limit_reached",
  "already_member",
] as const;
export type RejectionReason = (typeof rejectionReasons)[number];
