import type { FastifyRequest } from "fastify";
import type { Ctx } from "../../context.ts";
import { DomainError } from "../../lib/errors.ts";
import type { Principal, Role } from "../auth/index.ts";
import { assertCsrf, findSession } from "./sessions.ts";
import type { StaffRole } from "./tables.ts";

export const areas = [
  "keys",
  "members",
  "ledger",
  "rules",
  "rewards",
  "settings",
  "staff",
  "pos",
  "reports",
  "audit",
] as const;
export type Area = (typeof areas)[number];

/**
 * Default area of a route by its path, first match wins; a route sets `config.area` only where
 * this is wrong. Paths are the route patterns after /v1/programs/:programId.
 */
const areaByPath: [RegExp, Area][] = [
  [/^\/api-keys/, "keys"],
  [/^\/staff/, "staff"],
  [/^\/(audit|adjustment-requests|adjustment-policy|velocity-)/, "audit"],
  [/^\/(reports|simulations|ledger\/summary|events)/, "reports"],
  [/^\/(transactions|refunds|holds|vouchers|members\/lookup)/, "pos"],
  [
    /^\/members\/:memberId\/(balance|expiring|redemptions|holds|referral\/claim|rewards|vouchers|wallet)/,
    "pos",
  ],
  [/^\/rewards\/:rewardId\/redemptions/, "pos"],
  [/^\/(members|erasures)/, "members"],
  [/^\/(ledger|transfers|members\/:memberId\/(adjustments|history))/, "ledger"],
  [/^\/(campaigns|activity-types|activities|tiers|tier-|referral)/, "rules"],
  [/^\/(rewards|coupon-batches|gift-cards|stored-value)/, "rewards"],
];

/** The area of a route: its `config.area`, else by path; anything unlisted is settings. */
export function areaOf(url: string, configured: Area | undefined): Area {
  if (configured) return configured;
  const rest = url.replace(/^\/v1\/programs\/:programId/, "");
  for (const [pattern, area] of areaByPath) {
    if (pattern.test(rest)) return area;
  }
  return "settings";
}

/** What each role may do beyond reading: the one table of staff permissions (decision 0042). */
const writableAreas: Record<StaffRole, ReadonlySet<Area> | "all"> = {
  owner: "all",
  admin: "all",
  marketer: new Set(["rules", "rewards", "reports"]),
  analyst: new Set(["reports"]),
  support: new Set(["members", "ledger", "rewards", "pos"]),
  cashier: new Set(["pos"]),
};
/** Areas not even readable by roles below admin. */
const privateAreas: ReadonlySet<Area> = new Set(["keys", "staff", "audit"]);

export function staffMayAccess(role: StaffRole, area: Area, needed: Role): boolean {
  const writable = writableAreas[role];
  if (writable === "all") return true;
  if (role === "cashier") return area === "pos" && (needed === "read" || needed === "pos");
  if (needed === "read" && !privateAreas.has(area)) return true;
  return writable.has(area);
}

/** API-key role a staff role acts with inside route handlers (audit, idempotency scope). */
function actingRole(role: StaffRole, deployment: boolean): Role {
  if (deployment) return "owner";
  if (role === "owner" || role === "admin") return "admin";
  return role === "analyst" ? "read" : "pos";
}

export interface StaffPrincipal {
  staffId: string;
  role: StaffRole;
  /** Store ids a cashier may act for; empty for other roles. */
  storeIds: string[];
  sessionId: string;
}

declare module "fastify" {
  interface FastifyContextConfig {
    /** Which part of the product a route belongs to, for staff roles (src/modules/staff/access.ts). */
    area?: Area;
  }
  interface FastifyRequest {
    staff?: StaffPrincipal;
  }
}

/**
 * Authenticates a request by its staff session cookie and checks the role map. The session must
 * be fully signed in, the account active, and unsafe methods must carry the CSRF token.
 */
export async function authenticateStaff(
  ctx: Ctx,
  request: FastifyRequest,
  needed: Role,
): Promise<Principal> {
  const now = ctx.clock.now();
  const session = await findSession(ctx.db.kysely, request, "staff", now);
  if (session?.stage !== "full") {
    throw new DomainError("unauthorized", "sign in, or send an API key as Authorization: Bearer");
  }
  const account = await ctx.db.kysely
    .selectFrom("staff_accounts")
    .select(["id", "disabled_at", "totp_enabled_at"])
    .where("id", "=", session.subject_id)
    .executeTakeFirst();
  if (!account || account.disabled_at) {
    throw new DomainError("unauthorized", "this staff account is disabled");
  }
  assertCsrf(request, session);
  if (!account.totp_enabled_at) {
    throw new DomainError(
      "forbidden",
      "turn on two-factor sign-in first (POST /v1/staff/me/totp/enrol)",
      {
        twoFactorRequired: true,
      },
    );
  }
  const programId = (request.params as { programId?: string } | undefined)?.programId ?? null;
  const memberships = await ctx.db.kysely
    .selectFrom("staff_memberships")
    .select(["program_id", "role", "store_ids"])
    .where("staff_id", "=", account.id)
    .orderBy("created_at")
    .execute();
  // The deployment role ("" program) covers every program. A route without a program in its
  // path (GET /v1/programs) answers for the first program of the account.
  const membership =
    memberships.find((m) => m.program_id === "") ??
    memberships.find((m) => m.program_id === (programId ?? m.program_id));
  const deployment = membership?.program_id === "";
  const area = areaOf(request.routeOptions.url ?? "", request.routeOptions.config.area);
  const allowed =
    membership !== undefined &&
    (needed === "owner"
      ? deployment && membership.role === "owner"
      : staffMayAccess(membership.role, area, needed));
  if (!allowed) {
    throw new DomainError("forbidden", "your staff role may not do this", {
      role: membership?.role ?? null,
      area,
    });
  }
  request.staff = {
    staffId: account.id,
    role: membership.role,
    storeIds: membership.store_ids,
    sessionId: session.id,
  };
  return {
    keyId: account.id,
    role: actingRole(membership.role, deployment),
    programId: deployment ? null : (membership.program_id as string),
  };
}

/** Store ids a request body names: a purchase, a refund, or every purchase of a batch. */
function storeIdsIn(body: unknown): string[] {
  if (typeof body !== "object" || body === null) return [];
  const found: string[] = [];
  const record = body as Record<string, unknown>;
  if (typeof record.storeId === "string") found.push(record.storeId);
  for (const value of Object.values(record)) {
    if (Array.isArray(value)) {
      for (const item of value) {
        const storeId = (item as { storeId?: unknown } | null)?.storeId;
        if (typeof storeId === "string") found.push(storeId);
      }
    }
  }
  return found;
}

/** A cashier acts only for its stores: a body naming another store is refused. */
export function assertStoreScope(request: FastifyRequest): void {
  const staff = request.staff;
  if (staff?.role !== "cashier") return;
  // A refund without a store defaults to the purchase's store, which may be another one.
  const body = request.body as { storeId?: unknown } | undefined;
  if (request.routeOptions.url?.endsWith("/refunds") && body?.storeId === undefined) {
    throw new DomainError("forbidden", "a cashier names its store (storeId) on a refund");
  }
  const other = storeIdsIn(request.body).find((storeId) => !staff.storeIds.includes(storeId));
  if (other !== undefined) {
    throw new DomainError("forbidden", "this cashier is not assigned to that store", {
      storeId: other,
    });
  }
}
