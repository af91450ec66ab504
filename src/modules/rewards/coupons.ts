import { sql } from "kysely";
import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import type { Program } from "../programs/index.ts";
import { invalid } from "./catalog.ts";
import { newCodes, normalizeCode } from "./codes.ts";
import { grantableReward } from "./redemption.ts";
import type { CouponBatchesTable } from "./tables.ts";

export const couponCodesMax = 100_000;
export const partnerCodesPerUploadMax = 10_000;
/** Partner codes per insert: 6 columns each stays far below PostgreSQL's 65,535 parameters. */
const rowsPerInsert = 1_000;
/** Coupon codes per insert (sent as two array parameters). */
const codesPerInsert = 10_000;

export const couponBatchCreateSchema = z
  .object({
    name: z.string().trim().min(1).max(120),
    rewardId: z
      .string()
      .max(64)
      .describe("The benefit: a discount, free product or web shop reward"),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9]{0,12}$/, { message: "0 to 12 letters or digits" })
      .optional()
      .describe("Put before each generated code"),
    count: z.number().int().min(1).max(couponCodesMax).optional().describe("Codes to generate"),
    codes: z
      .array(z.string().max(64))
      .min(1)
      .max(couponCodesMax)
      .optional()
      .describe("Codes to import instead of generating"),
    usesMax: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe("Uses per code (default 1)"),
    validFrom: z.iso.datetime({ offset: true }).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type CouponBatchCreate = z.infer<typeof couponBatchCreateSchema>;

export const couponBatchSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    rewardId: z.string(),
    prefix: z.string(),
    usesMax: z.number().int(),
    codesCount: z.number().int(),
    validFrom: z.string().nullable(),
    expiresAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: "CouponBatch" });

