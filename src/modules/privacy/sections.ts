import { type RawBuilder, sql } from "kysely";
import type { Queryable, Tx } from "../../db/client.ts";
import { readBalance } from "../ledger/index.ts";
import { findMemberRow, toView } from "../members/index.ts";
import { redactText, redactValue } from "./redact.ts";

/** What an erasure knows while it runs: the member's data in clear, to find and remove it. */
export interface ErasureScope {
  programId: string;
  memberId: string;
  /** Every spelling of the member's personal data (redact.ts personalNeedles). */
  needles: string[];
}

/**
 * One module's part of a member's data: `collect` reads everything the module holds about the
 * member (for the export), `erase` removes the personal data from the module's tables while
 * facts the books need (points, amounts, ids) stay. A module that adds tables about members adds
 * its section here (typed queries, or table rules below); the privacy tests scan every table of
 * the database, so a table left out fails them.
 */
export interface MemberDataSection {
  name: string;
  collect(db: Queryable, programId: string, memberId: string): Promise<Record<string, unknown>>;
  erase?(tx: Tx, scope: ErasureScope): Promise<void>;
}

const profile: MemberDataSection = {
  name: "profile",
  async collect(db, programId, memberId) {
    const member = toView(await findMemberRow(db, programId, { id: memberId }));
    const erasure = await db
      .selectFrom("erasures")
      .select(["id", "reason", "erased_at"])
      .where("member_id", "=", memberId)
      .executeTakeFirst();
    return { member, erasure: erasure ?? null };
  },
};

const ledger: MemberDataSection = {
  name: "ledger",
  async collect(db, programId, memberId) {
    const entryIds = db
      .selectFrom("postings")
      .select("entry_id")
      .where("member_id", "=", memberId)
      .where("program_id", "=", programId);
    const [balance, entries, postings, lots, holds] = await Promise.all([
      readBalance(db, memberId),
      db
        .selectFrom("journal_entries")
        .selectAll()
        .where("program_id", "=", programId)
        .where((eb) => eb.or([eb("member_id", "=", memberId), eb("id", "in", entryIds)]))
        .orderBy("id")
        .execute(),
      db
        .selectFrom("postings")
        .selectAll()
        .where("member_id", "=", memberId)
        .where("program_id", "=", programId)
        .orderBy("id")
        .execute(),
      db
        .selectFrom("point_lots")
        .selectAll()
        .where("member_id", "=", memberId)
        .where("program_id", "=", programId)
        .orderBy("id")
        .execute(),
      db
        .selectFrom("holds")
        .selectAll()
        .where("member_id", "=", memberId)
        .where("program_id", "=", programId)
        .orderBy("id")
        .execute(),
    ]);
    const lotMovements =
      lots.length === 0
        ? []
        : await db
            .selectFrom("lot_movements")
            .selectAll()
            .where(
              "lot_id",
              "in",
              lots.map((lot) => lot.id),
            )
            .orderBy("id")
            .execute();
    return { balance, entries, postings, lots, lotMovements, holds };
  },
};

/**
 * How one table holds data about a member: which rows (`rows`, an SQL condition), and what an
 * erasure does to them: redact the member's data in free text or JSON columns, clear columns
 * (device ids, addresses), or delete the rows.
 */
interface TableRule {
  table: string;
  rows: (memberId: string, programId: string) => RawBuilder<boolean>;
  /** Orders the export and names a row for an update; a column or an expression. */
  key: RawBuilder<string>;
  /** Listed in the export (default); false when another section already shows the rows. */
  exported?: boolean;
  /** Secrets left out of the export (one-time codes, push encryption keys). */
  secret?: string[];
  redactText?: string[];
  redactJson?: string[];
  clear?: string[];
  remove?: boolean;
}

const column = (name: string) => sql<string>`${sql.ref(name)}`;
const ofMember =
  (memberColumn = "member_id") =>
  (memberId: string, programId: string) =>
    sql<boolean>`${sql.ref(memberColumn)} = ${memberId} and program_id = ${programId}`;
// A JSON or text column mentions the member when it holds the member id.
const mentioning = (textColumn: string) => (memberId: string, programId: string) =>
  sql<boolean>`program_id = ${programId} and ${sql.ref(textColumn)}::text like ${`%${memberId}%`}`;

