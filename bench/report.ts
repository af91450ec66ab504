import { readFileSync } from "node:fs";
import { availableParallelism, loadavg, totalmem } from "node:os";
import type { PhaseResult } from "./load.ts";
import type { PgbenchResult } from "./pgbench.ts";
import type { DbCounters } from "./postgres.ts";
import type { RouteProfile } from "./profile.ts";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGb: number;
  node: string;
  postgres: string;
  pgbench: string;
  loadAverageAtStart: number[];
  postgresSettings: Record<string, string>;
}

export function describeMachine(
  postgres: string,
  pgbench: string,
  settings: Record<string, string>,
): Machine {
  let cpu = "unknown";
  try {
    cpu =
      /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: leave it unknown.
  }
  return {
    cpu,
    cores: availableParallelism(),
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    pgbench,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    postgresSettings: settings,
  };
}

export interface SetiaPhase extends PhaseResult {
  /** pg_stat_database deltas over the phase (PostgreSQL only). */
  db?: DbCounters;
  /**
   * Purchases the database holds from this phase, counting requests the server finished after
   * the load generator stopped waiting (PostgreSQL only).
   */
  recorded?: number;
}

export interface Target {
  name: string;
  target: string;
  values: string;
  pass: boolean | null;
}

export interface Results {
  startedAt: string;
  durationSeconds: number;
  config: Record<string, unknown>;
  machine: Machine;
  setia: SetiaPhase[];
  pgbench: PgbenchResult[];
  profile: RouteProfile[];
  targets: Target[];
  warnings: string[];
}

