import type { MemberRecordsTable, MembersTable } from "../../db/schema.ts";
import { currentKeyring } from "../privacy/keyring.ts";

/** The personal fields stored encrypted, by their clear column and their encrypted column. */
const sealedColumns = [
  ["phone_e164", "phone_enc"],
  ["email", "email_enc"],
  ["name", "name_enc"],
  ["birthday", "birthday_enc"],
] as const;

export type PersonalFields = Pick<MembersTable, "phone_e164" | "email" | "name" | "birthday">;
type SealedFields = Pick<
  MemberRecordsTable,
  | "phone_enc"
  | "email_enc"
  | "name_enc"
  | "birthday_enc"
  | "data_key_id"
  | "phone_bidx"
  | "email_bidx"
  | "birthday_bidx"
>;

// A ciphertext is bound to its member and field, so it cannot be copied onto another row.
const aad = (memberId: string, column: string) => `members/${memberId}/${column}`;

/** Blind index of a normalised phone (E.164) within a program. */
export function phoneIndex(programId: string, phoneE164: string): string {
  return currentKeyring().blindIndex(`${programId}/phone`, phoneE164);
}

/** Blind index of a normalised email within a program. */
export function emailIndex(programId: string, email: string): string {
  return currentKeyring().blindIndex(`${programId}/email`, email);
}

/** Blind index of a birthday's month and day ("MM-DD") within a program. */
export function birthdayIndex(programId: string, monthDay: string): string {
  return currentKeyring().blindIndex(`${programId}/birthday`, monthDay);
}

/**
 * Names the index key and the token scheme (search.ts) that a row's indexes were built with, so
 * rows built by another key or scheme are found and rebuilt. Bump the prefix when the scheme
 * changes; the key's part is an HMAC, which says nothing about the key.
 */
export function indexVersion(): string {
  return `s1.${currentKeyring().blindIndex("index-version", "s1").slice(0, 12)}`;
}

/** The blind indexes of a member's personal fields under the current index key. */
export function blindIndexes(
  programId: string,
  clear: Pick<PersonalFields, "phone_e164" | "email" | "birthday">,
): Pick<SealedFields, "phone_bidx" | "email_bidx" | "birthday_bidx"> {
  return {
    phone_bidx: clear.phone_e164 === null ? null : phoneIndex(programId, clear.phone_e164),
    email_bidx: clear.email === null ? null : emailIndex(programId, clear.email),
    birthday_bidx:
      clear.birthday === null ? null : birthdayIndex(programId, clear.birthday.slice(5)),
  };
}

/** Encrypts all four personal fields under the current key, with the blind indexes. */
export function sealFields(
  memberId: string,
  programId: string,
  clear: PersonalFields,
): SealedFields {
  const keyring = currentKeyring();
  const sealed = {} as Record<(typeof sealedColumns)[number][1], string | null>;
  let any = false;
  for (const [column, encrypted] of sealedColumns) {
    const value = clear[column];
    sealed[encrypted] = value === null ? null : keyring.encrypt(value, aad(memberId, column));
    any ||= value !== null;
  }
  return {
    ...sealed,
    data_key_id: any ? keyring.currentKeyId : null,
    ...blindIndexes(programId, clear),
  };
}

/** The row as stored, from the row as the platform uses it; the caller writes its name tokens. */
export function sealMember(row: MembersTable): MemberRecordsTable {
  const { phone_e164, email, name, birthday, ...rest } = row;
  return {
    ...rest,
    ...sealFields(row.id, row.program_id, { phone_e164, email, name, birthday }),
    index_version: indexVersion(),
  };
}

/** The row as the platform uses it (personal fields in clear), from the row as stored. */
export function openMember(record: MemberRecordsTable): MembersTable {
  const {
    phone_enc,
    email_enc,
    name_enc,
    birthday_enc,
    data_key_id: _keyId,
    phone_bidx: _phoneIndex,
    email_bidx: _emailIndex,
    birthday_bidx: _birthdayIndex,
    index_version: _indexVersion,
    ...rest
  } = record;
  const keyring = currentKeyring();
  const open = (stored: string | null, column: string) =>
    stored === null ? null : keyring.decrypt(stored, aad(record.id, column));
  return {
    ...rest,
    phone_e164: open(phone_enc, "phone_e164"),
    email: open(email_enc, "email"),
    name: open(name_enc, "name"),
    birthday: open(birthday_enc, "birthday"),
  };
}
