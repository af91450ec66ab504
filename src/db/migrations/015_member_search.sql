-- Members found by name and birthday without clear values (docs/decisions/0059-0061): keyed
-- HMAC tokens of the name's words and their prefixes, and a keyed index of the birthday's month
-- and day. SQL cannot compute them (the index key is not in the database): the platform fills
-- them for existing members at start, in batches, and on every write.

-- One row per token of a member's name (a word, or a word's prefix of 3 characters or more).
create table member_name_tokens (
  program_id text not null,
  member_id text not null references members (id),
  token text not null,
  primary key (program_id, token, member_id)
);
create index member_name_tokens_member on member_name_tokens (member_id);

alter table members
  -- HMAC of "MM-DD" under the index key, per program: the birthday jobs select by it.
  add column birthday_bidx text,
  -- Which index key and token scheme built the row's indexes and name tokens; null or another
  -- value means the start-up backfill (`setia privacy reindex`) rebuilds them.
  add column index_version text;
create index members_birthday_bidx on members (program_id, birthday_bidx)
  where birthday_bidx is not null;
-- The backfill finds stale rows by range on this index; erased rows (no data key) are left out.
create index members_index_version on members (index_version) where data_key_id is not null;
