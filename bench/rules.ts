/**
 * `npm run bench:rules`: the earning rules engine.
 *
 * 1. Pure evaluate(): evaluations per second on one core, 50 active campaigns, a 10-line basket.
 * 2. End to end over HTTP: single purchases per second with the base rate only, then with the same
 *    50 campaigns active, in the same run against the same server (PostgreSQL at
 *    BENCH_DATABASE_URL, or PGlite with RULES_BENCH_DRIVER=pglite).
 *
 * Environment: RULES_BENCH_PURE_SECONDS (3), RULES_BENCH_SECONDS per HTTP leg (10),
 * RULES_BENCH_CONNECTIONS (8), RULES_BENCH_MEMBERS (300), BENCH_WARMUP_SECONDS (2).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateDefinition } from "../src/modules/rules/definition.ts";
import {
  type CampaignRecord,
  compileCampaigns,
  type EvaluationInput,
  evaluate,
} from "../src/modules/rules/evaluate.ts";
import { loadBenchConfig } from "./config.ts";
import { runPhase, warmUp } from "./load.ts";
import { createDatabase } from "./postgres.ts";
import { startServer } from "./server.ts";
import { createFixture } from "./workload.ts";

const intEnv = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const pureSeconds = intEnv("RULES_BENCH_PURE_SECONDS", 3);
const legSeconds = intEnv("RULES_BENCH_SECONDS", 10);
const connections = intEnv("RULES_BENCH_CONNECTIONS", 8);
const memberCount = intEnv("RULES_BENCH_MEMBERS", 300);
const config = loadBenchConfig();
const driver = process.env.RULES_BENCH_DRIVER === "pglite" ? "pglite" : "postgres";
const log = (message: string) => process.stderr.write(`[bench:rules] ${message}\n`);

const categories = ["staples", "fresh", "dairy", "drinks", "household"];
const skus = [
  "BRS-5KG",
  "MNYK-2L",
  "TLR-10",
  "SUSU-1L",
  "KOPI-200",
  "SABUN-3",
  "MIE-5",
  "AIR-1500",
];

/** 50 campaigns of 1–3 rules with the usual mix of conditions, actions and caps. */
function campaignBodies(): Record<string, unknown>[] {
  return Array.from({ length: 50 }, (_, index) => {
    const category = categories[index % categories.length];
    const rules = [
      {
        conditions: [
          { type: "category_in_basket", args: { values: [category] } },
          { type: "basket_total_at_least", args: { amount: String(20_000 + index * 1000) } },
        ],
        actions: [
          { type: "points_per_amount", args: { points: 1, per: "5000", scope: "matching_lines" } },
        ],
      },
      {
        conditions: [
          {
            type: "day_of_week",
            args: { days: [1, 2, 3, 4, 5, 6, 7].filter((day) => day % 3 !== index % 3) },
          },
          { type: "time_of_day", args: { from: "06:00", to: "23:00" } },
          { type: "channel", args: { channels: ["pos", "app"] } },
        ],
        actions: [{ type: "multiplier", args: { percent: 110 + (index % 5) * 10 } }],
      },
      {
        conditions: [
          { type: "sku_in_basket", args: { values: [skus[index % skus.length]] } },
          { type: "item_quantity_at_least", args: { quantity: 2 } },
        ],
        actions: [{ type: "points_per_item", args: { points: 2 } }],
      },
    ].slice(0, 1 + (index % 3));
    return {
      name: `Campaign ${index + 1}`,
      startsAt: "2020-01-01T00:00:00Z",
      status: "active",
      priority: index % 10,
      stacking: index % 7 === 0 ? "best_for_member" : "stack",
      ...(index % 5 === 0 && { caps: { perMemberPerDay: 500, perTransaction: 200 } }),
      rules,
    };
  });
}

