/** Tamper-evident audit: a hash chain over ledger entries and admin actions, signed checkpoints. */
export { type ActionInput, type Actor, redact, withAction } from "./actions.ts";
export {
  type AuditSettings,
  type CheckpointView,
  chainPending,
  checkpointIfDue,
  checkpointIntervalMsDefault,
  startChainer,
} from "./chain.ts";
export { exportAudit, exportFormat } from "./export.ts";
export { publicKeyOf, resolveSigningKey } from "./signing.ts";
export { type AuditVerifyReport, type BrokenLink, verifyAudit } from "./verify.ts";
