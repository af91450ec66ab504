-- Communications: program settings and template overrides, member preferences and push
-- subscriptions, the message queue (also the message log), the outbox cursor and daily scans.

create table comm_settings (
  program_id text primary key references programs (id),
  settings jsonb not null,
  updated_at timestamptz not null
);

-- Program overrides of the built-in templates; tone 'any' applies to every tone.
create table message_templates (
  id text primary key,
  program_id text not null references programs (id),
  trigger text not null,
  locale text not null check (locale in ('id', 'en')),
  tone text not null check (tone in ('any', 'friendly', 'formal')),
  subject text not null,
  body text not null,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index message_templates_key on message_templates (program_id, trigger, locale, tone);

create table comm_member_prefs (
  member_id text primary key,
  program_id text not null references programs (id),
  locale text not null check (locale in ('id', 'en')),
  updated_at timestamptz not null
);

create table push_subscriptions (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null,
  endpoint text not null,
  p256dh text not null,
  auth text not null,
  created_at timestamptz not null
);
create unique index push_subscriptions_endpoint on push_subscriptions (member_id, endpoint);

-- One row per message on one channel: the queue the worker claims from and the log the API shows.
-- secret holds a one-time code only until the message is final; it is never shown.
create table comm_messages (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null,
  trigger text not null,
  channel text not null check (channel in ('email', 'sms', 'whatsapp', 'push')),
  category text not null check (category in ('security', 'service', 'marketing')),
  state text not null
    check (state in ('queued', 'deferred', 'sending', 'sent', 'failed', 'suppressed')),
  reason text,
  variables jsonb not null,
  secret text,
  dedupe_key text,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  subject text,
  provider_message_id text,
  sent_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create unique index comm_messages_dedupe on comm_messages (program_id, dedupe_key)
  where dedupe_key is not null;
create index comm_messages_due on comm_messages (next_attempt_at)
  where state in ('queued', 'deferred', 'sending');
create index comm_messages_member on comm_messages (member_id, id);
create index comm_messages_program on comm_messages (program_id, id);

-- Where the communications consumer is in the outbox: (writing transaction, seq) of the last
-- event taken, read as webhooks read it (outbox readCommittedEvents). Starts at the current end so
-- a deployment that adds this module does not message members about old events.
create table comm_outbox_cursor (
  name text primary key,
  txid xid8 not null,
  seq bigint not null
);
insert into comm_outbox_cursor (name, txid, seq)
  select 'communications', coalesce(max(txid), '0'::xid8), coalesce(max(seq), 0) from outbox_events;

-- Last local day a daily scan (birthday, expiring points, win-back) finished for a program.
create table comm_scans (
  program_id text not null references programs (id),
  scan text not null,
  last_day text not null,
  primary key (program_id, scan)
);

-- Keys generated on first use when the configuration gives none (VAPID, unsubscribe signing).
create table comm_keys (
  name text primary key,
  value jsonb not null,
  created_at timestamptz not null
);
