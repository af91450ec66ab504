import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError } from "../api/support.ts";
import { createTestApi, type TestApi } from "../harness.ts";
import { base, buy, campaignBody, createCampaign, expectNothingWrittenHere } from "./support.ts";

type Json = Record<string, unknown>;

const bonusRule = { actions: [{ type: "fixed_bonus", args: { points: 10 } }] };

describe("campaigns over HTTP", () => {
  let api: TestApi;
  let p: string;
  beforeAll(async () => {
    api = await createTestApi("2026-03-07T03:00:00Z");
    p = await api.program();
  });
  afterAll(() => api.close());

  it("serves the registry with JSON Schemas for forms", async () => {
    const response = await api.call("GET", "/v1/rule-registry", { key: await api.key(p, "read") });
    expect(response.status).toBe(200);
    const conditions = response.body.conditions as Json[];
    const codes = conditions.map((item) => item.code);
    expect(codes).toEqual(
      expect.arrayContaining([
        "channel",
        "store",
        "sku_in_basket",
        "category_in_basket",
        "brand_in_basket",
        "basket_total_at_least",
        "item_quantity_at_least",
        "day_of_week",
        "time_of_day",
        "date_range",
        "member_tier",
        "member_tag",
        "first_purchase",
        "birthday_period",
        "nth_visit",
        "member_attribute",
      ]),
    );
    const days = conditions.find((item) => item.code === "day_of_week");
    expect(days?.argsSchema).toMatchObject({
      type: "object",
      properties: { days: { type: "array", items: { type: "integer", minimum: 1, maximum: 7 } } },
    });
    const actions = (response.body.actions as Json[]).map((item) => item.code);
    expect(actions).toEqual([
      "points_per_amount",
      "fixed_bonus",
      "multiplier",
      "points_per_item",
      "award_reward",
    ]);
  });

  it("creates, reads, lists; every change is a version with who and when", async () => {
    const created = await createCampaign(api, p, campaignBody([bonusRule], { status: "draft" }));
    expect(created).toMatchObject({
      status: "draft",
      version: 1,
      stacking: "stack",
      exclusive: false,
      caps: {},
      budgetPoints: null,
      budgetUsedPoints: null,
    });
    const ruleId = ((created.rules as Json[])[0] as Json).id as string;
    expect(ruleId).toMatch(/^rul_/);
    const url = `${base(p)}/campaigns/${created.id}`;
    const activated = await api.call("PATCH", url, { body: { status: "active" } });
    expect(activated.body).toMatchObject({ status: "active", version: 2 });
    const changed = await api.call("PATCH", url, {
      body: { priority: 7, budgetPoints: 500 },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body).toMatchObject({
      version: 3,
      priority: 7,
      budgetPoints: 500,
      budgetUsedPoints: 0,
    });
    // Rule ids survive a change that does not name them.
    expect(((changed.body.rules as Json[])[0] as Json).id).toBe(ruleId);
    const versions = await api.call("GET", `${url}/versions`);
    expect(
      (versions.body.data as Json[]).map((item) => [item.version, item.status, item.change]),
    ).toEqual([
      [3, "active", "changed budgetPoints, priority"],
      [2, "active", "status draft → active"],
      [1, "draft", "created"],
    ]);
    expect((versions.body.data as Json[])[0]).toMatchObject({
      changedBy: expect.stringMatching(/^key_/),
      definition: expect.objectContaining({ priority: 7 }),
    });
    const older = await api.call("GET", `${url}/versions?before=2&limit=5`);
    expect((older.body.data as Json[]).map((item) => item.version)).toEqual([1]);
    const list = await api.call("GET", `${base(p)}/campaigns?status=active`);
    expect((list.body.data as Json[]).map((item) => item.id)).toContain(created.id);
  });

  it("allows only the stated status transitions; ended is final", async () => {
    const created = await createCampaign(api, p, campaignBody([bonusRule]));
    const url = `${base(p)}/campaigns/${created.id}`;
    expectError(
      await expectNothingWrittenHere(api, () =>
        api.call("PATCH", url, { body: { status: "draft" } }),
      ),
      409,
      "campaign_status_invalid",
    );
    expect((await api.call("PATCH", url, { body: { status: "paused" } })).status).toBe(200);
    expect((await api.call("PATCH", url, { body: { status: "ended" } })).status).toBe(200);
    expectError(
      await api.call("PATCH", url, { body: { name: "again" } }),
      409,
      "campaign_status_invalid",
    );
    expectError(await api.call("GET", `${base(p)}/campaigns/cmp_nope`), 404, "campaign_not_found");
  });

  it("a paused campaign gives nothing; active again, it does", async () => {
    const q = await api.program();
    const m = await api.member(q);
    const created = await createCampaign(api, q, campaignBody([bonusRule]));
    expect((await buy(api, q, "R-1", { member: { id: m } })).pointsEarned).toBe(20);
    await api.call("PATCH", `${base(q)}/campaigns/${created.id}`, { body: { status: "paused" } });
    expect((await buy(api, q, "R-2", { member: { id: m } })).pointsEarned).toBe(10);
    await api.call("PATCH", `${base(q)}/campaigns/${created.id}`, { body: { status: "active" } });
    expect((await buy(api, q, "R-3", { member: { id: m } })).pointsEarned).toBe(20);
  });

  it("refuses bad definitions with the precise path, writing nothing", async () => {
    const cases: [Json, string][] = [
      [
        campaignBody([{ conditions: [{ type: "moon_phase", args: {} }], ...bonusRule }]),
        "body.rules.0.conditions.0.type",
      ],
      [
        campaignBody([
          {
            conditions: [
              { type: "channel", args: { channels: ["pos"] } },
              { type: "day_of_week", args: { days: ["sat"] } },
            ],
            ...bonusRule,
          },
        ]),
        "body.rules.0.conditions.1.args.days.0",
      ],
      [
        campaignBody([
          {
            conditions: [{ type: "time_of_day", args: { from: "18:00", to: "09:00" } }],
            ...bonusRule,
          },
        ]),
        "body.rules.0.conditions.0.args.from",
      ],
      [
        campaignBody([
          {
            conditions: [{ type: "date_range", args: { from: "2026-05-01", to: "2026-04-01" } }],
            ...bonusRule,
          },
        ]),
        "body.rules.0.conditions.0.args.from",
      ],
      [
        campaignBody([{ actions: [{ type: "multiplier", args: { percent: -200 } }] }]),
        "body.rules.0.actions.0.args.percent",
      ],
      [
        campaignBody([{ actions: [{ type: "teleport", args: {} }] }]),
        "body.rules.0.actions.0.type",
      ],
      [campaignBody([bonusRule], { caps: { perMemberPerDay: 0 } }), "body.caps.perMemberPerDay"],
      [campaignBody([bonusRule], { budgetPoints: -5 }), "body.budgetPoints"],
      [campaignBody(Array.from({ length: 21 }, () => bonusRule)), "body.rules"],
      [
        campaignBody([
          {
            conditions: Array.from({ length: 21 }, () => ({ type: "first_purchase", args: {} })),
            ...bonusRule,
          },
        ]),
        "body.rules.0.conditions",
      ],
      [campaignBody([{ trigger: "dance", ...bonusRule }]), "rules.0.trigger"],
      [campaignBody([bonusRule], { endsAt: "2025-12-31T00:00:00Z" }), "endsAt"],
      [
        campaignBody([
          { id: "a", ...bonusRule },
          { id: "a", ...bonusRule },
        ]),
        "rules.1.id",
      ],
    ];
    for (const [body, path] of cases) {
      const response = await expectNothingWrittenHere(api, () =>
        api.call("POST", `${base(p)}/campaigns`, { body }),
      );
      expectError(response, 400, "validation_failed");
      const details = response.body.error?.details as { issues: { path: string }[] };
      expect(
        details.issues.map((issue) => issue.path),
        JSON.stringify(body),
      ).toContain(path);
    }
  });

  it("refuses a 201st active campaign; drafts do not count", async () => {
    const q = await api.program();
    const definition = JSON.stringify({ name: "filler", rules: [] });
    const at = api.clock.now();
    await api.ctx.db.kysely
      .insertInto("campaigns")
      .values(
        Array.from({ length: 200 }, (_, index) => ({
          id: `cmp_filler${String(index).padStart(21, "0")}`,
          program_id: q,
          status: "active" as const,
          version: 1,
          definition,
          created_at: at,
          updated_at: at,
        })),
      )
      .execute();
    const refused = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(q)}/campaigns`, { body: campaignBody([bonusRule]) }),
    );
    expectError(refused, 409, "campaign_limit_reached");
    const draft = await createCampaign(api, q, campaignBody([bonusRule], { status: "draft" }));
    expectError(
      await api.call("PATCH", `${base(q)}/campaigns/${draft.id}`, { body: { status: "active" } }),
      409,
      "campaign_limit_reached",
    );
  });

  it("checks rewards when a campaign is saved and awards vouchers on purchases", async () => {
    const q = await api.program();
    const m = await api.member(q);
    const missing = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(q)}/campaigns`, {
        body: campaignBody([
          { actions: [{ type: "award_reward", args: { rewardId: "rwd_nope" } }] },
        ]),
      }),
    );
    expectError(missing, 404, "reward_not_found");
    const reward = await api.call("POST", `${base(q)}/rewards`, {
      body: {
        type: "free_product",
        benefit: { sku: "KOPI" },
        texts: { en: { name: "Free coffee" } },
        pointsCost: 0,
      },
    });
    expect(reward.status, JSON.stringify(reward.body)).toBe(201);
    await createCampaign(
      api,
      q,
      campaignBody([
        {
          conditions: [{ type: "first_purchase", args: {} }],
          actions: [{ type: "award_reward", args: { rewardId: reward.body.id } }],
        },
      ]),
    );
    const earn = await buy(api, q, "R-1", { member: { id: m } });
    expect(earn.vouchers).toEqual([
      expect.objectContaining({ rewardId: reward.body.id, code: expect.any(String) }),
    ]);
    expect(earn.breakdown[1]).toMatchObject({
      source: "campaign",
      points: 0,
      rewardId: reward.body.id,
    });
  });

  it("needs the admin role to change campaigns and a read key to see them", async () => {
    const pos = await api.key(p, "pos");
    const refused = await expectNothingWrittenHere(api, () =>
      api.call("POST", `${base(p)}/campaigns`, { body: campaignBody([bonusRule]), key: pos }),
    );
    expectError(refused, 403, "forbidden");
    const other = await api.program();
    const foreign = await api.call("GET", `${base(p)}/campaigns`, {
      key: await api.key(other, "admin"),
    });
    expectError(foreign, 403, "forbidden");
  });

  it("activity types: CRUD of custom types beside the built-in ones", async () => {
    const url = `${base(p)}/activity-types`;
    expect(
      (await api.call("POST", url, { body: { code: "bring_own_bag", name: "Own bag" } })).status,
    ).toBe(201);
    expectError(
      await api.call("POST", url, { body: { code: "signup", name: "x" } }),
      400,
      "validation_failed",
    );
    expectError(
      await api.call("POST", url, { body: { code: "bring_own_bag", name: "x" } }),
      400,
      "validation_failed",
    );
    expectError(
      await api.call("POST", url, { body: { code: "Bad Code", name: "x" } }),
      400,
      "validation_failed",
    );
    const renamed = await api.call("PATCH", `${url}/bring_own_bag`, {
      body: { name: "Bring your own bag" },
    });
    expect(renamed.body).toMatchObject({
      code: "bring_own_bag",
      name: "Bring your own bag",
      builtin: false,
    });
    const list = await api.call("GET", url);
    const codes = (list.body.data as Json[]).map((item) => item.code);
    expect(codes).toEqual(expect.arrayContaining(["signup", "review_written", "bring_own_bag"]));
    expect((await api.call("DELETE", `${url}/bring_own_bag`)).status).toBe(204);
    expectError(await api.call("DELETE", `${url}/bring_own_bag`), 404, "activity_type_not_found");
  });

  it("members carry tags: lowercased, at most 50 of 40 characters", async () => {
    const m = await api.member(p, { tags: ["Gold-Fan", "gold-fan", "kopi"] });
    const view = await api.call("GET", `${base(p)}/members/${m}`);
    expect(view.body.tags).toEqual(["gold-fan", "kopi"]);
    const patched = await api.call("PATCH", `${base(p)}/members/${m}`, { body: { tags: [] } });
    expect(patched.body.tags).toEqual([]);
    const tooLong = await api.call("PATCH", `${base(p)}/members/${m}`, {
      body: { tags: ["x".repeat(41)] },
    });
    expectError(tooLong, 400, "validation_failed");
    const tooMany = await api.call("PATCH", `${base(p)}/members/${m}`, {
      body: { tags: Array.from({ length: 51 }, (_, index) => `t${index}`) },
    });
    expectError(tooMany, 400, "validation_failed");
  });
});
