import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, purchase, type TestApi } from "../harness.ts";
import { createStaff, expectRefused, type SignedIn } from "../staff/support.ts";

let api: TestApi;
let programId: string;
const base = () => `/v1/programs/${programId}`;

interface Store {
  code: string;
  name: string;
  city: string | null;
  address: string | null;
  timezone: string | null;
  channel: string;
  status: string;
  replayed?: boolean;
  figures?: {
    days: number;
    purchases: number;
    members: number;
    salesTotal: string;
    pointsIssued: number;
    lastPurchaseAt: string | null;
  };
}

beforeAll(async () => {
  api = await createTestApi();
  programId = await api.program();
});
afterAll(() => api.close());

const createStore = (body: Record<string, unknown>, headers?: Record<string, string>) =>
  api.call("POST", `${base()}/stores`, { body, ...(headers && { headers }) });

async function eventsOf(type: string) {
  const events = await api.call("GET", `${base()}/events?after=0&limit=200`);
  return (events.body.data as { type: string; payload: Record<string, unknown> }[]).filter(
    (event) => event.type === type,
  );
}

describe("stores registry", () => {
  it("registers a store by its code; the same details again are a replay, other details a conflict", async () => {
    const body = { code: "JKT-01", name: "Toko Kemang", city: "Jakarta Selatan" };
    const created = await createStore(body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      code: "JKT-01",
      name: "Toko Kemang",
      city: "Jakarta Selatan",
      address: null,
      timezone: null,
      channel: "pos",
      status: "active",
      replayed: false,
    });
    expect(await eventsOf("store.created")).toEqual([
      expect.objectContaining({
        payload: {
          storeId: "JKT-01",
          name: "Toko Kemang",
          channel: "pos",
          status: "active",
          schemaVersion: 1,
        },
      }),
    ]);

    // Defaults spelled out are the same details.
    const again = await createStore({ ...body, channel: "pos", status: "active", address: null });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ code: "JKT-01", replayed: true });

    const conflict = await expectNothingWritten(api, () =>
      createStore({ ...body, name: "Toko Lain" }),
    );
    expectError(conflict, 409, "store_exists");
    expect(conflict.body.error?.details).toEqual({ code: "JKT-01" });
    expect(await eventsOf("store.created")).toHaveLength(1);
  });

  it("takes an Idempotency-Key like every write", async () => {
    const headers = { "idempotency-key": "store-bdg-01" };
    const body = { code: "BDG-01", name: "Toko Dago", city: "Bandung", channel: "pos" };
    const first = await createStore(body, headers);
    expect(first.status).toBe(201);
    const replay = await createStore(body, headers);
    expect(replay.status).toBe(201);
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.body).toEqual(first.body);
    expectError(
      await createStore({ ...body, name: "Toko Dago Atas" }, headers),
      422,
      "idempotency_key_reused",
    );
  });

  it("refuses bad input with stable codes and paths, writing nothing", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: "Tanpa kode" }, "body.code"],
      [{ code: "  ", name: "Kosong" }, "body.code"],
      [{ code: "x".repeat(65), name: "Panjang" }, "body.code"],
      [{ code: "SBY-01" }, "body.name"],
      [{ code: "SBY-01", name: "Toko", timezone: "Asia/Surabaya" }, "body.timezone"],
      [{ code: "SBY-01", name: "Toko", channel: "kiosk" }, "body.channel"],
      [{ code: "SBY-01", name: "Toko", status: "deleted" }, "body.status"],
      [{ code: "SBY-01", name: "Toko", city: "" }, "body.city"],
      [{ code: "SBY-01", name: "Toko", manager: "Budi" }, "body"],
    ];
    for (const [body, path] of cases) {
      const response = await expectNothingWritten(api, () => createStore(body));
      expectError(response, 400, "validation_failed");
      const issues = response.body.error?.details?.issues as { path: string }[];
      expect(
        issues.map((issue) => issue.path),
        JSON.stringify(body),
      ).toContain(path);
    }
    expectError(
      await api.call("POST", "/v1/programs/prg_00000000000000000000000000/stores", {
        body: { code: "X", name: "X" },
      }),
      404,
      "program_not_found",
    );
    const readKey = await api.key(programId, "read");
    expectError(
      await api.call("POST", `${base()}/stores`, { body: { code: "R", name: "R" }, key: readKey }),
      403,
      "forbidden",
    );
    const posKey = await api.key(programId, "pos");
    expectError(
      await api.call("POST", `${base()}/stores`, { body: { code: "P", name: "P" }, key: posKey }),
      403,
      "forbidden",
    );
    expectError(
      await api.call("PATCH", `${base()}/stores/JKT-01`, { body: {} }),
      400,
      "validation_failed",
    );
    expectError(
      await api.call("PATCH", `${base()}/stores/NOPE`, { body: { name: "x" } }),
      404,
      "store_not_found",
    );
    expectError(await api.call("GET", `${base()}/stores/NOPE`), 404, "store_not_found");
    expectError(
      await api.call("GET", `${base()}/stores?cursor=${"x".repeat(120)}`),
      400,
      "validation_failed",
    );
  });

  it("updates the fields named, emits store.updated, and does nothing for no change", async () => {
    const updated = await api.call("PATCH", `${base()}/stores/JKT-01`, {
      body: { name: "Toko Kemang Raya", address: "Jl. Kemang Raya 8", timezone: "Asia/Jakarta" },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body).toMatchObject({
      code: "JKT-01",
      name: "Toko Kemang Raya",
      city: "Jakarta Selatan",
      address: "Jl. Kemang Raya 8",
      timezone: "Asia/Jakarta",
    });
    const same = await expectNothingWritten(api, () =>
      api.call("PATCH", `${base()}/stores/JKT-01`, { body: { name: "Toko Kemang Raya" } }),
    );
    expect(same.status).toBe(200);
    const cleared = await api.call("PATCH", `${base()}/stores/JKT-01`, { body: { address: null } });
    expect(cleared.body.address).toBeNull();
    expect((await eventsOf("store.updated")).map((event) => event.payload)).toEqual([
      {
        storeId: "JKT-01",
        fields: ["name", "address", "timezone"],
        status: "active",
        schemaVersion: 1,
      },
      { storeId: "JKT-01", fields: ["address"], status: "active", schemaVersion: 1 },
    ]);
    const read = await api.call("GET", `${base()}/stores/JKT-01`);
    expect(read.body).toMatchObject({ name: "Toko Kemang Raya", address: null });
  });

  it("takes any code purchases take: URL-encoded in the path", async () => {
    const code = "Toko/01 #2";
    expect((await createStore({ code, name: "Garis miring" })).status).toBe(201);
    const read = await api.call("GET", `${base()}/stores/${encodeURIComponent(code)}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.body.code).toBe(code);
  });

  it("lists in code order with paging, search by code, name or city, and filters", async () => {
    for (const [code, name, city, channel] of [
      ["SBY-01", "Toko Tunjungan", "Surabaya", "pos"],
      ["SBY-02", "Toko Darmo", "Surabaya", "pos"],
      ["WEB", "Toko Online", null, "webshop"],
      ["APP", "Aplikasi", null, "mobile"],
    ] as const) {
      expect((await createStore({ code, name, city, channel })).status).toBe(201);
    }
    const codes = async (query: string) => {
      const response = await api.call("GET", `${base()}/stores${query}`);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return (response.body.data as Store[]).map((store) => store.code);
    };
    const all = await codes("?figures=false");
    expect(all).toEqual([...all].sort());
    expect(all).toHaveLength(7);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<TestApi["call"]>> = await api.call(
        "GET",
        `${base()}/stores?limit=3${cursor ? `&cursor=${cursor}` : ""}`,
      );
      seen.push(...(page.body.data as Store[]).map((store) => store.code));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(seen).toEqual(all);

    expect(await codes("?q=surabaya")).toEqual(["SBY-01", "SBY-02"]);
    expect(await codes("?q=DARMO")).toEqual(["SBY-02"]);
    expect(await codes("?q=jkt")).toEqual(["JKT-01"]);
    expect(await codes("?q=%25")).toEqual([]);
    expect(await codes("?channel=webshop")).toEqual(["WEB"]);
    expectError(await api.call("GET", `${base()}/stores?status=gone`), 400, "validation_failed");
  });

  it("gives each store its purchases, members, sales and points of the last days", async () => {
    const member = await api.member(programId);
    const other = await api.member(programId);
    const sale = (externalId: string, storeId: string, total: string, fields = {}) =>
      api.call("POST", `${base()}/transactions`, {
        body: purchase(externalId, { storeId, total, member: { id: member }, ...fields }),
      });
    expect((await sale("F-1", "SBY-01", "250000")).status).toBe(201);
    expect((await sale("F-2", "SBY-01", "100000", { member: { id: other } })).status).toBe(201);
    expect((await sale("F-3", "SBY-02", "50000")).status).toBe(201);
    // Forty days ago: outside the default window of 30 days.
    expect(
      (await sale("F-4", "SBY-01", "90000", { occurredAt: "2026-01-21T02:00:00Z" })).status,
    ).toBe(201);

    const list = await api.call("GET", `${base()}/stores?q=sby`);
    const [first, second] = list.body.data as Store[];
    expect(first?.figures).toEqual({
      days: 30,
      purchases: 2,
      members: 2,
      salesTotal: "350000.00",
      pointsIssued: 35,
      lastPurchaseAt: "2026-03-02T02:00:00.000Z",
    });
    expect(second?.figures).toMatchObject({
      purchases: 1,
      salesTotal: "50000.00",
      pointsIssued: 5,
    });
    const wide = await api.call("GET", `${base()}/stores/SBY-01?days=60`);
    expect(wide.body.figures).toMatchObject({ days: 60, purchases: 3, pointsIssued: 44 });
    const quiet = await api.call("GET", `${base()}/stores/WEB`);
    expect(quiet.body.figures).toEqual({
      days: 30,
      purchases: 0,
      members: 0,
      salesTotal: "0.00",
      pointsIssued: 0,
      lastPurchaseAt: null,
    });
    expectError(await api.call("GET", `${base()}/stores/WEB?days=0`), 400, "validation_failed");
  });
});

describe("closed stores and unregistered codes", () => {
  it("refuses a purchase at a closed store and writes nothing; replays, refunds and reopening still work", async () => {
    const member = await api.member(programId);
    const first = await api.call("POST", `${base()}/transactions`, {
      body: purchase("C-1", { storeId: "BDG-01", member: { id: member } }),
    });
    expect(first.status).toBe(201);
    const closed = await api.call("PATCH", `${base()}/stores/BDG-01`, {
      body: { status: "closed" },
    });
    expect(closed.body.status).toBe("closed");
    expect((await eventsOf("store.updated")).at(-1)?.payload).toMatchObject({
      storeId: "BDG-01",
      fields: ["status"],
      status: "closed",
    });

    const refused = await expectNothingWritten(api, () =>
      api.call("POST", `${base()}/transactions`, {
        body: purchase("C-2", { storeId: "BDG-01", member: { id: member } }),
        headers: { "idempotency-key": "closed-c-2" },
      }),
    );
    expectError(refused, 409, "store_closed");
    expect(refused.body.error?.details).toEqual({ field: "storeId", storeId: "BDG-01" });

    // The receipt recorded while the store was open still answers as a replay.
    const replay = await api.call("POST", `${base()}/transactions`, {
      body: purchase("C-1", { storeId: "BDG-01", member: { id: member } }),
    });
    expect(replay.status).toBe(200);
    expect(replay.body.replayed).toBe(true);

    const batch = await api.call("POST", `${base()}/transactions/batch`, {
      body: {
        transactions: [
          purchase("C-3", { storeId: "BDG-01", member: { id: member } }),
          purchase("C-3", { storeId: "JKT-01", member: { id: member } }),
        ],
      },
    });
    expect(batch.body).toMatchObject({ created: 1, failed: 1 });
    expect((batch.body.results as { error?: { code: string } }[])[0]?.error?.code).toBe(
      "store_closed",
    );

    const refund = await api.call("POST", `${base()}/refunds`, {
      body: {
        externalId: "C-1-R",
        transaction: { storeId: "BDG-01", externalId: "C-1" },
        amount: "10000",
      },
    });
    expect(refund.status, JSON.stringify(refund.body)).toBe(201);

    await api.call("PATCH", `${base()}/stores/BDG-01`, { body: { status: "active" } });
    const reopened = await api.call("POST", `${base()}/transactions`, {
      body: purchase("C-2", { storeId: "BDG-01", member: { id: member } }),
    });
    expect(reopened.status).toBe(201);
  });

  it("records purchases at codes not registered and lists those codes until they are", async () => {
    for (const [externalId, storeId] of [
      ["U-1", "POP-UP-9"],
      ["U-2", "POP-UP-9"],
      ["U-3", "MALL-7"],
    ]) {
      const sale = await api.call("POST", `${base()}/transactions`, {
        body: purchase(externalId as string, { storeId }),
      });
      expect(sale.status).toBe(201);
    }
    const unregistered = async (query = "") => {
      const response = await api.call("GET", `${base()}/unregistered-stores${query}`);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body as {
        data: { code: string; figures: Store["figures"] }[];
        nextCursor: string | null;
      };
    };
    const listed = await unregistered();
    expect(listed.data.map((item) => item.code)).toEqual(["MALL-7", "POP-UP-9"]);
    expect(listed.data[1]?.figures).toMatchObject({ purchases: 2, salesTotal: "200000.00" });
    expect(listed.nextCursor).toBeNull();

    const firstPage = await unregistered("?limit=1");
    expect(firstPage.data.map((item) => item.code)).toEqual(["MALL-7"]);
    const secondPage = await unregistered(`?limit=1&cursor=${firstPage.nextCursor}`);
    expect(secondPage.data.map((item) => item.code)).toEqual(["POP-UP-9"]);

    expect((await createStore({ code: "POP-UP-9", name: "Pop-up" })).status).toBe(201);
    expect((await unregistered()).data.map((item) => item.code)).toEqual(["MALL-7"]);
  });
});

describe("cashiers and stores", () => {
  let cashier: SignedIn;
  beforeAll(async () => {
    cashier = await createStaff(api, programId, "cashier", ["SBY-01", "SBY-02"]);
  });

  it("refuses cashier stores that are not registered or closed, naming each by its path", async () => {
    const invite = await api.call("POST", `${base()}/staff/invitations`, {
      body: { email: "kasir@example.com", role: "cashier", storeIds: ["SBY-01", "GHOST"] },
    });
    expectError(invite, 400, "validation_failed");
    expect(invite.body.error?.details?.issues).toEqual([
      { path: "body.storeIds.1", message: expect.stringContaining("not registered") },
    ]);

    await api.call("PATCH", `${base()}/stores/APP`, { body: { status: "closed" } });
    const update = await api.call("PATCH", `${base()}/staff/${cashier.staffId}`, {
      body: { storeIds: ["APP", "SBY-01", "NOPE"] },
    });
    expectError(update, 400, "validation_failed");
    const issues = update.body.error?.details?.issues as { path: string }[];
    expect(issues.map((issue) => issue.path)).toEqual(["body.storeIds.0", "body.storeIds.2"]);
    const staff = await api.call("GET", `${base()}/staff`);
    const row = (staff.body.data as { id: string; memberships: { storeIds: string[] }[] }[]).find(
      (s) => s.id === cashier.staffId,
    );
    expect(row?.memberships[0]?.storeIds).toEqual(["SBY-01", "SBY-02"]);
  });

  it("lets a cashier read its own stores and the program's currency, nothing more", async () => {
    const list = await cashier.browser.send("GET", `${base()}/stores?status=active&figures=false`);
    expect(list.status, JSON.stringify(list.body)).toBe(200);
    expect((list.body.data as Store[]).map((store) => [store.code, store.name])).toEqual([
      ["SBY-01", "Toko Tunjungan"],
      ["SBY-02", "Toko Darmo"],
    ]);
    expect((await cashier.browser.send("GET", `${base()}/stores/SBY-01`)).status).toBe(200);
    expectRefused(await cashier.browser.send("GET", `${base()}/stores/JKT-01`), 403, "forbidden");
    expectRefused(
      await cashier.browser.send("GET", `${base()}/unregistered-stores`),
      403,
      "forbidden",
    );
    expectRefused(
      await cashier.browser.send("POST", `${base()}/stores`, { body: { code: "K", name: "K" } }),
      403,
      "forbidden",
    );
    expectRefused(
      await cashier.browser.send("PATCH", `${base()}/stores/SBY-01`, {
        body: { status: "closed" },
      }),
      403,
      "forbidden",
    );
    const program = await cashier.browser.send("GET", base());
    expect(program.status).toBe(200);
    expect(program.body).toMatchObject({ currency: "IDR", locale: "id" });
    expectRefused(
      await cashier.browser.send("PATCH", base(), { body: { name: "Renamed" } }),
      403,
      "forbidden",
    );
  });

  it("refuses a cashier's purchase at its own store once the store is closed", async () => {
    await api.call("PATCH", `${base()}/stores/SBY-02`, { body: { status: "closed" } });
    const refused = await cashier.browser.send("POST", `${base()}/transactions`, {
      body: purchase("K-1", { storeId: "SBY-02" }),
    });
    expectRefused(refused, 409, "store_closed");
    const own = await cashier.browser.send("POST", `${base()}/transactions`, {
      body: purchase("K-1", { storeId: "SBY-01" }),
    });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
  });
});
