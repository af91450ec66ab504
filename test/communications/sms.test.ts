import { createHmac, timingSafeEqual } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendOneTimeCode } from "../../src/modules/communications/index.ts";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import {
  commCounts,
  messagesOf,
  type Received,
  runMessages,
  signBody,
  startReceiver,
} from "./support.ts";

const secret = "gateway-shared-secret";

/** What a gateway does with the documented signature: recompute and compare. */
function signatureValid(request: Received): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request.headers["x-setia-signature"]));
  if (!match) return false;
  const expected = createHmac("sha256", secret)
    .update(`${match[1]}.${request.body.toString("utf8")}`)
    .digest();
  return timingSafeEqual(expected, Buffer.from(match[2] as string, "hex"));
}

describe("SMS and WhatsApp through the generic HTTP provider", () => {
  let api: TestApi;
  let gateway: Awaited<ReturnType<typeof startReceiver>>;
  let programId: string;
  let failNext = 0;

  beforeAll(async () => {
    api = await createTestApi();
    gateway = await startReceiver((request) => {
      if (!signatureValid(request)) return { status: 401 };
      if (failNext > 0) {
        failNext--;
        return { status: 503, body: '{"error":"busy"}' };
      }
      return { status: 200, body: JSON.stringify({ id: `gw-${Math.random()}` }) };
    });
    api.ctx.communications = { provider: { url: `${gateway.url}/send`, secret } };
    programId = await api.program({ name: "Warung Sari" });
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { channels: ["sms", "whatsapp"], disabledTriggers: ["welcome"] },
    });
  });
  afterAll(async () => {
    await api.close();
    await gateway.close();
  });

  const sent = () =>
    gateway.requests.filter(signatureValid).map((r) => JSON.parse(r.body.toString()));

  async function buy(memberId: string, externalId: string) {
    const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase(externalId, {
        member: { id: memberId },
        total: "250000",
        occurredAt: api.clock.now().toISOString(),
      }),
    });
    expect(response.status).toBe(201);
  }

  it("posts the documented signed JSON per consented channel", async () => {
    const phone = nextPhone();
    const memberId = await api.member(programId, {
      phone,
      consents: { terms: true, marketing: { sms: true, whatsapp: false } },
    });
    await buy(memberId, "S-1");
    await runMessages(api);
    const messages = await messagesOf(api, programId, memberId);
    const sms = messages.find((m) => m.channel === "sms");
    expect(sent()).toEqual([
      {
        to: `+62${phone.slice(1)}`,
        channel: "sms",
        body: expect.stringContaining("Anda mendapat 25 poin dari belanja Anda"),
        messageId: sms?.id,
      },
    ]);
    expect(messages.find((m) => m.channel === "whatsapp")).toMatchObject({
      state: "suppressed",
      reason: "no_consent",
    });
    expect(sms).toMatchObject({ state: "sent", attempts: 1 });
  });

  it("retries a failed send with backoff", async () => {
    const memberId = await api.member(programId, {
      consents: { terms: true, marketing: { whatsapp: true } },
    });
    failNext = 1;
    await buy(memberId, "S-2");
    const first = await runMessages(api);
    expect(first.messages).toMatchObject({ sent: 0, retried: 1 });
    const [queued] = await messagesOf(api, programId, memberId, "&channel=whatsapp");
    expect(queued).toMatchObject({
      state: "queued",
      attempts: 1,
      reason: expect.stringContaining("503"),
      nextAttemptAt: new Date(api.clock.now().getTime() + 60_000).toISOString(),
    });
    expect((await runMessages(api)).messages.sent).toBe(0); // not due yet
    api.clock.advance(60_000);
    expect((await runMessages(api)).messages.sent).toBe(1);
    expect(await messagesOf(api, programId, memberId, "&channel=whatsapp")).toMatchObject([
      { state: "sent", attempts: 2, reason: null },
    ]);
  });

  it("sends a one-time code in quiet hours without consent, and logs it redacted", async () => {
    const phone = nextPhone();
    const memberId = await api.member(programId, { phone });
    api.clock.set("2026-03-02T16:00:00Z"); // 23:00 in Jakarta
    const { messageId } = await sendOneTimeCode(api.ctx, {
      programId,
      memberId,
      channel: "sms",
      code: "482913",
    });
    await runMessages(api);
    const codeMessage = sent().find((m) => m.messageId === messageId);
    expect(codeMessage).toMatchObject({ to: `+62${phone.slice(1)}`, channel: "sms" });
    expect(codeMessage.body).toContain("Kode masuk Warung Sari Anda: 482913");
    const log = await api.call("GET", `/v1/programs/${programId}/members/${memberId}/messages`);
    expect(JSON.stringify(log.body)).not.toContain("482913");
    expect(log.body.data).toMatchObject([
      {
        id: messageId,
        trigger: "one_time_code",
        category: "security",
        state: "sent",
        variables: { code: "••••••" },
        subject: "Kode masuk Warung Sari: ••••••",
      },
    ]);
    const stored = await api.ctx.db.kysely
      .selectFrom("comm_messages")
      .select("secret")
      .where("id", "=", messageId)
      .executeTakeFirstOrThrow();
    expect(stored.secret).toBeNull();
    await expect(
      sendOneTimeCode(api.ctx, { programId, memberId, channel: "sms", code: "12" }),
    ).rejects.toMatchObject({ code: "validation_failed" });
    api.clock.set("2026-03-03T03:00:00Z");
  });

  async function inbound(body: unknown, signature?: string) {
    const text = JSON.stringify(body);
    return api.call("POST", `/inbound/programs/${programId}/messages`, {
      key: null,
      body: text,
      headers: { "x-setia-signature": signature ?? signBody(secret, text, api.clock.now()) },
    });
  }

  it("withdraws consent when the member replies STOP", async () => {
    const phone = nextPhone();
    const memberId = await api.member(programId, {
      phone,
      consents: { terms: true, marketing: { sms: true, whatsapp: true } },
    });
    const ignored = await inbound({ from: phone, channel: "sms", body: "halo" });
    expect(ignored.body).toEqual({ action: "ignored", reason: "not_a_command" });
    const stop = await inbound({ from: `+62 ${phone.slice(1)}`, channel: "sms", body: " stop " });
    expect(stop.status, JSON.stringify(stop.body)).toBe(200);
    expect(stop.body).toEqual({ action: "unsubscribed", reason: null });
    const member = await api.call("GET", `/v1/programs/${programId}/members/${memberId}`);
    expect(member.body.consents).toMatchObject({
      marketing: { sms: { granted: false }, whatsapp: { granted: true } },
    });
    const stranger = await inbound({ from: nextPhone(), channel: "whatsapp", body: "BERHENTI" });
    expect(stranger.body).toEqual({ action: "ignored", reason: "unknown_sender" });

    await buy(memberId, "S-3");
    await runMessages(api);
    expect(
      (await messagesOf(api, programId, memberId)).map((m) => [m.channel, m.state, m.reason]),
    ).toEqual([
      ["whatsapp", "sent", null],
      ["sms", "suppressed", "no_consent"],
    ]);
  });

  it("refuses unsigned, wrongly signed or stale inbound requests and changes nothing", async () => {
    const phone = nextPhone();
    await api.member(programId, { phone, consents: { terms: true, marketing: { sms: true } } });
    const body = { from: phone, channel: "sms", body: "STOP" };
    const text = JSON.stringify(body);
    const before = await commCounts(api);
    const stale = new Date(api.clock.now().getTime() - 600_000);
    for (const signature of [
      "",
      "t=1,v1=00",
      signBody("wrong-secret", text, api.clock.now()),
      signBody(secret, text, stale),
      signBody(secret, `${text} `, api.clock.now()),
    ]) {
      const response = await expectNothingWritten(api, () => inbound(body, signature));
      expectError(response, 401, "signature_invalid");
    }
    const invalid = await expectNothingWritten(api, () =>
      inbound({ from: phone, channel: "fax", body: "STOP" }),
    );
    expectError(invalid, 400, "validation_failed");
    expect(await commCounts(api)).toEqual(before);
  });
});
