-- Foundation: programs, API keys, members, the points ledger, purchases, idempotency, outbox.
-- Every program-scoped table carries program_id. Points and money are integers (bigint);
-- money is in minor units of the program's currency.

create table programs (
  id text primary key,
  name text not null,
  currency char(3) not null,
  timezone text not null,
  locale text not null check (locale in ('id', 'en')),
  earn_points integer not null check (earn_points >= 0),
  earn_amount_minor bigint not null check (earn_amount_minor > 0),
  earn_rounding text not null check (earn_rounding in ('floor', 'round', 'ceil')),
  expiry_kind text not null check (expiry_kind in ('none', 'months_after_earn', 'end_of_year')),
  expiry_value integer check (expiry_value is null or expiry_value > 0),
  returns_window_days integer not null check (returns_window_days between 0 and 365),
  refund_policy text not null check (refund_policy in ('allow_negative', 'forfeit')),
  hold_ttl_seconds integer not null check (hold_ttl_seconds between 10 and 86400),
  branding jsonb not null default '{}',
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create table api_keys (
  id text primary key,
  program_id text references programs (id),
  role text not null check (role in ('owner', 'admin', 'pos', 'read')),
  name text not null,
  secret_hash text not null unique,
  created_at timestamptz not null,
  expires_at timestamptz,
  revoked_at timestamptz,
  check ((role = 'owner') = (program_id is null))
);
create index api_keys_program on api_keys (program_id);

create table members (
  id text primary key,
  program_id text not null references programs (id),
  phone_e164 text,
  email text,
  card_number text not null,
  name text,
  birthday date,
  city text,
  gender text,
  age_band text,
  status text not null check (status in ('active', 'blocked')),
  blocked_reason text,
  terms_accepted_at timestamptz not null,
  consents jsonb not null,
  enrolled_channel text not null,
  enrolled_store_id text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index members_phone on members (program_id, phone_e164) where phone_e164 is not null;
create unique index members_email on members (program_id, email) where email is not null;
create unique index members_card on members (program_id, card_number);
create index members_program_id on members (program_id, id);

-- Cached balances, one row per member: the only row a ledger write locks.
-- available = sum of available lots' remaining points - debt; debt exists only when no lot is left.
create table member_balances (
  member_id text primary key references members (id),
  program_id text not null,
  pending bigint not null default 0 check (pending >= 0),
  available bigint not null default 0,
  held bigint not null default 0 check (held >= 0),
  debt bigint not null default 0 check (debt >= 0),
  earned_total bigint not null default 0,
  updated_at timestamptz not null,
  check (debt = 0 or available = -debt),
  check (available >= -debt)
);

create table journal_entries (
  id text primary key,
  program_id text not null references programs (id),
  kind text not null,
  member_id text,
  transaction_id text,
  refund_id text,
  hold_id text,
  reason text,
  created_at timestamptz not null
);
create index journal_entries_member on journal_entries (member_id, id);
create index journal_entries_program on journal_entries (program_id, id);

-- Double entry: the postings of one entry sum to zero. Member accounts carry member_id;
-- program accounts (program:issued, program:redeemed, ...) are never cached, so they are never a
-- hot locked row: their balances are sums over this table.
create table postings (
  id bigserial primary key,
  entry_id text not null references journal_entries (id),
  program_id text not null,
  account text not null,
  member_id text,
  points bigint not null check (points <> 0),
  check ((account like 'member:%') = (member_id is not null))
);
create index postings_entry on postings (entry_id);
create index postings_member on postings (member_id) where member_id is not null;
create index postings_program_account on postings (program_id, account);

-- Earn lots: each grant of points with its own expiry; spending takes the lot expiring first.
create table point_lots (
  id text primary key,
  program_id text not null,
  member_id text not null references members (id),
  entry_id text not null references journal_entries (id),
  transaction_id text,
  source text not null,
  state text not null check (state in ('pending', 'available', 'expired', 'reversed')),
  points_original bigint not null check (points_original > 0),
  points_remaining bigint not null check (points_remaining between 0 and points_original),
  available_at timestamptz not null,
  expires_at timestamptz,
  created_at timestamptz not null
);
create index point_lots_member_spend on point_lots (member_id, expires_at, id)
  where state = 'available' and points_remaining > 0;
create index point_lots_release_due on point_lots (available_at) where state = 'pending';
create index point_lots_expiry_due on point_lots (expires_at)
  where state = 'available' and points_remaining > 0 and expires_at is not null;
create index point_lots_transaction on point_lots (transaction_id) where transaction_id is not null;

-- Every change of a lot's remaining points, so remaining = original + sum(movements) is checkable.
create table lot_movements (
  id bigserial primary key,
  entry_id text not null references journal_entries (id),
  lot_id text not null references point_lots (id),
  program_id text not null,
  points bigint not null check (points <> 0)
);
create index lot_movements_lot on lot_movements (lot_id);
create index lot_movements_entry on lot_movements (entry_id);

create table holds (
  id text primary key,
  program_id text not null,
  member_id text not null references members (id),
  points bigint not null check (points > 0),
  state text not null check (state in ('active', 'confirmed', 'cancelled', 'expired')),
  reference text,
  entry_id text not null references journal_entries (id),
  expires_at timestamptz not null,
  created_at timestamptz not null,
  settled_at timestamptz
);
create index holds_member on holds (member_id, id);
create index holds_expiry_due on holds (expires_at) where state = 'active';

create table transactions (
  id text primary key,
  program_id text not null references programs (id),
  member_id text references members (id),
  store_id text not null,
  external_id text not null,
  channel text not null check (channel in ('pos', 'online', 'app')),
  occurred_at timestamptz not null,
  currency char(3) not null,
  total_minor bigint not null check (total_minor >= 0),
  refunded_minor bigint not null default 0 check (refunded_minor between 0 and total_minor),
  points_earned bigint not null default 0,
  points_reversed bigint not null default 0,
  request_hash text not null,
  result jsonb,
  created_at timestamptz not null
);
create unique index transactions_natural_key on transactions (program_id, store_id, external_id);
create index transactions_member on transactions (member_id, occurred_at);
create index transactions_program on transactions (program_id, id);

create table transaction_lines (
  transaction_id text not null references transactions (id),
  line_no integer not null,
  program_id text not null,
  sku text not null,
  category text,
  quantity numeric(14, 3) not null check (quantity > 0),
  unit_price_minor bigint not null check (unit_price_minor >= 0),
  amount_minor bigint not null check (amount_minor >= 0),
  refunded_quantity numeric(14, 3) not null default 0,
  primary key (transaction_id, line_no),
  check (refunded_quantity between 0 and quantity)
);

create table refunds (
  id text primary key,
  program_id text not null,
  transaction_id text not null references transactions (id),
  store_id text not null,
  external_id text not null,
  amount_minor bigint not null check (amount_minor > 0),
  points_reversed bigint not null,
  points_forfeited bigint not null default 0,
  request_hash text not null,
  result jsonb,
  created_at timestamptz not null
);
create unique index refunds_natural_key on refunds (program_id, store_id, external_id);
create index refunds_transaction on refunds (transaction_id);

-- Idempotency-Key records: the response is stored in the same database transaction as the write.
create table idempotency_keys (
  scope text not null,
  key text not null,
  request_hash text not null,
  state text not null check (state in ('in_progress', 'done')),
  lease_token text,
  lease_until timestamptz,
  response_status integer,
  response_body jsonb,
  created_at timestamptz not null,
  primary key (scope, key)
);
create index idempotency_keys_created on idempotency_keys (created_at);

-- Transactional outbox: events written with the change they describe, read after commit.
create table outbox_events (
  seq bigserial primary key,
  id text not null unique,
  program_id text,
  type text not null,
  payload jsonb not null,
  created_at timestamptz not null
);
create index outbox_events_program on outbox_events (program_id, seq);
