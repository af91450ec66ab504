-- Rewards: catalog, vouchers (redeemed rewards, campaign grants, coupon codes), partner code
-- pools, stored value (gift cards and member wallets) and donations. Money is in minor units of
-- the program's currency; points are integers.

create table rewards (
  id text primary key,
  program_id text not null references programs (id),
  type text not null check (type in ('discount_amount', 'discount_percent', 'free_product',
    'webshop_voucher', 'gift_card', 'partner_gift_card', 'experience', 'cashback',
    'charity_donation', 'tier_upgrade')),
  status text not null check (status in ('active', 'archived')),
  priority integer not null default 0,
  -- Type-specific terms (amount, percent and cap, SKU, tier, donation value...), validated by the API.
  benefit jsonb not null,
  points_cost bigint not null check (points_cost >= 0),
  -- Points by tier code, overriding points_cost for members of that tier.
  tier_costs jsonb not null default '{}',
  cash_minor bigint not null default 0 check (cash_minor >= 0),
  -- null = unlimited; decremented under the row's lock, so it never goes below zero.
  stock_remaining bigint check (stock_remaining >= 0),
  limit_per_member integer check (limit_per_member > 0),
  limit_per_period integer check (limit_per_period > 0),
  limit_period text check (limit_period in ('day', 'week', 'month', 'year')),
  eligible_tier_codes jsonb not null default '[]',
  eligible_tags jsonb not null default '[]',
  available_from timestamptz,
  available_until timestamptz,
  voucher_valid_days integer check (voucher_valid_days > 0),
  voucher_valid_until timestamptz,
  image_urls jsonb not null default '[]',
  texts jsonb not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check ((limit_per_period is null) = (limit_period is null))
);
create index rewards_program on rewards (program_id, id);

create table coupon_batches (
  id text primary key,
  program_id text not null references programs (id),
  reward_id text not null references rewards (id),
  name text not null,
  prefix text not null,
  uses_max integer not null check (uses_max > 0),
  codes_count integer not null check (codes_count >= 0),
  valid_from timestamptz,
  expires_at timestamptz,
  created_at timestamptz not null
);
create index coupon_batches_program on coupon_batches (program_id, id);

-- Stored value: a gift card (addressed by its code) or a member's wallet (cashback lands there).
create table stored_value_accounts (
  id text primary key,
  program_id text not null references programs (id),
  kind text not null check (kind in ('gift_card', 'wallet')),
  code text,
  member_id text references members (id),
  currency char(3) not null,
  balance_minor bigint not null check (balance_minor >= 0),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check ((kind = 'wallet') = (member_id is not null and code is null))
);
create unique index stored_value_accounts_code on stored_value_accounts (program_id, code)
  where code is not null;
create unique index stored_value_accounts_wallet on stored_value_accounts (program_id, member_id)
  where kind = 'wallet';

-- Append-only: balance_minor of the account = sum(amount_minor) of its movements.
create table stored_value_movements (
  id text primary key,
  account_id text not null references stored_value_accounts (id),
  program_id text not null,
  kind text not null check (kind in ('issue', 'cashback', 'charge', 'top_up')),
  amount_minor bigint not null check (amount_minor <> 0),
  balance_after_minor bigint not null check (balance_after_minor >= 0),
  reference text,
  voucher_id text,
  created_at timestamptz not null
);
create index stored_value_movements_account on stored_value_movements (account_id, id);

create table vouchers (
  id text primary key,
  program_id text not null references programs (id),
  code text not null,
  reward_id text not null references rewards (id),
  member_id text references members (id),
  batch_id text references coupon_batches (id),
  source text not null check (source in ('redemption', 'campaign', 'coupon')),
  mode text not null check (mode in ('direct', 'hold')),
  state text not null check (state in ('issued', 'reserved', 'used', 'expired', 'cancelled')),
  points bigint not null default 0 check (points >= 0),
  cash_minor bigint not null default 0 check (cash_minor >= 0),
  entry_id text,
  hold_id text,
  campaign_id text,
  source_transaction_id text,
  source_activity_id text,
  partner_code text,
  stored_value_id text references stored_value_accounts (id),
  uses_max integer not null default 1 check (uses_max > 0),
  uses_count integer not null default 0,
  valid_from timestamptz,
  expires_at timestamptz,
  reserved_until timestamptz,
  reservation_reference text,
  used_at timestamptz,
  cancelled_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  check (uses_count between 0 and uses_max)
);
create unique index vouchers_code on vouchers (program_id, code);
create index vouchers_member on vouchers (member_id, id) where member_id is not null;
create index vouchers_member_reward on vouchers (member_id, reward_id, created_at)
  where member_id is not null;
create index vouchers_batch on vouchers (batch_id, id) where batch_id is not null;
create index vouchers_expiry_due on vouchers (expires_at)
  where state in ('issued', 'reserved') and expires_at is not null;
create index vouchers_reservation_due on vouchers (reserved_until) where state = 'reserved';

-- One row per consumption: a retried consume with the same reference finds its row.
create table voucher_uses (
  voucher_id text not null references vouchers (id),
  program_id text not null,
  reference text not null,
  created_at timestamptz not null,
  primary key (voucher_id, reference)
);

-- Partner gift card codes: each redemption takes one unassigned code (for update skip locked).
create table reward_codes (
  id text primary key,
  program_id text not null,
  reward_id text not null references rewards (id),
  code text not null,
  voucher_id text references vouchers (id),
  created_at timestamptz not null
);
create unique index reward_codes_code on reward_codes (reward_id, code);
create index reward_codes_free on reward_codes (reward_id, id) where voucher_id is null;

create table donations (
  id text primary key,
  program_id text not null references programs (id),
  reward_id text not null references rewards (id),
  member_id text not null references members (id),
  voucher_id text not null references vouchers (id),
  points bigint not null,
  value_minor bigint not null check (value_minor >= 0),
  -- YYYY-MM in the program's time zone at the time of the donation.
  month text not null,
  created_at timestamptz not null
);
create index donations_program_month on donations (program_id, month, reward_id);
