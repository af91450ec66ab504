/** Row types of the webhooks module's tables (migration 008), as the query layer sees them. */
export interface WebhooksTables {
  webhook_endpoints: WebhookEndpointsTable;
  webhook_fanout_cursor: WebhookFanoutCursorTable;
  webhook_messages: WebhookMessagesTable;
  webhook_attempts: WebhookAttemptsTable;
}

export interface WebhookEndpointsTable {
  id: string;
  program_id: string;
  url: string;
  description: string | null;
  event_types: string[];
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  status: "enabled" | "disabled";
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface WebhookFanoutCursorTable {
  id: number;
  /** xid8, read and written as text. */
  txid: string;
  seq: number;
}

export interface WebhookMessagesTable {
  id: string;
  program_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  body: string;
  state: "pending" | "delivered" | "failed";
  attempts: number;
  next_attempt_at: Date;
  lease_token: string | null;
  lease_until: Date | null;
  event_created_at: Date;
  created_at: Date;
  delivered_at: Date | null;
}

export interface WebhookAttemptsTable {
  id: string;
  program_id: string;
  endpoint_id: string;
  message_id: string;
  event_type: string;
  url: string;
  started_at: Date;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
  outcome: "succeeded" | "failed";
}
