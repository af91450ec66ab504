import { z } from "zod";
import { isoWeekOf, type LocalTime } from "./time.ts";

/** One line of a basket as the rules see it; money in integer minor units, quantity in thousandths. */
export interface EvalLine {
  lineNo: number;
  sku: string;
  category: string | null;
  brand: string | null;
  kind: "product" | "reward";
  quantityMilli: number;
  amountMinor: number;
}

/** What the engine knows about a member at the time of an event; gathered set-wise by the caller. */
export interface MemberFacts {
  memberId: string;
  tags: string[];
  tierCode: string | null;
  /** 100 = no tier bonus. */
  tierMultiplierPercent: number;
  birthday: string | null;
  city: string | null;
  ageBand: string | null;
  /** Whether any purchase of the member was recorded before this one. */
  hasPurchasedBefore: boolean;
  /** occurredAt (ms) of the member's earlier purchases within the longest visit window in use. */
  recentPurchasesMs: number[];
}

/** Everything a condition may look at: the event, its local time and the member. */
export interface EvalContext {
  trigger: string;
  occurredAt: Date;
  local: LocalTime;
  channel: string | null;
  storeId: string | null;
  /** Amount that can earn: the receipt total less reward lines. */
  earnableMinor: number;
  lines: EvalLine[];
  /** Indexes of the lines that earn (kind product). */
  productLines: number[];
  /** Product line index → amount, the weights that split basket-wide points. */
  productWeights: Map<number, number>;
  member: MemberFacts | null;
  attributes: Record<string, unknown>;
  currencyDigits: number;
}

export type ConditionResult = { ok: true; lines?: number[] } | { ok: false; reason: string };

interface ConditionType<S extends z.ZodType> {
  code: string;
  description: string;
  /** "lines" conditions narrow the lines a rule's line actions work on; "event" ones do not. */
  scope: "lines" | "event";
  args: S;
  test(args: z.infer<S>, context: EvalContext, lines: number[]): ConditionResult;
}

export interface ActionOutcome {
  points: number;
  /** Line index → points this action attributes to it (whole points, before caps). */
  weights: Map<number, number>;
  rewardId?: string;
}

interface ActionType<S extends z.ZodType> {
  code: string;
  description: string;
  /** How the action rounds, stated for the admin UI and the docs. */
  rounding: string;
  args: S;
  apply(args: z.infer<S>, context: EvalContext, lines: number[], basePoints: number): ActionOutcome;
}

const codeList = (label: string) =>
  z.array(z.string().trim().min(1).max(64)).min(1).max(200).describe(label);
const hhmm = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "time is HH:MM (00:00–23:59)")
  .describe("Local time HH:MM in the program's timezone");
const pointsArg = z.number().int().min(1).max(1_000_000_000);
const moneyArg = z
  .string()
  .regex(/^\d{1,15}(\.\d{1,4})?$/, "a decimal amount such as 50000 or 12.50")
  .describe("Money in major units of the program's currency");

const ok = (lines?: number[]): ConditionResult => (lines ? { ok: true, lines } : { ok: true });
const fail = (reason: string): ConditionResult => ({ ok: false, reason });
const minutes = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));

function lineCondition(
  code: string,
  description: string,
  field: "sku" | "category" | "brand",
  label: string,
) {
  return define({
    code,
    description,
    scope: "lines",
    args: z.object({ values: codeList(`${label} values, any of them matches`) }).strict(),
    test(args, context, lines) {
      const wanted = valueSet(args.values);
      const matched = lines.filter((index) => {
        const value = context.lines[index]?.[field];
        return value !== null && value !== undefined && wanted.has(value);
      });
      return matched.length > 0 ? ok(matched) : fail(`no basket line with ${label} in the list`);
    },
  });
}

/** Sets of a condition's values, built once per compiled argument list. */
const valueSets = new WeakMap<string[], Set<string>>();
function valueSet(values: string[]): Set<string> {
  let set = valueSets.get(values);
  if (!set) {
    set = new Set(values);
    valueSets.set(values, set);
  }
  return set;
}

function define<S extends z.ZodType>(type: ConditionType<S>): ConditionType<z.ZodType> {
  return type as unknown as ConditionType<z.ZodType>;
}
function defineAction<S extends z.ZodType>(type: ActionType<S>): ActionType<z.ZodType> {
  return type as unknown as ActionType<z.ZodType>;
}

function birthdayThisYear(birthday: string, year: number): string {
  const monthDay = birthday.slice(5);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return `${year}-${monthDay === "02-29" && !leap ? "02-28" : monthDay}`;
}

