/** The points ledger: append-only double-entry journal, lots with expiry, holds. */

export { earnBonus } from "./bonus.ts";
export { expiringLotBatches, inactiveMembers } from "./communications.ts";
export { type BalanceRow, lockBalance, lockBalances, pointsMax } from "./journal.ts";
export {
  adjust,
  createHold,
  type EarnResult,
  earnForPurchase,
  expireLots,
  type HoldView,
  holdView,
  type LotsDone,
  lockMembers,
  readBalance,
  readBalances,
  redeem,
  releaseLots,
  reverseEarn,
  settleHold,
  transfer,
} from "./operations.ts";
export { type EntryView, expiringPoints, memberHistory, programAccounts } from "./queries.ts";
export { refundRedemption } from "./rewards.ts";
export { type VerifyReport, verifyLedger } from "./verify.ts";
