import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU accounting from /proc (Linux only; elsewhere every figure is null). On a shared machine the
 * CPU each side spends per request says more than the throughput alone: it tells which process
 * the cores go to.
 */

const hasProc = (() => {
  try {
    readFileSync("/proc/stat", "utf8");
    return true;
  } catch {
    return false;
  }
})();

const clockTicks = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of one process (all its threads), in ms; null when it is gone. */
function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return null;
  }
}

/** Backends serving one database: their process title names it ("postgres: … user db host …"). */
function backendsOf(database: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const title = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (title.startsWith("postgres:") && title.split(" ").includes(database)) {
        pids.push(Number(entry));
      }
    } catch {
      // The process ended between readdir and read.
    }
  }
  return pids;
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuUsage {
  /** CPU ms used by the Setia server process. */
  serverMs: number | null;
  /** CPU ms used by the PostgreSQL backends of the measured database. */
  postgresMs: number | null;
  /** CPU ms used by the load generator (this process, or pgbench). */
  clientMs: number | null;
  /** Busy cores over the whole machine, everything included. */
  machineBusyCores: number | null;
  wallMs: number;
}

export interface CpuTargets {
  serverPid?: number;
  database?: string;
  /** A load-generating child (pgbench); without it the load generator is this process. */
  clientPid?: () => number | undefined;
}

/**
 * Samples CPU counters while a phase runs. Backends that connect and exit within the phase are
 * counted up to their last sample, so the sampling period bounds what is missed.
 */
export function startCpuMeter(targets: CpuTargets, periodMs = 200): { stop(): CpuUsage } {
  const started = performance.now();
  const selfStart = process.cpuUsage();
  if (!hasProc) {
    return {
      stop: () => ({
        serverMs: null,
        postgresMs: null,
        clientMs: null,
        machineBusyCores: null,
        wallMs: performance.now() - started,
      }),
    };
  }
  const machineStart = machineTicks();
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const group = new Map<number, "server" | "postgres" | "client">();
  const sample = (initial: boolean) => {
    const pids: [number, "server" | "postgres" | "client"][] = [];
    if (targets.serverPid) pids.push([targets.serverPid, "server"]);
    if (targets.database)
      for (const pid of backendsOf(targets.database)) pids.push([pid, "postgres"]);
    const clientPid = targets.clientPid?.();
    if (clientPid) pids.push([clientPid, "client"]);
    for (const [pid, kind] of pids) {
      const ms = processCpuMs(pid);
      if (ms === null) continue;
      group.set(pid, kind);
      // A process first seen after the start began inside the phase: all its CPU counts.
      if (!first.has(pid)) first.set(pid, initial ? ms : 0);
      last.set(pid, ms);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), periodMs);
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      const wallMs = performance.now() - started;
      const sums = { server: 0, postgres: 0, client: 0 };
      for (const [pid, kind] of group) sums[kind] += (last.get(pid) ?? 0) - (first.get(pid) ?? 0);
      const self = process.cpuUsage(selfStart);
      const machineEnd = machineTicks();
      const total = machineEnd.total - machineStart.total;
      return {
        serverMs: targets.serverPid ? sums.server : null,
        postgresMs: targets.database ? sums.postgres : null,
        clientMs: targets.clientPid ? sums.client : (self.user + self.system) / 1000,
        machineBusyCores:
          total > 0
            ? ((machineEnd.busy - machineStart.busy) / total) * (machineCores() ?? 1)
            : null,
        wallMs,
      };
    },
  };
}

let cores: number | null | undefined;
function machineCores(): number | null {
  if (cores === undefined) {
    const lines = readFileSync("/proc/stat", "utf8").split("\n");
    cores = lines.filter((line) => /^cpu\d+ /.test(line)).length || null;
  }
  return cores;
}
