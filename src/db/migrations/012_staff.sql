-- Staff accounts, their sessions and invitations; member portal sign-in codes and sessions;
-- program branding; failure counters for sign-in backoff (docs/decisions/0041-0044).

create table staff_accounts (
  id text primary key,
  email text not null,
  display_name text not null,
  password_hash text not null,
  totp_secret text,
  totp_enabled_at timestamptz,
  -- Last TOTP time step accepted: a code is never accepted twice.
  totp_last_step bigint,
  disabled_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index staff_accounts_email on staff_accounts (email);

-- One role per program; program_id '' is the deployment (every program), kept non-null so the
-- primary key works alike on both databases.
create table staff_memberships (
  staff_id text not null references staff_accounts (id),
  program_id text not null,
  role text not null check (role in ('owner', 'admin', 'marketer', 'analyst', 'support', 'cashier')),
  store_ids text[] not null default '{}',
  created_at timestamptz not null,
  primary key (staff_id, program_id)
);
create index staff_memberships_program on staff_memberships (program_id);

create table staff_invitations (
  id text primary key,
  token_hash text not null unique,
  email text not null,
  program_id text not null,
  role text not null,
  store_ids text[] not null default '{}',
  invited_by text not null,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  created_at timestamptz not null
);

create table staff_recovery_codes (
  staff_id text not null references staff_accounts (id),
  code_hash text not null,
  used_at timestamptz,
  primary key (staff_id, code_hash)
);

-- Sessions of staff and of members; the cookie holds a random token, the table its SHA-256.
create table web_sessions (
  id text primary key,
  kind text not null check (kind in ('staff', 'member')),
  token_hash text not null unique,
  csrf_hash text not null,
  subject_id text not null,
  program_id text,
  -- 'partial' sessions only finish a two-factor sign-in.
  stage text not null check (stage in ('partial', 'full')),
  created_at timestamptz not null,
  last_seen_at timestamptz not null,
  expires_at timestamptz not null,
  ended_at timestamptz
);
create index web_sessions_subject on web_sessions (kind, subject_id) where ended_at is null;

create table portal_codes (
  id text primary key,
  program_id text not null,
  identifier_hash text not null,
  member_id text,
  code_hash text not null,
  attempts integer not null default 0,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null
);
create index portal_codes_identifier on portal_codes (program_id, identifier_hash, created_at);

-- Sign-in failures per account, identifier or client address, for lockout and backoff.
create table auth_failures (
  key text primary key,
  failures integer not null,
  window_started_at timestamptz not null,
  locked_until timestamptz
);

create table program_branding (
  program_id text primary key,
  display_name text,
  colors jsonb not null default '{}',
  tone text not null default 'friendly',
  locale text,
  logo bytea,
  logo_type text,
  updated_at timestamptz not null
);
