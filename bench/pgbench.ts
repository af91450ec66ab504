import { type ChildProcess, spawn } from "node:child_process";
import { type CpuUsage, startCpuMeter } from "./cpu.ts";

export type PgbenchMode = "tpcb-like" | "select-only";

export interface PgbenchResult {
  mode: PgbenchMode;
  connections: number;
  seconds: number;
  tps: number;
  latencyAvgMs: number | null;
  failed: number;
  cpu: CpuUsage;
  cpuPerOp: { server: null; postgres: number | null; client: number | null };
}

/** libpq variables from a postgres:// URL, so pgbench reaches the same server as Setia. */
function libpqEnv(url: string): NodeJS.ProcessEnv {
  const parsed = new URL(url);
  return {
    ...process.env,
    PGHOST: parsed.hostname,
    PGPORT: parsed.port || "5432",
    PGUSER: decodeURIComponent(parsed.username || "postgres"),
    ...(parsed.password && { PGPASSWORD: decodeURIComponent(parsed.password) }),
  };
}

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  onSpawn?: (child: ChildProcess) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("pgbench", args, { env, stdio: ["ignore", "pipe", "pipe"] });
    onSpawn?.(child);
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`pgbench ${args.join(" ")} exited with ${code}:\n${output}`));
    });
  });
}

export async function pgbenchVersion(): Promise<string> {
  return (await run(["--version"], process.env)).trim();
}

/** pgbench -i: the standard tables at the given scale (scale 10 = 1 million accounts). */
export async function pgbenchInit(url: string, database: string, scale: number): Promise<void> {
  await run(["-i", "-q", "-s", String(scale), database], libpqEnv(url));
}

export async function pgbenchRun(
  url: string,
  database: string,
  mode: PgbenchMode,
  connections: number,
  seconds: number,
): Promise<PgbenchResult> {
  const args = ["-T", String(seconds), "-c", String(connections), "-j", "2"];
  if (mode === "select-only") args.push("-S");
  args.push(database);
  let pid: number | undefined;
  const meter = startCpuMeter({ database, clientPid: () => pid });
  const output = await run(args, libpqEnv(url), (child) => {
    pid = child.pid;
  });
  const cpu = meter.stop();
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1];
  if (!tps) throw new Error(`could not read tps from pgbench output:\n${output}`);
  const latency = /latency average = ([\d.]+) ms/.exec(output)?.[1];
  const failed = /number of failed transactions: (\d+)/.exec(output)?.[1];
  const processed = /number of transactions actually processed: (\d+)/.exec(output)?.[1];
  const ops = Number(processed ?? 0);
  const perOp = (ms: number | null) => (ms === null || ops === 0 ? null : ms / ops);
  return {
    mode,
    connections,
    seconds,
    tps: Number(tps),
    latencyAvgMs: latency ? Number(latency) : null,
    failed: Number(failed ?? 0),
    cpu,
    cpuPerOp: { server: null, postgres: perOp(cpu.postgresMs), client: perOp(cpu.clientMs) },
  };
}
