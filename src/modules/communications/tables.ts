/** Row types of the communications module's tables (migration owned by the module), as the query layer sees them. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in as the module's tables are added.
export interface CommunicationsTables {}
