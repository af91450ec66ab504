-- Staff hardening: TOTP secrets encrypted at rest, password reset links, indexes for the cleanup
-- job (docs/decisions/0055-0057).

-- TOTP secrets move to an encrypted column ("<key id>:<base64>", AES-256-GCM under the members'
-- data keyring). SQL holds no keys, so secrets stored in clear wait in a side table until the
-- platform encrypts them at start and deletes them (as members' data did in migration 010).
alter table staff_accounts add column totp_secret_enc text;
create table staff_totp_plaintext_legacy (
  staff_id text primary key references staff_accounts (id),
  totp_secret text not null
);
insert into staff_totp_plaintext_legacy (staff_id, totp_secret)
  select id, totp_secret from staff_accounts where totp_secret is not null;
alter table staff_accounts drop column totp_secret;

-- Single-use password reset links; the table holds the SHA-256 of the token.
create table staff_password_resets (
  id text primary key,
  token_hash text not null unique,
  -- Null when the email named no active account: the row is written anyway, so a request for an
  -- unknown address does the same work as one for a real account.
  staff_id text references staff_accounts (id),
  -- The staff account or API key that sent the link; null for a self-service request.
  requested_by text,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null
);
create index staff_password_resets_open on staff_password_resets (staff_id) where used_at is null;

-- The cleanup job deletes dead sessions by these two conditions without scanning live ones.
create index web_sessions_expires on web_sessions (expires_at);
create index web_sessions_ended on web_sessions (ended_at) where ended_at is not null;
