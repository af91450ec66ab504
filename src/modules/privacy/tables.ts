/** Row types of the privacy module's tables (migration 010), as the query layer sees them. */
export interface PrivacyTables {
  members_plaintext_legacy: MembersPlaintextLegacyTable;
  erasures: ErasuresTable;
}

/** Clear values of members enrolled before migration 010, until they are encrypted at start. */
export interface MembersPlaintextLegacyTable {
  member_id: string;
  phone_e164: string | null;
  email: string | null;
  name: string | null;
  birthday: string | null;
}

export interface ErasuresTable {
  id: string;
  program_id: string;
  member_id: string;
  reason: string;
  /** The API key id that asked for the erasure, or null from the command line. */
  requested_by: string | null;
  erased_at: Date;
}
