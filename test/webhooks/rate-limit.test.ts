import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/http/kit.ts";
import { buildServer } from "../../src/http/server.ts";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";

describe("rate limits per API key and per address", () => {
  let api: TestApi;
  let limited: App;
  let programId: string;
  let pos: string;
  let read: string;
  const keyPerMinute = 5;
  const ipPerMinute = 3;

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program();
    pos = await api.key(programId, "pos");
    read = await api.key(programId, "read");
    // A second server over the same database, with limits: the test clock stands still, so a
    // window never refills unless the test moves the clock.
    limited = await buildServer({ ...api.ctx, rateLimits: { keyPerMinute, ipPerMinute } });
  });
  afterAll(async () => {
    await limited.close();
    await api.close();
  });

  async function get(url: string, key: string | null, remoteAddress = "198.51.100.7") {
    const response = await limited.inject({
      method: "GET",
      url,
      remoteAddress,
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
    return {
      status: response.statusCode,
      body: JSON.parse(response.body),
      headers: response.headers,
    };
  }

  it("answers the key's N+1-th request in a minute with 429 and Retry-After", async () => {
    const url = `/v1/programs/${programId}`;
    for (let i = 0; i < keyPerMinute; i++) expect((await get(url, pos)).status).toBe(200);
    const refused = await get(url, pos);
    expectError(refused, 429, "rate_limited");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.body.error.details).toEqual({
      retryAfterSeconds: Number(refused.headers["retry-after"]),
    });
    // Another key has its own budget; so does another address for the same key.
    expect((await get(url, read)).status).toBe(200);
    expectError(await get(url, pos, "203.0.113.9"), 429, "rate_limited");
    // The budget refills with time.
    api.clock.advance(60_000 / keyPerMinute);
    expect((await get(url, pos)).status).toBe(200);
    expectError(await get(url, pos), 429, "rate_limited");
  });

  it("limits requests without a key, and failed authentications, per address", async () => {
    const address = "192.0.2.44";
    for (let i = 0; i < ipPerMinute; i++) {
      expect((await get("/openapi.json", null, address)).status).toBe(200);
    }
    expectError(await get("/openapi.json", null, address), 429, "rate_limited");
    // Even a valid key cannot pass an address that spent its budget guessing.
    const guesser = "192.0.2.45";
    for (let i = 0; i < ipPerMinute; i++) {
      expectError(await get(`/v1/programs/${programId}`, "sk_wrong", guesser), 401, "unauthorized");
    }
    expectError(await get(`/v1/programs/${programId}`, "sk_wrong", guesser), 429, "rate_limited");
    // Health checks are never limited.
    expect((await get("/health", null, address)).status).toBe(200);
  });

  it("is off unless configured", async () => {
    for (let i = 0; i < 20; i++) expect((await api.call("GET", "/health")).status).toBe(200);
    for (let i = 0; i < 20; i++) {
      expect((await api.call("GET", `/v1/programs/${programId}`, { key: pos })).status).toBe(200);
    }
  });
});
