#!/usr/bin/env node
// Verifies a Setia audit export (JSON Lines) with nothing but Node.js (18+):
//   node audit-verify.mjs export.jsonl [--public-key BASE64_SPKI]
// Checks every record's content hash, its own hash and its link to the previous record, then
// every checkpoint's Ed25519 signature and that it names a record of the file with that hash.
// Pass --public-key (published by the operator) to refuse checkpoints signed with any other key.
// Exit code 0: the file verifies; 1: it does not (the first problem is printed); 2: usage.
import { createHash, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const file = args.find((arg) => !arg.startsWith("--"));
const keyAt = args.indexOf("--public-key");
const pinnedKey = keyAt >= 0 ? args[keyAt + 1] : null;
if (!file) {
  console.error("usage: node audit-verify.mjs export.jsonl [--public-key BASE64_SPKI]");
  process.exit(2);
}

// JSON with object keys sorted (by UTF-16 code units) at every level, no spaces.
const canonical = (value) =>
  JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
const sha256 = (text) => createHash("sha256").update(text, "utf8").digest("hex");

function fail(message) {
  console.error(`FAILED: ${message}`);
  process.exit(1);
}

const lines = readFileSync(file, "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "");
const items = lines.map((line, index) => {
  try {
    return JSON.parse(line);
  } catch {
    return fail(`line ${index + 1} is not JSON`);
  }
});
const header = items[0];
if (header?.type !== "header" || header.format !== "setia-audit-export/1")
  fail("the first line is not a setia-audit-export/1 header");

const hashes = new Map();
let prevHash = header.genesisHash;
let expectedSeq = 1;
let checkpoints = 0;
let lastSigned = 0;
for (const item of items.slice(1)) {
  if (item.type === "record") {
    const at = `record seq ${item.seq} (${item.source} ${item.sourceId})`;
    if (item.seq !== expectedSeq) fail(`${at}: expected seq ${expectedSeq}`);
    if (item.prevHash !== prevHash)
      fail(`${at}: prevHash does not match the previous record's hash`);
    const contentHash = sha256(canonical(item.content));
    if (contentHash !== item.contentHash)
      fail(`${at}: content hash is ${contentHash}, the chain says ${item.contentHash}`);
    const hash = sha256(
      canonical({
        seq: item.seq,
        prevHash: item.prevHash,
        source: item.source,
        sourceId: item.sourceId,
        programId: item.programId,
        contentHash,
      }),
    );
    if (hash !== item.hash) fail(`${at}: record hash is ${hash}, the file says ${item.hash}`);
    hashes.set(item.seq, hash);
    prevHash = hash;
    expectedSeq += 1;
  } else if (item.type === "checkpoint") {
    const at = `checkpoint at seq ${item.seq}`;
    if (pinnedKey && item.publicKey !== pinnedKey) fail(`${at}: signed with another key`);
    const message = `setia-audit-checkpoint:v1:${item.seq}:${item.hash}:${item.signedAt}`;
    let valid = false;
    try {
      const key = createPublicKey({
        key: Buffer.from(item.publicKey, "base64"),
        format: "der",
        type: "spki",
      });
      valid = verify(
        null,
        Buffer.from(message, "utf8"),
        key,
        Buffer.from(item.signature, "base64"),
      );
    } catch {
      valid = false;
    }
    if (!valid) fail(`${at}: signature does not verify`);
    if (hashes.get(item.seq) !== item.hash) fail(`${at}: no record with that seq and hash`);
    checkpoints += 1;
    lastSigned = Math.max(lastSigned, item.seq);
  } else {
    fail(`unknown line type ${JSON.stringify(item.type)}`);
  }
}
const records = expectedSeq - 1;
if (checkpoints === 0) fail("no signed checkpoint: nothing vouches for the records");
const unsigned = records - lastSigned;
console.log(
  `OK: ${records} records, ${checkpoints} checkpoints; head seq ${records} hash ${prevHash}` +
    (unsigned > 0 ? `; ${unsigned} records after the last checkpoint are not signed` : ""),
);
