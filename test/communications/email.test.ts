import type { ParsedMail } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { commCounts, messagesOf, runMessages, startSmtp } from "./support.ts";

describe("email over a real SMTP server", () => {
  let api: TestApi;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let programId: string;
  let receipt = 0;

  beforeAll(async () => {
    api = await createTestApi();
    smtp = await startSmtp();
    api.ctx.communications = {
      smtpUrl: smtp.url,
      emailFrom: "Setia <no-reply@setia.test>",
      publicUrl: "https://loyalty.example",
    };
    programId = await api.program({ name: "Toko Maju" });
    const settings = await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { channels: ["email"], senderEmail: "halo@tokomaju.test" },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  });
  afterAll(async () => {
    await api.close();
    await smtp.close();
  });

  const mailsTo = (address: string) =>
    smtp.mails.filter((mail) => mail.to && JSON.stringify(mail.to).includes(address));

  async function member(email: string, fields: Record<string, unknown> = {}) {
    return api.member(programId, {
      email,
      consents: { terms: true, marketing: { email: true } },
      ...fields,
    });
  }

  async function buy(memberId: string, total = "250000") {
    receipt++;
    const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
      body: purchase(`R-${receipt}`, {
        member: { id: memberId },
        total,
        occurredAt: api.clock.now().toISOString(),
      }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
  }

  const earned = (mail: ParsedMail) => /25 (poin|points)/.test(mail.subject ?? "");

  it("sends the points-earned email in each member's language, HTML-escaped", async () => {
    const budi = await member("budi@example.com", { name: "<i>Budi</i> Santoso" });
    const jane = await member("jane@example.com", { name: "Jane Doe" });
    const prefs = await api.call(
      "PUT",
      `/v1/programs/${programId}/members/${jane}/communication-preferences`,
      { body: { locale: "en" } },
    );
    expect(prefs.status).toBe(200);
    await buy(budi);
    await buy(jane);
    const report = await runMessages(api);
    expect(report.messages.sent).toBe(4); // a welcome and a points-earned email each

    const [id] = mailsTo("budi@example.com").filter(earned);
    expect(id?.subject).toBe("Anda mendapat 25 poin");
    expect(id?.text).toContain("Hai <i>Budi</i>!");
    expect(id?.text).toContain("Saldo poin Anda sekarang 25.");
    expect(id?.html).toContain("Hai &lt;i&gt;Budi&lt;/i&gt;!");
    expect(id?.html).not.toContain("<i>Budi");
    expect(id?.from?.value[0]).toEqual({ name: "Toko Maju", address: "halo@tokomaju.test" });
    expect(id?.headerLines.find((h) => h.key === "list-unsubscribe")?.line).toMatch(
      /^List-Unsubscribe:\s+<https:\/\/loyalty\.example\/u\/.+>$/,
    );
    expect(id?.text).toMatch(/Berhenti berlangganan email: https:\/\/loyalty\.example\/u\//);

    const [en] = mailsTo("jane@example.com").filter(earned);
    expect(en?.subject).toBe("You earned 25 points");
    expect(en?.text).toContain("Hi Jane!");
    expect(en?.text).toContain("Your balance is now 25 points.");
    expect(mailsTo("jane@example.com").map((mail) => mail.subject)).toContain(
      "Welcome to Toko Maju",
    );

    const log = await messagesOf(api, programId, budi, "&trigger=points_earned");
    expect(log).toMatchObject([
      {
        channel: "email",
        state: "sent",
        reason: null,
        attempts: 1,
        subject: "Anda mendapat 25 poin",
      },
    ]);
  });

  it("sends nothing to a member without email consent and logs why", async () => {
    const silent = await api.member(programId, {
      email: "silent@example.com",
      consents: { terms: true, marketing: { email: false, sms: true } },
    });
    await buy(silent);
    const report = await runMessages(api);
    expect(report.messages.sent).toBe(0);
    expect(mailsTo("silent@example.com")).toEqual([]);
    const log = await messagesOf(api, programId, silent);
    expect(log.map((m) => [m.trigger, m.state, m.reason])).toEqual([
      ["points_earned", "suppressed", "no_consent"],
      ["welcome", "suppressed", "no_consent"],
    ]);
  });

  it("defers messages in quiet hours to their end, then sends them", async () => {
    const night = await member("night@example.com");
    await runMessages(api); // the welcome goes out by day
    api.clock.set("2026-03-02T15:30:00Z"); // 22:30 in Jakarta: quiet hours 21:00–08:00
    await buy(night);
    const deferred = await runMessages(api);
    expect(deferred.messages).toMatchObject({ sent: 0, deferred: 1 });
    expect(await messagesOf(api, programId, night, "&trigger=points_earned")).toMatchObject([
      { state: "deferred", reason: "quiet_hours", nextAttemptAt: "2026-03-03T01:00:00.000Z" },
    ]);
    expect(mailsTo("night@example.com").filter(earned)).toEqual([]);

    api.clock.set("2026-03-03T00:59:00Z");
    expect((await runMessages(api)).messages.sent).toBe(0);
    api.clock.set("2026-03-03T01:00:00Z");
    expect((await runMessages(api)).messages.sent).toBe(1);
    expect(mailsTo("night@example.com").filter(earned)).toHaveLength(1);
    expect(await messagesOf(api, programId, night, "&trigger=points_earned")).toMatchObject([
      { state: "sent", reason: null },
    ]);
  });

  it("uses the program's template override, in its tone", async () => {
    const created = await api.call("POST", `/v1/programs/${programId}/message-templates`, {
      body: {
        trigger: "points_earned",
        locale: "id",
        tone: "formal",
        subject: "{{points}} poin untuk {{member.name}}",
        body: "{{greeting}}\n\nTotal poin: {{balance}}. Hangus {{expiresAt}}.\n\n{{signoff}}",
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { tone: "formal" },
    });
    const siti = await member("siti@example.com", { name: "Siti Rahma" });
    await buy(siti, "2500000");
    await runMessages(api);
    const mail = mailsTo("siti@example.com").find((m) => m.subject?.startsWith("250 poin"));
    expect(mail?.subject).toBe("250 poin untuk Siti Rahma");
    expect(mail?.text).toContain("Yth. Bapak/Ibu Siti Rahma,");
    expect(mail?.text).toContain("Total poin: 250. Hangus 3 Maret 2027.");
    expect(mail?.text).toContain("Hormat kami,\nToko Maju");
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { tone: "friendly" },
    });
  });

  it("unsubscribes through the signed link in the email, and later emails are suppressed", async () => {
    const rina = await member("rina@example.com");
    await runMessages(api);
    const [welcome] = mailsTo("rina@example.com");
    const link = /https:\/\/loyalty\.example(\/u\/\S+)/.exec(welcome?.text ?? "")?.[1];
    expect(link).toBeDefined();
    const page = await api.app.inject({ method: "GET", url: link as string });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.body).toContain("Anda tidak akan lagi menerima pesan email dari Toko Maju");
    const view = await api.call("GET", `/v1/programs/${programId}/members/${rina}`);
    expect(view.body.consents).toMatchObject({ marketing: { email: { granted: false } } });

    await buy(rina);
    await runMessages(api);
    expect(await messagesOf(api, programId, rina, "&trigger=points_earned")).toMatchObject([
      { state: "suppressed", reason: "no_consent" },
    ]);
    // One-click unsubscribe (RFC 8058) posts to the same link.
    const oneClick = await api.app.inject({ method: "POST", url: link as string });
    expect(oneClick.statusCode).toBe(200);
  });

  it("refuses a tampered unsubscribe link and changes nothing", async () => {
    const ana = await member("ana@example.com");
    await runMessages(api);
    const link = /https:\/\/loyalty\.example(\/u\/\S+)/.exec(
      mailsTo("ana@example.com")[0]?.text ?? "",
    )?.[1] as string;
    const [payload, mac] = link.slice(3).split(".") as [string, string];
    // Another member's id in the payload, with ana's signature.
    const bytes = Buffer.from(payload, "base64url");
    bytes[31] = (bytes[31] ?? 0) ^ 1;
    const forged = bytes.toString("base64url");
    const before = await commCounts(api);
    for (const token of [`${forged}.${mac}`, `${payload}.AAAA`, "garbage"]) {
      const response = await expectNothingWritten(api, () =>
        api.call("GET", `/u/${token}`, { key: null }),
      );
      expectError(response, 400, "unsubscribe_token_invalid");
    }
    expect(await commCounts(api)).toEqual(before);
    const view = await api.call("GET", `/v1/programs/${programId}/members/${ana}`);
    expect(view.body.consents).toMatchObject({ marketing: { email: { granted: true } } });
  });

  it("caps marketing messages per member per day and suppresses the rest", async () => {
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { marketingMessagesPerDayMax: 1, expiringNoticeDays: 14, winbackAfterDays: 90 },
    });
    api.clock.set("2026-03-03T03:00:00Z");
    const dewi = await member("dewi@example.com", { birthday: "1990-02-24" });
    await buy(dewi);
    await runMessages(api);
    // 12 months later (points expire after 12 months): birthday, expiring points and win-back
    // all fall on one day.
    api.clock.set("2027-02-24T03:00:00Z");
    const report = await runMessages(api);
    expect(report.scans.queued).toBeGreaterThanOrEqual(3);
    const marketing = (await messagesOf(api, programId, dewi)).filter((m) =>
      ["birthday", "points_expiring", "winback"].includes(m.trigger),
    );
    expect(marketing).toHaveLength(3);
    expect(marketing.filter((m) => m.state === "sent")).toHaveLength(1);
    expect(marketing.filter((m) => m.state === "suppressed").map((m) => m.reason)).toEqual([
      "frequency_cap",
      "frequency_cap",
    ]);
    const expiring = mailsTo("dewi@example.com").find((m) => /hangus/.test(m.subject ?? ""));
    if (expiring) expect(expiring.subject).toBe("25 poin Anda hangus pada 3 Maret 2027");

    // The next day the scans find the same lots and the same quiet spell: nothing again.
    api.clock.set("2027-02-25T03:00:00Z");
    expect((await runMessages(api)).scans.queued).toBe(0);
  });

  it("logs messages for the whole program with filters and pages", async () => {
    const first = await api.call("GET", `/v1/programs/${programId}/messages?limit=2&state=sent`);
    expect(first.status).toBe(200);
    expect(first.body.data).toHaveLength(2);
    const next = await api.call(
      "GET",
      `/v1/programs/${programId}/messages?limit=2&state=sent&cursor=${first.body.nextCursor}`,
    );
    expect(next.status).toBe(200);
    const ids = [
      ...(first.body.data as { id: string }[]),
      ...(next.body.data as { id: string }[]),
    ].map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort().reverse()).toEqual(ids);
    expectError(
      await api.call("GET", `/v1/programs/${programId}/messages?state=lost`),
      400,
      "validation_failed",
    );
    expectError(
      await api.call("GET", `/v1/programs/${programId}/messages?cursor=xyz`),
      400,
      "validation_failed",
    );
  });
});
