import { randomBytes } from "node:crypto";
import { z } from "zod";
import type { Ctx } from "../../context.ts";
import type { ApiKeysTable } from "../../db/schema.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { sha256Hex } from "../../lib/json.ts";
import { emit } from "../outbox/index.ts";

/** Roles from least to most powerful; a route names the least role it needs. */
export const roles = ["read", "pos", "admin", "owner"] as const;
export type Role = (typeof roles)[number];

export interface Principal {
  keyId: string;
  role: Role;
  /** null for the deployment owner, who may act on every program. */
  programId: string | null;
}

export const apiKeyCreateSchema = z
  .object({
    name: z.string().trim().min(1).max(120),
    role: z.enum(["admin", "pos", "read"]),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type ApiKeyCreate = z.infer<typeof apiKeyCreateSchema>;

export const apiKeySchema = z.object({
  id: z.string(),
  programId: z.string().nullable(),
  role: z.enum(roles),
  name: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type ApiKeyView = z.infer<typeof apiKeySchema>;

/**
 * Keys carry 256 bits of randomness, so one SHA-256 is a safe, constant-time-per-lookup hash:
 * slow password hashes protect low-entropy secrets, not these.
 */
function hashSecret(secret: string): string {
  return sha256Hex(secret);
}

function newSecret(): string {
  return `sk_${randomBytes(32).toString("base64url")}`;
}

export async function createApiKey(
  ctx: Ctx,
  programId: string | null,
  input: ApiKeyCreate | { name: string; role: "owner" },
): Promise<{ key: ApiKeyView; secret: string }> {
  const secret = newSecret();
  const now = ctx.clock.now();
  const row: ApiKeysTable = {
    id: newId("apiKey"),
    program_id: programId,
    role: input.role,
    name: input.name,
    secret_hash: hashSecret(secret),
    created_at: now,
    expires_at: "expiresAt" in input && input.expiresAt ? new Date(input.expiresAt) : null,
    revoked_at: null,
  };
  if (row.expires_at && row.expires_at <= now) {
    throw new DomainError("validation_failed", "expiresAt must be in the future", {
      field: "expiresAt",
    });
  }
  await ctx.db.transaction(async (tx) => {
    await tx.insertInto("api_keys").values(row).execute();
    await emit(tx, {
      programId,
      type: "api_key.created",
      payload: { keyId: row.id, role: row.role },
      at: now,
    });
  });
  return { key: toView(row), secret };
}

export async function revokeApiKey(
  ctx: Ctx,
  programId: string | null,
  keyId: string,
): Promise<ApiKeyView> {
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    let query = tx
      .updateTable("api_keys")
      .set({ revoked_at: now })
      .where("id", "=", keyId)
      .where("revoked_at", "is", null);
    query = programId === null ? query : query.where("program_id", "=", programId);
    const row = await query.returningAll().executeTakeFirst();
    if (!row) throw notFound("api_key_not_found", keyId);
    await emit(tx, {
      programId: row.program_id,
      type: "api_key.revoked",
      payload: { keyId },
      at: now,
    });
    return toView(row);
  });
}

export async function listApiKeys(ctx: Ctx, programId: string | null): Promise<ApiKeyView[]> {
  let query = ctx.db.kysely.selectFrom("api_keys").selectAll().orderBy("id");
  query =
    programId === null
      ? query.where("program_id", "is", null)
      : query.where("program_id", "=", programId);
  return (await query.execute()).map(toView);
}

export async function countApiKeys(ctx: Ctx): Promise<number> {
  const row = await ctx.db.kysely
    .selectFrom("api_keys")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Resolves a bearer secret to its principal; unknown, revoked and expired keys all fail alike. */
export async function authenticate(ctx: Ctx, secret: string): Promise<Principal> {
  const row = await ctx.db.kysely
    .selectFrom("api_keys")
    .selectAll()
    .where("secret_hash", "=", hashSecret(secret))
    .executeTakeFirst();
  return checkKey(ctx, row ?? null);
}

function checkKey(
  ctx: Ctx,
  row: Pick<ApiKeysTable, "id" | "role" | "program_id" | "revoked_at" | "expires_at"> | null,
): Principal {
  if (!row || row.revoked_at || (row.expires_at && row.expires_at <= ctx.clock.now())) {
    throw new DomainError("unauthorized", "API key is unknown, revoked or expired");
  }
  return { keyId: row.id, role: row.role, programId: row.program_id };
}

/** How long a process trusts a key it looked up; a revocation elsewhere is seen within this. */
export const keyCacheTtlMs = 1_000;

/**
 * Authentication for the HTTP server: keys found in the last second are not looked up again, so
 * a busy till pays one key query per second instead of one per request. Expiry is still checked
 * on every request, and a revocation through this process clears the cache at once.
 */
export function keyCache(ctx: Ctx) {
  const entries = new Map<string, { row: Parameters<typeof checkKey>[1]; until: number }>();
  return {
    async authenticate(secret: string): Promise<Principal> {
      const hash = hashSecret(secret);
      const now = Date.now();
      const hit = entries.get(hash);
      if (hit && hit.until > now) return checkKey(ctx, hit.row);
      const row =
        (await ctx.db.kysely
          .selectFrom("api_keys")
          .select(["id", "role", "program_id", "revoked_at", "expires_at"])
          .where("secret_hash", "=", hash)
          .executeTakeFirst()) ?? null;
      // Unknown secrets are not remembered: guessing must not fill the memory.
      if (row) entries.set(hash, { row, until: now + keyCacheTtlMs });
      if (entries.size > 10_000) entries.clear();
      return checkKey(ctx, row);
    },
    clear(): void {
      entries.clear();
    },
  };
}

/** Throws unless the principal may act on `programId` with at least `needed`. */
export function authorize(principal: Principal, needed: Role, programId: string | null): void {
  // A route without a program in its path either scopes its answer to the key (GET /v1/programs)
  // or needs the owner role, which no program key has.
  if (principal.programId !== null && programId !== null && principal.programId !== programId) {
    throw new DomainError("forbidden", "this API key belongs to another program");
  }
  if (roles.indexOf(principal.role) < roles.indexOf(needed)) {
    throw new DomainError("forbidden", `this action needs the ${needed} role`, {
      role: principal.role,
      needed,
    });
  }
}

function toView(row: ApiKeysTable): ApiKeyView {
  return {
    id: row.id,
    programId: row.program_id,
    role: row.role,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at?.toISOString() ?? null,
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}
