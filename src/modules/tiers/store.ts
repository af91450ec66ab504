import { sql } from "kysely";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { getProgram, type Program } from "../programs/index.ts";
import { type LadderInput, ladderFrom, type TierLadder } from "./ladder.ts";

/** A saved ladder version: the input as sent, each tier with its stable id. */
interface StoredDefinition extends LadderInput {
  tiers: (LadderInput["tiers"][number] & { id: string })[];
}

type Db = Queryable | Tx;

function toLadder(row: { version: number; definition: unknown }, timezone: string): TierLadder {
  const definition = row.definition as StoredDefinition;
  const ids = new Map(definition.tiers.map((tier) => [tier.code, tier.id]));
  return ladderFrom(definition, {
    version: row.version,
    timezone,
    idOf: (code) => ids.get(code) ?? "",
  });
}

/** The ladder in force (or the given version); null when the program has none. */
export async function loadLadder(
  db: Db,
  program: Pick<Program, "id" | "timezone">,
  version?: number,
): Promise<TierLadder | null> {
  let query = db
    .selectFrom("tier_ladders")
    .select(["version", "definition"])
    .where("program_id", "=", program.id);
  query =
    version === undefined
      ? query.orderBy("version", "desc").limit(1)
      : query.where("version", "=", version);
  const row = await query.executeTakeFirst();
  return row ? toLadder(row, program.timezone) : null;
}

/** Saved versions, newest first, each with its save time; `before` pages back. */
export async function listLadderVersions(
  db: Db,
  program: Pick<Program, "id" | "timezone">,
  options: { limit: number; before?: number | undefined },
): Promise<(TierLadder & { createdAt: Date })[]> {
  let query = db
    .selectFrom("tier_ladders")
    .select(["version", "definition", "created_at"])
    .where("program_id", "=", program.id)
    .orderBy("version", "desc")
    .limit(options.limit);
  if (options.before !== undefined) query = query.where("version", "<", options.before);
  const rows = await query.execute();
  return rows.map((row) => ({ ...toLadder(row, program.timezone), createdAt: row.created_at }));
}

/** How long a process reuses a ladder it read; a change elsewhere is seen within this. */
export const ladderCacheTtlMs = 1_000;
const ladderCache = new Map<string, { ladder: TierLadder | null; until: number }>();

/**
 * The ladder for the purchase path, read at most once a second per process (also "no ladder",
 * so a program without tiers costs its purchases nothing). A change made here is seen at once.
 */
export async function loadLadderCached(
  db: Db,
  program: Pick<Program, "id" | "timezone">,
): Promise<TierLadder | null> {
  const now = Date.now();
  const hit = ladderCache.get(program.id);
  if (hit && hit.until > now && (hit.ladder === null || hit.ladder.timezone === program.timezone)) {
    return hit.ladder;
  }
  const ladder = await loadLadder(db, program);
  if (ladderCache.size > 1_000) ladderCache.clear();
  ladderCache.set(program.id, { ladder, until: now + ladderCacheTtlMs });
  return ladder;
}

export function forgetLadder(programId: string): void {
  ladderCache.delete(programId);
}

/**
 * Saves a new ladder version. Tiers keep their id by code; a tier some member holds cannot be
 * dropped. A changed grace period moves every pending review of the program.
 */
export async function saveLadder(
  tx: Tx,
  programId: string,
  input: LadderInput,
  at: Date,
): Promise<TierLadder> {
  const program = await getProgram(tx, programId);
  // Two saves of one program queue here, so versions never collide.
  await sql`select pg_advisory_xact_lock(hashtext(${`tier_ladder:${programId}`}))`.execute(tx);
  const previous = await loadLadder(tx, program);
  const codes = input.tiers.map((tier) => tier.code);
  const known = await tx
    .selectFrom("tiers")
    .select(["id", "code"])
    .where("program_id", "=", programId)
    .where("code", "in", codes)
    .execute();
  const ids = new Map(known.map((row) => [row.code, row.id]));
  const created = codes
    .filter((code) => !ids.has(code))
    .map((code) => ({ id: newId("tier"), program_id: programId, code, created_at: at }));
  for (const row of created) ids.set(row.code, row.id);
  const kept = [...ids.values()];
  const dropped = await tx
    .selectFrom("member_tiers")
    .innerJoin("tiers", "tiers.id", "member_tiers.tier_id")
    .select(["tiers.code", (eb) => eb.fn.countAll<number>().as("members")])
    .where("member_tiers.program_id", "=", programId)
    .where("member_tiers.tier_id", "not in", kept)
    .groupBy("tiers.code")
    .orderBy("tiers.code")
    .executeTakeFirst();
  if (dropped) {
    throw new DomainError(
      "tier_in_use",
      `tier ${dropped.code} is held by ${dropped.members} member(s); keep it on the ladder`,
      { code: dropped.code, members: Number(dropped.members) },
    );
  }
  if (created.length > 0) await tx.insertInto("tiers").values(created).execute();
  const version = (previous?.version ?? 0) + 1;
  const definition: StoredDefinition = {
    ...input,
    tiers: input.tiers.map((tier) => ({ ...tier, id: ids.get(tier.code) ?? "" })),
  };
  await tx
    .insertInto("tier_ladders")
    .values({
      program_id: programId,
      version,
      definition: JSON.stringify(definition),
      created_at: at,
    })
    .execute();
  if (previous && previous.gracePeriodDays !== input.gracePeriodDays) {
    await tx
      .updateTable("member_tiers")
      .set({
        review_at: sql`period_end + make_interval(days => ${input.gracePeriodDays}::int)`,
      })
      .where("program_id", "=", programId)
      .where("period_end", "is not", null)
      .execute();
  }
  await emit(tx, { programId, type: "tier_ladder.updated", payload: { version }, at });
  return toLadder({ version, definition }, program.timezone);
}

export async function requireLadder(
  db: Db,
  program: Pick<Program, "id" | "timezone">,
  version?: number,
): Promise<TierLadder> {
  const ladder = await loadLadder(db, program, version);
  if (!ladder) {
    throw notFound(
      "tier_ladder_not_found",
      version === undefined ? program.id : `${program.id} v${version}`,
    );
  }
  return ladder;
}
