import { z } from "zod";
import type { Db, Queryable, Tx } from "../../db/client.ts";
import type { MemberRecordsTable } from "../../db/schema.ts";
import { notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { newCardNumber } from "../members/identifiers.ts";
import { openMember } from "../members/storage.ts";
import { emit } from "../outbox/index.ts";
import { personalNeedles } from "./redact.ts";
import { memberDataSections } from "./sections.ts";
import type { ErasuresTable } from "./tables.ts";

export const erasureRequestSchema = z
  .object({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .describe("Why (e.g. the request's ticket number); never the member's personal data"),
  })
  .strict();

export const erasureSchema = z
  .object({
    id: z.string(),
    programId: z.string(),
    memberId: z.string(),
    reason: z.string(),
    requestedBy: z.string().nullable(),
    erasedAt: z.string(),
  })
  .meta({ id: "Erasure" });
export type ErasureView = z.infer<typeof erasureSchema>;

const erasureView = (row: ErasuresTable): ErasureView => ({
  id: row.id,
  programId: row.program_id,
  memberId: row.member_id,
  reason: row.reason,
  requestedBy: row.requested_by,
  erasedAt: row.erased_at.toISOString(),
});

/** The member's personal fields as an erased row has them. */
const erasedFields = {
  phone_enc: null,
  email_enc: null,
  name_enc: null,
  birthday_enc: null,
  data_key_id: null,
  phone_bidx: null,
  email_bidx: null,
  birthday_bidx: null,
  index_version: null,
  city: null,
  gender: null,
  age_band: null,
  blocked_reason: null,
  tags: [],
  status: "erased",
} satisfies Partial<MemberRecordsTable>;

/**
 * Erases a member's personal data everywhere the platform holds it, in one transaction: the
 * members row keeps only its id, program, consents history and dates (a fresh card number
 * replaces the old one), each module's section removes what it holds, and the ledger keeps its
 * rows under the member id so balances and verification stay correct. Erasing an erased member
 * answers the first erasure. With `previous` (a recorded erasure being re-applied after a
 * restore) that record is kept instead of a new one.
 */
export async function eraseMember(
  tx: Tx,
  input: {
    programId: string;
    memberId: string;
    reason: string;
    requestedBy: string | null;
    at: Date;
    previous?: ErasuresTable;
  },
): Promise<{ erasure: ErasureView; replayed: boolean }> {
  const { programId, memberId, at } = input;
  const record = await tx
    .selectFrom("members")
    .selectAll()
    .where("id", "=", memberId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!record) throw notFound("member_not_found", memberId);
  const recorded = await tx
    .selectFrom("erasures")
    .selectAll()
    .where("member_id", "=", memberId)
    .executeTakeFirst();
  if (record.status === "erased" && recorded) {
    return { erasure: erasureView(recorded), replayed: true };
  }
  const scope = { programId, memberId, needles: personalNeedles(openMember(record)) };
  await tx
    .updateTable("members")
    .set({ ...erasedFields, card_number: newCardNumber(), updated_at: at })
    .where("id", "=", memberId)
    .execute();
  for (const section of memberDataSections) await section.erase?.(tx, scope);
  const erasure: ErasuresTable = recorded ??
    input.previous ?? {
      id: newId("erasure"),
      program_id: programId,
      member_id: memberId,
      reason: input.reason,
      requested_by: input.requestedBy,
      erased_at: at,
    };
  if (!recorded) await tx.insertInto("erasures").values(erasure).execute();
  await emit(tx, {
    programId,
    type: "member.erased",
    payload: { memberId, erasureId: erasure.id, reapplied: input.previous !== undefined },
    at,
  });
  return { erasure: erasureView(erasure), replayed: false };
}

export const erasureListMax = 10_000;

/** The erasure log of a program (or every program), oldest first: what a restore re-applies. */
export async function listErasures(
  db: Queryable,
  filter: { programId?: string | undefined; after?: string | undefined; limit: number },
): Promise<ErasureView[]> {
  let query = db
    .selectFrom("erasures")
    .selectAll()
    .orderBy("id")
    .limit(Math.min(filter.limit, erasureListMax));
  if (filter.programId !== undefined) query = query.where("program_id", "=", filter.programId);
  if (filter.after !== undefined) query = query.where("id", ">", filter.after);
  return (await query.execute()).map(erasureView);
}

/** The whole erasure log, read page by page. */
export async function allErasures(db: Queryable, programId?: string): Promise<ErasureView[]> {
  const all: ErasureView[] = [];
  for (;;) {
    const rows = await listErasures(db, {
      programId,
      after: all.at(-1)?.id,
      limit: erasureListMax,
    });
    all.push(...rows);
    if (rows.length < erasureListMax) return all;
  }
}

export const erasureLogSchema = z.array(erasureSchema).max(1_000_000);

/**
 * Applies recorded erasures again, e.g. after restoring a backup taken before some of them: the
 * log is the database's erasures table plus, optionally, a saved copy (`setia privacy erasures`)
 * kept outside the backup. Members already erased are skipped; members the restored database does
 * not know are reported absent.
 */
export async function reapplyErasures(
  db: Db,
  at: Date,
  saved: ErasureView[] = [],
): Promise<{ reapplied: string[]; alreadyErased: number; absent: string[] }> {
  const log = new Map<string, ErasuresTable>();
  for (const item of saved) {
    log.set(item.memberId, {
      id: item.id,
      program_id: item.programId,
      member_id: item.memberId,
      reason: item.reason,
      requested_by: item.requestedBy,
      erased_at: new Date(item.erasedAt),
    });
  }
  for (const row of await db.kysely.selectFrom("erasures").selectAll().execute()) {
    log.set(row.member_id, row);
  }
  const outcome = { reapplied: [] as string[], alreadyErased: 0, absent: [] as string[] };
  for (const previous of log.values()) {
    const member = await db.kysely
      .selectFrom("members")
      .select(["status", "program_id"])
      .where("id", "=", previous.member_id)
      .executeTakeFirst();
    if (!member || member.program_id !== previous.program_id) {
      outcome.absent.push(previous.member_id);
    } else if (member.status === "erased") {
      outcome.alreadyErased += 1;
    } else {
      await db.transaction((tx) =>
        eraseMember(tx, {
          programId: previous.program_id,
          memberId: previous.member_id,
          reason: previous.reason,
          requestedBy: previous.requested_by,
          at,
          previous,
        }),
      );
      outcome.reapplied.push(previous.member_id);
    }
  }
  return outcome;
}
