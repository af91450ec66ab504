import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  encryptLegacyMembers,
  installKeyring,
  KeyringError,
  keyUsage,
  newKeyMaterial,
  parseKeyring,
  reapplyErasures,
  resolveKeyring,
  rotateKeys,
} from "../../src/modules/privacy/index.ts";
import { createTestApi, nextPhone, type TestApi, testKeyEnv } from "../harness.ts";

const silent = pino({ level: "silent" });
const testKeyring = () => parseKeyring(testKeyEnv.SETIA_DATA_KEYS, testKeyEnv.SETIA_INDEX_KEY);

describe("keyring", () => {
  const keyring = testKeyring();

  it("encrypts with the first key, binds ciphertext to its context, and decrypts", () => {
    const stored = keyring.encrypt("+6281311223344", "members/m1/phone_e164");
    expect(stored).toMatch(/^test1:/);
    expect(stored).not.toContain("6281311223344");
    expect(keyring.decrypt(stored, "members/m1/phone_e164")).toBe("+6281311223344");
    // Same value, fresh IV: ciphertexts differ, so equal phones are not visible as equal.
    expect(keyring.encrypt("+6281311223344", "members/m1/phone_e164")).not.toBe(stored);
    // Moved to another row or field, or altered, it no longer decrypts.
    expect(() => keyring.decrypt(stored, "members/m2/phone_e164")).toThrow();
    const tampered = `${stored.slice(0, -4)}AAA=`;
    expect(() => keyring.decrypt(tampered, "members/m1/phone_e164")).toThrow();
  });

  it("makes blind indexes that depend on the scope and the index key only", () => {
    const again = parseKeyring(
      `k9:${newKeyMaterial()},${testKeyEnv.SETIA_DATA_KEYS}`,
      testKeyEnv.SETIA_INDEX_KEY,
    );
    expect(again.blindIndex("p1/phone", "+62811")).toBe(keyring.blindIndex("p1/phone", "+62811"));
    expect(keyring.blindIndex("p2/phone", "+62811")).not.toBe(
      keyring.blindIndex("p1/phone", "+62811"),
    );
    const otherIndexKey = parseKeyring(testKeyEnv.SETIA_DATA_KEYS, newKeyMaterial());
    expect(otherIndexKey.blindIndex("p1/phone", "+62811")).not.toBe(
      keyring.blindIndex("p1/phone", "+62811"),
    );
  });

  it("refuses malformed keys with a clear message", () => {
    const key = newKeyMaterial();
    const bad: [string, string, RegExp][] = [
      ["", key, /"id:base64"/],
      [key, key, /"id:base64"/],
      [`k 1:${key}`, key, /"id:base64"/],
      [`k1:${key},k1:${key}`, key, /appears twice/],
      ["k1:c2hvcnQ=", key, /32 bytes/],
      ["k1:not base64!", key, /32 bytes/],
      [`k1:${key}`, "c2hvcnQ=", /SETIA_INDEX_KEY must be 32 bytes/],
    ];
    for (const [dataKeys, indexKey, message] of bad) {
      expect(() => parseKeyring(dataKeys, indexKey)).toThrow(message);
    }
    const keyring = parseKeyring(`k2:${key}`, key);
    expect(() => keyring.decrypt("k1:AAAA", "x")).toThrow(/key "k1".*SETIA_DATA_KEYS/);
  });

  it("refuses to start on PostgreSQL without keys, and needs both variables", () => {
    const dir = "./data/never-created";
    expect(() =>
      resolveKeyring({ DATABASE_URL: "postgres://db/setia", SETIA_DATA_DIR: dir }, silent),
    ).toThrow(/PostgreSQL needs encryption keys.*SETIA_DATA_KEYS/);
    expect(() =>
      resolveKeyring({ SETIA_DATA_KEYS: testKeyEnv.SETIA_DATA_KEYS, SETIA_DATA_DIR: dir }, silent),
    ).toThrow(/both SETIA_DATA_KEYS and SETIA_INDEX_KEY/);
    const configured = resolveKeyring(
      { ...testKeyEnv, DATABASE_URL: "postgres://db/setia", SETIA_DATA_DIR: dir },
      silent,
    );
    expect(configured.currentKeyId).toBe("test1");
  });

  it("generates keys once into a 0600 file of the embedded database's folder", () => {
    const dir = mkdtempSync(join(tmpdir(), "setia-keys-"));
    try {
      const first = resolveKeyring({ SETIA_DATA_DIR: dir }, silent);
      const file = join(dir, "data-keys.json");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const second = resolveKeyring({ SETIA_DATA_DIR: dir }, silent);
      const stored = first.encrypt("Budi", "ctx");
      expect(second.decrypt(stored, "ctx")).toBe("Budi");
      expect(second.blindIndex("s", "v")).toBe(first.blindIndex("s", "v"));
      expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({
        SETIA_DATA_KEYS: expect.stringMatching(/^k1:/),
        SETIA_INDEX_KEY: expect.any(String),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("key rotation, legacy rows and re-applied erasures", () => {
  let api: TestApi;
  let programId: string;
  const phones: string[] = [];
  const ids: string[] = [];

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program();
    for (let index = 0; index < 5; index++) {
      const phone = nextPhone();
      phones.push(phone);
      ids.push(await api.member(programId, { phone, name: `Member ${index}` }));
    }
  });
  afterAll(async () => {
    installKeyring(testKeyring());
    await api.close();
  });

  const lookup = (phone: string) =>
    api.call("GET", `/v1/programs/${programId}/members/lookup?phone=${phone}`);

  it("re-encrypts every row under the new key, after which the old key can go", async () => {
    const newKey = `k2:${newKeyMaterial()}`;
    installKeyring(
      parseKeyring(`${newKey},${testKeyEnv.SETIA_DATA_KEYS}`, testKeyEnv.SETIA_INDEX_KEY),
    );
    // New writes use the new key at once; old rows still read under the old one.
    const fresh = await api.member(programId, { phone: nextPhone() });
    expect((await lookup(phones[0] as string)).body.id).toBe(ids[0]);
    expect(await keyUsage(api.ctx.db)).toEqual({ remainingByKey: { k2: 1, test1: 5 } });

    const report = await rotateKeys(api.ctx.db, 2);
    expect(report).toEqual({ currentKeyId: "k2", rotated: 5, remainingByKey: { k2: 6 } });
    expect(await rotateKeys(api.ctx.db)).toMatchObject({ rotated: 0 });
    const raw = await sql<{ phone_enc: string; name_enc: string }>`
      select phone_enc, name_enc from members where program_id = ${programId}`.execute(
      api.ctx.db.kysely,
    );
    for (const row of raw.rows) {
      expect(row.phone_enc).toMatch(/^k2:/);
      expect(row.name_enc === null || row.name_enc.startsWith("k2:")).toBe(true);
    }

    // Without the old key every member still reads and looks up.
    installKeyring(parseKeyring(newKey, testKeyEnv.SETIA_INDEX_KEY));
    for (const [index, phone] of phones.entries()) {
      const found = await lookup(phone);
      expect(found.status).toBe(200);
      expect(found.body).toMatchObject({ id: ids[index], name: `Member ${index}` });
    }
    expect((await api.call("GET", `/v1/programs/${programId}/members/${fresh}`)).status).toBe(200);

    // And back: the test key first again, k2 kept until the rows are rotated.
    installKeyring(
      parseKeyring(`${testKeyEnv.SETIA_DATA_KEYS},${newKey}`, testKeyEnv.SETIA_INDEX_KEY),
    );
    expect(await rotateKeys(api.ctx.db)).toMatchObject({
      rotated: 6,
      remainingByKey: { test1: 6 },
    });
    installKeyring(testKeyring());
  });

  it("encrypts members a pre-privacy database held in clear", async () => {
    installKeyring(testKeyring());
    const phone = nextPhone();
    const id = await api.member(programId, { phone, email: "lama@example.com", name: "Pak Lama" });
    // What migration 010 leaves for a member enrolled before it: clear values aside, none sealed.
    await sql`insert into members_plaintext_legacy (member_id, phone_e164, email, name, birthday)
      values (${id}, ${`+62${phone.slice(1)}`}, 'lama@example.com', 'Pak Lama', '1970-01-31')`.execute(
      api.ctx.db.kysely,
    );
    await sql`update members set phone_enc = null, email_enc = null, name_enc = null,
      birthday_enc = null, phone_bidx = null, email_bidx = null, data_key_id = null
      where id = ${id}`.execute(api.ctx.db.kysely);
    expect((await lookup(phone)).status).toBe(404);

    expect(await encryptLegacyMembers(api.ctx.db, 1)).toBe(1);
    expect(await encryptLegacyMembers(api.ctx.db)).toBe(0);
    const found = await lookup(phone);
    expect(found.body).toMatchObject({ id, name: "Pak Lama", birthday: "1970-01-31" });
    const left = await sql<{ count: number }>`
      select count(*)::int as count from members_plaintext_legacy`.execute(api.ctx.db.kysely);
    expect(left.rows[0]?.count).toBe(0);
  });

  it("re-applies erasures from the database's log and from a saved copy", async () => {
    const erased = ids[1] as string;
    const response = await api.call("POST", `/v1/programs/${programId}/members/${erased}/erase`, {
      body: { reason: "ticket 12" },
    });
    expect(response.status).toBe(200);
    const saved = (await api.call("GET", `/v1/programs/${programId}/erasures`)).body.data as {
      id: string;
      programId: string;
      memberId: string;
      reason: string;
      requestedBy: string | null;
      erasedAt: string;
    }[];
    expect(saved).toHaveLength(1);
    // A restored backup from before the erasure: the member is back and the log row is gone.
    const restoredPhone = phones[1] as string;
    await sql`delete from erasures`.execute(api.ctx.db.kysely);
    await sql`update members set status = 'active' where id = ${erased}`.execute(api.ctx.db.kysely);
    await api.call("PATCH", `/v1/programs/${programId}/members/${erased}`, {
      body: { phone: restoredPhone, name: "Restored" },
    });
    expect((await lookup(restoredPhone)).status).toBe(200);

    const at = api.clock.now();
    const absent = {
      ...(saved[0] as (typeof saved)[number]),
      memberId: "mbr_01jzzzzzzzzzzzzzzzzzzzzzzz",
    };
    const outcome = await reapplyErasures(api.ctx.db, at, [...saved, absent]);
    expect(outcome).toEqual({
      reapplied: [erased],
      alreadyErased: 0,
      absent: ["mbr_01jzzzzzzzzzzzzzzzzzzzzzzz"],
    });
    expect((await lookup(restoredPhone)).status).toBe(404);
    const member = await api.call("GET", `/v1/programs/${programId}/members/${erased}`);
    expect(member.body).toMatchObject({ status: "erased", phone: null, name: null });
    // The log holds the original erasure again, and a second run has nothing to do.
    const log = (await api.call("GET", `/v1/programs/${programId}/erasures`)).body.data;
    expect(log).toEqual(saved);
    expect(await reapplyErasures(api.ctx.db, at)).toEqual({
      reapplied: [],
      alreadyErased: 1,
      absent: [],
    });
  });
});

it("KeyringError is what configuration problems throw", () => {
  expect(() => parseKeyring("", "")).toThrow(KeyringError);
});
