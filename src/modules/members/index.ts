import { z } from "zod";
import type { Ctx } from "../../context.ts";
import { pgErrorCode, type Queryable, type Tx } from "../../db/client.ts";
import type { MemberRecordsTable, MembersTable } from "../../db/schema.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { emit } from "../outbox/index.ts";
import { getProgram } from "../programs/index.ts";
import { isValidCardNumber, newCardNumber, normalizeEmail, normalizePhone } from "./identifiers.ts";
import { searchByName, writeNameTokens } from "./search.ts";
import {
  emailIndex,
  indexVersion,
  openMember,
  phoneIndex,
  sealFields,
  sealMember,
} from "./storage.ts";

export { isValidCardNumber, normalizePhone } from "./identifiers.ts";
export {
  activeMembersBornOn,
  birthdaysOn,
  nameSearchLimitMax,
  reindexBatchMax,
  reindexMembers,
} from "./search.ts";

const channels = ["email", "sms", "whatsapp", "push"] as const;
const marketingSchema = z
  .object({
    email: z.boolean().optional(),
    sms: z.boolean().optional(),
    whatsapp: z.boolean().optional(),
    push: z.boolean().optional(),
  })
  .strict();

const profileFields = {
  name: z.string().trim().min(1).max(120).nullable().optional(),
  birthday: z.iso.date().nullable().optional(),
  city: z.string().trim().min(1).max(80).nullable().optional(),
  gender: z.enum(["female", "male", "other", "undisclosed"]).nullable().optional(),
  ageBand: z
    .enum(["<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"])
    .nullable()
    .optional(),
  tags: z
    .array(z.string().trim().toLowerCase().min(1).max(40))
    .max(50)
    .transform((tags) => [...new Set(tags)])
    .optional()
    .describe("Segments for earning rules (lowercased, at most 50 of 40 characters)"),
};

export const memberEnrolSchema = z
  .object({
    phone: z.string().max(40).optional(),
    email: z.email().max(254).optional(),
    ...profileFields,
    consents: z
      .object({
        terms: z.literal(true, { message: "the member must accept the terms" }),
        marketing: marketingSchema.default({}),
      })
      .strict(),
    channel: z.enum(["pos", "online", "app"]).default("pos"),
    storeId: z.string().trim().min(1).max(64).optional(),
    // Judged by the referrals module after the member is written (see attachReferral).
    referralCode: z.string().trim().min(1).max(32).optional(),
    deviceFingerprint: z.string().min(1).max(256).optional(),
  })
  .strict()
  .refine((value) => value.phone !== undefined || value.email !== undefined, {
    message: "a phone number or an email is required",
    path: ["phone"],
  });
export type MemberEnrol = z.infer<typeof memberEnrolSchema>;

export const memberUpdateSchema = z
  .object({
    phone: z.string().max(40).nullable().optional(),
    email: z.email().max(254).nullable().optional(),
    ...profileFields,
    marketing: marketingSchema.optional(),
  })
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });
export type MemberUpdate = z.infer<typeof memberUpdateSchema>;

export const memberLookupSchema = z
  .object({
    phone: z.string().max(40).optional(),
    email: z.string().max(254).optional(),
    card: z.string().max(64).optional(),
  })
  .refine((value) => Object.values(value).filter((v) => v !== undefined).length === 1, {
    message: "give exactly one of phone, email or card",
  });
export type MemberLookup = z.infer<typeof memberLookupSchema>;

/** How a purchase or a POS call names its member. */
export const memberRefSchema = z
  .object({
    id: z.string().max(64).optional(),
    phone: z.string().max(40).optional(),
    card: z.string().max(64).optional(),
  })
  .strict()
  .refine((value) => Object.values(value).filter((v) => v !== undefined).length === 1, {
    message: "name the member by exactly one of id, phone or card",
  });
export type MemberRef = z.infer<typeof memberRefSchema>;

