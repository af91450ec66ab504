import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newKeyMaterial } from "../../src/modules/privacy/index.ts";
import { nextPhone, testDriver } from "../harness.ts";
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

// The search indexes are built by the platform at start (the migration cannot: the index key is
// not in the database), and rebuilt when the index key changes.
describe(`search indexes at start and setia privacy reindex (${testDriver})`, {
  timeout: 120_000,
}, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;
  let ownerKey: string;
  let programId: string;
  let budiId: string;
  const phone = nextPhone();

  const searchIds = async (server: { url: string }, q: string) => {
    const found = await call(server, ownerKey, "GET", `/v1/programs/${programId}/members?q=${q}`);
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    return (found.body.data as { id: string }[]).map((member) => member.id);
  };

  beforeAll(async () => {
    db = await openProcessDb();
    env = childEnv(db.env);
    const server = await startServer(env);
    try {
      ownerKey = printedKeys(server.stdout())[0] as string;
      const program = await call(server, ownerKey, "POST", "/v1/programs", {
        body: { name: "Toko Indeks" },
      });
      programId = program.body.id as string;
      for (const [name, memberPhone] of [
        ["Budi Santoso", phone],
        ["Siti Nurhaliza", nextPhone()],
      ]) {
        const member = await call(server, ownerKey, "POST", `/v1/programs/${programId}/members`, {
          body: { phone: memberPhone, name, birthday: "1990-03-02", consents: { terms: true } },
        });
        expect(member.status).toBe(201);
        if (name === "Budi Santoso") budiId = member.body.id as string;
      }
    } finally {
      await server.stop();
    }
    // What migration 015 leaves for members enrolled before it: no tokens, no birthday index.
    await db.direct(async (direct) => {
      await sql`delete from member_name_tokens`.execute(direct.kysely);
      await sql`update members set index_version = null, birthday_bidx = null`.execute(
        direct.kysely,
      );
    });
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it("indexes existing members when the platform starts, once", async () => {
    const server = await startServer(env);
    try {
      expect(server.stdout()).toMatch(/"members":2,"msg":"members' search indexes rebuilt"/);
      expect(await searchIds(server, "budi")).toEqual([budiId]);
    } finally {
      await server.stop();
    }
    const again = await startServer(env);
    try {
      expect(again.stdout()).not.toContain("search indexes rebuilt");
    } finally {
      await again.stop();
    }
    const reindex = await runCli(["privacy", "reindex", "--batch", "1"], env);
    expect(reindex.code, reindex.stderr).toBe(0);
    expect(cliJson(reindex)).toEqual({
      indexVersion: expect.stringMatching(/^s1\./),
      reindexed: 0,
    });
  });

  it("rebuilds every index under a new index key before serving", async () => {
    const rekeyed = { ...env, SETIA_INDEX_KEY: newKeyMaterial() };
    const before = cliJson<{ indexVersion: string }>(await runCli(["privacy", "reindex"], env));
    const reindex = await runCli(["privacy", "reindex"], rekeyed);
    expect(reindex.code, reindex.stderr).toBe(0);
    const after = cliJson<{ indexVersion: string }>(reindex);
    expect(after.indexVersion).not.toBe(before.indexVersion);
    const server = await startServer(rekeyed);
    try {
      expect(await searchIds(server, "santoso")).toEqual([budiId]);
      const found = await call(
        server,
        ownerKey,
        "GET",
        `/v1/programs/${programId}/members/lookup?phone=${phone}`,
      );
      expect(found.body.id).toBe(budiId);
    } finally {
      await server.stop();
    }
    const counts = await db.direct(async (direct) => {
      const result = await sql<{ version: string; count: number }>`
        select index_version as version, count(*)::int as count from members
        group by index_version`.execute(direct.kysely);
      return result.rows;
    });
    expect(counts).toEqual([{ version: after.indexVersion, count: 2 }]);
  });
});
