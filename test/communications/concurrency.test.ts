import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommunicationsOnce } from "../../src/modules/communications/index.ts";
import { createTestApi, onPostgres, type TestApi } from "../harness.ts";
import { startSmtp } from "./support.ts";

describe.runIf(onPostgres)("message workers in several processes at once", () => {
  let api: TestApi;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let programId: string;

  beforeAll(async () => {
    api = await createTestApi();
    smtp = await startSmtp();
    api.ctx.communications = { smtpUrl: smtp.url };
    programId = await api.program({ name: "Toko Ramai" });
    await api.call("PATCH", `/v1/programs/${programId}/communication-settings`, {
      body: { channels: ["email"], marketingMessagesPerDayMax: 1 },
    });
  });
  afterAll(async () => {
    await api.close();
    await smtp.close();
  });

  it("sends every queued message exactly once, and caps marketing across workers", async () => {
    const memberCount = 60;
    const members: string[] = [];
    for (let i = 0; i < memberCount; i++) {
      members.push(
        await api.member(programId, {
          email: `m${i}@example.com`,
          birthday: "1990-03-02",
          consents: { terms: true, marketing: { email: true } },
        }),
      );
    }
    // Welcome (service) and birthday (marketing) for each member; four workers race for them.
    // Each worker's outbox consumer waits out gaps as in production (commits may be in flight).
    const reports = await Promise.all([0, 1, 2, 3].map(() => runCommunicationsOnce(api.ctx)));
    // A worker that lost the race for the cursor or the scans may leave work for a later pass.
    await runCommunicationsOnce(api.ctx);
    const sentByWorkers = reports.reduce((sum, report) => sum + report.messages.sent, 0);
    expect(sentByWorkers).toBeLessThanOrEqual(smtp.mails.length);

    const recipients = smtp.mails.map((mail) => JSON.stringify(mail.to));
    const subjects = smtp.mails.map((mail) => `${JSON.stringify(mail.to)} ${mail.subject}`);
    expect(new Set(subjects).size).toBe(subjects.length); // no message twice
    expect(recipients).toHaveLength(memberCount * 2);
    const states = await api.ctx.db.kysely
      .selectFrom("comm_messages")
      .select(["trigger", "state"])
      .where("program_id", "=", programId)
      .execute();
    expect(states.filter((row) => row.state !== "sent")).toEqual([]);
    expect(states.filter((row) => row.trigger === "birthday")).toHaveLength(memberCount);
  });

  it("lets only one of several workers pass the daily cap for a member", async () => {
    const memberId = await api.member(programId, {
      email: "capped@example.com",
      consents: { terms: true, marketing: { email: true } },
    });
    await runCommunicationsOnce(api.ctx); // the welcome
    // Three marketing messages due at once for one member (cap 1), raced by four workers.
    await api.ctx.db.kysely
      .insertInto("comm_messages")
      .values(
        ["a", "b", "c"].map((key, index) => ({
          id: `cms_01kcap0000000000000000000${index}`,
          program_id: programId,
          member_id: memberId,
          trigger: "winback",
          channel: "email" as const,
          category: "marketing" as const,
          state: "queued" as const,
          reason: null,
          variables: JSON.stringify({ days: 100 }),
          secret: null,
          dedupe_key: `race:${key}`,
          next_attempt_at: api.clock.now(),
          created_at: api.clock.now(),
          updated_at: api.clock.now(),
        })),
      )
      .execute();
    await Promise.all([0, 1, 2, 3].map(() => runCommunicationsOnce(api.ctx)));
    const rows = await api.ctx.db.kysely
      .selectFrom("comm_messages")
      .select(["state", "reason"])
      .where("member_id", "=", memberId)
      .where("trigger", "=", "winback")
      .execute();
    expect(rows.filter((row) => row.state === "sent")).toHaveLength(1);
    expect(rows.filter((row) => row.reason === "frequency_cap")).toHaveLength(2);
  });
});
