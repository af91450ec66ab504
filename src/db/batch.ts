import { type Compilable, type OperationNodeSource, sql } from "kysely";
import type { Tx } from "./client.ts";
import type { Database } from "./schema.ts";

type Write = Compilable & OperationNodeSource;

/**
 * Collects the writes of one operation and sends them as one statement (data-modifying CTEs), so
 * an operation costs one round trip however many rows it writes. Two rules follow from running
 * as one statement: the writes cannot see each other's effects, and no row may be changed twice.
 * Foreign keys are still checked, at the end of the statement.
 */
export class WriteBatch {
  readonly #writes: Write[] = [];
  readonly #rows = new Map<keyof Database, Record<string, unknown>[]>();
  constructor(readonly tx: Tx) {}

  add(write: Write): void {
    this.#writes.push(write);
  }

  /** Rows for one table are sent as one multi-row insert, in the order they were added. */
  insertRow<T extends keyof Database>(table: T, row: Record<string, unknown>): void {
    const rows = this.#rows.get(table) ?? [];
    rows.push(row);
    this.#rows.set(table, rows);
  }

  async flush(): Promise<void> {
    for (const [table, rows] of this.#rows) {
      this.#writes.push(this.tx.insertInto(table).values(rows as never));
    }
    this.#rows.clear();
    const writes = this.#writes.splice(0);
    if (writes.length === 0) return;
    if (writes.length === 1) {
      await this.tx.executeQuery(writes[0] as Write);
      return;
    }
    const ctes = sql.join(
      writes.map((write, index) => sql`${sql.raw(`w${index}`)} as (${write})`),
      sql`, `,
    );
    await sql`with ${ctes} select 1`.execute(this.tx);
  }
}
