import pino from "pino";
import { openDb } from "../../src/db/client.ts";
import { migrate } from "../../src/db/migrate.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { enrolMember, memberEnrolSchema } from "../../src/modules/members/index.ts";
import { createProgram, programCreateSchema } from "../../src/modules/programs/index.ts";
import { purchaseSchema, recordPurchase, recordPurchaseBatch } from "../../src/modules/purchases/index.ts";
import { ladderInputSchema, saveLadder } from "../../src/modules/tiers/index.ts";

const url = process.env.BENCH_DB;
const db = url ? await openDb({ databaseUrl: url }) : await openDb({ dataDir: "memory://" });
await migrate(db);
const clock = new ManualClock("2026-03-02T03:00:00Z");
const ctx = { db, clock, log: pino({ level: "silent" }) };
let seq = 0;
async function run(withLadder: boolean) {
  const program = await createProgram(ctx, programCreateSchema.parse({ name: `bench ${withLadder}` }));
  if (withLadder)
    await db.transaction((tx) => saveLadder(tx, program.id, ladderInputSchema.parse({
      qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
      tiers: [1, 2, 3].map((rank) => ({ code: `t${rank}`, rank, names: { id: "x", en: "x" }, threshold: rank * 50_000_000 })),
    }), clock.now()));
  const members: string[] = [];
  for (let i = 0; i < 50; i++) {
    const enrol = memberEnrolSchema.parse({ email: `b${++seq}@example.com`, consents: { terms: true } });
    members.push((await db.transaction((tx) => enrolMember(tx, clock.now(), program.id, enrol))).id);
  }
  const body = (i: number) => purchaseSchema.parse({ externalId: `R${++seq}`, storeId: "S1", channel: "pos", occurredAt: clock.now().toISOString(), currency: "IDR", total: "250000", member: { id: members[i % members.length] } });
  // warm-up
  for (let i = 0; i < 50; i++) await db.transaction((tx) => recordPurchase(tx, ctx, program.id, body(i)));
  let t = performance.now();
  const n = 400;
  for (let i = 0; i < n; i++) await db.transaction((tx) => recordPurchase(tx, ctx, program.id, body(i)));
  const single = (performance.now() - t) / n;
  t = performance.now();
  for (let b = 0; b < 4; b++) await recordPurchaseBatch(ctx, program.id, Array.from({ length: 500 }, (_, i) => body(i)));
  const batch = (performance.now() - t) / 4;
  console.log(JSON.stringify({ withLadder, msPerPurchase: single.toFixed(2), msPerBatchOf500: batch.toFixed(0) }));
}
for (let round = 0; round < 2; round++) { await run(false); await run(true); }
await db.close();