function pureLeg() {
  let seq = 0;
  const records: CampaignRecord[] = campaignBodies().map((body, index) => {
    const { status: _status, ...raw } = body;
    return {
      id: `cmp_${String(index).padStart(3, "0")}`,
      programId: "prg_bench",
      currency: "IDR",
      status: "active",
      version: 1,
      definition: validateDefinition(raw, new Set(["purchase"]), () => `r${++seq}`),
    };
  });
  const campaigns = compileCampaigns(records);
  const lines = Array.from({ length: 10 }, (_, index) => ({
    lineNo: index + 1,
    sku: skus[index % skus.length] as string,
    category: categories[index % categories.length] as string,
    brand: null,
    kind: "product" as const,
    quantityMilli: 1000 + (index % 3) * 1000,
    amountMinor: 1_500_000 + index * 250_000,
  }));
  const input = (occurredAt: Date): EvaluationInput => ({
    trigger: "purchase",
    occurredAt,
    timezone: "Asia/Jakarta",
    currency: "IDR",
    channel: "pos",
    storeId: "S001",
    totalMinor: lines.reduce((sum, line) => sum + line.amountMinor, 0),
    lines,
    basePoints: 40,
    baseDescription: "base",
    member: {
      memberId: "mbr_bench",
      tags: ["vip"],
      tierCode: null,
      tierMultiplierPercent: 100,
      birthday: null,
      city: null,
      ageBand: null,
      hasPurchasedBefore: true,
      recentPurchasesMs: [],
    },
    memberUsage: new Map(),
    budgetRemaining: new Map(),
  });
  // Warm the JIT, then count whole evaluations; each one a minute later than the last.
  let at = Date.parse("2026-03-07T03:00:00Z");
  const next = () => {
    at += 60_000;
    return input(new Date(at));
  };
  for (let index = 0; index < 2000; index++) evaluate(next(), campaigns);
  let count = 0;
  let points = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const until = started + pureSeconds * 1000;
  while (performance.now() < until) {
    for (let index = 0; index < 200; index++) {
      points = evaluate(next(), campaigns).points;
      count++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  // Per core: evaluations per second of CPU this thread got, which a busy machine does not skew.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    evaluationsPerCpuSecond: Math.round(count / cpuSeconds),
    evaluationsPerWallSecond: Math.round(count / seconds),
    microsecondsPerEvaluation: round((cpuSeconds / count) * 1e6),
    pointsSample: points,
  };
}

async function httpLegs() {
  const cleanups: (() => Promise<void>)[] = [];
  try {
    let database: { url: string } | { dataDir: string };
    let databaseName: string | undefined;
    if (driver === "postgres") {
      const created = await createDatabase(config.adminUrl, "setia_rulesbench");
      cleanups.push(() => created.drop());
      database = { url: created.url };
      databaseName = created.name;
    } else {
      const dir = mkdtempSync(join(tmpdir(), "setia-rulesbench-"));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      database = { dataDir: dir };
    }
    const server = await startServer(database);
    cleanups.push(() => server.stop());
    log(`server on ${driver}; enrolling ${memberCount} members`);
    const fixture = await createFixture(server.url, server.ownerKey, memberCount);
    const phase = async (label: string, seed: number) => {
      await warmUp(fixture, config.warmupSeconds, connections, `${label}w`);
      const result = await runPhase({
        fixture,
        kind: "purchase",
        driver,
        connections,
        seconds: legSeconds,
        batchSize: 1,
        serverPid: server.pid,
        ...(databaseName !== undefined && { database: databaseName }),
        runTag: label,
        seed,
      });
      if (result.non2xx > 0 || result.itemFailures > 0) {
        log(`${label}: ${result.non2xx} non-2xx; first: ${result.samples[0] ?? "?"}`);
      }
      return {
        purchasesPerSecond: Math.round(result.opsPerSecond),
        p50Ms: result.latencyMs.p50,
        p99Ms: result.latencyMs.p99,
        serverCpuMsPerPurchase:
          result.cpuPerOp.server === null ? null : round(result.cpuPerOp.server),
        databaseCpuMsPerPurchase:
          result.cpuPerOp.postgres === null ? null : round(result.cpuPerOp.postgres),
        non2xx: result.non2xx,
      };
    };
    log(`leg 1: base rate only, ${legSeconds} s at ${connections} connections`);
    const baseOnly = await phase(`rb${Date.now().toString(36)}`, 11);
    for (const body of campaignBodies()) {
      const response = await fetch(`${server.url}/v1/programs/${fixture.programId}/campaigns`, {
        method: "POST",
        headers: { authorization: `Bearer ${server.ownerKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (response.status !== 201)
        throw new Error(`campaign: ${response.status} ${await response.text()}`);
    }
    log(`leg 2: 50 active campaigns, ${legSeconds} s at ${connections} connections`);
    const withCampaigns = await phase(`rc${Date.now().toString(36)}`, 12);
    return {
      driver,
      connections,
      seconds: legSeconds,
      baseOnly,
      withCampaigns,
      ratio: round(withCampaigns.purchasesPerSecond / Math.max(1, baseOnly.purchasesPerSecond)),
    };
  } finally {
    while (cleanups.length > 0) await cleanups.pop()?.();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

log(`pure evaluate: 50 campaigns, 10-line basket, ${pureSeconds} s`);
const pure = pureLeg();
const http = await httpLegs();
process.stdout.write(`${JSON.stringify({ pure, http }, null, 2)}\n`);
