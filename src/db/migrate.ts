import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sql } from "kysely";
import type { Db } from "./client.ts";

const migrationsDir = fileURLToPath(new URL("./migrations/", import.meta.url));
// Any constant works; it only has to be the same in every process that migrates.
const migrationLockKey = 7_320_411;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return readdirSync(migrationsDir)
    .filter((file) => /^\d{3}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: readFileSync(migrationsDir + file, "utf8"),
    }));
}

/** Applies pending migrations in order, each in its own transaction; safe to run concurrently. */
export async function migrate(db: Db): Promise<Migration[]> {
  await sql`create table if not exists schema_migrations (
    version integer primary key, name text not null, applied_at timestamptz not null)`.execute(
    db.kysely,
  );
  const applied: Migration[] = [];
  for (const migration of listMigrations()) {
    const done = await db.transaction(async (tx) => {
      await sql`select pg_advisory_xact_lock(${migrationLockKey})`.execute(tx);
      const seen = await tx
        .selectFrom("schema_migrations")
        .select("version")
        .where("version", "=", migration.version)
        .executeTakeFirst();
      if (seen) return false;
      await sql.raw(migration.sql).execute(tx);
      await tx
        .insertInto("schema_migrations")
        .values({ version: migration.version, name: migration.name, applied_at: new Date() })
        .execute();
      return true;
    });
    if (done) applied.push(migration);
  }
  return applied;
}
