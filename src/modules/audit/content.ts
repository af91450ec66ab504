import type { Queryable, Tx } from "../../db/client.ts";
import { canonicalJson, sha256Hex } from "../../lib/json.ts";
import type { ChainSource } from "./tables.ts";

/** The hash a chain starts from: the predecessor of record 1. */
export const genesisHash = "0".repeat(64);

export interface SourceRef {
  source: ChainSource;
  sourceId: string;
}

export const refKey = (ref: SourceRef) => `${ref.source} ${ref.sourceId}`;

/** SHA-256 of a record's content in canonical JSON (keys sorted, no spaces). */
export function contentHash(content: unknown): string {
  return sha256Hex(canonicalJson(content));
}

/** A chain record's own hash: over its position, its predecessor and its content's hash. */
export function recordHash(record: {
  seq: number;
  prevHash: string;
  source: ChainSource;
  sourceId: string;
  programId: string | null;
  contentHash: string;
}): string {
  return sha256Hex(
    canonicalJson({
      seq: record.seq,
      prevHash: record.prevHash,
      source: record.source,
      sourceId: record.sourceId,
      programId: record.programId,
      contentHash: record.contentHash,
    }),
  );
}

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/**
 * The content of chained records, rebuilt from the live rows: a journal entry with its postings,
 * lot movements and the lots it created (their fixed columns), or an admin action row. Any edit of
 * those rows changes the content, so its hash no longer matches the chain. Missing rows are absent
 * from the answer.
 */
export async function loadContents(
  db: Tx | Queryable,
  refs: SourceRef[],
): Promise<Map<string, unknown>> {
  const contents = new Map<string, unknown>();
  const entryIds = refs.filter((ref) => ref.source === "journal_entry").map((ref) => ref.sourceId);
  const actionIds = refs.filter((ref) => ref.source === "audit_action").map((ref) => ref.sourceId);
  if (entryIds.length > 0) {
    for (const [id, content] of await entryContents(db, entryIds))
      contents.set(refKey({ source: "journal_entry", sourceId: id }), content);
  }
  if (actionIds.length > 0) {
    const rows = await db
      .selectFrom("audit_actions")
      .select([
        "id",
        "program_id",
        "actor_type",
        "actor_id",
        "actor_role",
        "action",
        "subject",
        "details",
        "request_id",
        "created_at",
      ])
      .where("id", "in", actionIds)
      .execute();
    for (const row of rows) {
      contents.set(refKey({ source: "audit_action", sourceId: row.id }), {
        action: {
          id: row.id,
          programId: row.program_id,
          actor: { type: row.actor_type, id: row.actor_id, role: row.actor_role },
          action: row.action,
          subject: row.subject,
          details: row.details,
          requestId: row.request_id,
          createdAt: iso(row.created_at),
        },
      });
    }
  }
  return contents;
}

async function entryContents(db: Tx | Queryable, ids: string[]): Promise<Map<string, unknown>> {
  const [entries, postings, movements, lots] = await Promise.all([
    db
      .selectFrom("journal_entries")
      .select([
        "id",
        "program_id",
        "kind",
        "member_id",
        "transaction_id",
        "refund_id",
        "hold_id",
        "reason",
        "created_at",
      ])
      .where("id", "in", ids)
      .execute(),
    db
      .selectFrom("postings")
      .select(["id", "entry_id", "account", "member_id", "points"])
      .where("entry_id", "in", ids)
      .orderBy("id")
      .execute(),
    db
      .selectFrom("lot_movements")
      .select(["id", "entry_id", "lot_id", "points"])
      .where("entry_id", "in", ids)
      .orderBy("id")
      .execute(),
    db
      .selectFrom("point_lots")
      .select([
        "id",
        "entry_id",
        "member_id",
        "transaction_id",
        "source",
        "points_original",
        "available_at",
        "expires_at",
        "created_at",
      ])
      .where("entry_id", "in", ids)
      .orderBy("id")
      .execute(),
  ]);
  const byEntry = <T extends { entry_id: string }>(rows: T[]) => {
    const map = new Map<string, T[]>();
    for (const row of rows) map.set(row.entry_id, [...(map.get(row.entry_id) ?? []), row]);
    return map;
  };
  const postingsOf = byEntry(postings);
  const movementsOf = byEntry(movements);
  const lotsOf = byEntry(lots);
  const contents = new Map<string, unknown>();
  for (const entry of entries) {
    contents.set(entry.id, {
      entry: {
        id: entry.id,
        programId: entry.program_id,
        kind: entry.kind,
        memberId: entry.member_id,
        transactionId: entry.transaction_id,
        refundId: entry.refund_id,
        holdId: entry.hold_id,
        reason: entry.reason,
        createdAt: iso(entry.created_at),
      },
      postings: (postingsOf.get(entry.id) ?? []).map((row) => ({
        id: Number(row.id),
        account: row.account,
        memberId: row.member_id,
        points: Number(row.points),
      })),
      lotMovements: (movementsOf.get(entry.id) ?? []).map((row) => ({
        id: Number(row.id),
        lotId: row.lot_id,
        points: Number(row.points),
      })),
      lots: (lotsOf.get(entry.id) ?? []).map((row) => ({
        id: row.id,
        memberId: row.member_id,
        transactionId: row.transaction_id,
        source: row.source,
        pointsOriginal: Number(row.points_original),
        availableAt: iso(row.available_at),
        expiresAt: iso(row.expires_at),
        createdAt: iso(row.created_at),
      })),
    });
  }
  return contents;
}
