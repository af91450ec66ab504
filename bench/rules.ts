/**
 * `npm run bench:rules`: the earning rules engine, two campaign sets of 50 active campaigns.
 *
 * - worst case: all 50 campaigns match a typical basket and stack (1–3 rules each);
 * - realistic: 50 campaigns aimed at different categories, stores, days and hours, brands, tiers
 *   and SKUs, so a typical basket matches a few of them.
 *
 * 1. Pure evaluate(): evaluations per CPU second on one core, 10-line baskets, for both sets, as
 *    the earn path runs it (explain "matched") and as a preview does (explain "full").
 * 2. End to end over HTTP, in the same run against the same server: single purchases per second
 *    with the base rate only, then with the realistic set, then with the worst-case set, then
 *    with the base rate again (PostgreSQL at BENCH_DATABASE_URL, or PGlite with
 *    RULES_BENCH_DRIVER=pglite).
 *
 * Environment: RULES_BENCH_PURE_SECONDS per pure leg (3), RULES_BENCH_SECONDS per HTTP leg (10,
 * 0 skips HTTP), RULES_BENCH_CONNECTIONS (8), RULES_BENCH_MEMBERS (300), BENCH_WARMUP_SECONDS (2).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { validateDefinition } from "../src/modules/rules/definition.ts";
import {
  type CampaignRecord,
  type CompiledCampaign,
  compileCampaigns,
  type EvalLine,
  type EvaluationInput,
  type Explain,
  evaluate,
  type MemberFacts,
} from "../src/modules/rules/evaluate.ts";
import { loadBenchConfig } from "./config.ts";
import { runPhase, warmUp } from "./load.ts";
import { createDatabase } from "./postgres.ts";
import { startServer } from "./server.ts";
import { createFixture, type Fixture, prng, purchaseFactory } from "./workload.ts";

const intEnv = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const pureSeconds = intEnv("RULES_BENCH_PURE_SECONDS", 3);
const legSeconds = intEnv("RULES_BENCH_SECONDS", 10);
const connections = intEnv("RULES_BENCH_CONNECTIONS", 8);
const memberCount = intEnv("RULES_BENCH_MEMBERS", 300);
const config = loadBenchConfig();
const driver = process.env.RULES_BENCH_DRIVER === "pglite" ? "pglite" : "postgres";
const log = (message: string) => process.stderr.write(`[bench:rules] ${message}\n`);

/** The categories and SKUs of the HTTP workload (bench/workload.ts) come first. */
const categories = [
  "staples",
  "fresh",
  "dairy",
  "drinks",
  "household",
  "frozen",
  "bakery",
  "baby",
  "pet",
  "beauty",
];
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
const brands = Array.from({ length: 20 }, (_, index) => `brand-${index + 1}`);
const store = (index: number) => `S${String(index + 1).padStart(3, "0")}`;
const weekdays = [1, 2, 3, 4, 5];
const weekend = [6, 7];

/** Worst case: 50 campaigns of 1–3 rules that all match the basket below and stack. */
function worstCaseBodies(): Record<string, unknown>[] {
  return Array.from({ length: 50 }, (_, index) => {
    const category = categories[index % 5];
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
      priority: index % 10,
      stacking: index % 7 === 0 ? "best_for_member" : "stack",
      ...(index % 5 === 0 && { caps: { perMemberPerDay: 500, perTransaction: 200 } }),
      rules,
    };
  });
}

/**
 * Realistic: ten campaigns each on categories (weekdays or weekends), stores (weekdays or
 * weekends, opening hours), brands (two units or more), tiers on a category, and single SKUs.
 */
