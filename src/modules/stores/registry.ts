import { sql } from "kysely";
import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { payloadHash } from "../../lib/json.ts";
import { emit } from "../outbox/index.ts";
import { getProgram, timezoneSchema } from "../programs/index.ts";
import { type StoreFigures, storeFiguresSchema } from "./figures.ts";
import { type StoresTable, storeChannels, storeStatuses } from "./tables.ts";

/** Indonesia's largest convenience chains run about 20,000 stores each. */
export const storesPerProgramMax = 50_000;
/** The same bound as a purchase's storeId. */
export const storeCodeLengthMax = 64;

const code = z
  .string()
  .trim()
  .min(1)
  .max(storeCodeLengthMax)
  .describe("Your store code: the storeId your purchases and refunds carry");
const fields = {
  name: z.string().trim().min(1).max(120),
  city: z.string().trim().min(1).max(80).nullable(),
  address: z.string().trim().min(1).max(300).nullable(),
  timezone: timezoneSchema.nullable().describe("IANA time zone; null: the program's"),
  channel: z.enum(storeChannels),
  status: z.enum(storeStatuses).describe("closed: new purchases at this store are refused"),
};

export const storeCreateSchema = z
  .object({
    code,
    name: fields.name,
    city: fields.city.optional(),
    address: fields.address.optional(),
    timezone: fields.timezone.optional(),
    channel: fields.channel.default("pos"),
    status: fields.status.default("active"),
  })
  .strict();
export type StoreCreate = z.infer<typeof storeCreateSchema>;

export const storeUpdateSchema = z
  .object(fields)
  .partial()
  .strict()
  .refine((value) => Object.keys(value).length > 0, { message: "nothing to update" });
export type StoreUpdate = z.infer<typeof storeUpdateSchema>;

export const storeSchema = z
  .object({
    code: z.string().describe("The storeId purchases at this store carry"),
    name: z.string(),
    city: z.string().nullable(),
    address: z.string().nullable(),
    timezone: z.string().nullable(),
    channel: z.enum(storeChannels),
    status: z.enum(storeStatuses),
    createdAt: z.string(),
    updatedAt: z.string(),
    figures: storeFiguresSchema.optional(),
  })
  .meta({ id: "Store" });
export type StoreView = z.infer<typeof storeSchema>;

export function storeView(row: StoresTable, figures?: StoreFigures): StoreView {
  return {
    code: row.code,
    name: row.name,
    city: row.city,
    address: row.address,
    timezone: row.timezone,
    channel: row.channel,
    status: row.status,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(figures && { figures }),
  };
}

/**
 * Registers a store. Its code is the natural key: the same code with the same content again
 * answers the store as it is now (created: false); with other content it is 409 store_exists.
 */
export async function createStore(
  tx: Tx,
  now: Date,
  programId: string,
  input: StoreCreate,
): Promise<{ store: StoresTable; created: boolean }> {
  await getProgram(tx, programId);
  const content = {
    name: input.name,
    city: input.city ?? null,
    address: input.address ?? null,
    timezone: input.timezone ?? null,
    channel: input.channel,
    status: input.status,
  };
  const row: StoresTable = {
    program_id: programId,
    code: input.code,
    ...content,
    request_hash: payloadHash(content),
    created_at: now,
    updated_at: now,
  };
  const existing = await findStore(tx, programId, input.code);
  if (existing) return { store: replayOf(existing, row), created: false };
  const { count } = await tx
    .selectFrom("stores")
    .select(sql<number>`count(*)::int`.as("count"))
    .where("program_id", "=", programId)
    .executeTakeFirstOrThrow();
  if (count >= storesPerProgramMax) {
    throw new DomainError(
      "store_limit_reached",
      `a program has at most ${storesPerProgramMax} stores; close and reuse one instead`,
      { limit: storesPerProgramMax },
    );
  }
  const inserted = await tx
    .insertInto("stores")
    .values(row)
    .onConflict((conflict) => conflict.columns(["program_id", "code"]).doNothing())
    .returning("code")
    .executeTakeFirst();
  // A concurrent create of the same code won the insert: answer as a replay of it.
  if (!inserted) {
    const winner = await findStore(tx, programId, input.code);
    if (!winner) throw notFound("store_not_found", input.code);
    return { store: replayOf(winner, row), created: false };
  }
  await emit(tx, {
    programId,
    type: "store.created",
    payload: { storeId: row.code, name: row.name, channel: row.channel, status: row.status },
    at: now,
  });
  return { store: row, created: true };
}

function replayOf(existing: StoresTable, requested: StoresTable): StoresTable {
  if (existing.request_hash !== requested.request_hash) {
    throw new DomainError(
      "store_exists",
      `store ${existing.code} is already registered with other details; change it with PATCH`,
      { code: existing.code },
    );
  }
  return existing;
}

