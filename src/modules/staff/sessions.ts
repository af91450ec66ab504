import { fastifyCookie } from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Queryable, Tx } from "../../db/client.ts";
import { DomainError } from "../../lib/errors.ts";
import { newId } from "../../lib/ids.ts";
import { hashToken, newToken, sameToken } from "./secrets.ts";
import type { WebSessionsTable } from "./tables.ts";

export type SessionKind = "staff" | "member";

interface SessionPolicy {
  cookie: string;
  csrfCookie: string;
  lifetimeMs: number;
  idleMs: number;
}

export const sessionPolicies: Record<SessionKind, SessionPolicy> = {
  staff: {
    cookie: "setia_staff",
    csrfCookie: "setia_staff_csrf",
    lifetimeMs: 12 * 3_600_000,
    idleMs: 2 * 3_600_000,
  },
  member: {
    cookie: "setia_member",
    csrfCookie: "setia_member_csrf",
    lifetimeMs: 30 * 86_400_000,
    idleMs: 7 * 86_400_000,
  },
};

/** A partial (password-only) staff session lives just long enough to type a TOTP code. */
const partialLifetimeMs = 10 * 60_000;
/** last_seen_at is written at most this often, so reading pages does not write every time. */
const touchIntervalMs = 60_000;

export const csrfHeader = "x-csrf-token";

export function readCookies(request: FastifyRequest): Record<string, string | undefined> {
  const header = request.headers.cookie;
  return header ? fastifyCookie.parse(header) : {};
}

/** The CSRF token the browser holds for a session kind ("" when it has none). */
export function csrfCookie(request: FastifyRequest, kind: SessionKind): string {
  return readCookies(request)[sessionPolicies[kind].csrfCookie] ?? "";
}

export function hasSessionCookie(request: FastifyRequest, kind: SessionKind): boolean {
  return readCookies(request)[sessionPolicies[kind].cookie] !== undefined;
}

/**
 * Cookies are Secure except on plain http to the local machine, where browsers would drop them
 * and only a developer is listening (docs/decisions/0041).
 */
function isLocalPlainHttp(request: FastifyRequest): boolean {
  const host = request.hostname.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return (
    request.protocol === "http" && (host === "localhost" || host === "127.0.0.1" || host === "::1")
  );
}

export function setSessionCookies(
  request: FastifyRequest,
  reply: FastifyReply,
  kind: SessionKind,
  tokens: { session: string; csrf: string } | null,
): void {
  const policy = sessionPolicies[kind];
  const base = {
    path: "/",
    sameSite: "lax" as const,
    secure: !isLocalPlainHttp(request),
    ...(tokens ? { maxAge: policy.lifetimeMs / 1000 } : { maxAge: 0 }),
  };
  reply.header("set-cookie", [
    fastifyCookie.serialize(policy.cookie, tokens?.session ?? "", { ...base, httpOnly: true }),
    fastifyCookie.serialize(policy.csrfCookie, tokens?.csrf ?? "", { ...base, httpOnly: false }),
  ]);
  reply.header("cache-control", "no-store");
}

export interface StartedSession {
  row: WebSessionsTable;
  token: string;
  csrfToken: string;
}

/** Starts a new session with fresh tokens: ids are never reused across sign-in steps. */
export async function startSession(
  db: Queryable | Tx,
  input: {
    kind: SessionKind;
    subjectId: string;
    programId: string | null;
    stage: "partial" | "full";
    now: Date;
  },
): Promise<StartedSession> {
  const token = newToken();
  const csrfToken = newToken();
  const lifetimeMs =
    input.stage === "partial" ? partialLifetimeMs : sessionPolicies[input.kind].lifetimeMs;
  const row: WebSessionsTable = {
    id: newId(input.kind === "staff" ? "staffSession" : "memberSession"),
    kind: input.kind,
    token_hash: hashToken(token),
    csrf_hash: hashToken(csrfToken),
    subject_id: input.subjectId,
    program_id: input.programId,
    stage: input.stage,
    created_at: input.now,
    last_seen_at: input.now,
    expires_at: new Date(input.now.getTime() + lifetimeMs),
    ended_at: null,
  };
  await db.insertInto("web_sessions").values(row).execute();
  return { row, token, csrfToken };
}

/** The live session named by the request's cookie, or null. */
export async function findSession(
  db: Queryable | Tx,
  request: FastifyRequest,
  kind: SessionKind,
  now: Date,
): Promise<WebSessionsTable | null> {
  const token = readCookies(request)[sessionPolicies[kind].cookie];
  if (!token) return null;
  const row = await db
    .selectFrom("web_sessions")
    .selectAll()
    .where("token_hash", "=", hashToken(token))
    .where("kind", "=", kind)
    .executeTakeFirst();
  if (!row || row.ended_at || row.expires_at <= now) return null;
  if (now.getTime() - row.last_seen_at.getTime() > sessionPolicies[kind].idleMs) return null;
  if (now.getTime() - row.last_seen_at.getTime() > touchIntervalMs) {
    await db
      .updateTable("web_sessions")
      .set({ last_seen_at: now })
      .where("id", "=", row.id)
      .execute();
  }
  return row;
}

/**
 * CSRF defence for cookie-authenticated unsafe requests: the x-csrf-token header must carry the
 * token bound to this session (the page reads it from the readable cookie), and a browser's
 * Origin, when sent, must be this host.
 */
export function assertCsrf(request: FastifyRequest, session: WebSessionsTable): void {
  if (["GET", "HEAD", "OPTIONS"].includes(request.method)) return;
  assertSameOrigin(request);
  const sent = request.headers[csrfHeader];
  if (typeof sent !== "string" || !sameToken(hashToken(sent), session.csrf_hash)) {
    throw new DomainError(
      "csrf_token_invalid",
      `send the session's CSRF token in the ${csrfHeader} header`,
    );
  }
}

/**
 * A browser's Origin, when sent, must be this host. Sign-in steps check it too (they have no
 * session yet): another site must not sign a browser into an account of its choosing.
 */
export function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (typeof origin === "string" && origin !== "null") {
    let originHost: string | null = null;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = null;
    }
    if (originHost !== request.host) {
      throw new DomainError("csrf_token_invalid", "cross-origin request refused");
    }
  }
}

export async function endSession(db: Queryable | Tx, sessionId: string, now: Date): Promise<void> {
  await db
    .updateTable("web_sessions")
    .set({ ended_at: now })
    .where("id", "=", sessionId)
    .where("ended_at", "is", null)
    .execute();
}

/** Ends every live session of a staff account or member (sign-out everywhere, disable). */
export async function endSessionsOf(
  db: Queryable | Tx,
  kind: SessionKind,
  subjectId: string,
  now: Date,
): Promise<void> {
  await db
    .updateTable("web_sessions")
    .set({ ended_at: now })
    .where("kind", "=", kind)
    .where("subject_id", "=", subjectId)
    .where("ended_at", "is", null)
    .execute();
}
