import pg from "pg";
import { openContext } from "../src/app.ts";
import { loadConfig } from "../src/config.ts";
import { buildServer } from "../src/http/server.ts";
import { benchKeyEnv } from "./server.ts";
import type { Fixture } from "./workload.ts";
import { purchaseFactory, randomMemberFactory } from "./workload.ts";

/**
 * Runs requests one at a time inside this process (fastify inject, no sockets) with every
 * pg round trip counted and timed, to show what one request costs: how many statements, how much
 * of its time is spent waiting on PostgreSQL and how much in Node.
 */

interface Trip {
  label: string;
  ms: number;
}

export interface StatementCost {
  statement: string;
  perRequest: number;
  msPerRequest: number;
}

export interface RouteProfile {
  route: string;
  requests: number;
  /** Items per request: 1, or the batch size. */
  itemsPerRequest: number;
  statementsPerRequest: number;
  wallMsPerRequest: number;
  dbMsPerRequest: number;
  /** Wall time not spent waiting on a query: routing, validation, JSON, Kysely, pg. */
  nodeMsPerRequest: number;
  statements: StatementCost[];
}

let trips: Trip[] | null = null;

/** Statement text reduced to its verb and table, so the same statement groups together. */
function labelOf(text: string): string {
  const sql = text.replace(/\s+/g, " ").trim().toLowerCase();
  const table = /(?:from|into|update) "?([a-z_]+)"?/.exec(sql)?.[1];
  const verb = sql.split(" ", 1)[0] ?? "";
  if (verb === "select" && sql.includes(" for update")) return `select ${table} for update`;
  if (verb === "start" || verb === "begin") return "begin";
  if (["commit", "rollback", "savepoint", "release"].includes(verb)) return verb;
  return table ? `${verb} ${table}` : sql.slice(0, 40);
}

/** Wraps pg.Client#query: the driver Kysely uses sends every statement through it. */
function instrumentPg(): () => void {
  const proto = pg.Client.prototype as unknown as {
    query: (...args: unknown[]) => unknown;
  };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    const text =
      typeof first === "string" ? first : String((first as { text?: string } | null)?.text ?? "");
    const started = performance.now();
    const result = original.apply(this, args);
    if (trips && result instanceof Promise) {
      const sink = trips;
      const done = () => sink.push({ label: labelOf(text), ms: performance.now() - started });
      result.then(done, done);
    }
    return result;
  };
  return () => {
    proto.query = original;
  };
}

export async function profileRoutes(
  databaseUrl: string,
  fixture: Fixture,
  options: { purchases: number; reads: number; batches: number; batchSize: number },
): Promise<RouteProfile[]> {
  const restore = instrumentPg();
  const ctx = await openContext(
    loadConfig({
      ...benchKeyEnv,
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: "warn",
      SETIA_JOBS_INTERVAL_MS: "0",
    }),
  );
  const app = await buildServer(ctx);
  try {
    const headers = {
      authorization: `Bearer ${fixture.posKey}`,
      "content-type": "application/json",
    };
    const base = `/v1/programs/${fixture.programId}`;
    const nextPurchase = purchaseFactory(fixture, `profile-${Date.now()}`, 99);
    const nextMember = randomMemberFactory(fixture, 99);
    const measure = async (
      route: string,
      count: number,
      itemsPerRequest: number,
      send: () => Promise<{ statusCode: number; body: string }>,
    ): Promise<RouteProfile> => {
      // A few unmeasured requests first, so pool connections exist and code is compiled.
      for (let i = 0; i < 5; i++) await send();
      const collected: Trip[] = [];
      trips = collected;
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        const response = await send();
        if (response.statusCode >= 300) {
          throw new Error(`profile ${route}: ${response.statusCode} ${response.body}`);
        }
      }
      const wall = performance.now() - started;
      trips = null;
      const db = collected.reduce((sum, trip) => sum + trip.ms, 0);
      const byLabel = new Map<string, { count: number; ms: number }>();
      for (const trip of collected) {
        const entry = byLabel.get(trip.label) ?? { count: 0, ms: 0 };
        entry.count += 1;
        entry.ms += trip.ms;
        byLabel.set(trip.label, entry);
      }
      return {
        route,
        requests: count,
        itemsPerRequest,
        statementsPerRequest: collected.length / count,
        wallMsPerRequest: wall / count,
        dbMsPerRequest: db / count,
        nodeMsPerRequest: (wall - db) / count,
        statements: [...byLabel.entries()]
          .map(([statement, entry]) => ({
            statement,
            perRequest: entry.count / count,
            msPerRequest: entry.ms / count,
          }))
          .sort((a, b) => b.msPerRequest - a.msPerRequest),
      };
    };
    const profiles: RouteProfile[] = [];
    profiles.push(
      await measure("POST /transactions", options.purchases, 1, () =>
        app.inject({
          method: "POST",
          url: `${base}/transactions`,
          headers,
          payload: JSON.stringify(nextPurchase()),
        }),
      ),
    );
    profiles.push(
      await measure("GET /members/:id/balance", options.reads, 1, () =>
        app.inject({
          method: "GET",
          url: `${base}/members/${nextMember().id}/balance`,
          headers: { authorization: headers.authorization },
        }),
      ),
    );
    profiles.push(
      await measure("POST /transactions/batch", options.batches, options.batchSize, () =>
        app.inject({
          method: "POST",
          url: `${base}/transactions/batch`,
          headers,
          payload: JSON.stringify({
            transactions: Array.from({ length: options.batchSize }, nextPurchase),
          }),
        }),
      ),
    );
    return profiles;
  } finally {
    await app.close();
    await ctx.db.close();
    restore();
  }
}