function realisticBodies(): Record<string, unknown>[] {
  return Array.from({ length: 50 }, (_, index) => {
    const slot = index % 10;
    const group = Math.floor(index / 10);
    const rule = [
      {
        conditions: [
          { type: "category_in_basket", args: { values: [categories[slot]] } },
          { type: "day_of_week", args: { days: slot % 2 === 0 ? weekdays : weekend } },
        ],
        actions: [
          { type: "points_per_amount", args: { points: 1, per: "10000", scope: "matching_lines" } },
        ],
      },
      {
        conditions: [
          { type: "store", args: { storeIds: [store(slot * 2), store(slot * 2 + 1)] } },
          { type: "day_of_week", args: { days: slot % 2 === 0 ? weekend : weekdays } },
          { type: "time_of_day", args: { from: "08:00", to: "22:00" } },
        ],
        actions: [{ type: "multiplier", args: { percent: 200 } }],
      },
      {
        conditions: [
          { type: "brand_in_basket", args: { values: [brands[slot * 2]] } },
          { type: "item_quantity_at_least", args: { quantity: 2 } },
        ],
        actions: [{ type: "fixed_bonus", args: { points: 25 } }],
      },
      {
        conditions: [
          { type: "member_tier", args: { tiers: [slot % 2 === 0 ? "gold" : "silver"] } },
          { type: "category_in_basket", args: { values: [categories[(slot + 3) % 10]] } },
        ],
        actions: [{ type: "multiplier", args: { percent: 150 } }],
      },
      {
        conditions: [
          { type: "sku_in_basket", args: { values: [skus[slot % skus.length]] } },
          { type: "item_quantity_at_least", args: { quantity: 3 } },
          { type: "channel", args: { channels: slot < 5 ? ["pos"] : ["app", "online"] } },
        ],
        actions: [{ type: "points_per_item", args: { points: 5 } }],
      },
    ][group];
    return {
      name: `Promo ${index + 1}`,
      startsAt: "2020-01-01T00:00:00Z",
      priority: slot,
      stacking: index % 7 === 0 ? "best_for_member" : "stack",
      ...(index % 5 === 0 && { caps: { perMemberPerDay: 500, perTransaction: 200 } }),
      rules: [rule],
    };
  });
}

function compiled(bodies: Record<string, unknown>[]): CompiledCampaign[] {
  let seq = 0;
  const records = bodies.map(
    (body, index): CampaignRecord => ({
      id: `cmp_${String(index).padStart(3, "0")}`,
      programId: "prg_bench",
      currency: "IDR",
      status: "active",
      version: 1,
      definition: validateDefinition(body, new Set(["purchase"]), () => `r${++seq}`),
    }),
  );
  return compileCampaigns(records);
}

const memberFacts = (tierCode: string | null): MemberFacts => ({
  memberId: "mbr_bench",
  tags: ["vip"],
  tierCode,
  tierMultiplierPercent: tierCode === "gold" ? 150 : 100,
  birthday: null,
  city: null,
  ageBand: null,
  hasPurchasedBefore: true,
  recentPurchasesMs: [],
});

const total = (lines: EvalLine[]) => lines.reduce((sum, line) => sum + line.amountMinor, 0);

/** The worst-case basket: ten lines over the five categories, the same every time. */
function worstCaseInputs(): (at: Date) => EvaluationInput {
  const lines = Array.from({ length: 10 }, (_, index) => ({
    lineNo: index + 1,
    sku: skus[index % skus.length] as string,
    category: categories[index % 5] as string,
    brand: null,
    kind: "product" as const,
    quantityMilli: 1000 + (index % 3) * 1000,
    amountMinor: 1_500_000 + index * 250_000,
  }));
  const input: EvaluationInput = {
    ...eventFields(new Date(0), "S001", "pos"),
    totalMinor: total(lines),
    lines,
    basePoints: 40,
    member: memberFacts(null),
  };
  // evaluate() keeps nothing of its input: one object, a new time each call.
  return (occurredAt) => {
    input.occurredAt = occurredAt;
    return input;
  };
}

const noUsage = new Map<string, number>();

function eventFields(occurredAt: Date, storeId: string, channel: string) {
  return {
    trigger: "purchase",
    occurredAt,
    timezone: "Asia/Jakarta",
    currency: "IDR",
    channel,
    storeId,
    baseDescription: "base",
    memberUsage: noUsage,
    budgetRemaining: noUsage,
  };
}

