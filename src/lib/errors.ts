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
  "tier_ladder_not_found",
  "tier_not_found",
  "tier_in_use",
  "webhook_endpoint_not_found",
  "webhook_message_not_found",
  "webhook_url_refused",
  "rate_limited",
  "velocity_limited",
  "adjustment_request_not_found",
  "adjustment_request_not_pending",
  "message_template_not_found",
  "message_template_exists",
  "push_subscription_not_found",
  "signature_invalid",
  "unsubscribe_token_invalid",
  "reward_not_found",
  "voucher_not_found",
  "coupon_batch_not_found",
  "stored_value_not_found",
  "reward_unavailable",
  "reward_not_eligible",
  "reward_limit_reached",
  "voucher_not_usable",
  "insufficient_balance",
  "catalog_full",
  "campaign_not_found",
  "campaign_status_invalid",
  "campaign_limit_reached",
  "activity_type_not_found",
  "duplicate_activity",
  "store_not_found",
  "store_exists",
  "store_closed",
  "store_limit_reached",
  "staff_not_found",
  "staff_invitation_invalid",
  "password_reset_invalid",
  "password_too_weak",
  "csrf_token_invalid",
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
