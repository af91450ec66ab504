/** Row types of the members module's own tables (migration 015); members itself is in schema.ts. */
export interface MembersTables {
  member_name_tokens: MemberNameTokensTable;
}

/** A keyed HMAC token of a word of a member's name, or of a prefix of it (search.ts). */
export interface MemberNameTokensTable {
  program_id: string;
  member_id: string;
  token: string;
}
