-- Referrals (P8): settings per program, one code per member, and every referral attempt with its
-- outcome. Rejected attempts are kept with their reason so fraud can be reviewed.
create table referral_settings (
  program_id text primary key references programs (id),
  enabled boolean not null,
  referrer_points integer not null check (referrer_points >= 0),
  referee_points integer not null check (referee_points >= 0),
  qualifying_total_minor bigint not null check (qualifying_total_minor >= 0),
  per_referrer_month_max integer check (per_referrer_month_max > 0),
  per_referrer_total_max integer check (per_referrer_total_max > 0),
  share_base_url text,
  updated_at timestamptz not null
);

create table referral_codes (
  program_id text not null references programs (id),
  member_id text not null references members (id),
  code text not null,
  created_at timestamptz not null,
  primary key (member_id),
  unique (program_id, code)
);

-- Device fingerprints seen at enrolment, hashed: only compared, never shown.
create table referral_devices (
  program_id text not null references programs (id),
  member_id text not null references members (id),
  fingerprint_hash text not null,
  created_at timestamptz not null,
  primary key (member_id, fingerprint_hash)
);
create index referral_devices_hash on referral_devices (program_id, fingerprint_hash);

create table referrals (
  id text primary key,
  program_id text not null references programs (id),
  code text not null,
  referrer_member_id text references members (id),
  referee_member_id text not null references members (id),
  status text not null check (status in ('pending', 'completed', 'rejected')),
  reason text,
  source text not null check (source in ('enrolment', 'claim')),
  qualifying_transaction_id text references transactions (id),
  -- The terms promised when the referral was accepted; later settings changes do not alter them.
  referrer_points integer not null,
  referee_points integer not null,
  qualifying_total_minor bigint not null,
  created_at timestamptz not null,
  completed_at timestamptz
);
-- A member is referred at most once; rejected attempts do not count.
create unique index referrals_referee on referrals (referee_member_id) where status <> 'rejected';
create index referrals_referrer on referrals (referrer_member_id, created_at) where status <> 'rejected';
create index referrals_pending on referrals (id) where status = 'pending';
create index referrals_program_status on referrals (program_id, status, id);
