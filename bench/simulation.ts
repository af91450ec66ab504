/**
 * `npm run bench:simulation`: the what-if simulation over a year of the demo data. Seeds the demo
 * (3,000 members, about 60,000 purchases) into a fresh database — PostgreSQL when DATABASE_URL
 * is set, else PGlite in a temporary folder — then replays the last 365 days under a realistic
 * draft and prints the time, purchases per second and the ratio to two baselines measured in the
 * same run on the same data: summing the window's totals, and reading all its rows.
 *
 *   --data-dir DIR   reuse a PGlite folder the demo was already seeded into (kept afterwards)
 *   --members N      demo size (default 3000)
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { openContext } from "../src/app.ts";
import { demoProgramName, seedDemo } from "../src/cli/seed.ts";
import { loadConfig } from "../src/config.ts";
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
  if (!existing) log(`seeding the demo (${members} members, 13 months): this takes a while`);
  const summary = await seedDemo(ctx, {
    members,
    seed: 42,
    onProgress: ({ day, days, purchases }) => {
      if (day % 60 === 0) log(`seed: day ${day}/${days}, ${purchases} purchases`);
    },
  });
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const programId = summary.programId;
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
    seeded: !existing,
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
