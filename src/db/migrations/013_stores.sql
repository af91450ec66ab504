-- The stores a program registers (shops, web shop, app), keyed by the code purchases already
-- carry as store_id: nothing recorded changes meaning, and codes not registered keep working
-- (docs/decisions/0050).
create table stores (
  program_id text not null references programs (id),
  code text not null,
  name text not null,
  city text,
  address text,
  -- IANA name; null: the program's time zone.
  timezone text,
  channel text not null check (channel in ('pos', 'webshop', 'mobile')),
  status text not null check (status in ('active', 'closed')),
  -- Hash of the create request: the same code sent again with the same content is a replay.
  request_hash text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (program_id, code)
);

-- Per-store figures over the last days: one index range per store (docs/decisions/0051).
create index transactions_store_time on transactions (program_id, store_id, occurred_at);
