import type { Ctx } from "../../context.ts";
import { checkpointIfDue, checkpointView } from "./chain.ts";
import { genesisHash, loadContents, refKey } from "./content.ts";
import { verifyPageSize } from "./verify.ts";

export const exportFormat = "setia-audit-export/1";

/**
 * The chain as JSON Lines for a third party: a header (format, algorithms, public keys), every
 * record with its full content, then the signed checkpoints. The head is checkpointed first, so
 * the whole file is covered by a signature. docs/audit-verify.mjs checks a file without Setia.
 */
export async function* exportAudit(ctx: Ctx): AsyncGenerator<string> {
  const db = ctx.db.kysely;
  await checkpointIfDue(ctx, true);
  const checkpoints = (
    await db.selectFrom("audit_checkpoints").selectAll().orderBy("seq").execute()
  ).map(checkpointView);
  yield `${JSON.stringify({
    type: "header",
    format: exportFormat,
    hash: "SHA-256",
    signature: "Ed25519",
    genesisHash,
    publicKeys: [...new Set(checkpoints.map((checkpoint) => checkpoint.publicKey))],
    exportedAt: ctx.clock.now().toISOString(),
  })}\n`;
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom("audit_chain")
      .selectAll()
      .where("seq", ">", after)
      .orderBy("seq")
      .limit(verifyPageSize)
      .execute();
    if (rows.length === 0) break;
    const contents = await loadContents(
      db,
      rows.map((row) => ({ source: row.source, sourceId: row.source_id })),
    );
    let lines = "";
    for (const row of rows) {
      lines += `${JSON.stringify({
        type: "record",
        seq: row.seq,
        prevHash: row.prev_hash,
        hash: row.hash,
        source: row.source,
        sourceId: row.source_id,
        programId: row.program_id,
        contentHash: row.content_hash,
        content: contents.get(refKey({ source: row.source, sourceId: row.source_id })) ?? null,
      })}\n`;
      after = row.seq;
    }
    yield lines;
  }
  for (const checkpoint of checkpoints)
    yield `${JSON.stringify({ type: "checkpoint", ...checkpoint })}\n`;
}
