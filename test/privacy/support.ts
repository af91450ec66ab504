import { sql } from "kysely";
import type { Db } from "../../src/db/client.ts";

/** Every column of every table that can hold text: text, varchar, char, json, jsonb and arrays. */
export async function textColumns(db: Db): Promise<{ table: string; column: string }[]> {
  const result = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name
    from information_schema.columns c
    join information_schema.tables t
      on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
      and (c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb')
        or (c.data_type = 'ARRAY' and c.udt_name in ('_text', '_varchar')))
    order by c.table_name, c.column_name`.execute(db.kysely);
  return result.rows.map((row) => ({ table: row.table_name, column: row.column_name }));
}

/** Where any needle occurs (case-insensitively), as "table.column: value". */
export async function findAnywhere(db: Db, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  const patterns = needles.map((needle) => `%${needle.toLowerCase()}%`);
  for (const { table, column } of await textColumns(db)) {
    const rows = await sql<{ value: string }>`
      select ${sql.ref(column)}::text as value from ${sql.table(table)}
      where lower(${sql.ref(column)}::text) like any (${sql.val(patterns)}::text[])`.execute(
      db.kysely,
    );
    for (const row of rows.rows) hits.push(`${table}.${column}: ${row.value.slice(0, 200)}`);
  }
  return hits;
}

/** Every row of every table whose JSON form mentions the text, by table. */
export async function rowsMentioning(
  db: Db,
  text: string,
): Promise<Map<string, Record<string, unknown>[]>> {
  const tables = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'`.execute(db.kysely);
  const found = new Map<string, Record<string, unknown>[]>();
  for (const { table_name: table } of tables.rows) {
    const rows = await sql<{ row: Record<string, unknown> }>`
      select row_to_json(t) as row from ${sql.table(table)} t
      where row_to_json(t)::text like ${`%${text}%`}`.execute(db.kysely);
    if (rows.rows.length > 0)
      found.set(
        table,
        rows.rows.map((row) => row.row),
      );
  }
  return found;
}
