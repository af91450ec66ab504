import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { fromMinor, moneyMinorMax } from "../../lib/money.ts";
import { emit } from "../outbox/index.ts";
import type { Program } from "../programs/index.ts";
import { invalid } from "./catalog.ts";
import type { StoredValueAccountsTable, StoredValueMovementsTable } from "./tables.ts";

export const storedValueSchema = z
  .object({
    id: z.string(),
    kind: z.enum(["gift_card", "wallet"]),
    code: z.string().nullable(),
    memberId: z.string().nullable(),
    currency: z.string(),
    balance: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "StoredValue" });
export type StoredValueView = z.infer<typeof storedValueSchema>;

export const storedValueMovementSchema = z.object({
  id: z.string(),
  kind: z.enum(["issue", "cashback", "charge", "top_up"]),
  amount: z.string().describe("Signed: a charge is negative"),
  balanceAfter: z.string(),
  reference: z.string().nullable(),
  voucherId: z.string().nullable(),
  createdAt: z.string(),
});

type MovementKind = StoredValueMovementsTable["kind"];
const verbs: Record<MovementKind, string> = {
  issue: "issued",
  cashback: "credited",
  charge: "charged",
  top_up: "topped_up",
};

/**
 * Appends one movement to a locked account: the balance and its movements change together, and
 * the balance never goes below zero (a check in the table backs the test here).
 */
async function move(
  tx: Tx,
  account: StoredValueAccountsTable,
  movement: {
    kind: MovementKind;
    amountMinor: number;
    reference?: string | null;
    voucherId?: string | null;
    at: Date;
  },
): Promise<{ account: StoredValueAccountsTable; movementId: string }> {
  const balance = account.balance_minor + movement.amountMinor;
  if (balance < 0) {
    throw new DomainError(
      "insufficient_balance",
      `balance is ${fromMinor(account.balance_minor, account.currency)}, ${fromMinor(-movement.amountMinor, account.currency)} needed`,
      {
        balance: fromMinor(account.balance_minor, account.currency),
        needed: fromMinor(-movement.amountMinor, account.currency),
      },
    );
  }
  if (balance > moneyMinorMax) {
    throw new DomainError("validation_failed", "the balance would be too large", {
      issues: [{ path: "body.amount", message: "the balance would be too large" }],
    });
  }
  const movementId = newId("storedValueMovement");
  await tx
    .updateTable("stored_value_accounts")
    .set({ balance_minor: balance, updated_at: movement.at })
    .where("id", "=", account.id)
    .execute();
  await tx
    .insertInto("stored_value_movements")
    .values({
      id: movementId,
      account_id: account.id,
      program_id: account.program_id,
      kind: movement.kind,
      amount_minor: movement.amountMinor,
      balance_after_minor: balance,
      reference: movement.reference ?? null,
      voucher_id: movement.voucherId ?? null,
      created_at: movement.at,
    })
    .execute();
  await emit(tx, {
    programId: account.program_id,
    type: `${account.kind === "gift_card" ? "giftcard" : "wallet"}.${verbs[movement.kind]}`,
    payload: {
      accountId: account.id,
      memberId: account.member_id,
      amount: fromMinor(movement.amountMinor, account.currency),
      balance: fromMinor(balance, account.currency),
      currency: account.currency,
      reference: movement.reference ?? null,
      voucherId: movement.voucherId ?? null,
      movementId,
    },
    at: movement.at,
  });
  return { account: { ...account, balance_minor: balance, updated_at: movement.at }, movementId };
}

/** A new gift card with its first load; its code is the code of the voucher that issued it. */
export async function issueGiftCard(
  tx: Tx,
  input: { program: Program; code: string; amountMinor: number; voucherId: string; at: Date },
): Promise<string> {
  const account: StoredValueAccountsTable = {
    id: newId("storedValue"),
    program_id: input.program.id,
    kind: "gift_card",
    code: input.code,
    member_id: null,
    currency: input.program.currency,
    balance_minor: 0,
    created_at: input.at,
    updated_at: input.at,
  };
  await tx.insertInto("stored_value_accounts").values(account).execute();
  await move(tx, account, {
    kind: "issue",
    amountMinor: input.amountMinor,
    voucherId: input.voucherId,
    at: input.at,
  });
  return account.id;
}

