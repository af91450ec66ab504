import { randomBytes } from "node:crypto";
import { DomainError } from "../../lib/errors.ts";

/** 32 symbols without 0/O and 1/I: a code read aloud or typed at a till is not misread. */
export const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/** 12 symbols of 5 bits: 60 bits from the OS's cryptographic source per code. */
export const codeLength = 12;

/**
 * Fresh unguessable codes: each symbol from 5 random bits, so every symbol is equally likely. One
 * read of the OS's source serves the whole list.
 */
export function newCodes(count: number, prefix = ""): string[] {
  const bytes = randomBytes(count * codeLength);
  const codes: string[] = [];
  for (let index = 0; index < count; index++) {
    let code = prefix;
    for (let offset = index * codeLength; offset < (index + 1) * codeLength; offset++) {
      code += codeAlphabet[(bytes[offset] as number) % 32];
    }
    codes.push(code);
  }
  return codes;
}

export function newCode(prefix = ""): string {
  return newCodes(1, prefix)[0] as string;
}

/** Codes are typed by people: case, spaces and dashes do not matter. */
export function normalizeCode(input: string, field = "code"): string {
  const code = input.replace(/[\s-]/g, "").toUpperCase();
  if (!/^[A-Z0-9]{4,64}$/.test(code)) {
    throw new DomainError("validation_failed", `${field} must be 4 to 64 letters or digits`, {
      issues: [{ path: field, message: "must be 4 to 64 letters or digits" }],
    });
  }
  return code;
}
