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

/** Everything a condition may look at: the event, its local time and the member; built once per evaluation. */
export interface EvalContext {
  trigger: string;
  occurredAtMs: number;
  local: LocalTime;
  channel: string | null;
  storeId: string | null;
  /** Amount that can earn: the receipt total less reward lines. */
  earnableMinor: number;
  lines: EvalLine[];
  /** amountMinor of each line, the weights that split amount-based points. */
  amounts: number[];
  /** Indexes of the lines that earn (kind product). */
  productLines: number[];
  member: MemberFacts | null;
  /** Product lines by SKU, category and brand. */
  lineIndex: LineIndex;
  /** The member's tags as a set (empty without a member). */
  memberTags: ReadonlySet<string>;
  attributes: Record<string, unknown>;
  currencyDigits: number;
}

/**
 * A condition made ready for one campaign version: sets, masks and minutes are built once, so a
 * test is a few comparisons and allocates only when it narrows the lines.
 */
export interface ConditionTest {
  /** The lines still in play when the condition holds (fewer for line conditions), else null. */
  test(context: EvalContext, lines: number[]): number[] | null;
  /** Why it does not hold; called only to explain a failure. */
  reason(context: EvalContext, lines: number[]): string;
}

interface ConditionType<S extends z.ZodType> {
  code: string;
  description: string;
  /** "lines" conditions narrow the lines a rule's line actions work on; "event" ones do not. */
  scope: "lines" | "event";
  /** An event condition whose result depends on the lines in play (quantities). */
  readsLines?: true;
  args: S;
  compile(args: z.infer<S>): ConditionTest;
}

/** An action made ready for one campaign version. */
export interface ActionRun {
  /**
   * The action's points (whole, before caps); adds the points it attributes to each line into
   * `weights` (indexed like the basket lines).
   */
  apply(context: EvalContext, lines: number[], basePoints: number, weights: number[]): number;
}

interface ActionType<S extends z.ZodType> {
  code: string;
  description: string;
  /** How the action rounds, stated for the admin UI and the docs. */
  rounding: string;
  args: S;
  compile(args: z.infer<S>): ActionRun;
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

const minutes = (text: string) => Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5));

/** An event condition: it keeps the lines as they are when `holds`. */
function eventTest(
  holds: (context: EvalContext, lines: number[]) => boolean,
  reason: (context: EvalContext, lines: number[]) => string,
): ConditionTest {
  return { test: (context, lines) => (holds(context, lines) ? lines : null), reason };
}

/** A condition on the member: fails with "no member" without one. */
function memberTest(
  holds: (member: MemberFacts, context: EvalContext) => boolean,
  reason: (member: MemberFacts, context: EvalContext) => string,
): ConditionTest {
  return eventTest(
    (context) => context.member !== null && holds(context.member, context),
    (context) => (context.member ? reason(context.member, context) : "no member"),
  );
}

type LineField = "sku" | "category" | "brand";

/**
 * The product lines holding each value of a field, in line order; built once per evaluation
 * for each field a condition asks about, so a condition is a lookup per value, not a scan.
 */
export class LineIndex {
  readonly #lines: EvalLine[];
  readonly #productLines: number[];
  readonly #byField = new Map<LineField, Map<string, number[]>>();

  constructor(lines: EvalLine[], productLines: number[]) {
    this.#lines = lines;
    this.#productLines = productLines;
  }

