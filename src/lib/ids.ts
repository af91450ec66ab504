import { monotonicFactory } from "ulid";

const next = monotonicFactory();

/** Prefixes say what an id points at; the ULID part sorts by creation time. */
export const idPrefixes = {
  program: "prg",
  member: "mbr",
  apiKey: "key",
  transaction: "txn",
  refund: "rfd",
  entry: "jrn",
  lot: "lot",
  hold: "hld",
  event: "evt",
  request: "req",
} as const;

export type IdKind = keyof typeof idPrefixes;

export function newId(kind: IdKind): string {
  return `${idPrefixes[kind]}_${next().toLowerCase()}`;
}

export function hasPrefix(kind: IdKind, id: string): boolean {
  return id.startsWith(`${idPrefixes[kind]}_`);
}
