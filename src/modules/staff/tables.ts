/** Row types of the staff module's tables (migration owned by the module), as the query layer sees them. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module's tables are added.
export interface StaffTables {}
