-- Audit: a hash chain over every journal entry and every admin action, with signed checkpoints.
-- Abuse: velocity rules per program, blocked attempts, second approver for large adjustments.

-- The writing transaction's id gives a commit-safe order: every row whose transaction id is below
-- the oldest running transaction (pg_snapshot_xmin) is committed or gone, so the chainer never
-- skips a row that commits late. The default fills it; no ledger code changes.
alter table journal_entries add column xact_id xid8 not null default pg_current_xact_id();
create index journal_entries_xact on journal_entries (xact_id, id);

-- Admin actions, written in the same transaction as the action (who, which route, what it did).
create table audit_actions (
  id text primary key,
  program_id text,
  actor_type text not null,
  actor_id text not null,
  actor_role text not null,
  action text not null,
  subject jsonb not null,
  details jsonb not null,
  request_id text,
  created_at timestamptz not null,
  xact_id xid8 not null default pg_current_xact_id()
);
create index audit_actions_xact on audit_actions (xact_id, id);
create index audit_actions_program on audit_actions (program_id, id);

-- The chain: one row per chained record, appended by a single writer (advisory lock).
-- hash = SHA-256 over (seq, prev_hash, source, source_id, program_id, content_hash).
create table audit_chain (
  seq bigint primary key check (seq > 0),
  source text not null check (source in ('journal_entry', 'audit_action')),
  source_id text not null,
  program_id text,
  xact_id xid8 not null,
  content_hash text not null,
  prev_hash text not null,
  hash text not null,
  chained_at timestamptz not null,
  unique (source, source_id)
);
create index audit_chain_source on audit_chain (source, seq);

-- Ed25519 signatures over (seq, hash, signed_at) of the chain head.
create table audit_checkpoints (
  seq bigint primary key references audit_chain (seq),
  hash text not null,
  signed_at timestamptz not null,
  public_key text not null,
  signature text not null
);

create table velocity_rules (
  id text primary key,
  program_id text not null references programs (id),
  action text not null check (action in ('redeem', 'transfer', 'referral', 'signup_bonus')),
  scope text not null check (scope in ('member', 'device', 'ip')),
  count_max integer check (count_max > 0),
  points_max bigint check (points_max > 0),
  window_seconds integer not null check (window_seconds between 60 and 31622400),
  created_at timestamptz not null,
  check (count_max is not null or points_max is not null)
);
create index velocity_rules_program on velocity_rules (program_id, action);

-- Allowed actions that a rule counts; written only while the program has a rule for the action.
create table velocity_events (
  id bigserial primary key,
  program_id text not null,
  action text not null,
  member_id text not null,
  device_id text,
  ip text,
  points bigint not null check (points >= 0),
  occurred_at timestamptz not null
);
create index velocity_events_member on velocity_events (member_id, action, occurred_at);
create index velocity_events_device on velocity_events (program_id, action, device_id, occurred_at)
  where device_id is not null;
create index velocity_events_ip on velocity_events (program_id, action, ip, occurred_at)
  where ip is not null;

-- Refused attempts, for staff: written after the refused transaction rolled back.
create table velocity_blocks (
  id text primary key,
  program_id text not null,
  rule_id text not null,
  action text not null,
  scope text not null,
  member_id text not null,
  device_id text,
  ip text,
  points bigint not null,
  count_in_window integer not null,
  points_in_window bigint not null,
  request_id text,
  created_at timestamptz not null
);
create index velocity_blocks_program on velocity_blocks (program_id, id);

create table abuse_settings (
  program_id text primary key references programs (id),
  adjustment_approval_points bigint check (adjustment_approval_points > 0),
  updated_at timestamptz not null
);

-- Manual adjustments above the program's threshold wait here for a second admin.
create table adjustment_requests (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null references members (id),
  points bigint not null check (points <> 0),
  reason text not null,
  expiry text not null check (expiry in ('program', 'never', 'at')),
  expires_at timestamptz,
  state text not null check (state in ('pending', 'approved', 'rejected')),
  requested_by text not null,
  decided_by text,
  decided_at timestamptz,
  note text,
  entry_id text references journal_entries (id),
  created_at timestamptz not null,
  check ((expiry = 'at') = (expires_at is not null))
);
create index adjustment_requests_program on adjustment_requests (program_id, state, id);
