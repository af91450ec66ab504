/** Row types of the rules module's tables (migration 004), as the query layer sees them. */
export interface RulesTables {
  campaigns: CampaignsTable;
  campaign_versions: CampaignVersionsTable;
  campaign_budgets: CampaignBudgetsTable;
  campaign_member_usage: CampaignMemberUsageTable;
  activity_types: ActivityTypesTable;
  activities: ActivitiesTable;
}

export type CampaignStatus = "draft" | "active" | "paused" | "ended";

export interface CampaignsTable {
  id: string;
  program_id: string;
  status: CampaignStatus;
  version: number;
  /** CampaignDefinition as JSON. */
  definition: unknown;
  created_at: Date;
  updated_at: Date;
}

export interface CampaignVersionsTable {
  campaign_id: string;
  version: number;
  program_id: string;
  status: CampaignStatus;
  definition: unknown;
  changed_by: string | null;
  change: string;
  created_at: Date;
}

export interface CampaignBudgetsTable {
  campaign_id: string;
  program_id: string;
  points_max: number;
  points_used: number;
  updated_at: Date;
}

export interface CampaignMemberUsageTable {
  campaign_id: string;
  member_id: string;
  period_key: string;
  program_id: string;
  points: number;
}

export interface ActivityTypesTable {
  program_id: string;
  code: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface ActivitiesTable {
  id: string;
  program_id: string;
  member_id: string;
  type: string;
  external_id: string;
  occurred_at: Date;
  attributes: unknown;
  points: number;
  entry_id: string | null;
  request_hash: string;
  result: unknown;
  created_at: Date;
}
