import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextPhone, onPostgres, testDriver } from "../harness.ts";
import {
  childEnv,
  cliJson,
  killAll,
  openProcessDb,
  type ProcessDb,
  printedKeys,
  runCli,
  type Server,
  startServer,
} from "../process/helpers.ts";
import { Receiver } from "./receiver.ts";

type Json = Record<string, unknown>;

/** Real `setia` processes, the system clock and a receiver on 127.0.0.1. */
describe(`webhooks from real processes (${testDriver})`, { timeout: 120_000 }, () => {
  let db: ProcessDb;
  const receiver = new Receiver();
  let owner = "";
  let programId = "";
  let secret = "";
  const servers: Server[] = [];

  const env = (extra: Record<string, string> = {}) =>
    childEnv({
      ...db.env,
      SETIA_WEBHOOKS_ALLOWED_HOSTS: "127.0.0.1",
      SETIA_WEBHOOKS_INTERVAL_MS: "100",
      LOG_LEVEL: "warn",
      ...extra,
    });

  async function start(extra: Record<string, string> = {}): Promise<Server> {
    const server = await startServer(env(extra));
    servers.push(server);
    return server;
  }

  async function call(server: Server, method: string, path: string, body?: unknown) {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${owner}`,
        ...(body !== undefined && { "content-type": "application/json" }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, body: (await response.json()) as Json };
  }

  async function enrol(server: Server): Promise<string> {
    const response = await call(server, "POST", `/v1/programs/${programId}/members`, {
      phone: nextPhone(),
      consents: { terms: true },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return response.body.id as string;
  }

  /** Waits (no timing assertion) until the receiver holds `count` requests. */
  async function received(count: number): Promise<void> {
    for (let waited = 0; receiver.received.length < count; waited += 50) {
      if (waited > 60_000) throw new Error(`received ${receiver.received.length} of ${count}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  beforeAll(async () => {
    db = await openProcessDb();
    await receiver.start();
    receiver.behaviour = 200;
  });
  afterAll(async () => {
    await killAll();
    await receiver.stop();
    await db.drop();
  });

  it("a server's worker delivers signed events that the standardwebhooks library accepts", async () => {
    const server = await start();
    owner = printedKeys(server.stdout())[0] ?? "";
    const program = await call(server, "POST", "/v1/programs", { name: "Toko Proses" });
    programId = program.body.id as string;
    const created = await call(server, "POST", `/v1/programs/${programId}/webhook-endpoints`, {
      url: receiver.url,
      eventTypes: ["member.*"],
    });
    expect(created.status).toBe(201);
    secret = created.body.secret as string;
    const memberId = await enrol(server);
    await received(1);
    const [request] = receiver.received;
    if (!request) throw new Error("nothing received");
    expect(new Webhook(secret).verify(request.body, request.headers)).toMatchObject({
      type: "member.enrolled",
      programId,
      data: { memberId },
    });
    await server.stop();
  });

  it("setia jobs run-once sends what is due when no server worker runs", async () => {
    const server = await start({ SETIA_WEBHOOKS_INTERVAL_MS: "0" });
    const memberId = await enrol(server);
    await server.stop();
    expect(receiver.received.length).toBe(1);
    const result = await runCli(["jobs", "run-once"], env());
    expect(result.code, result.stderr).toBe(0);
    expect(cliJson<{ webhooks: Json }>(result).webhooks).toMatchObject({ delivered: 1 });
    const last = receiver.received.at(-1);
    if (!last) throw new Error("nothing received");
    expect(new Webhook(secret).verify(last.body, last.headers)).toMatchObject({
      data: { memberId },
    });
  });

  it.runIf(onPostgres)("two server processes deliver every event once", async () => {
    const [first, second] = [await start(), await start()];
    const before = receiver.received.length;
    const members = 30;
    const ids = await Promise.all(
      Array.from({ length: members }, (_, i) => enrol(i % 2 === 0 ? first : second)),
    );
    await received(before + members);
    // A moment more, in which a duplicate would show up.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const got = receiver.received
      .slice(before)
      .map((request) => (JSON.parse(request.body) as { data: { memberId: string } }).data.memberId);
    expect(got.sort()).toEqual([...ids].sort());
    await Promise.all([first.stop(), second.stop()]);
  });
});
