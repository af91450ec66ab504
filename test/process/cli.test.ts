import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import type { Db } from "../../src/db/client.ts";
import { listMigrations } from "../../src/db/migrate.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { apiKeySchema, authenticate } from "../../src/modules/auth/index.ts";
import { readBalance } from "../../src/modules/ledger/index.ts";
import { enrolMember, memberEnrolSchema } from "../../src/modules/members/index.ts";
import { purchaseSchema, recordPurchase } from "../../src/modules/purchases/index.ts";
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
} from "./helpers.ts";

const dayMs = 86_400_000;
const publicKeyFields = Object.keys(apiKeySchema.shape).sort();

function ctxAt(db: Db, at: Date): Ctx {
  return { db, clock: new ManualClock(at), log: pino({ level: "silent" }) };
}

/** The CLI's JSON output, with the exit code checked first so a failure shows what it printed. */
async function cli<T = Record<string, unknown>>(
  args: string[],
  env: NodeJS.ProcessEnv,
  code = 0,
): Promise<{ json: T; stdout: string }> {
  const result = await runCli(args, env);
  expect(result.code, `setia ${args.join(" ")}:\n${result.stdout}\n${result.stderr}`).toBe(code);
  return { json: cliJson<T>(result), stdout: result.stdout };
}

/** A listed key has exactly the public fields, and nothing printed looks like a secret. */
function expectNoSecrets(keys: Record<string, unknown>[], stdout: string): void {
  for (const key of keys) expect(Object.keys(key).sort()).toEqual(publicKeyFields);
  expect(printedKeys(stdout)).toEqual([]);
}

