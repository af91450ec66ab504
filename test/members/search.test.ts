import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommunicationsOnce } from "../../src/modules/communications/index.ts";
import { activeMembersBornOn, reindexMembers } from "../../src/modules/members/index.ts";
import {
  installKeyring,
  type Keyring,
  newKeyMaterial,
  parseKeyring,
} from "../../src/modules/privacy/index.ts";
import { runBirthdayActivities } from "../../src/modules/rules/index.ts";
import { expectError } from "../api/support.ts";
import { createTestApi, nextPhone, type TestApi, testKeyEnv } from "../harness.ts";

type Json = Record<string, unknown>;
type Found = { id: string; name: string | null; balance: Json; tier: Json | null };

const testKeyring = () => parseKeyring(testKeyEnv.SETIA_DATA_KEYS, testKeyEnv.SETIA_INDEX_KEY);

/** The test keyring, counting decrypt calls: a job that decrypts everyone shows here. */
function countingKeyring(base: Keyring): { keyring: Keyring; decrypts: () => number } {
  let count = 0;
  return {
    keyring: {
      ...base,
      decrypt(stored, context) {
        count++;
        return base.decrypt(stored, context);
      },
    },
    decrypts: () => count,
  };
}

let api: TestApi;
let programId: string;
let otherProgramId: string;
const ids: Record<string, string> = {};

async function search(q: string, program = programId, extra = ""): Promise<Found[]> {
  const response = await api.call(
    "GET",
    `/v1/programs/${program}/members?q=${encodeURIComponent(q)}${extra}`,
  );
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body.nextCursor).toBeNull();
  return response.body.data as Found[];
}

const names = (found: Found[]) => found.map((member) => member.name).sort();

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
  otherProgramId = await api.program({ name: "Toko Lain" });
  ids.budi = await api.member(programId, { name: "Budi Santoso", email: "budi@example.com" });
  ids.siti = await api.member(programId, { name: "Siti Nurhaliza", birthday: "1992-07-14" });
  ids.hartono = await api.member(programId, { name: "Bùdi Hartono" });
  ids.other = await api.member(otherProgramId, { name: "Budi Santoso" });
});

afterAll(async () => {
  installKeyring(testKeyring());
  await api?.close();
});

