/** Rewards: catalog, redemption, vouchers and coupon codes, partner code pools, stored value. */
export {
  createReward,
  findReward,
  listRewards,
  type RewardCreate,
  type RewardUpdate,
  type RewardView,
  rewardCreateSchema,
  rewardSchema,
  rewardsPerProgramMax,
  rewardUpdateSchema,
  rewardView,
  updateReward,
} from "./catalog.ts";
export {
  addPartnerCodes,
  type CouponBatchCreate,
  couponBatchCreateSchema,
  couponBatchSchema,
  couponBatchView,
  couponCodesMax,
  createCouponBatch,
  findCouponBatch,
  listBatchCodes,
  listCouponBatches,
  partnerCodeCounts,
  partnerCodesPerUploadMax,
} from "./coupons.ts";
export { donationReport } from "./donations.ts";
export { ineligibleReasons, memberRewardOptions } from "./eligibility.ts";
export { assertRewardGrantable, grantReward, redeemReward } from "./redemption.ts";
export { type RewardTypeView, rewardTypeSchema, rewardTypesView } from "./reward-types.ts";
export {
  changeBalance,
  findStoredValue,
  listMovements,
  movementView,
  storedValueMovementSchema,
  storedValueSchema,
  storedValueView,
} from "./stored-value.ts";
export {
  basketSchema,
  cancelVoucher,
  consumeVoucher,
  expireVouchers,
  findVoucher,
  listMemberVouchers,
  releaseVoucher,
  reserveVoucher,
  validateVoucher,
  voucherSchema,
  voucherView,
} from "./vouchers.ts";
