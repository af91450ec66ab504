import { z } from "zod";
import {
  benefitSchemas,
  grantableTypes,
  moneyFields,
  rewardTypes,
  voucherTypes,
} from "./catalog.ts";
import type { RewardType } from "./tables.ts";

const descriptions: Record<RewardType, string> = {
  discount_amount: "A fixed amount off a basket at the till or in the web shop",
  discount_percent: "A percentage off a basket, optionally capped",
  free_product: "One unit of a product (SKU) free",
  webshop_voucher: "An amount off an order in the web shop",
  gift_card: "A gift card (stored value) loaded with an amount; its code is the voucher's",
  partner_gift_card: "A partner's gift card: each redemption takes one code from the uploaded pool",
  experience: "A ticket to an event or VIP experience; stock is the number of seats",
  cashback: "Money credited to the member's stored-value wallet",
  charity_donation: "A donation to a charity on the member's behalf, reported per month",
  tier_upgrade: "Moves the member to a tier for a number of days",
};

export const rewardTypeSchema = z
  .object({
    type: z.enum(rewardTypes),
    description: z.string(),
    voucher: z
      .boolean()
      .describe("A redemption opens a voucher to use later (voucherValidity applies)"),
    grantable: z.boolean().describe("Campaigns and coupon batches may hand it out"),
    codePool: z.boolean().describe("Needs partner codes: POST …/rewards/{r}/codes"),
    moneyFields: z
      .array(z.string())
      .describe("Benefit fields that are money: decimals in the program currency's major units"),
    benefitSchema: z
      .record(z.string(), z.unknown())
      .describe("JSON Schema of the benefit, with one valid example in `examples`"),
  })
  .meta({ id: "RewardType" });
export type RewardTypeView = z.infer<typeof rewardTypeSchema>;

let view: RewardTypeView[] | undefined;

/** The reward types with their benefit schemas, from the zod schemas the server validates with. */
export function rewardTypesView(): RewardTypeView[] {
  view ??= rewardTypes.map((type) => {
    const { $schema: _, ...benefitSchema } = z.toJSONSchema(benefitSchemas[type], {
      io: "input",
      unrepresentable: "any",
    });
    return {
      type,
      description: descriptions[type],
      voucher: voucherTypes.has(type),
      grantable: grantableTypes.has(type),
      codePool: type === "partner_gift_card",
      moneyFields: moneyFields[type] ?? [],
      benefitSchema,
    };
  });
  return view;
}
