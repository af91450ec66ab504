import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import { type Db, openDb } from "../../src/db/client.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { emit } from "../../src/modules/outbox/index.ts";
import { createProgram, programCreateSchema } from "../../src/modules/programs/index.ts";
import { createEndpoint, runWebhooksOnce } from "../../src/modules/webhooks/index.ts";
import { onPostgres, openTestDb } from "../harness.ts";
import { Receiver, testWebhookSettings } from "./receiver.ts";

/*
 * Two worker processes (two contexts with their own connection pools) over one PostgreSQL
 * database, while writers commit events out of order: every event arrives, and once.
 */
describe.runIf(onPostgres)("webhook workers in several processes", () => {
  let test: Awaited<ReturnType<typeof openTestDb>>;
  let second: Db;
  let workers: Ctx[];
  const receiver = new Receiver();
  const clock = new ManualClock("2026-03-02T03:00:00Z");
  const log = pino({ level: "silent" });

  beforeAll(async () => {
    test = await openTestDb();
    if (!test.url) throw new Error("no database url");
    second = await openDb({ databaseUrl: test.url, poolSizeMax: 10 });
    // A generous timeout: a slow answer on a busy machine would be a retry, not a lost event,
    // but this test is about the normal case, where each event goes out once.
    const webhooks = { ...testWebhookSettings, timeoutMs: 20_000 };
    workers = [test.db, second].map((db) => ({ db, clock, log, webhooks }));
    await receiver.start();
    receiver.behaviour = 200;
  });
  afterAll(async () => {
    await receiver.stop();
    await second.close();
    await test.drop();
  });

  it("fans out and delivers every event exactly once, with no event skipped by a late commit", async () => {
    const [first, other] = workers as [Ctx, Ctx];
    const program = await createProgram(first, programCreateSchema.parse({ name: "Dua Proses" }));
    await first.db.transaction((tx) =>
      createEndpoint(tx, clock.now(), program.id, { url: receiver.url, eventTypes: ["points.*"] }),
    );
    const writers = 6;
    const transactionsPerWriter = 15;
    let writing = true;
    // Each transaction takes its event id early and commits after a random pause, so events
    // with a lower seq often commit after higher ones: the case a plain seq cursor gets wrong.
    const write = async (writer: number) => {
      for (let n = 0; n < transactionsPerWriter; n++) {
        await first.db.transaction(async (tx) => {
          for (let k = 0; k < 2; k++) {
            await emit(tx, {
              programId: program.id,
              type: "points.adjusted",
              payload: {
                memberId: `w${writer}`,
                points: n * 2 + k + 1,
                reason: "race",
                entryId: "-",
              },
              at: clock.now(),
            });
          }
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
        });
      }
    };
    const work = async (ctx: Ctx) => {
      while (writing) {
        await runWebhooksOnce(ctx);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const working = [work(first), work(other), work(first), work(other)];
    await Promise.all(Array.from({ length: writers }, (_, writer) => write(writer)));
    writing = false;
    await Promise.all(working);
    await Promise.all([runWebhooksOnce(first), runWebhooksOnce(other)]);

    const events = await test.db.kysely
      .selectFrom("outbox_events")
      .select("id")
      .where("type", "=", "points.adjusted")
      .execute();
    expect(events.length).toBe(writers * transactionsPerWriter * 2);
    const received = receiver.eventIds();
    expect(new Set(received)).toEqual(new Set(events.map((event) => event.id)));
    expect(received.length).toBe(events.length);
    const states = await test.db.kysely
      .selectFrom("webhook_messages")
      .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
      .groupBy("state")
      .execute();
    expect(states.map((row) => [row.state, Number(row.n)])).toEqual([["delivered", events.length]]);
  });
});
