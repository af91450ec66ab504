import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Db, openDb } from "../../src/db/client.ts";
import { onPostgres, openTestDb, testKeyEnv } from "../harness.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const bin = join(repoRoot, "bin", "setia.js");

/** A database that child processes open through their environment, on either driver. */
export interface ProcessDb {
  env: Record<string, string>;
  /** Runs fn on a direct connection; on PGlite only while no child process holds the directory. */
  direct<T>(fn: (db: Db) => Promise<T>): Promise<T>;
  drop(): Promise<void>;
}

/** An empty data directory for PGlite, or a fresh PostgreSQL database from the harness. */
export async function openProcessDb(): Promise<ProcessDb> {
  if (!onPostgres) {
    const dir = mkdtempSync(join(tmpdir(), "setia-process-"));
    return {
      env: { SETIA_DATA_DIR: dir, ...testKeyEnv },
      async direct(fn) {
        // PGlite allows one process per directory: open it only for the call.
        const db = await openDb({ dataDir: dir });
        try {
          return await fn(db);
        } finally {
          await db.close();
        }
      },
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const test = await openTestDb();
  if (!test.url) throw new Error("openTestDb gave no url on PostgreSQL");
  return {
    env: { DATABASE_URL: test.url, ...testKeyEnv },
    direct: (fn) => fn(test.db),
    drop: () => test.drop(),
  };
}

/** The child's environment: the parent's, minus any database it might inherit, plus extra. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SETIA_JOBS_INTERVAL_MS: "0" };
  // The CLI then logs at warn and the server at info, their defaults.
  delete env.LOG_LEVEL;
  delete env.DATABASE_URL;
  delete env.SETIA_DATA_DIR;
  delete env.PORT;
  return { ...env, ...extra };
}

/** A port nobody listens on right now, found by letting the kernel pick one. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

// Every child still running, so a failed test can still kill what it started.
const running = new Set<ChildProcess>();

function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
}

/** SIGKILLs every child process still running and waits until each is gone. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map((child) => {
      const gone = exitOf(child);
      child.kill("SIGKILL");
      return gone;
    }),
  );
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/** Runs `node bin/setia.js ...args` to completion. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // "close" fires after the pipes drain, so the output is complete.
  const exit = await new Promise<Exit>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal }));
  });
  return { ...exit, stdout, stderr };
}

/** Parses the indented JSON document a CLI command prints after any one-line pino logs. */
export function cliJson<T = Record<string, unknown>>(result: CliResult): T {
  const start = result.stdout.search(/^(?:\{|\[|\[\])$/m);
  if (start < 0) throw new Error(`no JSON in output: ${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout.slice(start)) as T;
}

export interface Server {
  url: string;
  child: ChildProcess;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
  exited: Promise<Exit>;
  /** Sends the signal and resolves once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/**
 * Starts `node bin/setia.js start` on a free port and resolves once it logs that it listens;
 * rejects if the process exits first. The owner key, when printed, comes before that log line.
 */
export async function startServer(env: NodeJS.ProcessEnv): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [bin, "start"], {
    cwd: repoRoot,
    env: { ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  track(child);
  let stdout = "";
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = exitOf(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('"msg":"Setia is listening"')) resolve();
    });
    child.once("error", reject);
    exited.then(({ code, signal }) =>
      reject(
        new Error(`server exited (${code ?? signal}) before listening:\n${stdout}\n${stderr}`),
      ),
    );
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    stdout: () => stdout,
    exited,
    async stop(signal = "SIGTERM") {
      child.kill(signal);
      return exited;
    },
  };
}

/** The owner keys a server printed on stdout. */
export function printedKeys(stdout: string): string[] {
  return [...new Set(stdout.match(/sk_[A-Za-z0-9_-]{20,}/g) ?? [])];
}

type Json = Record<string, unknown>;

/** fetch with a bearer key and a JSON body; answers status, headers and the parsed body. */
export async function call(
  server: { url: string },
  key: string,
  method: string,
  path: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const response = await fetch(server.url + path, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(options.body !== undefined && { "content-type": "application/json" }),
      ...options.headers,
    },
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {}, headers: response.headers };
}
