import { randomBytes } from "node:crypto";
import { sql } from "kysely";
import type { ParsedMail } from "mailparser";
import pg from "pg";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { type Db, openDb } from "../../src/db/client.ts";
import { listMigrations, migrate } from "../../src/db/migrate.ts";
import type { App } from "../../src/http/kit.ts";
import { buildServer } from "../../src/http/server.ts";
import { runJobsOnce } from "../../src/jobs/index.ts";
import {
  installKeyring,
  keyUsage,
  newKeyMaterial,
  parseKeyring,
  rotateKeys,
} from "../../src/modules/privacy/index.ts";
import { encryptLegacyTotpSecrets } from "../../src/modules/staff/index.ts";
import { startSmtp } from "../communications/support.ts";
import { createTestApi, onPostgres, type TestApi, testKeyEnv } from "../harness.ts";
import {
  Browser,
  createStaff,
  expectRefused,
  nextPeriod,
  type SignedIn,
  strongPassword,
  tokenOf,
  totp,
} from "./support.ts";

const testKeyring = () => parseKeyring(testKeyEnv.SETIA_DATA_KEYS, testKeyEnv.SETIA_INDEX_KEY);

let api: TestApi;
let programId: string;

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
});
afterAll(() => api.close());

/** Password and TOTP sign-in through the API; answers the second step's response. */
async function signInWithTotp(staff: SignedIn) {
  const browser = new Browser(api);
  const first = await browser.send("POST", "/v1/staff/sign-in", {
    body: { email: staff.email, password: strongPassword },
  });
  expect(first.body.stage).toBe("totp_required");
  const second = await browser.send("POST", "/v1/staff/sign-in/totp", {
    body: { code: await totp(api, staff.secret) },
  });
  nextPeriod(api);
  return second;
}

