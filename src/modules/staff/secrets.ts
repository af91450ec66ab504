import { randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { ZxcvbnFactory } from "@zxcvbn-ts/core";
import * as zxcvbnCommon from "@zxcvbn-ts/language-common";
import * as zxcvbnEn from "@zxcvbn-ts/language-en";
import argon2 from "argon2";
import { DomainError } from "../../lib/errors.ts";
import { sha256Hex } from "../../lib/json.ts";

/** Session, CSRF and invitation tokens: 256 random bits, so a single SHA-256 at rest suffices. */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return sha256Hex(token);
}

export function sameToken(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** A six-digit one-time code (portal sign-in). */
export function newNumericCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, "0");
}

/** Recovery codes: 50 random bits in a form people can type ("abcd-efgh-ij"). */
export function newRecoveryCode(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
  const chars = Array.from({ length: 10 }, () => alphabet[randomInt(0, alphabet.length)]).join("");
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

export function normalizeRecoveryCode(code: string): string {
  const chars = code.toLowerCase().replace(/[^a-z0-9]/g, "");
  return `${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8)}`;
}

// OWASP's argon2id baseline (19 MiB, 2 passes): about 30 ms per hash on a small server.
const argonOptions = {
  type: argon2.argon2id as 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, argonOptions);
}

export function verifyPassword(hash: string, password: string): Promise<boolean> {
  return argon2.verify(hash, password);
}

/** A hash verified when the email is unknown, so both answers take as long. */
let decoyHash: Promise<string> | null = null;
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(newToken());
  return decoyHash;
}

export const passwordLengthMin = 10;
export const passwordLengthMax = 256;
export const passwordScoreMin = 3;

let estimator: ZxcvbnFactory | null = null;
let commonPasswords: Set<string> | null = null;

/**
 * Refuses weak passwords: shorter than 10, found in the common-password list of zxcvbn-ts (offline,
 * about 49 000 leaked passwords), or scored below 3 of 4 by zxcvbn with the user's own details.
 */
export function assertStrongPassword(password: string, userInputs: string[]): void {
  estimator ??= new ZxcvbnFactory({
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
    graphs: zxcvbnCommon.adjacencyGraphs,
    translations: zxcvbnEn.translations,
  });
  commonPasswords ??= new Set(zxcvbnCommon.dictionary["passwords-common"]);
  const refuse = (reason: string, details: Record<string, unknown>) => {
    throw new DomainError("password_too_weak", reason, { field: "password", ...details });
  };
  if (password.length < passwordLengthMin) {
    refuse(`use at least ${passwordLengthMin} characters`, { score: 0 });
  }
  if (commonPasswords.has(password.toLowerCase())) {
    refuse("this password is in lists of leaked passwords", { score: 0, common: true });
  }
  const result = estimator.check(password, userInputs);
  if (result.score < passwordScoreMin) {
    refuse(result.feedback.warning ?? "this password is too easy to guess", {
      score: result.score,
      warning: result.feedback.warning ?? null,
      suggestions: result.feedback.suggestions,
    });
  }
}
