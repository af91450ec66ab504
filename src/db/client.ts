import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely, PostgresDialect, type Transaction } from "kysely";
import pg from "pg";
import { PGliteDialect } from "./pglite-dialect.ts";
import type { Database } from "./schema.ts";

export type Tx = Transaction<Database>;
export type Queryable = Kysely<Database>;
export type DriverName = "pglite" | "postgres";

/** One client over both drivers: the same SQL, migrations and transactions run on each. */
export interface Db {
  readonly driver: DriverName;
  readonly kysely: Kysely<Database>;
  /** Runs fn in a READ COMMITTED transaction, retrying on deadlock or serialization failure. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface DbOptions {
  /** postgres://… selects PostgreSQL; otherwise PGlite in dataDir (or in memory when "memory://"). */
  databaseUrl?: string;
  dataDir?: string;
  poolSizeMax?: number;
}

const INT8_OID = 20;
const DATE_OID = 1082;
// bigint columns hold points and minor units, bounded far below 2^53; dates stay YYYY-MM-DD.
const keepText = (value: string) => value;
const retryableCodes = new Set(["40P01", "40001"]);
const attemptsMax = 5;

export async function openDb(options: DbOptions): Promise<Db> {
  if (options.databaseUrl?.startsWith("postgres")) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSizeMax ?? 20,
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === INT8_OID
            ? Number
            : oid === DATE_OID
              ? keepText
              : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
      },
    });
    // The server may end an idle connection (restart, failover, admin); the pool drops it and
    // connects anew. Without a listener that 'error' event would crash the process.
    pool.on("error", () => {});
    return wrap("postgres", new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }));
  }
  const dataDir = options.dataDir ?? "./data/setia";
  const inMemory = dataDir === "memory://";
  const unlock = inMemory ? () => {} : lockDataDir(dataDir);
  const lite = new PGlite(inMemory ? undefined : dataDir, {
    parsers: { [INT8_OID]: Number, [DATE_OID]: keepText },
  });
  const db = wrap("pglite", new Kysely<Database>({ dialect: new PGliteDialect(lite) }));
  return {
    ...db,
    async close() {
      await db.close();
      unlock();
    },
  };
}

/**
 * PGlite is one backend inside one process: a second process on the same folder would corrupt
 * it. A lock file with the owner's pid refuses the second opener; a dead owner's lock is taken.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const lockPath = join(dataDir, "setia.lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileSync(lockPath, "utf8"));
      if (owner && owner !== process.pid && isAlive(owner)) {
        throw new Error(
          `the embedded database in ${dataDir} is in use by process ${owner}; stop it first, or use the HTTP API`,
        );
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function wrap(driver: DriverName, kysely: Kysely<Database>): Db {
  return {
    driver,
    kysely,
    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          return await kysely.transaction().setIsolationLevel("read committed").execute(fn);
        } catch (error) {
          if (attempt >= attemptsMax || !isRetryable(error)) throw error;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
        }
      }
    },
    close: () => kysely.destroy(),
  };
}

/**
 * Deadlocks and serialization failures are retried; so is a race on a natural key (two requests
 * recording one receipt): the retry finds the winner's row and answers it as a replay.
 */
function isRetryable(error: unknown): boolean {
  const code = pgErrorCode(error) ?? "";
  if (retryableCodes.has(code)) return true;
  const constraint = (error as { constraint?: unknown } | null)?.constraint;
  return code === "23505" && typeof constraint === "string" && constraint.endsWith("_natural_key");
}

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}
