import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Formatter } from "../../src/modules/communications/templates.ts";
import { localDayStart, quietUntil } from "../../src/modules/communications/time.ts";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import { commCounts } from "./support.ts";

describe("formatting and local time (pure)", () => {
  it("formats numbers, money and dates per language, in the program's timezone", () => {
    const id = new Formatter("id", "Asia/Jakarta", "IDR");
    const en = new Formatter("en", "Asia/Jakarta", "IDR");
    expect(id.money(25_000_000)).toBe("Rp 250.000");
    expect(en.money(25_000_000)).toBe("IDR 250,000");
    expect(id.money(25_000_050)).toBe("Rp 250.000,50");
    expect(id.number(1250)).toBe("1.250");
    expect(en.number(1250)).toBe("1,250");
    // 20:00 UTC on 31 March is already 1 April in Jakarta.
    expect(id.date("2026-03-31T20:00:00Z")).toBe("1 April 2026");
    expect(en.date("2026-03-31T20:00:00Z")).toBe("1 April 2026");
  });

  it("computes quiet hours across midnight and the local day", () => {
    const window = { start: "21:00", end: "08:00" };
    expect(quietUntil(new Date("2026-03-02T13:59:00Z"), "Asia/Jakarta", window)).toBeNull();
    expect(quietUntil(new Date("2026-03-02T14:00:30Z"), "Asia/Jakarta", window)).toEqual(
      new Date("2026-03-03T01:00:00Z"),
    );
    expect(quietUntil(new Date("2026-03-02T22:15:00Z"), "Asia/Jakarta", window)).toEqual(
      new Date("2026-03-03T01:00:00Z"),
    );
    expect(quietUntil(new Date("2026-03-02T22:15:00Z"), "Asia/Jakarta", null)).toBeNull();
    expect(localDayStart(new Date("2026-03-02T18:00:00Z"), "Asia/Jakarta")).toEqual(
      new Date("2026-03-02T17:00:00Z"),
    );
  });
});

