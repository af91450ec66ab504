-- Outbound webhooks: endpoints per program, one message per (endpoint, event), a log of attempts.
-- The outbox gains the id of the transaction that wrote each event, so the fan-out can read
-- events in an order in which no earlier one can still appear (see decision 0030).

alter table outbox_events add column txid xid8;
alter table outbox_events alter column txid set default pg_current_xact_id();
-- Events written before this migration have no txid: they are never delivered.
create index outbox_events_txid on outbox_events (txid, seq) where txid is not null;

create table webhook_endpoints (
  id text primary key,
  program_id text not null references programs (id),
  url text not null,
  description text,
  event_types text[] not null,
  -- Needed in clear to sign; rotation keeps the previous secret valid until previous_secret_until.
  secret text not null,
  previous_secret text,
  previous_secret_until timestamptz,
  status text not null check (status in ('enabled', 'disabled')),
  disabled_reason text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index webhook_endpoints_program on webhook_endpoints (program_id, id);

-- Where the fan-out stands in the outbox: (txid, seq) of the last event handled. One row.
create table webhook_fanout_cursor (
  id integer primary key check (id = 1),
  txid xid8 not null,
  seq bigint not null
);
insert into webhook_fanout_cursor (id, txid, seq) values (1, '0', 0);

create table webhook_messages (
  id text primary key,
  program_id text not null,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  event_id text not null,
  event_type text not null,
  body text not null,
  state text not null check (state in ('pending', 'delivered', 'failed')),
  -- Attempts of the current round (a replay starts a new round); picks the next retry delay.
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  lease_token text,
  lease_until timestamptz,
  event_created_at timestamptz not null,
  created_at timestamptz not null,
  delivered_at timestamptz,
  -- The natural key: an event reaches an endpoint through one message, however often it is fanned out.
  unique (endpoint_id, event_id)
);
create index webhook_messages_due on webhook_messages (next_attempt_at) where state = 'pending';
create index webhook_messages_endpoint on webhook_messages (endpoint_id, event_created_at);

create table webhook_attempts (
  id text primary key,
  program_id text not null,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  message_id text not null references webhook_messages (id) on delete cascade,
  event_type text not null,
  url text not null,
  started_at timestamptz not null,
  duration_ms integer not null,
  response_status integer,
  response_body text,
  error text,
  outcome text not null check (outcome in ('succeeded', 'failed'))
);
create index webhook_attempts_endpoint on webhook_attempts (endpoint_id, id);
create index webhook_attempts_message on webhook_attempts (message_id);
