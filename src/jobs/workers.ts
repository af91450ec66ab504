import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.ts";
import type { Ctx } from "../context.ts";
import { startChainer } from "../modules/audit/index.ts";
import { onWake, startMessageWorker, wakeWorker } from "../modules/communications/index.ts";
import { startWebhookWorker } from "../modules/webhooks/index.ts";
import { startScheduler } from "./index.ts";

/** Where the background loops run: inside the API process, in a child process, or elsewhere. */
export type WorkersMode = "inline" | "process" | "off";

/**
 * `auto` keeps the loops in the API process on PGlite (one process per data directory) and moves
 * them to a child process on PostgreSQL, so their work never stalls a request's event loop.
 */
export function workersMode(config: Config): WorkersMode {
  const embedded = config.DATABASE_URL === undefined;
  if (config.SETIA_WORKERS === "auto") return embedded ? "inline" : "process";
  if (config.SETIA_WORKERS === "process" && embedded) throw new Error(pgliteOneProcess);
  return config.SETIA_WORKERS;
}

/** PGlite keeps its data directory to one process: a second one would corrupt it. */
export const pgliteOneProcess =
  "background workers in their own process need PostgreSQL (DATABASE_URL); PGlite runs them inline";

interface Stoppable {
  stop(): Promise<void>;
}

/** Starts the scheduler, webhook, message and audit-chain loops in this process. */
export function startLoops(ctx: Ctx, config: Config): Stoppable {
  const loops = [
    config.SETIA_JOBS_INTERVAL_MS > 0 ? startScheduler(ctx, config.SETIA_JOBS_INTERVAL_MS) : null,
    config.SETIA_WEBHOOKS_INTERVAL_MS > 0
      ? startWebhookWorker(ctx, config.SETIA_WEBHOOKS_INTERVAL_MS)
      : null,
    config.SETIA_MESSAGES_INTERVAL_MS > 0
      ? startMessageWorker(ctx, config.SETIA_MESSAGES_INTERVAL_MS)
      : null,
    config.SETIA_AUDIT_CHAIN_INTERVAL_MS > 0
      ? startChainer(ctx, config.SETIA_AUDIT_CHAIN_INTERVAL_MS)
      : null,
  ].filter((loop): loop is Stoppable => loop !== null);
  return {
    async stop() {
      for (const loop of loops) await loop.stop();
    },
  };
}

const bin = fileURLToPath(new URL("../../bin/setia.js", import.meta.url));
const restartDelayMsMax = 30_000;
const stopGraceMs = 10_000;

/**
 * Runs `setia worker` as a child process with this process's environment and restarts it when it
 * dies. Sign-in codes wake its message worker over the IPC channel, so they are not held back by
 * the polling interval; the child exits when this process goes away (the channel closes).
 */
export function spawnWorkerProcess(ctx: Ctx): Stoppable {
  let child: ChildProcess | null = null;
  let stopping = false;
  let restartDelayMs = 500;
  let restartTimer: NodeJS.Timeout | null = null;
  const launch = () => {
    const startedAt = Date.now();
    const current = spawn(process.execPath, [bin, "worker"], {
      env: process.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child = current;
    const gone = (code: number | null, signal: NodeJS.Signals | null) => {
      if (child !== current) return;
      child = null;
      if (stopping) return;
      // A worker that ran for a while restarts at once; one that keeps crashing backs off.
      restartDelayMs =
        Date.now() - startedAt > restartDelayMsMax
          ? 500
          : Math.min(restartDelayMs * 2, restartDelayMsMax);
      ctx.log.error({ code, signal, restartInMs: restartDelayMs }, "worker process exited");
      restartTimer = setTimeout(launch, restartDelayMs);
      restartTimer.unref();
    };
    // A spawn that failed emits only 'error' (no 'exit'): it is retried like a crash.
    current.on("error", (error) => {
      ctx.log.error({ err: error }, "worker process error");
      if (current.pid === undefined) gone(null, null);
    });
    current.once("exit", gone);
    ctx.log.info({ workerPid: current.pid }, "worker process started");
  };
  launch();
  onWake(() => {
    if (child?.connected)
      child.send("wake", (error) => error && ctx.log.warn({ err: error }, "wake not sent"));
  });
  return {
    async stop() {
      stopping = true;
      onWake(null);
      if (restartTimer) clearTimeout(restartTimer);
      const current = child as ChildProcess | null;
      if (!current || current.exitCode !== null || current.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
      current.kill("SIGTERM");
      const killer = setTimeout(() => current.kill("SIGKILL"), stopGraceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** In `setia worker`: wake the message worker when the parent asks; stop when it goes away. */
export function listenToParent(stop: () => void): void {
  if (!process.send) return;
  process.on("message", (message) => {
    if (message === "wake") wakeWorker();
  });
  process.once("disconnect", stop);
}
