import { randomBytes } from "node:crypto";
import type { LightMyRequestResponse } from "fastify";
import pg from "pg";
import pino from "pino";
import { ensureOwnerKey } from "../src/app.ts";
import type { Ctx } from "../src/context.ts";
import { type Db, openDb } from "../src/db/client.ts";
import { migrate } from "../src/db/migrate.ts";
import type { App } from "../src/http/kit.ts";
import { buildServer } from "../src/http/server.ts";
import { ManualClock } from "../src/lib/clock.ts";
import { installKeyring, parseKeyring } from "../src/modules/privacy/index.ts";

export type TestDriver = "pglite" | "postgres";
export const testDriver: TestDriver =
  process.env.SETIA_TEST_DRIVER === "postgres" ? "postgres" : "pglite";
export const onPostgres = testDriver === "postgres";

/** Fixed keys for members' personal data in tests; child processes get them in their env. */
export const testKeyEnv = {
  SETIA_DATA_KEYS: "test1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
  SETIA_INDEX_KEY: "aW5kZXgta2V5LWZvci10ZXN0cy0wMTIzNDU2Nzg5YWI=",
};
// Installed once per test file, as openContext does for the platform.
installKeyring(parseKeyring(testKeyEnv.SETIA_DATA_KEYS, testKeyEnv.SETIA_INDEX_KEY));

/** A fresh, migrated database for one test file: in-memory PGlite, or a new PostgreSQL database. */
export async function openTestDb(): Promise<{ db: Db; url?: string; drop(): Promise<void> }> {
  if (!onPostgres) {
    const db = await openDb({ dataDir: "memory://" });
    await migrate(db);
    return { db, drop: () => db.close() };
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error("SETIA_TEST_DRIVER=postgres needs TEST_DATABASE_URL");
  const name = `setia_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: url.toString(), poolSizeMax: 30 });
  await migrate(db);
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

export interface TestContext {
  ctx: Ctx;
  clock: ManualClock;
  close(): Promise<void>;
}

export async function createTestContext(start = "2026-03-02T03:00:00Z"): Promise<TestContext> {
  const { db, drop } = await openTestDb();
  const clock = new ManualClock(start);
  const ctx: Ctx = { db, clock, log: pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" }) };
  return { ctx, clock, close: drop };
}

type Json = Record<string, unknown>;

export interface TestApi extends TestContext {
  app: App;
  ownerKey: string;
  /** Sends a request with the given key (default: the owner key); body is sent as JSON. */
  call(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    url: string,
    options?: { body?: unknown; key?: string | null; headers?: Record<string, string> },
  ): Promise<{
    status: number;
    body: Json & { error?: { code: string; message: string; requestId: string; details?: Json } };
    headers: LightMyRequestResponse["headers"];
  }>;
  /** Creates a program (returns its id) with optional settings. */
  program(settings?: Json): Promise<string>;
  /** Creates a key of the given role for a program and returns its secret. */
  key(programId: string, role: "admin" | "pos" | "read"): Promise<string>;
  /** Enrols a member and returns its id. */
  member(programId: string, fields?: Json): Promise<string>;
}

let phoneSeq = 0;
/** A valid, unique Indonesian mobile number per call within a test file. */
export function nextPhone(): string {
  phoneSeq += 1;
  return `0812${String(10_000_000 + phoneSeq).slice(-8)}`;
}

export async function createTestApi(start?: string): Promise<TestApi> {
  const base = await createTestContext(start);
  const ownerKey = await ensureOwnerKey(base.ctx);
  if (!ownerKey) throw new Error("fresh database already had keys");
  const app = await buildServer(base.ctx);
  const call: TestApi["call"] = async (method, url, options = {}) => {
    const key = options.key === undefined ? ownerKey : options.key;
    const response = await app.inject({
      method,
      url,
      headers: {
        ...(key !== null && { authorization: `Bearer ${key}` }),
        ...(options.body !== undefined && { "content-type": "application/json" }),
        ...options.headers,
      },
      ...(options.body !== undefined && {
        payload: typeof options.body === "string" ? options.body : JSON.stringify(options.body),
      }),
    });
    const text = response.body;
    return {
      status: response.statusCode,
      body: text ? JSON.parse(text) : {},
      headers: response.headers,
    };
  };
  const api: TestApi = {
    ...base,
    app,
    ownerKey,
    call,
    async program(settings = {}) {
      const response = await call("POST", "/v1/programs", {
        body: { name: "Toko Uji", ...settings },
      });
      if (response.status !== 201) throw new Error(`program: ${JSON.stringify(response.body)}`);
      return response.body.id as string;
    },
    async key(programId, role) {
      const response = await call("POST", `/v1/programs/${programId}/api-keys`, {
        body: { name: role, role },
      });
      if (response.status !== 201) throw new Error(`key: ${JSON.stringify(response.body)}`);
      return response.body.secret as string;
    },
    async member(programId, fields = {}) {
      const response = await call("POST", `/v1/programs/${programId}/members`, {
        body: { phone: nextPhone(), consents: { terms: true }, ...fields },
      });
      if (response.status !== 201) throw new Error(`member: ${JSON.stringify(response.body)}`);
      return response.body.id as string;
    },
    async close() {
      await app.close();
      await base.close();
    },
  };
  return api;
}

/** A purchase body with sensible defaults; override any field. */
export function purchase(externalId: string, fields: Json = {}): Json {
  return {
    externalId,
    storeId: "S1",
    channel: "pos",
    occurredAt: "2026-03-02T02:00:00Z",
    currency: "IDR",
    total: "100000",
    ...fields,
  };
}
