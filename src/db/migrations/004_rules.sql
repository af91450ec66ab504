-- Earning rules: campaigns (versioned definitions), their budgets and per-member cap counters,
-- activities (non-purchase events) and custom activity types; member tags; per-line points.

alter table members add column tags text[] not null default '{}';

-- Line facts the rules look at, and the points each line earned, so a refund by lines takes
-- back exactly those. points_earned is null on lines recorded before this migration.
alter table transaction_lines
  add column brand text,
  add column kind text not null default 'product' check (kind in ('product', 'reward')),
  add column points_earned bigint,
  add column points_reversed bigint not null default 0;

create table campaigns (
  id text primary key,
  program_id text not null references programs (id),
  status text not null check (status in ('draft', 'active', 'paused', 'ended')),
  version integer not null check (version > 0),
  definition jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index campaigns_program on campaigns (program_id, id);
create index campaigns_program_active on campaigns (program_id) where status = 'active';

-- Every change stores the full definition: what the campaign was at any time, and who changed it.
create table campaign_versions (
  campaign_id text not null references campaigns (id),
  version integer not null,
  program_id text not null,
  status text not null,
  definition jsonb not null,
  changed_by text,
  change text not null,
  created_at timestamptz not null,
  primary key (campaign_id, version)
);

-- The one row a budgeted campaign's earns lock (after the members, in campaign id order).
create table campaign_budgets (
  campaign_id text primary key references campaigns (id),
  program_id text not null,
  points_max bigint not null check (points_max > 0),
  points_used bigint not null default 0 check (points_used >= 0 and points_used <= points_max),
  updated_at timestamptz not null
);

-- Points a member got from a campaign per cap period (d:YYYY-MM-DD, w:YYYY-Www, m:YYYY-MM, c);
-- written under the member's lock.
create table campaign_member_usage (
  campaign_id text not null references campaigns (id),
  member_id text not null references members (id),
  period_key text not null,
  program_id text not null,
  points bigint not null check (points >= 0),
  primary key (member_id, campaign_id, period_key)
);

create table activity_types (
  program_id text not null references programs (id),
  code text not null,
  name text not null,
  description text,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (program_id, code)
);

create table activities (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null references members (id),
  type text not null,
  external_id text not null,
  occurred_at timestamptz not null,
  attributes jsonb not null,
  points bigint not null,
  entry_id text,
  request_hash text not null,
  result jsonb not null,
  created_at timestamptz not null
);
create unique index activities_natural_key on activities (program_id, member_id, type, external_id);
create index activities_member on activities (member_id, id);