const f = (value: number | null | undefined, digits = 0) =>
  value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toFixed(digits);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((r) => (r[i] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

function find<T extends { connections: number }>(rows: T[], test: (row: T) => boolean, c: number) {
  return rows.find((row) => row.connections === c && test(row));
}

/** The issue's targets, each checked at every measured concurrency. */
export function evaluateTargets(
  setia: SetiaPhase[],
  pgbench: PgbenchResult[],
  connections: number[],
): Target[] {
  const ratio = (
    label: string,
    target: number,
    pairs: [number | undefined, number | undefined][],
  ) => {
    const values = pairs.map(([a, b]) => (a !== undefined && b ? a / b : undefined));
    const known = values.filter((v): v is number => v !== undefined);
    return {
      name: label,
      target: `≥ ${target}`,
      values: connections.map((c, i) => `c=${c}: ${f(values[i], 2)}`).join(", "),
      pass: known.length === 0 ? null : known.every((v) => v >= target),
    };
  };
  const pgPurchase = (c: number) =>
    find(setia, (r) => r.kind === "purchase" && r.driver === "postgres", c);
  const targets: Target[] = [
    ratio(
      "purchase ingestion / pgbench tpcb-like",
      0.5,
      connections.map((c) => [
        pgPurchase(c)?.opsPerSecond,
        find(pgbench, (r) => r.mode === "tpcb-like", c)?.tps,
      ]),
    ),
  ];
  const p99s = connections.map((c) => pgPurchase(c)?.latencyMs.p99);
  const knownP99 = p99s.filter((v): v is number => v !== undefined);
  targets.push({
    name: "purchase p99 latency (PostgreSQL)",
    target: "≤ 50 ms",
    values: connections.map((c, i) => `c=${c}: ${f(p99s[i])} ms`).join(", "),
    pass: knownP99.length === 0 ? null : knownP99.every((v) => v <= 50),
  });
  targets.push(
    ratio(
      "balance read / pgbench select-only",
      0.3,
      connections.map((c) => [
        find(setia, (r) => r.kind === "balance" && r.driver === "postgres", c)?.opsPerSecond,
        find(pgbench, (r) => r.mode === "select-only", c)?.tps,
      ]),
    ),
    {
      ...ratio(
        "context: GET /health (HTTP + select 1) / pgbench select-only",
        0,
        connections.map((c) => [
          find(setia, (r) => r.kind === "health", c)?.opsPerSecond,
          find(pgbench, (r) => r.mode === "select-only", c)?.tps,
        ]),
      ),
      target: "–",
      pass: null,
    },
    ratio(
      "batch purchases/s / single purchases/s",
      5,
      connections.map((c) => [
        find(setia, (r) => r.kind === "batch", c)?.opsPerSecond,
        pgPurchase(c)?.opsPerSecond,
      ]),
    ),
    ratio(
      "PGlite / PostgreSQL purchase ingestion",
      0.3,
      connections.map((c) => [
        find(setia, (r) => r.kind === "purchase" && r.driver === "pglite", c)?.opsPerSecond,
        pgPurchase(c)?.opsPerSecond,
      ]),
    ),
  );
  return targets;
}

export function formatReport(results: Results): string {
  const { machine } = results;
  const out: string[] = [];
  out.push(
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}`,
    `PostgreSQL: ${machine.postgres}`,
    `Settings: ${Object.entries(machine.postgresSettings)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ")}`,
    `Load average at start: ${machine.loadAverageAtStart.join(" ")}   Phase length: ${results.config.seconds} s`,
    "",
  );
  const names = {
    purchase: "purchase",
    balance: "balance read",
    batch: `batch ×${results.config.batchSize}`,
    health: "floor: GET /health",
  };
  const label = (row: SetiaPhase) => `${names[row.kind]} (${row.driver})`;
  out.push(
    table(
      [
        "Setia over HTTP",
        "conns",
        "req/s",
        "purchases|reads/s",
        "p50 ms",
        "p99 ms",
        "non-2xx/err",
        "cpu ms/op setia",
        "pg",
        "client",
        "busy cores",
      ],
      results.setia.map((row) => [
        label(row),
        String(row.connections),
        f(row.requestsPerSecond, 1),
        f(row.opsPerSecond),
        f(row.latencyMs.p50, 1),
        f(row.latencyMs.p99, 1),
        String(row.non2xx + row.errors),
        f(row.cpuPerOp.server, 2),
        f(row.cpuPerOp.postgres, 2),
        f(row.cpuPerOp.client, 2),
        f(row.cpu.machineBusyCores, 2),
      ]),
    ),
    "",
    table(
      [
        "pgbench",
        "conns",
        "tps",
        "avg latency ms",
        "failed",
        "cpu ms/tx pg",
        "pgbench",
        "busy cores",
      ],
      results.pgbench.map((row) => [
        row.mode,
        String(row.connections),
        f(row.tps),
        f(row.latencyAvgMs, 2),
        String(row.failed),
        f(row.cpuPerOp.postgres, 2),
        f(row.cpuPerOp.client, 2),
        f(row.cpu.machineBusyCores, 2),
      ]),
    ),
    "",
  );
  const withDb = results.setia.filter((row) => row.db);
  if (withDb.length > 0) {
    out.push(
      table(
        [
          "PostgreSQL per purchase|read",
          "conns",
          "commits",
          "rows inserted",
          "rows updated",
          "deadlocks (phase)",
          "rollbacks (phase)",
        ],
        withDb.map((row) => {
          const db = row.db as DbCounters;
          // The counters include work finished after the deadline: divide by what was done.
          const ops = row.recorded ?? row.opsPerSecond * row.seconds;
          return [
            label(row),
            String(row.connections),
            f(db.commits / ops, 2),
            f(db.inserted / ops, 1),
            f(db.updated / ops, 1),
            String(db.deadlocks),
            String(db.rollbacks),
          ];
        }),
      ),
      "",
    );
  }
  for (const profile of results.profile) {
    const per = profile.itemsPerRequest;
    out.push(
      `Profile ${profile.route} (one at a time, in-process, ${profile.requests} requests${per > 1 ? ` of ${per}` : ""}): ` +
        `${f(profile.statementsPerRequest / per, 1)} statements per ${per > 1 ? "purchase" : "request"}, ` +
        `${f(profile.wallMsPerRequest / per, 2)} ms each = ${f(profile.dbMsPerRequest / per, 2)} ms waiting on PostgreSQL + ${f(profile.nodeMsPerRequest / per, 2)} ms in Node`,
    );
    out.push(
      `  ${profile.statements
        .slice(0, 8)
        .map((s) => `${s.statement} ×${f(s.perRequest / per, 2)} ${f(s.msPerRequest / per, 3)} ms`)
        .join(" | ")}`,
    );
  }
  if (results.profile.length > 0) out.push("");
  out.push(
    table(
      ["Target", "measured", "target", "result"],
      results.targets.map((t) => [
        t.name,
        t.values,
        t.target,
        t.pass === null ? "info" : t.pass ? "PASS" : "MISS",
      ]),
    ),
  );
  if (results.warnings.length > 0) {
    out.push("", "WARNINGS:", ...results.warnings.map((w) => `  ! ${w}`));
  }
  return out.join("\n");
}
