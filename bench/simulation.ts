/**
 * `npm run bench:simulation`: the what-if simulation over a year of the demo data. Seeds the demo
 * (3,000 members, about 60,000 purchases) into a fresh database — PostgreSQL when DATABASE_URL
 * is set, else PGlite in a temporary folder — then replays the last 365 days under a realistic
 * draft and prints the time, purchases per second and the ratio to two baselines measured in the
 * same run on the same data: summing the window's totals, and reading all its rows.
 *
 *   --data-dir DIR   reuse a PGlite folder the demo was already seeded into (kept afterwards)
 *   --members N      demo size (default 3000)
 *   --fast           load the demo's planned purchases, lines and refunds straight into the
 *                    tables the simulation reads (members enrolled normally, no ledger): the same
 *                    data to replay in about a minute instead of the full seed's hour
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { openContext } from "../src/app.ts";
import { demoProgramName, planDemo, seedDemo } from "../src/cli/seed.ts";
import { loadConfig } from "../src/config.ts";
import type { Ctx } from "../src/context.ts";
import { newId } from "../src/lib/ids.ts";
import { enrolMember } from "../src/modules/members/index.ts";
import {
  basePoints,
  createProgram,
  getProgram,
  programCreateSchema,
} from "../src/modules/programs/index.ts";
import { runSimulation, type SimulationInput } from "../src/modules/simulation/index.ts";
import { createDatabase } from "./postgres.ts";

const dayMs = 86_400_000;
const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args[index + 1];
};
const members = Number(option("--members") ?? 3000);
const reuseDir = option("--data-dir");
const fast = args.includes("--fast");
const log = (message: string) => process.stderr.write(`[bench:simulation] ${message}\n`);

const cleanups: (() => Promise<void>)[] = [];
const adminUrl = process.env.DATABASE_URL;
let env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "warn" };
if (adminUrl) {
  const database = await createDatabase(adminUrl, "setia_simbench");
  cleanups.push(() => database.drop());
  // A throw-away database gets throw-away keys for members' personal data.
  env = {
    ...env,
    DATABASE_URL: database.url,
    SETIA_DATA_KEYS: env.SETIA_DATA_KEYS ?? `k1:${randomBytes(32).toString("base64")}`,
    SETIA_INDEX_KEY: env.SETIA_INDEX_KEY ?? randomBytes(32).toString("base64"),
  };
} else {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), "setia-simbench-"));
  if (!reuseDir) cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  env = { ...env, DATABASE_URL: undefined, SETIA_DATA_DIR: dir };
}

const ctx = await openContext(loadConfig(env));
cleanups.unshift(() => ctx.db.close());
try {
  const seedStarted = performance.now();
  const existing = await ctx.db.kysely
    .selectFrom("programs")
    .select("id")
    .where("name", "=", demoProgramName)
    .executeTakeFirst();
  if (!existing) log(`loading the demo (${members} members, 13 months${fast ? ", fast" : ""})`);
  const programId =
    existing?.id ??
    (fast
      ? await loadDemoDirect(ctx)
      : (
          await seedDemo(ctx, {
            members,
            seed: 42,
            onProgress: ({ day, days, purchases }) => {
              if (day % 60 === 0) log(`seed: day ${day}/${days}, ${purchases} purchases`);
            },
          })
        ).programId);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const last = await ctx.db.kysely
    .selectFrom("transactions")
    .select((eb) => eb.fn.max("occurred_at").as("at"))
    .where("program_id", "=", programId)
    .executeTakeFirstOrThrow();
  const to = new Date((last.at as Date).getTime() + 1);
  const from = new Date(to.getTime() - 365 * dayMs);
  const input = draft(from, to);

  const baselineSum = await timed(() =>
    sql`select sum(total_minor) from transactions
      where program_id = ${programId} and occurred_at >= ${from} and occurred_at < ${to}`.execute(
      ctx.db.kysely,
    ),
  );
  const baselineRead = await timed(async () => {
    const purchases = await sql`select * from transactions
      where program_id = ${programId} and occurred_at >= ${from} and occurred_at < ${to}
      order by occurred_at, id`.execute(ctx.db.kysely);
    const lines =
      await sql`select l.* from transaction_lines l join transactions t on t.id = l.transaction_id
      where t.program_id = ${programId} and t.occurred_at >= ${from} and t.occurred_at < ${to}`.execute(
        ctx.db.kysely,
      );
    return purchases.rows.length + lines.rows.length;
  });
  // The first run warms caches (compiled regexes, timezone formatters); the second is measured.
  await runSimulation(ctx, programId, input);
  const run = await timed(() => runSimulation(ctx, programId, input));
  const report = run.result;
  const seconds = run.ms / 1000;
  const result = {
    database: ctx.db.driver,
    seedSeconds: Math.round(seedSeconds),
    loaded: existing ? "reused" : fast ? "fast" : "seed",
    window: report.window,
    transactions: report.transactions,
    members: report.members,
    simulationSeconds: round(seconds, 2),
    transactionsPerSecond: Math.round(report.transactions.total / seconds),
    baselineSumSeconds: round(baselineSum.ms / 1000, 3),
    baselineReadSeconds: round(baselineRead.ms / 1000, 2),
    ratioToSum: round(run.ms / baselineSum.ms, 1),
    ratioToRead: round(run.ms / baselineRead.ms, 1),
    heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1_048_576),
    live: { pointsIssued: report.live.pointsIssued, liability: report.live.liabilityChange },
    draft: {
      pointsIssued: report.draft.pointsIssued,
      liability: report.draft.liabilityChange,
      tiers: report.draft.tiers,
    },
    delta: report.delta,
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const cleanup of cleanups) await cleanup();
}

/**
 * The demo's plan written straight into members (through enrolMember), transactions, lines and
 * refunds, with each purchase's base points: what the simulation reads, without the ledger.
 */