/** A database with no migrations applied, dropped by drop(). */
async function emptyDb(): Promise<{ db: Db; drop(): Promise<void> }> {
  if (!onPostgres) {
    const db = await openDb({ dataDir: "memory://" });
    return { db, drop: () => db.close() };
  }
  const adminUrl = process.env.TEST_DATABASE_URL as string;
  const name = `setia_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString() });
  return {
    db,
    async drop() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

describe("TOTP secrets at rest", () => {
  it("stores the secret only encrypted, from the start of enrolment", async () => {
    const staff = await createStaff(api, programId, "analyst");
    const raw = await sql<Record<string, unknown>>`
      select * from staff_accounts where id = ${staff.staffId}`.execute(api.ctx.db.kysely);
    const row = raw.rows[0] as Record<string, unknown>;
    expect(Object.keys(row)).not.toContain("totp_secret");
    expect(row.totp_secret_enc).toMatch(/^test1:[A-Za-z0-9+/=]+$/);
    expect(JSON.stringify(row)).not.toContain(staff.secret);
    expect(JSON.stringify(row).toLowerCase()).not.toContain(staff.secret.toLowerCase());
    expect((await signInWithTotp(staff)).status).toBe(200);

    // A second account mid-enrolment: the secret handed out is already sealed in the row.
    const other = await createStaff(api, programId, "support");
    await api.ctx.db.kysely
      .updateTable("staff_accounts")
      .set({ totp_enabled_at: null, totp_secret_enc: null })
      .where("id", "=", other.staffId)
      .execute();
    const enrol = await other.browser.send("POST", "/v1/staff/me/totp/enrol");
    expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
    const stored = await api.ctx.db.kysely
      .selectFrom("staff_accounts")
      .select("totp_secret_enc")
      .where("id", "=", other.staffId)
      .executeTakeFirstOrThrow();
    expect(stored.totp_secret_enc).toMatch(/^test1:/);
    expect(stored.totp_secret_enc).not.toContain(enrol.body.secret as string);
  });

  it("migration 014 moves clear secrets aside and the start-up step encrypts them, once", async () => {
    const { db, drop } = await emptyDb();
    try {
      // The schema as it was before migration 014, with an enrolled account in clear.
      await sql`create table schema_migrations (
        version integer primary key, name text not null, applied_at timestamptz not null)`.execute(
        db.kysely,
      );
      for (const migration of listMigrations().filter((m) => m.version < 14)) {
        await sql.raw(migration.sql).execute(db.kysely);
        await db.kysely
          .insertInto("schema_migrations")
          .values({ version: migration.version, name: migration.name, applied_at: new Date() })
          .execute();
      }
      const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
      await sql`insert into staff_accounts (id, email, display_name, password_hash, totp_secret,
        totp_enabled_at, created_at, updated_at)
        values ('stf_legacy', 'lama@example.com', 'Lama', 'x', ${secret}, now(), now(), now()),
               ('stf_plain', 'baru@example.com', 'Baru', 'x', null, null, now(), now())`.execute(
        db.kysely,
      );
      await migrate(db);
      const columns = await sql<{ column_name: string }>`
        select column_name from information_schema.columns
        where table_name = 'staff_accounts'`.execute(db.kysely);
      expect(columns.rows.map((c) => c.column_name)).not.toContain("totp_secret");
      expect(
        await db.kysely.selectFrom("staff_totp_plaintext_legacy").selectAll().execute(),
      ).toEqual([{ staff_id: "stf_legacy", totp_secret: secret }]);

      expect(await encryptLegacyTotpSecrets(db, 1)).toBe(1);
      expect(await encryptLegacyTotpSecrets(db)).toBe(0);
      const rows = await db.kysely
        .selectFrom("staff_accounts")
        .select(["id", "totp_secret_enc"])
        .orderBy("id")
        .execute();
      expect(rows[0]).toEqual({
        id: "stf_legacy",
        totp_secret_enc: expect.stringMatching(/^test1:/),
      });
      expect(rows[0]?.totp_secret_enc).not.toContain(secret);
      expect(
        testKeyring().decrypt(
          rows[0]?.totp_secret_enc as string,
          "staff_accounts/stf_legacy/totp_secret",
        ),
      ).toBe(secret);
      expect(rows[1]).toEqual({ id: "stf_plain", totp_secret_enc: null });
      expect(
        await db.kysely.selectFrom("staff_totp_plaintext_legacy").selectAll().execute(),
      ).toEqual([]);
    } finally {
      await drop();
    }
  });

  it("a clear secret left by the migration works again after the start-up step", async () => {
    const staff = await createStaff(api, programId, "marketer");
    await api.ctx.db.kysely
      .insertInto("staff_totp_plaintext_legacy")
      .values({ staff_id: staff.staffId, totp_secret: staff.secret })
      .execute();
    await api.ctx.db.kysely
      .updateTable("staff_accounts")
      .set({ totp_secret_enc: null })
      .where("id", "=", staff.staffId)
      .execute();
    expectRefused(await signInWithTotp(staff), 401, "unauthorized");
    expect(await encryptLegacyTotpSecrets(api.ctx.db)).toBe(1);
    expect((await signInWithTotp(staff)).status).toBe(200);
  });

  it("`privacy rotate` re-encrypts TOTP secrets, after which the old key can go", async () => {
    const staff = await createStaff(api, programId, "support");
    const enrolled = async () =>
      (
        await api.ctx.db.kysely
          .selectFrom("staff_accounts")
          .select("totp_secret_enc")
          .where("totp_secret_enc", "is not", null)
          .execute()
      ).map((row) => row.totp_secret_enc as string);
    const count = (await enrolled()).length;
    const newKey = `k2:${newKeyMaterial()}`;
    try {
      installKeyring(
        parseKeyring(`${newKey},${testKeyEnv.SETIA_DATA_KEYS}`, testKeyEnv.SETIA_INDEX_KEY),
      );
      expect(await keyUsage(api.ctx.db)).toEqual({ remainingByKey: { test1: count } });
      const report = await rotateKeys(api.ctx.db, 1);
      expect(report).toEqual({ currentKeyId: "k2", rotated: count, remainingByKey: { k2: count } });
      expect((await enrolled()).every((stored) => stored.startsWith("k2:"))).toBe(true);
      // Only the new key configured: TOTP sign-in still works.
      installKeyring(parseKeyring(newKey, testKeyEnv.SETIA_INDEX_KEY));
      expect((await signInWithTotp(staff)).status).toBe(200);
      installKeyring(
        parseKeyring(`${testKeyEnv.SETIA_DATA_KEYS},${newKey}`, testKeyEnv.SETIA_INDEX_KEY),
      );
      expect(await rotateKeys(api.ctx.db)).toMatchObject({
        rotated: count,
        remainingByKey: { test1: count },
      });
    } finally {
      installKeyring(testKeyring());
    }
  });
});

describe("client address behind a proxy (SETIA_TRUST_PROXY)", () => {
  const servers: App[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  async function serverTrusting(trustProxy: boolean | number | string[]): Promise<App> {
    const server = await buildServer({ ...api.ctx, trustProxy });
    servers.push(server);
    return server;
  }

  const wrongPassword = (app: App, remoteAddress: string, forwardedFor?: string) =>
    app
      .inject({
        method: "POST",
        url: "/v1/staff/sign-in",
        remoteAddress,
        headers: {
          "content-type": "application/json",
          ...(forwardedFor && { "x-forwarded-for": forwardedFor }),
        },
        payload: JSON.stringify({ email: "nobody@example.com", password: "wrong password 123" }),
      })
      .then((response) => ({
        status: response.statusCode,
        code: (JSON.parse(response.body) as { error: { code: string } }).error.code,
      }));

  const failuresOf = async (address: string) =>
    (
      await api.ctx.db.kysely
        .selectFrom("auth_failures")
        .select("failures")
        .where("key", "=", `ip:${address}`)
        .executeTakeFirst()
    )?.failures ?? 0;

  const lock = (address: string) =>
    sql`insert into auth_failures (key, failures, window_started_at, locked_until)
      values (${`ip:${address}`}, 100, ${api.clock.now()}, ${new Date(api.clock.now().getTime() + 300_000)})
      on conflict (key) do update set locked_until = excluded.locked_until`.execute(
      api.ctx.db.kysely,
    );

  it("parses the setting as Fastify takes it, and refuses anything else", () => {
    const parse = (value?: string) =>
      loadConfig(value === undefined ? {} : { SETIA_TRUST_PROXY: value }).SETIA_TRUST_PROXY;
    expect(parse()).toBe(false);
    expect(parse("false")).toBe(false);
    expect(parse("true")).toBe(true);
    expect(parse("2")).toBe(2);
    expect(parse("10.0.0.0/8, 127.0.0.1,::1/128,loopback")).toEqual([
      "10.0.0.0/8",
      "127.0.0.1",
      "::1/128",
      "loopback",
    ]);
    for (const bad of ["yes", "10.0.0.0/33", "1.2.3.4/8/2", "10.0.0.0/8,bogus"]) {
      expect(() => parse(bad), bad).toThrow(/SETIA_TRUST_PROXY/);
    }
  });

  it("with a trusted proxy, X-Forwarded-For names the client the lockout counts and refuses", async () => {
    const behind = await serverTrusting(["127.0.0.1"]);
    const proxyBefore = await failuresOf("127.0.0.1");
    expect(await wrongPassword(behind, "127.0.0.1", "203.0.113.9")).toEqual({
      status: 401,
      code: "unauthorized",
    });
    expect(await failuresOf("203.0.113.9")).toBe(1);
    expect(await failuresOf("127.0.0.1")).toBe(proxyBefore);
    await lock("203.0.113.9");
    expect((await wrongPassword(behind, "127.0.0.1", "203.0.113.9")).status).toBe(429);
    // Another client behind the same proxy is not locked out with it.
    expect((await wrongPassword(behind, "127.0.0.1", "203.0.113.10")).status).toBe(401);
    // A peer that is not the trusted proxy cannot name a client.
    expect((await wrongPassword(behind, "192.0.2.40", "203.0.113.9")).status).toBe(401);
    expect(await failuresOf("192.0.2.40")).toBe(1);
    // A hop count trusts that many proxies, whatever their address.
    const hops = await serverTrusting(1);
    expect((await wrongPassword(hops, "192.0.2.41", "203.0.113.9")).status).toBe(429);
  });

  it("without it the header is ignored: a client cannot spoof its way out of a lockout", async () => {
    await lock("192.0.2.60");
    expect(await wrongPassword(api.app, "192.0.2.60", "203.0.113.77")).toEqual({
      status: 429,
      code: "rate_limited",
    });
    // Nor into another address's counter.
    expect((await wrongPassword(api.app, "192.0.2.61", "192.0.2.60")).status).toBe(401);
    expect(await failuresOf("192.0.2.61")).toBe(1);
    expect(await failuresOf("203.0.113.77")).toBe(0);
  });
});

describe("request logs", () => {
  it("never show invitation or reset tokens, nor passwords", async () => {
    const smtp = await startSmtp();
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const logged = await buildServer({
      ...api.ctx,
      log,
      communications: { smtpUrl: smtp.url, publicUrl: "https://loyalty.example" },
    });
    const newPassword = "rendang padang pedas 2029!";
    const send = async (method: "GET" | "POST", url: string, body?: unknown, key?: string) => {
      const response = await logged.inject({
        method,
        url,
        headers: {
          ...(key && { authorization: `Bearer ${key}` }),
          ...(body !== undefined && { "content-type": "application/json" }),
        },
        ...(body !== undefined && { payload: JSON.stringify(body) }),
      });
      return { status: response.statusCode, body: JSON.parse(response.body || "{}") };
    };
    try {
      const email = "catat@example.com";
      const invited = await send(
        "POST",
        `/v1/programs/${programId}/staff/invitations`,
        { email, role: "analyst" },
        api.ownerKey,
      );
      expect(invited.status, JSON.stringify(invited.body)).toBe(201);
      const inviteToken = tokenOf(invited.body.inviteUrl as string);
      expect((await send("GET", `/v1/staff/invitations/${inviteToken}`)).status).toBe(200);
      expect(
        (
          await send("POST", "/v1/staff/invitations/accept", {
            token: inviteToken,
            password: strongPassword,
          })
        ).status,
      ).toBe(201);
      expect((await send("POST", "/v1/staff/sign-in/forgot-password", { email })).status).toBe(202);
      const mail = await vi.waitFor(
        () => {
          const found = smtp.mails.find((m: ParsedMail) => m.subject?.startsWith("Reset"));
          if (!found) throw new Error("no reset mail yet");
          return found;
        },
        { timeout: 10_000, interval: 20 },
      );
      const resetToken = /#token=([A-Za-z0-9_-]+)/.exec(mail.text ?? "")?.[1] as string;
      expect(
        (
          await send("POST", "/v1/staff/sign-in/reset-password", {
            token: resetToken,
            password: newPassword,
          })
        ).status,
      ).toBe(200);
      await send("GET", "/u/some-unsubscribe-token-123");
      await send("GET", "/v1/staff/me?code=123456&view=full");
      await send("GET", "/v1/programs/prg_none/members?q=budi%20santoso&limit=5");
      await send("GET", "/v1/programs/prg_none/members/lookup?phone=081234567890");

      const text = lines.join("\n");
      const urls = lines
        .map((line) => JSON.parse(line) as { msg: string; req?: { url: string } })
        .filter((line) => line.msg === "incoming request")
        .map((line) => line.req?.url);
      expect(urls).toContain("/v1/staff/invitations/[redacted]");
      expect(urls).toContain("/u/[redacted]");
      expect(urls).toContain("/v1/staff/me?code=[redacted]&view=full");
      // Searches name members by name, phone, email or card: personal data stays out too.
      expect(urls).toContain("/v1/programs/prg_none/members?q=[redacted]&limit=5");
      expect(urls).toContain("/v1/programs/prg_none/members/lookup?phone=[redacted]");
      expect(urls).toContain("/v1/staff/sign-in/reset-password");
      for (const secret of [
        inviteToken,
        resetToken,
        strongPassword,
        newPassword,
        "some-unsubscribe-token-123",
        "123456",
        "santoso",
        "081234567890",
      ]) {
        expect(text).not.toContain(secret);
      }
    } finally {
      await logged.close();
      await smtp.close();
    }
  });
});

describe("cleanup job", () => {
  it("deletes spent and expired sign-in records in batches, and nothing live", async () => {
    const fresh = await createTestApi();
    try {
      const db = fresh.ctx.db.kysely;
      const now = fresh.clock.now();
      const at = (ms: number) => new Date(now.getTime() + ms);
      const session = (id: string, expires: number, ended: number | null) => ({
        id,
        kind: "staff" as const,
        token_hash: `hash-${id}`,
        csrf_hash: "c",
        subject_id: "stf_x",
        program_id: null,
        stage: "full" as const,
        created_at: at(-3_600_000),
        last_seen_at: at(-60_000),
        expires_at: at(expires),
        ended_at: ended === null ? null : at(ended),
      });
      await db
        .insertInto("web_sessions")
        .values([
          session("ses_live", 3_600_000, null),
          session("ses_expired", -1_000, null),
          session("ses_ended", 3_600_000, -60_000),
        ])
        .execute();
      // More than one batch of expired sessions.
      await sql`insert into web_sessions (id, kind, token_hash, csrf_hash, subject_id, stage,
          created_at, last_seen_at, expires_at)
        select 'ses_bulk' || g, 'member', 'bulk' || g, 'c', 'mbr_x', 'full', ${at(-7_200_000)},
          ${at(-7_200_000)}, ${at(-1_000)}
        from generate_series(1, 1200) g`.execute(db);
      const code = (id: string, expires: number, used: boolean) => ({
        id,
        program_id: "prg_x",
        identifier_hash: "h",
        member_id: null,
        code_hash: `c-${id}`,
        expires_at: at(expires),
        used_at: used ? at(-1_000) : null,
        created_at: at(-60_000),
      });
      await db
        .insertInto("portal_codes")
        .values([
          code("otc_live", 300_000, false),
          code("otc_expired", -1_000, false),
          code("otc_used", 300_000, true),
        ])
        .execute();
      const invitation = (id: string, expires: number, accepted: boolean) => ({
        id,
        token_hash: `t-${id}`,
        email: "x@example.com",
        program_id: "",
        role: "owner" as const,
        store_ids: [],
        invited_by: "key_x",
        expires_at: at(expires),
        accepted_at: accepted ? at(-1_000) : null,
        created_at: at(-60_000),
      });
      await db
        .insertInto("staff_invitations")
        .values([
          invitation("inv_live", 86_400_000, false),
          invitation("inv_expired", -1_000, false),
          invitation("inv_accepted", 86_400_000, true),
        ])
        .execute();
      const resetLink = (id: string, expires: number, used: boolean) => ({
        id,
        token_hash: `r-${id}`,
        staff_id: null,
        requested_by: null,
        expires_at: at(expires),
        used_at: used ? at(-1_000) : null,
        created_at: at(-60_000),
      });
      await db
        .insertInto("staff_password_resets")
        .values([
          resetLink("pwr_live", 600_000, false),
          resetLink("pwr_expired", -1_000, false),
          resetLink("pwr_used", 600_000, true),
        ])
        .execute();
      const counter = (key: string, windowAgo: number, lockedFor: number | null) => ({
        key,
        failures: 3,
        window_started_at: at(-windowAgo),
        locked_until: lockedFor === null ? null : at(lockedFor),
      });
      await db
        .insertInto("auth_failures")
        .values([
          counter("ip:fresh", 600_000, null),
          counter("ip:old", 7_200_000, null),
          counter("ip:old-still-locked", 7_200_000, 600_000),
          counter("ip:old-lock-over", 7_200_000, -60_000),
        ])
        .execute();

      const report = await runJobsOnce(fresh.ctx);
      expect(report.authPurged).toEqual({
        sessions: 1202,
        portalCodes: 2,
        invitations: 2,
        passwordResets: 2,
        authFailures: 2,
      });
      const ids = async (
        table: "web_sessions" | "portal_codes" | "staff_invitations" | "staff_password_resets",
      ) => (await db.selectFrom(table).select("id").execute()).map((row) => row.id);
      expect(await ids("web_sessions")).toEqual(["ses_live"]);
      expect(await ids("portal_codes")).toEqual(["otc_live"]);
      expect(await ids("staff_invitations")).toEqual(["inv_live"]);
      expect(await ids("staff_password_resets")).toEqual(["pwr_live"]);
      const keys = (
        await db.selectFrom("auth_failures").select("key").orderBy("key").execute()
      ).map((row) => row.key);
      expect(keys).toEqual(["ip:fresh", "ip:old-still-locked"]);
      expect((await runJobsOnce(fresh.ctx)).authPurged).toEqual({
        sessions: 0,
        portalCodes: 0,
        invitations: 0,
        passwordResets: 0,
        authFailures: 0,
      });
    } finally {
      await fresh.close();
    }
  });
});