/** Credits cashback to the member's wallet, opening the wallet on its first credit. */
export async function creditWallet(
  tx: Tx,
  input: { program: Program; memberId: string; amountMinor: number; voucherId: string; at: Date },
): Promise<string> {
  await tx
    .insertInto("stored_value_accounts")
    .values({
      id: newId("storedValue"),
      program_id: input.program.id,
      kind: "wallet",
      code: null,
      member_id: input.memberId,
      currency: input.program.currency,
      balance_minor: 0,
      created_at: input.at,
      updated_at: input.at,
    })
    .onConflict((oc) =>
      oc.columns(["program_id", "member_id"]).where("kind", "=", "wallet").doNothing(),
    )
    .execute();
  const wallet = await tx
    .selectFrom("stored_value_accounts")
    .selectAll()
    .where("program_id", "=", input.program.id)
    .where("member_id", "=", input.memberId)
    .where("kind", "=", "wallet")
    .forUpdate()
    .executeTakeFirstOrThrow();
  await move(tx, wallet, {
    kind: "cashback",
    amountMinor: input.amountMinor,
    voucherId: input.voucherId,
    at: input.at,
  });
  return wallet.id;
}

/** Spends from (charge) or adds to (top-up) a gift card or wallet. */
export async function changeBalance(
  tx: Tx,
  input: {
    programId: string;
    accountId: string;
    kind: "charge" | "top_up";
    amountMinor: number;
    reference: string | null;
    at: Date;
  },
): Promise<{ account: StoredValueView; movementId: string }> {
  const account = await tx
    .selectFrom("stored_value_accounts")
    .selectAll()
    .where("id", "=", input.accountId)
    .where("program_id", "=", input.programId)
    .forUpdate()
    .executeTakeFirst();
  if (!account) throw notFound("stored_value_not_found", input.accountId);
  if (input.amountMinor <= 0) throw invalid("body.amount", "must be more than zero");
  const result = await move(tx, account, {
    kind: input.kind,
    amountMinor: input.kind === "charge" ? -input.amountMinor : input.amountMinor,
    reference: input.reference,
    at: input.at,
  });
  return { account: storedValueView(result.account), movementId: result.movementId };
}

export async function findStoredValue(
  db: Queryable | Tx,
  programId: string,
  by: { id: string } | { code: string } | { memberId: string },
): Promise<StoredValueAccountsTable> {
  let query = db
    .selectFrom("stored_value_accounts")
    .selectAll()
    .where("program_id", "=", programId);
  if ("id" in by) query = query.where("id", "=", by.id);
  else if ("code" in by) query = query.where("code", "=", by.code);
  else query = query.where("member_id", "=", by.memberId).where("kind", "=", "wallet");
  const row = await query.executeTakeFirst();
  if (!row) throw notFound("stored_value_not_found", Object.values(by)[0] as string);
  return row;
}

export async function listMovements(
  db: Queryable,
  accountId: string,
  options: { limit: number; after?: string | undefined },
) {
  let query = db
    .selectFrom("stored_value_movements")
    .selectAll()
    .where("account_id", "=", accountId)
    .orderBy("id")
    .limit(options.limit);
  if (options.after) query = query.where("id", ">", options.after);
  const rows = await query.execute();
  return rows;
}

export function movementView(row: StoredValueMovementsTable, currency: string) {
  return {
    id: row.id,
    kind: row.kind,
    amount: fromMinor(row.amount_minor, currency),
    balanceAfter: fromMinor(row.balance_after_minor, currency),
    reference: row.reference,
    voucherId: row.voucher_id,
    createdAt: row.created_at.toISOString(),
  };
}

export function storedValueView(row: StoredValueAccountsTable): StoredValueView {
  return {
    id: row.id,
    kind: row.kind,
    code: row.code,
    memberId: row.member_id,
    currency: row.currency,
    balance: fromMinor(row.balance_minor, row.currency),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
