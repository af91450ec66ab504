/**
 * The closed list of domain error codes. Each maps to one HTTP status in src/http/errors.ts;
 * adding a code here without a status there fails the type check.
 */
export const errorCodes = [
  "validation_failed",
  "invalid_json",
  "payload_too_large",
  "unsupported_media_type",
  "unauthorized",
  "forbidden",
  "route_not_found",
  "program_not_found",
  "member_not_found",
  "transaction_not_found",
  "hold_not_found",
  "api_key_not_found",
  "member_blocked",
  "identifier_taken",
  "currency_mismatch",
  "amount_precision",
  "occurred_in_future",
  "insufficient_points",
  "refund_exceeds_total",
  "refund_line_invalid",
  "hold_not_active",
  "transfer_same_member",
  "duplicate_transaction",
  "idempotency_key_reused",
  "idempotency_in_progress",
  "rate_limited",
  "internal_error",
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** An expected failure of a domain rule, safe to show to the caller. */
export class DomainError extends Error {
  override name = "DomainError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export function notFound(code: Extract<ErrorCode, `${string}_not_found`>, id: string): DomainError {
  return new DomainError(
    code,
    `${code.replace("_not_found", "").replace("_", " ")} ${id} not found`,
    {
      id,
    },
  );
}
