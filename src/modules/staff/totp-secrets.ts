import { sql } from "kysely";
import type { Db } from "../../db/client.ts";
// The keyring itself, not the privacy module's index: privacy's rotation calls back into staff.
import { currentKeyring } from "../privacy/keyring.ts";
import type { StaffAccountsTable } from "./tables.ts";

/** Rows re-encrypted or backfilled per transaction. */
export const totpBatchSizeMax = 500;

// Bound to the account: a secret copied onto another account's row does not decrypt.
const aad = (staffId: string) => `staff_accounts/${staffId}/totp_secret`;

/** Encrypts a TOTP secret under the current data key (docs/privacy.md, decision 0056). */
export function sealTotpSecret(staffId: string, secret: string): string {
  return currentKeyring().encrypt(secret, aad(staffId));
}

export function openTotpSecret(
  account: Pick<StaffAccountsTable, "id" | "totp_secret_enc">,
): string | null {
  return account.totp_secret_enc === null
    ? null
    : currentKeyring().decrypt(account.totp_secret_enc, aad(account.id));
}

// The key id is the ciphertext's prefix: staff accounts are few, so no column or index for it.
const keyIdOf = sql<string>`split_part(totp_secret_enc, ':', 1)`;

/**
 * Re-encrypts one batch of TOTP secrets held under an older key with the current one. Rows are
 * taken with SKIP LOCKED, like members' rotation, so sign-ins and other rotators never wait.
 */
export async function rotateTotpSecrets(db: Db, batchSize = totpBatchSizeMax): Promise<number> {
  const current = currentKeyring().currentKeyId;
  return db.transaction(async (tx) => {
    const rows = await tx
      .selectFrom("staff_accounts")
      .select(["id", "totp_secret_enc"])
      .where("totp_secret_enc", "is not", null)
      .where(keyIdOf, "<>", current)
      .orderBy("id")
      .limit(Math.min(batchSize, totpBatchSizeMax))
      .forUpdate()
      .skipLocked()
      .execute();
    for (const row of rows) {
      await tx
        .updateTable("staff_accounts")
        .set({ totp_secret_enc: sealTotpSecret(row.id, openTotpSecret(row) as string) })
        .where("id", "=", row.id)
        .execute();
    }
    return rows.length;
  });
}

/** How many TOTP secrets each data key protects. */
export async function totpSecretKeyUsage(db: Db): Promise<Record<string, number>> {
  const rows = await db.kysely
    .selectFrom("staff_accounts")
    .select((eb) => [keyIdOf.as("key_id"), eb.fn.countAll<number>().as("count")])
    .where("totp_secret_enc", "is not", null)
    .groupBy(keyIdOf)
    .execute();
  return Object.fromEntries(rows.map((row) => [row.key_id, Number(row.count)]));
}

/**
 * Encrypts the TOTP secrets migration 014 found in clear and deletes their clear copy, in
 * batches. Runs at every start; a no-op once the side table is empty.
 */
export async function encryptLegacyTotpSecrets(
  db: Db,
  batchSize = totpBatchSizeMax,
): Promise<number> {
  let encrypted = 0;
  for (;;) {
    const count = await db.transaction(async (tx) => {
      const legacy = await tx
        .selectFrom("staff_totp_plaintext_legacy")
        .selectAll()
        .orderBy("staff_id")
        .limit(Math.min(batchSize, totpBatchSizeMax))
        .forUpdate()
        .skipLocked()
        .execute();
      for (const row of legacy) {
        // An account that enrolled again since the migration keeps its new secret.
        await tx
          .updateTable("staff_accounts")
          .set({ totp_secret_enc: sealTotpSecret(row.staff_id, row.totp_secret) })
          .where("id", "=", row.staff_id)
          .where("totp_secret_enc", "is", null)
          .execute();
      }
      if (legacy.length > 0) {
        await tx
          .deleteFrom("staff_totp_plaintext_legacy")
          .where(
            "staff_id",
            "in",
            legacy.map((row) => row.staff_id),
          )
          .execute();
      }
      return legacy.length;
    });
    encrypted += count;
    if (count === 0) return encrypted;
  }
}
