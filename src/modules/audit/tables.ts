import type { Generated } from "kysely";

/** Row types of the audit and abuse modules' tables (migration 011), as the query layer sees them. */
export interface AuditTables {
  audit_actions: AuditActionsTable;
  audit_chain: AuditChainTable;
  audit_checkpoints: AuditCheckpointsTable;
  velocity_rules: VelocityRulesTable;
  velocity_events: VelocityEventsTable;
  velocity_blocks: VelocityBlocksTable;
  abuse_settings: AbuseSettingsTable;
  adjustment_requests: AdjustmentRequestsTable;
}

export interface AuditActionsTable {
  id: string;
  program_id: string | null;
  actor_type: string;
  actor_id: string;
  actor_role: string;
  action: string;
  subject: unknown;
  details: unknown;
  request_id: string | null;
  created_at: Date;
  /** xid8, read as text; filled by the database. */
  xact_id: Generated<string>;
}

export type ChainSource = "journal_entry" | "audit_action";

export interface AuditChainTable {
  seq: number;
  source: ChainSource;
  source_id: string;
  program_id: string | null;
  xact_id: string;
  content_hash: string;
  prev_hash: string;
  hash: string;
  chained_at: Date;
}

export interface AuditCheckpointsTable {
  seq: number;
  hash: string;
  signed_at: Date;
  public_key: string;
  signature: string;
}

export type VelocityAction = "redeem" | "transfer" | "referral" | "signup_bonus";
export type VelocityScope = "member" | "device" | "ip";

export interface VelocityRulesTable {
  id: string;
  program_id: string;
  action: VelocityAction;
  scope: VelocityScope;
  count_max: number | null;
  points_max: number | null;
  window_seconds: number;
  created_at: Date;
}

export interface VelocityEventsTable {
  id: Generated<number>;
  program_id: string;
  action: VelocityAction;
  member_id: string;
  device_id: string | null;
  ip: string | null;
  points: number;
  occurred_at: Date;
}

export interface VelocityBlocksTable {
  id: string;
  program_id: string;
  rule_id: string;
  action: VelocityAction;
  scope: VelocityScope;
  member_id: string;
  device_id: string | null;
  ip: string | null;
  points: number;
  count_in_window: number;
  points_in_window: number;
  request_id: string | null;
  created_at: Date;
}

export interface AbuseSettingsTable {
  program_id: string;
  adjustment_approval_points: number | null;
  updated_at: Date;
}

export interface AdjustmentRequestsTable {
  id: string;
  program_id: string;
  member_id: string;
  points: number;
  reason: string;
  expiry: "program" | "never" | "at";
  expires_at: Date | null;
  state: "pending" | "approved" | "rejected";
  requested_by: string;
  decided_by: string | null;
  decided_at: Date | null;
  note: string | null;
  entry_id: string | null;
  created_at: Date;
}
