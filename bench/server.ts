import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { join } from "node:path";
import { repoRoot } from "./config.ts";

export interface SetiaServer {
  url: string;
  pid: number;
  ownerKey: string;
  /** Log lines at warn or above and stderr lines seen so far (it runs with LOG_LEVEL=warn). */
  warnings: string[];
  stop(): Promise<void>;
}

/** A port the kernel just handed out and released: free unless something grabs it meanwhile. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Members' data keys for the servers a run starts (PostgreSQL refuses to start without). */
export const benchKeyEnv = {
  SETIA_DATA_KEYS: process.env.SETIA_DATA_KEYS ?? `bench:${randomBytes(32).toString("base64")}`,
  SETIA_INDEX_KEY: process.env.SETIA_INDEX_KEY ?? randomBytes(32).toString("base64"),
};

/**
 * Starts `node bin/setia.js start` on an empty database and waits for the owner key it prints
 * once (after it listens). `database` is a postgres:// URL or a PGlite data directory.
 */
export async function startServer(
  database: { url: string } | { dataDir: string },
  timeoutMs = 60_000,
): Promise<SetiaServer> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...benchKeyEnv,
    PORT: String(port),
    HOST: "127.0.0.1",
    SETIA_JOBS_INTERVAL_MS: "0",
    LOG_LEVEL: "warn",
  };
  delete env.DATABASE_URL;
  if ("url" in database) env.DATABASE_URL = database.url;
  else env.SETIA_DATA_DIR = database.dataDir;

  const child = spawn(process.execPath, [join(repoRoot, "bin/setia.js"), "start"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const warnings: string[] = [];
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));

  const ownerKey = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Setia did not print an owner key within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      let newline = stdout.indexOf("\n");
      while (newline >= 0) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        // pino writes JSON lines; the key banner is plain text.
        if (line.startsWith("{")) warnings.push(line);
        const key = /\b(sk_[A-Za-z0-9_-]{20,})\b/.exec(line)?.[1];
        // The banner's "Try: curl" line comes after listen(), so the port is open by then.
        if (key && line.includes("curl")) {
          clearTimeout(timer);
          resolve(key);
        }
        newline = stdout.indexOf("\n");
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      stderr += text;
      for (const line of text.split("\n")) if (line.trim() !== "") warnings.push(line);
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Setia exited with code ${code} before it was ready:\n${stderr}`));
    });
  });

  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    ownerKey,
    warnings,
    stop: () => stopChild(child, exited),
  };
}

/**
 * On PGlite every query waits its turn on the one connection, so once /health answers, the work
 * queued before it (requests the load generator abandoned at the end of a phase) is done.
 */
export async function waitHealthy(url: string): Promise<void> {
  const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(180_000) });
  if (!response.ok) throw new Error(`${url}/health answered ${response.status}`);
  await response.text();
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}