/** Changes the fields named; a change to nothing writes nothing. Closing is the delete. */
export async function updateStore(
  tx: Tx,
  now: Date,
  programId: string,
  storeCode: string,
  input: StoreUpdate,
): Promise<StoresTable> {
  const current = await tx
    .selectFrom("stores")
    .selectAll()
    .where("program_id", "=", programId)
    .where("code", "=", storeCode)
    .forUpdate()
    .executeTakeFirst();
  if (!current) throw notFound("store_not_found", storeCode);
  const changed = (Object.keys(input) as (keyof StoreUpdate)[]).filter(
    (field) => input[field] !== undefined && input[field] !== current[field],
  );
  if (changed.length === 0) return current;
  const next: StoresTable = { ...current, ...input, updated_at: now };
  await tx
    .updateTable("stores")
    .set({ ...input, updated_at: now })
    .where("program_id", "=", programId)
    .where("code", "=", storeCode)
    .execute();
  await emit(tx, {
    programId,
    type: "store.updated",
    payload: { storeId: storeCode, fields: changed, status: next.status },
    at: now,
  });
  return next;
}

export async function findStore(
  db: Queryable | Tx,
  programId: string,
  storeCode: string,
): Promise<StoresTable | undefined> {
  return db
    .selectFrom("stores")
    .selectAll()
    .where("program_id", "=", programId)
    .where("code", "=", storeCode)
    .executeTakeFirst();
}

export async function getStore(
  db: Queryable | Tx,
  programId: string,
  storeCode: string,
): Promise<StoresTable> {
  const row = await findStore(db, programId, storeCode);
  if (!row) throw notFound("store_not_found", storeCode);
  return row;
}

export interface StoreFilter {
  limit: number;
  /** The last code of the previous page. */
  after?: string | undefined;
  /** Part of the code, name or city, in any case. */
  search?: string | undefined;
  status?: StoresTable["status"] | undefined;
  channel?: StoresTable["channel"] | undefined;
  /** Only these codes (a cashier's stores). */
  codes?: string[] | undefined;
}

/** Stores in code order. */
export async function listStores(
  db: Queryable,
  programId: string,
  filter: StoreFilter,
): Promise<StoresTable[]> {
  let query = db
    .selectFrom("stores")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("code")
    .limit(filter.limit);
  if (filter.after !== undefined) query = query.where("code", ">", filter.after);
  if (filter.status) query = query.where("status", "=", filter.status);
  if (filter.channel) query = query.where("channel", "=", filter.channel);
  if (filter.codes) query = query.where(sql<boolean>`code = any(${filter.codes}::text[])`);
  if (filter.search) {
    // strpos, not like: the search text is taken literally (% and _ are not wildcards).
    query = query.where(
      sql<boolean>`strpos(lower(code || ' ' || name || ' ' || coalesce(city, '')), ${filter.search.toLowerCase()}) > 0`,
    );
  }
  return query.execute();
}

/**
 * Codes among `codes` registered as closed: one read of the primary key for a whole purchase
 * batch. Unregistered codes are not closed (decision 0050).
 */
export async function closedStores(
  db: Queryable | Tx,
  programId: string,
  codes: string[],
): Promise<Set<string>> {
  if (codes.length === 0) return new Set();
  // Read without a lock on purpose: share-locking the store row on every purchase would make a
  // busy store's row a hot spot. A receipt in flight while its store closes is still accepted.
  const rows = await db
    .selectFrom("stores")
    .select("code")
    .where("program_id", "=", programId)
    .where(sql<boolean>`code = any(${[...new Set(codes)]}::text[])`)
    .where("status", "=", "closed")
    .execute();
  return new Set(rows.map((row) => row.code));
}

export function storeClosed(storeCode: string): DomainError {
  return new DomainError("store_closed", `store ${storeCode} is closed: it takes no purchases`, {
    field: "storeId",
    storeId: storeCode,
  });
}

/**
 * Checks that every code names a registered, active store of the program, e.g. a cashier's
 * stores; the error's issues name each bad one by its path (`${path}.${index}`).
 */
export async function assertActiveStores(
  db: Queryable | Tx,
  programId: string,
  codes: string[],
  path: string,
): Promise<void> {
  if (codes.length === 0) return;
  const rows = await db
    .selectFrom("stores")
    .select(["code", "status"])
    .where("program_id", "=", programId)
    .where(sql<boolean>`code = any(${codes}::text[])`)
    .execute();
  const status = new Map(rows.map((row) => [row.code, row.status]));
  const issues = codes.flatMap((storeCode, index) => {
    const state = status.get(storeCode);
    if (state === "active") return [];
    const message =
      state === "closed"
        ? `store ${storeCode} is closed`
        : `store ${storeCode} is not registered (POST …/stores first)`;
    return [{ path: `${path}.${index}`, message }];
  });
  const first = issues[0];
  if (first) {
    throw new DomainError("validation_failed", `invalid request: ${first.path}: ${first.message}`, {
      issues,
    });
  }
}
