import {
  createDecipheriv,
  createECDH,
  createHmac,
  createPublicKey,
  randomBytes,
  verify,
} from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { commCounts, messagesOf, type Received, runMessages, startReceiver } from "./support.ts";

const hmac = (key: Buffer, data: Buffer) => createHmac("sha256", key).update(data).digest();

/** A browser's side of a push subscription: a P-256 key pair and an auth secret. */
function browserKeys() {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = randomBytes(16);
  return {
    ecdh,
    auth,
    keys: { p256dh: ecdh.getPublicKey().toString("base64url"), auth: auth.toString("base64url") },
  };
}

/** RFC 8291 (aes128gcm) decryption, as the browser does it. */
function decrypt(body: Buffer, browser: ReturnType<typeof browserKeys>): string {
  const salt = body.subarray(0, 16);
  const idLength = body[20] ?? 0;
  const serverPublic = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  const shared = browser.ecdh.computeSecret(serverPublic);
  const keyInfo = Buffer.concat([
    Buffer.from("WebPush: info\0"),
    browser.ecdh.getPublicKey(),
    serverPublic,
  ]);
  const ikm = hmac(hmac(browser.auth, shared), Buffer.concat([keyInfo, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from("Content-Encoding: aes128gcm\0\x01")).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from("Content-Encoding: nonce\0\x01")).subarray(0, 12);
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(-16));
  const plain = Buffer.concat([decipher.update(ciphertext.subarray(0, -16)), decipher.final()]);
  let end = plain.length - 1;
  while (plain[end] === 0) end--;
  expect(plain[end]).toBe(2); // the last record's padding delimiter
  return plain.subarray(0, end).toString("utf8");
}

/** Checks the VAPID header (RFC 8292): an ES256 JWT signed by the key it names. */
function checkVapid(request: Received, origin: string) {
  const match = /^vapid t=([^,]+), k=(\S+)$/.exec(String(request.headers.authorization));
  expect(match).not.toBeNull();
  const [jwt, k] = [match?.[1] as string, match?.[2] as string];
  const [header, claims, signature] = jwt.split(".") as [string, string, string];
  const publicKey = Buffer.from(k, "base64url");
  const key = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: publicKey.subarray(1, 33).toString("base64url"),
      y: publicKey.subarray(33).toString("base64url"),
    },
    format: "jwk",
  });
  const valid = verify(
    "sha256",
    Buffer.from(`${header}.${claims}`),
    { key, dsaEncoding: "ieee-p1363" },
    Buffer.from(signature, "base64url"),
  );
  expect(valid).toBe(true);
  expect(JSON.parse(Buffer.from(header, "base64url").toString())).toMatchObject({ alg: "ES256" });
  const payload = JSON.parse(Buffer.from(claims, "base64url").toString());
  expect(payload.aud).toBe(origin);
  expect(payload.sub).toMatch(/^mailto:/);
  expect(payload.exp).toBeGreaterThan(Date.now() / 1000);
  return k;
}