async function loadDemoDirect(ctx: Ctx): Promise<string> {
  const jakartaOffsetMs = 7 * 3_600_000;
  const now = ctx.clock.now();
  const anchorMs = Math.floor((now.getTime() + jakartaOffsetMs) / dayMs) * dayMs - jakartaOffsetMs;
  const plan = planDemo({ members, seed: 42 }, anchorMs);
  const view = await createProgram(
    ctx,
    programCreateSchema.parse({
      name: demoProgramName,
      earnRate: { points: 1, per: "10000", rounding: "floor" },
      returnsWindowDays: 7,
    }),
  );
  const program = await getProgram(ctx.db.kysely, view.id);
  const memberIds = new Map<number, string>();
  for (let start = 0; start < plan.members.length; start += 500) {
    await ctx.db.transaction(async (tx) => {
      for (const member of plan.members.slice(start, start + 500)) {
        memberIds.set(member.index, (await enrolMember(tx, now, program.id, member.input)).id);
      }
    });
  }
  const refunded = new Map<object, { atMs: number; amountMinor: number }[]>();
  for (const event of plan.events) {
    if (event.kind !== "refund") continue;
    const refundLine = event.line;
    const line = refundLine && event.purchase.lines[refundLine.lineNo - 1];
    const amountMinor =
      refundLine && line
        ? Math.round(line.unitPriceMinor * refundLine.quantity)
        : event.purchase.totalMinor;
    const list = refunded.get(event.purchase) ?? [];
    list.push({ atMs: event.atMs, amountMinor });
    refunded.set(event.purchase, list);
  }
  for (let start = 0; start < plan.purchases.length; start += 1000) {
    const chunk = plan.purchases.slice(start, start + 1000).map((purchase) => ({
      purchase,
      id: newId("transaction"),
      at: new Date(anchorMs + purchase.atMs),
      refunds: refunded.get(purchase) ?? [],
    }));
    await ctx.db.transaction(async (tx) => {
      await tx
        .insertInto("transactions")
        .values(
          chunk.map(({ purchase, id, at, refunds }) => ({
            id,
            program_id: program.id,
            member_id: purchase.member ? (memberIds.get(purchase.member.index) ?? null) : null,
            store_id: purchase.store.id,
            external_id: purchase.externalId,
            channel: purchase.store.channel,
            occurred_at: at,
            currency: "IDR",
            total_minor: purchase.totalMinor,
            refunded_minor: Math.min(
              purchase.totalMinor,
              refunds.reduce((sum, refund) => sum + refund.amountMinor, 0),
            ),
            points_earned: purchase.member ? basePoints(program, purchase.totalMinor) : 0,
            request_hash: "bench",
            result: "{}",
            created_at: at,
          })),
        )
        .execute();
      await tx
        .insertInto("transaction_lines")
        .values(
          chunk.flatMap(({ purchase, id }) =>
            purchase.lines.map((line, index) => ({
              transaction_id: id,
              line_no: index + 1,
              program_id: program.id,
              sku: line.sku,
              category: line.category,
              quantity: String(line.quantity),
              unit_price_minor: line.unitPriceMinor,
              amount_minor: line.amountMinor,
              brand: null,
              points_earned: null,
            })),
          ),
        )
        .execute();
      const refundRows = chunk.flatMap(({ purchase, id, refunds }) =>
        refunds.map((refund, index) => ({
          id: newId("refund"),
          program_id: program.id,
          transaction_id: id,
          store_id: purchase.store.id,
          external_id: `${purchase.externalId}-R${index + 1}`,
          amount_minor: Math.min(refund.amountMinor, purchase.totalMinor),
          points_reversed: 0,
          request_hash: "bench",
          result: "{}",
          created_at: new Date(anchorMs + refund.atMs),
        })),
      );
      if (refundRows.length > 0) await tx.insertInto("refunds").values(refundRows).execute();
    });
  }
  log(`loaded ${plan.members.length} members, ${plan.purchases.length} purchases`);
  return program.id;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A realistic draft: double points at the weekend, a rice bonus capped per month, a ladder. */
function draft(from: Date, to: Date): SimulationInput {
  const startsAt = from.toISOString();
  return {
    window: { from: from.toISOString(), to: to.toISOString() },
    pointValue: "10",
    replaceLiveCampaigns: false,
    campaignIds: [],
    campaigns: [
      {
        name: "Weekend double points",
        startsAt,
        endsAt: null,
        priority: 10,
        stacking: "stack",
        exclusive: false,
        caps: {},
        rules: [
          {
            trigger: "purchase",
            conditions: [{ type: "day_of_week", args: { days: [6, 7] } }],
            actions: [{ type: "multiplier", args: { percent: 200 } }],
          },
        ],
      },
      {
        name: "Rice bonus",
        startsAt,
        endsAt: null,
        priority: 5,
        stacking: "stack",
        exclusive: false,
        caps: { perMemberPerMonth: 200 },
        rules: [
          {
            trigger: "purchase",
            conditions: [{ type: "category_in_basket", args: { values: ["beras"] } }],
            actions: [
              {
                type: "points_per_amount",
                args: { points: 3, per: "10000", scope: "matching_lines" },
              },
            ],
          },
        ],
      },
    ],
    tierLadder: {
      qualification: { metric: "spend", window: { kind: "rolling_months", months: 12 } },
      gracePeriodDays: 30,
      lowestTierAutomatic: false,
      tiers: [
        {
          code: "silver",
          rank: 1,
          names: { id: "Perak", en: "Silver" },
          threshold: 200_000_000,
          benefits: { earnMultiplierPercent: 125, perks: [], freeShipping: false },
        },
        {
          code: "gold",
          rank: 2,
          names: { id: "Emas", en: "Gold" },
          threshold: 600_000_000,
          benefits: { earnMultiplierPercent: 150, perks: [], freeShipping: false },
        },
      ],
    },
  } as SimulationInput;
}
