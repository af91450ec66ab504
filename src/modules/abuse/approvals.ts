import { z } from "zod";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError, notFound } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import type { AdjustmentRequestsTable } from "../audit/tables.ts";
import { adjust, readBalance } from "../ledger/index.ts";
import { emit } from "../outbox/index.ts";
import { getProgram } from "../programs/index.ts";

export const adjustmentPolicySchema = z
  .object({
    approvalThresholdPoints: z
      .number()
      .int()
      .min(1)
      .nullable()
      .describe(
        "Adjustments whose absolute points exceed this wait for a second admin; null: none wait",
      ),
  })
  .strict()
  .meta({ id: "AdjustmentPolicy" });
export type AdjustmentPolicy = z.infer<typeof adjustmentPolicySchema>;

export async function getAdjustmentPolicy(
  db: Tx | Queryable,
  programId: string,
): Promise<AdjustmentPolicy> {
  const row = await db
    .selectFrom("abuse_settings")
    .select("adjustment_approval_points")
    .where("program_id", "=", programId)
    .executeTakeFirst();
  const threshold = row?.adjustment_approval_points ?? null;
  return { approvalThresholdPoints: threshold === null ? null : Number(threshold) };
}

export async function setAdjustmentPolicy(
  tx: Tx,
  programId: string,
  policy: AdjustmentPolicy,
  at: Date,
): Promise<AdjustmentPolicy> {
  await getProgram(tx, programId);
  await tx
    .insertInto("abuse_settings")
    .values({
      program_id: programId,
      adjustment_approval_points: policy.approvalThresholdPoints,
      updated_at: at,
    })
    .onConflict((oc) =>
      oc.column("program_id").doUpdateSet({
        adjustment_approval_points: policy.approvalThresholdPoints,
        updated_at: at,
      }),
    )
    .execute();
  return policy;
}

/** Whether an adjustment of `points` must wait for a second admin under the program's policy. */
export async function needsApproval(
  db: Tx | Queryable,
  programId: string,
  points: number,
): Promise<boolean> {
  const { approvalThresholdPoints } = await getAdjustmentPolicy(db, programId);
  return approvalThresholdPoints !== null && Math.abs(points) > approvalThresholdPoints;
}

export const adjustmentRequestSchema = z
  .object({
    id: z.string(),
    memberId: z.string(),
    points: z.number().int(),
    reason: z.string(),
    expiresAt: z
      .string()
      .nullable()
      .optional()
      .describe("Expiry asked for the credited points; absent: the program's policy"),
    state: z.enum(["pending", "approved", "rejected"]),
    requestedBy: z.string().describe("API key that asked for the adjustment"),
    decidedBy: z.string().nullable(),
    decidedAt: z.string().nullable(),
    note: z.string().nullable(),
    entryId: z.string().nullable().describe("The journal entry, once approved"),
    createdAt: z.string(),
  })
  .meta({ id: "AdjustmentRequest" });
export type AdjustmentRequestView = z.infer<typeof adjustmentRequestSchema>;

function requestView(row: AdjustmentRequestsTable): AdjustmentRequestView {
  return {
    id: row.id,
    memberId: row.member_id,
    points: Number(row.points),
    reason: row.reason,
    ...(row.expiry !== "program" && { expiresAt: row.expires_at?.toISOString() ?? null }),
    state: row.state,
    requestedBy: row.requested_by,
    decidedBy: row.decided_by,
    decidedAt: row.decided_at?.toISOString() ?? null,
    note: row.note,
    entryId: row.entry_id,
    createdAt: row.created_at.toISOString(),
  };
}

