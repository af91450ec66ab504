import type { OpenAPIV3_1 } from "openapi-types";
import { z } from "zod";
import { storeChannels, storeStatuses } from "../stores/index.ts";

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

const nullableId = (what: string) => id(what).nullable();
const text = z.string();
const count = z.number().int();

/**
 * Events of the engine modules, as their sections of docs/events.md describe them (each module
 * owns its section; fields are typed loosely where the section does not say more).
 */
function moduleEntries() {
  const campaignVersion = z.object({
    campaignId: id("Campaign"),
    version: count,
    status: text,
    previousStatus: text.optional(),
    fields: z.array(text).optional(),
    ...version,
  });
  const adjustmentDecision = z.object({
    requestId: id("Adjustment request"),
    memberId: id("Member"),
    points,
    decidedBy: id("API key"),
    entryId: nullableId("Journal entry"),
    ...version,
  });
  const voucher = (extra: Record<string, z.ZodType>) =>
    z.object({
      voucherId: id("Voucher"),
      code: text,
      rewardId: id("Reward"),
      memberId: nullableId("Member").describe("null for coupon codes"),
      source: z.enum(["redemption", "campaign", "coupon"]),
      state: text.describe("The voucher's state after the change"),
      ...extra,
      ...version,
    });
  const storedValue = z.object({
    accountId: id("Stored-value account"),
    memberId: nullableId("Member"),
    amount: text.describe("Signed decimal string in the program's currency"),
    balance: text.describe("Decimal string"),
    currency: text,
    reference: text.nullable(),
    voucherId: nullableId("Voucher"),
    movementId: id("Movement"),
    ...version,
  });
  const referral = {
    referralId: id("Referral"),
    refereeId: id("Referred member"),
    ...version,
  };
  return {
    "campaign.created": ["A campaign was created.", campaignVersion],
    "campaign.updated": ["A campaign's definition changed (a new version).", campaignVersion],
    "campaign.status_changed": [
      "A campaign moved between draft, active, paused and ended.",
      campaignVersion,
    ],
    "campaign.budget_exhausted": [
      "An earn used the last points of a campaign's budget (emitted once).",
      z.object({ campaignId: id("Campaign"), budgetPoints: points, ...version }),
    ],
    "activity.recorded": [
      "A non-purchase activity was recorded, whether or not it earned.",
      z.object({
        activityId: id("Activity"),
        memberId: id("Member"),
        type: text,
        externalId: text.nullable(),
        pointsEarned: points,
        campaignIds: z.array(text),
        ...version,
      }),
    ],
    "adjustment.requested": [
      "An adjustment above the approval threshold was filed instead of posted.",
      z.object({
        requestId: id("Adjustment request"),
        memberId: id("Member"),
        points: z.number().int(),
        requestedBy: id("API key"),
        ...version,
      }),
    ],
    "adjustment.approved": [
      "A second admin approved an adjustment; points.adjusted follows.",
      adjustmentDecision,
    ],
    "adjustment.rejected": ["An adjustment was rejected or withdrawn.", adjustmentDecision],
    "tier.changed": [
      "A member's tier changed.",
      z.object({
        changeId: id("Tier change"),
        memberId: id("Member"),
        fromTier: text.nullable(),
        toTier: text.nullable(),
        reason: z.enum(["threshold_crossed", "period_end_downgrade", "manual", "reward"]),
        ...version,
      }),
    ],
    "tier_ladder.updated": [
      "A new version of the program's tier ladder was saved.",
      z.object({ version: count, ...version }),
    ],
    "reward.redeemed": [
      "A member redeemed a catalog reward.",
      voucher({
        points,
        mode: z.enum(["direct", "hold"]),
        rewardType: text,
        holdId: nullableId("Hold"),
        entryId: nullableId("Journal entry"),
      }),
    ],
    "voucher.issued": [
      "A voucher was issued by a redemption or a campaign grant.",
      voucher({
        expiresAt: at("Validity end").nullable(),
        campaignId: text.nullable().optional(),
        transactionId: text.nullable().optional(),
        activityId: text.nullable().optional(),
      }),
    ],
    "voucher.reserved": [
      "A checkout reserved a voucher.",
      voucher({ reservedUntil: at("Reservation end") }),
    ],
    "voucher.released": ["A checkout reservation was released.", voucher({})],
    "voucher.used": [
      "A voucher or coupon code was consumed.",
      voucher({ reference: text.nullable(), usesCount: count }),
    ],
    "voucher.cancelled": [
      "An unused voucher was cancelled, or a held voucher released.",
      voucher({ reason: text.nullable(), pointsReturned: points }),
    ],
    "voucher.expired": [
      "A voucher passed its validity.",
      voucher({ expiresAt: at("Validity end").nullable() }),
    ],
    "points.redeem_refunded": [
      "A cancelled voucher's points returned (a new ledger entry).",
      z.object({
        ...memberPoints,
        entryId: id("Journal entry"),
        redeemEntryId: id("Journal entry of the redemption"),
        reason: text.nullable(),
      }),
    ],
    "giftcard.issued": ["A gift card was loaded.", storedValue],
    "giftcard.charged": ["A gift card was spent from.", storedValue],
    "giftcard.topped_up": ["A gift card was topped up.", storedValue],
    "wallet.credited": ["Cashback reached a member's wallet.", storedValue],
    "wallet.charged": ["A member's wallet was spent from.", storedValue],
    "wallet.topped_up": ["A member's wallet was topped up.", storedValue],
    "donation.recorded": [
      "A member donated points to a charity reward.",
      z.object({
        donationId: id("Donation"),
        rewardId: id("Reward"),
        memberId: id("Member"),
        voucherId: nullableId("Voucher"),
        charity: text,
        points,
        value: text.describe("Decimal string"),
        currency: text,
        ...version,
      }),
    ],
    "coupon_batch.created": [
      "A batch of coupon codes was generated or imported.",
      z.object({
        batchId: id("Coupon batch"),
        rewardId: id("Reward"),
        name: text,
        codesCount: count,
        usesMax: count,
        ...version,
      }),
    ],
    "referral.created": [
      "A new member enrolled with a valid referral code; the referral is pending.",
      z.object({
        ...referral,
        referrerId: id("Referring member"),
        source: text,
        referrerPoints: points,
        refereePoints: points,
      }),
    ],
    "referral.rejected": [
      "A referral code failed a check (the enrolment itself went through).",
      z.object({
        ...referral,
        referrerId: nullableId("Referring member"),
        source: text,
        reason: text,
      }),
    ],
    "referral.completed": [
      "The referee's qualifying purchase passed the returns window; both got their points.",
      z.object({
        ...referral,
        referrerId: id("Referring member"),
        transactionId: id("Transaction"),
        referrerPoints: points,
        refereePoints: points,
      }),
    ],
    "store.created": [
      "A store was registered.",
      z.object({
        storeId: text.describe("The store's code, as purchases carry it"),
        name: text,
        channel: z.enum(storeChannels),
        status: z.enum(storeStatuses),
        ...version,
      }),
    ],
    "store.updated": [
      "A store's details changed, or it was closed or reopened.",
      z.object({
        storeId: text.describe("The store's code, as purchases carry it"),
        fields: z.array(text).describe("Names of the fields that changed"),
        status: z.enum(storeStatuses).describe("The store's status after the change"),
        ...version,
      }),
    ],
  } satisfies Record<string, [string, z.ZodObject]>;
}

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
    "Points were earned and are spendable at once: a purchase, an activity, a referral, a bonus.",
    z.object({
      ...memberPoints,
      transactionId: id("Transaction").nullable().describe("null when not earned by a purchase"),
      entryId: id("Journal entry"),
      availableAt: at("When the points became spendable"),
      expiresAt: at("When the points expire").nullable(),
      source: z
        .string()
        .optional()
        .describe("Why, when not a purchase: activity:<type>, referral:referrer, bonus, …"),
      activityId: z.string().nullable().optional(),
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
  ...moduleEntries(),
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
