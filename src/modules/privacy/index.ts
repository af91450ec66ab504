/** Privacy: members' data encrypted at rest, key rotation, data export and erasure (P28). */
export {
  allErasures,
  type ErasureView,
  eraseMember,
  erasureListMax,
  erasureLogSchema,
  erasureRequestSchema,
  erasureSchema,
  listErasures,
  reapplyErasures,
} from "./erasure.ts";
export { exportMember, memberExportFormat } from "./export.ts";
export {
  installKeyring,
  type Keyring,
  KeyringError,
  newKeyMaterial,
  parseKeyring,
  resolveKeyring,
} from "./keyring.ts";
export {
  encryptLegacyMembers,
  keyUsage,
  rotateBatch,
  rotateKeys,
  rotationBatchSizeMax,
} from "./rotation.ts";