  linesWith(field: LineField, value: string): number[] | undefined {
    let byValue = this.#byField.get(field);
    if (!byValue) {
      byValue = new Map();
      for (const index of this.#productLines) {
        const key = (this.#lines[index] as EvalLine)[field];
        if (key === null) continue;
        const indexes = byValue.get(key);
        if (indexes) indexes.push(index);
        else byValue.set(key, [index]);
      }
      this.#byField.set(field, byValue);
    }
    return byValue.get(value);
  }
}

function lineCondition(code: string, description: string, field: LineField, label: string) {
  return define({
    code,
    description,
    scope: "lines",
    args: z.object({ values: codeList(`${label} values, any of them matches`) }).strict(),
    compile(args) {
      const values = [...new Set(args.values)];
      const wanted = new Set(values);
      return {
        test(context, lines) {
          // Conditions narrowing lines already narrowed (rare) scan them.
          if (lines !== context.productLines) {
            const matched = lines.filter((index) => {
              const value = (context.lines[index] as EvalLine)[field];
              return value !== null && wanted.has(value);
            });
            return matched.length > 0 ? matched : null;
          }
          let matched: number[] | null = null;
          for (const value of values) {
            const indexes = context.lineIndex.linesWith(field, value);
            if (indexes) matched = matched ? [...matched, ...indexes] : indexes;
          }
          // Several values: back to line order, as the lines of the basket come.
          if (matched && values.length > 1) matched.sort((a, b) => a - b);
          return matched;
        },
        reason: () => `no basket line with ${label} in the list`,
      };
    },
  });
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

/** Purchases of the member in the window, this one included. */
function visitCount(member: MemberFacts, occurredAtMs: number, windowDays: number): number {
  const since = occurredAtMs - windowDays * 86_400_000;
  let count = 1;
  for (const ms of member.recentPurchasesMs) if (ms > since && ms <= occurredAtMs) count++;
  return count;
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
    compile(args) {
      const channels = new Set<string>(args.channels);
      return eventTest(
        (context) => context.channel !== null && channels.has(context.channel),
        (context) => `channel ${context.channel ?? "none"} not in the list`,
      );
    },
  }),
  define({
    code: "store",
    description: "The purchase was made in one of these stores",
    scope: "event",
    args: z.object({ storeIds: codeList("Store ids") }).strict(),
    compile(args) {
      const stores = new Set(args.storeIds);
      return eventTest(
        (context) => context.storeId !== null && stores.has(context.storeId),
        (context) => `store ${context.storeId ?? "none"} not in the list`,
      );
    },
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
    compile(args) {
      const wanted = moneyOf(args.amount);
      return eventTest(
        (context) => context.earnableMinor >= wanted(context.currencyDigits),
        () => `basket total below ${args.amount}`,
      );
    },
  }),
  define({
    code: "item_quantity_at_least",
    description:
      "The matching lines (all product lines when the rule names no SKU/category/brand) hold at least this quantity",
    scope: "event",
    readsLines: true,
    args: z.object({ quantity: z.number().positive().max(1_000_000) }).strict(),
    compile(args) {
      const wantedMilli = Math.round(args.quantity * 1000);
      const milliOf = (context: EvalContext, lines: number[]) => {
        let milli = 0;
        for (const index of lines) milli += (context.lines[index] as EvalLine).quantityMilli;
        return milli;
      };
      return eventTest(
        (context, lines) => milliOf(context, lines) >= wantedMilli,
        (context, lines) => `quantity ${milliOf(context, lines) / 1000} below ${args.quantity}`,
      );
    },
  }),
  define({
    code: "day_of_week",
    description:
      "The event happened on one of these ISO weekdays (1 = Monday … 7 = Sunday), program time",
    scope: "event",
    args: z.object({ days: z.array(z.number().int().min(1).max(7)).min(1).max(7) }).strict(),
    compile(args) {
      const mask = args.days.reduce((bits, day) => bits | (1 << day), 0);
      return eventTest(
        (context) => ((mask >> context.local.weekday) & 1) === 1,
        (context) => `weekday ${context.local.weekday} not in the list`,
      );
    },
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
    compile(args) {
      const from = minutes(args.from);
      const to = minutes(args.to);
      return eventTest(
        (context) => context.local.minuteOfDay >= from && context.local.minuteOfDay < to,
        () => `local time outside ${args.from}–${args.to}`,
      );
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
    compile: (args) =>
      eventTest(
        (context) => context.local.date >= args.from && context.local.date <= args.to,
        (context) => `local date ${context.local.date} outside ${args.from}..${args.to}`,
      ),
  }),
  define({
    code: "member_tier",
    description: "The member holds one of these tiers (tier codes)",
    scope: "event",
    args: z.object({ tiers: codeList("Tier codes") }).strict(),
    compile(args) {
      const tiers = new Set(args.tiers);
      return memberTest(
        (member) => member.tierCode !== null && tiers.has(member.tierCode),
        (member) => `tier ${member.tierCode ?? "none"} not in the list`,
      );
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
    compile(args) {
      const { tags } = args;
      return memberTest(
        (_member, { memberTags }) =>
          args.match === "all"
            ? tags.every((tag) => memberTags.has(tag))
            : tags.some((tag) => memberTags.has(tag)),
        () => `member tags do not match (${args.match})`,
      );
    },
  }),
  define({
    code: "first_purchase",
    description: "This is the member's first recorded purchase",
    scope: "event",
    args: z.object({}).strict(),
    compile: () =>
      memberTest(
        (member) => !member.hasPurchasedBefore,
        () => "member purchased before",
      ),
  }),
  define({
    code: "birthday_period",
    description:
      "The event falls on the member's birthday, in its ISO week or in its month (program time)",
    scope: "event",
    args: z.object({ period: z.enum(["day", "week", "month"]) }).strict(),
    compile(args) {
      const holds = (birthday: string, local: LocalTime) => {
        const thisYear = birthdayThisYear(birthday, local.year);
        const month = Number(thisYear.slice(5, 7));
        return args.period === "day"
          ? thisYear === local.date
          : args.period === "month"
            ? month === local.month
            : isoWeekOf(local.year, month, Number(thisYear.slice(8, 10))) === local.isoWeek;
      };
      return memberTest(
        (member, context) => !!member.birthday && holds(member.birthday, context.local),
        (member) =>
          member.birthday ? `not the member's birthday ${args.period}` : "member has no birthday",
      );
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
    compile(args) {
      const count = (member: MemberFacts, context: EvalContext) =>
        visitCount(member, context.occurredAtMs, args.windowDays);
      return memberTest(
        (member, context) =>
          args.mode === "exactly"
            ? count(member, context) === args.n
            : count(member, context) >= args.n,
        (member, context) =>
          `visit ${count(member, context)} in ${args.windowDays} days, wanted ${args.mode} ${args.n}`,
      );
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
    compile(args) {
      const cities = args.cities && new Set(args.cities.map((city) => city.toLowerCase()));
      const ageBands = args.ageBands && new Set<string>(args.ageBands);
      const cityFails = (member: MemberFacts) =>
        cities !== undefined && (member.city === null || !cities.has(member.city.toLowerCase()));
      const bandFails = (member: MemberFacts) =>
        ageBands !== undefined && (member.ageBand === null || !ageBands.has(member.ageBand));
      return memberTest(
        (member) => !cityFails(member) && !bandFails(member),
        (member) =>
          cityFails(member)
            ? `city ${member.city ?? "unknown"} not in the list`
            : `age band ${member.ageBand ?? "unknown"} not in the list`,
      );
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
    compile(args) {
      const values = new Set<unknown>(args.values);
      return eventTest(
        (context) => values.has(context.attributes[args.name]),
        () => `attribute ${args.name} does not match`,
      );
    },
  }),
];

/** Minor units of a money argument (validated at save time as a plain decimal). */
function parseMinor(amount: string, digits: number): number {
  const [whole = "0", fraction = ""] = amount.split(".");
  return Number(
    BigInt(whole) * 10n ** BigInt(digits) +
      BigInt(fraction.padEnd(digits, "0").slice(0, digits) || "0"),
  );
}

/** A money argument in minor units of the event's currency, parsed once per currency. */
function moneyOf(amount: string): (digits: number) => number {
  let lastDigits = -1;
  let minor = 0;
  return (digits) => {
    if (digits !== lastDigits) {
      minor = parseMinor(amount, digits);
      lastDigits = digits;
    }
    return minor;
  };
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

/**
 * Splits whole points over the weights (indexed like the basket lines) of the lines `indexes`
 * into `into`, rounding each share down; what cannot be split stays unassigned.
 */
export function spreadInto(
  points: number,
  weights: readonly number[],
  indexes: readonly number[],
  into: number[],
): void {
  if (points <= 0) return;
  let total = 0;
  for (const index of indexes) total += weights[index] as number;
  if (total <= 0) return;
  for (const index of indexes) {
    // A line without weight gets no share: skip the division.
    const weight = weights[index] as number;
    if (weight <= 0) continue;
    const share = mulDiv(points, weight, total);
    if (share > 0) into[index] = (into[index] as number) + share;
  }
}

/** Zeros for each basket line: weights and points per line start so. */
export function zeros(count: number): number[] {
  const values: number[] = [];
  for (let index = 0; index < count; index++) values.push(0);
  return values;
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
    compile(args) {
      const per = moneyOf(args.per);
      const basket = args.scope === "basket";
      return {
        apply(context, lines, _basePoints, weights) {
          const scopeLines = basket ? context.productLines : lines;
          let amount = context.earnableMinor;
          if (!basket) {
            amount = 0;
            for (const index of lines) amount += context.amounts[index] as number;
          }
          const points = mulDiv(amount, args.points, per(context.currencyDigits));
          spreadInto(points, context.amounts, scopeLines, weights);
          return points;
        },
      };
    },
  }),
  defineAction({
    code: "fixed_bonus",
    description: "A fixed number of bonus points",
    rounding: "exact",
    args: z.object({ points: pointsArg }).strict(),
    compile: (args) => ({
      apply(context, lines, _basePoints, weights) {
        spreadInto(args.points, context.amounts, lines, weights);
        return args.points;
      },
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
    compile: (args) => ({
      apply(context, _lines, basePoints, weights) {
        const points = mulDiv(basePoints, args.percent - 100, 100);
        spreadInto(points, context.amounts, context.productLines, weights);
        return points;
      },
    }),
  }),
  defineAction({
    code: "points_per_item",
    description: "points for every whole unit on the lines the rule matches",
    rounding: "floor(total quantity of matching lines) × points",
    args: z.object({ points: pointsArg }).strict(),
    compile: (args) => ({
      apply(context, lines, _basePoints, weights) {
        let points = 0;
        for (const index of lines) {
          const units = Math.floor((context.lines[index] as EvalLine).quantityMilli / 1000);
          if (units > 0) {
            weights[index] = (weights[index] as number) + units * args.points;
            points += units * args.points;
          }
        }
        return points;
      },
    }),
  }),
  defineAction({
    code: "award_reward",
    description: "Grants a free reward (voucher) from the rewards catalog; no points",
    rounding: "not applicable",
    args: z.object({ rewardId: z.string().trim().min(1).max(64) }).strict(),
    // The reward is granted by the engine from the rule's definition; the action gives no points.
    compile: () => ({ apply: () => 0 }),
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
