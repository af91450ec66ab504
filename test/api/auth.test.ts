import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { expectError, expectNothingWritten } from "./support.ts";

type Method = "GET" | "POST" | "PATCH";

interface Program {
  id: string;
  admin: string;
  adminKeyId: string;
  pos: string;
  read: string;
  member: string;
  member2: string;
  phone: string;
  card: string;
  transaction: string;
  hold: string;
}

describe("API keys: authentication, roles and program isolation", () => {
  let api: TestApi;
  let a: Program;
  let b: Program;

  async function createKey(programId: string, role: "admin" | "pos" | "read", expiresAt?: string) {
    const response = await api.call("POST", `/v1/programs/${programId}/api-keys`, {
      body: { name: `${role} key`, role, ...(expiresAt && { expiresAt }) },
    });
    expect(response.status).toBe(201);
    const key = response.body.key as { id: string };
    return { id: key.id, secret: response.body.secret as string };
  }

  async function setUp(phone: string): Promise<Program> {
    const id = await api.program();
    const admin = await createKey(id, "admin");
    const member = await api.member(id, { phone });
    const member2 = await api.member(id);
    const card = (await api.call("GET", `/v1/programs/${id}/members/${member}`)).body
      .cardNumber as string;
    const earn = await api.call("POST", `/v1/programs/${id}/transactions`, {
      body: purchase("R-1", { member: { id: member }, total: "500000" }),
    });
    expect(earn.status).toBe(201);
    const hold = await api.call("POST", `/v1/programs/${id}/members/${member}/holds`, {
      body: { points: 5 },
    });
    expect(hold.status).toBe(201);
    return {
      id,
      admin: admin.secret,
      adminKeyId: admin.id,
      pos: await api.key(id, "pos"),
      read: await api.key(id, "read"),
      member,
      member2,
      phone,
      card,
      transaction: earn.body.transactionId as string,
      hold: hold.body.id as string,
    };
  }

  beforeAll(async () => {
    api = await createTestApi();
    a = await setUp("081211110001");
    b = await setUp("081222220002");
  });
  afterAll(() => api.close());

  describe("authentication", () => {
    const missing: [string, Record<string, string>][] = [
      ["no Authorization header", {}],
      ["Basic scheme", { authorization: "Basic dXNlcjpwYXNz" }],
      ["Bearer without a token", { authorization: "Bearer" }],
      ["Bearer with blanks only", { authorization: "Bearer   " }],
      ["two tokens", { authorization: "Bearer sk_one sk_two" }],
      ["token without a scheme", { authorization: "sk_abcdef" }],
      ["unknown key", { authorization: `Bearer sk_${"x".repeat(43)}` }],
      ["empty header", { authorization: "" }],
    ];

    it.each(missing)("%s → 401 unauthorized, nothing written", async (_name, headers) => {
      const response = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${a.id}/transactions`, {
          key: null,
          headers,
          body: purchase("U-1", { member: { id: a.member } }),
        }),
      );
      expectError(response, 401, "unauthorized");
    });

    it("refuses a missing key before looking at the body", async () => {
      const response = await api.call("POST", `/v1/programs/${a.id}/transactions`, {
        key: null,
        body: "{not json",
      });
      expectError(response, 401, "unauthorized");
    });

    it("answers reads without a key with 401 too", async () => {
      expectError(await api.call("GET", "/v1/programs", { key: null }), 401, "unauthorized");
      expectError(
        await api.call("GET", `/v1/programs/${a.id}/members/${a.member}/balance`, { key: null }),
        401,
        "unauthorized",
      );
    });

    it("accepts the scheme name in any case", async () => {
      const response = await api.call("GET", `/v1/programs/${a.id}`, {
        key: null,
        headers: { authorization: `bearer ${a.read}` },
      });
      expect(response.status).toBe(200);
    });

    it("serves the public routes without a key", async () => {
      expect((await api.call("GET", "/health", { key: null })).status).toBe(200);
      expect((await api.call("GET", "/openapi.json", { key: null })).status).toBe(200);
    });

    it("refuses a revoked key at once", async () => {
      const key = await createKey(a.id, "pos");
      expect((await api.call("GET", `/v1/programs/${a.id}`, { key: key.secret })).status).toBe(200);
      const revoke = await api.call("POST", `/v1/programs/${a.id}/api-keys/${key.id}/revoke`, {
        key: a.admin,
      });
      expect(revoke.status).toBe(200);
      expect(revoke.body.revokedAt).toBe(api.clock.now().toISOString());
      const refused = await expectNothingWritten(api, () =>
        api.call("POST", `/v1/programs/${a.id}/transactions`, {
          key: key.secret,
          body: purchase("U-2", { member: { id: a.member } }),
        }),
      );
      expectError(refused, 401, "unauthorized");
      expectError(
        await api.call("GET", `/v1/programs/${a.id}`, { key: key.secret }),
        401,
        "unauthorized",
      );
      // Revoking twice finds no active key.
      expectError(
        await api.call("POST", `/v1/programs/${a.id}/api-keys/${key.id}/revoke`, { key: a.admin }),
        404,
        "api_key_not_found",
      );
    });

    it("refuses a key from the instant it expires", async () => {
      const expiresAt = new Date(api.clock.now().getTime() + 3_600_000);
      const key = await createKey(a.id, "read", expiresAt.toISOString());
      expect((await api.call("GET", `/v1/programs/${a.id}`, { key: key.secret })).status).toBe(200);
      api.clock.set(new Date(expiresAt.getTime() - 1));
      expect((await api.call("GET", `/v1/programs/${a.id}`, { key: key.secret })).status).toBe(200);
      api.clock.set(expiresAt);
      expectError(
        await api.call("GET", `/v1/programs/${a.id}`, { key: key.secret }),
        401,
        "unauthorized",
      );
      const listed = await api.call("GET", `/v1/programs/${a.id}/api-keys`, { key: a.admin });
      const view = (listed.body.data as { id: string; expiresAt: string }[]).find(
        (item) => item.id === key.id,
      );
      expect(view?.expiresAt).toBe(expiresAt.toISOString());
    });
  });

  describe("roles", () => {
    const refusals: {
      name: string;
      role: "admin" | "pos" | "read";
      method: Method;
      path: (p: Program) => string;
      body?: (p: Program) => unknown;
    }[] = [
      {
        name: "read cannot enrol",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members`,
        body: () => ({ phone: "081233330003", consents: { terms: true } }),
      },
      {
        name: "read cannot record a purchase",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transactions`,
        body: (p) => purchase("RO-1", { member: { id: p.member } }),
      },
      {
        name: "read cannot record a batch",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transactions/batch`,
        body: (p) => ({ transactions: [purchase("RO-2", { member: { id: p.member } })] }),
      },
      {
        name: "read cannot refund",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/refunds`,
        body: () => ({
          externalId: "RF-1",
          transaction: { storeId: "S1", externalId: "R-1" },
          amount: "1000",
        }),
      },
      {
        name: "read cannot redeem",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/redemptions`,
        body: () => ({ points: 1 }),
      },
      {
        name: "read cannot hold",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/holds`,
        body: () => ({ points: 1 }),
      },
      {
        name: "read cannot confirm a hold",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/holds/${p.hold}/confirm`,
      },
      {
        name: "read cannot cancel a hold",
        role: "read",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/holds/${p.hold}/cancel`,
      },
      {
        name: "read cannot update a member",
        role: "read",
        method: "PATCH",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}`,
        body: () => ({ name: "Siti" }),
      },
      {
        name: "read cannot verify the ledger",
        role: "read",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/ledger/verify`,
      },
      {
        name: "pos cannot adjust",
        role: "pos",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/adjustments`,
        body: () => ({ points: 100, reason: "gift" }),
      },
      {
        name: "pos cannot transfer",
        role: "pos",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transfers`,
        body: (p) => ({ fromMemberId: p.member, toMemberId: p.member2, points: 1 }),
      },
      {
        name: "pos cannot create keys",
        role: "pos",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/api-keys`,
        body: () => ({ name: "mine", role: "admin" }),
      },
      {
        name: "pos cannot list keys",
        role: "pos",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/api-keys`,
      },
      {
        name: "pos cannot revoke keys",
        role: "pos",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/api-keys/${p.adminKeyId}/revoke`,
      },
      {
        name: "pos cannot block a member",
        role: "pos",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/block`,
        body: () => ({}),
      },
      {
        name: "pos cannot change the program",
        role: "pos",
        method: "PATCH",
        path: (p) => `/v1/programs/${p.id}`,
        body: () => ({ returnsWindowDays: 0 }),
      },
      {
        name: "pos cannot verify the ledger",
        role: "pos",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/ledger/verify`,
      },
      {
        name: "admin cannot create a program",
        role: "admin",
        method: "POST",
        path: () => "/v1/programs",
        body: () => ({ name: "Rogue" }),
      },
      {
        name: "pos cannot create a program",
        role: "pos",
        method: "POST",
        path: () => "/v1/programs",
        body: () => ({ name: "Rogue" }),
      },
      {
        name: "read cannot create a program",
        role: "read",
        method: "POST",
        path: () => "/v1/programs",
        body: () => ({ name: "Rogue" }),
      },
    ];

    it.each(refusals)("$name → 403 forbidden", async ({ role, method, path, body }) => {
      const response = await expectNothingWritten(api, () =>
        api.call(method, path(a), { key: a[role], ...(body && { body: body(a) }) }),
      );
      expectError(response, 403, "forbidden");
    });

    it("checks the role before validating the body", async () => {
      const response = await api.call("POST", `/v1/programs/${a.id}/members`, {
        key: a.read,
        body: { nonsense: true },
      });
      expectError(response, 403, "forbidden");
    });

    it("lets each role do what it is for", async () => {
      const read = await api.call("GET", `/v1/programs/${a.id}/members/${a.member}/balance`, {
        key: a.read,
      });
      expect(read.status).toBe(200);
      const sale = await api.call("POST", `/v1/programs/${a.id}/transactions`, {
        key: a.pos,
        body: purchase("OK-1", { member: { id: a.member } }),
      });
      expect(sale.status).toBe(201);
      const adjust = await api.call(
        "POST",
        `/v1/programs/${a.id}/members/${a.member}/adjustments`,
        {
          key: a.admin,
          body: { points: 3, reason: "goodwill" },
        },
      );
      expect(adjust.status).toBe(201);
      const key = await api.call("POST", `/v1/programs/${a.id}/api-keys`, {
        key: a.admin,
        body: { name: "second till", role: "pos" },
      });
      expect(key.status).toBe(201);
      const program = await api.call("POST", "/v1/programs", { body: { name: "By the owner" } });
      expect(program.status).toBe(201);
    });
  });

  describe("a key of program A never reaches program B", () => {
    const routes: {
      name: string;
      method: Method;
      path: (p: Program) => string;
      body?: (p: Program) => unknown;
    }[] = [
      { name: "read the program", method: "GET", path: (p) => `/v1/programs/${p.id}` },
      {
        name: "change the program",
        method: "PATCH",
        path: (p) => `/v1/programs/${p.id}`,
        body: () => ({ name: "Taken" }),
      },
      { name: "list keys", method: "GET", path: (p) => `/v1/programs/${p.id}/api-keys` },
      {
        name: "create a key",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/api-keys`,
        body: () => ({ name: "spy", role: "admin" }),
      },
      {
        name: "revoke a key",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/api-keys/${p.adminKeyId}/revoke`,
      },
      { name: "list members", method: "GET", path: (p) => `/v1/programs/${p.id}/members` },
      {
        name: "enrol a member",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members`,
        body: () => ({ phone: "081244440004", consents: { terms: true } }),
      },
      {
        name: "read a member",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}`,
      },
      {
        name: "update a member",
        method: "PATCH",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}`,
        body: () => ({ name: "Taken" }),
      },
      {
        name: "block a member",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/block`,
        body: () => ({}),
      },
      {
        name: "unblock a member",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/unblock`,
        body: () => ({}),
      },
      {
        name: "look up by phone",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/lookup?phone=${p.phone}`,
      },
      {
        name: "look up by card",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/lookup?card=${p.card}`,
      },
      {
        name: "read a balance",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/balance`,
      },
      {
        name: "read a history",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/history`,
      },
      {
        name: "read expiring points",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/expiring`,
      },
      {
        name: "list transactions",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/transactions`,
      },
      {
        name: "read a transaction",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/transactions/${p.transaction}`,
      },
      {
        name: "record a purchase",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transactions`,
        body: (p) => purchase("X-1", { member: { id: p.member } }),
      },
      {
        name: "record a batch",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transactions/batch`,
        body: (p) => ({ transactions: [purchase("X-2", { member: { id: p.member } })] }),
      },
      {
        name: "refund",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/refunds`,
        body: () => ({
          externalId: "XF-1",
          transaction: { storeId: "S1", externalId: "R-1" },
          amount: "500000",
        }),
      },
      {
        name: "redeem",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/redemptions`,
        body: () => ({ points: 1 }),
      },
      {
        name: "adjust",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/adjustments`,
        body: () => ({ points: -1, reason: "theft" }),
      },
      {
        name: "transfer",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/transfers`,
        body: (p) => ({ fromMemberId: p.member, toMemberId: p.member2, points: 1 }),
      },
      {
        name: "create a hold",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/members/${p.member}/holds`,
        body: () => ({ points: 1 }),
      },
      { name: "read a hold", method: "GET", path: (p) => `/v1/programs/${p.id}/holds/${p.hold}` },
      {
        name: "confirm a hold",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/holds/${p.hold}/confirm`,
      },
      {
        name: "cancel a hold",
        method: "POST",
        path: (p) => `/v1/programs/${p.id}/holds/${p.hold}/cancel`,
      },
      { name: "read events", method: "GET", path: (p) => `/v1/programs/${p.id}/events` },
      {
        name: "read the ledger summary",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/ledger/summary`,
      },
      {
        name: "verify the ledger",
        method: "GET",
        path: (p) => `/v1/programs/${p.id}/ledger/verify`,
      },
    ];

    for (const role of ["admin", "pos", "read"] as const) {
      it.each(routes)(`${role} key of A: $name of B → 403`, async ({ method, path, body }) => {
        const response = await expectNothingWritten(api, () =>
          api.call(method, path(b), { key: a[role], ...(body && { body: body(b) }) }),
        );
        expectError(response, 403, "forbidden");
        expect(JSON.stringify(response.body)).not.toContain(b.member);
      });
    }

    it("lists only its own program", async () => {
      const response = await api.call("GET", "/v1/programs", { key: a.read });
      expect(response.status).toBe(200);
      expect((response.body.data as { id: string }[]).map((p) => p.id)).toEqual([a.id]);
    });

    it("cannot reach B's rows through A's own routes", async () => {
      // The route is A's, so the key passes; every B row must then look missing.
      const attempts: [Method, string, unknown, number, string][] = [
        ["GET", `/v1/programs/${a.id}/members/${b.member}`, undefined, 404, "member_not_found"],
        [
          "GET",
          `/v1/programs/${a.id}/members/lookup?card=${b.card}`,
          undefined,
          404,
          "member_not_found",
        ],
        [
          "GET",
          `/v1/programs/${a.id}/members/lookup?phone=${b.phone}`,
          undefined,
          404,
          "member_not_found",
        ],
        [
          "GET",
          `/v1/programs/${a.id}/members/${b.member}/balance`,
          undefined,
          404,
          "member_not_found",
        ],
        [
          "GET",
          `/v1/programs/${a.id}/members/${b.member}/history`,
          undefined,
          404,
          "member_not_found",
        ],
        [
          "GET",
          `/v1/programs/${a.id}/members/${b.member}/expiring`,
          undefined,
          404,
          "member_not_found",
        ],
        [
          "GET",
          `/v1/programs/${a.id}/transactions/${b.transaction}`,
          undefined,
          404,
          "transaction_not_found",
        ],
        ["GET", `/v1/programs/${a.id}/holds/${b.hold}`, undefined, 404, "hold_not_found"],
        ["POST", `/v1/programs/${a.id}/holds/${b.hold}/confirm`, undefined, 404, "hold_not_found"],
        ["POST", `/v1/programs/${a.id}/holds/${b.hold}/cancel`, undefined, 404, "hold_not_found"],
        [
          "POST",
          `/v1/programs/${a.id}/api-keys/${b.adminKeyId}/revoke`,
          undefined,
          404,
          "api_key_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/members/${b.member}/redemptions`,
          { points: 1 },
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/members/${b.member}/adjustments`,
          { points: -1, reason: "theft" },
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/members/${b.member}/holds`,
          { points: 1 },
          404,
          "member_not_found",
        ],
        ["POST", `/v1/programs/${a.id}/members/${b.member}/block`, {}, 404, "member_not_found"],
        [
          "PATCH",
          `/v1/programs/${a.id}/members/${b.member}`,
          { name: "Taken" },
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/transfers`,
          { fromMemberId: b.member, toMemberId: a.member, points: 1 },
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/transfers`,
          { fromMemberId: b.member, toMemberId: b.member2, points: 1 },
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/transactions`,
          purchase("X-3", { member: { card: b.card } }),
          404,
          "member_not_found",
        ],
        [
          "POST",
          `/v1/programs/${a.id}/refunds`,
          { externalId: "XF-2", transaction: { id: b.transaction }, amount: "1000" },
          404,
          "transaction_not_found",
        ],
      ];
      for (const [method, url, body, status, code] of attempts) {
        const response = await expectNothingWritten(api, () =>
          api.call(method, url, { key: a.admin, ...(body !== undefined && { body }) }),
        );
        expectError(response, status, code);
      }
      // B's key still works and B's hold is untouched.
      const hold = await api.call("GET", `/v1/programs/${b.id}/holds/${b.hold}`, { key: b.read });
      expect(hold.body.state).toBe("active");
      expect((await api.call("GET", `/v1/programs/${b.id}`, { key: b.admin })).status).toBe(200);
    });

    it("lets the owner key reach every program", async () => {
      for (const program of [a, b]) {
        const response = await api.call("GET", `/v1/programs/${program.id}/ledger/summary`);
        expect(response.status).toBe(200);
      }
      const all = await api.call("GET", "/v1/programs");
      const ids = (all.body.data as { id: string }[]).map((p) => p.id);
      expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    });
  });

  describe("secrets", () => {
    it("returns a secret once, at creation, and never in a list, a revoke or an event", async () => {
      const created = await api.call("POST", `/v1/programs/${b.id}/api-keys`, {
        key: b.admin,
        body: { name: "audit", role: "read" },
      });
      expect(created.status).toBe(201);
      const secret = created.body.secret as string;
      expect(secret).toMatch(/^sk_[A-Za-z0-9_-]{43}$/);
      const keyId = (created.body.key as { id: string }).id;
      const secrets = [secret, b.admin, b.pos, b.read, a.admin, api.ownerKey];

      const listed = await api.call("GET", `/v1/programs/${b.id}/api-keys`, { key: b.admin });
      expect(listed.status).toBe(200);
      const data = listed.body.data as Record<string, unknown>[];
      expect(data.length).toBeGreaterThanOrEqual(4);
      for (const item of data) {
        expect(Object.keys(item).sort()).toEqual(
          ["createdAt", "expiresAt", "id", "name", "programId", "revokedAt", "role"].sort(),
        );
        expect(item.programId).toBe(b.id);
      }
      const revoked = await api.call("POST", `/v1/programs/${b.id}/api-keys/${keyId}/revoke`, {
        key: b.admin,
      });
      const events = await api.call("GET", `/v1/programs/${b.id}/events?limit=200`, {
        key: b.admin,
      });
      for (const text of [listed, revoked, events].map((r) => JSON.stringify(r.body))) {
        expect(text).not.toMatch(/sk_|secret/i);
        for (const value of secrets) expect(text).not.toContain(value);
      }
      // Stored as a hash only.
      const rows = await api.ctx.db.kysely.selectFrom("api_keys").select("secret_hash").execute();
      for (const row of rows) {
        expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
        expect(secrets).not.toContain(row.secret_hash);
      }
    });
  });
});
