/** Row types of the tiers module's tables (migration 005), as the query layer sees them. */
export interface TiersTables {
  tier_ladders: TierLaddersTable;
  tiers: TiersTable;
  member_tiers: MemberTiersTable;
  tier_changes: TierChangesTable;
}

export interface TierLaddersTable {
  program_id: string;
  version: number;
  /** The ladder as saved (LadderInput), tiers carrying their ids. */
  definition: unknown;
  created_at: Date;
}

export interface TiersTable {
  id: string;
  program_id: string;
  code: string;
  created_at: Date;
}

export interface MemberTiersTable {
  member_id: string;
  program_id: string;
  tier_id: string | null;
  since: Date;
  period_end: Date | null;
  review_at: Date | null;
  updated_at: Date;
}

export interface TierChangesTable {
  id: string;
  program_id: string;
  member_id: string;
  from_tier_id: string | null;
  to_tier_id: string | null;
  reason: "threshold_crossed" | "period_end_downgrade" | "manual" | "reward";
  note: string | null;
  metric_value: number | null;
  created_at: Date;
}
