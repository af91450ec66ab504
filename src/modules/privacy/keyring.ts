import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";

/**
 * Keys that protect members' personal data at rest. Data keys encrypt (AES-256-GCM): the first
 * encrypts, every one decrypts, and each ciphertext names its key. The index key makes blind
 * indexes (HMAC-SHA256) so a phone or an email can be looked up without storing it in clear.
 */
export interface Keyring {
  readonly currentKeyId: string;
  readonly keyIds: readonly string[];
  encrypt(plain: string, context: string): string;
  decrypt(stored: string, context: string): string;
  keyIdOf(stored: string): string;
  blindIndex(scope: string, value: string): string;
}

const keyIdPattern = /^[A-Za-z0-9_-]{1,32}$/;
const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;

export class KeyringError extends Error {
  override name = "KeyringError";
}

function decodeKey(label: string, base64: string): KeyObject {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.length !== keyBytes || bytes.toString("base64") !== base64.replace(/\s/g, "")) {
    throw new KeyringError(`${label} must be ${keyBytes} bytes in standard base64`);
  }
  return createSecretKey(bytes);
}

/** Parses `SETIA_DATA_KEYS` ("k2:base64,k1:base64") and `SETIA_INDEX_KEY` (base64). */
export function parseKeyring(dataKeys: string, indexKey: string): Keyring {
  const keys = new Map<string, KeyObject>();
  for (const part of dataKeys.split(",").map((item) => item.trim())) {
    const colon = part.indexOf(":");
    const id = part.slice(0, colon);
    if (colon < 0 || !keyIdPattern.test(id)) {
      throw new KeyringError(
        `SETIA_DATA_KEYS: each key is "id:base64" with an id of letters, digits, "_" or "-" (got "${part.slice(0, 12)}…")`,
      );
    }
    if (keys.has(id)) throw new KeyringError(`SETIA_DATA_KEYS: key id ${id} appears twice`);
    keys.set(id, decodeKey(`SETIA_DATA_KEYS key ${id}`, part.slice(colon + 1)));
  }
  const index = decodeKey("SETIA_INDEX_KEY", indexKey.trim());
  const [currentKeyId] = keys.keys();
  if (currentKeyId === undefined) throw new KeyringError("SETIA_DATA_KEYS has no key");
  const keyFor = (id: string): KeyObject => {
    const key = keys.get(id);
    if (!key) {
      throw new KeyringError(
        `data encrypted under key "${id}", which SETIA_DATA_KEYS does not hold; add it back (after the current key) and run "setia privacy rotate"`,
      );
    }
    return key;
  };
  return {
    currentKeyId,
    keyIds: [...keys.keys()],
    encrypt(plain, context) {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv("aes-256-gcm", keyFor(currentKeyId), iv);
      // The context (row id and field) is authenticated: a ciphertext moved to another row fails.
      cipher.setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      return `${currentKeyId}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
    },
    decrypt(stored, context) {
      const colon = stored.indexOf(":");
      const raw = Buffer.from(stored.slice(colon + 1), "base64");
      const decipher = createDecipheriv(
        "aes-256-gcm",
        keyFor(stored.slice(0, colon)),
        raw.subarray(0, ivBytes),
      );
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(raw.subarray(ivBytes, ivBytes + tagBytes));
      return Buffer.concat([
        decipher.update(raw.subarray(ivBytes + tagBytes)),
        decipher.final(),
      ]).toString("utf8");
    },
    keyIdOf(stored) {
      return stored.slice(0, stored.indexOf(":"));
    },
    blindIndex(scope, value) {
      return createHmac("sha256", index).update(`${scope}\u0000${value}`).digest("base64url");
    },
  };
}

let active: Keyring | null = null;

/** Installs the process's keyring; members' storage reads it on every encrypt and decrypt. */
export function installKeyring(keyring: Keyring): void {
  active = keyring;
}

export function currentKeyring(): Keyring {
  if (!active) {
    throw new KeyringError(
      "no data keys installed: the platform opens its context (openContext) before touching members",
    );
  }
  return active;
}

export function newKeyMaterial(): string {
  return randomBytes(keyBytes).toString("base64");
}

const keyFileName = "data-keys.json";

/**
 * The keyring from configuration. Without keys, the embedded database generates them once into a
 * 0600 file in its data folder (a warning says production must configure them); PostgreSQL
 * refuses to start, since a key generated on one server would be missing on the next.
 */
export function resolveKeyring(
  config: {
    SETIA_DATA_KEYS?: string | undefined;
    SETIA_INDEX_KEY?: string | undefined;
    DATABASE_URL?: string | undefined;
    SETIA_DATA_DIR: string;
  },
  log: Logger,
): Keyring {
  if (config.SETIA_DATA_KEYS !== undefined || config.SETIA_INDEX_KEY !== undefined) {
    if (!config.SETIA_DATA_KEYS || !config.SETIA_INDEX_KEY) {
      throw new KeyringError("set both SETIA_DATA_KEYS and SETIA_INDEX_KEY, or neither");
    }
    return parseKeyring(config.SETIA_DATA_KEYS, config.SETIA_INDEX_KEY);
  }
  if (config.DATABASE_URL?.startsWith("postgres")) {
    throw new KeyringError(
      'PostgreSQL needs encryption keys for members\' personal data: set SETIA_DATA_KEYS="k1:<32 random bytes, base64>" and SETIA_INDEX_KEY="<32 random bytes, base64>" (e.g. `openssl rand -base64 32`); see docs/privacy.md',
    );
  }
  if (config.SETIA_DATA_DIR === "memory://") {
    log.warn("no SETIA_DATA_KEYS: members' data in this in-memory database uses throw-away keys");
    return parseKeyring(`k1:${newKeyMaterial()}`, newKeyMaterial());
  }
  mkdirSync(config.SETIA_DATA_DIR, { recursive: true });
  const path = join(config.SETIA_DATA_DIR, keyFileName);
  if (!existsSync(path)) {
    const generated = {
      SETIA_DATA_KEYS: `k1:${newKeyMaterial()}`,
      SETIA_INDEX_KEY: newKeyMaterial(),
    };
    writeFileSync(path, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600, flag: "wx" });
  }
  // Tighten a file whose mode was loosened by a copy or an archive tool.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  log.warn(
    { keyFile: path },
    "members' personal data is encrypted with keys generated into the data folder; in production set SETIA_DATA_KEYS and SETIA_INDEX_KEY (docs/privacy.md)",
  );
  const stored = JSON.parse(readFileSync(path, "utf8")) as Record<string, string>;
  return parseKeyring(stored.SETIA_DATA_KEYS ?? "", stored.SETIA_INDEX_KEY ?? "");
}
