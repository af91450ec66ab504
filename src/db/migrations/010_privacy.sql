-- Privacy: members' phone, email, name and birthday are stored encrypted (AES-256-GCM, keys from
-- configuration) with keyed blind indexes for look-up; erasures are recorded without personal data.

-- Rows enrolled before this migration keep their clear values here until the platform, which holds
-- the keys, encrypts them into members at start (or `setia migrate`) and deletes them from here.
create table members_plaintext_legacy (
  member_id text primary key references members (id),
  phone_e164 text,
  email text,
  name text,
  birthday text
);
insert into members_plaintext_legacy (member_id, phone_e164, email, name, birthday)
  select id, phone_e164, email, name, birthday::text from members
  where phone_e164 is not null or email is not null or name is not null or birthday is not null;

drop index members_phone;
drop index members_email;
alter table members
  drop column phone_e164,
  drop column email,
  drop column name,
  drop column birthday,
  -- "<key id>:<base64 of iv, tag, ciphertext>"; data_key_id names the key of the row's fields.
  add column phone_enc text,
  add column email_enc text,
  add column name_enc text,
  add column birthday_enc text,
  add column data_key_id text,
  -- HMAC-SHA256 of the normalised phone or email under the index key, per program.
  add column phone_bidx text,
  add column email_bidx text;
create unique index members_phone_bidx on members (program_id, phone_bidx) where phone_bidx is not null;
create unique index members_email_bidx on members (program_id, email_bidx) where email_bidx is not null;
-- Rotation finds rows under an older key by range on this index.
create index members_data_key on members (data_key_id) where data_key_id is not null;

alter table members drop constraint members_status_check;
alter table members add constraint members_status_check
  check (status in ('active', 'blocked', 'erased'));

-- One row per erasure: who and when, never what. Re-applied after a backup restore.
create table erasures (
  id text primary key,
  program_id text not null references programs (id),
  member_id text not null references members (id),
  reason text not null,
  requested_by text,
  erased_at timestamptz not null
);
create unique index erasures_member on erasures (member_id);
create index erasures_program on erasures (program_id, id);