describe("member search by name", () => {
  it("finds members by the beginnings of their name's words, accents folded", async () => {
    expect(names(await search("budi"))).toEqual(["Budi Santoso", "Bùdi Hartono"]);
    expect(names(await search("BÚDI"))).toEqual(["Budi Santoso", "Bùdi Hartono"]);
    expect(names(await search("santoso budi"))).toEqual(["Budi Santoso"]);
    expect(names(await search("bud har"))).toEqual(["Bùdi Hartono"]);
    expect(names(await search("nurhaliza"))).toEqual(["Siti Nurhaliza"]);
    expect(await search("budiman")).toEqual([]);
    expect(await search("santosa")).toEqual([]);
    // A result carries what a list shows: balance and tier (no ladder here).
    const [first] = await search("siti");
    expect(first).toMatchObject({ id: ids.siti, balance: { available: 0 }, tier: null });
  });

  it("refuses a search shorter than 3 letters, and limits a search", async () => {
    for (const q of ["bu", "b", "  ", "a b", "--"]) {
      const response = await api.call(
        "GET",
        `/v1/programs/${programId}/members?q=${encodeURIComponent(q)}`,
      );
      expectError(response, 400, "validation_failed");
      expect(response.body.error?.message).toMatch(/3 letters|q/);
    }
    const tooLong = await api.call("GET", `/v1/programs/${programId}/members?q=${"a".repeat(101)}`);
    expectError(tooLong, 400, "validation_failed");
    const manyWords = await api.call(
      "GET",
      `/v1/programs/${programId}/members?q=${encodeURIComponent("abc def ghi jkl mno pqr stu")}`,
    );
    expectError(manyWords, 400, "validation_failed");
    const cursor = await api.call("GET", `/v1/programs/${programId}/members?q=budi&cursor=abc`);
    expectError(cursor, 400, "validation_failed");
    const big = await api.call("GET", `/v1/programs/${programId}/members?q=budi&limit=51`);
    expectError(big, 400, "validation_failed");

    const crowd = await api.program({ name: "Toko Ramai" });
    for (let i = 0; i < 3; i++) await api.member(crowd, { name: `Agus ${i}` });
    const page = await api.call("GET", `/v1/programs/${crowd}/members?q=agus&limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.data).toHaveLength(2);
    expect(page.body.more).toBe(true);
    const all = await api.call("GET", `/v1/programs/${crowd}/members?q=agus&limit=3`);
    expect(all.body.more).toBe(false);
    // Short words match whole words only, next to a word long enough to search.
    await api.member(crowd, { name: "Li Wei" });
    await api.member(crowd, { name: "Lina Weiss" });
    expect(names(await search("li wei", crowd))).toEqual(["Li Wei"]);
    expect(names(await search("wei", crowd))).toEqual(["Li Wei", "Lina Weiss"]);
    // Words longer than 12 characters are compared on their first 12.
    await api.member(crowd, { name: "Kusumawardhani" });
    expect(names(await search("kusumawardhani", crowd))).toEqual(["Kusumawardhani"]);
    expect(names(await search("kusumawar", crowd))).toEqual(["Kusumawardhani"]);
  });

  it("finds by phone, email or card in the same box", async () => {
    const phone = nextPhone();
    const id = await api.member(programId, { phone, name: "Dewi Lestari" });
    const member = (await api.call("GET", `/v1/programs/${programId}/members/${id}`)).body;
    const international = `+62 ${phone.slice(1, 4)} ${phone.slice(4, 8)} ${phone.slice(8)}`;
    for (const q of [phone, international, member.cardNumber as string]) {
      expect((await search(q)).map((found) => found.id)).toEqual([id]);
    }
    expect((await search("BUDI@example.com")).map((found) => found.id)).toEqual([ids.budi]);
    expect(await search("0812 9999 0000")).toEqual([]);
    expect(await search("nobody@example.com")).toEqual([]);
    // A mistyped card number (check digit) or an impossible phone is a clear error.
    const card = member.cardNumber as string;
    const wrong = `${card.slice(0, 15)}${(Number(card[15]) + 1) % 10}`;
    expectError(
      await api.call("GET", `/v1/programs/${programId}/members?q=${wrong}`),
      400,
      "validation_failed",
    );
    expectError(
      await api.call("GET", `/v1/programs/${programId}/members?q=12`),
      400,
      "validation_failed",
    );
  });

  it("never shows another program's members", async () => {
    expect((await search("santoso")).map((found) => found.id)).toEqual([ids.budi]);
    expect((await search("santoso", otherProgramId)).map((found) => found.id)).toEqual([ids.other]);
    const otherKey = await api.key(otherProgramId, "read");
    const refused = await api.call("GET", `/v1/programs/${programId}/members?q=budi`, {
      key: otherKey,
    });
    expectError(refused, 403, "forbidden");
    // Tokens are scoped by program: the same name gives different tokens in each.
    const tokens = await api.ctx.db.kysely
      .selectFrom("member_name_tokens")
      .select(["member_id", "token"])
      .where("member_id", "in", [ids.budi as string, ids.other as string])
      .execute();
    const of = (member: string) =>
      new Set(tokens.filter((row) => row.member_id === member).map((row) => row.token));
    const shared = [...of(ids.budi as string)].filter((token) =>
      of(ids.other as string).has(token),
    );
    expect(of(ids.budi as string).size).toBeGreaterThan(0);
    expect(shared).toEqual([]);
  });

  it("stores no clear name: tokens and the birthday index are keyed hashes", async () => {
    const raw = await sql<{ text: string }>`
      select row_to_json(t)::text as text from member_name_tokens t
      where program_id = ${programId}`.execute(api.ctx.db.kysely);
    expect(raw.rows.length).toBeGreaterThan(10);
    const all = raw.rows.map((row) => row.text.toLowerCase()).join("\n");
    for (const word of [
      "budi",
      "bùdi",
      "santoso",
      "siti",
      "nurhaliza",
      "hartono",
      '"har"',
      '"san"',
    ]) {
      expect(all).not.toContain(word);
    }
    const member = await sql<{ text: string; birthday_bidx: string }>`
      select row_to_json(m)::text as text, birthday_bidx from members m where id = ${ids.siti}`.execute(
      api.ctx.db.kysely,
    );
    const row = member.rows[0];
    expect(row?.birthday_bidx).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const needle of ["siti", "nurhaliza", "1992", "07-14"]) {
      expect(row?.text.toLowerCase()).not.toContain(needle);
    }
  });

  it("follows a name change: the old name no longer finds the member", async () => {
    const renamed = await api.call("PATCH", `/v1/programs/${programId}/members/${ids.budi}`, {
      body: { name: "Bambang Santoso" },
    });
    expect(renamed.status).toBe(200);
    expect(names(await search("budi"))).toEqual(["Bùdi Hartono"]);
    expect(await search("budi santoso")).toEqual([]);
    expect(names(await search("bambang"))).toEqual(["Bambang Santoso"]);
    expect(names(await search("santoso"))).toEqual(["Bambang Santoso"]);
    // Other updates keep the tokens; removing the name removes them.
    await api.call("PATCH", `/v1/programs/${programId}/members/${ids.budi}`, {
      body: { city: "Bandung" },
    });
    expect(names(await search("bambang"))).toEqual(["Bambang Santoso"]);
    await api.call("PATCH", `/v1/programs/${programId}/members/${ids.budi}`, {
      body: { name: null },
    });
    expect(await search("bambang")).toEqual([]);
    await api.call("PATCH", `/v1/programs/${programId}/members/${ids.budi}`, {
      body: { name: "Budi Santoso" },
    });
    expect(names(await search("budi santoso"))).toEqual(["Budi Santoso"]);
  });

  it("exports the tokens, and after erasure finds nothing and keeps no token", async () => {
    const exported = await api.call("GET", `/v1/programs/${programId}/members/${ids.siti}/export`);
    expect(exported.status).toBe(200);
    const section = (exported.body.sections as Json).search as Json;
    expect((section.member_name_tokens as unknown[]).length).toBeGreaterThan(0);

    const erased = await api.call("POST", `/v1/programs/${programId}/members/${ids.siti}/erase`, {
      body: { reason: "ticket 59" },
    });
    expect(erased.status).toBe(200);
    expect(await search("siti")).toEqual([]);
    expect(await search("nurhaliza")).toEqual([]);
    const left = await api.ctx.db.kysely
      .selectFrom("member_name_tokens")
      .select("token")
      .where("member_id", "=", ids.siti as string)
      .execute();
    expect(left).toEqual([]);
    const row = await api.ctx.db.kysely
      .selectFrom("members")
      .select(["birthday_bidx", "index_version"])
      .where("id", "=", ids.siti as string)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ birthday_bidx: null, index_version: null });
    // The backfill leaves erased members alone.
    expect((await reindexMembers(api.ctx.db)).reindexed).toBe(0);
  });
});

describe("backfill of search indexes", () => {
  it("indexes members written without tokens, in batches, once", async () => {
    const program = await api.program({ name: "Toko Lama" });
    const written = [
      await api.member(program, { name: "Rina Wijaya", birthday: "1980-05-01" }),
      await api.member(program, { name: "Rudi Wijaya" }),
      await api.member(program, { name: "Sri Mulyani", birthday: "1975-05-01" }),
    ];
    const before = await search("wijaya", program);
    // What members enrolled before migration 015 look like: no tokens, no birthday index.
    await api.ctx.db.kysely
      .deleteFrom("member_name_tokens")
      .where("program_id", "=", program)
      .execute();
    await api.ctx.db.kysely
      .updateTable("members")
      .set({ birthday_bidx: null, index_version: null })
      .where("program_id", "=", program)
      .execute();
    expect(await search("wijaya", program)).toEqual([]);
    expect(await activeMembersBornOn(api.ctx.db.kysely, program, ["05-01"], { limit: 10 })).toEqual(
      [],
    );

    expect(await reindexMembers(api.ctx.db, 2)).toMatchObject({ reindexed: 3 });
    expect(await search("wijaya", program)).toEqual(before);
    expect(names(await search("sri mul", program))).toEqual(["Sri Mulyani"]);
    expect(await activeMembersBornOn(api.ctx.db.kysely, program, ["05-01"], { limit: 10 })).toEqual(
      [written[0], written[2]].sort(),
    );
    // Idempotent: a second run (another process, the next start) finds nothing to do.
    expect((await reindexMembers(api.ctx.db)).reindexed).toBe(0);
    const tokens = await sql<{ count: number }>`
      select count(*)::int as count from member_name_tokens where program_id = ${program}`.execute(
      api.ctx.db.kysely,
    );
    expect(tokens.rows[0]?.count).toBeGreaterThan(0);
    await reindexMembers(api.ctx.db);
    const again = await sql<{ count: number }>`
      select count(*)::int as count from member_name_tokens where program_id = ${program}`.execute(
      api.ctx.db.kysely,
    );
    expect(again.rows[0]?.count).toBe(tokens.rows[0]?.count);
  });

  it("rebuilds every index after the index key changes", async () => {
    const phone = nextPhone();
    const program = await api.program({ name: "Toko Kunci" });
    const id = await api.member(program, { phone, name: "Yanti Kusuma", birthday: "1988-09-09" });
    const members = await api.ctx.db.kysely
      .selectFrom("members")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .where("data_key_id", "is not", null)
      .executeTakeFirstOrThrow();
    installKeyring(parseKeyring(testKeyEnv.SETIA_DATA_KEYS, newKeyMaterial()));
    try {
      // Under the new key nothing matches until the indexes are rebuilt.
      expect(await search("yanti", program)).toEqual([]);
      const lookup = await api.call("GET", `/v1/programs/${program}/members/lookup?phone=${phone}`);
      expect(lookup.status).toBe(404);
      expect((await reindexMembers(api.ctx.db)).reindexed).toBe(Number(members.count));
      expect((await search("yanti kus", program)).map((found) => found.id)).toEqual([id]);
      expect((await search(phone, program)).map((found) => found.id)).toEqual([id]);
      expect(
        await activeMembersBornOn(api.ctx.db.kysely, program, ["09-09"], { limit: 5 }),
      ).toEqual([id]);
    } finally {
      installKeyring(testKeyring());
    }
    expect((await reindexMembers(api.ctx.db)).reindexed).toBe(Number(members.count));
    expect((await search("yanti", program)).map((found) => found.id)).toEqual([id]);
  });
});

describe("birthday jobs read the birthday index", () => {
  const bonus = { trigger: "birthday", actions: [{ type: "fixed_bonus", args: { points: 500 } }] };

  async function birthdayProgram(name: string): Promise<string> {
    const program = await api.program({ name });
    const campaign = await api.call("POST", `/v1/programs/${program}/campaigns`, {
      body: {
        name: "Ulang tahun",
        startsAt: "2020-01-01T00:00:00Z",
        status: "active",
        rules: [bonus],
      },
    });
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
    return program;
  }

  const birthdayBonuses = async (program: string) =>
    (
      await api.ctx.db.kysely
        .selectFrom("activities")
        .select(["member_id", "external_id"])
        .where("program_id", "=", program)
        .where("type", "=", "birthday")
        .orderBy("member_id")
        .execute()
    ).map((row) => `${row.member_id} ${row.external_id}`);

  it("fires the birthday campaign for today's members only, decrypting only them", async () => {
    api.clock.set("2026-03-02T03:00:00Z"); // 10:00 on 2 March in Jakarta
    const program = await birthdayProgram("Toko Ulang Tahun");
    const today = await api.member(program, { name: "Hari Ini", birthday: "1990-03-02" });
    const blocked = await api.member(program, { birthday: "1991-03-02" });
    await api.call("POST", `/v1/programs/${program}/members/${blocked}/block`, { body: {} });
    const crowd = 30;
    for (let i = 0; i < crowd; i++) {
      await api.member(program, {
        birthday: `1990-${i % 2 ? "04" : "03"}-${String(3 + (i % 20)).padStart(2, "0")}`,
      });
    }
    const counting = countingKeyring(testKeyring());
    installKeyring(counting.keyring);
    try {
      expect(await runBirthdayActivities(api.ctx)).toBe(1);
    } finally {
      installKeyring(testKeyring());
    }
    // Before the index the job decrypted every member of the program (4 fields each); now only
    // the member whose activity it records.
    expect(counting.decrypts()).toBeGreaterThan(0);
    expect(counting.decrypts()).toBeLessThan(crowd);
    expect(await birthdayBonuses(program)).toEqual([`${today} birthday-2026`]);
  });

  it("celebrates 29 February on 28 February in other years", async () => {
    const program = await birthdayProgram("Toko Kabisat");
    const leapling = await api.member(program, { birthday: "2000-02-29" });
    const feb28 = await api.member(program, { birthday: "1999-02-28" });
    await api.member(program, { birthday: "1999-03-01" });
    api.clock.set("2027-02-28T03:00:00Z");
    expect(await runBirthdayActivities(api.ctx)).toBe(2);
    api.clock.set("2027-03-01T03:00:00Z");
    expect(await runBirthdayActivities(api.ctx)).toBe(1);
    // 2028 is a leap year: 28 February is only the 28th's, 29 February the leapling's.
    api.clock.set("2028-02-28T03:00:00Z");
    expect(await runBirthdayActivities(api.ctx)).toBe(1);
    api.clock.set("2028-02-29T03:00:00Z");
    expect(await runBirthdayActivities(api.ctx)).toBe(1);
    const fired = await birthdayBonuses(program);
    expect(fired).toEqual(
      expect.arrayContaining([
        `${leapling} birthday-2027`,
        `${feb28} birthday-2027`,
        `${feb28} birthday-2028`,
        `${leapling} birthday-2028`,
      ]),
    );
    expect(fired).toHaveLength(5);
  });

  it("queues birthday messages for today's members, decrypting only them", async () => {
    api.clock.set("2026-06-09T03:00:00Z");
    const program = await api.program({ name: "Toko Pesan" });
    await api.call("PATCH", `/v1/programs/${program}/communication-settings`, {
      body: { channels: ["email"] },
    });
    const marketing = { terms: true, marketing: { email: true } };
    const born = await api.member(program, {
      email: "ultah@example.com",
      birthday: "1990-06-10",
      consents: marketing,
    });
    const leapling = await api.member(program, {
      email: "kabisat@example.com",
      birthday: "1996-02-29",
      consents: marketing,
    });
    const crowd = 20;
    for (let i = 0; i < crowd; i++) {
      await api.member(program, {
        email: `m${i}@example.com`,
        birthday: `1990-06-${String(11 + i).padStart(2, "0")}`,
        consents: marketing,
      });
    }
    // Today's pass sends the welcome messages and scans 9 June: nobody's birthday.
    await runCommunicationsOnce(api.ctx);
    api.clock.set("2026-06-10T03:00:00Z");
    const counting = countingKeyring(testKeyring());
    installKeyring(counting.keyring);
    try {
      await runCommunicationsOnce(api.ctx);
    } finally {
      installKeyring(testKeyring());
    }
    // The one decrypted is the member the message goes to.
    expect(counting.decrypts()).toBeGreaterThan(0);
    expect(counting.decrypts()).toBeLessThan(crowd);
    api.clock.set("2027-02-28T03:00:00Z");
    await runCommunicationsOnce(api.ctx);
    const queued = await api.ctx.db.kysely
      .selectFrom("comm_messages")
      .select("member_id")
      .where("program_id", "=", program)
      .where("trigger", "=", "birthday")
      .orderBy("created_at")
      .execute();
    expect(queued.map((row) => row.member_id)).toEqual([born, leapling]);
  });

  it("selects a week of birthdays with one query", async () => {
    const program = await api.program({ name: "Toko Minggu" });
    const inWeek = [
      await api.member(program, { birthday: "1990-12-30" }),
      await api.member(program, { birthday: "1985-01-02" }),
    ];
    await api.member(program, { birthday: "1990-01-06" });
    const week = ["12-29", "12-30", "12-31", "01-01", "01-02", "01-03", "01-04"];
    expect(await activeMembersBornOn(api.ctx.db.kysely, program, week, { limit: 10 })).toEqual(
      inWeek.sort(),
    );
    const [first] = inWeek;
    expect(
      await activeMembersBornOn(api.ctx.db.kysely, program, week, { limit: 10, after: first }),
    ).toEqual(inWeek.slice(1));
  });
});
