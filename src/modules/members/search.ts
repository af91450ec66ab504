import { sql } from "kysely";
import type { Db, Queryable, Tx } from "../../db/client.ts";
import type { MembersTable } from "../../db/schema.ts";
import { invariant } from "../../lib/assert.ts";
import { DomainError } from "../../lib/errors.ts";
import { currentKeyring } from "../privacy/keyring.ts";
import { birthdayIndex, blindIndexes, indexVersion, openMember } from "./storage.ts";

/** The shortest prefix of a name's word that finds it (decision 0059). */
export const namePrefixMin = 3;
// Longer prefixes add little selectivity; the cap bounds the tokens of a long word.
const namePrefixMax = 12;
export const nameQueryWordsMax = 6;
export const nameSearchLimitMax = 50;
export const reindexBatchMax = 500;
// Token rows per insert statement: three parameters each, well under PostgreSQL's 65,535.
const tokenRowsPerInsert = 5_000;

/**
 * The words of a name as search compares them: lower case, accents folded (NFKD, marks
 * dropped), apostrophes dropped ("O'Brien" is "obrien"), split at anything else.
 */
export function nameWords(text: string): string[] {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/['’`]/g, "")
    .split(/[^\p{L}\p{N}]+/u)
    .filter((word) => word.length > 0);
}

// 128 bits of the HMAC: collisions stay negligible and the table's index half as wide.
const token = (programId: string, text: string) =>
  currentKeyring().blindIndex(`${programId}/name`, text).slice(0, 22);

const prefix = (word: string, length: number) => [...word].slice(0, length).join("");

/**
 * The tokens stored for a name: each word's prefixes from 3 up to 12 characters, so a word is
 * found by its beginning; a word shorter than 3 characters is stored whole.
 */
export function nameTokens(programId: string, name: string | null): string[] {
  const texts = new Set<string>();
  for (const word of nameWords(name ?? "")) {
    const length = [...word].length;
    if (length < namePrefixMin) texts.add(word);
    for (let size = namePrefixMin; size <= Math.min(length, namePrefixMax); size++) {
      texts.add(prefix(word, size));
    }
  }
  return [...texts].map((text) => token(programId, text));
}

/**
 * The tokens a typed name must all match. At least one word needs 3 characters (shorter words
 * then match whole words only), so a search never lists everyone whose name starts with "b".
 */
export function queryTokens(programId: string, typed: string, field = "q"): string[] {
  const words = nameWords(typed);
  if (!words.some((word) => [...word].length >= namePrefixMin)) {
    throw new DomainError(
      "validation_failed",
      `type at least ${namePrefixMin} letters of a name (or a phone, email or card number)`,
      { field, minLength: namePrefixMin },
    );
  }
  if (words.length > nameQueryWordsMax) {
    throw new DomainError(
      "validation_failed",
      `a name search has at most ${nameQueryWordsMax} words`,
      {
        field,
        maxWords: nameQueryWordsMax,
      },
    );
  }
  return [...new Set(words.map((word) => token(programId, prefix(word, namePrefixMax))))];
}

/** Writes the name tokens of members (replacing what they had when `replace`). */
export async function writeNameTokens(
  tx: Tx,
  members: Pick<MembersTable, "id" | "program_id" | "name">[],
  replace: boolean,
): Promise<void> {
  if (members.length === 0) return;
  if (replace) {
    await tx
      .deleteFrom("member_name_tokens")
      .where(
        "member_id",
        "in",
        members.map((member) => member.id),
      )
      .execute();
  }
  const rows = members.flatMap((member) =>
    nameTokens(member.program_id, member.name).map((value) => ({
      program_id: member.program_id,
      member_id: member.id,
      token: value,
    })),
  );
  for (let start = 0; start < rows.length; start += tokenRowsPerInsert) {
    await tx
      .insertInto("member_name_tokens")
      .values(rows.slice(start, start + tokenRowsPerInsert))
      .execute();
  }
}

/**
 * Members of the program whose name has every typed word (as a word or a word's beginning),
 * oldest first, decrypted; `more` says the search found more than `limit`.
 */
export async function searchByName(
  db: Queryable,
  programId: string,
  typed: string,
  limit: number,
): Promise<{ rows: MembersTable[]; more: boolean }> {
  const tokens = queryTokens(programId, typed);
  const matches = await db
    .selectFrom("member_name_tokens")
    .select("member_id")
    .where("program_id", "=", programId)
    .where("token", "in", tokens)
    .groupBy("member_id")
    .having(sql`count(*)`, "=", tokens.length)
    .orderBy("member_id")
    .limit(Math.min(limit, nameSearchLimitMax) + 1)
    .execute();
  const ids = matches.slice(0, limit).map((match) => match.member_id);
  const records =
    ids.length === 0
      ? []
      : await db
          .selectFrom("members")
          .selectAll()
          .where("program_id", "=", programId)
          .where("id", "in", ids)
          .where("status", "<>", "erased")
          .orderBy("id")
          .execute();
  return { rows: records.map(openMember), more: matches.length > limit };
}

/**
 * Rebuilds the blind indexes and name tokens of one batch of members whose indexes were built
 * by another index key or token scheme, or never (members enrolled before migration 015, or
 * encrypted from clear values at start). Rows are taken with SKIP LOCKED, so several processes
 * can run it at once. Returns the rows rebuilt.
 */
export async function reindexBatch(db: Db, batchSize = reindexBatchMax): Promise<number> {
  const version = indexVersion();
  return db.transaction(async (tx) => {
    const records = await tx
      .selectFrom("members")
      .selectAll()
      .where("data_key_id", "is not", null)
      // Ranges and "is null" instead of "is distinct from", so members_index_version serves them.
      .where((eb) =>
        eb.or([
          eb("index_version", "is", null),
          eb("index_version", "<", version),
          eb("index_version", ">", version),
        ]),
      )
      .limit(Math.max(1, Math.min(batchSize, reindexBatchMax)))
      .forUpdate()
      .skipLocked()
      .execute();
    if (records.length === 0) return 0;
    const rows = records.map(openMember);
    await writeNameTokens(tx, rows, true);
    const values = rows.map((row) => {
      const index = blindIndexes(row.program_id, row);
      return sql`(${row.id}, ${index.phone_bidx}::text, ${index.email_bidx}::text, ${index.birthday_bidx}::text)`;
    });
    // One statement for the batch: the phone and email indexes change too when the key did.
    await sql`update members as m
      set phone_bidx = v.phone_bidx, email_bidx = v.email_bidx, birthday_bidx = v.birthday_bidx,
        index_version = ${version}
      from (values ${sql.join(values)}) as v (id, phone_bidx, email_bidx, birthday_bidx)
      where m.id = v.id`.execute(tx);
    return rows.length;
  });
}

/** Rebuilds every member's indexes that are not current; safe to run again (0 the second time). */
export async function reindexMembers(
  db: Db,
  batchSize = reindexBatchMax,
): Promise<{ indexVersion: string; reindexed: number }> {
  let reindexed = 0;
  for (;;) {
    const count = await reindexBatch(db, batchSize);
    reindexed += count;
    if (count === 0) return { indexVersion: indexVersion(), reindexed };
  }
}

/**
 * The birthdays ("MM-DD") celebrated on a local date. A member born on 29 February celebrates
 * on 28 February in other years (decision 0060).
 */
export function birthdaysOn(localDate: string): string[] {
  const year = Number(localDate.slice(0, 4));
  const monthDay = localDate.slice(5, 10);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return !leap && monthDay === "02-28" ? [monthDay, "02-29"] : [monthDay];
}

export const birthdayDaysMax = 31;

/**
 * Active members whose birthday falls on one of the month-days (a day, or a campaign's week or
 * month), by id after `after`: one indexed query, nothing decrypted.
 */
export async function activeMembersBornOn(
  db: Queryable,
  programId: string,
  monthDays: string[],
  page: { limit: number; after?: string | undefined },
): Promise<string[]> {
  if (monthDays.length === 0) return [];
  invariant(
    monthDays.length <= birthdayDaysMax && monthDays.every((day) => /^\d\d-\d\d$/.test(day)),
    `activeMembersBornOn: up to ${birthdayDaysMax} month-days as "MM-DD"`,
  );
  let query = db
    .selectFrom("members")
    .select("id")
    .where("program_id", "=", programId)
    .where(
      "birthday_bidx",
      "in",
      monthDays.map((day) => birthdayIndex(programId, day)),
    )
    .where("status", "=", "active")
    .orderBy("id")
    .limit(page.limit);
  if (page.after !== undefined) query = query.where("id", ">", page.after);
  return (await query.execute()).map((row) => row.id);
}
