/**
 * `npm run bench`: Setia's HTTP API under load on PostgreSQL and on PGlite, next to pgbench on the
 * same PostgreSQL server in the same run. See docs/performance.md. Exits 0 whether or not the
 * targets are met; 1 only when something failed.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadBenchConfig } from "./config.ts";
import { type PhaseKind, runPhase, warmUp } from "./load.ts";
import { type PgbenchResult, pgbenchInit, pgbenchRun, pgbenchVersion } from "./pgbench.ts";
import {
  type BenchDatabase,
  countReceipts,
  createDatabase,
  StatsTracker,
  serverSettings,
  serverVersion,
  waitIdle,
} from "./postgres.ts";
import { profileRoutes, type RouteProfile } from "./profile.ts";
import {
  describeMachine,
  evaluateTargets,
  formatReport,
  type Results,
  type SetiaPhase,
} from "./report.ts";
import { type SetiaServer, startServer, waitHealthy } from "./server.ts";
import { createFixture, type Fixture } from "./workload.ts";

const config = loadBenchConfig();
const started = performance.now();
const log = (message: string) =>
  process.stderr.write(
    `[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`,
  );

const cleanups: (() => Promise<void>)[] = [];
async function cleanup() {
  while (cleanups.length > 0) {
    const step = cleanups.pop();
    try {
      await step?.();
    } catch (error) {
      log(`cleanup failed: ${(error as Error).message}`);
    }
  }
}
process.once("SIGINT", () => {
  log("interrupted; cleaning up");
  cleanup().finally(() => process.exit(130));
});

const warnings: string[] = [];
const setia: SetiaPhase[] = [];
const pgbench: PgbenchResult[] = [];
let profile: RouteProfile[] = [];
const runTag = `b${Date.now().toString(36)}`;

function checkPhase(phase: SetiaPhase) {
  const name = `${phase.kind} on ${phase.driver} at ${phase.connections} connections`;
  if (phase.non2xx > 0) {
    warnings.push(
      `${name}: ${phase.non2xx} non-2xx responses ${JSON.stringify(phase.statusCodes)}; first: ${phase.samples[0] ?? "?"}`,
    );
  }
  if (phase.errors > 0) {
    warnings.push(`${name}: ${phase.errors} connection errors (${phase.timeouts} timeouts)`);
  }
  if (phase.itemFailures > 0) {
    warnings.push(
      `${name}: ${phase.itemFailures} purchases not created; first: ${phase.samples[0] ?? "?"}`,
    );
  }
  if (phase.requests === 0) warnings.push(`${name}: no request completed`);
}

interface Target {
  server: SetiaServer;
  fixture: Fixture;
  driver: "postgres" | "pglite";
  database?: BenchDatabase;
  stats?: StatsTracker;
}

async function measureSetia(target: Target, kind: PhaseKind, connections: number): Promise<void> {
  const { server, fixture, driver, database, stats } = target;
  log(`setia ${kind} on ${driver}, ${connections} connections, ${config.seconds} s`);
  const before = stats ? await stats.checkpoint() : undefined;
  const tag = `${runTag}-${driver}-${kind}-${connections}`;
  const phase: SetiaPhase = await runPhase({
    fixture,
    kind,
    driver,
    connections,
    seconds: config.seconds,
    batchSize: config.batchSize,
    serverPid: server.pid,
    ...(database && { database: database.name }),
    runTag: tag,
    seed: connections * 1000 + kind.length,
  });
  // The load generator stops at the deadline, the server finishes what it had: wait for that, so
  // it does not slow the next phase.
  const drainStarted = performance.now();
  if (database) await waitIdle(config.adminUrl, database.name);
  else await waitHealthy(server.url);
  const drainMs = performance.now() - drainStarted;
  if (drainMs > 1000) {
    warnings.push(
      `${kind} on ${driver} at ${connections} connections: the server needed ${(drainMs / 1000).toFixed(1)} s after the phase to finish abandoned requests`,
    );
  }
  if (database && (kind === "purchase" || kind === "batch")) {
    phase.recorded = await countReceipts(database.url, tag);
  }
  if (stats && before) stats.finished(before, (delta) => (phase.db = delta));
  checkPhase(phase);
  setia.push(phase);
  const unit = kind === "health" || kind === "balance" ? "requests/s" : "purchases/s";
  log(
    `  ${phase.opsPerSecond.toFixed(0)} ${unit}, p50 ${phase.latencyMs.p50} ms, p99 ${phase.latencyMs.p99} ms, non-2xx ${phase.non2xx}`,
  );
}

/** Server log lines grouped by message, so a storm of one error reads as one line with a count. */
function serverLogWarnings(driver: string, lines: string[]) {
  const counts = new Map<string, number>();
  for (const line of lines) {
    let key = line.slice(0, 300);
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
      key = [entry.msg, entry.err?.message].filter(Boolean).join(": ");
    } catch {
      // Not a pino line: keep its text.
    }
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  for (const [key, count] of counts) warnings.push(`server (${driver}) logged ${count}× ${key}`);
}

