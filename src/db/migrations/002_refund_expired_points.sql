-- Refunds of points that had already expired: those points left the member through expiry, so a
-- refund moves them from program:expired back to program:issued instead of taking them again.
-- The purchase keeps the running total, so its expired part is counted once over partial refunds.
alter table transactions
  add column points_expired_reversed bigint not null default 0
  check (points_expired_reversed >= 0);
alter table refunds
  add column points_already_expired bigint not null default 0
  check (points_already_expired >= 0);
