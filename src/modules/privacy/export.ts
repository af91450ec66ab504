import type { Queryable } from "../../db/client.ts";
import { findMemberRow } from "../members/index.ts";
import { memberDataSections } from "./sections.ts";

export const memberExportFormat = "setia.member-export/1";

/**
 * Everything the platform holds about one member, section by section (one per module), as one
 * JSON document: the answer to a data subject's access request (GDPR art. 15, UU PDP art. 7).
 */
export async function exportMember(
  db: Queryable,
  programId: string,
  memberId: string,
  at: Date,
): Promise<{
  format: string;
  exportedAt: string;
  programId: string;
  memberId: string;
  sections: Record<string, Record<string, unknown>>;
}> {
  // A missing member or one of another program is refused before anything is read.
  await findMemberRow(db, programId, { id: memberId });
  const sections: Record<string, Record<string, unknown>> = {};
  for (const section of memberDataSections) {
    const data = await section.collect(db, programId, memberId);
    if (Object.keys(data).length > 0) sections[section.name] = data;
  }
  return {
    format: memberExportFormat,
    exportedAt: at.toISOString(),
    programId,
    memberId,
    sections,
  };
}
