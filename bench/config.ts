import { fileURLToPath } from "node:url";

/** Repository root, so the benchmark runs the same way from any working directory. */
export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`${name} must be an integer ≥ ${min}`);
  return value;
}

function flagEnv(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  return !["0", "false", "no", "off"].includes(raw.toLowerCase());
}

export interface BenchConfig {
  /** Length of each measured phase, in seconds. */
  seconds: number;
  /** Client concurrencies, each phase runs once per value. */
  connections: number[];
  members: number;
  /** Enrolling is slow on PGlite and its throughput hardly depends on the member count. */
  pgliteMembers: number;
  batchSize: number;
  warmupSeconds: number;
  pgbenchScale: number;
  /** A PostgreSQL URL whose user may create and drop databases. */
  adminUrl: string;
  pglite: boolean;
  profile: boolean;
  /** Where to write the JSON results; empty to skip. */
  out: string;
}

export function loadBenchConfig(): BenchConfig {
  const connections = (process.env.BENCH_CONNECTIONS ?? "8,16")
    .split(",")
    .map((part) => Number(part.trim()));
  if (connections.length === 0 || connections.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error("BENCH_CONNECTIONS must be a comma-separated list of positive integers");
  }
  return {
    seconds: intEnv("BENCH_SECONDS", 10),
    connections,
    members: intEnv("BENCH_MEMBERS", 3000),
    pgliteMembers: intEnv("BENCH_PGLITE_MEMBERS", 1000),
    batchSize: intEnv("BENCH_BATCH_SIZE", 100),
    warmupSeconds: intEnv("BENCH_WARMUP_SECONDS", 2, 0),
    pgbenchScale: intEnv("BENCH_PGBENCH_SCALE", 10),
    adminUrl: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    pglite: flagEnv("BENCH_PGLITE", true),
    profile: flagEnv("BENCH_PROFILE", true),
    out: process.env.BENCH_OUT ?? fileURLToPath(new URL("results/latest.json", import.meta.url)),
  };
}