describe("web push with VAPID", () => {
  let api: TestApi;
  let push: Awaited<ReturnType<typeof startReceiver>>;
  let programId: string;

  beforeAll(async () => {
    api = await createTestApi();
    push = await startReceiver((request) => ({
      status: request.path.startsWith("/gone") ? 410 : 201,
    }));
    api.ctx.communications = { emailFrom: "Toko <halo@toko.test>" };
    programId = await api.program({ name: "Toko Maju" });
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { channels: ["push"] },
    });
  });
  afterAll(async () => {
    await api.close();
    await push.close();
  });

  async function subscribe(memberId: string, path: string, keys: { p256dh: string; auth: string }) {
    return api.call("POST", `/v1/programs/${programId}/members/${memberId}/push-subscriptions`, {
      body: { endpoint: `${push.url}${path}`, keys },
    });
  }

  it("delivers an encrypted, VAPID-signed notification the browser can read", async () => {
    const browser = browserKeys();
    const memberId = await api.member(programId, {
      consents: { terms: true, marketing: { push: true } },
    });
    const created = await subscribe(memberId, "/push/abc", browser.keys);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^psb_/), memberId });
    // Registering the same endpoint again keeps one subscription.
    expect((await subscribe(memberId, "/push/abc", browser.keys)).body.id).toBe(created.body.id);

    const settings = await api.call("GET", `/v1/programs/${programId}/communication-settings`);
    const vapidPublicKey = settings.body.vapidPublicKey as string;
    expect(Buffer.from(vapidPublicKey, "base64url")).toHaveLength(65);

    await runMessages(api); // the welcome
    const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase("P-1", {
        member: { id: memberId },
        total: "250000",
        occurredAt: api.clock.now().toISOString(),
      }),
    });
    expect(response.status).toBe(201);
    await runMessages(api);

    expect(push.requests.map((r) => r.path)).toEqual(["/push/abc", "/push/abc"]);
    const request = push.requests[1] as Received;
    expect(request.headers["content-encoding"]).toBe("aes128gcm");
    expect(Number(request.headers.ttl)).toBeGreaterThan(0);
    expect(checkVapid(request, push.url)).toBe(vapidPublicKey);
    const payload = JSON.parse(decrypt(request.body, browser));
    expect(payload).toMatchObject({
      title: "Anda mendapat 25 poin",
      messageId: expect.stringMatching(/^cms_/),
    });
    expect(payload.body).toContain("Anda mendapat 25 poin dari belanja Anda");
    expect(await messagesOf(api, programId, memberId, "&trigger=points_earned")).toMatchObject([
      { channel: "push", state: "sent" },
    ]);
  });

  it("forgets a subscription the push service reports gone and fails the message", async () => {
    const memberId = await api.member(programId, {
      consents: { terms: true, marketing: { push: true } },
    });
    expect((await subscribe(memberId, "/gone/1", browserKeys().keys)).status).toBe(201);
    await runMessages(api);
    expect(await messagesOf(api, programId, memberId)).toMatchObject([
      { trigger: "welcome", state: "failed", reason: expect.stringContaining("410") },
    ]);
    const left = await api.call(
      "GET",
      `/v1/programs/${programId}/members/${memberId}/push-subscriptions`,
    );
    expect(left.body.data).toEqual([]);
  });

  it("suppresses push without consent or without a subscription", async () => {
    const noConsent = await api.member(programId);
    await subscribe(noConsent, "/push/x", browserKeys().keys);
    const noDevice = await api.member(programId, {
      consents: { terms: true, marketing: { push: true } },
    });
    await runMessages(api);
    expect(await messagesOf(api, programId, noConsent)).toMatchObject([
      { state: "suppressed", reason: "no_consent" },
    ]);
    expect(await messagesOf(api, programId, noDevice)).toMatchObject([
      { state: "suppressed", reason: "no_address" },
    ]);
  });

  it("refuses bad subscriptions and writes nothing", async () => {
    const memberId = await api.member(programId);
    const before = await commCounts(api);
    const bad = [
      { endpoint: "not a url", keys: browserKeys().keys },
      { endpoint: "ftp://push.example/x", keys: browserKeys().keys },
      { endpoint: `${push.url}/p`, keys: { p256dh: "short", auth: "x" } },
      { endpoint: `${push.url}/p`, keys: browserKeys().keys, extra: true },
    ];
    for (const body of bad) {
      const response = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${programId}/members/${memberId}/push-subscriptions`, {
          body,
        }),
      );
      expectError(response, 400, "validation_failed");
    }
    const unknown = await api.call(
      "POST",
      `/v1/programs/${programId}/members/mbr_00000000000000000000000000/push-subscriptions`,
      { body: { endpoint: `${push.url}/p`, keys: browserKeys().keys } },
    );
    expectError(unknown, 404, "member_not_found");
    const missing = await api.call(
      "DELETE",
      `/v1/programs/${programId}/members/${memberId}/push-subscriptions/psb_00000000000000000000000000`,
    );
    expectError(missing, 404, "push_subscription_not_found");
    expect(await commCounts(api)).toEqual(before);
  });
});