export function couponBatchView(row: CouponBatchesTable) {
  return {
    id: row.id,
    name: row.name,
    rewardId: row.reward_id,
    prefix: row.prefix,
    usesMax: row.uses_max,
    codesCount: row.codes_count,
    validFrom: row.valid_from?.toISOString() ?? null,
    expiresAt: row.expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

/** Imported codes, normalised; a code twice in the list is refused with its position. */
function importedCodes(codes: string[]): string[] {
  const seen = new Set<string>();
  return codes.map((raw, index) => {
    const code = normalizeCode(raw, `body.codes.${index}`);
    if (seen.has(code)) throw invalid(`body.codes.${index}`, `code ${code} appears twice`);
    seen.add(code);
    return code;
  });
}

/**
 * Creates a batch of campaign coupon codes (generated with a prefix, or imported), each a voucher
 * with no member and no points, single- or multi-use. Inserted in chunks within one transaction.
 */
export async function createCouponBatch(
  tx: Tx,
  program: Program,
  input: CouponBatchCreate,
  at: Date,
): Promise<ReturnType<typeof couponBatchView>> {
  if ((input.count === undefined) === (input.codes === undefined)) {
    throw invalid("body.count", "give either count (to generate) or codes (to import)");
  }
  if (input.validFrom && input.expiresAt && input.validFrom >= input.expiresAt) {
    throw invalid("body.expiresAt", "must be after validFrom");
  }
  const reward = await grantableReward(tx, program.id, input.rewardId);
  const prefix = (input.prefix ?? "").toUpperCase();
  const imported = input.codes ? importedCodes(input.codes) : null;
  const batch: CouponBatchesTable = {
    id: newId("couponBatch"),
    program_id: program.id,
    reward_id: reward.id,
    name: input.name,
    prefix,
    uses_max: input.usesMax ?? 1,
    codes_count: imported?.length ?? input.count ?? 0,
    valid_from: input.validFrom ? new Date(input.validFrom) : null,
    expires_at: input.expiresAt ? new Date(input.expiresAt) : null,
    created_at: at,
  };
  await tx.insertInto("coupon_batches").values(batch).execute();
  // Two arrays per statement instead of a row of parameters per code: 100,000 codes are ten
  // statements; the constant columns are sent once.
  const insertCodes = async (codes: string[]) => {
    const ids = codes.map(() => newId("voucher"));
    const { rows } = await sql<{ code: string }>`
      insert into vouchers (id, program_id, code, reward_id, batch_id, source, mode, state,
        cash_minor, uses_max, valid_from, expires_at, created_at, updated_at)
      select t.id, ${program.id}, t.code, ${reward.id}, ${batch.id}, 'coupon', 'direct', 'issued',
        ${reward.cash_minor}::bigint, ${batch.uses_max}::int, ${batch.valid_from}::timestamptz,
        ${batch.expires_at}::timestamptz, ${at}::timestamptz, ${at}::timestamptz
      from unnest(${ids}::text[], ${codes}::text[]) as t(id, code)
      on conflict (program_id, code) do nothing
      returning code`.execute(tx);
    return rows;
  };
  let offset = 0;
  let toGenerate = imported ? 0 : batch.codes_count;
  while ((imported && offset < imported.length) || toGenerate > 0) {
    const chunk = imported
      ? imported.slice(offset, offset + codesPerInsert)
      : newCodes(Math.min(codesPerInsert, toGenerate), prefix);
    offset += chunk.length;
    const inserted = await insertCodes(chunk);
    if (imported) {
      if (inserted.length < chunk.length) {
        const fresh = new Set(inserted.map((row) => row.code));
        const taken = chunk.filter((code) => !fresh.has(code));
        throw new DomainError(
          "validation_failed",
          `codes already exist: ${taken.slice(0, 5).join(", ")}`,
          {
            issues: [{ path: "body.codes", message: `${taken.length} codes already exist` }],
            taken: taken.slice(0, 100),
          },
        );
      }
    } else {
      // A generated code that collides (2^-60 per pair) is simply generated again.
      toGenerate -= inserted.length;
    }
  }
  await emit(tx, {
    programId: program.id,
    type: "coupon_batch.created",
    payload: {
      batchId: batch.id,
      rewardId: reward.id,
      name: batch.name,
      codesCount: batch.codes_count,
      usesMax: batch.uses_max,
    },
    at,
  });
  return couponBatchView(batch);
}

export async function findCouponBatch(db: Queryable, programId: string, batchId: string) {
  const row = await db
    .selectFrom("coupon_batches")
    .selectAll()
    .where("id", "=", batchId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("coupon_batch_not_found", batchId);
  return row;
}

export async function listCouponBatches(
  db: Queryable,
  programId: string,
  options: { limit: number; after?: string | undefined },
) {
  let query = db
    .selectFrom("coupon_batches")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .limit(options.limit);
  if (options.after) query = query.where("id", ">", options.after);
  return (await query.execute()).map(couponBatchView);
}

export async function listBatchCodes(
  db: Queryable,
  batchId: string,
  options: { limit: number; after?: string | undefined },
) {
  let query = db
    .selectFrom("vouchers")
    .selectAll()
    .where("batch_id", "=", batchId)
    .orderBy("id")
    .limit(options.limit);
  if (options.after) query = query.where("id", ">", options.after);
  return query.execute();
}

/** Adds partner gift card codes to a reward's pool; codes already in the pool are skipped. */
export async function addPartnerCodes(
  tx: Tx,
  programId: string,
  rewardId: string,
  codes: string[],
  at: Date,
): Promise<{ added: number; duplicates: number; available: number }> {
  const reward = await tx
    .selectFrom("rewards")
    .select(["id", "type"])
    .where("id", "=", rewardId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!reward) throw notFound("reward_not_found", rewardId);
  if (reward.type !== "partner_gift_card") {
    throw invalid("params.rewardId", "only partner_gift_card rewards take a pool of codes");
  }
  const unique = [...new Set(codes.map((code) => code.trim()))];
  let added = 0;
  for (let start = 0; start < unique.length; start += rowsPerInsert) {
    const rows = unique.slice(start, start + rowsPerInsert).map((code) => ({
      id: newId("rewardCode"),
      program_id: programId,
      reward_id: rewardId,
      code,
      voucher_id: null,
      created_at: at,
    }));
    const inserted = await tx
      .insertInto("reward_codes")
      .values(rows)
      .onConflict((oc) => oc.columns(["reward_id", "code"]).doNothing())
      .returning("id")
      .execute();
    added += inserted.length;
  }
  const counts = await partnerCodeCounts(tx, rewardId);
  return { added, duplicates: codes.length - added, available: counts.available };
}

export async function partnerCodeCounts(db: Queryable | Tx, rewardId: string) {
  const row = await db
    .selectFrom("reward_codes")
    .select((eb) => [
      eb.fn.countAll<number>().as("total"),
      eb.fn.count<number>("voucher_id").as("assigned"),
    ])
    .where("reward_id", "=", rewardId)
    .executeTakeFirstOrThrow();
  const total = Number(row.total);
  const assigned = Number(row.assigned);
  return { available: total - assigned, assigned };
}
