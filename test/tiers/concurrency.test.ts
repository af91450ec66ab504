import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Ctx } from "../../src/context.ts";
import { type Db, openDb } from "../../src/db/client.ts";
import { ManualClock } from "../../src/lib/clock.ts";
import { enrolMember, memberEnrolSchema } from "../../src/modules/members/index.ts";
import { createProgram, programCreateSchema } from "../../src/modules/programs/index.ts";
import {
  purchaseSchema,
  recordPurchase,
  recordPurchaseBatch,
} from "../../src/modules/purchases/index.ts";
import { ladderInputSchema, reviewDueTiers, saveLadder } from "../../src/modules/tiers/index.ts";
import { onPostgres, openTestDb, purchase } from "../harness.ts";

/* Races only a multi-connection database produces: PostgreSQL only. */

const silentLog = pino({ level: "silent" });
const dayMs = 86_400_000;

describe.runIf(onPostgres)("tiers under concurrency", () => {
  let db: Db;
  let otherDb: Db;
  let drop: () => Promise<void>;
  const clock = new ManualClock("2026-03-02T03:00:00Z");
  let ctx: Ctx;
  let otherCtx: Ctx;
  beforeAll(async () => {
    const opened = await openTestDb();
    if (!opened.url) throw new Error("PostgreSQL test database has no url");
    db = opened.db;
    drop = opened.drop;
    // A second process: its own pool on the same database.
    otherDb = await openDb({ databaseUrl: opened.url, poolSizeMax: 10 });
    ctx = { db, clock, log: silentLog };
    otherCtx = { db: otherDb, clock, log: silentLog };
  });
  afterAll(async () => {
    await otherDb.close();
    await drop();
  });

  async function setup(memberCount: number) {
    const program = await createProgram(ctx, programCreateSchema.parse({ name: "Toko Balapan" }));
    await db.transaction((tx) =>
      saveLadder(
        tx,
        program.id,
        ladderInputSchema.parse({
          qualification: { metric: "visits", window: { kind: "rolling_months", months: 1 } },
          tiers: [
            { code: "silver", rank: 1, names: { id: "Perak", en: "Silver" }, threshold: 1 },
            { code: "gold", rank: 2, names: { id: "Emas", en: "Gold" }, threshold: 3 },
            { code: "platinum", rank: 3, names: { id: "Platina", en: "Platinum" }, threshold: 6 },
          ],
        }),
        clock.now(),
      ),
    );
    const memberIds: string[] = [];
    for (let index = 0; index < memberCount; index++) {
      const enrol = memberEnrolSchema.parse({
        email: `race${index}.${program.id}@example.com`,
        consents: { terms: true },
      });
      const member = await db.transaction((tx) => enrolMember(tx, clock.now(), program.id, enrol));
      memberIds.push(member.id);
    }
    return { programId: program.id, memberIds };
  }

  async function changesOf(programId: string) {
    return db.kysely
      .selectFrom("tier_changes as c")
      .innerJoin("tiers as t", "t.id", "c.to_tier_id")
      .select(["c.member_id", "t.code", "c.reason"])
      .where("c.program_id", "=", programId)
      .orderBy("c.id")
      .execute();
  }

  it("reviews each member once when two runners race", async () => {
    const { programId, memberIds } = await setup(250);
    let receipt = 0;
    const items = memberIds.flatMap((memberId) =>
      [1, 2, 3].map(() =>
        purchaseSchema.parse(
          purchase(`B-${++receipt}`, {
            member: { id: memberId },
            occurredAt: new Date(clock.now().getTime() - 3_600_000).toISOString(),
          }),
        ),
      ),
    );
    // A member's three purchases in one batch: one upgrade, straight to gold.
    for (let index = 0; index < items.length; index += 498) {
      await recordPurchaseBatch(ctx, programId, items.slice(index, index + 498));
    }
    // Two periods and a bit later: each member goes gold → silver → none, one level per period.
    clock.advance(62 * dayMs);
    const reports = await Promise.all([reviewDueTiers(ctx), reviewDueTiers(otherCtx)]);
    expect(reports[0].changed + reports[1].changed).toBe(memberIds.length);
    const changes = await db.kysely
      .selectFrom("tier_changes")
      .select(["member_id", "reason"])
      .where("program_id", "=", programId)
      .execute();
    const perMember = new Map<string, string[]>();
    for (const change of changes) {
      perMember.set(change.member_id, [...(perMember.get(change.member_id) ?? []), change.reason]);
    }
    expect(perMember.size).toBe(memberIds.length);
    for (const reasons of perMember.values()) {
      expect(reasons.sort()).toEqual([
        "period_end_downgrade",
        "period_end_downgrade",
        "threshold_crossed",
      ]);
    }
    const again = await Promise.all([reviewDueTiers(ctx), reviewDueTiers(otherCtx)]);
    expect(again.map((report) => report.changed)).toEqual([0, 0]);
  });

  it("upgrades once per tier when purchases of one member race each other and the job", async () => {
    clock.set("2026-03-02T03:00:00Z");
    const { programId, memberIds } = await setup(1);
    const memberId = memberIds[0] as string;
    const results = await Promise.all([
      ...Array.from({ length: 8 }, (_, index) =>
        (index % 2 === 0 ? ctx : otherCtx).db.transaction((tx) =>
          recordPurchase(
            tx,
            ctx,
            programId,
            purchaseSchema.parse(purchase(`R-${index}`, { member: { id: memberId } })),
          ),
        ),
      ),
      reviewDueTiers(otherCtx),
    ]);
    expect(results).toHaveLength(9);
    const codes = (await changesOf(programId)).map((change) => change.code);
    // Each purchase sees the ones committed before it: every tier is reached exactly once.
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes.at(-1)).toBe("platinum");
    const stored = await db.kysely
      .selectFrom("member_tiers")
      .innerJoin("tiers", "tiers.id", "member_tiers.tier_id")
      .select("tiers.code")
      .where("member_id", "=", memberId)
      .executeTakeFirstOrThrow();
    expect(stored.code).toBe("platinum");
  });
});
