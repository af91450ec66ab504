import type { Db } from "../../db/client.ts";
import { openMember, sealFields } from "../members/storage.ts";
import { rotateTotpSecrets, totpSecretKeyUsage } from "../staff/index.ts";
import { currentKeyring } from "./keyring.ts";

export const rotationBatchSizeMax = 500;

/**
 * Re-encrypts one batch of members whose data is under an older key with the current key.
 * Rows are taken with SKIP LOCKED, so several processes (or the scheduler and the command line)
 * can rotate at once without waiting on each other or on purchases. Returns the rows rewritten.
 */
export async function rotateBatch(db: Db, batchSize = rotationBatchSizeMax): Promise<number> {
  const current = currentKeyring().currentKeyId;
  return db.transaction(async (tx) => {
    const records = await tx
      .selectFrom("members")
      .selectAll()
      // Two ranges instead of "<>", so the members_data_key index serves them.
      .where((eb) => eb.or([eb("data_key_id", "<", current), eb("data_key_id", ">", current)]))
      .orderBy("data_key_id")
      .limit(Math.min(batchSize, rotationBatchSizeMax))
      .forUpdate()
      .skipLocked()
      .execute();
    for (const record of records) {
      const row = openMember(record);
      await tx
        .updateTable("members")
        .set(sealFields(row.id, row.program_id, row))
        .where("id", "=", row.id)
        .execute();
    }
    return records.length;
  });
}

/**
 * Rotates until no member and no staff TOTP secret is left under an older key; answers the count
 * per key seen (members and staff secrets together: a key can go when it counts nothing).
 */
export async function rotateKeys(
  db: Db,
  batchSize = rotationBatchSizeMax,
): Promise<{ currentKeyId: string; rotated: number; remainingByKey: Record<string, number> }> {
  let rotated = 0;
  for (;;) {
    const count = (await rotateBatch(db, batchSize)) + (await rotateTotpSecrets(db, batchSize));
    rotated += count;
    if (count === 0) break;
  }
  return { currentKeyId: currentKeyring().currentKeyId, rotated, ...(await keyUsage(db)) };
}

/**
 * How many members' data and staff TOTP secrets each key protects, so an operator knows when an
 * old key can go.
 */
export async function keyUsage(db: Db): Promise<{ remainingByKey: Record<string, number> }> {
  const rows = await db.kysely
    .selectFrom("members")
    .select((eb) => ["data_key_id", eb.fn.countAll<number>().as("count")])
    .where("data_key_id", "is not", null)
    .groupBy("data_key_id")
    .execute();
  const remainingByKey = await totpSecretKeyUsage(db);
  for (const row of rows) {
    const keyId = row.data_key_id as string;
    remainingByKey[keyId] = (remainingByKey[keyId] ?? 0) + Number(row.count);
  }
  return { remainingByKey };
}

/**
 * Encrypts members that migration 010 found in clear (moved to members_plaintext_legacy), in
 * batches, and deletes their clear copy. Runs at every start; a no-op once the table is empty.
 */
export async function encryptLegacyMembers(
  db: Db,
  batchSize = rotationBatchSizeMax,
): Promise<number> {
  let encrypted = 0;
  for (;;) {
    const count = await db.transaction(async (tx) => {
      const legacy = await tx
        .selectFrom("members_plaintext_legacy as l")
        .innerJoin("members as m", "m.id", "l.member_id")
        .select(["l.member_id", "m.program_id", "l.phone_e164", "l.email", "l.name", "l.birthday"])
        .limit(batchSize)
        .forUpdate("l")
        .skipLocked()
        .execute();
      for (const row of legacy) {
        await tx
          .updateTable("members")
          .set(sealFields(row.member_id, row.program_id, row))
          .where("id", "=", row.member_id)
          .execute();
      }
      if (legacy.length > 0) {
        await tx
          .deleteFrom("members_plaintext_legacy")
          .where(
            "member_id",
            "in",
            legacy.map((row) => row.member_id),
          )
          .execute();
      }
      return legacy.length;
    });
    encrypted += count;
    if (count === 0) return encrypted;
  }
}
