import { sql } from "kysely";
import type { Ctx } from "../../context.ts";
import type { Tx } from "../../db/client.ts";
import { commitHorizon } from "../../db/horizon.ts";
import { contentHash, genesisHash, loadContents, recordHash, refKey } from "./content.ts";
import { publicKeyOf, signCheckpoint } from "./signing.ts";
import type { AuditChainTable, ChainSource } from "./tables.ts";

/** Records appended per transaction: bounded so the chainer never holds its lock for long. */
export const chainBatchSizeMax = 1_000;
/** Any constant; only the chainers of one deployment have to agree on it. */
const chainLockKey = 7_320_511;
export const checkpointIntervalMsDefault = 600_000;

export interface AuditSettings {
  /** Signs checkpoints; null signs none (PostgreSQL without SETIA_AUDIT_SIGNING_KEY). */
  signingKey: import("node:crypto").KeyObject | null;
  /** Least time between two stored checkpoints while the chain grows. */
  checkpointIntervalMs: number;
}

interface Pending {
  source: ChainSource;
  sourceId: string;
  programId: string | null;
  xactId: string;
}

const sourceTables = { journal_entry: "journal_entries", audit_action: "audit_actions" } as const;

/**
 * Rows of one source that are safe to chain, in commit-safe order: written by a transaction older
 * than every transaction still running (so none can commit later below them), after the last
 * chained row of that source.
 */
async function pendingOf(tx: Tx, source: ChainSource, limit: number): Promise<Pending[]> {
  const last = await tx
    .selectFrom("audit_chain")
    .select(["xact_id", "source_id"])
    .where("source", "=", source)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  const table = sql.table(sourceTables[source]);
  const after = last ? sql`and (xact_id, id) > (${last.xact_id}::xid8, ${last.source_id})` : sql``;
  const { rows } = await sql<{ id: string; program_id: string | null; xact_id: string }>`
    select id, program_id, xact_id::text as xact_id from ${table}
    where xact_id < ${commitHorizon} ${after}
    order by xact_id, id limit ${limit}`.execute(tx);
  return rows.map((row) => ({
    source,
    sourceId: row.id,
    programId: row.program_id,
    xactId: row.xact_id,
  }));
}

/** Appends up to `limit` committed records to the chain; the caller holds the chain lock. */
async function chainStep(tx: Tx, at: Date, limit: number): Promise<number> {
  const pending = [
    ...(await pendingOf(tx, "journal_entry", limit)),
    ...(await pendingOf(tx, "audit_action", limit)),
  ].sort(
    (a, b) =>
      Number(BigInt(a.xactId) - BigInt(b.xactId)) ||
      a.source.localeCompare(b.source) ||
      (a.sourceId < b.sourceId ? -1 : 1),
  );
  if (pending.length === 0) return 0;
  const head = await tx
    .selectFrom("audit_chain")
    .select(["seq", "hash"])
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  const contents = await loadContents(tx, pending);
  let seq = head?.seq ?? 0;
  let prevHash = head?.hash ?? genesisHash;
  const rows: AuditChainTable[] = [];
  for (const record of pending) {
    seq += 1;
    const hashOfContent = contentHash(contents.get(refKey(record)) ?? null);
    const hash = recordHash({ ...record, seq, prevHash, contentHash: hashOfContent });
    rows.push({
      seq,
      source: record.source,
      source_id: record.sourceId,
      program_id: record.programId,
      xact_id: record.xactId,
      content_hash: hashOfContent,
      prev_hash: prevHash,
      hash,
      chained_at: at,
    });
    prevHash = hash;
  }
  await tx.insertInto("audit_chain").values(rows).execute();
  return rows.length;
}

/**
 * Chains every committed journal entry and admin action not yet chained, then stores a signed
 * checkpoint when one is due. One writer at a time: a second process finds the lock taken and
 * leaves the work to the first. Returns how many records it appended.
 */
export async function chainPending(
  ctx: Ctx,
): Promise<{ chained: number; checkpointSeq: number | null }> {
  let chained = 0;
  for (;;) {
    const appended = await ctx.db.transaction(async (tx) => {
      if (!(await tryChainLock(tx))) return null;
      return chainStep(tx, ctx.clock.now(), chainBatchSizeMax);
    });
    if (appended === null) break;
    chained += appended;
    if (appended < chainBatchSizeMax) break;
  }
  const checkpoint = await checkpointIfDue(ctx, false);
  return { chained, checkpointSeq: checkpoint?.seq ?? null };
}

async function tryChainLock(tx: Tx): Promise<boolean> {
  const { rows } = await sql<{
    locked: boolean;
  }>`select pg_try_advisory_xact_lock(${chainLockKey}) as locked`.execute(tx);
  return rows[0]?.locked === true;
}

export interface CheckpointView {
  seq: number;
  hash: string;
  signedAt: string;
  publicKey: string;
  signature: string;
}

/**
 * Signs the chain head when it moved past the last checkpoint and the interval has passed (or at
 * once with `force`). Without a signing key it does nothing.
 */
export async function checkpointIfDue(ctx: Ctx, force: boolean): Promise<CheckpointView | null> {
  const settings = ctx.audit;
  const key = settings?.signingKey ?? null;
  if (!key) return null;
  const intervalMs = settings?.checkpointIntervalMs ?? checkpointIntervalMsDefault;
  return ctx.db.transaction(async (tx) => {
    if (!(await tryChainLock(tx))) return null;
    const head = await tx
      .selectFrom("audit_chain")
      .select(["seq", "hash"])
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    if (!head) return null;
    const last = await tx
      .selectFrom("audit_checkpoints")
      .select(["seq", "signed_at"])
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    const at = ctx.clock.now();
    if (last && last.seq >= head.seq) return null;
    if (last && !force && at.getTime() - last.signed_at.getTime() < intervalMs) return null;
    const row = {
      seq: head.seq,
      hash: head.hash,
      signed_at: at,
      public_key: publicKeyOf(key),
      signature: signCheckpoint(key, { seq: head.seq, hash: head.hash, signedAt: at }),
    };
    await tx.insertInto("audit_checkpoints").values(row).execute();
    return checkpointView(row);
  });
}

export function checkpointView(row: {
  seq: number;
  hash: string;
  signed_at: Date;
  public_key: string;
  signature: string;
}): CheckpointView {
  return {
    seq: row.seq,
    hash: row.hash,
    signedAt: row.signed_at.toISOString(),
    publicKey: row.public_key,
    signature: row.signature,
  };
}

/** Runs the chainer every intervalMs in this process until stopped (a pass is never overlapped). */
export function startChainer(ctx: Ctx, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = chainPending(ctx)
      .then(() => undefined)
      .catch((error) => ctx.log.error({ err: error }, "audit chainer failed"))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
