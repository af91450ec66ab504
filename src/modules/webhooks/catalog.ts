import type { OpenAPIV3_1 } from "openapi-types";
import { z } from "zod";

/*
 * The event catalog: one zod schema per event type's payload (version 1). The same schemas feed
 * the OpenAPI document's `webhooks` section and docs/events.md; a test checks that every type
 * the code emits is listed here.
 */

const id = (what: string) => z.string().describe(`${what} id`);
const at = (what: string) => z.string().describe(`${what} (ISO 8601)`);
const points = z.number().int().describe("Points (a whole number)");
const version = { schemaVersion: z.literal(1) };

const memberPoints = {
  memberId: id("Member"),
  points,
  ...version,
};

const holdPayload = z.object({ ...memberPoints, holdId: id("Hold") });

const entries = {
  "program.created": ["A program was created.", z.object({ programId: id("Program"), ...version })],
  "program.updated": [
    "A program's settings changed.",
    z.object({ programId: id("Program"), ...version }),
  ],
  "api_key.created": [
    "An API key was created (never its secret).",
    z.object({ keyId: id("API key"), role: z.enum(["owner", "admin", "pos", "read"]), ...version }),
  ],
  "api_key.revoked": ["An API key was revoked.", z.object({ keyId: id("API key"), ...version })],
  "member.enrolled": [
    "A member joined the program.",
    z.object({
      memberId: id("Member"),
      channel: z.string().describe("Where the member enrolled (pos, online, app, …)"),
      storeId: z.string().nullable(),
      ...version,
    }),
  ],
  "member.updated": [
    "A member's profile or marketing consents changed.",
    z.object({
      memberId: id("Member"),
      fields: z.array(z.string()).describe("Names of the fields sent in the update"),
      consentsChanged: z.array(z.string()).describe("Channels whose marketing consent changed"),
      ...version,
    }),
  ],
  "member.blocked": [
    "A member was blocked: no earning or spending until unblocked.",
    z.object({ memberId: id("Member"), reason: z.string().nullable(), ...version }),
  ],
  "member.unblocked": [
    "A blocked member was made active again.",
    z.object({ memberId: id("Member"), reason: z.string().nullable(), ...version }),
  ],
  "member.erased": [
    "A member's personal data was erased; the member id stays on the ledger (status erased).",
    z.object({
      memberId: id("Member"),
      erasureId: id("Erasure"),
      reapplied: z.boolean().describe("true when re-applied after a backup restore"),
      ...version,
    }),
  ],
  "transaction.recorded": [
    "A purchase was recorded (with or without a member).",
    z.object({
      transactionId: id("Transaction"),
      memberId: z.string().nullable(),
      storeId: z.string(),
      channel: z.enum(["pos", "online", "app"]),
      totalMinor: z.number().int().describe("Total in minor units of currency"),
      currency: z.string().length(3),
      pointsEarned: points,
      ...version,
    }),
  ],
  "transaction.refunded": [
    "A purchase was refunded in whole or in part.",
    z.object({
      transactionId: id("Transaction"),
      refundId: id("Refund"),
      memberId: z.string().nullable(),
      amountMinor: z.number().int().describe("Refunded amount in minor units"),
      pointsReversed: points,
      pointsAlreadyExpired: points,
      ...version,
    }),
  ],
  "points.pending": [
    "A purchase earned points that wait for the returns window.",
    z.object({
      ...memberPoints,
      transactionId: id("Transaction"),
      entryId: id("Journal entry"),
      availableAt: at("When the points become spendable"),
      expiresAt: at("When the points expire").nullable(),
    }),
  ],
  "points.earned": [
    "A purchase earned points that are spendable at once.",
    z.object({
      ...memberPoints,
      transactionId: id("Transaction"),
      entryId: id("Journal entry"),
      availableAt: at("When the points became spendable"),
      expiresAt: at("When the points expire").nullable(),
    }),
  ],
  "points.released": [
    "Pending points became spendable after the returns window.",
    z.object({ ...memberPoints, lotId: id("Lot"), transactionId: z.string().nullable() }),
  ],
  "points.reversed": [
    "A refund took back points earned by the purchase.",
    z.object({
      ...memberPoints,
      forfeited: points.describe("Points the member no longer had, written off by policy"),
      alreadyExpired: points.describe("Points of the purchase that had expired already"),
      transactionId: id("Transaction"),
      refundId: id("Refund"),
    }),
  ],
  "points.expired": [
    "Points reached their expiry date unspent.",
    z.object({ ...memberPoints, lotId: id("Lot"), expiredAt: at("The lot's expiry") }),
  ],
  "points.redeemed": [
    "Points were spent at once.",
    z.object({ ...memberPoints, entryId: id("Journal entry"), reason: z.string().nullable() }),
  ],
  "points.adjusted": [
    "Staff corrected a balance (positive: credit, negative: debit).",
    z.object({
      memberId: id("Member"),
      points: z.number().int().describe("Signed points"),
      reason: z.string(),
      entryId: id("Journal entry"),
      ...version,
    }),
  ],
  "points.transferred": [
    "Points moved from one member to another.",
    z.object({
      fromMemberId: id("Sending member"),
      toMemberId: id("Receiving member"),
      points,
      entryId: id("Journal entry"),
      ...version,
    }),
  ],
  "points.held": ["A till reserved points (first phase of a redemption).", holdPayload],
  "points.hold_confirmed": ["A hold was confirmed: its points are redeemed.", holdPayload],
  "points.hold_cancelled": ["A hold was cancelled: its points are available again.", holdPayload],
  "points.hold_expired": [
    "A hold expired unconfirmed: its points are available again.",
    holdPayload,
  ],
  "webhook_endpoint.created": [
    "A webhook endpoint was added.",
    z.object({ endpointId: id("Webhook endpoint"), url: z.string(), ...version }),
  ],
  "webhook_endpoint.updated": [
    "A webhook endpoint's URL, filters or status was changed, or its secret rotated.",
    z.object({
      endpointId: id("Webhook endpoint"),
      fields: z.array(z.string()).describe("What changed (url, eventTypes, enabled, secret, …)"),
      ...version,
    }),
  ],
  "webhook_endpoint.disabled": [
    "Setia stopped delivering to an endpoint because it answered 410 Gone.",
    z.object({ endpointId: id("Webhook endpoint"), reason: z.string(), ...version }),
  ],
  "webhook_endpoint.deleted": [
    "A webhook endpoint was deleted with its messages and delivery log.",
    z.object({ endpointId: id("Webhook endpoint"), ...version }),
  ],
} satisfies Record<string, [string, z.ZodObject]>;