describe(`setia CLI (${testDriver})`, { timeout: 120_000 }, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;
  let programId: string;

  beforeAll(async () => {
    db = await openProcessDb();
    env = childEnv(db.env);
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it("start prints the owner key once on an empty database and never again", async () => {
    const first = await startServer(env);
    const keys = printedKeys(first.stdout());
    expect(keys).toHaveLength(1);
    expect(first.stdout().match(/Setia owner API key/g)).toHaveLength(1);
    const owner = keys[0] as string;
    expect((await call(first, owner, "GET", "/v1/programs")).status).toBe(200);

    // A CLI command next to the running server: PostgreSQL serves both, PGlite refuses the second.
    const beside = await runCli(["ledger", "verify"], env);
    if (testDriver === "postgres") {
      expect(beside.code).toBe(0);
    } else {
      expect(beside.code).not.toBe(0);
      expect(beside.stderr).toContain(`in use by process ${first.child.pid}`);
    }
    expect(await first.stop("SIGTERM")).toEqual({ code: 0, signal: null });

    const second = await startServer(env);
    expect(printedKeys(second.stdout())).toEqual([]);
    expect(second.stdout()).not.toContain("Setia owner API key");
    // The key printed by the first start still opens the door; the program serves the tests below.
    const created = await call(second, owner, "POST", "/v1/programs", {
      body: { name: "Toko CLI", returnsWindowDays: 14 },
    });
    expect(created.status).toBe(201);
    programId = created.body.id as string;
    expect(await second.stop("SIGTERM")).toEqual({ code: 0, signal: null });
  });

  it("migrate twice: both exit 0 and each migration is recorded once", async () => {
    // A database of its own: on PGlite an empty directory, so the first run creates the schema.
    const fresh = await openProcessDb();
    try {
      const freshEnv = childEnv(fresh.env);
      for (let run = 0; run < 2; run++) {
        const { json } = await cli(["migrate"], freshEnv);
        expect(json).toEqual({ ok: true, database: testDriver });
      }
      const rows = await fresh.direct((direct) =>
        direct.kysely
          .selectFrom("schema_migrations")
          .select("version")
          .orderBy("version")
          .execute(),
      );
      expect(rows.map((row) => row.version)).toEqual(listMigrations().map((m) => m.version));
    } finally {
      await fresh.drop();
    }
  });

  it("keys create prints a working secret, list never shows secrets, revoke disables the key", async () => {
    const created = await cli<{
      key: { id: string; role: string; programId: string };
      secret: string;
    }>(["keys", "create", "--program", programId, "--role", "pos", "--name", "till 1"], env);
    const { key, secret } = created.json;
    expect(secret).toMatch(/^sk_/);
    expect(key).toMatchObject({ role: "pos", programId, revokedAt: null });
    await db.direct(async (direct) => {
      expect(await authenticate(ctxAt(direct, new Date()), secret)).toEqual({
        keyId: key.id,
        role: "pos",
        programId,
      });
    });

    const listed = await cli<Record<string, unknown>[]>(
      ["keys", "list", "--program", programId],
      env,
    );
    expect(listed.json).toEqual([
      expect.objectContaining({ id: key.id, name: "till 1", role: "pos" }),
    ]);
    expect(listed.stdout).not.toContain(secret);
    expectNoSecrets(listed.json, listed.stdout);
    // Without --program it lists the deployment keys: the owner's, also without its secret.
    const deployment = await cli<Record<string, unknown>[]>(["keys", "list"], env);
    expect(deployment.json).toEqual([expect.objectContaining({ role: "owner", programId: null })]);
    expectNoSecrets(deployment.json, deployment.stdout);

    const revoked = await cli<{ id: string; revokedAt: string | null }>(
      ["keys", "revoke", key.id],
      env,
    );
    expect(revoked.json.id).toBe(key.id);
    expect(revoked.json.revokedAt).toEqual(expect.any(String));
    await db.direct(async (direct) => {
      await expect(authenticate(ctxAt(direct, new Date()), secret)).rejects.toMatchObject({
        code: "unauthorized",
      });
    });
  });

  it("jobs run-once releases the pending points that are due and only those", async () => {
    // Recorded with a clock in the past, so the children's system clock finds them due.
    const now = Date.now();
    const due = new Date(now - 20 * dayMs);
    const notDue = new Date(now - 2 * dayMs);
    const memberId = await db.direct(async (direct) => {
      const enrolled = await direct.transaction((tx) =>
        enrolMember(
          tx,
          due,
          programId,
          memberEnrolSchema.parse({ phone: nextPhone(), consents: { terms: true } }),
        ),
      );
      for (const [receipt, at, total] of [
        ["J-1", due, "250000"],
        ["J-2", notDue, "120000"],
      ] as const) {
        const result = await direct.transaction((tx) =>
          recordPurchase(
            tx,
            ctxAt(direct, at),
            programId,
            purchaseSchema.parse({
              externalId: receipt,
              storeId: "S1",
              channel: "pos",
              occurredAt: at.toISOString(),
              currency: "IDR",
              total,
              member: { id: enrolled.id },
            }),
          ),
        );
        expect(result.pointsState).toBe("pending");
      }
      expect(await readBalance(direct.kysely, enrolled.id)).toMatchObject({
        pending: 37,
        available: 0,
      });
      return enrolled.id;
    });

    const { json } = await cli(["jobs", "run-once"], env);
    // Other steps (vouchers, tiers, messages, webhooks, …) report too; this test is about release.
    expect(json).toMatchObject({
      released: { lots: 1, points: 25 },
      expired: { lots: 0, points: 0 },
      holdsExpired: 0,
      idempotencyKeysPurged: 0,
    });
    await db.direct(async (direct) => {
      expect(await readBalance(direct.kysely, memberId)).toMatchObject({
        pending: 12,
        available: 25,
      });
    });
  });

  it("ledger verify exits 0 on a good ledger and 1 with the problem after a row is corrupted", async () => {
    const good = await cli<{ ok: boolean; checked: { entries: number }; problems: unknown[] }>(
      ["ledger", "verify"],
      env,
    );
    expect(good.json.ok).toBe(true);
    expect(good.json.problems).toEqual([]);
    expect(good.json.checked.entries).toBeGreaterThan(0);

    const memberId = await db.direct(async (direct) => {
      const row = await direct.kysely
        .selectFrom("member_balances")
        .select("member_id")
        .where("program_id", "=", programId)
        .executeTakeFirstOrThrow();
      await sql`update member_balances set available = available + 1
        where member_id = ${row.member_id}`.execute(direct.kysely);
      return row.member_id;
    });

    const bad = await cli<{ ok: boolean; problems: { check: string; id: string }[] }>(
      ["ledger", "verify"],
      env,
      1,
    );
    expect(bad.json.ok).toBe(false);
    expect(bad.json.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ check: "balance_equals_journal", id: memberId }),
        expect.objectContaining({ check: "balance_equals_lots", id: memberId }),
      ]),
    );
  });
});
