import { spawnSync } from "node:child_process";
import { createPublicKey, generateKeyPairSync, verify as verifySignature } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainPending } from "../../src/modules/audit/index.ts";
import { adjust } from "../../src/modules/ledger/index.ts";
import { getProgram } from "../../src/modules/programs/index.ts";
import { expectError } from "../api/support.ts";
import { createTestApi, onPostgres, purchase, type TestApi } from "../harness.ts";

type Json = Record<string, unknown>;
type Report = {
  ok: boolean;
  chained: number;
  pending: number;
  head: { seq: number; hash: string } | null;
  checkpoints: { count: number; lastSeq: number | null };
  signingPublicKey: string | null;
  firstBroken: {
    seq: number;
    problem: string;
    table: string | null;
    rowId: string | null;
    expected: string | null;
    actual: string | null;
  } | null;
};

const verifier = join(import.meta.dirname, "../../docs/audit-verify.mjs");

describe("tamper-evident audit log", () => {
  let api: TestApi;
  let programId: string;
  let adminKey: string;
  let posKey: string;
  let alice: string;
  let bob: string;
  let adjustEntryId: string;
  const dir = mkdtempSync(join(tmpdir(), "setia-audit-"));

  const base = () => `/v1/programs/${programId}`;
  const db = () => api.ctx.db.kysely;
  const verify = async () => {
    const response = await api.call("GET", "/v1/audit/verify");
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body as unknown as Report;
  };
  const count = async (table: "audit_chain" | "journal_entries" | "audit_actions") =>
    Number(
      (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db()))
        .rows[0]?.n,
    );

  beforeAll(async () => {
    api = await createTestApi();
    api.ctx.audit = {
      signingKey: generateKeyPairSync("ed25519").privateKey,
      checkpointIntervalMs: 600_000,
    };
    programId = await api.program({ returnsWindowDays: 0 });
    adminKey = await api.key(programId, "admin");
    posKey = await api.key(programId, "pos");
    alice = await api.member(programId);
    bob = await api.member(programId);
    const bought = await api.call("POST", `${base()}/transactions`, {
      key: posKey,
      body: purchase("R-1", { member: { id: alice }, total: "500000" }),
    });
    expect(bought.status, JSON.stringify(bought.body)).toBe(201);
    const adjusted = await api.call("POST", `${base()}/members/${alice}/adjustments`, {
      key: adminKey,
      body: { points: 100, reason: "goodwill" },
    });
    expect(adjusted.status).toBe(201);
    adjustEntryId = adjusted.body.entryId as string;
    expect(
      (
        await api.call("POST", `${base()}/members/${alice}/redemptions`, {
          key: posKey,
          body: { points: 10 },
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await api.call("POST", `${base()}/transfers`, {
          key: adminKey,
          body: { fromMemberId: alice, toMemberId: bob, points: 5 },
        })
      ).status,
    ).toBe(201);
    expect(
      (await api.call("PATCH", base(), { key: adminKey, body: { name: "Toko Baru" } })).status,
    ).toBe(200);
    expect(
      (await api.call("POST", `${base()}/members/${bob}/block`, { key: adminKey, body: {} }))
        .status,
    ).toBe(200);
    expect(
      (await api.call("POST", `${base()}/members/${bob}/unblock`, { key: adminKey, body: {} }))
        .status,
    ).toBe(200);
    expect(
      (
        await api.call("PATCH", `${base()}/members/${bob}`, {
          key: posKey,
          body: { name: "Bob Baru" },
        })
      ).status,
    ).toBe(200);
  });
  afterAll(() => api.close());

  it("records admin actions in the action's transaction, without personal data", async () => {
    const response = await api.call("GET", `${base()}/audit/actions?limit=200`, { key: adminKey });
    expect(response.status).toBe(200);
    const actions = response.body.data as {
      action: string;
      actor: { id: string; role: string };
      subject: Json;
      details: { request: unknown; events: { type: string }[] };
    }[];
    const named = actions.map((action) => action.action);
    expect(named).toEqual(
      expect.arrayContaining([
        "POST /v1/programs/:programId/api-keys",
        "PATCH /v1/programs/:programId",
        "POST /v1/programs/:programId/members/:memberId/adjustments",
        "POST /v1/programs/:programId/transfers",
        "POST /v1/programs/:programId/members/:memberId/block",
        "POST /v1/programs/:programId/members/:memberId/unblock",
        "PATCH /v1/programs/:programId/members/:memberId",
      ]),
    );
    // POS work (purchases, redemptions) is in the ledger's chain, not an admin action.
    expect(named).not.toContain("POST /v1/programs/:programId/transactions");
    const keyCreated = actions.find((a) => a.action === "POST /v1/programs/:programId/api-keys");
    expect(keyCreated?.details.events.map((event) => event.type)).toEqual(["api_key.created"]);
    const update = actions.find(
      (a) => a.action === "PATCH /v1/programs/:programId/members/:memberId",
    );
    expect(update?.actor.role).toBe("pos");
    expect(update?.subject).toEqual({ programId, memberId: bob });
    expect(update?.details.request).toEqual({ name: "[redacted]" });
    expect(JSON.stringify(actions)).not.toContain("Bob Baru");
    // The program's creation by the owner is an action of the deployment owner.
    const created = await db()
      .selectFrom("audit_actions")
      .select(["actor_role", "details"])
      .where("action", "=", "POST /v1/programs")
      .execute();
    expect(created.map((row) => row.actor_role)).toContain("owner");
  });

  it("chains every journal entry and admin action after commit, and verifies", async () => {
    expect(await count("audit_chain")).toBe(0);
    const pending = await verify();
    expect(pending.ok).toBe(true);
    expect(pending.pending).toBe((await count("journal_entries")) + (await count("audit_actions")));

    const first = await chainPending(api.ctx);
    expect(first.chained).toBe((await count("journal_entries")) + (await count("audit_actions")));
    expect(first.checkpointSeq).toBe(first.chained);
    expect((await chainPending(api.ctx)).chained).toBe(0);

    const report = await verify();
    expect(report).toMatchObject({
      ok: true,
      pending: 0,
      chained: first.chained,
      firstBroken: null,
    });
    expect(report.checkpoints.count).toBe(1);

    // The chain grows with more purchases and adjustments.
    await api.call("POST", `${base()}/transactions`, {
      key: posKey,
      body: purchase("R-2", { member: { id: bob }, total: "100000" }),
    });
    await api.call("POST", `${base()}/members/${bob}/adjustments`, {
      key: adminKey,
      body: { points: -1, reason: "typo fix" },
    });
    expect((await verify()).pending).toBe(3);
    expect((await chainPending(api.ctx)).chained).toBe(3);
    const grown = await verify();
    expect(grown).toMatchObject({ ok: true, pending: 0, chained: first.chained + 3 });
  });

  it("is for the deployment owner only", async () => {
    expectError(await api.call("GET", "/v1/audit/verify", { key: adminKey }), 403, "forbidden");
    expectError(await api.call("GET", "/v1/audit/export", { key: adminKey }), 403, "forbidden");
    expectError(await api.call("GET", "/v1/audit/verify", { key: null }), 401, "unauthorized");
  });

  it("pinpoints a posting whose points were edited in the database", async () => {
    const posting = await db()
      .selectFrom("postings")
      .select(["id", "points"])
      .where("entry_id", "=", adjustEntryId)
      .orderBy("id")
      .executeTakeFirstOrThrow();
    const chained = await db()
      .selectFrom("audit_chain")
      .select(["seq", "content_hash"])
      .where("source_id", "=", adjustEntryId)
      .executeTakeFirstOrThrow();
    await sql`update postings set points = points + 1000 where id = ${posting.id}`.execute(db());
    const report = await verify();
    expect(report.ok).toBe(false);
    expect(report.firstBroken).toMatchObject({
      seq: chained.seq,
      problem: "content_changed",
      table: "journal_entries",
      rowId: adjustEntryId,
      expected: chained.content_hash,
    });
    expect(report.firstBroken?.actual).not.toBe(chained.content_hash);
    await sql`update postings set points = ${posting.points} where id = ${posting.id}`.execute(
      db(),
    );
    expect((await verify()).ok).toBe(true);
  });

  it("pinpoints an edited journal entry and an edited admin action", async () => {
    await sql`update journal_entries set reason = 'bribe' where id = ${adjustEntryId}`.execute(
      db(),
    );
    expect((await verify()).firstBroken).toMatchObject({
      problem: "content_changed",
      table: "journal_entries",
      rowId: adjustEntryId,
    });
    await sql`update journal_entries set reason = 'goodwill' where id = ${adjustEntryId}`.execute(
      db(),
    );

    const action = await db()
      .selectFrom("audit_actions")
      .select(["id", "actor_id"])
      .where("action", "=", "POST /v1/programs/:programId/members/:memberId/block")
      .executeTakeFirstOrThrow();
    await sql`update audit_actions set actor_id = 'key_someone_else' where id = ${action.id}`.execute(
      db(),
    );
    expect((await verify()).firstBroken).toMatchObject({
      problem: "content_changed",
      table: "audit_actions",
      rowId: action.id,
    });
    await sql`update audit_actions set actor_id = ${action.actor_id} where id = ${action.id}`.execute(
      db(),
    );
    expect((await verify()).ok).toBe(true);
  });

  it("pinpoints an edited or deleted chain record", async () => {
    const row = await db()
      .selectFrom("audit_chain")
      .selectAll()
      .where("seq", "=", 3)
      .executeTakeFirstOrThrow();
    await sql`update audit_chain set content_hash = ${"f".repeat(64)} where seq = 3`.execute(db());
    expect((await verify()).firstBroken).toMatchObject({ seq: 3, problem: "hash_mismatch" });
    await sql`update audit_chain set content_hash = ${row.content_hash} where seq = 3`.execute(
      db(),
    );

    // Rewriting a record's hash consistently still breaks the next record's link.
    await sql`update audit_chain set hash = ${"e".repeat(64)} where seq = 3`.execute(db());
    expect((await verify()).firstBroken).toMatchObject({ seq: 3, problem: "hash_mismatch" });
    await sql`update audit_chain set hash = ${row.hash} where seq = 3`.execute(db());
    expect((await verify()).ok).toBe(true);
  });

  it("signs checkpoints with Ed25519 over (seq, hash, time) and detects a forged one", async () => {
    const checkpoint = await db()
      .selectFrom("audit_checkpoints")
      .selectAll()
      .orderBy("seq")
      .executeTakeFirstOrThrow();
    const message = `setia-audit-checkpoint:v1:${checkpoint.seq}:${checkpoint.hash}:${checkpoint.signed_at.toISOString()}`;
    const key = createPublicKey({
      key: Buffer.from(checkpoint.public_key, "base64"),
      format: "der",
      type: "spki",
    });
    expect(
      verifySignature(null, Buffer.from(message), key, Buffer.from(checkpoint.signature, "base64")),
    ).toBe(true);
    expect(checkpoint.public_key).toBe((await verify()).signingPublicKey);

    await sql`update audit_checkpoints set signed_at = signed_at + interval '1 second' where seq = ${checkpoint.seq}`.execute(
      db(),
    );
    expect((await verify()).firstBroken).toMatchObject({
      seq: checkpoint.seq,
      problem: "signature_invalid",
    });
    await sql`update audit_checkpoints set signed_at = ${checkpoint.signed_at} where seq = ${checkpoint.seq}`.execute(
      db(),
    );
    expect((await verify()).ok).toBe(true);
  });

  it("exports JSON Lines that the standalone script verifies, and refuses a tampered file", async () => {
    const response = await api.app.inject({
      method: "GET",
      url: "/v1/audit/export",
      headers: { authorization: `Bearer ${api.ownerKey}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toContain("application/x-ndjson");
    const file = join(dir, "export.jsonl");
    writeFileSync(file, response.body);
    const lines = response.body
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Json);
    expect(lines[0]).toMatchObject({ type: "header", format: "setia-audit-export/1" });
    const records = lines.filter((line) => line.type === "record");
    expect(records.length).toBe(await count("audit_chain"));
    // The export checkpoints the head, so the whole file is signed.
    expect(lines.at(-1)).toMatchObject({ type: "checkpoint", seq: records.length });

    const run = (path: string, ...extra: string[]) =>
      spawnSync(process.execPath, [verifier, path, ...extra], { encoding: "utf8" });
    const ok = run(file, "--public-key", (await verify()).signingPublicKey ?? "");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`OK: ${records.length} records`);

    // A posting's points changed in the file: its record no longer matches its content hash.
    const tampered = response.body
      .trim()
      .split("\n")
      .map((line) => {
        const item = JSON.parse(line) as { sourceId?: string; content?: { postings?: Json[] } };
        const posting = item.content?.postings?.[0];
        if (item.sourceId !== adjustEntryId || !posting) return line;
        posting.points = Number(posting.points) + 1000;
        return JSON.stringify(item);
      });
    const tamperedFile = join(dir, "tampered.jsonl");
    writeFileSync(tamperedFile, tampered.join("\n"));
    expect(readFileSync(tamperedFile, "utf8")).not.toBe(response.body);
    const bad = run(tamperedFile);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(adjustEntryId);

    // Checkpoints signed with another key than the operator's published one are refused.
    const otherKey = generateKeyPairSync("ed25519")
      .publicKey.export({ format: "der", type: "spki" })
      .toString("base64");
    const pinned = run(file, "--public-key", otherKey);
    expect(pinned.status).toBe(1);
    expect(pinned.stderr).toContain("signed with another key");
  });
});

describe.runIf(onPostgres)("audit chainer under concurrency (PostgreSQL)", () => {
  let api: TestApi;
  let programId: string;

  beforeAll(async () => {
    api = await createTestApi();
    programId = await api.program({ returnsWindowDays: 0 });
  });
  afterAll(() => api.close());

  const grant = (memberId: string, points: number) =>
    api.call("POST", `/v1/programs/${programId}/members/${memberId}/adjustments`, {
      body: { points, reason: "grant" },
    });

  it("waits for an entry that commits late instead of skipping it", async () => {
    const slowMember = await api.member(programId);
    const fastMember = await api.member(programId);
    await chainPending(api.ctx);
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let wrote = () => {};
    const written = new Promise<void>((resolve) => {
      wrote = resolve;
    });
    const slow = api.ctx.db.transaction(async (tx) => {
      const program = await getProgram(tx, programId);
      const entry = await adjust(tx, {
        program,
        memberId: slowMember,
        points: 7,
        reason: "slow",
        at: api.clock.now(),
      });
      wrote();
      await gate;
      return entry.entryId;
    });
    await written;
    expect((await grant(fastMember, 3)).status).toBe(201);
    // The later transaction committed first, but the older one is still open: nothing is chained.
    expect((await chainPending(api.ctx)).chained).toBe(0);
    release();
    const slowEntryId = await slow;
    // Its entry, then the fast adjustment's entry and its admin action.
    expect((await chainPending(api.ctx)).chained).toBe(3);
    const last = await api.ctx.db.kysely
      .selectFrom("audit_chain")
      .select(["source", "source_id"])
      .orderBy("seq", "desc")
      .limit(3)
      .execute();
    expect(last.at(-1)?.source_id).toBe(slowEntryId);
    const report = await api.call("GET", "/v1/audit/verify");
    expect(report.body).toMatchObject({ ok: true, pending: 0 });
  });

  it("parallel chainers append every record once", async () => {
    const members = await Promise.all(Array.from({ length: 6 }, () => api.member(programId)));
    await Promise.all(members.map((memberId) => grant(memberId, 10)));
    const [runs] = await Promise.all([
      Promise.all(Array.from({ length: 4 }, () => chainPending(api.ctx))),
      Promise.all(members.map((memberId) => grant(memberId, 1))),
    ]);
    expect(runs.length).toBe(4);
    await chainPending(api.ctx);
    const report = await api.call("GET", "/v1/audit/verify");
    expect(report.body).toMatchObject({ ok: true, pending: 0 });
  });
});
