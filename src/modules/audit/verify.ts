import { sql } from "kysely";
import type { Queryable } from "../../db/client.ts";
import { contentHash, genesisHash, loadContents, recordHash, refKey } from "./content.ts";
import { checkpointSignatureValid } from "./signing.ts";
import type { ChainSource } from "./tables.ts";

/** Chain rows read and recomputed per query. */
export const verifyPageSize = 1_000;

export type BrokenKind =
  | "seq_gap"
  | "link_broken"
  | "hash_mismatch"
  | "source_missing"
  | "content_changed"
  | "checkpoint_mismatch"
  | "signature_invalid"
  | "unknown_signing_key";

export interface BrokenLink {
  seq: number;
  problem: BrokenKind;
  /** Where the record's content lives: the table and the row id. */
  table: string | null;
  rowId: string | null;
  expected: string | null;
  actual: string | null;
}

export interface AuditVerifyReport {
  ok: boolean;
  chained: number;
  /** Journal entries and admin actions not chained yet (the chainer runs every few seconds). */
  pending: number;
  head: { seq: number; hash: string } | null;
  checkpoints: { count: number; lastSeq: number | null };
  firstBroken: BrokenLink | null;
}

const tableOf: Record<ChainSource, string> = {
  journal_entry: "journal_entries",
  audit_action: "audit_actions",
};

/**
 * Walks the whole chain: each record's link to its predecessor, its own hash, and its content
 * rebuilt from the live rows; then every checkpoint's signature and hash. Stops at the first
 * broken link. `trustedPublicKey` (the configured key) must have signed every checkpoint.
 */
export async function verifyAudit(
  db: Queryable,
  options: { trustedPublicKey?: string | null } = {},
): Promise<AuditVerifyReport> {
  let expectedSeq = 1;
  let prevHash = genesisHash;
  const hashes = new Map<number, string>();
  let firstBroken: BrokenLink | null = null;
  const broken = (
    seq: number,
    problem: BrokenKind,
    source: ChainSource | null,
    rowId: string | null,
    expected: string | null,
    actual: string | null,
  ): BrokenLink => ({
    seq,
    problem,
    table: source ? tableOf[source] : null,
    rowId,
    expected,
    actual,
  });
  pages: for (;;) {
    const rows = await db
      .selectFrom("audit_chain")
      .selectAll()
      .where("seq", ">=", expectedSeq)
      .orderBy("seq")
      .limit(verifyPageSize)
      .execute();
    if (rows.length === 0) break;
    const contents = await loadContents(
      db,
      rows.map((row) => ({ source: row.source, sourceId: row.source_id })),
    );
    for (const row of rows) {
      const ref = { source: row.source, sourceId: row.source_id };
      if (row.seq !== expectedSeq) {
        firstBroken = broken(
          expectedSeq,
          "seq_gap",
          null,
          null,
          String(expectedSeq),
          String(row.seq),
        );
        break pages;
      }
      if (row.prev_hash !== prevHash) {
        firstBroken = broken(
          row.seq,
          "link_broken",
          row.source,
          row.source_id,
          prevHash,
          row.prev_hash,
        );
        break pages;
      }
      const hash = recordHash({
        seq: row.seq,
        prevHash: row.prev_hash,
        source: row.source,
        sourceId: row.source_id,
        programId: row.program_id,
        contentHash: row.content_hash,
      });
      if (hash !== row.hash) {
        firstBroken = broken(row.seq, "hash_mismatch", row.source, row.source_id, hash, row.hash);
        break pages;
      }
      const content = contents.get(refKey(ref));
      if (content === undefined) {
        firstBroken = broken(
          row.seq,
          "source_missing",
          row.source,
          row.source_id,
          row.content_hash,
          null,
        );
        break pages;
      }
      const actual = contentHash(content);
      if (actual !== row.content_hash) {
        firstBroken = broken(
          row.seq,
          "content_changed",
          row.source,
          row.source_id,
          row.content_hash,
          actual,
        );
        break pages;
      }
      hashes.set(row.seq, row.hash);
      prevHash = row.hash;
      expectedSeq += 1;
    }
  }
  const chained = expectedSeq - 1;

  const checkpoints = await db.selectFrom("audit_checkpoints").selectAll().orderBy("seq").execute();
  if (!firstBroken) {
    for (const checkpoint of checkpoints) {
      const at = (problem: BrokenKind, expected: string | null, actual: string | null) =>
        broken(checkpoint.seq, problem, null, null, expected, actual);
      if (options.trustedPublicKey && checkpoint.public_key !== options.trustedPublicKey) {
        firstBroken = at("unknown_signing_key", options.trustedPublicKey, checkpoint.public_key);
        break;
      }
      const valid = checkpointSignatureValid({
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        signedAt: checkpoint.signed_at,
        publicKey: checkpoint.public_key,
        signature: checkpoint.signature,
      });
      if (!valid) {
        firstBroken = at("signature_invalid", null, checkpoint.signature);
        break;
      }
      const chainHash = hashes.get(checkpoint.seq) ?? null;
      if (chainHash !== checkpoint.hash) {
        firstBroken = at("checkpoint_mismatch", checkpoint.hash, chainHash);
        break;
      }
    }
  }
  const { rows } = await sql<{ entries: number; actions: number; chained: number }>`
    select (select count(*) from journal_entries)::int as entries,
      (select count(*) from audit_actions)::int as actions,
      (select count(*) from audit_chain)::int as chained`.execute(db);
  const counts = rows[0] ?? { entries: 0, actions: 0, chained: 0 };
  return {
    ok: firstBroken === null,
    chained,
    pending: Math.max(0, counts.entries + counts.actions - counts.chained),
    head: chained > 0 ? { seq: chained, hash: prevHash } : null,
    checkpoints: { count: checkpoints.length, lastSeq: checkpoints.at(-1)?.seq ?? null },
    firstBroken,
  };
}
