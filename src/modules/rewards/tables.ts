/** Row types of the rewards module's tables (migration 006), as the query layer sees them. */
export interface RewardsTables {
  rewards: RewardsTable;
  coupon_batches: CouponBatchesTable;
  stored_value_accounts: StoredValueAccountsTable;
  stored_value_movements: StoredValueMovementsTable;
  vouchers: VouchersTable;
  voucher_uses: VoucherUsesTable;
  reward_codes: RewardCodesTable;
  donations: DonationsTable;
}

export type RewardType =
  | "discount_amount"
  | "discount_percent"
  | "free_product"
  | "webshop_voucher"
  | "gift_card"
  | "partner_gift_card"
  | "experience"
  | "cashback"
  | "charity_donation"
  | "tier_upgrade";

export type LimitPeriod = "day" | "week" | "month" | "year";

export interface RewardsTable {
  id: string;
  program_id: string;
  type: RewardType;
  status: "active" | "archived";
  priority: number;
  benefit: unknown;
  points_cost: number;
  tier_costs: unknown;
  cash_minor: number;
  stock_remaining: number | null;
  limit_per_member: number | null;
  limit_per_period: number | null;
  limit_period: LimitPeriod | null;
  eligible_tier_codes: unknown;
  eligible_tags: unknown;
  available_from: Date | null;
  available_until: Date | null;
  voucher_valid_days: number | null;
  voucher_valid_until: Date | null;
  image_urls: unknown;
  texts: unknown;
  created_at: Date;
  updated_at: Date;
}

export interface CouponBatchesTable {
  id: string;
  program_id: string;
  reward_id: string;
  name: string;
  prefix: string;
  uses_max: number;
  codes_count: number;
  valid_from: Date | null;
  expires_at: Date | null;
  created_at: Date;
}

export interface StoredValueAccountsTable {
  id: string;
  program_id: string;
  kind: "gift_card" | "wallet";
  code: string | null;
  member_id: string | null;
  currency: string;
  balance_minor: number;
  created_at: Date;
  updated_at: Date;
}

export interface StoredValueMovementsTable {
  id: string;
  account_id: string;
  program_id: string;
  kind: "issue" | "cashback" | "charge" | "top_up";
  amount_minor: number;
  balance_after_minor: number;
  reference: string | null;
  voucher_id: string | null;
  created_at: Date;
}

export type VoucherState = "issued" | "reserved" | "used" | "expired" | "cancelled";

export interface VouchersTable {
  id: string;
  program_id: string;
  code: string;
  reward_id: string;
  member_id: string | null;
  batch_id: string | null;
  source: "redemption" | "campaign" | "coupon";
  mode: "direct" | "hold";
  state: VoucherState;
  points: number;
  cash_minor: number;
  entry_id: string | null;
  hold_id: string | null;
  campaign_id: string | null;
  source_transaction_id: string | null;
  source_activity_id: string | null;
  partner_code: string | null;
  stored_value_id: string | null;
  uses_max: number;
  uses_count: number;
  valid_from: Date | null;
  expires_at: Date | null;
  reserved_until: Date | null;
  reservation_reference: string | null;
  used_at: Date | null;
  cancelled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface VoucherUsesTable {
  voucher_id: string;
  program_id: string;
  reference: string;
  created_at: Date;
}

export interface RewardCodesTable {
  id: string;
  program_id: string;
  reward_id: string;
  code: string;
  voucher_id: string | null;
  created_at: Date;
}

export interface DonationsTable {
  id: string;
  program_id: string;
  reward_id: string;
  member_id: string;
  voucher_id: string;
  points: number;
  value_minor: number;
  month: string;
  created_at: Date;
}
