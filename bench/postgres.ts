import { randomBytes } from "node:crypto";
import pg from "pg";

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database with a random name; drop() removes it even with clients still on. */
export async function createDatabase(adminUrl: string, prefix: string): Promise<BenchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  await withAdmin(adminUrl, (client) => client.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      await withAdmin(adminUrl, (client) =>
        client.query(`drop database if exists ${name} with (force)`),
      );
    },
  };
}

export async function serverVersion(adminUrl: string): Promise<string> {
  return withAdmin(adminUrl, async (client) => {
    const result = await client.query<{ version: string }>("select version()");
    return result.rows[0]?.version ?? "unknown";
  });
}

/** Settings that move the numbers most, printed with the results so runs can be compared. */
export async function serverSettings(adminUrl: string): Promise<Record<string, string>> {
  const names = [
    "max_connections",
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "commit_delay",
    "deadlock_timeout",
  ];
  return withAdmin(adminUrl, async (client) => {
    const result = await client.query<{ name: string; setting: string; unit: string | null }>(
      "select name, setting, unit from pg_settings where name = any($1)",
      [names],
    );
    return Object.fromEntries(
      result.rows.map((row) => [row.name, row.unit ? `${row.setting} ${row.unit}` : row.setting]),
    );
  });
}

export interface DbCounters {
  commits: number;
  rollbacks: number;
  deadlocks: number;
  inserted: number;
  updated: number;
}

/**
 * Counters of one database. The statistics a backend collects
 * reach pg_stat_database within about a second of it going idle, so read them after a pause.
 */
export async function readCounters(adminUrl: string, database: string): Promise<DbCounters> {
  return withAdmin(adminUrl, async (client) => {
    const result = await client.query<{
      xact_commit: string;
      xact_rollback: string;
      deadlocks: string;
      tup_inserted: string;
      tup_updated: string;
    }>(
      `select xact_commit, xact_rollback, deadlocks, tup_inserted, tup_updated
       from pg_stat_database where datname = $1`,
      [database],
    );
    const row = result.rows[0];
    if (!row) throw new Error(`no statistics for database ${database}`);
    return {
      commits: Number(row.xact_commit),
      rollbacks: Number(row.xact_rollback),
      deadlocks: Number(row.deadlocks),
      inserted: Number(row.tup_inserted),
      updated: Number(row.tup_updated),
    };
  });
}

export function diffCounters(before: DbCounters, after: DbCounters): DbCounters {
  return {
    commits: after.commits - before.commits,
    rollbacks: after.rollbacks - before.rollbacks,
    deadlocks: after.deadlocks - before.deadlocks,
    inserted: after.inserted - before.inserted,
    updated: after.updated - before.updated,
  };
}

/** Waits until no backend of the database is running a statement or holding a transaction open. */
export async function waitIdle(
  adminUrl: string,
  database: string,
  timeoutMs = 180_000,
): Promise<void> {
  await withAdmin(adminUrl, async (client) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const result = await client.query<{ busy: string }>(
        "select count(*) as busy from pg_stat_activity where datname = $1 and state <> 'idle'",
        [database],
      );
      if (Number(result.rows[0]?.busy ?? 0) === 0) return;
      if (Date.now() > deadline) throw new Error(`${database} still busy after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
}

/**
 * Per-phase pg_stat_database deltas. A backend that goes idle less than a second after its last
 * flush holds its counters back for up to 10 s (PGSTAT_IDLE_INTERVAL), so a reading is taken only
 * once the database has been quiet that long; other work scheduled in between hides the wait.
 */
export class StatsTracker {
  #quietSince = 0;
  #open: { before: DbCounters; done: (delta: DbCounters) => void } | null = null;

  constructor(
    private readonly adminUrl: string,
    private readonly database: string,
  ) {}

  /** Closes the previous phase's delta (if any) and returns the counters now. */
  async checkpoint(): Promise<DbCounters> {
    const wait = this.#quietSince + 11_000 - Date.now();
    if (this.#quietSince > 0 && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const now = await readCounters(this.adminUrl, this.database);
    if (this.#open) {
      this.#open.done(diffCounters(this.#open.before, now));
      this.#open = null;
    }
    return now;
  }

  /** Marks a phase as finished (and its database idle); its delta is filled at the next checkpoint. */
  finished(before: DbCounters, done: (delta: DbCounters) => void): void {
    this.#quietSince = Date.now();
    this.#open = { before, done };
  }
}

/** Purchases the database recorded with receipts of one phase, including any finished late. */
export async function countReceipts(url: string, prefix: string): Promise<number> {
  return withAdmin(url, async (client) => {
    const result = await client.query<{ n: string }>(
      "select count(*) as n from transactions where external_id like $1",
      [`${prefix}-%`],
    );
    return Number(result.rows[0]?.n ?? 0);
  });
}
