import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onPostgres, testDriver } from "../harness.ts";
import {
  call,
  childEnv,
  killAll,
  openProcessDb,
  type ProcessDb,
  printedKeys,
  startServer,
} from "./helpers.ts";

/** Polls until check answers true, or fails after timeoutMs with the message. */
async function eventually(check: () => Promise<boolean>, message: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const workerPids = (stdout: string) =>
  [...stdout.matchAll(/"workerPid":(\d+)[^\n]*"msg":"worker process started"/g)].map((match) =>
    Number(match[1]),
  );

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe(`background workers (${testDriver})`, { timeout: 120_000 }, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await openProcessDb();
    // The audit chainer is the loop whose work the test can see in the database.
    env = childEnv({ ...db.env, SETIA_AUDIT_CHAIN_INTERVAL_MS: "200" });
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it.runIf(!onPostgres)(
    "PGlite runs the loops inside the API process and refuses a worker process",
    async () => {
      const server = await startServer(env);
      expect(server.stdout()).toContain('"workers":"inline"');
      expect(workerPids(server.stdout())).toEqual([]);
      expect((await server.stop()).code).toBe(0);

      await expect(startServer({ ...env, SETIA_WORKERS: "process" })).rejects.toThrow(
        /need PostgreSQL/,
      );
    },
  );

  it.runIf(onPostgres)(
    "PostgreSQL runs them in a child process that is restarted when it dies and stops with the server",
    async () => {
      const server = await startServer(env);
      expect(server.stdout()).toContain('"workers":"process"');
      const [owner] = printedKeys(server.stdout());
      if (!owner) throw new Error(`no owner key printed:\n${server.stdout()}`);
      const chained = () =>
        db.direct(async (direct) => {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from audit_chain`.execute(direct.kysely);
          return rows[0]?.n ?? 0;
        });

      const created = await call(server, owner, "POST", "/v1/programs", {
        body: { name: "Toko Pekerja", earnRate: { points: 1, per: "10000", rounding: "floor" } },
      });
      expect(created.status).toBe(201);
      await eventually(async () => (await chained()) > 0, "the worker never chained the action");

      await eventually(async () => workerPids(server.stdout()).length === 1, "no worker pid");
      const [firstPid] = workerPids(server.stdout()) as [number];
      process.kill(firstPid, "SIGKILL");
      await eventually(
        async () => workerPids(server.stdout()).length === 2,
        "the killed worker was not restarted",
      );
      const before = await chained();
      const renamed = await call(server, owner, "PATCH", `/v1/programs/${created.body.id}`, {
        body: { name: "Toko Pekerja Baru" },
      });
      expect(renamed.status).toBe(200);
      await eventually(
        async () => (await chained()) > before,
        "the restarted worker never chained the change",
      );

      const secondPid = workerPids(server.stdout())[1] as number;
      expect(alive(secondPid)).toBe(true);
      expect((await server.stop()).code).toBe(0);
      await eventually(async () => !alive(secondPid), "the worker outlived its server", 15_000);
    },
  );
});
