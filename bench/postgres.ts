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
    drop: () =>
      withAdmin(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`)),
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
  walBytes: number;
}

/**
 * Counters of one database (and the cluster's WAL position). The statistics a backend collects
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
      wal: string;
    }>(
      `select xact_commit, xact_rollback, deadlocks, tup_inserted, tup_updated,
         pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint as wal
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
      walBytes: Number(row.wal),
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
    walBytes: after.walBytes - before.walBytes,
  };
}
