import { createHash } from "node:crypto";
import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { type DemoSummary, demoProgramName, seedDemo } from "../../src/cli/seed.ts";
import type { Ctx } from "../../src/context.ts";
import { verifyLedger } from "../../src/modules/ledger/index.ts";
import { listMembers, type MemberView } from "../../src/modules/members/index.ts";
import { createTestContext, type TestContext } from "../harness.ts";

const members = 60;
const seedTimeoutMs = 180_000;

/**
 * What the demo is made of, without ids or dates: ids are random ULIDs and dates follow the
 * clock, but members, receipts, baskets and refunds must not.
 */
async function contentHash(ctx: Ctx, programId: string): Promise<string> {
  // Personal data is stored encrypted (random IVs), so it is read decrypted through members.
  const views: MemberView[] = [];
  for (let after: string | undefined; ; ) {
    const page = await listMembers(ctx, programId, { limit: 500, after });
    views.push(...page);
    if (page.length < 500) break;
    after = page.at(-1)?.id;
  }
  const phones = new Map(views.map((member) => [member.id, member.phone ?? ""]));
  const rows = await sql<{ row: string; member_id: string | null }>`
    select t.member_id, concat_ws('|', 'purchase', t.store_id, t.external_id, t.channel,
        t.total_minor, t.refunded_minor,
        (select string_agg(concat_ws(':', l.sku, l.quantity, l.unit_price_minor,
            l.refunded_quantity), ',' order by l.line_no)
          from transaction_lines l where l.transaction_id = t.id)) as row
      from transactions t
      where t.program_id = ${programId}
    union all
    select null, concat_ws('|', 'refund', r.store_id, r.external_id, r.amount_minor, t.external_id)
      from refunds r join transactions t on t.id = r.transaction_id
      where r.program_id = ${programId}`.execute(ctx.db.kysely);
  const sorted = [
    ...rows.rows.map((row) => `${row.row}|${phones.get(row.member_id ?? "") ?? ""}`),
    ...views.map((member) =>
      [
        "member",
        member.phone,
        member.email,
        member.name,
        member.city,
        member.gender,
        member.ageBand,
        member.enrolledChannel,
        member.enrolledStoreId,
      ].join("|"),
    ),
  ].sort();
  return createHash("sha256").update(sorted.join("\n")).digest("hex");
}

describe("setia seed --demo", () => {
  const opened: TestContext[] = [];
  afterAll(async () => {
    for (const context of opened) await context.close();
  });

  async function seedFresh(seed: number, clockStart?: string) {
    const context = await createTestContext(clockStart);
    opened.push(context);
    const summary = await seedDemo(context.ctx, { members, seed });
    return { ctx: context.ctx, summary, hash: await contentHash(context.ctx, summary.programId) };
  }

  let first: { ctx: Ctx; summary: DemoSummary; hash: string };

  it(
    "writes a plausible program with a ledger that verifies",
    async () => {
      first = await seedFresh(7);
      const { summary, ctx } = first;
      expect(summary.created).toBe(true);
      expect(summary.keys?.admin).toMatch(/^sk_/);
      expect(summary.keys?.pos).toMatch(/^sk_/);
      expect(summary.counts.members).toBe(members);
      expect(summary.counts.stores).toBe(12);
      expect(summary.counts.purchases / members).toBeGreaterThan(8);
      expect(summary.counts.anonymousPurchases).toBeGreaterThan(0);
      expect(summary.counts.anonymousPurchases).toBeLessThan(summary.counts.purchases / 2);
      expect(summary.counts.refunds).toBeGreaterThan(0);
      expect(summary.counts.refunds).toBeLessThan(summary.counts.purchases * 0.1);
      expect(summary.points.issued).toBeGreaterThan(0);
      expect(summary.points.expired).toBeGreaterThan(0);
      const { outstanding } = summary.points;
      expect(outstanding.pending).toBeGreaterThan(0);
      expect(summary.points.issued - summary.points.redeemed - summary.points.expired).toBe(
        outstanding.pending + outstanding.available + outstanding.held,
      );

      const report = await verifyLedger(ctx.db.kysely, summary.programId);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);

      // Every total is the sum of its lines, and nothing happened after "now".
      const mismatched = await sql<{ count: number }>`
        select count(*)::int as count from transactions t
        where t.program_id = ${summary.programId} and t.total_minor <>
          (select coalesce(sum(amount_minor), 0) from transaction_lines l where l.transaction_id = t.id)`.execute(
        ctx.db.kysely,
      );
      expect(mismatched.rows[0]?.count).toBe(0);
      expect(new Date(summary.period.to ?? 0).getTime()).toBeLessThanOrEqual(
        ctx.clock.now().getTime(),
      );
      const lines = await sql<{ min: number; max: number }>`
        select min(n)::int as min, max(n)::int as max from (
          select count(*) as n from transaction_lines where program_id = ${summary.programId}
          group by transaction_id) per_receipt`.execute(ctx.db.kysely);
      expect(lines.rows[0]?.min).toBe(1);
      expect(lines.rows[0]?.max).toBeLessThanOrEqual(8);
    },
    seedTimeoutMs,
  );

  it(
    "answers the existing program's summary instead of seeding twice",
    async () => {
      const again = await seedDemo(first.ctx, { members, seed: 7 });
      expect(again.created).toBe(false);
      expect(again.keys).toBeNull();
      expect(again.programId).toBe(first.summary.programId);
      expect(again.counts).toEqual(first.summary.counts);
      const programs = await first.ctx.db.kysely
        .selectFrom("programs")
        .select("id")
        .where("name", "=", demoProgramName)
        .execute();
      expect(programs).toHaveLength(1);
      expect(await contentHash(first.ctx, first.summary.programId)).toBe(first.hash);
    },
    seedTimeoutMs,
  );

  it(
    "gives the same content for the same seed, on another day at another hour",
    async () => {
      const second = await seedFresh(7, "2026-07-19T15:42:00Z");
      expect(second.hash).toBe(first.hash);
      expect(second.summary.counts).toEqual(first.summary.counts);
    },
    seedTimeoutMs,
  );

  it(
    "gives different content for another seed",
    async () => {
      const other = await seedFresh(8);
      expect(other.hash).not.toBe(first.hash);
    },
    seedTimeoutMs,
  );
});
