import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyMaterial } from "../../src/modules/privacy/index.ts";
import { nextPhone, onPostgres, testDriver, testKeyEnv } from "../harness.ts";
import {
  call,
  childEnv,
  cliJson,
  killAll,
  openProcessDb,
  type ProcessDb,
  printedKeys,
  runCli,
  startServer,
} from "../process/helpers.ts";

describe(`setia privacy commands (${testDriver})`, { timeout: 120_000 }, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;
  let programId: string;
  const memberIds: string[] = [];

  beforeAll(async () => {
    db = await openProcessDb();
    env = childEnv(db.env);
    const server = await startServer(env);
    try {
      const [ownerKey] = printedKeys(server.stdout());
      const program = await call(server, ownerKey as string, "POST", "/v1/programs", {
        body: { name: "Toko CLI" },
      });
      programId = program.body.id as string;
      for (let index = 0; index < 3; index++) {
        const member = await call(
          server,
          ownerKey as string,
          "POST",
          `/v1/programs/${programId}/members`,
          {
            body: { phone: nextPhone(), name: `Anggota ${index}`, consents: { terms: true } },
          },
        );
        expect(member.status).toBe(201);
        memberIds.push(member.body.id as string);
      }
      const erased = await call(
        server,
        ownerKey as string,
        "POST",
        `/v1/programs/${programId}/members/${memberIds[0]}/erase`,
        { body: { reason: "ticket 1" } },
      );
      expect(erased.status).toBe(200);
    } finally {
      await server.stop();
    }
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it("rotates members' data to a new key", async () => {
    const rotated = await runCli(["privacy", "rotate", "--batch", "1"], {
      ...env,
      SETIA_DATA_KEYS: `k2:${newKeyMaterial()},${testKeyEnv.SETIA_DATA_KEYS}`,
    });
    expect(rotated.code, rotated.stderr).toBe(0);
    // The erased member holds no encrypted data any more; the two others move to k2.
    expect(cliJson(rotated)).toEqual({ currentKeyId: "k2", rotated: 2, remainingByKey: { k2: 2 } });
  });

  it("prints the erasure log and re-applies a saved copy", async () => {
    const listed = await runCli(["privacy", "erasures"], env);
    expect(listed.code, listed.stderr).toBe(0);
    const log = cliJson<{ memberId: string; reason: string }[]>(listed);
    expect(log).toMatchObject([{ memberId: memberIds[0], reason: "ticket 1" }]);
    const file = join(tmpdir(), `setia-erasures-${process.pid}.json`);
    writeFileSync(file, JSON.stringify(log));
    const reapplied = await runCli(["privacy", "reapply-erasures", "--file", file], env);
    expect(reapplied.code, reapplied.stderr).toBe(0);
    expect(cliJson(reapplied)).toEqual({ reapplied: [], alreadyErased: 1, absent: [] });
    writeFileSync(file, "[{}]");
    const bad = await runCli(["privacy", "reapply-erasures", "--file", file], env);
    expect(bad.code).not.toBe(0);
  });

  it.runIf(onPostgres)("refuses to start on PostgreSQL without keys", async () => {
    const keyless = { ...env };
    delete keyless.SETIA_DATA_KEYS;
    delete keyless.SETIA_INDEX_KEY;
    const result = await runCli(["migrate"], keyless);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("PostgreSQL needs encryption keys");
  });
});
