-- Tiers: a versioned ladder per program, each member's current tier and every change of it.
-- Qualification is never stored: it is recomputed from transactions and refunds when needed.

-- Every saved ladder is kept; the highest version is the one in force.
create table tier_ladders (
  program_id text not null references programs (id),
  version integer not null check (version > 0),
  definition jsonb not null,
  created_at timestamptz not null,
  primary key (program_id, version)
);

-- A tier's stable identity: the same code keeps its id across ladder versions.
create table tiers (
  id text primary key,
  program_id text not null references programs (id),
  code text not null,
  created_at timestamptz not null
);
create unique index tiers_program_code on tiers (program_id, code);

-- One row per member that ever held a tier; tier_id null = no tier any more.
-- review_at = period_end + the ladder's grace period: when the scheduled review is due.
create table member_tiers (
  member_id text primary key references members (id),
  program_id text not null references programs (id),
  tier_id text references tiers (id),
  since timestamptz not null,
  period_end timestamptz,
  review_at timestamptz,
  updated_at timestamptz not null,
  check ((period_end is null) = (review_at is null))
);
create index member_tiers_review_due on member_tiers (review_at, member_id)
  where review_at is not null;
create index member_tiers_program_tier on member_tiers (program_id, tier_id);

create table tier_changes (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null references members (id),
  from_tier_id text references tiers (id),
  to_tier_id text references tiers (id),
  reason text not null
    check (reason in ('threshold_crossed', 'period_end_downgrade', 'manual', 'reward')),
  note text,
  metric_value bigint,
  created_at timestamptz not null
);
create index tier_changes_member on tier_changes (member_id, id);
