import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, expectNothingWritten } from "../api/support.ts";
import { createTestApi, onPostgres, type TestApi } from "../harness.ts";

type Request = {
  id: string;
  state: string;
  points: number;
  entryId: string | null;
  requestedBy: string;
  decidedBy: string | null;
};

describe("second approver for large adjustments", () => {
  let api: TestApi;
  let programId: string;
  let alice: string; // admin key that requests
  let bruno: string; // a different admin key that approves
  let aliceId: string;
  let memberId: string;

  const base = () => `/v1/programs/${programId}`;
  const adjust = (points: number, key = alice, headers: Record<string, string> = {}) =>
    api.call("POST", `${base()}/members/${memberId}/adjustments`, {
      key,
      body: { points, reason: "store credit" },
      headers,
    });
  const decide = (id: string, verb: "approve" | "reject", key: string) =>
    api.call("POST", `${base()}/adjustment-requests/${id}/${verb}`, { key, body: {} });
  const available = async () =>
    (await api.call("GET", `${base()}/members/${memberId}/balance`)).body.available as number;
  const entries = async () =>
    Number(
      (
        await sql<{
          n: number;
        }>`select count(*)::int as n from journal_entries where member_id = ${memberId}`.execute(
          api.ctx.db.kysely,
        )
      ).rows[0]?.n,
    );

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program({ returnsWindowDays: 0 });
    alice = await api.key(programId, "admin");
    bruno = await api.key(programId, "admin");
    const keys = await api.call("GET", `${base()}/api-keys`);
    aliceId = (keys.body.data as { id: string; role: string }[]).filter(
      (k) => k.role === "admin",
    )[0]?.id as string;
    memberId = await api.member(programId);
  });
  afterAll(() => api.close());

  it("has no threshold until one is set; the policy is validated", async () => {
    const policy = await api.call("GET", `${base()}/adjustment-policy`, { key: alice });
    expect(policy.body).toEqual({ approvalThresholdPoints: null });
    expect((await adjust(5000)).status).toBe(201);
    await expectNothingWritten(api, async () => {
      expectError(
        await api.call("PUT", `${base()}/adjustment-policy`, {
          key: alice,
          body: { approvalThresholdPoints: 0 },
        }),
        400,
        "validation_failed",
      );
    });
    const set = await api.call("PUT", `${base()}/adjustment-policy`, {
      key: alice,
      body: { approvalThresholdPoints: 1000 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ approvalThresholdPoints: 1000 });
  });

  it("posts adjustments up to the threshold at once, files larger ones for approval", async () => {
    const before = await available();
    expect((await adjust(1000)).status).toBe(201);
    expect((await adjust(-1000)).status).toBe(201);
    const filed = await adjust(1001);
    expect(filed.status).toBe(202);
    expect(filed.body).toMatchObject({
      state: "pending",
      points: 1001,
      memberId,
      requestedBy: aliceId,
      entryId: null,
    });
    const debit = await adjust(-2000);
    expect(debit.status).toBe(202);
    expect(await available()).toBe(before);
    const listed = await api.call("GET", `${base()}/adjustment-requests?state=pending`, {
      key: bruno,
    });
    expect((listed.body.data as Request[]).map((r) => r.id)).toEqual([
      debit.body.id,
      filed.body.id,
    ]);
  });

  it("refuses self-approval with 403, posts once on another admin's approval", async () => {
    const filed = (await adjust(3000)).body as Request;
    const before = await available();
    const own = await expectNothingWritten(api, () => decide(filed.id, "approve", alice));
    expectError(own, 403, "forbidden");
    expect(own.body.error?.message).toContain("different admin");

    const approved = await decide(filed.id, "approve", bruno);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ state: "approved", decidedBy: expect.any(String) });
    expect(approved.body.entryId).toMatch(/^jrn_/);
    expect(await available()).toBe(before + 3000);

    // Approving again answers the approved request; nothing is posted twice.
    const entryCount = await entries();
    const again = await decide(filed.id, "approve", bruno);
    expect(again.status).toBe(200);
    expect(again.body.entryId).toBe(approved.body.entryId);
    const byOwner = await decide(filed.id, "approve", api.ownerKey);
    expect(byOwner.body.entryId).toBe(approved.body.entryId);
    expect(await entries()).toBe(entryCount);
    expect(await available()).toBe(before + 3000);
    expectError(await decide(filed.id, "reject", bruno), 409, "adjustment_request_not_pending");

    // The approval is an audited admin action.
    const actions = await api.call("GET", `${base()}/audit/actions`, { key: bruno });
    const approval = (actions.body.data as { action: string; subject: unknown }[]).find((a) =>
      a.action.endsWith("/approve"),
    );
    expect(approval?.subject).toEqual({ programId, requestId: filed.id });
  });

  it("rejects (or withdraws) without posting; a rejected request cannot be approved", async () => {
    const filed = (await adjust(5000)).body as Request;
    const before = await available();
    const withdrawn = await decide(filed.id, "reject", alice);
    expect(withdrawn.body).toMatchObject({ state: "rejected", entryId: null });
    expectError(await decide(filed.id, "approve", bruno), 409, "adjustment_request_not_pending");
    expect(await available()).toBe(before);
  });

  it("answers unknown requests and members with 404, and pos keys with 403", async () => {
    expectError(
      await decide("adr_01jxxxxxxxxxxxxxxxxxxxxxxx", "approve", bruno),
      404,
      "adjustment_request_not_found",
    );
    const missing = await expectNothingWritten(api, () =>
      api.call("POST", `${base()}/members/mbr_01jxxxxxxxxxxxxxxxxxxxxxxx/adjustments`, {
        key: alice,
        body: { points: 5000, reason: "store credit" },
      }),
    );
    expectError(missing, 404, "member_not_found");
    const pos = await api.key(programId, "pos");
    expectError(
      await api.call("GET", `${base()}/adjustment-requests`, { key: pos }),
      403,
      "forbidden",
    );
  });

  it("replays a filed request for the same Idempotency-Key", async () => {
    const first = await adjust(7000, alice, { "idempotency-key": "adj-7000" });
    const replay = await adjust(7000, alice, { "idempotency-key": "adj-7000" });
    expect(first.status).toBe(202);
    expect(replay.status).toBe(202);
    expect(replay.body.id).toBe(first.body.id);
  });

  it.runIf(onPostgres)("parallel approvals post the adjustment once", async () => {
    const filed = (await adjust(4000)).body as Request;
    const before = await available();
    const entryCount = await entries();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        decide(filed.id, "approve", i % 2 ? bruno : api.ownerKey),
      ),
    );
    for (const result of results) expect(result.status).toBe(200);
    expect(new Set(results.map((result) => result.body.entryId)).size).toBe(1);
    expect(await entries()).toBe(entryCount + 1);
    expect(await available()).toBe(before + 4000);
  });
});
