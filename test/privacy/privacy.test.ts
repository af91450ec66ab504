import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainPending, verifyAudit } from "../../src/modules/audit/index.ts";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import { findAnywhere, rowsMentioning } from "./support.ts";

type Json = Record<string, unknown>;

// Siti's data in every spelling a search for it should try.
const siti = {
  phoneTyped: "0813-1122-3344",
  email: "Siti.Rahayu@Example.com",
  name: "Siti Rahayu Kusumawati",
  birthday: "1991-07-23",
};
const sitiNeedles = [
  "+6281311223344",
  "6281311223344",
  "081311223344",
  "0813-1122-3344",
  "0813 1122 3344",
  "+62 813-1122-3344",
  "81311223344",
  "siti.rahayu@example.com",
  "Siti Rahayu Kusumawati",
  "Kusumawati",
  "1991-07-23",
];

describe("members' personal data: encryption, export, erasure", () => {
  let api: TestApi;
  let programId: string;
  let otherProgramId: string;
  let adminKey: string;
  let posKey: string;
  let readKey: string;
  let otherAdminKey: string;
  let sitiId: string;
  let sitiCard: string;
  const base = () => `/v1/programs/${programId}`;

  async function ok(
    method: "GET" | "POST" | "PATCH",
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Json> {
    const response = await api.call(method, url, {
      ...(body !== undefined && { body }),
      ...(headers && { headers }),
    });
    expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
    return response.body;
  }

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program({ returnsWindowDays: 0 });
    otherProgramId = await api.program({ name: "Toko Lain" });
    adminKey = await api.key(programId, "admin");
    posKey = await api.key(programId, "pos");
    readKey = await api.key(programId, "read");
    otherAdminKey = await api.key(otherProgramId, "admin");
    const enrolled = await ok(
      "POST",
      `${base()}/members`,
      {
        phone: siti.phoneTyped,
        email: siti.email,
        name: siti.name,
        birthday: siti.birthday,
        tags: ["arisan"],
        deviceFingerprint: "fp-siti-phone",
        city: "Bandung",
        gender: "female",
        consents: { terms: true, marketing: { whatsapp: true } },
      },
      { "idempotency-key": "enrol-siti" },
    );
    sitiId = enrolled.id as string;
    sitiCard = enrolled.cardNumber as string;
    // A history in every table the foundation has: purchases by phone and card, a refund,
    // a redemption, an adjustment and a hold whose reference (operator text that is not part of
    // the hash-chained books) spells her email.
    await ok(
      "POST",
      `${base()}/transactions`,
      purchase("R-1", { member: { phone: "+62 813 1122 3344" }, total: "500000" }),
    );
    await ok(
      "POST",
      `${base()}/transactions`,
      purchase("R-2", {
        member: { card: sitiCard },
        total: "200000",
        lines: [{ sku: "BERAS", quantity: 1, unitPrice: "200000" }],
      }),
    );
    await ok("POST", `${base()}/refunds`, {
      externalId: "RF-1",
      transaction: { storeId: "S1", externalId: "R-2" },
      amount: "100000",
    });
    await ok("POST", `${base()}/members/${sitiId}/redemptions`, { points: 5, reason: "voucher" });
    await ok("POST", `${base()}/members/${sitiId}/adjustments`, { points: 7, reason: "goodwill" });
    const hold = await api.call("POST", `${base()}/members/${sitiId}/holds`, {
      key: posKey,
      body: { points: 3, reference: `order of ${siti.email}` },
    });
    expect(hold.status, JSON.stringify(hold.body)).toBe(201);
    await ok(
      "PATCH",
      `${base()}/members/${sitiId}`,
      { city: "Bogor" },
      { "idempotency-key": "update-siti" },
    );
  });
  afterAll(() => api.close());

  it("stores phone, email, name and birthday only as ciphertext", async () => {
    const raw = await sql<{ row: Json; text: string }>`
      select row_to_json(m) as row, row_to_json(m)::text as text from members m
      where id = ${sitiId}`.execute(api.ctx.db.kysely);
    const row = raw.rows[0];
    expect(row).toBeDefined();
    for (const needle of sitiNeedles) {
      expect(row?.text.toLowerCase()).not.toContain(needle.toLowerCase());
    }
    for (const column of ["phone_enc", "email_enc", "name_enc", "birthday_enc"]) {
      expect(row?.row[column]).toMatch(/^test1:[A-Za-z0-9+/]+=*$/);
    }
    expect(row?.row.data_key_id).toBe("test1");
    expect(row?.row.phone_bidx).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The API still answers the clear values.
    const member = await ok("GET", `${base()}/members/${sitiId}`);
    expect(member).toMatchObject({
      phone: "+6281311223344",
      email: "siti.rahayu@example.com",
      name: siti.name,
      birthday: siti.birthday,
      city: "Bogor",
      status: "active",
    });
  });

  it("looks members up by phone in any format and by email, through blind indexes", async () => {
    for (const phone of ["081311223344", "6281311223344", "+62 813-1122-3344"]) {
      const found = await ok("GET", `${base()}/members/lookup?phone=${encodeURIComponent(phone)}`);
      expect(found.id).toBe(sitiId);
    }
    const byEmail = await ok("GET", `${base()}/members/lookup?email=SITI.RAHAYU%40example.com`);
    expect(byEmail.id).toBe(sitiId);
    expectError(
      await api.call("GET", `${base()}/members/lookup?phone=081311223345`),
      404,
      "member_not_found",
    );
    // The blind index is per program: the same phone is unknown in another program.
    expectError(
      await api.call("GET", `/v1/programs/${otherProgramId}/members/lookup?phone=081311223344`),
      404,
      "member_not_found",
    );
  });

  it("keeps phone and email unique per program, and free across programs", async () => {
    await expectNothingWritten(api, async () => {
      for (const body of [
        { phone: "+6281311223344", consents: { terms: true } },
        { phone: nextPhone(), email: "SITI.rahayu@example.COM", consents: { terms: true } },
      ]) {
        expectError(await api.call("POST", `${base()}/members`, { body }), 409, "identifier_taken");
      }
    });
    const other = await ok("POST", `/v1/programs/${otherProgramId}/members`, {
      phone: siti.phoneTyped,
      email: siti.email,
      consents: { terms: true },
    });
    expect(other.id).not.toBe(sitiId);
    // Changing a phone moves its index: the new number finds the member, the old one does not.
    const member = await api.member(programId);
    const phone = nextPhone();
    await ok("PATCH", `${base()}/members/${member}`, { phone });
    expect((await ok("GET", `${base()}/members/lookup?phone=${phone}`)).id).toBe(member);
    expectError(
      await api.call("PATCH", `${base()}/members/${member}`, { body: { phone: siti.phoneTyped } }),
      409,
      "identifier_taken",
    );
  });

  it("exports everything the platform holds about the member", async () => {
    const response = await api.call("GET", `${base()}/members/${sitiId}/export`, {
      key: adminKey,
    });
    expect(response.status).toBe(200);
    expect(response.headers["content-disposition"]).toBe(`attachment; filename="${sitiId}.json"`);
    const document = response.body as {
      format: string;
      memberId: string;
      sections: Record<string, Record<string, unknown>>;
    };
    expect(document.format).toBe("setia.member-export/1");
    const sections = document.sections;
    expect(sections.profile?.member).toMatchObject({ id: sitiId, name: siti.name });
    expect(sections.ledger?.balance).toBeDefined();
    expect(sections.purchases?.transactions).toHaveLength(2);
    expect(sections.purchases?.refunds).toHaveLength(1);
    expect(sections.ledger?.holds).toHaveLength(1);
    const exported = JSON.stringify(document);
    // Every row of every table that mentions the member is in the export, found by an id or a
    // value of its own. Stored idempotent responses are copies of other rows, not exported.
    const skipped = new Set(["idempotency_keys"]);
    const mentions = await rowsMentioning(api.ctx.db, sitiId);
    expect([...mentions.keys()]).toEqual(expect.arrayContaining(["members", "transactions"]));
    for (const [table, rows] of mentions) {
      if (skipped.has(table)) continue;
      for (const row of rows) {
        // The row's own identifying values: ids, codes and hashes, not timestamps.
        const own = Object.values(row).filter(
          (value): value is string =>
            typeof value === "string" &&
            value !== sitiId &&
            value !== programId &&
            value.length >= 8 &&
            !/^\d{4}-\d\d-\d\dT/.test(value),
        );
        if (table === "member_balances") {
          expect(sections.ledger?.balance).toBeDefined();
          continue;
        }
        if (table === "members") continue;
        expect(
          own.some((value) => exported.includes(value)),
          `${table} row ${JSON.stringify(row)} is missing from the export`,
        ).toBe(true);
      }
    }
  });

  it("refuses export and erasure to other roles and other programs", async () => {
    await expectNothingWritten(api, async () => {
      for (const key of [posKey, readKey]) {
        expectError(
          await api.call("GET", `${base()}/members/${sitiId}/export`, { key }),
          403,
          "forbidden",
        );
        expectError(
          await api.call("POST", `${base()}/members/${sitiId}/erase`, {
            key,
            body: { reason: "ticket 1" },
          }),
          403,
          "forbidden",
        );
      }
      expectError(
        await api.call("GET", `${base()}/members/${sitiId}/export`, { key: otherAdminKey }),
        403,
        "forbidden",
      );
      expectError(
        await api.call("GET", `${base()}/members/${sitiId}/export`, { key: null }),
        401,
        "unauthorized",
      );
      // Through the other program's path, the member does not exist.
      for (const [method, suffix] of [
        ["GET", "export"],
        ["POST", "erase"],
      ] as const) {
        expectError(
          await api.call(method, `/v1/programs/${otherProgramId}/members/${sitiId}/${suffix}`, {
            key: otherAdminKey,
            ...(method === "POST" && { body: { reason: "ticket 1" } }),
          }),
          404,
          "member_not_found",
        );
      }
    });
  });

  it("refuses bad erasure requests and changes nothing", async () => {
    await expectNothingWritten(api, async () => {
      for (const body of [
        undefined,
        {},
        { reason: "" },
        { reason: "x".repeat(501) },
        { reason: 1 },
      ]) {
        expectError(
          await api.call("POST", `${base()}/members/${sitiId}/erase`, {
            ...(body !== undefined && { body }),
          }),
          400,
          "validation_failed",
        );
      }
      expectError(
        await api.call("POST", `${base()}/members/${sitiId}/erase`, {
          body: { reason: "ticket", extra: true },
        }),
        400,
        "validation_failed",
      );
      expectError(
        await api.call("POST", `${base()}/members/mbr_01jzzzzzzzzzzzzzzzzzzzzzzz/erase`, {
          body: { reason: "ticket" },
        }),
        404,
        "member_not_found",
      );
      expectError(
        await api.call("GET", `${base()}/members/mbr_01jzzzzzzzzzzzzzzzzzzzzzzz/export`),
        404,
        "member_not_found",
      );
    });
    expect((await ok("GET", `${base()}/members/${sitiId}`)).status).toBe("active");
  });

  it("erases the member's personal data everywhere while the ledger stays correct", async () => {
    const before = await ok("GET", `${base()}/members/${sitiId}/balance`);
    expect(await findAnywhere(api.ctx.db, sitiNeedles)).not.toEqual([]);
    const erased = await api.call("POST", `${base()}/members/${sitiId}/erase`, {
      key: adminKey,
      body: { reason: "request #4711 by e-mail" },
    });
    expect(erased.status, JSON.stringify(erased.body)).toBe(200);
    const erasure = erased.body.erasure as Json;
    expect(erasure).toMatchObject({
      memberId: sitiId,
      programId,
      reason: "request #4711 by e-mail",
      requestedBy: expect.stringMatching(/^key_/),
    });
    expect(erasure.id).toMatch(/^ers_/);
    expect(erased.body.member).toMatchObject({
      id: sitiId,
      status: "erased",
      phone: null,
      email: null,
      name: null,
      birthday: null,
      city: null,
      gender: null,
      tags: [],
    });
    expect((erased.body.member as Json).cardNumber).not.toBe(sitiCard);

    // No spelling of her data is left in any text column of any table.
    expect(await findAnywhere(api.ctx.db, sitiNeedles)).toEqual([]);

    // The books are untouched.
    expect(await ok("GET", `${base()}/members/${sitiId}/balance`)).toEqual(before);
    const verify = await ok("GET", `${base()}/ledger/verify`);
    expect(verify.ok, JSON.stringify(verify.problems)).toBe(true);
    // The tamper-evident audit chain is intact: erasure edits no chained record.
    await chainPending(api.ctx);
    const audit = await verifyAudit(api.ctx.db.kysely);
    expect(audit.ok, JSON.stringify(audit)).toBe(true);
    // Her device fingerprint is gone; her points and purchases are not.
    const devices = await api.ctx.db.kysely
      .selectFrom("referral_devices")
      .select("member_id")
      .where("member_id", "=", sitiId)
      .execute();
    expect(devices).toEqual([]);
    const history = await ok("GET", `${base()}/members/${sitiId}/history`);
    expect((history.data as unknown[]).length).toBeGreaterThan(0);

    // She can no longer be found, earn or change; an erasure does not come undone.
    for (const query of [
      "phone=081311223344",
      "email=siti.rahayu%40example.com",
      `card=${sitiCard}`,
    ]) {
      expectError(
        await api.call("GET", `${base()}/members/lookup?${query}`),
        404,
        "member_not_found",
      );
    }
    await expectNothingWritten(api, async () => {
      expectError(
        await api.call("POST", `${base()}/transactions`, {
          body: purchase("R-3", { member: { id: sitiId } }),
        }),
        409,
        "member_blocked",
      );
      expectError(
        await api.call("PATCH", `${base()}/members/${sitiId}`, { body: { name: "Siti" } }),
        409,
        "member_blocked",
      );
      expectError(
        await api.call("POST", `${base()}/members/${sitiId}/unblock`, { body: {} }),
        409,
        "member_blocked",
      );
      expectError(
        await api.call("POST", `${base()}/members/${sitiId}/redemptions`, { body: { points: 1 } }),
        409,
        "member_blocked",
      );
    });

    // Erasing again answers the first erasure and writes nothing.
    const again = await expectNothingWritten(api, () =>
      api.call("POST", `${base()}/members/${sitiId}/erase`, { body: { reason: "again" } }),
    );
    expect(again.status).toBe(200);
    expect((again.body.erasure as Json).id).toBe(erasure.id);

    const log = await ok("GET", `${base()}/erasures`);
    expect(log.data).toEqual([erasure]);
    const events = await ok("GET", `${base()}/events?limit=200`);
    const erasedEvent = (events.data as { type: string; payload: Json }[]).find(
      (event) => event.type === "member.erased",
    );
    expect(erasedEvent?.payload).toMatchObject({
      memberId: sitiId,
      erasureId: erasure.id,
      reapplied: false,
    });

    // The export of an erased member holds no personal data either.
    const exported = await ok("GET", `${base()}/members/${sitiId}/export`);
    const text = JSON.stringify(exported).toLowerCase();
    for (const needle of sitiNeedles) expect(text).not.toContain(needle.toLowerCase());

    // Her phone is free again for a new enrolment.
    const fresh = await ok("POST", `${base()}/members`, {
      phone: siti.phoneTyped,
      consents: { terms: true },
    });
    expect(fresh.id).not.toBe(sitiId);
  });
});