/** Realistic baskets: 100 different ten-line baskets, stores, channels and tiers, in turn. */
function realisticInputs(): (at: Date) => EvaluationInput {
  const random = prng(7);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)] as T;
  const baskets = Array.from({ length: 100 }, () => {
    const lines: EvalLine[] = Array.from({ length: 10 }, (_, index) => ({
      lineNo: index + 1,
      sku: random() < 0.3 ? pick(skus) : `SKU-${Math.floor(random() * 400)}`,
      // Most lines are everyday goods: a basket holds three or four categories.
      category: random() < 0.8 ? pick(categories.slice(0, 3)) : pick(categories),
      brand: random() < 0.3 ? pick(brands) : null,
      kind: "product",
      quantityMilli: 1000 * (1 + Math.floor(random() * 3)),
      amountMinor: 100_000 * (5 + Math.floor(random() * 200)),
    }));
    const storeId = store(Math.floor(random() * 25));
    const channel = pick(["pos", "pos", "pos", "app", "online"]);
    return {
      ...eventFields(new Date(0), storeId, channel),
      totalMinor: total(lines),
      lines,
      basePoints: Math.floor(total(lines) / 1_000_000),
      member: memberFacts(pick([null, null, "silver", "gold"])),
    };
  });
  let next = 0;
  return (occurredAt) => {
    const input = baskets[next++ % baskets.length] as EvaluationInput;
    input.occurredAt = occurredAt;
    return input;
  };
}

/**
 * Evaluations per CPU second of one core; each event 37 minutes after the last, so days and
 * hours turn over. Also what a typical evaluation gives: campaigns applied, breakdown lines.
 */
function pureLeg(
  campaigns: CompiledCampaign[],
  inputs: (at: Date) => EvaluationInput,
  explain: Explain,
) {
  let at = Date.parse("2026-03-07T03:00:00Z");
  const next = () => {
    at += 37 * 60_000;
    return inputs(new Date(at));
  };
  let applied = 0;
  let lines = 0;
  const sample = 2000;
  for (let index = 0; index < sample; index++) {
    const evaluation = evaluate(next(), campaigns, explain);
    applied += evaluation.usage.length;
    lines += evaluation.breakdown.length;
  }
  let count = 0;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const until = started + pureSeconds * 1000;
  while (performance.now() < until) {
    for (let index = 0; index < 200; index++) {
      evaluate(next(), campaigns, explain);
      count++;
    }
  }
  const cpu = process.cpuUsage(cpuBefore);
  // Per core: evaluations per second of CPU this thread got, which a busy machine does not skew.
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return {
    explain,
    evaluationsPerCpuSecond: Math.round(count / cpuSeconds),
    microsecondsPerEvaluation: round((cpuSeconds / count) * 1e6),
    campaignsAppliedMean: round(applied / sample),
    breakdownLinesMean: round(lines / sample),
  };
}

/** Campaigns a purchase of the HTTP workload gets under a set, from the same basket generator. */
function httpBasketMatches(campaigns: CompiledCampaign[]): number {
  const fixture: Fixture = {
    baseUrl: "",
    programId: "",
    posKey: "",
    members: [{ id: "mbr", cardNumber: "0" }] as Fixture["members"],
  };
  const bodies = purchaseFactory(fixture, "match", 1);
  let applied = 0;
  const sample = 1000;
  for (let index = 0; index < sample; index++) {
    const body = bodies() as {
      storeId: string;
      lines: { sku: string; category: string; quantity: number; unitPrice: string }[];
    };
    const lines = body.lines.map(
      (line, position): EvalLine => ({
        lineNo: position + 1,
        sku: line.sku,
        category: line.category,
        brand: null,
        kind: "product",
        quantityMilli: line.quantity * 1000,
        amountMinor: line.quantity * Number(line.unitPrice) * 100,
      }),
    );
    // The bench server runs now; spread the sample over a week of hours as a day-long run would.
    const occurredAt = new Date(Date.parse("2026-03-02T00:00:00Z") + index * 613 * 60_000);
    const evaluation = evaluate(
      {
        ...eventFields(occurredAt, body.storeId, "pos"),
        totalMinor: total(lines),
        lines,
        basePoints: Math.floor(total(lines) / 1_000_000),
        member: memberFacts(null),
      },
      campaigns,
      "matched",
    );
    applied += evaluation.usage.length;
  }
  return round(applied / sample);
}

