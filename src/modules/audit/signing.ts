import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";

/** The exact bytes a checkpoint signature covers; docs/audit.md gives the same format. */
export function checkpointMessage(seq: number, hash: string, signedAt: Date): Buffer {
  return Buffer.from(`setia-audit-checkpoint:v1:${seq}:${hash}:${signedAt.toISOString()}`, "utf8");
}

export function publicKeyOf(privateKey: KeyObject): string {
  return createPublicKey(privateKey).export({ format: "der", type: "spki" }).toString("base64");
}

export function signCheckpoint(
  privateKey: KeyObject,
  checkpoint: { seq: number; hash: string; signedAt: Date },
): string {
  return sign(
    null,
    checkpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.signedAt),
    privateKey,
  ).toString("base64");
}

export function checkpointSignatureValid(checkpoint: {
  seq: number;
  hash: string;
  signedAt: Date;
  publicKey: string;
  signature: string;
}): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.from(checkpoint.publicKey, "base64"),
      format: "der",
      type: "spki",
    });
    return verify(
      null,
      checkpointMessage(checkpoint.seq, checkpoint.hash, checkpoint.signedAt),
      key,
      Buffer.from(checkpoint.signature, "base64"),
    );
  } catch {
    return false;
  }
}

/** Parses SETIA_AUDIT_SIGNING_KEY: a PKCS#8 PEM, or the base64 of its DER bytes. */
export function parseSigningKey(text: string): KeyObject {
  const key = text.includes("BEGIN")
    ? createPrivateKey(text)
    : createPrivateKey({ key: Buffer.from(text.trim(), "base64"), format: "der", type: "pkcs8" });
  if (key.asymmetricKeyType !== "ed25519")
    throw new Error("SETIA_AUDIT_SIGNING_KEY must be an Ed25519 private key (PKCS#8)");
  return key;
}

export const signingKeyFile = "audit-signing-key.pem";

/**
 * The checkpoint signing key: from the configuration; on the embedded database without one, a
 * key generated once and kept in the data folder (owner-only file). PostgreSQL without a
 * configured key signs nothing: a key kept next to the data it vouches for would prove little.
 */
export function resolveSigningKey(
  config: {
    SETIA_AUDIT_SIGNING_KEY?: string | undefined;
    DATABASE_URL?: string | undefined;
    SETIA_DATA_DIR: string;
  },
  log: Logger,
): KeyObject | null {
  if (config.SETIA_AUDIT_SIGNING_KEY) return parseSigningKey(config.SETIA_AUDIT_SIGNING_KEY);
  if (config.DATABASE_URL?.startsWith("postgres")) {
    log.warn("SETIA_AUDIT_SIGNING_KEY is not set: audit checkpoints are not signed");
    return null;
  }
  if (config.SETIA_DATA_DIR === "memory://") return generateKeyPairSync("ed25519").privateKey;
  const path = join(config.SETIA_DATA_DIR, signingKeyFile);
  if (existsSync(path)) return parseSigningKey(readFileSync(path, "utf8"));
  mkdirSync(config.SETIA_DATA_DIR, { recursive: true });
  const { privateKey } = generateKeyPairSync("ed25519");
  writeFileSync(path, privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
  chmodSync(path, 0o600);
  log.info({ path }, "audit signing key generated");
  return privateKey;
}
