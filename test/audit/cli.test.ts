import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { signingKeyFile } from "../../src/modules/audit/signing.ts";
import { adjust } from "../../src/modules/ledger/index.ts";
import { enrolMember, memberEnrolSchema } from "../../src/modules/members/index.ts";
import { createProgram, programCreateSchema } from "../../src/modules/programs/index.ts";
import { nextPhone, onPostgres } from "../harness.ts";
import {
  childEnv,
  cliJson,
  killAll,
  openProcessDb,
  type ProcessDb,
  runCli,
} from "../process/helpers.ts";

const verifier = join(import.meta.dirname, "../../docs/audit-verify.mjs");

describe("setia audit verify / export", { timeout: 240_000 }, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;
  let entryId: string;
  const dir = mkdtempSync(join(tmpdir(), "setia-audit-cli-"));

  beforeAll(async () => {
    db = await openProcessDb();
    // PostgreSQL signs only with a configured key; the embedded database generates one.
    env = childEnv(
      onPostgres
        ? {
            ...db.env,
            SETIA_AUDIT_SIGNING_KEY:
              "MC4CAQAwBQYDK2VwBCIEIHP2QhllUbLaOCQ0ykJ+K7Pbb2ZiZ5vjJ11mDcqAqKa0",
          }
        : db.env,
    );
    const migrated = await runCli(["migrate"], env);
    expect(migrated.code, migrated.stderr).toBe(0);
    entryId = await db.direct(async (direct) => {
      const ctx: Ctx = { db: direct, clock: new ManualClock(), log: pino({ level: "silent" }) };
      const program = await createProgram(ctx, programCreateSchema.parse({ name: "Toko CLI" }));
      const member = await direct.transaction((tx) =>
        enrolMember(
          tx,
          new Date(),
          program.id,
          memberEnrolSchema.parse({ phone: nextPhone(), consents: { terms: true } }),
        ),
      );
      return direct.transaction(async (tx) => {
        const row = await tx
          .selectFrom("programs")
          .selectAll()
          .where("id", "=", program.id)
          .executeTakeFirstOrThrow();
        const done = await adjust(tx, {
          program: row,
          memberId: member.id,
          points: 250,
          reason: "opening",
          at: new Date(),
        });
        return done.entryId;
      });
    });
  }, 180_000);
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it("chains, verifies, exports a file the script accepts, and exits 1 after tampering", async () => {
    const verified = await runCli(["audit", "verify"], env);
    expect(verified.code, verified.stderr).toBe(0);
    const report = cliJson<{ ok: boolean; chained: number; pending: number }>(verified);
    expect(report).toMatchObject({ ok: true, pending: 0 });
    expect(report.chained).toBeGreaterThan(0);
    if (!onPostgres)
      expect(existsSync(join(String(env.SETIA_DATA_DIR), signingKeyFile))).toBe(true);

    const out = join(dir, "audit.jsonl");
    const exported = await runCli(["audit", "export", "--out", out], env);
    expect(exported.code, exported.stderr).toBe(0);
    expect(readFileSync(out, "utf8")).toContain(entryId);
    const checked = spawnSync(process.execPath, [verifier, out], { encoding: "utf8" });
    expect(checked.status, checked.stderr).toBe(0);

    await db.direct((direct) =>
      sql`update postings set points = points * 2 where entry_id = ${entryId}`.execute(
        direct.kysely,
      ),
    );
    const broken = await runCli(["audit", "verify"], env);
    expect(broken.code).toBe(1);
    expect(cliJson(broken)).toMatchObject({
      ok: false,
      firstBroken: { problem: "content_changed", table: "journal_entries", rowId: entryId },
    });
  });
});