async function collectRows(
  db: Queryable,
  rule: TableRule,
  memberId: string,
  programId: string,
): Promise<unknown[]> {
  const result = await sql<Record<string, unknown>>`
    select * from ${sql.table(rule.table)} where ${rule.rows(memberId, programId)}
    order by ${rule.key}`.execute(db);
  const secret = new Set(rule.secret ?? []);
  return result.rows.map((row) =>
    Object.fromEntries(Object.entries(row).filter(([name]) => !secret.has(name))),
  );
}

async function eraseRows(tx: Tx, rule: TableRule, scope: ErasureScope): Promise<void> {
  const where = rule.rows(scope.memberId, scope.programId);
  if (rule.remove) {
    await sql`delete from ${sql.table(rule.table)} where ${where}`.execute(tx);
    return;
  }
  if (rule.clear && rule.clear.length > 0) {
    const sets = sql.join(rule.clear.map((name) => sql`${sql.ref(name)} = null`));
    await sql`update ${sql.table(rule.table)} set ${sets} where ${where}`.execute(tx);
  }
  const texts = rule.redactText ?? [];
  const jsons = rule.redactJson ?? [];
  if (texts.length + jsons.length === 0) return;
  const columns = sql.join([...texts, ...jsons].map((name) => sql.ref(name)));
  const rows = await sql<Record<string, unknown>>`
    select ${rule.key} as row_key, ${columns} from ${sql.table(rule.table)} where ${where}
    for update`.execute(tx);
  for (const row of rows.rows) {
    const sets = [];
    for (const name of texts) {
      const value = row[name];
      if (typeof value !== "string") continue;
      const redacted = redactText(value, scope.needles);
      if (redacted !== value) sets.push(sql`${sql.ref(name)} = ${redacted}`);
    }
    for (const name of jsons) {
      const raw = row[name];
      if (raw === null || raw === undefined) continue;
      const value = typeof raw === "string" ? JSON.parse(raw) : raw;
      const redacted = JSON.stringify(redactValue(value, scope.needles));
      if (redacted !== JSON.stringify(value)) sets.push(sql`${sql.ref(name)} = ${redacted}::jsonb`);
    }
    if (sets.length === 0) continue;
    await sql`update ${sql.table(rule.table)} set ${sql.join(sets)}
      where ${rule.key} = ${row.row_key} and ${where}`.execute(tx);
  }
}

/** A section made of table rules: the export lists each table's rows under its name. */
function tablesSection(name: string, rules: TableRule[]): MemberDataSection {
  return {
    name,
    async collect(db, programId, memberId) {
      const data: Record<string, unknown> = {};
      for (const rule of rules) {
        if (rule.exported === false) continue;
        data[rule.table] = await collectRows(db, rule, memberId, programId);
      }
      return data;
    },
    async erase(tx, scope) {
      for (const rule of rules) await eraseRows(tx, rule, scope);
    },
  };
}

/** Keyed hashes of the name's words for search (members/search.ts): exported, then deleted. */
const search = tablesSection("search", [
  { table: "member_name_tokens", rows: ofMember(), key: column("token"), remove: true },
]);

/** Holds' references are operator text; unlike journal entries they are not hash-chained. */
const ledgerNotes = tablesSection("ledgerNotes", [
  {
    table: "holds",
    rows: ofMember(),
    key: column("id"),
    exported: false,
    redactText: ["reference"],
  },
]);

const purchases = tablesSection("purchases", [
  { table: "transactions", rows: ofMember(), key: column("id"), redactJson: ["result"] },
  {
    table: "transaction_lines",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId} and transaction_id in
        (select id from transactions where member_id = ${memberId})`,
    key: sql<string>`transaction_id || '/' || line_no`,
  },
  {
    table: "refunds",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId} and transaction_id in
        (select id from transactions where member_id = ${memberId})`,
    key: column("id"),
    redactJson: ["result"],
  },
]);

const rules = tablesSection("rules", [
  {
    table: "activities",
    rows: ofMember(),
    key: column("id"),
    redactJson: ["attributes", "result"],
  },
  {
    table: "campaign_member_usage",
    rows: ofMember(),
    key: sql<string>`campaign_id || '/' || period_key`,
  },
]);

