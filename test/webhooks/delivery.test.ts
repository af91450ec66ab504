import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { retryDelaysMs, runWebhooksOnce } from "../../src/modules/webhooks/index.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import { Receiver, testWebhookSettings } from "./receiver.ts";

type Json = Record<string, unknown>;
type Delivery = {
  id: string;
  messageId: string;
  eventType: string;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  outcome: string;
  durationMs: number;
};

describe("webhook delivery to real receivers", () => {
  let api: TestApi;
  let programId: string;
  const receivers: Receiver[] = [];
  const base = () => `/v1/programs/${programId}/webhook-endpoints`;

  beforeAll(async () => {
    api = await createTestApi();
    api.ctx.webhooks = testWebhookSettings;
    programId = await api.program();
  });
  afterEach(async () => {
    api.ctx.webhooks = testWebhookSettings;
    // Endpoints of one test must not receive the next test's events.
    const list = await api.call("GET", base());
    for (const endpoint of list.body.data as { id: string }[]) {
      await api.call("DELETE", `${base()}/${endpoint.id}`);
    }
  });
  afterAll(async () => {
    for (const receiver of receivers) await receiver.stop();
    await api.close();
  });

  async function receiver(): Promise<Receiver> {
    const started = await new Receiver().start();
    receivers.push(started);
    return started;
  }

  async function endpoint(url: string, eventTypes = ["*"]) {
    const response = await api.call("POST", base(), { body: { url, eventTypes } });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    return {
      id: (response.body.endpoint as { id: string }).id,
      secret: response.body.secret as string,
    };
  }

  async function deliveries(endpointId: string): Promise<Delivery[]> {
    const response = await api.call("GET", `${base()}/${endpointId}/deliveries?limit=200`);
    expect(response.status).toBe(200);
    return response.body.data as Delivery[];
  }

  async function messages(endpointId: string) {
    return api.ctx.db.kysely
      .selectFrom("webhook_messages")
      .selectAll()
      .where("endpoint_id", "=", endpointId)
      .orderBy("event_created_at")
      .execute();
  }

  async function adjust(memberId: string, points: number) {
    const response = await api.call(
      "POST",
      `/v1/programs/${programId}/members/${memberId}/adjustments`,
      {
        body: { points, reason: "webhook test" },
      },
    );
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  }

  /** Ids of the program's outbox events whose type passes `prefix`. */
  async function eventIds(prefix: string, sinceSeq = 0): Promise<string[]> {
    const rows = await api.ctx.db.kysely
      .selectFrom("outbox_events")
      .select("id")
      .where("program_id", "=", programId)
      .where("type", "like", `${prefix}%`)
      .where("seq", ">", sinceSeq)
      .orderBy("seq")
      .execute();
    return rows.map((row) => row.id);
  }

  async function lastSeq(): Promise<number> {
    const row = await api.ctx.db.kysely
      .selectFrom("outbox_events")
      .select((eb) => eb.fn.max("seq").as("seq"))
      .executeTakeFirstOrThrow();
    return Number(row.seq ?? 0);
  }

  it("retries through 500, timeout and refused connections on the schedule, then delivers every event", async () => {
    const hooks = await receiver();
    const target = await endpoint(hooks.url, ["points.*", "member.enrolled"]);
    const since = await lastSeq();
    const memberId = await api.member(programId);
    await adjust(memberId, 40);
    await adjust(memberId, 2);
    const expected = [
      ...(await eventIds("member.enrolled", since)),
      ...(await eventIds("points.", since)),
    ];
    expect(expected.length).toBe(3);

    // 1st attempt, at once: the receiver fails with 500.
    hooks.behaviour = 500;
    const first = await runWebhooksOnce(api.ctx);
    expect(first).toMatchObject({ messagesQueued: 3, delivered: 0, retrying: 3 });
    const expectNextIn = async (delayMs: number) => {
      const now = api.clock.now().getTime();
      for (const message of await messages(target.id)) {
        expect(message.state).toBe("pending");
        const wait = message.next_attempt_at.getTime() - now;
        expect(wait).toBeGreaterThanOrEqual(delayMs);
        expect(wait).toBeLessThanOrEqual(delayMs * 1.1);
      }
    };
    await expectNextIn(5_000);
    // Nothing is due before the delay has passed.
    expect((await runWebhooksOnce(api.ctx)).retrying).toBe(0);
    api.clock.advance(4_000);
    expect((await runWebhooksOnce(api.ctx)).retrying).toBe(0);

    // 2nd attempt after 5 s: the receiver hangs past the timeout.
    api.clock.advance(1_000 + 500);
    hooks.behaviour = "hang";
    expect((await runWebhooksOnce(api.ctx)).retrying).toBe(3);
    await expectNextIn(300_000);

    // 3rd attempt after 5 min: nothing listens on the port.
    api.clock.advance(330_000);
    await hooks.stop();
    expect((await runWebhooksOnce(api.ctx)).retrying).toBe(3);
    await expectNextIn(1_800_000);

    // 4th attempt after 30 min: the receiver is back and accepts.
    api.clock.advance(1_980_000);
    await hooks.start();
    hooks.behaviour = 200;
    expect((await runWebhooksOnce(api.ctx)).delivered).toBe(3);

    const accepted = hooks.received.slice(-3).map((request) => JSON.parse(request.body).id);
    expect(accepted.sort()).toEqual([...expected].sort());
    expect(new Set(hooks.eventIds())).toEqual(new Set(expected));
    for (const message of await messages(target.id)) {
      expect(message).toMatchObject({ state: "delivered", attempts: 4 });
    }
    const log = await deliveries(target.id);
    expect(log.length).toBe(12);
    const byMessage = new Map<string, Delivery[]>();
    for (const entry of [...log].reverse()) {
      byMessage.set(entry.messageId, [...(byMessage.get(entry.messageId) ?? []), entry]);
    }
    for (const attempts of byMessage.values()) {
      expect(attempts.map((entry) => entry.responseStatus)).toEqual([500, null, null, 200]);
      expect(attempts[1]?.error).toMatch(/timeout/);
      expect(attempts[2]?.error).toBe("ECONNREFUSED");
      expect(attempts.map((entry) => entry.outcome)).toEqual([
        "failed",
        "failed",
        "failed",
        "succeeded",
      ]);
      // Bodies are kept truncated to 1 KiB.
      expect(attempts[0]?.responseBody?.startsWith("answer 500")).toBe(true);
      expect(attempts[0]?.responseBody?.length).toBe(1024);
    }
    // A message delivered is not sent again.
    expect((await runWebhooksOnce(api.ctx)).delivered).toBe(0);
  });

  it("gives a message up after the eighth failed attempt", async () => {
    const hooks = await receiver();
    hooks.behaviour = 503;
    const target = await endpoint(hooks.url, ["points.adjusted"]);
    await adjust(await api.member(programId), 5);
    for (let attempt = 1; attempt <= 8; attempt++) {
      const report = await runWebhooksOnce(api.ctx);
      expect(report).toMatchObject(attempt < 8 ? { retrying: 1 } : { failed: 1 });
      api.clock.advance((retryDelaysMs[attempt - 1] ?? 0) * 1.1 + 1);
    }
    const [message] = await messages(target.id);
    expect(message).toMatchObject({ state: "failed", attempts: 8 });
    expect((await runWebhooksOnce(api.ctx)).failed).toBe(0);
    expect(hooks.received.length).toBe(8);
    // Settled messages and their attempts are purged after 30 days.
    api.clock.advance(31 * 86_400_000);
    expect((await runWebhooksOnce(api.ctx)).messagesPurged).toBeGreaterThanOrEqual(1);
    expect(await messages(target.id)).toEqual([]);
    expect(await deliveries(target.id)).toEqual([]);
  });

  it("disables an endpoint that answers 410 Gone", async () => {
    const gone = await receiver();
    gone.behaviour = 410;
    const target = await endpoint(gone.url, ["points.*"]);
    const memberId = await api.member(programId);
    await adjust(memberId, 5);
    const report = await runWebhooksOnce(api.ctx);
    expect(report.endpointsDisabled).toBe(1);
    const shown = await api.call("GET", `${base()}/${target.id}`);
    expect(shown.body).toMatchObject({
      status: "disabled",
      disabledReason: "the receiver answered 410 Gone",
    });
    const disabled = await api.ctx.db.kysely
      .selectFrom("outbox_events")
      .select("payload")
      .where("type", "=", "webhook_endpoint.disabled")
      .execute();
    expect(disabled.map((row) => (row.payload as Json).endpointId)).toContain(target.id);
    // Later events do not go to a disabled endpoint.
    await adjust(memberId, 5);
    api.clock.advance(86_400_000);
    await runWebhooksOnce(api.ctx);
    expect(gone.received.length).toBe(1);
    // Turned on again by an admin, it receives new events.
    gone.behaviour = 204;
    const enabled = await api.call("PATCH", `${base()}/${target.id}`, { body: { enabled: true } });
    expect(enabled.body).toMatchObject({ status: "enabled", disabledReason: null });
    await adjust(memberId, 6);
    expect((await runWebhooksOnce(api.ctx)).delivered).toBe(1);
    expect(gone.received.length).toBe(2);
  });

  it("signs so the standardwebhooks library accepts it, and rejects tampering, wrong secrets and stale timestamps", async () => {
    // Receivers check the timestamp against their own clock, so the test clock follows the real
    // time; it starts 10 minutes behind, as a captured request replayed later would be.
    api.clock.set(new Date(Date.now() - 600_000));
    const hooks = await receiver();
    const target = await endpoint(hooks.url, ["points.adjusted"]);
    const memberId = await api.member(programId);
    await adjust(memberId, 6);
    await runWebhooksOnce(api.ctx);
    const stale = hooks.received.at(-1);
    if (!stale) throw new Error("nothing received");
    expect(() => new Webhook(target.secret).verify(stale.body, stale.headers)).toThrow(/too old/);

    api.clock.set(new Date());
    await adjust(memberId, 7);
    await runWebhooksOnce(api.ctx);
    const first = hooks.received.at(-1);
    if (!first) throw new Error("nothing received");
    const verified = new Webhook(target.secret).verify(first.body, first.headers) as Json;
    expect(verified).toMatchObject({
      type: "points.adjusted",
      programId,
      data: { points: 7, memberId, schemaVersion: 1 },
    });
    expect(first.headers["webhook-id"]).toMatch(/^msg_/);
    expect(first.headers["webhook-signature"]?.split(" ").length).toBe(1);

    // Tampered body, wrong secret, no signature header: rejected.
    expect(() =>
      new Webhook(target.secret).verify(first.body.replace("7", "70"), first.headers),
    ).toThrow(/No matching signature/);
    const stranger = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    expect(() => new Webhook(stranger).verify(first.body, first.headers)).toThrow(
      /No matching signature/,
    );
    expect(() =>
      new Webhook(target.secret).verify(first.body, { ...first.headers, "webhook-signature": "" }),
    ).toThrow();

    // Rotation: both secrets verify during the overlap.
    const rotated = await api.call("POST", `${base()}/${target.id}/rotate-secret`, {
      body: { previousSecretValidSeconds: 120 },
    });
    const newSecret = rotated.body.secret as string;
    await adjust(memberId, 8);
    await runWebhooksOnce(api.ctx);
    const during = hooks.received.at(-1);
    if (!during) throw new Error("nothing received");
    expect(during.headers["webhook-signature"]?.split(" ").length).toBe(2);
    expect(new Webhook(newSecret).verify(during.body, during.headers)).toMatchObject({
      data: { points: 8 },
    });
    expect(new Webhook(target.secret).verify(during.body, during.headers)).toMatchObject({
      data: { points: 8 },
    });

    // After the overlap only the new secret signs.
    api.clock.set(new Date(Date.now() + 121_000));
    await adjust(memberId, 9);
    await runWebhooksOnce(api.ctx);
    const after = hooks.received.at(-1);
    if (!after) throw new Error("nothing received");
    expect(after.headers["webhook-signature"]?.split(" ").length).toBe(1);
    expect(() => new Webhook(target.secret).verify(after.body, after.headers)).toThrow();
  });

  it("checks the address again when sending: a URL allowed at save time is refused later", async () => {
    const hooks = await receiver();
    const byIp = await endpoint(hooks.url, ["points.adjusted"]);
    api.ctx.webhooks = { ...testWebhookSettings, allowPrivate: true };
    const byName = await endpoint(`http://localhost:${hooks.port}/hooks`, ["points.adjusted"]);
    api.ctx.webhooks = { ...testWebhookSettings, allowedHosts: [] };
    await adjust(await api.member(programId), 3);
    const report = await runWebhooksOnce(api.ctx);
    expect(report).toMatchObject({ delivered: 0, retrying: 2 });
    expect(hooks.received).toEqual([]);
    const [ip] = await deliveries(byIp.id);
    expect(ip).toMatchObject({ responseStatus: null, error: "address 127.0.0.1 is not allowed" });
    const [name] = await deliveries(byName.id);
    expect(name?.error).toMatch(/^address (127\.0\.0\.1|::1) is not allowed$/);
  });

  it("replays one message, and a time range including events the endpoint never had", async () => {
    const hooks = await receiver();
    // Events of earlier tests stay out of the range.
    api.clock.advance(1_000);
    const from = api.clock.now().toISOString();
    const since = await lastSeq();
    const memberId = await api.member(programId);
    await adjust(memberId, 11);
    // Created after the events: it gets none of them until a replay.
    api.clock.advance(1_000);
    const target = await endpoint(hooks.url, ["points.*"]);
    await runWebhooksOnce(api.ctx);
    expect(hooks.received).toEqual([]);
    api.clock.advance(1_000);
    const until = api.clock.now().toISOString();

    const replayed = await api.call("POST", `${base()}/${target.id}/replay`, {
      body: { since: from, until },
    });
    expect(replayed.status, JSON.stringify(replayed.body)).toBe(202);
    expect(replayed.body).toEqual({ messagesQueued: 1 });
    await runWebhooksOnce(api.ctx);
    expect(hooks.eventIds()).toEqual(await eventIds("points.", since));

    const [delivery] = await deliveries(target.id);
    if (!delivery) throw new Error("no delivery");
    const again = await api.call("POST", `${base()}/${target.id}/replay`, {
      body: { messageId: delivery.messageId },
      headers: { "idempotency-key": "replay-1" },
    });
    expect(again.status).toBe(202);
    await runWebhooksOnce(api.ctx);
    expect(hooks.received.length).toBe(2);
    // The same message id: a receiver that already has it can drop the copy.
    expect(hooks.received[1]?.headers["webhook-id"]).toBe(hooks.received[0]?.headers["webhook-id"]);
    expect(hooks.received[1]?.body).toBe(hooks.received[0]?.body);
  });

  it("runs in the scheduled jobs pass too", async () => {
    const hooks = await receiver();
    await endpoint(hooks.url, ["member.enrolled"]);
    await api.member(programId);
    const report = await runJobsOnce(api.ctx);
    expect(report.webhooks).toMatchObject({ messagesQueued: 1, delivered: 1 });
    expect(hooks.received.length).toBe(1);
  });
});