async function postJson(url: string, key: string, method: string, body: unknown) {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status}`);
  return (await response.json()) as { id: string };
}

async function httpLegs(sets: Record<"realistic" | "worstCase", Record<string, unknown>[]>) {
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
    const campaignsUrl = `${server.url}/v1/programs/${fixture.programId}/campaigns`;
    const phase = async (label: string, seed: number) => {
      log(`leg ${label}: ${legSeconds} s at ${connections} connections`);
      const runTag = `r${label.slice(0, 2)}${Date.now().toString(36)}`;
      await warmUp(fixture, config.warmupSeconds, connections, `${runTag}w`);
      const result = await runPhase({
        fixture,
        kind: "purchase",
        driver,
        connections,
        seconds: legSeconds,
        batchSize: 1,
        serverPid: server.pid,
        ...(databaseName !== undefined && { database: databaseName }),
        runTag,
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
    /** Makes `bodies` the program's only active campaigns; pauses the ones active before. */
    let active: string[] = [];
    const activate = async (bodies: Record<string, unknown>[]) => {
      for (const id of active) {
        await postJson(`${campaignsUrl}/${id}`, server.ownerKey, "PATCH", { status: "paused" });
      }
      active = [];
      for (const body of bodies) {
        const created = await postJson(campaignsUrl, server.ownerKey, "POST", {
          ...body,
          status: "active",
        });
        active.push(created.id);
      }
    };
    // The base rate runs first and last, so a drift of the shared machine shows as a gap
    // between the two; campaign legs compare with their mean.
    const baseOnly = await phase("base", 11);
    await activate(sets.realistic);
    const realistic = await phase("realistic", 12);
    await activate(sets.worstCase);
    const worstCase = await phase("worst case", 13);
    await activate([]);
    const baseOnlyAgain = await phase("base again", 14);
    const baseMean = (baseOnly.purchasesPerSecond + baseOnlyAgain.purchasesPerSecond) / 2;
    const ratio = (leg: { purchasesPerSecond: number }) =>
      round(leg.purchasesPerSecond / Math.max(1, baseMean));
    return {
      driver,
      connections,
      seconds: legSeconds,
      baseOnly,
      realistic: { ...realistic, ratioToBase: ratio(realistic) },
      worstCase: { ...worstCase, ratioToBase: ratio(worstCase) },
      baseOnlyAgain,
    };
  } finally {
    while (cleanups.length > 0) await cleanups.pop()?.();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

const sets = { realistic: realisticBodies(), worstCase: worstCaseBodies() };
const realisticCampaigns = compiled(sets.realistic);
const worstCampaigns = compiled(sets.worstCase);
log(`pure evaluate: 50 campaigns, 10-line baskets, ${pureSeconds} s per leg`);
const pure = {
  realistic: {
    earn: pureLeg(realisticCampaigns, realisticInputs(), "matched"),
    preview: pureLeg(realisticCampaigns, realisticInputs(), "full"),
    httpBasketCampaignsAppliedMean: httpBasketMatches(realisticCampaigns),
  },
  worstCase: {
    earn: pureLeg(worstCampaigns, worstCaseInputs(), "matched"),
    preview: pureLeg(worstCampaigns, worstCaseInputs(), "full"),
    httpBasketCampaignsAppliedMean: httpBasketMatches(worstCampaigns),
  },
};
log(`pure: ${JSON.stringify(pure)}`);
const loadBefore = loadavg().map(round);
const http = legSeconds > 0 ? await httpLegs(sets) : null;
process.stdout.write(
  `${JSON.stringify({ loadAverage: { before: loadBefore, after: loadavg().map(round) }, pure, http }, null, 2)}\n`,
);
