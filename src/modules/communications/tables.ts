import type { Generated } from "kysely";

/** Row types of the communications module's tables (migration 009), as the query layer sees them. */
export interface CommunicationsTables {
  comm_settings: CommSettingsTable;
  message_templates: MessageTemplatesTable;
  comm_member_prefs: CommMemberPrefsTable;
  push_subscriptions: PushSubscriptionsTable;
  comm_messages: CommMessagesTable;
  comm_outbox_cursor: CommOutboxCursorTable;
  comm_scans: CommScansTable;
  comm_keys: CommKeysTable;
}

export interface CommSettingsTable {
  program_id: string;
  settings: unknown;
  updated_at: Date;
}

export interface MessageTemplatesTable {
  id: string;
  program_id: string;
  trigger: string;
  locale: "id" | "en";
  tone: "any" | "friendly" | "formal";
  subject: string;
  body: string;
  created_at: Date;
  updated_at: Date;
}

export interface CommMemberPrefsTable {
  member_id: string;
  program_id: string;
  locale: "id" | "en";
  updated_at: Date;
}

export interface PushSubscriptionsTable {
  id: string;
  program_id: string;
  member_id: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  created_at: Date;
}

export type MessageState = "queued" | "deferred" | "sending" | "sent" | "failed" | "suppressed";
export type MessageChannel = "email" | "sms" | "whatsapp" | "push";
export type MessageCategory = "security" | "service" | "marketing";

export interface CommMessagesTable {
  id: string;
  program_id: string;
  member_id: string;
  trigger: string;
  channel: MessageChannel;
  category: MessageCategory;
  state: MessageState;
  reason: string | null;
  variables: unknown;
  secret: string | null;
  dedupe_key: string | null;
  attempts: Generated<number>;
  next_attempt_at: Date;
  subject: string | null;
  provider_message_id: string | null;
  sent_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface CommOutboxCursorTable {
  name: string;
  txid: string;
  seq: number;
}

export interface CommScansTable {
  program_id: string;
  scan: string;
  last_day: string;
}

export interface CommKeysTable {
  name: string;
  value: unknown;
  created_at: Date;
}