const tiers = tablesSection("tiers", [
  { table: "member_tiers", rows: ofMember(), key: column("member_id") },
  { table: "tier_changes", rows: ofMember(), key: column("id"), redactText: ["note"] },
]);

const rewards = tablesSection("rewards", [
  {
    table: "vouchers",
    rows: ofMember(),
    key: column("id"),
    redactText: ["reservation_reference"],
  },
  {
    table: "voucher_uses",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId} and voucher_id in
        (select id from vouchers where member_id = ${memberId})`,
    key: sql<string>`voucher_id || '/' || reference`,
  },
  { table: "stored_value_accounts", rows: ofMember(), key: column("id") },
  {
    table: "stored_value_movements",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId} and account_id in
        (select id from stored_value_accounts where member_id = ${memberId})`,
    key: column("id"),
    redactText: ["reference"],
  },
  { table: "donations", rows: ofMember(), key: column("id") },
]);

const referrals = tablesSection("referrals", [
  { table: "referral_codes", rows: ofMember(), key: column("member_id") },
  {
    table: "referrals",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId}
        and (referrer_member_id = ${memberId} or referee_member_id = ${memberId})`,
    key: column("id"),
  },
  // Device fingerprints (hashed) identify the member's phone: removed on erasure.
  { table: "referral_devices", rows: ofMember(), key: column("fingerprint_hash"), remove: true },
]);

const communications = tablesSection("communications", [
  { table: "comm_member_prefs", rows: ofMember(), key: column("member_id") },
  {
    table: "comm_messages",
    rows: ofMember(),
    key: column("id"),
    redactText: ["subject", "reason"],
    redactJson: ["variables"],
    clear: ["secret"],
    secret: ["secret"],
  },
  // A push endpoint and its keys address the member's device: removed on erasure.
  {
    table: "push_subscriptions",
    rows: ofMember(),
    key: column("id"),
    remove: true,
    secret: ["p256dh", "auth"],
  },
]);

const webhooks = tablesSection("webhooks", [
  { table: "webhook_messages", rows: mentioning("body"), key: column("id"), redactText: ["body"] },
  {
    table: "webhook_attempts",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId} and message_id in
        (select id from webhook_messages where body like ${`%${memberId}%`})`,
    key: column("id"),
    redactText: ["response_body", "error"],
  },
]);

/**
 * Admin actions are hash-chained, so they are exported but never edited; the audit module keeps
 * personal fields out of them when they are written. Velocity records drop device and address.
 */
const audit = tablesSection("audit", [
  {
    table: "audit_actions",
    rows: (memberId, programId) =>
      sql<boolean>`program_id = ${programId}
        and (subject::text like ${`%${memberId}%`} or details::text like ${`%${memberId}%`})`,
    key: column("id"),
  },
  { table: "velocity_events", rows: ofMember(), key: column("id"), clear: ["device_id", "ip"] },
  { table: "velocity_blocks", rows: ofMember(), key: column("id"), clear: ["device_id", "ip"] },
  {
    table: "adjustment_requests",
    rows: ofMember(),
    key: column("id"),
    redactText: ["reason", "note"],
  },
]);

const events = tablesSection("events", [
  {
    table: "outbox_events",
    rows: mentioning("payload"),
    key: column("id"),
    redactJson: ["payload"],
  },
]);

/** Stored answers of idempotent writes are copies of other rows: redacted, not exported. */
const idempotency = tablesSection("idempotency", [
  {
    table: "idempotency_keys",
    rows: (memberId) => sql<boolean>`response_body::text like ${`%${memberId}%`}`,
    key: sql<string>`scope || ' ' || key`,
    exported: false,
    redactJson: ["response_body"],
  },
]);

/** Every module that holds data about members, in export order. */
export const memberDataSections: readonly MemberDataSection[] = [
  profile,
  search,
  ledger,
  ledgerNotes,
  purchases,
  rules,
  tiers,
  rewards,
  referrals,
  communications,
  webhooks,
  audit,
  events,
  idempotency,
];
