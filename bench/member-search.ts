/**
 * `node --import tsx bench/member-search.ts`: member search by name and the birthday selection
 * on 50,000 members, on PGlite and on PostgreSQL, each figure next to a baseline measured in the
 * same run on the same data.
 *
 * 1. Loads members the way migration 015 finds them (encrypted, no name tokens, no birthday
 *    index) and times the backfill that start-up runs (`setia privacy reindex`).
 * 2. Search latency (median and p95 of sequential calls of the members module, results decrypted)
 *    for a common first name, a 3-letter prefix, two words and a rare full name, each with its
 *    ratio to the baseline: looking a member up by phone through its blind index.
 * 3. The birthday jobs' selection of today's members: before (page through every member,
 *    decrypting, as the jobs did) and after (one query on the birthday index).
 *
 * Environment: MEMBER_SEARCH_BENCH_MEMBERS (50000), MEMBER_SEARCH_BENCH_CALLS per query (200),
 * BENCH_DATABASE_URL (a PostgreSQL user that may create databases; BENCH_PGLITE=0 or
 * MEMBER_SEARCH_BENCH_POSTGRES=0 skips a driver).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { sql } from "kysely";
import pino from "pino";
import type { Ctx } from "../src/context.ts";
import { type Db, openDb } from "../src/db/client.ts";
import { migrate } from "../src/db/migrate.ts";
import type { MembersTable } from "../src/db/schema.ts";
import { systemClock } from "../src/lib/clock.ts";
import { newId } from "../src/lib/ids.ts";
import {
  activeMembersBornOn,
  birthdaysOn,
  findMemberRow,
  listMembers,
  reindexMembers,
} from "../src/modules/members/index.ts";
import { searchByName } from "../src/modules/members/search.ts";
import { sealMember } from "../src/modules/members/storage.ts";
import { installKeyring, newKeyMaterial, parseKeyring } from "../src/modules/privacy/index.ts";
import { createProgram, programCreateSchema } from "../src/modules/programs/index.ts";
import { loadBenchConfig } from "./config.ts";
import { createDatabase } from "./postgres.ts";
import { prng } from "./workload.ts";

const intEnv = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const memberCount = intEnv("MEMBER_SEARCH_BENCH_MEMBERS", 50_000);
const calls = intEnv("MEMBER_SEARCH_BENCH_CALLS", 200);
const config = loadBenchConfig();
const log = (message: string) => process.stderr.write(`[bench:member-search] ${message}\n`);

const firstNames = [
  "Budi Siti Agus Dewi Andi Sri Rina Joko Ayu Eko Putri Adi Wahyu Indah Rudi Yanti",
  "Bambang Nur Hendra Lestari Dian Fajar Ratna Bayu Mega Rizky Sari Taufik Wulan",
  "Yusuf Ani Dimas Fitri Gilang Hana Irfan Kartika Lukman Maya Novi",
]
  .join(" ")
  .split(" ");
const lastNames = [
  "Santoso Wijaya Saputra Hartono Pratama Nurhaliza Kusuma Setiawan Hidayat Lestari",
  "Gunawan Susanto Wibowo Purnomo Halim Siregar Nasution Simanjuntak Tanjung",
  "Harahap Rahman Sulistyo Utomo Permana Ramadhan Suryadi Firmansyah Maulana",
  "Syahputra Anggraini Yulianti Handayani Kurniawan Sihombing Panjaitan Lubis",
  "Manurung Sitompul Pohan Damanik",
]
  .join(" ")
  .split(" ");

interface Member {
  phone: string;
  name: string;
  birthday: string;
}

/** Names as Indonesian shops see them: one name for a fifth of members, two for the rest. */
function plan(count: number): Member[] {
  const random = prng(59);
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)] as T;
  return Array.from({ length: count }, (_, index) => {
    const first = pick(firstNames);
    const month = String(1 + Math.floor(random() * 12)).padStart(2, "0");
    const day = String(1 + Math.floor(random() * 28)).padStart(2, "0");
    return {
      phone: `+62812${String(10_000_000 + index)}`,
      name: random() < 0.2 ? first : `${first} ${pick(lastNames)}`,
      birthday: `${1960 + Math.floor(random() * 45)}-${month}-${day}`,
    };
  });
}

async function load(db: Db, programId: string, members: Member[]): Promise<void> {
  const now = new Date();
  const consents = JSON.stringify({ marketing: {} });
  for (let start = 0; start < members.length; start += 1000) {
    const rows: MembersTable[] = members.slice(start, start + 1000).map((member, offset) => ({
      id: newId("member"),
      program_id: programId,
      phone_e164: member.phone,
      email: null,
      // Unique is enough: the bench never looks members up by card.
      card_number: `8${String(start + offset).padStart(15, "0")}`,
      name: member.name,
      birthday: member.birthday,
      city: null,
      gender: null,
      age_band: null,
      tags: [],
      status: "active",
      blocked_reason: null,
      terms_accepted_at: now,
      consents,
      enrolled_channel: "pos",
      enrolled_store_id: null,
      created_at: now,
      updated_at: now,
    }));
    await db.transaction(async (tx) => {
      // As migration 015 finds them: sealed, but no tokens and no birthday index yet.
      await tx
        .insertInto("members")
        .values(
          rows.map((row) => ({ ...sealMember(row), birthday_bidx: null, index_version: null })),
        )
        .execute();
      await tx
        .insertInto("member_balances")
        .values(rows.map((row) => ({ member_id: row.id, program_id: programId, updated_at: now })))
        .execute();
    });
  }
}

