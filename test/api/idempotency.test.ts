import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { payloadHash } from "../../src/lib/json.ts";
import { leaseMs } from "../../src/modules/idempotency/index.ts";
import { purchaseSchema } from "../../src/modules/purchases/index.ts";
import { createTestApi, nextPhone, purchase, type TestApi } from "../harness.ts";
import { expectError, expectNothingWritten, rowCounts } from "./support.ts";

type Json = Record<string, unknown>;

describe("idempotent writes", () => {
  let api: TestApi;
  let programId: string;
  let pos: string;
  let admin: string;
  let rich: string;
  let other: string;

  const header = (key: string) => ({ "idempotency-key": key });

  /** Journal entries tied to a purchase: one earn, plus one reverse per refund that took points. */
  async function entriesOf(transactionId: string) {
    const rows = await api.ctx.db.kysely
      .selectFrom("journal_entries")
      .select("kind")
      .where("transaction_id", "=", transactionId)
      .orderBy("id")
      .execute();
    return rows.map((row) => row.kind);
  }

  async function balance(memberId: string) {
    const response = await api.call("GET", `/v1/programs/${programId}/members/${memberId}/balance`);
    return response.body;
  }

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program();
    pos = await api.key(programId, "pos");
    admin = await api.key(programId, "admin");
    rich = await api.member(programId);
    other = await api.member(programId);
    const grant = await api.call("POST", `/v1/programs/${programId}/members/${rich}/adjustments`, {
      body: { points: 1000, reason: "opening balance" },
    });
    expect(grant.status).toBe(201);
  });
  afterAll(() => api.close());

  describe.each([
    {
      name: "purchase",
      perMember: false,
      role: "pos" as const,
      url: () => `/v1/programs/${programId}/transactions`,
      body: () => purchase("IK-1", { member: { id: rich } }),
      changed: () => purchase("IK-1", { member: { id: rich }, total: "200000" }),
    },
    {
      name: "redemption",
      perMember: true,
      role: "pos" as const,
      url: () => `/v1/programs/${programId}/members/${rich}/redemptions`,
      body: () => ({ points: 7 }),
      changed: () => ({ points: 8 }),
    },
    {
      name: "enrolment",
      perMember: false,
      role: "pos" as const,
      url: () => `/v1/programs/${programId}/members`,
      body: () => ({ phone: "081277770007", consents: { terms: true } }),
      changed: () => ({ phone: "081277770008", consents: { terms: true } }),
    },
    {
      name: "hold",
      perMember: true,
      role: "pos" as const,
      url: () => `/v1/programs/${programId}/members/${rich}/holds`,
      body: () => ({ points: 11, reference: "till 3" }),
      changed: () => ({ points: 11, reference: "till 4" }),
    },
    {
      name: "adjustment",
      perMember: true,
      role: "admin" as const,
      url: () => `/v1/programs/${programId}/members/${rich}/adjustments`,
      body: () => ({ points: -3, reason: "damaged voucher" }),
      changed: () => ({ points: 3, reason: "damaged voucher" }),
    },
  ])("$name with an Idempotency-Key", ({ name, perMember, role, url, body, changed }) => {
    const key = `key-${name}`;
    const secret = () => (role === "pos" ? pos : admin);
    let first: Awaited<ReturnType<TestApi["call"]>>;

    it("writes once and replays the first response", async () => {
      const before = await rowCounts(api);
      first = await api.call("POST", url(), { key: secret(), body: body(), headers: header(key) });
      expect(first.status).toBe(201);
      expect(first.headers["idempotent-replayed"]).toBeUndefined();
      const after = await rowCounts(api);
      expect(after.outbox_events).toBeGreaterThan(before.outbox_events);
      expect(after.idempotency_keys).toBe(before.idempotency_keys + 1);

      for (let attempt = 0; attempt < 2; attempt++) {
        const replay = await expectNothingWritten(api, () =>
          api.call("POST", url(), { key: secret(), body: body(), headers: header(key) }),
        );
        expect(replay.status).toBe(first.status);
        expect(replay.body).toEqual(first.body);
        expect(replay.headers["idempotent-replayed"]).toBe("true");
      }
    });

    it("refuses the same key with another body or for another member, writing nothing", async () => {
      const response = await expectNothingWritten(api, () =>
        api.call("POST", url(), { key: secret(), body: changed(), headers: header(key) }),
      );
      expectError(response, 422, "idempotency_key_reused");
      // The request hash covers the path too, so one key cannot serve two members.
      if (perMember) {
        const elsewhere = await expectNothingWritten(api, () =>
          api.call("POST", url().replace(rich, other), {
            key: secret(),
            body: body(),
            headers: header(key),
          }),
        );
        expectError(elsewhere, 422, "idempotency_key_reused");
      }
    });

    it("scopes keys to the program: another program may use the same key", async () => {
      const second = await api.program();
      const member = await api.member(second);
      await api.call("POST", `/v1/programs/${second}/members/${member}/adjustments`, {
        body: { points: 1000, reason: "opening balance" },
      });
      const otherKey = await api.key(second, role);
      const response = await api.call(
        "POST",
        url().replace(programId, second).replace(rich, member),
        {
          key: otherKey,
          body: JSON.parse(JSON.stringify(body()).replaceAll(rich, member)),
          headers: header(key),
        },
      );
      expect(response.status).toBe(201);
      expect(response.headers["idempotent-replayed"]).toBeUndefined();
    });
  });

  it("the enrolment key is what makes a retry safe: without it the phone is taken", async () => {
    const response = await expectNothingWritten(api, () =>
      api.call("POST", `/v1/programs/${programId}/members`, {
        key: pos,
        body: { phone: "081277770007", consents: { terms: true } },
      }),
    );
    expectError(response, 409, "identifier_taken");
  });

  describe("natural keys (store + receipt number)", () => {
    it("answers a repeated purchase as a replay and earns once", async () => {
      const body = purchase("NK-1", { member: { id: other }, total: "350000" });
      const first = await api.call("POST", `/v1/programs/${programId}/transactions`, {
        key: pos,
        body,
      });
      expect(first.status).toBe(201);
      expect(first.body.replayed).toBe(false);
      expect(first.body.pointsEarned).toBe(35);
      const balanceAfterFirst = await balance(other);

      // Same content with its keys in another order is the same receipt.
      const reordered = Object.fromEntries(Object.entries(body).reverse());
      const replay = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${programId}/transactions`, { key: pos, body: reordered }),
      );
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual({ ...first.body, replayed: true });
      expect(await entriesOf(first.body.transactionId as string)).toEqual(["earn"]);
      expect(await balance(other)).toEqual(balanceAfterFirst);
    });

    it("refuses the same receipt with other content as a duplicate", async () => {
      for (const change of [{ total: "350001" }, { member: { id: rich } }, { channel: "online" }]) {
        const response = await expectNothingWritten(api, () =>
          api.call("POST", `/v1/programs/${programId}/transactions`, {
            key: pos,
            body: purchase("NK-1", { member: { id: other }, total: "350000", ...change }),
          }),
        );
        expectError(response, 409, "duplicate_transaction");
      }
    });

    it("treats the same receipt number at another store as another purchase", async () => {
      const response = await api.call("POST", `/v1/programs/${programId}/transactions`, {
        key: pos,
        body: purchase("NK-1", { storeId: "S2", member: { id: other }, total: "350000" }),
      });
      expect(response.status).toBe(201);
    });

    it("answers a repeated refund as a replay and reverses once", async () => {
      const refund = {
        externalId: "NF-1",
        transaction: { storeId: "S1", externalId: "NK-1" },
        amount: "100000",
      };
      const first = await api.call("POST", `/v1/programs/${programId}/refunds`, {
        key: pos,
        body: refund,
      });
      expect(first.status).toBe(201);
      expect(first.body.pointsReversed).toBe(10);
      const replay = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${programId}/refunds`, { key: pos, body: refund }),
      );
      expect(replay.status).toBe(200);
      expect(replay.body).toEqual({ ...first.body, replayed: true });
      const duplicate = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${programId}/refunds`, {
          key: pos,
          body: { ...refund, amount: "100001" },
        }),
      );
      expectError(duplicate, 409, "duplicate_transaction");
      const transaction = first.body.transactionId as string;
      expect(await entriesOf(transaction)).toEqual(["earn", "reverse"]);
      const view = await api.call("GET", `/v1/programs/${programId}/transactions/${transaction}`);
      expect(view.body).toMatchObject({ refunded: "100000.00", pointsReversed: 10 });
    });

    it("replays a refund sent with an Idempotency-Key with the first status", async () => {
      const refund = {
        externalId: "NF-2",
        transaction: { storeId: "S1", externalId: "NK-1" },
        amount: "50000",
      };
      const first = await api.call("POST", `/v1/programs/${programId}/refunds`, {
        key: pos,
        body: refund,
        headers: header("refund-2"),
      });
      expect(first.status).toBe(201);
      const replay = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${programId}/refunds`, {
          key: pos,
          body: refund,
          headers: header("refund-2"),
        }),
      );
      expect(replay.status).toBe(201);
      expect(replay.headers["idempotent-replayed"]).toBe("true");
      expect(replay.body).toEqual(first.body);
    });

    it("records concurrent copies of one receipt once", async () => {
      const body = purchase("NK-RACE", { member: { id: other } });
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          api.call("POST", `/v1/programs/${programId}/transactions`, { key: pos, body }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, 200, 200, 200, 200, 201]);
      const ids = new Set(responses.map((response) => response.body.transactionId));
      expect(ids.size).toBe(1);
      expect(await entriesOf([...ids][0] as string)).toEqual(["earn"]);
    });
  });

  describe("a request still in progress", () => {
    const key = "in-flight-1";
    const body = () => purchase("IP-1", { member: { id: other }, total: "120000" });
    const url = () => `/v1/programs/${programId}/transactions`;
    let leaseUntil: Date;

    it("is answered 409 idempotency_in_progress while its lease runs", async () => {
      // What another process leaves behind mid-request: a claimed key, no response yet. The
      // hash is computed as src/http/kit.ts does, over the body as validated (defaults filled).
      const now = api.clock.now();
      leaseUntil = new Date(now.getTime() + leaseMs);
      await api.ctx.db.kysely
        .insertInto("idempotency_keys")
        .values({
          scope: programId,
          key,
          request_hash: payloadHash({
            method: "POST",
            url: url(),
            body: purchaseSchema.parse(body()),
          }),
          state: "in_progress",
          lease_token: "another-process",
          lease_until: leaseUntil,
          response_status: null,
          response_body: null,
          created_at: now,
        })
        .execute();

      const response = await expectNothingWritten(api, () =>
        api.call("POST", url(), { key: pos, body: body(), headers: header(key) }),
      );
      expectError(response, 409, "idempotency_in_progress");

      api.clock.set(new Date(leaseUntil.getTime() - 1));
      const stillRunning = await expectNothingWritten(api, () =>
        api.call("POST", url(), { key: pos, body: body(), headers: header(key) }),
      );
      expectError(stillRunning, 409, "idempotency_in_progress");
    });

    it("still refuses another body for the key", async () => {
      const response = await expectNothingWritten(api, () =>
        api.call("POST", url(), {
          key: pos,
          body: purchase("IP-1", { member: { id: other }, total: "1" }),
          headers: header(key),
        }),
      );
      expectError(response, 422, "idempotency_key_reused");
    });

    it("is taken over once the lease has passed, and completes", async () => {
      api.clock.set(leaseUntil);
      const response = await api.call("POST", url(), {
        key: pos,
        body: body(),
        headers: header(key),
      });
      expect(response.status).toBe(201);
      expect(response.body.pointsEarned).toBe(12);
      expect(response.headers["idempotent-replayed"]).toBeUndefined();
      const row = await api.ctx.db.kysely
        .selectFrom("idempotency_keys")
        .selectAll()
        .where("scope", "=", programId)
        .where("key", "=", key)
        .executeTakeFirstOrThrow();
      expect(row).toMatchObject({
        state: "done",
        lease_token: null,
        lease_until: null,
        response_status: 201,
      });
      const replay = await expectNothingWritten(api, () =>
        api.call("POST", url(), { key: pos, body: body(), headers: header(key) }),
      );
      expect(replay.headers["idempotent-replayed"]).toBe("true");
      expect(replay.body).toEqual(response.body);
      expect(await entriesOf(response.body.transactionId as string)).toEqual(["earn"]);
    });

    it("lets concurrent retries write once", async () => {
      const retry = () =>
        api.call("POST", url(), {
          key: pos,
          body: purchase("IP-RACE", { member: { id: other } }),
          headers: header("race-1"),
        });
      const responses = await Promise.all(Array.from({ length: 6 }, retry));
      const fresh = responses.filter(
        (r) => r.status === 201 && r.headers["idempotent-replayed"] === undefined,
      );
      expect(fresh).toHaveLength(1);
      for (const response of responses) {
        if (response.status === 201) expect(response.body).toEqual(fresh[0]?.body);
        else expectError(response, 409, "idempotency_in_progress");
      }
      expect(await entriesOf(fresh[0]?.body.transactionId as string)).toEqual(["earn"]);
    });
  });

  describe("a failed write", () => {
    it("frees its key, so the same request can succeed later", async () => {
      const poor = await api.member(programId, { phone: nextPhone() });
      const url = `/v1/programs/${programId}/members/${poor}/redemptions`;
      const send = () =>
        api.call("POST", url, { key: pos, body: { points: 50 }, headers: header("topup-later") });
      for (let attempt = 0; attempt < 2; attempt++) {
        const refused = await expectNothingWritten(api, send);
        expectError(refused, 409, "insufficient_points");
        expect(refused.headers["idempotent-replayed"]).toBeUndefined();
      }
      const stored = await api.ctx.db.kysely
        .selectFrom("idempotency_keys")
        .select("key")
        .where("key", "=", "topup-later")
        .execute();
      expect(stored).toEqual([]);

      const topUp = await api.call(
        "POST",
        `/v1/programs/${programId}/members/${poor}/adjustments`,
        {
          key: admin,
          body: { points: 60, reason: "welcome gift" },
        },
      );
      expect(topUp.status).toBe(201);
      const spent = await send();
      expect(spent.status).toBe(201);
      expect((spent.body.balance as Json).available).toBe(10);
      const replay = await expectNothingWritten(api, send);
      expect(replay.headers["idempotent-replayed"]).toBe("true");
      expect(replay.body).toEqual(spent.body);
    });
  });
});
