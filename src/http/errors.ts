import { z } from "zod";
import type { ErrorCode } from "../lib/errors.ts";

/** The one place that maps a domain error code to its HTTP status. */
export const httpStatusOf: Record<ErrorCode, number> = {
  validation_failed: 400,
  invalid_json: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unauthorized: 401,
  forbidden: 403,
  route_not_found: 404,
  program_not_found: 404,
  member_not_found: 404,
  transaction_not_found: 404,
  hold_not_found: 404,
  api_key_not_found: 404,
  member_blocked: 409,
  identifier_taken: 409,
  insufficient_points: 409,
  hold_not_active: 409,
  duplicate_transaction: 409,
  idempotency_in_progress: 409,
  currency_mismatch: 422,
  amount_precision: 422,
  occurred_in_future: 422,
  refund_exceeds_total: 422,
  refund_line_invalid: 422,
  transfer_same_member: 422,
  idempotency_key_reused: 422,
  rate_limited: 429,
  internal_error: 500,
};

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe("Stable machine-readable code; see docs/api.md"),
      message: z.string(),
      requestId: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: "Error" });

export type ErrorBody = z.infer<typeof errorBodySchema>;