describe("communications API", () => {
  let api: TestApi;
  let programId: string;
  let otherProgram: string;

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program({ name: "Toko Maju" });
    otherProgram = await api.program({ name: "Toko Lain" });
  });
  afterAll(() => api.close());

  const base = () => `/v1/programs/${programId}`;

  it("shows default settings and changes only the fields sent", async () => {
    const read = await api.call("GET", `${base()}/communication-settings`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      channels: ["email", "push"],
      quietHours: { start: "21:00", end: "08:00" },
      marketingMessagesPerDayMax: 2,
      tone: "friendly",
      vapidPublicKey: expect.stringMatching(/^[A-Za-z0-9_-]{87}$/),
    });
    const changed = await api.call("PATCH", `${base()}/communication-settings`, {
      body: { quietHours: null, senderName: "Toko Maju Jaya", winbackAfterDays: 60 },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      quietHours: null,
      senderName: "Toko Maju Jaya",
      winbackAfterDays: 60,
      channels: ["email", "push"],
    });
    // The key generated on first use stays the same.
    expect(changed.body.vapidPublicKey).toBe(read.body.vapidPublicKey);
  });

  it("refuses bad settings with a clear error and writes nothing", async () => {
    const bad = [
      { quietHours: { start: "25:00", end: "08:00" } },
      { quietHours: { start: "08:00", end: "08:00" } },
      { channels: ["email", "email"] },
      { channels: ["pigeon"] },
      { marketingMessagesPerDayMax: -1 },
      { winbackAfterDays: 1 },
      { tone: "sarcastic" },
      { senderEmail: "not-an-email" },
      { unknownField: 1 },
      {},
    ];
    for (const body of bad) {
      const response = await expectNothingWritten(api, () =>
        api.call("PATCH", `${base()}/communication-settings`, { body }),
      );
      expectError(response, 400, "validation_failed");
    }
  });

  it("keeps programs apart and enforces roles", async () => {
    const readKey = await api.key(programId, "read");
    const posKey = await api.key(programId, "pos");
    const otherAdmin = await api.key(otherProgram, "admin");
    const memberId = await api.member(programId);
    const before = await commCounts(api);
    expectError(
      await api.call("PATCH", `${base()}/communication-settings`, {
        key: readKey,
        body: { tone: "formal" },
      }),
      403,
      "forbidden",
    );
    expectError(
      await api.call("POST", `${base()}/message-templates`, {
        key: posKey,
        body: { trigger: "welcome", locale: "id", subject: "Hai", body: "Hai" },
      }),
      403,
      "forbidden",
    );
    for (const url of [
      `${base()}/communication-settings`,
      `${base()}/messages`,
      `${base()}/message-templates`,
      `${base()}/members/${memberId}/messages`,
    ]) {
      expectError(await api.call("GET", url, { key: otherAdmin }), 403, "forbidden");
      expectError(await api.call("GET", url, { key: null }), 401, "unauthorized");
    }
    // A member of another program is not found through this program.
    expectError(
      await api.call("GET", `/v1/programs/${otherProgram}/members/${memberId}/messages`),
      404,
      "member_not_found",
    );
    expect((await api.call("GET", `${base()}/messages`, { key: readKey })).status).toBe(200);
    expect(await commCounts(api)).toEqual(before);
  });

  it("creates, reads, changes and deletes template overrides", async () => {
    const created = await api.call("POST", `${base()}/message-templates`, {
      body: {
        trigger: "welcome",
        locale: "en",
        tone: "formal",
        subject: "Welcome, {{member.name}}",
        body: "{{greeting}}\n\nWelcome to {{program.name}}.\n\n{{signoff}}",
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect(id).toMatch(/^mtp_/);
    const duplicate = await expectNothingWritten(api, () =>
      api.call("POST", `${base()}/message-templates`, {
        body: { trigger: "welcome", locale: "en", tone: "formal", subject: "x", body: "y" },
      }),
    );
    expectError(duplicate, 409, "message_template_exists");

    const list = await api.call("GET", `${base()}/message-templates`);
    expect(list.body.data).toMatchObject([
      { id, trigger: "welcome", locale: "en", tone: "formal" },
    ]);
    expect(list.body.builtin).toHaveLength(20);
    expect(list.body.variables).toContain("member.name");

    const patched = await api.call("PATCH", `${base()}/message-templates/${id}`, {
      body: { subject: "Dear {{member.name}}, welcome" },
    });
    expect(patched.body).toMatchObject({ subject: "Dear {{member.name}}, welcome" });
    expect((await api.call("GET", `${base()}/message-templates/${id}`)).body.subject).toBe(
      "Dear {{member.name}}, welcome",
    );
    expectError(
      await api.call("GET", `/v1/programs/${otherProgram}/message-templates/${id}`),
      404,
      "message_template_not_found",
    );
    expect((await api.call("DELETE", `${base()}/message-templates/${id}`)).status).toBe(204);
    expectError(
      await api.call("GET", `${base()}/message-templates/${id}`),
      404,
      "message_template_not_found",
    );
    expectError(
      await api.call("DELETE", `${base()}/message-templates/${id}`),
      404,
      "message_template_not_found",
    );
  });

  it("refuses broken templates: syntax, unknown variables, unknown trigger", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        { trigger: "welcome", locale: "id", subject: "Hai", body: "{{#points}} tanpa penutup" },
        "body",
      ],
      [{ trigger: "welcome", locale: "id", subject: "Hai {{member.nama}}", body: "x" }, "subject"],
      [{ trigger: "welcome", locale: "id", subject: "Hai", body: "{{> partial}}" }, "body"],
      [{ trigger: "anniversary", locale: "id", subject: "Hai", body: "x" }, ""],
      [{ trigger: "welcome", locale: "fr", subject: "Hai", body: "x" }, ""],
      [{ trigger: "welcome", locale: "id", subject: "", body: "x" }, ""],
    ];
    for (const [body, field] of cases) {
      const response = await expectNothingWritten(api, () =>
        api.call("POST", `${base()}/message-templates`, { body }),
      );
      expectError(response, 400, "validation_failed");
      if (field) expect(response.body.error?.details).toMatchObject({ field });
    }
    const unknown = await api.call("POST", `${base()}/message-templates`, {
      body: { trigger: "welcome", locale: "id", subject: "{{saldo}}", body: "x" },
    });
    expect(unknown.body.error?.details).toMatchObject({ unknown: ["saldo"] });
  });

  it("previews with sample data, for a member, and a draft", async () => {
    const sample = await api.call("POST", `${base()}/message-templates/preview`, {
      body: { trigger: "points_expiring" },
    });
    expect(sample.status, JSON.stringify(sample.body)).toBe(200);
    expect(sample.body).toMatchObject({
      locale: "id",
      tone: "friendly",
      source: "builtin",
      subject: "25 poin Anda hangus pada 16 Maret 2026",
    });
    expect(sample.body.text).toContain("Hai Budi!");
    expect(sample.body.text).toContain("Saldo poin Anda: 1.250.");

    const memberId = await api.member(programId, { name: "Jane Doe", email: "jane@example.com" });
    await api.call("PUT", `${base()}/members/${memberId}/communication-preferences`, {
      body: { locale: "en" },
    });
    await api.call("POST", `${base()}/message-templates`, {
      body: {
        trigger: "birthday",
        locale: "en",
        subject: "Happy birthday, {{member.firstName}}",
        body: "{{greeting}} Enjoy {{amount}} off!",
      },
    });
    const forMember = await api.call("POST", `${base()}/message-templates/preview`, {
      body: { trigger: "birthday", memberId, tone: "formal" },
    });
    expect(forMember.body).toMatchObject({
      locale: "en",
      tone: "formal",
      source: "program",
      subject: "Happy birthday, Jane",
    });
    expect(forMember.body.text).toContain("Dear Jane Doe, Enjoy IDR 250,000 off!");
    expect(forMember.body.html).toContain("/u/"); // the unsubscribe link of a real member

    const draft = await api.call("POST", `${base()}/message-templates/preview`, {
      body: {
        trigger: "one_time_code",
        channel: "sms",
        template: { subject: "Kode", body: "Kode <b>{{code}}</b>" },
      },
    });
    expect(draft.body).toMatchObject({ source: "draft", text: "Kode <b>123456</b>" });
    expect(draft.body.html).toContain("Kode &lt;b&gt;123456&lt;/b&gt;");

    const before = await commCounts(api);
    for (const body of [
      { trigger: "welcome", template: { subject: "x", body: "{{nope}}" } },
      { trigger: "welcome", channel: "telegram" },
      { trigger: "welcome", extra: 1 },
    ]) {
      expectError(
        await api.call("POST", `${base()}/message-templates/preview`, { body }),
        400,
        "validation_failed",
      );
    }
    expectError(
      await api.call("POST", `${base()}/message-templates/preview`, {
        body: { trigger: "welcome", memberId: "mbr_00000000000000000000000000" },
      }),
      404,
      "member_not_found",
    );
    expect(await commCounts(api)).toEqual(before);
  });

  it("sets a member's language and refuses bad ones", async () => {
    const memberId = await api.member(programId);
    const url = `${base()}/members/${memberId}/communication-preferences`;
    expect((await api.call("GET", url)).body).toEqual({ locale: "id" });
    expect((await api.call("PUT", url, { body: { locale: "en" } })).body).toEqual({ locale: "en" });
    expect((await api.call("GET", url)).body).toEqual({ locale: "en" });
    const response = await expectNothingWritten(api, () =>
      api.call("PUT", url, { body: { locale: "de" } }),
    );
    expectError(response, 400, "validation_failed");
    expectError(
      await api.call(
        "PUT",
        `${base()}/members/mbr_00000000000000000000000000/communication-preferences`,
        {
          body: { locale: "en" },
        },
      ),
      404,
      "member_not_found",
    );
  });

  it("documents every route in the OpenAPI document", async () => {
    const doc = await api.call("GET", "/openapi.json", { key: null });
    const paths = Object.keys(doc.body.paths as Record<string, unknown>);
    for (const path of [
      "/v1/programs/{programId}/communication-settings",
      "/v1/programs/{programId}/message-templates",
      "/v1/programs/{programId}/message-templates/{templateId}",
      "/v1/programs/{programId}/message-templates/preview",
      "/v1/programs/{programId}/members/{memberId}/push-subscriptions",
      "/v1/programs/{programId}/members/{memberId}/messages",
      "/v1/programs/{programId}/messages",
      "/inbound/programs/{programId}/messages",
      "/u/{token}",
    ]) {
      expect(paths).toContain(path);
    }
  });
});
