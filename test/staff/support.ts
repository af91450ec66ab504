import { generate } from "otplib";
import pino from "pino";
import { expect } from "vitest";
import type { TestApi } from "../harness.ts";

type Json = Record<string, unknown>;
export interface BrowserResponse {
  status: number;
  body: Json & { error?: { code: string; message: string; requestId: string } };
  headers: Record<string, unknown>;
}

/**
 * A browser for app.inject: keeps cookies from Set-Cookie and sends the CSRF cookie back as the
 * x-csrf-token header on unsafe requests unless told otherwise.
 */
export class Browser {
  cookies = new Map<string, string>();
  constructor(
    readonly api: TestApi,
    readonly kind: "staff" | "member" = "staff",
  ) {}

  get csrf(): string | undefined {
    return this.cookies.get(this.kind === "staff" ? "setia_staff_csrf" : "setia_member_csrf");
  }

  get session(): string | undefined {
    return this.cookies.get(this.kind === "staff" ? "setia_staff" : "setia_member");
  }

  async send(
    method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
    url: string,
    options: { body?: unknown; csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<BrowserResponse> {
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    const response = await this.api.app.inject({
      method,
      url,
      headers: {
        ...(cookie && { cookie }),
        ...(method !== "GET" && csrf && { "x-csrf-token": csrf }),
        ...(options.body !== undefined && { "content-type": "application/json" }),
        ...options.headers,
      },
      ...(options.body !== undefined && { payload: JSON.stringify(options.body) }),
    });
    for (const set of response.cookies) {
      if (set.value === "" || set.maxAge === 0) this.cookies.delete(set.name);
      else this.cookies.set(set.name, set.value);
    }
    return {
      status: response.statusCode,
      body: response.body ? JSON.parse(response.body) : {},
      headers: response.headers,
    };
  }
}

export const strongPassword = "kopi susu gula aren 1987!";

/** A TOTP code for the test clock's current time. */
export function totp(api: TestApi, secret: string): Promise<string> {
  return generate({ secret, epoch: Math.floor(api.clock.now().getTime() / 1000) });
}

/** Moves the clock to the next TOTP period, since a code's time step is accepted only once. */
export function nextPeriod(api: TestApi): void {
  api.clock.advance(30_000);
}

let emailSeq = 0;
export function nextEmail(prefix = "staff"): string {
  emailSeq += 1;
  return `${prefix}${emailSeq}@example.com`;
}

export function tokenOf(inviteUrl: string): string {
  const token = /#token=(.+)$/.exec(inviteUrl)?.[1];
  if (!token) throw new Error(`no token in ${inviteUrl}`);
  return token;
}

export interface SignedIn {
  browser: Browser;
  staffId: string;
  email: string;
  secret: string;
  recoveryCodes: string[];
}

/** Accepts an invitation, signs in and turns TOTP on: a fully signed-in staff browser. */
export async function acceptAndEnrol(
  api: TestApi,
  inviteUrl: string,
  email: string,
): Promise<SignedIn> {
  const browser = new Browser(api);
  const accepted = await browser.send("POST", "/v1/staff/invitations/accept", {
    body: { token: tokenOf(inviteUrl), password: strongPassword, displayName: "Sari" },
  });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(201);
  const signIn = await browser.send("POST", "/v1/staff/sign-in", {
    body: { email, password: strongPassword },
  });
  expect(signIn.body.stage).toBe("signed_in");
  const enrol = await browser.send("POST", "/v1/staff/me/totp/enrol");
  expect(enrol.status, JSON.stringify(enrol.body)).toBe(200);
  const secret = enrol.body.secret as string;
  const confirm = await browser.send("POST", "/v1/staff/me/totp/confirm", {
    body: { code: await totp(api, secret) },
  });
  expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
  nextPeriod(api);
  return {
    browser,
    staffId: (accepted.body.staff as { id: string }).id,
    email,
    secret,
    recoveryCodes: confirm.body.recoveryCodes as string[],
  };
}

/** The deployment owner, invited with the owner API key. */
export async function createOwner(api: TestApi): Promise<SignedIn> {
  const email = nextEmail("owner");
  const invited = await api.call("POST", "/v1/staff/invitations", { body: { email } });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);
  return acceptAndEnrol(api, invited.body.inviteUrl as string, email);
}

/** A program staff member of a role, invited with the owner API key. */
export async function createStaff(
  api: TestApi,
  programId: string,
  role: string,
  storeIds?: string[],
): Promise<SignedIn> {
  const email = nextEmail(role);
  // A cashier's stores are registered ones (a store the test registered itself is kept).
  for (const code of storeIds ?? []) {
    const store = await api.call("POST", `/v1/programs/${programId}/stores`, {
      body: { code, name: `Toko ${code}` },
    });
    if (store.status >= 300) expect(store.body.error?.code).toBe("store_exists");
  }
  const invited = await api.call("POST", `/v1/programs/${programId}/staff/invitations`, {
    body: { email, role, ...(storeIds && { storeIds }) },
  });
  expect(invited.status, JSON.stringify(invited.body)).toBe(201);
  return acceptAndEnrol(api, invited.body.inviteUrl as string, email);
}

/** Captures what the server logs at info and above, for codes logged in development. */
export function captureLog(api: TestApi): Json[] {
  const lines: Json[] = [];
  api.ctx.log = pino(
    { level: "info" },
    { write: (line: string) => lines.push(JSON.parse(line) as Json) },
  );
  return lines;
}

export function expectRefused(response: BrowserResponse, status: number, code: string): void {
  expect(
    { status: response.status, code: response.body.error?.code },
    JSON.stringify(response.body),
  ).toEqual({
    status,
    code,
  });
  expect(response.body.error?.requestId).toMatch(/^req_/);
}