const conditionList = [
  define({
    code: "channel",
    description: "The event came through one of these channels (pos, online, app)",
    scope: "event",
    args: z
      .object({
        channels: z
          .array(z.enum(["pos", "online", "app"]))
          .min(1)
          .max(3),
      })
      .strict(),
    test: (args, context) =>
      context.channel !== null && args.channels.includes(context.channel as "pos")
        ? ok()
        : fail(`channel ${context.channel ?? "none"} not in the list`),
  }),
  define({
    code: "store",
    description: "The purchase was made in one of these stores",
    scope: "event",
    args: z.object({ storeIds: codeList("Store ids") }).strict(),
    test: (args, context) =>
      context.storeId !== null && args.storeIds.includes(context.storeId)
        ? ok()
        : fail(`store ${context.storeId ?? "none"} not in the list`),
  }),
  lineCondition("sku_in_basket", "The basket holds one of these SKUs", "sku", "SKU"),
  lineCondition(
    "category_in_basket",
    "The basket holds a product of one of these categories",
    "category",
    "category",
  ),
  lineCondition(
    "brand_in_basket",
    "The basket holds a product of one of these brands",
    "brand",
    "brand",
  ),
  define({
    code: "basket_total_at_least",
    description: "The earnable basket total (reward lines excluded) is at least this amount",
    scope: "event",
    args: z.object({ amount: moneyArg }).strict(),
    test(args, context) {
      const wanted = parseMinor(args.amount, context.currencyDigits);
      return context.earnableMinor >= wanted ? ok() : fail(`basket total below ${args.amount}`);
    },
  }),
  define({
    code: "item_quantity_at_least",
    description:
      "The matching lines (all product lines when the rule names no SKU/category/brand) hold at least this quantity",
    scope: "event",
    args: z.object({ quantity: z.number().positive().max(1_000_000) }).strict(),
    test(args, context, lines) {
      const milli = lines.reduce(
        (sum, index) => sum + (context.lines[index]?.quantityMilli ?? 0),
        0,
      );
      return milli >= Math.round(args.quantity * 1000)
        ? ok()
        : fail(`quantity ${milli / 1000} below ${args.quantity}`);
    },
  }),
  define({
    code: "day_of_week",
    description:
      "The event happened on one of these ISO weekdays (1 = Monday … 7 = Sunday), program time",
    scope: "event",
    args: z.object({ days: z.array(z.number().int().min(1).max(7)).min(1).max(7) }).strict(),
    test: (args, context) =>
      args.days.includes(context.local.weekday)
        ? ok()
        : fail(`weekday ${context.local.weekday} not in the list`),
  }),
  define({
    code: "time_of_day",
    description: "The event happened between from (included) and to (excluded), program time",
    scope: "event",
    args: z
      .object({ from: hhmm, to: hhmm })
      .strict()
      .refine((value) => minutes(value.from) < minutes(value.to), {
        message: "from must be before to",
        path: ["from"],
      }),
    test(args, context) {
      const at = context.local.minuteOfDay;
      return at >= minutes(args.from) && at < minutes(args.to)
        ? ok()
        : fail(`local time outside ${args.from}–${args.to}`);
    },
  }),
  define({
    code: "date_range",
    description: "The event happened between these local dates, both included",
    scope: "event",
    args: z
      .object({ from: z.iso.date(), to: z.iso.date() })
      .strict()
      .refine((value) => value.from <= value.to, {
        message: "from must not be after to",
        path: ["from"],
      }),
    test: (args, context) =>
      context.local.date >= args.from && context.local.date <= args.to
        ? ok()
        : fail(`local date ${context.local.date} outside ${args.from}..${args.to}`),
  }),
  define({
    code: "member_tier",
    description: "The member holds one of these tiers (tier codes)",
    scope: "event",
    args: z.object({ tiers: codeList("Tier codes") }).strict(),
    test(args, context) {
      if (!context.member) return fail("no member");
      const tier = context.member.tierCode;
      return tier !== null && args.tiers.includes(tier)
        ? ok()
        : fail(`tier ${tier ?? "none"} not in the list`);
    },
  }),
  define({
    code: "member_tag",
    description: "The member carries any (or all) of these tags (segments)",
    scope: "event",
    args: z
      .object({
        tags: z.array(z.string().trim().toLowerCase().min(1).max(40)).min(1).max(50),
        match: z.enum(["any", "all"]).default("any"),
      })
      .strict(),
    test(args, context) {
      if (!context.member) return fail("no member");
      const has = new Set(context.member.tags);
      const hit =
        args.match === "all"
          ? args.tags.every((tag) => has.has(tag))
          : args.tags.some((tag) => has.has(tag));
      return hit ? ok() : fail(`member tags do not match (${args.match})`);
    },
  }),
  define({
    code: "first_purchase",
    description: "This is the member's first recorded purchase",
    scope: "event",
    args: z.object({}).strict(),
    test(_args, context) {
      if (!context.member) return fail("no member");
      return context.member.hasPurchasedBefore ? fail("member purchased before") : ok();
    },
  }),
  define({
    code: "birthday_period",
    description:
      "The event falls on the member's birthday, in its ISO week or in its month (program time)",
    scope: "event",
    args: z.object({ period: z.enum(["day", "week", "month"]) }).strict(),
    test(args, context) {
      const birthday = context.member?.birthday;
      if (!birthday) return fail(context.member ? "member has no birthday" : "no member");
      const { local } = context;
      const thisYear = birthdayThisYear(birthday, local.year);
      const [, month, day] = thisYear.split("-").map(Number) as [number, number, number];
      const hit =
        args.period === "day"
          ? thisYear === local.date
          : args.period === "month"
            ? month === local.month
            : isoWeekOf(local.year, month, day) === local.isoWeek;
      return hit ? ok() : fail(`not the member's birthday ${args.period}`);
    },
  }),
  define({
    code: "nth_visit",
    description:
      "Counting this purchase, the member made exactly (or at least) n purchases in the last windowDays days",
    scope: "event",
    args: z
      .object({
        n: z.number().int().min(1).max(1000),
        windowDays: z.number().int().min(1).max(366),
        mode: z.enum(["exactly", "at_least"]).default("exactly"),
      })
      .strict(),
    test(args, context) {
      if (!context.member) return fail("no member");
      const since = context.occurredAt.getTime() - args.windowDays * 86_400_000;
      const until = context.occurredAt.getTime();
      const count =
        1 + context.member.recentPurchasesMs.filter((ms) => ms > since && ms <= until).length;
      const hit = args.mode === "exactly" ? count === args.n : count >= args.n;
      return hit
        ? ok()
        : fail(`visit ${count} in ${args.windowDays} days, wanted ${args.mode} ${args.n}`);
    },
  }),
  define({
    code: "member_attribute",
    description: "The member's profile matches: city and/or age band in the lists",
    scope: "event",
    args: z
      .object({
        cities: z.array(z.string().trim().min(1).max(80)).min(1).max(200).optional(),
        ageBands: z
          .array(z.enum(["<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]))
          .min(1)
          .max(7)
          .optional(),
      })
      .strict()
      .refine((value) => value.cities !== undefined || value.ageBands !== undefined, {
        message: "give cities or ageBands",
        path: ["cities"],
      }),
    test(args, context) {
      const member = context.member;
      if (!member) return fail("no member");
      const city = member.city?.toLowerCase() ?? null;
      if (args.cities && (city === null || !args.cities.some((c) => c.toLowerCase() === city))) {
        return fail(`city ${member.city ?? "unknown"} not in the list`);
      }
      if (
        args.ageBands &&
        (member.ageBand === null || !args.ageBands.includes(member.ageBand as "<18"))
      ) {
        return fail(`age band ${member.ageBand ?? "unknown"} not in the list`);
      }
      return ok();
    },
  }),
  define({
    code: "activity_attribute",
    description: "The activity's attribute `name` equals one of the values (activities only)",
    scope: "event",
    args: z
      .object({
        name: z.string().trim().min(1).max(64),
        values: z
          .array(z.union([z.string().max(200), z.number(), z.boolean()]))
          .min(1)
          .max(100),
      })
      .strict(),
    test(args, context) {
      const value = context.attributes[args.name];
      return args.values.some((wanted) => wanted === value)
        ? ok()
        : fail(`attribute ${args.name} does not match`);
    },
  }),
];

const minorCache = new Map<string, number>();

/** Minor units of a money argument (validated at save time as a plain decimal); memoised. */
export function parseMinor(amount: string, digits: number): number {
  const key = `${digits}|${amount}`;
  let minor = minorCache.get(key);
  if (minor === undefined) {
    const [whole = "0", fraction = ""] = amount.split(".");
    minor = Number(
      BigInt(whole) * 10n ** BigInt(digits) +
        BigInt(fraction.padEnd(digits, "0").slice(0, digits) || "0"),
    );
    if (minorCache.size > 10_000) minorCache.clear();
    minorCache.set(key, minor);
  }
  return minor;
}

/**
 * floor(a × b / c) exactly. Below 2^52 a double holds the product exactly and its quotient
 * cannot round up to the next integer; beyond, BigInt (slower, rare: amounts of 10^15 minor).
 */
export function mulDiv(a: number, b: number, c: number): number {
  if (c === 0) return 0;
  const product = a * b;
  if (product <= 2 ** 52 && product >= 0) return Math.floor(product / c);
  return Number((BigInt(a) * BigInt(b)) / BigInt(c));
}

/** Splits whole points over weights, rounding each share down; what cannot be split stays unassigned. */
export function spread(points: number, weights: Map<number, number>): Map<number, number> {
  const total = [...weights.values()].reduce((sum, weight) => sum + weight, 0);
  const shares = new Map<number, number>();
  if (total <= 0 || points <= 0) return shares;
  for (const [index, weight] of weights) {
    const share = mulDiv(points, weight, total);
    if (share > 0) shares.set(index, share);
  }
  return shares;
}

function amountWeights(context: EvalContext, lines: number[]): Map<number, number> {
  if (lines === context.productLines) return context.productWeights;
  return new Map(lines.map((index) => [index, context.lines[index]?.amountMinor ?? 0]));
}

const actionList = [
  defineAction({
    code: "points_per_amount",
    description:
      "points for every `per` spent: on the whole earnable basket, or only on the lines the rule matches",
    rounding: "floor(amount × points / per) on the total of the scope",
    args: z
      .object({
        points: pointsArg,
        per: moneyArg.refine((value) => Number(value) > 0, "per must be greater than zero"),
        scope: z.enum(["basket", "matching_lines"]).default("basket"),
      })
      .strict(),
    apply(args, context, lines) {
      const scopeLines = args.scope === "basket" ? context.productLines : lines;
      const amount =
        args.scope === "basket"
          ? context.earnableMinor
          : scopeLines.reduce((sum, index) => sum + (context.lines[index]?.amountMinor ?? 0), 0);
      const points = mulDiv(amount, args.points, parseMinor(args.per, context.currencyDigits));
      return { points, weights: spread(points, amountWeights(context, scopeLines)) };
    },
  }),
  defineAction({
    code: "fixed_bonus",
    description: "A fixed number of bonus points",
    rounding: "exact",
    args: z.object({ points: pointsArg }).strict(),
    apply: (args, context, lines) => ({
      points: args.points,
      weights: spread(args.points, amountWeights(context, lines)),
    }),
  }),
  defineAction({
    code: "multiplier",
    description:
      "Multiplies the base points: percent 200 = double points (gives 100 % of base extra); never below 100",
    rounding: "floor(base × (percent − 100) / 100)",
    args: z
      .object({
        percent: z
          .number()
          .int()
          .min(
            100,
            "a multiplier is at least 100 (×1); negative or lowering multipliers are refused",
          )
          .max(10_000),
      })
      .strict(),
    apply(args, context, _lines, basePoints) {
      const points = mulDiv(basePoints, args.percent - 100, 100);
      return { points, weights: spread(points, amountWeights(context, context.productLines)) };
    },
  }),
  defineAction({
    code: "points_per_item",
    description: "points for every whole unit on the lines the rule matches",
    rounding: "floor(total quantity of matching lines) × points",
    args: z.object({ points: pointsArg }).strict(),
    apply(args, context, lines) {
      const weights = new Map<number, number>();
      let points = 0;
      for (const index of lines) {
        const units = Math.floor((context.lines[index]?.quantityMilli ?? 0) / 1000);
        if (units > 0) {
          weights.set(index, units * args.points);
          points += units * args.points;
        }
      }
      return { points, weights };
    },
  }),
  defineAction({
    code: "award_reward",
    description: "Grants a free reward (voucher) from the rewards catalog; no points",
    rounding: "not applicable",
    args: z.object({ rewardId: z.string().trim().min(1).max(64) }).strict(),
    apply: (args) => ({ points: 0, weights: new Map(), rewardId: args.rewardId }),
  }),
];

export type ConditionDef = (typeof conditionList)[number];
export type ActionDef = (typeof actionList)[number];

export const conditionTypes: ReadonlyMap<string, ConditionDef> = new Map(
  conditionList.map((type) => [type.code, type]),
);
export const actionTypes: ReadonlyMap<string, ActionDef> = new Map(
  actionList.map((type) => [type.code, type]),
);

/** The registry as the admin UI needs it: code, description and JSON Schema of the arguments. */
export function registryView() {
  const schemaOf = (args: z.ZodType) =>
    z.toJSONSchema(args, { io: "input", unrepresentable: "any" });
  return {
    conditions: conditionList.map((type) => ({
      code: type.code,
      description: type.description,
      scope: type.scope,
      argsSchema: schemaOf(type.args),
    })),
    actions: actionList.map((type) => ({
      code: type.code,
      description: type.description,
      rounding: type.rounding,
      argsSchema: schemaOf(type.args),
    })),
  };
}