const consentSchema = z.object({ granted: z.boolean(), at: z.string() });
export const memberSchema = z.object({
  id: z.string(),
  programId: z.string(),
  phone: z.string().nullable(),
  email: z.string().nullable(),
  cardNumber: z.string(),
  name: z.string().nullable(),
  birthday: z.string().nullable(),
  city: z.string().nullable(),
  gender: z.string().nullable(),
  ageBand: z.string().nullable(),
  tags: z.array(z.string()),
  status: z.enum(["active", "blocked", "erased"]),
  blockedReason: z.string().nullable(),
  consents: z.object({
    termsAcceptedAt: z.string(),
    marketing: z.record(z.string(), consentSchema),
  }),
  enrolledChannel: z.string(),
  enrolledStoreId: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type MemberView = z.infer<typeof memberSchema>;

type Consents = { marketing: Record<string, { granted: boolean; at: string }> };

export async function enrolMember(
  tx: Tx,
  now: Date,
  programId: string,
  input: MemberEnrol,
): Promise<MemberView> {
  const phone = input.phone === undefined ? null : normalizePhone(input.phone);
  const email = input.email === undefined ? null : normalizeEmail(input.email);
  const consents: Consents = { marketing: {} };
  for (const channel of channels) {
    consents.marketing[channel] = {
      granted: input.consents.marketing[channel] ?? false,
      at: now.toISOString(),
    };
  }
  {
    await getProgram(tx, programId);
    await assertIdentifiersFree(tx, programId, { phone, email }, null);
    const row: MembersTable = {
      id: newId("member"),
      program_id: programId,
      phone_e164: phone,
      email,
      card_number: newCardNumber(),
      name: input.name ?? null,
      birthday: input.birthday ?? null,
      city: input.city ?? null,
      gender: input.gender ?? null,
      age_band: input.ageBand ?? null,
      tags: input.tags ?? [],
      status: "active",
      blocked_reason: null,
      terms_accepted_at: now,
      consents: JSON.stringify(consents),
      enrolled_channel: input.channel,
      enrolled_store_id: input.storeId ?? null,
      created_at: now,
      updated_at: now,
    };
    await insertMember(tx, row);
    await writeNameTokens(tx, [row], false);
    await tx
      .insertInto("member_balances")
      .values({ member_id: row.id, program_id: programId, updated_at: now })
      .execute();
    await emit(tx, {
      programId,
      type: "member.enrolled",
      payload: { memberId: row.id, channel: input.channel, storeId: input.storeId ?? null },
      at: now,
    });
    return toView({ ...row, consents });
  }
}

async function insertMember(tx: Tx, row: MembersTable): Promise<void> {
  try {
    await tx.insertInto("members").values(sealMember(row)).execute();
  } catch (error) {
    // Two enrolments racing for one phone or email: the unique index decides.
    if (pgErrorCode(error) === "23505") {
      throw new DomainError("identifier_taken", "phone, email or card number is already enrolled");
    }
    throw error;
  }
}

async function assertIdentifiersFree(
  tx: Tx,
  programId: string,
  ids: { phone?: string | null; email?: string | null },
  exceptMemberId: string | null,
): Promise<void> {
  const checks = [
    ["phone", "phone_bidx", ids.phone ? phoneIndex(programId, ids.phone) : null],
    ["email", "email_bidx", ids.email ? emailIndex(programId, ids.email) : null],
  ] as const;
  for (const [field, column, index] of checks) {
    if (index === null) continue;
    const existing = await tx
      .selectFrom("members")
      .select("id")
      .where("program_id", "=", programId)
      .where(column, "=", index)
      .executeTakeFirst();
    if (existing && existing.id !== exceptMemberId) {
      throw new DomainError("identifier_taken", `${field} is already enrolled in this program`, {
        field,
        memberId: existing.id,
      });
    }
  }
}

export async function updateMember(
  tx: Tx,
  now: Date,
  programId: string,
  memberId: string,
  input: MemberUpdate,
): Promise<MemberView> {
  {
    const record = await lockMember(tx, programId, memberId);
    const current = openMember(record);
    assertNotErased(current);
    const phone =
      input.phone === undefined
        ? undefined
        : input.phone === null
          ? null
          : normalizePhone(input.phone);
    const email =
      input.email === undefined
        ? undefined
        : input.email === null
          ? null
          : normalizeEmail(input.email);
    await assertIdentifiersFree(tx, programId, { phone, email }, memberId);
    const nextPhone = phone === undefined ? current.phone_e164 : phone;
    const nextEmail = email === undefined ? current.email : email;
    if (!nextPhone && !nextEmail) {
      throw new DomainError("validation_failed", "a member keeps a phone number or an email", {
        field: "phone",
      });
    }
    const consents = current.consents as Consents;
    const changed: string[] = [];
    for (const channel of channels) {
      const granted = input.marketing?.[channel];
      if (granted !== undefined && consents.marketing[channel]?.granted !== granted) {
        consents.marketing[channel] = { granted, at: now.toISOString() };
        changed.push(channel);
      }
    }
    const name = input.name === undefined ? current.name : input.name;
    // The tokens follow the name; a row indexed under another key gets all of them again.
    if (name !== current.name || record.index_version !== indexVersion()) {
      await writeNameTokens(tx, [{ id: memberId, program_id: programId, name }], true);
    }
    const row = await tx
      .updateTable("members")
      .set({
        // All four fields are sealed again, so the row stays under one key (data_key_id).
        ...sealFields(memberId, programId, {
          phone_e164: nextPhone,
          email: nextEmail,
          name,
          birthday: input.birthday === undefined ? current.birthday : input.birthday,
        }),
        index_version: indexVersion(),
        ...(input.city !== undefined && { city: input.city }),
        ...(input.gender !== undefined && { gender: input.gender }),
        ...(input.ageBand !== undefined && { age_band: input.ageBand }),
        ...(input.tags !== undefined && { tags: input.tags }),
        consents: JSON.stringify(consents),
        updated_at: now,
      })
      .where("id", "=", memberId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await emit(tx, {
      programId,
      type: "member.updated",
      payload: { memberId, fields: Object.keys(input), consentsChanged: changed },
      at: now,
    });
    return toView(openMember(row));
  }
}

export async function setMemberStatus(
  tx: Tx,
  now: Date,
  programId: string,
  memberId: string,
  status: "active" | "blocked",
  reason: string | null,
): Promise<MemberView> {
  {
    assertNotErased(await lockMember(tx, programId, memberId));
    const row = await tx
      .updateTable("members")
      .set({ status, blocked_reason: status === "blocked" ? reason : null, updated_at: now })
      .where("id", "=", memberId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await emit(tx, {
      programId,
      type: status === "blocked" ? "member.blocked" : "member.unblocked",
      payload: { memberId, reason },
      at: now,
    });
    return toView(openMember(row));
  }
}

export async function getMember(
  ctx: Ctx,
  programId: string,
  memberId: string,
): Promise<MemberView> {
  return toView(await findMemberRow(ctx.db.kysely, programId, { id: memberId }));
}

export async function lookupMember(
  ctx: Ctx,
  programId: string,
  lookup: MemberLookup,
): Promise<MemberView> {
  return toView(
    await findMemberRow(ctx.db.kysely, programId, {
      phone: lookup.phone,
      card: lookup.card,
      email: lookup.email,
    }),
  );
}

export async function listMembers(
  ctx: Ctx,
  programId: string,
  page: { limit: number; after?: string | undefined },
): Promise<MemberView[]> {
  let query = ctx.db.kysely
    .selectFrom("members")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id")
    .limit(page.limit);
  if (page.after) query = query.where("id", ">", page.after);
  return (await query.execute()).map((record) => toView(openMember(record)));
}

/** What a search box's text names: an email, a card number (16 digits), a phone, or a name. */
function searchTarget(q: string): "email" | "card" | "phone" | "name" {
  if (q.includes("@")) return "email";
  const compact = q.replace(/[\s().-]/g, "");
  // E.164 numbers have at most 15 digits, so 16 digits are a card.
  if (/^\d{16}$/.test(compact)) return "card";
  if (/^\+?\d+$/.test(compact)) return "phone";
  return "name";
}

/**
 * Finds members by what one search box holds: a phone number (any format), an email, a card
 * number, or the beginnings of the words of a name (search.ts), at most `limit`, oldest first.
 * An erased member is never found.
 */
export async function searchMembers(
  ctx: Ctx,
  programId: string,
  q: string,
  limit: number,
): Promise<{ members: MemberView[]; more: boolean }> {
  const target = searchTarget(q);
  if (target === "name") {
    const found = await searchByName(ctx.db.kysely, programId, q, limit);
    return { members: found.rows.map(toView), more: found.more };
  }
  try {
    const row = await findMemberRow(ctx.db.kysely, programId, { [target]: q });
    return { members: row.status === "erased" ? [] : [toView(row)], more: false };
  } catch (error) {
    if (error instanceof DomainError && error.code === "member_not_found") {
      return { members: [], more: false };
    }
    throw error;
  }
}

/**
 * Finds a member of the program by id, phone, card or email. A member of another program is
 * reported exactly like a missing one.
 */
export async function findMemberRow(
  db: Queryable | Tx,
  programId: string,
  ref: {
    id?: string | undefined;
    phone?: string | undefined;
    card?: string | undefined;
    email?: string | undefined;
  },
): Promise<MembersTable> {
  const label = ref.id ?? ref.phone ?? ref.card ?? ref.email ?? "";
  let query = db.selectFrom("members").selectAll().where("program_id", "=", programId);
  if (ref.id !== undefined) {
    query = query.where("id", "=", ref.id);
  } else if (ref.phone !== undefined) {
    query = query.where("phone_bidx", "=", phoneIndex(programId, normalizePhone(ref.phone)));
  } else if (ref.card !== undefined) {
    const card = ref.card.replace(/[\s-]/g, "");
    if (!isValidCardNumber(card)) {
      throw new DomainError("validation_failed", "card number is not valid (check digit)", {
        field: "card",
      });
    }
    query = query.where("card_number", "=", card);
  } else if (ref.email !== undefined) {
    query = query.where("email_bidx", "=", emailIndex(programId, normalizeEmail(ref.email)));
  } else {
    throw new DomainError("validation_failed", "no member identifier given");
  }
  const row = await query.executeTakeFirst();
  if (!row) throw notFound("member_not_found", label);
  return openMember(row);
}

/**
 * Resolves many member references with one query; each answer is the member's row or the error
 * that naming it by that reference gives (not found, bad phone, bad card check digit).
 */
export async function findMemberRows(
  db: Queryable | Tx,
  programId: string,
  refs: MemberRef[],
): Promise<(MembersTable | DomainError)[]> {
  const keys = refs.map(
    (ref): { column: "id" | "phone_bidx" | "card_number"; value: string } | DomainError => {
      try {
        if (ref.id !== undefined) return { column: "id", value: ref.id };
        if (ref.phone !== undefined)
          return { column: "phone_bidx", value: phoneIndex(programId, normalizePhone(ref.phone)) };
        const card = (ref.card ?? "").replace(/[\s-]/g, "");
        if (!isValidCardNumber(card)) {
          return new DomainError("validation_failed", "card number is not valid (check digit)", {
            field: "card",
          });
        }
        return { column: "card_number", value: card };
      } catch (error) {
        if (error instanceof DomainError) return error;
        throw error;
      }
    },
  );
  const wanted = (column: "id" | "phone_bidx" | "card_number") =>
    keys.flatMap((key) => (key instanceof DomainError || key.column !== column ? [] : [key.value]));
  const ids = wanted("id");
  const phones = wanted("phone_bidx");
  const cards = wanted("card_number");
  const rows =
    ids.length + phones.length + cards.length === 0
      ? []
      : await db
          .selectFrom("members")
          .selectAll()
          .where("program_id", "=", programId)
          .where((eb) =>
            eb.or([
              ...(ids.length > 0 ? [eb("id", "in", ids)] : []),
              ...(phones.length > 0 ? [eb("phone_bidx", "in", phones)] : []),
              ...(cards.length > 0 ? [eb("card_number", "in", cards)] : []),
            ]),
          )
          .execute();
  // Each row is decrypted once, however many references name it.
  const opened = new Map<string, MembersTable>();
  return keys.map((key, index) => {
    if (key instanceof DomainError) return key;
    const record = rows.find((candidate) => candidate[key.column] === key.value);
    const ref = refs[index] as MemberRef;
    if (!record) return notFound("member_not_found", ref.id ?? ref.phone ?? ref.card ?? "");
    let row = opened.get(record.id);
    if (!row) {
      row = openMember(record);
      opened.set(record.id, row);
    }
    return row;
  });
}

async function lockMember(
  tx: Tx,
  programId: string,
  memberId: string,
): Promise<MemberRecordsTable> {
  const row = await tx
    .selectFrom("members")
    .selectAll()
    .where("id", "=", memberId)
    .where("program_id", "=", programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("member_not_found", memberId);
  return row;
}

/** An erased member keeps its id for the ledger but can no longer change or come back. */
function assertNotErased(row: Pick<MembersTable, "id" | "status">): void {
  if (row.status === "erased") {
    throw new DomainError("member_blocked", `member ${row.id} is erased`, {
      memberId: row.id,
      status: "erased",
    });
  }
}

export function toView(row: MembersTable): MemberView {
  const consents = (
    typeof row.consents === "string" ? JSON.parse(row.consents) : row.consents
  ) as Consents;
  return {
    id: row.id,
    programId: row.program_id,
    phone: row.phone_e164,
    email: row.email,
    cardNumber: row.card_number,
    name: row.name,
    birthday: row.birthday,
    city: row.city,
    gender: row.gender,
    ageBand: row.age_band,
    tags: row.tags ?? [],
    status: row.status,
    blockedReason: row.blocked_reason,
    consents: {
      termsAcceptedAt: row.terms_accepted_at.toISOString(),
      marketing: consents.marketing,
    },
    enrolledChannel: row.enrolled_channel,
    enrolledStoreId: row.enrolled_store_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
