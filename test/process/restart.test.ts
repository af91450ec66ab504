import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextPhone, testDriver } from "../harness.ts";
import {
  call,
  childEnv,
  cliJson,
  killAll,
  openProcessDb,
  type ProcessDb,
  printedKeys,
  runCli,
  type Server,
  startServer,
} from "./helpers.ts";

const memberCount = 20;
const purchaseCount = 160;
const concurrency = 8;
// Kill once the server logs this many incoming purchases: some are mid-way, many never sent.
const killAt = 70;
const incomingPurchase =
  /"url":"\/v1\/programs\/[^"]+\/transactions"[^\n]*"msg":"incoming request"/g;
// Short lease, so a key left in progress by the killed process is taken over without a 30 s wait.
const leaseMs = 1_000;
const attemptsMax = 30;

interface Outcome {
  status: number | "lost";
  transactionId?: string;
}

describe(`restart after SIGKILL (${testDriver})`, { timeout: 120_000 }, () => {
  let db: ProcessDb;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await openProcessDb();
    env = childEnv({ ...db.env, SETIA_IDEMPOTENCY_LEASE_MS: String(leaseMs) });
  });
  afterAll(async () => {
    await killAll();
    await db?.drop();
  });

  it("re-sending every purchase of a killed stream records and earns each exactly once", async () => {
    const first = await startServer(env);
    const [owner] = printedKeys(first.stdout());
    if (!owner) throw new Error(`no owner key printed:\n${first.stdout()}`);

    const created = await call(first, owner, "POST", "/v1/programs", {
      body: {
        name: "Toko Restart",
        returnsWindowDays: 0,
        earnRate: { points: 1, per: "10000", rounding: "floor" },
      },
    });
    expect(created.status).toBe(201);
    const programId = created.body.id as string;
    const keyed = await call(first, owner, "POST", `/v1/programs/${programId}/api-keys`, {
      body: { name: "till", role: "pos" },
    });
    expect(keyed.status).toBe(201);
    const pos = keyed.body.secret as string;
    const memberIds: string[] = [];
    for (let i = 0; i < memberCount; i++) {
      const enrol = await call(first, pos, "POST", `/v1/programs/${programId}/members`, {
        body: { phone: nextPhone(), consents: { terms: true } },
      });
      expect(enrol.status).toBe(201);
      memberIds.push(enrol.body.id as string);
    }

    // The system clock runs in the children: the receipts happened a minute ago.
    const occurredAt = new Date(Date.now() - 60_000).toISOString();
    const bodies = Array.from({ length: purchaseCount }, (_, i) => ({
      externalId: `R-${i}`,
      storeId: "S1",
      channel: "pos",
      occurredAt,
      currency: "IDR",
      total: String(10_000 + ((i * 7_919) % 90_000)),
      member: { id: memberIds[i % memberCount] },
    }));
    const expectedPoints = bodies.map((body) => Math.floor(Number(body.total) / 10_000));
    const expectedTotal = expectedPoints.reduce((a, b) => a + b, 0);
    const send = (target: Server, i: number) =>
      call(target, pos, "POST", `/v1/programs/${programId}/transactions`, {
        body: bodies[i],
        headers: { "idempotency-key": `purchase-${i}` },
      });

    // First stream: 8 at a time, SIGKILL in the middle.
    const outcomes: Outcome[] = [];
    let next = 0;
    let killed = false;
    // The kill follows the server's own log, so it lands while the server is working.
    first.child.stdout?.on("data", () => {
      if (!killed && (first.stdout().match(incomingPurchase)?.length ?? 0) >= killAt) {
        killed = true;
        first.child.kill("SIGKILL");
      }
    });
    const worker = async () => {
      while (!killed && next < purchaseCount) {
        const i = next++;
        try {
          const response = await send(first, i);
          outcomes[i] = {
            status: response.status,
            transactionId: response.body.transactionId as string,
          };
        } catch {
          outcomes[i] = { status: "lost" };
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    // PGlite allows one process per directory: the killed one must be gone before anything opens it.
    expect((await first.exited).signal).toBe("SIGKILL");
    const answeredBeforeKill = outcomes.filter((o) => o?.status !== "lost");
    expect(answeredBeforeKill.filter((o) => o.status !== 201)).toEqual([]);

    const afterCrash = await runCli(["ledger", "verify"], env);
    expect(afterCrash.code, afterCrash.stdout + afterCrash.stderr).toBe(0);
    expect(cliJson(afterCrash).ok).toBe(true);
    const crashState = await db.direct(async (direct) => {
      const rows = await sql<{ recorded: number; leftInProgress: number }>`
        select (select count(*) from transactions where program_id = ${programId})::int as recorded,
          (select count(*) from idempotency_keys
            where scope = ${programId} and state = 'in_progress')::int as "leftInProgress"`.execute(
        direct.kysely,
      );
      return rows.rows[0] ?? { recorded: 0, leftInProgress: 0 };
    });
    // Every 201 answer was committed, and the kill stopped the stream before its end.
    expect(crashState.recorded).toBeGreaterThanOrEqual(answeredBeforeKill.length);
    expect(crashState.recorded).toBeLessThan(purchaseCount);

    // Restart on the same database and re-send the whole stream.
    const second = await startServer(env);
    expect(printedKeys(second.stdout())).toEqual([]);
    let inProgressAnswers = 0;
    let replays = 0;
    const resent: Outcome[] = [];
    let resendNext = 0;
    const resendWorker = async () => {
      while (resendNext < purchaseCount) {
        const i = resendNext++;
        for (let attempt = 1; ; attempt++) {
          const response = await send(second, i);
          const code = (response.body.error as { code?: string } | undefined)?.code;
          if (
            response.status === 409 &&
            code === "idempotency_in_progress" &&
            attempt < attemptsMax
          ) {
            // The killed process still holds this key's lease: retry once it has passed.
            inProgressAnswers++;
            await new Promise((resolve) => setTimeout(resolve, leaseMs));
            continue;
          }
          expect([200, 201], JSON.stringify(response.body)).toContain(response.status);
          expect(response.body.externalId).toBe(`R-${i}`);
          expect(response.body.pointsEarned).toBe(expectedPoints[i]);
          if (response.headers.get("idempotent-replayed") === "true") replays++;
          resent[i] = {
            status: response.status,
            transactionId: response.body.transactionId as string,
          };
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, resendWorker));
    // A request answered before the kill is answered the same way again.
    outcomes.forEach((outcome, i) => {
      if (outcome?.status === 201) expect(resent[i]?.transactionId).toBe(outcome.transactionId);
    });
    // Exactly the purchases committed before the kill replay; the others run now, for the first time.
    expect(replays).toBe(crashState.recorded);

    expect(await second.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    const afterResend = await runCli(["ledger", "verify"], env);
    expect(afterResend.code, afterResend.stdout + afterResend.stderr).toBe(0);
    expect(cliJson(afterResend).ok).toBe(true);

    await db.direct(async (direct) => {
      const receipts = await sql<{ external_id: string; copies: number; earns: number }>`
        select t.external_id, count(distinct t.id)::int as copies, count(j.id)::int as earns
        from transactions t
          left join journal_entries j on j.transaction_id = t.id and j.kind = 'earn'
        where t.program_id = ${programId}
        group by t.external_id order by t.external_id`.execute(direct.kysely);
      expect(receipts.rows).toHaveLength(purchaseCount);
      expect(new Set(receipts.rows.map((row) => row.external_id))).toEqual(
        new Set(bodies.map((body) => body.externalId)),
      );
      expect(receipts.rows.filter((row) => row.copies !== 1 || row.earns !== 1)).toEqual([]);

      const totals = await sql<{
        available: number;
        earned: number;
        journal: number;
        lots: number;
        events: number;
        open: number;
      }>`
        select
          (select coalesce(sum(available), 0) from member_balances
            where program_id = ${programId})::int as available,
          (select coalesce(sum(earned_total), 0) from member_balances
            where program_id = ${programId})::int as earned,
          (select coalesce(sum(points), 0) from postings
            where program_id = ${programId} and account = 'member:available')::int as journal,
          (select count(*) from point_lots
            where program_id = ${programId} and source = 'earn')::int as lots,
          (select count(*) from outbox_events
            where program_id = ${programId} and type = 'transaction.recorded')::int as events,
          (select count(*) from idempotency_keys
            where scope = ${programId} and state <> 'done')::int as open`.execute(direct.kysely);
      expect(totals.rows[0]).toEqual({
        available: expectedTotal,
        earned: expectedTotal,
        journal: expectedTotal,
        lots: purchaseCount,
        events: purchaseCount,
        open: 0,
      });
    });

    console.info(
      `[${testDriver}] answered before kill ${answeredBeforeKill.length}, committed at kill ${crashState.recorded}, ` +
        `keys left in progress ${crashState.leftInProgress}, re-send replays ${replays}, ` +
        `in-progress answers ${inProgressAnswers}, points ${expectedTotal}`,
    );
  });
});
