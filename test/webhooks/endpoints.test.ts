import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  eventCatalog,
  isPrivateAddress,
  matchesFilters,
} from "../../src/modules/webhooks/index.ts";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import { testWebhookSettings, webhookRowCounts } from "./receiver.ts";

describe("webhook endpoints over HTTP", () => {
  let api: TestApi;
  let programId: string;
  let admin: string;
  const base = () => `/v1/programs/${programId}/webhook-endpoints`;

  beforeAll(async () => {
    api = await createTestApi();
    api.ctx.webhooks = testWebhookSettings;
    programId = await api.program();
    admin = await api.key(programId, "admin");
  });
  afterAll(() => api.close());

  /** Asserts that the call changes no row, in the foundation's tables or this module's. */
  async function refused(act: () => ReturnType<TestApi["call"]>, status: number, code: string) {
    const before = await webhookRowCounts(api);
    const response = await expectNothingWritten(api, act);
    expectError(response, status, code);
    expect(await webhookRowCounts(api)).toEqual(before);
    return response;
  }

  it("creates an endpoint and shows its secret once", async () => {
    const created = await api.call("POST", base(), {
      key: admin,
      body: { url: "http://127.0.0.1:9/hooks", eventTypes: ["points.*", "member.enrolled"] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const secret = created.body.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const endpoint = created.body.endpoint as Record<string, unknown>;
    expect(endpoint).toMatchObject({
      programId,
      status: "enabled",
      eventTypes: ["points.*", "member.enrolled"],
      previousSecretValidUntil: null,
    });
    expect(endpoint.id).toMatch(/^whe_/);

    const read = await api.call("GET", `${base()}/${endpoint.id}`, { key: admin });
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(secret);
    const list = await api.call("GET", base(), { key: admin });
    expect(JSON.stringify(list.body)).not.toContain("whsec_");
    expect((list.body.data as unknown[]).length).toBe(1);

    const events = await api.ctx.db.kysely
      .selectFrom("outbox_events")
      .select(["type", "payload"])
      .where("type", "like", "webhook_endpoint.%")
      .execute();
    expect(events.map((event) => event.type)).toEqual(["webhook_endpoint.created"]);
  });

  it("updates, pauses, rotates and deletes an endpoint", async () => {
    const created = await api.call("POST", base(), {
      key: admin,
      body: { url: "http://127.0.0.1:9/a", eventTypes: ["*"], description: "CRM" },
    });
    const id = (created.body.endpoint as { id: string }).id;
    const patched = await api.call("PATCH", `${base()}/${id}`, {
      key: admin,
      body: { eventTypes: ["transaction.recorded"], enabled: false, description: null },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      status: "disabled",
      eventTypes: ["transaction.recorded"],
      description: null,
    });
    const resumed = await api.call("PATCH", `${base()}/${id}`, {
      key: admin,
      body: { enabled: true },
    });
    expect(resumed.body).toMatchObject({ status: "enabled", disabledReason: null });

    const rotated = await api.call("POST", `${base()}/${id}/rotate-secret`, {
      key: admin,
      body: { previousSecretValidSeconds: 3600 },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect(
      (rotated.body.endpoint as { previousSecretValidUntil: string }).previousSecretValidUntil,
    ).toBe(new Date(api.clock.now().getTime() + 3_600_000).toISOString());

    const deleted = await api.call("DELETE", `${base()}/${id}`, { key: admin });
    expect(deleted.status).toBe(204);
    expectError(
      await api.call("GET", `${base()}/${id}`, { key: admin }),
      404,
      "webhook_endpoint_not_found",
    );
  });

  it("refuses bad input with a clear error and writes nothing", async () => {
    const post = (body: unknown) => () => api.call("POST", base(), { key: admin, body });
    const ok = { url: "http://127.0.0.1:9/x", eventTypes: ["points.*"] };
    await refused(post({ ...ok, url: "not a url" }), 400, "validation_failed");
    await refused(post({ ...ok, url: "ftp://127.0.0.1/x" }), 400, "validation_failed");
    await refused(post({ ...ok, url: "https://user:pw@example.com/x" }), 400, "validation_failed");
    await refused(
      post({ ...ok, url: `https://example.com/${"x".repeat(2100)}` }),
      400,
      "validation_failed",
    );
    await refused(post({ ...ok, eventTypes: [] }), 400, "validation_failed");
    await refused(post({ ...ok, eventTypes: ["Points!"] }), 400, "validation_failed");
    await refused(post({ ...ok, eventTypes: ["points.*.earned"] }), 400, "validation_failed");
    await refused(post({ ...ok, secret: "whsec_mine" }), 400, "validation_failed");
    await refused(post({ url: ok.url }), 400, "validation_failed");
    await refused(
      () => api.call("POST", base(), { key: admin, body: "{not json" }),
      400,
      "invalid_json",
    );

    const id = (
      (await api.call("POST", base(), { key: admin, body: ok })).body.endpoint as { id: string }
    ).id;
    await refused(
      () => api.call("PATCH", `${base()}/whe_01jxxxxxxxxxxxxxxxxxxxxxxx`, { key: admin, body: {} }),
      404,
      "webhook_endpoint_not_found",
    );
    await refused(
      () => api.call("PATCH", `${base()}/${id}`, { key: admin, body: { url: "javascript:x" } }),
      400,
      "validation_failed",
    );
    await refused(
      () =>
        api.call("POST", `${base()}/${id}/rotate-secret`, {
          key: admin,
          body: { previousSecretValidSeconds: 8 * 86_400 },
        }),
      400,
      "validation_failed",
    );
    const replay = (body: unknown) => () =>
      api.call("POST", `${base()}/${id}/replay`, { key: admin, body });
    await refused(replay({ messageId: "msg_nope" }), 404, "webhook_message_not_found");
    await refused(
      replay({ since: "2026-03-02T00:00:00Z", until: "2026-03-01T00:00:00Z" }),
      400,
      "validation_failed",
    );
    await refused(replay({ since: "2026-03-02T00:00:00Z" }), 400, "validation_failed");
    await refused(
      replay({ messageId: "msg_x", since: "2026-03-01T00:00:00Z", until: "2026-03-02T00:00:00Z" }),
      400,
      "validation_failed",
    );
    await refused(
      () => api.call("GET", `${base()}/${id}/deliveries?limit=1000`, { key: admin }),
      400,
      "validation_failed",
    );
  });

  it("refuses private, loopback and link-local addresses unless the operator allows them", async () => {
    api.ctx.webhooks = undefined;
    try {
      for (const url of [
        "http://127.0.0.1:8080/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8080/hooks",
        "http://[::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://[fd00::1]/hooks",
        "http://0.0.0.0/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.1.1/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
      ]) {
        const response = await refused(
          () => api.call("POST", base(), { key: admin, body: { url, eventTypes: ["*"] } }),
          422,
          "webhook_url_refused",
        );
        expect(response.body.error?.details).toMatchObject({ field: "url" });
      }
    } finally {
      api.ctx.webhooks = testWebhookSettings;
    }
    // The allowlist names 127.0.0.1, not the metadata address.
    await refused(
      () =>
        api.call("POST", base(), {
          key: admin,
          body: { url: "http://169.254.169.254/", eventTypes: ["*"] },
        }),
      422,
      "webhook_url_refused",
    );
  });

  it("keeps programs apart and needs the admin role", async () => {
    const other = await api.program();
    const otherAdmin = await api.key(other, "admin");
    const pos = await api.key(programId, "pos");
    const read = await api.key(programId, "read");
    const body = { url: "http://127.0.0.1:9/x", eventTypes: ["*"] };
    await refused(() => api.call("POST", base(), { key: pos, body }), 403, "forbidden");
    await refused(() => api.call("POST", base(), { key: read, body }), 403, "forbidden");
    await refused(() => api.call("POST", base(), { key: otherAdmin, body }), 403, "forbidden");
    await refused(() => api.call("POST", base(), { key: null, body }), 401, "unauthorized");
    expectError(await api.call("GET", base(), { key: otherAdmin }), 403, "forbidden");

    const mine = await api.call("GET", base(), { key: admin });
    const id = (mine.body.data as { id: string }[])[0]?.id;
    // Another program's admin, on its own path, does not find this program's endpoint.
    const otherBase = `/v1/programs/${other}/webhook-endpoints`;
    expectError(
      await api.call("GET", `${otherBase}/${id}`, { key: otherAdmin }),
      404,
      "webhook_endpoint_not_found",
    );
    await refused(
      () => api.call("DELETE", `${otherBase}/${id}`, { key: otherAdmin }),
      404,
      "webhook_endpoint_not_found",
    );
    expectError(
      await api.call("GET", `${otherBase}/${id}/deliveries`, { key: otherAdmin }),
      404,
      "webhook_endpoint_not_found",
    );
  });

  it("publishes every event payload in the OpenAPI document's webhooks section", async () => {
    const response = await api.call("GET", "/openapi.json", { key: null });
    const webhooks = response.body.webhooks as Record<string, { post: Record<string, unknown> }>;
    expect(Object.keys(webhooks).sort()).toEqual(eventCatalog.map((entry) => entry.type).sort());
    const earned = webhooks["points.earned"]?.post as {
      requestBody: { content: { "application/json": { schema: { properties: object } } } };
    };
    expect(
      Object.keys(earned.requestBody.content["application/json"].schema.properties).sort(),
    ).toEqual(["data", "id", "programId", "timestamp", "type"]);
  });
});

describe("the event catalog", () => {
  it("lists every event type the foundation and this module emit, each documented", () => {
    const emitted = new Set<string>();
    const sources = [
      "src/modules/programs/index.ts",
      "src/modules/auth/index.ts",
      "src/modules/members/index.ts",
      "src/modules/purchases/index.ts",
      "src/modules/ledger/operations.ts",
      "src/modules/webhooks/endpoints.ts",
    ];
    for (const path of sources) {
      for (const match of readFileSync(path, "utf8").matchAll(/type: "([a-z_]+\.[a-z_]+)"/g)) {
        if (match[1]) emitted.add(match[1]);
      }
    }
    emitted.add("points.pending").add("points.earned");
    for (const outcome of ["confirmed", "cancelled", "expired"])
      emitted.add(`points.hold_${outcome}`);
    emitted.add("member.blocked").add("member.unblocked");
    // Types of other modules (emitted from shared files) are documented in their own sections.
    const doc = readFileSync("docs/events.md", "utf8");
    const catalog = new Set(eventCatalog.map((entry) => entry.type as string));
    expect(
      [...emitted].filter((type) => !catalog.has(type) && !doc.includes(`\`${type}\``)),
    ).toEqual([]);
    expect(
      eventCatalog.map((entry) => entry.type).filter((type) => !doc.includes(`\`${type}\``)),
    ).toEqual([]);
  });

  it("matches exact types, prefixes and *", () => {
    expect(matchesFilters(["points.*"], "points.earned")).toBe(true);
    expect(matchesFilters(["points.*"], "pointsx.earned")).toBe(false);
    expect(matchesFilters(["member.enrolled"], "member.updated")).toBe(false);
    expect(matchesFilters(["*"], "anything.at_all")).toBe(true);
  });

  it("classifies addresses", () => {
    for (const address of [
      "127.0.0.1",
      "10.0.0.1",
      "172.16.5.4",
      "192.168.0.1",
      "169.254.169.254",
      "0.0.0.0",
      "100.64.0.1",
      "::1",
      "::",
      "fe80::1",
      "fc00::1",
      "fd12:3456::1",
      "::ffff:10.0.0.1",
      "::ffff:7f00:1",
    ]) {
      expect(isPrivateAddress(address), address).toBe(true);
    }
    for (const address of ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) {
      expect(isPrivateAddress(address), address).toBe(false);
    }
  });
});
