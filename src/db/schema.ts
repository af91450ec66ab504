import type { Generated } from "kysely";
import type { AuditTables } from "../modules/audit/tables.ts";
import type { CommunicationsTables } from "../modules/communications/tables.ts";
import type { MembersTables } from "../modules/members/tables.ts";
import type { PrivacyTables } from "../modules/privacy/tables.ts";
import type { ReferralsTables } from "../modules/referrals/tables.ts";
import type { RewardsTables } from "../modules/rewards/tables.ts";
import type { RulesTables } from "../modules/rules/tables.ts";
import type { StaffTables } from "../modules/staff/tables.ts";
import type { StoresTables } from "../modules/stores/tables.ts";
import type { TiersTables } from "../modules/tiers/tables.ts";
import type { WebhooksTables } from "../modules/webhooks/tables.ts";

/** Row types of the tables in migrations/, as the query layer sees them (bigint read as number). */
/** Each module declares its own tables in src/modules/<module>/tables.ts. */
export interface Database
  extends RulesTables,
    TiersTables,
    RewardsTables,
    ReferralsTables,
    WebhooksTables,
    CommunicationsTables,
    PrivacyTables,
    AuditTables,
    StaffTables,
    MembersTables,
    StoresTables {
  programs: ProgramsTable;
  api_keys: ApiKeysTable;
  members: MemberRecordsTable;
  member_balances: MemberBalancesTable;
  journal_entries: JournalEntriesTable;
  postings: PostingsTable;
  point_lots: PointLotsTable;
  lot_movements: LotMovementsTable;
  holds: HoldsTable;
  transactions: TransactionsTable;
  transaction_lines: TransactionLinesTable;
  refunds: RefundsTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox_events: OutboxEventsTable;
  schema_migrations: SchemaMigrationsTable;
}

export interface ProgramsTable {
  id: string;
  name: string;
  currency: string;
  timezone: string;
  locale: string;
  earn_points: number;
  earn_amount_minor: number;
  earn_rounding: "floor" | "round" | "ceil";
  expiry_kind: "none" | "months_after_earn" | "end_of_year";
  expiry_value: number | null;
  returns_window_days: number;
  refund_policy: "allow_negative" | "forfeit";
  hold_ttl_seconds: number;
  branding: unknown;
  created_at: Date;
  updated_at: Date;
}

export interface ApiKeysTable {
  id: string;
  program_id: string | null;
  role: "owner" | "admin" | "pos" | "read";
  name: string;
  secret_hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

export interface MembersTable {
  id: string;
  program_id: string;
  phone_e164: string | null;
  email: string | null;
  card_number: string;
  name: string | null;
  birthday: string | null;
  city: string | null;
  gender: string | null;
  age_band: string | null;
  /** Segments for earning rules, lowercased (migration 004). */
  tags: string[];
  status: "active" | "blocked" | "erased";
  blocked_reason: string | null;
  terms_accepted_at: Date;
  consents: unknown;
  enrolled_channel: string;
  enrolled_store_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * A members row as stored: phone, email, name and birthday encrypted, with blind indexes for
 * look-up (migration 010). Modules read members through src/modules/members, which decrypts to
 * MembersTable.
 */
export interface MemberRecordsTable
  extends Omit<MembersTable, "phone_e164" | "email" | "name" | "birthday"> {
  phone_enc: string | null;
  email_enc: string | null;
  name_enc: string | null;
  birthday_enc: string | null;
  data_key_id: string | null;
  phone_bidx: string | null;
  email_bidx: string | null;
  /** HMAC of the birthday's "MM-DD" (migration 015). */
  birthday_bidx: string | null;
  /** Index key and token scheme of the row's indexes; stale rows are rebuilt at start. */
  index_version: string | null;
}

export interface MemberBalancesTable {
  member_id: string;
  program_id: string;
  pending: Generated<number>;
  available: Generated<number>;
  held: Generated<number>;
  debt: Generated<number>;
  earned_total: Generated<number>;
  updated_at: Date;
}

export interface JournalEntriesTable {
  id: string;
  program_id: string;
  kind: string;
  member_id: string | null;
  transaction_id: string | null;
  refund_id: string | null;
  hold_id: string | null;
  reason: string | null;
  created_at: Date;
}

export interface PostingsTable {
  id: Generated<number>;
  entry_id: string;
  program_id: string;
  account: string;
  member_id: string | null;
  points: number;
}

export interface PointLotsTable {
  id: string;
  program_id: string;
  member_id: string;
  entry_id: string;
  transaction_id: string | null;
  source: string;
  state: "pending" | "available" | "expired" | "reversed";
  points_original: number;
  points_remaining: number;
  available_at: Date;
  expires_at: Date | null;
  created_at: Date;
}

export interface LotMovementsTable {
  id: Generated<number>;
  entry_id: string;
  lot_id: string;
  program_id: string;
  points: number;
}

export interface HoldsTable {
  id: string;
  program_id: string;
  member_id: string;
  points: number;
  state: "active" | "confirmed" | "cancelled" | "expired";
  reference: string | null;
  entry_id: string;
  expires_at: Date;
  created_at: Date;
  settled_at: Date | null;
}

export interface TransactionsTable {
  id: string;
  program_id: string;
  member_id: string | null;
  store_id: string;
  external_id: string;
  channel: "pos" | "online" | "app";
  occurred_at: Date;
  currency: string;
  total_minor: number;
  refunded_minor: Generated<number>;
  points_earned: Generated<number>;
  points_reversed: Generated<number>;
  /** Points of the purchase's expired lot that refunds moved back from program:expired. */
  points_expired_reversed: Generated<number>;
  request_hash: string;
  result: unknown;
  created_at: Date;
}

export interface TransactionLinesTable {
  transaction_id: string;
  line_no: number;
  program_id: string;
  sku: string;
  category: string | null;
  quantity: string;
  unit_price_minor: number;
  amount_minor: number;
  refunded_quantity: Generated<string>;
  /** Rules facts and per-line points (migration 004); points_earned null on older lines. */
  brand: string | null;
  kind: Generated<"product" | "reward">;
  points_earned: number | null;
  points_reversed: Generated<number>;
}

export interface RefundsTable {
  id: string;
  program_id: string;
  transaction_id: string;
  store_id: string;
  external_id: string;
  amount_minor: number;
  points_reversed: number;
  points_forfeited: Generated<number>;
  points_already_expired: Generated<number>;
  request_hash: string;
  result: unknown;
  created_at: Date;
}

export interface IdempotencyKeysTable {
  scope: string;
  key: string;
  request_hash: string;
  state: "in_progress" | "done";
  lease_token: string | null;
  lease_until: Date | null;
  response_status: number | null;
  response_body: unknown;
  created_at: Date;
}

export interface OutboxEventsTable {
  seq: Generated<number>;
  id: string;
  program_id: string | null;
  type: string;
  payload: unknown;
  created_at: Date;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Date;
}
