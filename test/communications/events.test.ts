import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runJobsOnce } from "../../src/jobs/index.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { runMessages, startSmtp } from "./support.ts";

/** Triggers fed by other modules' events: rewards, tiers, the returns window. */
describe("event triggers from other modules", () => {
  let api: TestApi;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  let programId: string;
  let base: string;

  beforeAll(async () => {
    api = await createTestApi();
    smtp = await startSmtp();
    api.ctx.communications = { smtpUrl: smtp.url };
    programId = await api.program({ name: "Toko Maju", returnsWindowDays: 7 });
    base = `/v1/programs/${programId}`;
    await api.call("PATCH", `${base}/communication-settings`, {
      body: { channels: ["email"], disabledTriggers: ["welcome"] },
    });
  });
  afterAll(async () => {
    await api.close();
    await smtp.close();
  });

  const subjectsTo = (address: string) =>
    smtp.mails.filter((mail) => JSON.stringify(mail.to).includes(address)).map((m) => m.subject);

  async function member(email: string, locale: "id" | "en" = "id") {
    const id = await api.member(programId, {
      email,
      consents: { terms: true, marketing: { email: true } },
    });
    await api.call("PUT", `${base}/members/${id}/communication-preferences`, { body: { locale } });
    return id;
  }

  it("tells a member about a redeemed reward, by its name in their language", async () => {
    const budi = await member("budi@example.com");
    const jane = await member("jane@example.com", "en");
    const reward = await api.call("POST", `${base}/rewards`, {
      body: {
        type: "discount_amount",
        benefit: { amount: "25000.00" },
        pointsCost: 100,
        texts: { id: { name: "Diskon Rp 25.000" }, en: { name: "Rp 25,000 off" } },
      },
    });
    expect(reward.status, JSON.stringify(reward.body)).toBe(201);
    for (const memberId of [budi, jane]) {
      const granted = await api.call("POST", `${base}/members/${memberId}/adjustments`, {
        body: { points: 300, reason: "test grant" },
      });
      expect(granted.status).toBe(201);
      const redeemed = await api.call("POST", `${base}/rewards/${reward.body.id}/redemptions`, {
        body: { memberId },
      });
      expect(redeemed.status, JSON.stringify(redeemed.body)).toBe(201);
    }
    await runMessages(api);
    expect(subjectsTo("budi@example.com")).toEqual(["Penukaran berhasil: Diskon Rp 25.000"]);
    expect(subjectsTo("jane@example.com")).toEqual(["Redeemed: Rp 25,000 off"]);
    const [mail] = smtp.mails.filter((m) => JSON.stringify(m.to).includes("budi@"));
    expect(mail?.text).toContain(
      "Anda menukar 100 poin dengan Diskon Rp 25.000. Sisa saldo poin Anda: 200.",
    );
  });

  it("congratulates a member on a higher tier, by the tier's name", async () => {
    const siti = await member("siti@example.com");
    const ladder = await api.call("PUT", `${base}/tier-ladder`, {
      body: {
        qualification: { metric: "points_earned", window: { kind: "calendar_year" } },
        tiers: [
          { code: "silver", rank: 1, names: { id: "Perak", en: "Silver" }, threshold: 1000 },
          { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 5000 },
        ],
      },
    });
    expect(ladder.status, JSON.stringify(ladder.body)).toBeLessThan(300);
    const set = await api.call("POST", `${base}/members/${siti}/tier`, {
      body: { tierCode: "gold", reason: "test" },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    await runMessages(api);
    expect(subjectsTo("siti@example.com")).toEqual(["Selamat, Anda naik ke Emas"]);
  });

  it("says when pending points are recorded and again when they can be used", async () => {
    const ani = await member("ani@example.com");
    const bought = await api.call("POST", `${base}/transactions`, {
      body: purchase("R-1", {
        member: { id: ani },
        total: "250000",
        occurredAt: api.clock.now().toISOString(),
      }),
    });
    expect(bought.status).toBe(201);
    await runMessages(api);
    const [pending] = smtp.mails.filter((m) => JSON.stringify(m.to).includes("ani@"));
    expect(pending?.subject).toBe("Anda mendapat 25 poin");
    expect(pending?.text).toContain(
      "25 poin dari belanja Anda sudah tercatat dan bisa dipakai mulai 9 Maret 2026.",
    );

    api.clock.advanceDays(8);
    await runJobsOnce(api.ctx); // releases the points; its own message pass may send too
    await runMessages(api);
    expect(subjectsTo("ani@example.com")).toEqual([
      "Anda mendapat 25 poin",
      "25 poin Anda sudah bisa dipakai",
    ]);
  });
});