/** Files an adjustment for a second admin instead of posting it. */
export async function requestAdjustment(
  tx: Tx,
  input: {
    programId: string;
    memberId: string;
    points: number;
    reason: string;
    /** undefined: the program's expiry policy; null: never expires. */
    expiresAt?: Date | null | undefined;
    requestedBy: string;
    at: Date;
  },
): Promise<AdjustmentRequestView> {
  const balance = await readBalance(tx, input.memberId);
  if (balance.programId !== input.programId) throw notFound("member_not_found", input.memberId);
  const row: AdjustmentRequestsTable = {
    id: newId("adjustmentRequest"),
    program_id: input.programId,
    member_id: input.memberId,
    points: input.points,
    reason: input.reason,
    expiry: input.expiresAt === undefined ? "program" : input.expiresAt === null ? "never" : "at",
    expires_at: input.expiresAt ?? null,
    state: "pending",
    requested_by: input.requestedBy,
    decided_by: null,
    decided_at: null,
    note: null,
    entry_id: null,
    created_at: input.at,
  };
  await tx.insertInto("adjustment_requests").values(row).execute();
  await emit(tx, {
    programId: input.programId,
    type: "adjustment.requested",
    payload: {
      requestId: row.id,
      memberId: row.member_id,
      points: row.points,
      requestedBy: row.requested_by,
    },
    at: input.at,
  });
  return requestView(row);
}

/**
 * Approves (posts the adjustment) or rejects a pending request, once: the request row is locked,
 * so two approvals in parallel post one entry; deciding again the same way answers the request
 * as it is. The key that asked may reject (withdraw) but never approve its own request.
 */
export async function decideAdjustment(
  tx: Tx,
  input: {
    programId: string;
    requestId: string;
    decision: "approved" | "rejected";
    decidedBy: string;
    note?: string | undefined;
    at: Date;
  },
): Promise<AdjustmentRequestView> {
  const row = await tx
    .selectFrom("adjustment_requests")
    .selectAll()
    .where("id", "=", input.requestId)
    .where("program_id", "=", input.programId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("adjustment_request_not_found", input.requestId);
  if (row.state === input.decision) return requestView(row);
  if (row.state !== "pending") {
    throw new DomainError(
      "adjustment_request_not_pending",
      `adjustment request ${row.id} is already ${row.state}`,
      { state: row.state },
    );
  }
  if (input.decision === "approved" && row.requested_by === input.decidedBy) {
    throw new DomainError(
      "forbidden",
      "an adjustment must be approved by a different admin than the one who requested it",
      { requestedBy: row.requested_by },
    );
  }
  let entryId: string | null = null;
  if (input.decision === "approved") {
    const program = await getProgram(tx, input.programId);
    const posted = await adjust(tx, {
      program,
      memberId: row.member_id,
      points: Number(row.points),
      reason: row.reason,
      ...(row.expiry !== "program" && { expiresAt: row.expires_at }),
      at: input.at,
    });
    entryId = posted.entryId;
  }
  const decided = await tx
    .updateTable("adjustment_requests")
    .set({
      state: input.decision,
      decided_by: input.decidedBy,
      decided_at: input.at,
      note: input.note ?? null,
      entry_id: entryId,
    })
    .where("id", "=", row.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await emit(tx, {
    programId: input.programId,
    type: `adjustment.${input.decision}`,
    payload: {
      requestId: row.id,
      memberId: row.member_id,
      points: Number(row.points),
      decidedBy: input.decidedBy,
      entryId,
    },
    at: input.at,
  });
  return requestView(decided);
}

export async function listAdjustmentRequests(
  db: Queryable,
  programId: string,
  options: {
    limit: number;
    before?: string | undefined;
    state?: AdjustmentRequestsTable["state"] | undefined;
  },
): Promise<AdjustmentRequestView[]> {
  let query = db
    .selectFrom("adjustment_requests")
    .selectAll()
    .where("program_id", "=", programId)
    .orderBy("id", "desc")
    .limit(options.limit);
  if (options.before) query = query.where("id", "<", options.before);
  if (options.state) query = query.where("state", "=", options.state);
  return (await query.execute()).map(requestView);
}

export async function getAdjustmentRequest(
  db: Queryable,
  programId: string,
  requestId: string,
): Promise<AdjustmentRequestView> {
  const row = await db
    .selectFrom("adjustment_requests")
    .selectAll()
    .where("id", "=", requestId)
    .where("program_id", "=", programId)
    .executeTakeFirst();
  if (!row) throw notFound("adjustment_request_not_found", requestId);
  return requestView(row);
}