async function setUp(server: SetiaServer, driver: string, members: number): Promise<Fixture> {
  const t0 = performance.now();
  const fixture = await createFixture(server.url, server.ownerKey, members);
  log(
    `${driver}: enrolled ${members} members over HTTP in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  const maxConnections = Math.max(...config.connections);
  await warmUp(fixture, config.warmupSeconds, maxConnections, `${runTag}-${driver}-warm`);
  return fixture;
}

async function main(): Promise<Results> {
  const startedAt = new Date().toISOString();
  const machine = describeMachine(
    await serverVersion(config.adminUrl),
    await pgbenchVersion(),
    await serverSettings(config.adminUrl),
  );
  log(
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ${machine.postgres.split(" on ")[0]}; load ${machine.loadAverageAtStart.join(" ")}`,
  );

  const pgbenchDb = await createDatabase(config.adminUrl, "setia_pgbench");
  cleanups.push(() => pgbenchDb.drop());
  log(`pgbench -i -s ${config.pgbenchScale} on ${pgbenchDb.name}`);
  await pgbenchInit(config.adminUrl, pgbenchDb.name, config.pgbenchScale);

  const benchDb = await createDatabase(config.adminUrl, "setia_bench");
  cleanups.push(() => benchDb.drop());
  const pgServer = await startServer({ url: benchDb.url });
  cleanups.push(() => pgServer.stop());
  log(`Setia on PostgreSQL (${benchDb.name}) at ${pgServer.url}`);
  const pg: Target = {
    server: pgServer,
    fixture: await setUp(pgServer, "postgres", config.members),
    driver: "postgres",
    database: benchDb,
    stats: new StatsTracker(config.adminUrl, benchDb.name),
  };

  let lite: Target | undefined;
  if (config.pglite) {
    const dataDir = mkdtempSync(join(tmpdir(), "setia-bench-pglite-"));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const liteServer = await startServer({ dataDir });
    cleanups.push(() => liteServer.stop());
    log(`Setia on PGlite (${dataDir}) at ${liteServer.url}`);
    lite = {
      server: liteServer,
      fixture: await setUp(liteServer, "pglite", config.pgliteMembers),
      driver: "pglite",
    };
  }

  const runPgbench = async (mode: "tpcb-like" | "select-only", connections: number) => {
    log(`pgbench ${mode}, ${connections} clients, ${config.seconds} s`);
    const result = await pgbenchRun(
      config.adminUrl,
      pgbenchDb.name,
      mode,
      connections,
      config.seconds,
    );
    if (result.failed > 0)
      warnings.push(`pgbench ${mode} c=${connections}: ${result.failed} failed`);
    pgbench.push(result);
    log(`  ${result.tps.toFixed(0)} tps, avg ${result.latencyAvgMs} ms`);
  };
  // Each ratio's two sides run back to back, so both see the same machine; the PGlite and
  // pgbench phases also give the Setia database the quiet time its statistics need.
  for (const connections of config.connections) {
    await measureSetia(pg, "health", connections);
    await runPgbench("tpcb-like", connections);
    await measureSetia(pg, "purchase", connections);
    await runPgbench("select-only", connections);
    await measureSetia(pg, "balance", connections);
    if (lite) await measureSetia(lite, "purchase", connections);
    await measureSetia(pg, "batch", connections);
    if (lite) await measureSetia(lite, "balance", connections);
  }
  await pg.stats?.checkpoint();
  if (lite) {
    await lite.server.stop();
    serverLogWarnings("pglite", lite.server.warnings);
  }
  if (config.profile) {
    log("profile: one request at a time, every statement counted and timed");
    profile = await profileRoutes(benchDb.url, pg.fixture, {
      purchases: 200,
      reads: 300,
      batches: 3,
      batchSize: config.batchSize,
    });
  }
  await pgServer.stop();
  serverLogWarnings("postgres", pgServer.warnings);

  return {
    startedAt,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    config: { ...config, adminUrl: undefined },
    machine,
    setia,
    pgbench,
    profile,
    targets: evaluateTargets(setia, pgbench, config.connections),
    warnings,
  };
}

try {
  const results = await main();
  await cleanup();
  process.stdout.write(`\n${formatReport(results)}\n`);
  if (config.out) {
    mkdirSync(dirname(config.out), { recursive: true });
    writeFileSync(config.out, `${JSON.stringify(results, null, 2)}\n`);
    log(`results written to ${config.out}`);
  }
  log(`done in ${results.durationSeconds} s (targets are informational: exit code 0)`);
} catch (error) {
  log(`FAILED: ${(error as Error).stack ?? String(error)}`);
  await cleanup();
  process.exitCode = 1;
}
