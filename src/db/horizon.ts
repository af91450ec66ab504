import { sql } from "kysely";

/**
 * The lowest transaction id that may still commit rows: the oldest transaction in progress in this
 * database, leaving out those that pg_stat_activity shows in other databases of the cluster (they
 * cannot write here; one that cannot be told apart counts as ours). With none in progress, the
 * snapshot's xmax. Rows written by transactions below it are committed or gone, so a reader that
 * moves a cursor in (transaction id, …) order below it never skips a row that commits late
 * (decision 0030).
 */
export const commitHorizon = sql<string>`(
  select coalesce(
    (select min(running) from pg_snapshot_xip(s.snapshot) as running
     where xid(running) not in (
       select backend_xid from pg_stat_activity
       where backend_xid is not null and datname is distinct from current_database())),
    pg_snapshot_xmax(s.snapshot))
  from (select pg_current_snapshot() as snapshot) as s)`;