interface Latency {
  medianMs: number;
  p95Ms: number;
  results: number;
}

async function latency(run: (index: number) => Promise<number>): Promise<Latency> {
  for (let index = 0; index < 10; index++) await run(index); // warm-up
  const times: number[] = [];
  let results = 0;
  for (let index = 0; index < calls; index++) {
    const started = performance.now();
    results = await run(index);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0;
  return { medianMs: at(0.5), p95Ms: at(0.95), results };
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

async function measure(driver: "pglite" | "postgres", db: Db): Promise<Record<string, unknown>> {
  const ctx: Ctx = { db, clock: systemClock, log: pino({ level: "silent" }) };
  await migrate(db);
  const program = await createProgram(ctx, programCreateSchema.parse({ name: "Bench" }));
  const members = plan(memberCount);
  let started = performance.now();
  await load(db, program.id, members);
  log(
    `${driver}: ${memberCount} members loaded in ${round((performance.now() - started) / 1000, 1)} s`,
  );

  started = performance.now();
  const { reindexed } = await reindexMembers(db);
  const backfillSeconds = (performance.now() - started) / 1000;
  log(`${driver}: backfill of ${reindexed} members in ${round(backfillSeconds, 1)} s`);
  const tokens = await sql<{ count: number }>`
    select count(*)::int as count from member_name_tokens`.execute(db.kysely);
  const size = await sql<{ bytes: number }>`
    select pg_total_relation_size('member_name_tokens')::bigint as bytes`.execute(db.kysely);

  const random = prng(7);
  const someone = () => members[Math.floor(random() * members.length)] as Member;
  const phone = await latency(async () => {
    await findMemberRow(db.kysely, program.id, { phone: someone().phone });
    return 1;
  });
  const search = (text: (index: number) => string) =>
    latency(
      async (index) => (await searchByName(db.kysely, program.id, text(index), 20)).rows.length,
    );
  const queries = {
    commonFirstName: await search((index) => firstNames[index % firstNames.length] as string),
    prefix3: await search((index) => (firstNames[index % firstNames.length] as string).slice(0, 3)),
    twoWords: await search(
      (index) =>
        `${firstNames[index % firstNames.length]} ${(lastNames[index % lastNames.length] as string).slice(0, 4)}`,
    ),
    fullName: await search(() => someone().name),
  };

  // The birthday jobs, before and after, for every day of a week (same answers asserted).
  const days = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"];
  let before = 0;
  let after = 0;
  let born = 0;
  for (const day of days) {
    const monthDays = new Set(birthdaysOn(day));
    started = performance.now();
    const scanned: string[] = [];
    for (let last: string | undefined; ; ) {
      const page = await listMembers(ctx, program.id, { limit: 200, after: last });
      for (const member of page) {
        if (
          member.birthday &&
          monthDays.has(member.birthday.slice(5)) &&
          member.status === "active"
        )
          scanned.push(member.id);
      }
      if (page.length < 200) break;
      last = page.at(-1)?.id;
    }
    before += performance.now() - started;
    started = performance.now();
    const indexed: string[] = [];
    for (let last: string | undefined; ; ) {
      const page = await activeMembersBornOn(db.kysely, program.id, [...monthDays], {
        limit: 200,
        after: last,
      });
      indexed.push(...page);
      if (page.length < 200) break;
      last = page.at(-1);
    }
    after += performance.now() - started;
    if (scanned.join() !== indexed.join()) throw new Error(`birthdays differ on ${day}`);
    born += indexed.length;
  }

  const ratio = (value: Latency) => round(value.medianMs / phone.medianMs, 1);
  return {
    driver,
    members: memberCount,
    backfill: {
      seconds: round(backfillSeconds, 1),
      membersPerSecond: Math.round(reindexed / backfillSeconds),
      tokenRows: tokens.rows[0]?.count,
      tokensPerMember: round((tokens.rows[0]?.count ?? 0) / memberCount, 1),
      tokenTableMiB: round(Number(size.rows[0]?.bytes ?? 0) / 1_048_576, 1),
    },
    baselinePhoneLookup: { medianMs: round(phone.medianMs), p95Ms: round(phone.p95Ms) },
    search: Object.fromEntries(
      Object.entries(queries).map(([name, value]) => [
        name,
        {
          medianMs: round(value.medianMs),
          p95Ms: round(value.p95Ms),
          results: value.results,
          ratioToPhoneLookup: ratio(value),
        },
      ]),
    ),
    birthdaySelection: {
      days: days.length,
      membersPerDay: round(born / days.length, 1),
      beforeMsPerDay: round(before / days.length, 1),
      afterMsPerDay: round(after / days.length, 1),
      speedup: round(before / after, 0),
    },
  };
}

installKeyring(parseKeyring(`bench:${newKeyMaterial()}`, newKeyMaterial()));
const results: Record<string, unknown>[] = [];
if (process.env.BENCH_PGLITE !== "0") {
  const dir = mkdtempSync(join(tmpdir(), "setia-member-search-"));
  const db = await openDb({ dataDir: dir });
  try {
    results.push(await measure("pglite", db));
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
if (process.env.MEMBER_SEARCH_BENCH_POSTGRES !== "0") {
  const database = await createDatabase(config.adminUrl, "setia_search_bench");
  const db = await openDb({ databaseUrl: database.url });
  try {
    results.push(await measure("postgres", db));
  } finally {
    await db.close();
    await database.drop();
  }
}
console.log(JSON.stringify(results, null, 2));