export type EventType = keyof typeof entries;

export const eventCatalog: { type: EventType; description: string; payload: z.ZodObject }[] =
  Object.entries(entries).map(([type, [description, payload]]) => ({
    type: type as EventType,
    description,
    payload,
  }));

/** The JSON body of every webhook request: the Standard Webhooks envelope around the payload. */
export function envelopeSchema(type: string, payload: z.ZodObject) {
  return z.object({
    id: z.string().describe("Event id (evt_…); the same on every delivery of this event"),
    type: z.literal(type),
    timestamp: z.string().describe("When the event happened (ISO 8601)"),
    programId: z.string().nullable(),
    data: payload,
  });
}

/** The OpenAPI 3.1 `webhooks` object: one operation per event type. */
export function openApiWebhooks(): Record<string, OpenAPIV3_1.PathItemObject> {
  const signatureHeaders = {
    "webhook-id": "Message id (msg_…): the same on every retry; use it to drop duplicates",
    "webhook-timestamp": "Unix seconds when this attempt was signed",
    "webhook-signature":
      "Space-separated `v1,<base64 HMAC-SHA256>` signatures (two during rotation)",
  };
  return Object.fromEntries(
    eventCatalog.map(({ type, description, payload }) => {
      const { $schema: _, ...schema } = z.toJSONSchema(envelopeSchema(type, payload), {
        io: "input",
      }) as Record<string, unknown>;
      const operation: OpenAPIV3_1.PathItemObject = {
        post: {
          summary: description,
          tags: ["webhooks"],
          parameters: Object.entries(signatureHeaders).map(([name, text]) => ({
            name,
            in: "header",
            required: true,
            description: text,
            schema: { type: "string" },
          })),
          requestBody: { required: true, content: { "application/json": { schema } } },
          responses: {
            "2XX": { description: "Received; any 2xx counts as delivered" },
            "410": { description: "Gone: Setia disables the endpoint" },
          },
        },
      };
      return [type, operation];
    }),
  );
}
